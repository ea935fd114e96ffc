"""The dashboard on the admin index (config/dashboard.py) and its SVG charts (config/charts.py)."""

import re
from datetime import timedelta
from unittest import mock
from xml.etree import ElementTree

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config import charts
from config.dashboard import Window
from connectors.models import ConnectorAccount, OutboundMessage, SyncJob
from inventory import services
from reservations.models import Reservation, StockRefusal
from tests.factories import (
    AlertFactory,
    ChannelFactory,
    ChannelListingFactory,
    ConnectorAccountFactory,
    OutboundMessageFactory,
    ProductFactory,
    ReservationFactory,
    ReservationLineFactory,
    StockLevelFactory,
    StockMovementFactory,
    SyncJobFactory,
    UserFactory,
    VariantFactory,
    WarehouseFactory,
)

INDEX = reverse("admin:index")


def index_page(client, user, **params) -> str:
    client.force_login(user)
    response = client.get(INDEX, params)
    assert response.status_code == 200
    return response.content.decode()


def kpi(page: str, key: str) -> tuple[str, str]:
    """(value, note) of a KPI card."""
    found = re.search(
        rf'data-kpi="{key}">\s*<span class="sp-kpi-value">([^<]*)</span>.*?'
        r'<span class="sp-kpi-note">([^<]*)</span>',
        page,
        re.S,
    )
    assert found, f"no {key} card"
    return found.group(1), found.group(2)


def open_alert_count(page: str, severity: str) -> str:
    found = re.search(rf'data-severity="{severity}"[^>]*>\s*<span class="sp-kpi-value">(\d+)</span>', page)
    assert found, f"no {severity} count"
    return found.group(1)


def figure(page: str, chart_id: str) -> str:
    found = re.search(rf'<figure class="chart[^"]*" id="{chart_id}">.*?</figure>', page, re.S)
    assert found, f"no {chart_id}"
    return found.group(0)


def well_formed(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(markup)  # noqa: S314 - our own markup, parsed to prove it is well formed


def sync_row(page: str, account: ConnectorAccount) -> str:
    found = re.search(rf'<tr data-account="{account.pk}">.*?</tr>', page, re.S)
    assert found, f"no row for {account}"
    return found.group(0)


def back_in_time(**delta):
    """``with back_in_time(days=3):`` what is booked inside is stamped that long ago (``auto_now_add``
    reads the clock; the append-only ledger cannot be back-dated afterwards)."""
    return mock.patch.object(timezone, "now", return_value=timezone.now() - timedelta(**delta))


# --- a seeded world ---------------------------------------------------------------------------


@pytest.fixture
def world(db):
    """Stock, reservations, refusals, the outbox, alerts and connector accounts with known figures."""
    main, second = WarehouseFactory(code="main", name="Main"), WarehouseFactory(code="second")
    closed = WarehouseFactory(code="closed", name="Closed", active=False)
    product = ProductFactory()

    def variant(sku, **fields):
        return VariantFactory(sku=sku, product=product, low_stock_threshold=5, **fields)

    variant("OUT-NOTHING")  # no level at all
    StockLevelFactory(warehouse=main, variant=variant("OUT-ALL-HELD"), on_hand=3, reserved=3)
    StockLevelFactory(warehouse=closed, variant=variant("OUT-CLOSED-ONLY"), on_hand=50)
    StockLevelFactory(warehouse=main, variant=variant("LOW-ONE"), on_hand=4)
    low_two = variant("LOW-TWO")
    StockLevelFactory(warehouse=main, variant=low_two, on_hand=2)
    StockLevelFactory(warehouse=second, variant=low_two, on_hand=3)  # 5 in all: at the threshold
    StockLevelFactory(warehouse=main, variant=variant("UNTRACKED", track_inventory=False), on_hand=0)
    StockLevelFactory(warehouse=main, variant=variant("RETIRED", active=False), on_hand=0)

    healthy_variant = variant("HEALTHY")
    StockLevelFactory(warehouse=main, variant=healthy_variant, on_hand=20, reserved=2)

    channel = ChannelFactory()

    def hold(quantities, status=Reservation.Status.ACTIVE):
        reservation = ReservationFactory(channel=channel, status=status)
        for quantity in quantities:
            ReservationLineFactory(reservation=reservation, variant=healthy_variant, warehouse=main, quantity=quantity)

    hold([2, 3])
    hold([4])
    hold([5], Reservation.Status.CONSUMED)
    hold([5], Reservation.Status.EXPIRED)

    healthy = ConnectorAccountFactory(name="A healthy", last_success_at=timezone.now() - timedelta(hours=1))
    failing = ConnectorAccountFactory(
        name="B failing",
        last_success_at=timezone.now() - timedelta(days=2),
        last_failure_at=timezone.now() - timedelta(hours=1),
        last_error="HTTP 503 <Service Unavailable>",
    )
    never = ConnectorAccountFactory(name="C never")
    running = SyncJobFactory(account=healthy, status=SyncJob.Status.RUNNING, processed=50, total=200)
    now = timezone.now()
    for status in ("succeeded", "succeeded", "failed"):
        SyncJobFactory(account=failing, status=status, started_at=now - timedelta(seconds=30), finished_at=now)

    for item in (low_two, low_two, healthy_variant):
        StockRefusal.objects.create(channel=channel, variant=item, order_ref="o", requested=3, available=1)
    old = StockRefusal.objects.create(channel=channel, variant=low_two, order_ref="old", requested=1, available=0)
    StockRefusal.objects.filter(pk=old.pk).update(created_at=Window.ending_today().today_start - timedelta(minutes=1))

    for status in ("pending", "pending", "sending", "dead", "delivered", "delivered"):
        OutboundMessageFactory(account=healthy, status=status)

    # Alerts about variants that do not count as stock, at a warehouse of the test organization (whose
    # members see them; tests/factories.py).
    retired = {"variant__active": False, "warehouse": main}
    AlertFactory(severity="critical", **retired)
    AlertFactory.create_batch(2, severity="high", **retired)
    AlertFactory(severity="high", status="acknowledged", **retired)
    AlertFactory(severity="medium", status="resolved", **retired)
    return {"healthy": healthy, "failing": failing, "never": never, "running": running}


class TestFigures:
    def test_every_kpi_on_a_seeded_world(self, client, superuser, world):
        page = index_page(client, superuser)

        assert kpi(page, "out_of_stock") == ("3", "of 6 tracked variants")
        assert kpi(page, "below_threshold")[0] == "2"
        assert kpi(page, "active_reservations") == ("2", "holding 9 units")
        assert kpi(page, "refusals_today") == ("3", "refused, on 2 SKUs")
        value, note = kpi(page, "outbox_backlog")
        assert value == "3"
        assert note.startswith("1 dead-lettered; oldest waiting since ")
        assert [open_alert_count(page, s) for s in ("critical", "high", "medium", "low")] == ["1", "3", "0", "0"]
        assert 'id="open-alerts"' in page
        assert "open-alerts-critical" in page  # what the alerts app's own test looks for

    def test_sync_health_per_account_with_the_last_success(self, client, superuser, world):
        page = index_page(client, superuser)

        healthy = sync_row(page, world["healthy"])
        assert 'sp-ok">ok<' in healthy
        assert "1\xa0hour ago" in healthy
        running = world["running"]
        assert f'data-sync-url="/api/v1/sync-jobs/{running.pk}/"' in healthy
        assert '<progress max="100" value="25"></progress>' in healthy
        assert f'data-sync-status-of="{running.pk}">Running<' in healthy
        failing = sync_row(page, world["failing"])
        assert 'sp-bad"' in failing
        assert ">failing<" in failing
        assert "2\xa0days ago" in failing
        assert 'title="HTTP 503 &lt;Service Unavailable&gt;"' in failing
        assert "1 failed of 3" in failing
        assert "idle" in failing
        never = sync_row(page, world["never"])
        assert ">never synced<" in never
        assert "<td>never</td>" in never
        assert '<script src="/static/connectors/sync_progress.js" defer></script>' in page

    def test_the_app_list_stays_below_the_dashboard(self, client, superuser, world):
        page = index_page(client, superuser)

        assert page.index('id="stockpool-dashboard"') < page.index('id="content-main"')
        assert "app-inventory" in page
        assert 'id="recent-actions-module"' in page

    def test_an_empty_database_renders(self, client, superuser):
        page = index_page(client, superuser)

        assert kpi(page, "out_of_stock") == ("0", "of 0 tracked variants")
        assert kpi(page, "active_reservations") == ("0", "holding 0 units")
        assert "failure rate no jobs" in page
        assert "No connector accounts yet." in page
        assert "No data to chart yet." in figure(page, "chart-on-hand")
        assert "No data to chart yet." in figure(page, "chart-by-warehouse")
        assert figure(page, "chart-alerts").count('class="bar"') == 30  # thirty days of nothing
        for chart_id in ("chart-on-hand", "chart-alerts", "chart-sync-jobs", "chart-sync-durations"):
            well_formed(figure(page, chart_id))


class TestCharts:
    def test_alerts_per_day_by_severity(self, client, superuser):
        today = timezone.now()
        AlertFactory(severity="critical", first_seen=today)
        AlertFactory.create_batch(2, severity="high", first_seen=today)
        AlertFactory(severity="medium", status="resolved", first_seen=today - timedelta(days=1))
        AlertFactory(severity="low", first_seen=today - timedelta(days=40))  # before the window

        chart = figure(index_page(client, superuser), "chart-alerts")

        assert chart.count('class="bar"') == 30
        assert chart.count('class="segment"') == 3
        assert "Total 4;" in chart
        assert f"{timezone.localdate().isoformat()} · High: 2</title>" in chart

    def test_sync_jobs_per_day_failure_rate_and_durations(self, client, superuser):
        account, now = ConnectorAccountFactory(), timezone.now()
        for days, status, seconds in ((0, "succeeded", 10), (0, "failed", 30), (3, "succeeded", 20)):
            finished = now - timedelta(days=days)
            SyncJobFactory(
                account=account, status=status, started_at=finished - timedelta(seconds=seconds), finished_at=finished
            )
        SyncJobFactory(account=account, status="running", started_at=now)  # not finished: not counted

        page = index_page(client, superuser)

        jobs = figure(page, "chart-sync-jobs")
        assert jobs.count('class="bar"') == 30
        assert jobs.count('class="segment"') == 3  # today succeeded and failed, three days ago succeeded
        assert "failure rate 33%" in page
        durations = figure(page, "chart-sync-durations")
        assert durations.count('class="point"') == 4  # two days with jobs, mean and longest
        assert f"{timezone.localdate().isoformat()} · Mean: 20</title>" in durations
        assert f"{timezone.localdate().isoformat()} · Longest: 30</title>" in durations

    def test_on_hand_over_time_is_rebuilt_from_the_ledger(self, client, superuser):
        main, second = WarehouseFactory(code="main"), WarehouseFactory(code="second")
        moved, quiet = VariantFactory(sku="MOVED-A"), VariantFactory(sku="QUIET-B")

        def book(warehouse, variant, delta):
            services.adjust_stock(
                warehouse=warehouse, variant=variant, delta=delta, reason="adjustment", source="system"
            )

        with back_in_time(days=40):
            book(main, moved, 10)  # before the window: where it starts
        with back_in_time(days=10):
            book(main, moved, 5)
            book(second, moved, 7)
        with back_in_time(days=2):
            book(main, moved, -3)
        book(main, quiet, 4)

        page = index_page(client, superuser)

        chart = figure(page, "chart-on-hand")
        assert "On hand of MOVED-A" in chart  # the most moved in the window, by default
        assert chart.count('class="point"') == 90  # all warehouses, main and second, thirty days each
        days = Window.ending_today().labels
        assert f"{days[0]} · main: 10</title>" in chart
        assert f"{days[-11]} · main: 15</title>" in chart
        assert f"{days[-1]} · main: 12</title>" in chart
        assert f"{days[-1]} · All warehouses: 19</title>" in chart
        assert f"{days[0]} · second: 0</title>" in chart
        chosen = figure(index_page(client, superuser, variant="QUIET-B"), "chart-on-hand")
        assert "On hand of QUIET-B" in chosen
        assert chosen.count('class="point"') == 30
        unknown = index_page(client, superuser, variant="NOPE")
        assert "No variant has the SKU “NOPE”" in unknown
        assert "On hand of MOVED-A" in figure(unknown, "chart-on-hand")

    def test_stock_by_warehouse_and_by_channel(self, client, superuser, world):
        channel = ChannelFactory(name="Listed <shop> & co")
        page = index_page(client, superuser)

        by_warehouse = figure(page, "chart-by-warehouse")
        assert by_warehouse.count('class="bar"') == 6  # main, second, closed, and one mirrored per account
        assert '<th scope="row">Closed (inactive)</th>' in by_warehouse
        assert "Main: Available 24, Reserved 5 (total 29)" in by_warehouse
        by_channel = figure(page, "chart-by-channel")
        assert by_channel.count('class="bar"') == 2
        assert "Listed &lt;shop&gt; &amp; co" in by_channel
        assert "<shop>" not in by_channel
        assert channel.code in page

    def test_every_chart_is_well_formed_svg(self, client, superuser, world):
        page = index_page(client, superuser)

        for chart_id in (
            "chart-on-hand",
            "chart-alerts",
            "chart-sync-jobs",
            "chart-sync-durations",
            "chart-by-warehouse",
            "chart-by-channel",
        ):
            element = well_formed(figure(page, chart_id))
            svg = element.find("{http://www.w3.org/2000/svg}svg")
            assert svg is not None, chart_id
            assert svg.get("role") == "img"
            assert svg.find("{http://www.w3.org/2000/svg}title").text


class TestQueries:
    @staticmethod
    def grow(variants: int, warehouse, channel, product, account):
        for n in range(variants):
            item = VariantFactory(product=product)
            StockLevelFactory(warehouse=warehouse, variant=item, on_hand=n % 7, reserved=0)
            StockMovementFactory(warehouse=warehouse, variant=item, quantity=n % 7 or 1, on_hand_after=n % 7)
            ChannelListingFactory(channel=channel, variant=item)
            AlertFactory(variant=item, severity=("critical", "high", "medium", "low")[n % 4])
            ReservationLineFactory(reservation=ReservationFactory(channel=channel), variant=item, warehouse=warehouse)
            StockRefusal.objects.create(channel=channel, variant=item, order_ref=f"r{n}", requested=2, available=1)
            OutboundMessageFactory(account=account, status=OutboundMessage.Status.PENDING)

    def queries_for_index(self, client) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(INDEX).status_code == 200
        return len(queries)

    def test_the_same_queries_for_ten_variants_as_for_two_hundred(
        self, client, superuser, django_assert_max_num_queries
    ):
        warehouse, channel, product = WarehouseFactory(), ChannelFactory(), ProductFactory()
        account = SyncJobFactory(status=SyncJob.Status.RUNNING, processed=1, total=2).account
        client.force_login(superuser)
        self.grow(10, warehouse, channel, product, account)
        few = self.queries_for_index(client)

        self.grow(190, warehouse, channel, product, account)
        with django_assert_max_num_queries(few):
            assert client.get(INDEX).status_code == 200
        assert self.queries_for_index(client) == few
        assert few <= 20


class TestPermissions:
    @staticmethod
    def staff_with(*codenames):
        user = UserFactory()
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        return user

    def test_no_alert_permission_no_alert_panel(self, client, world):
        page = index_page(client, self.staff_with("view_stocklevel", "view_syncjob"))

        assert 'id="open-alerts"' not in page
        assert "chart-alerts" not in page
        # A member counts the SKUs stocked at its organization's warehouses: not OUT-NOTHING, which has no
        # level anywhere (a superuser counts it).
        assert kpi(page, "out_of_stock")[0] == "2"
        assert 'id="sync-health"' in page

    def test_no_sync_job_permission_no_sync_health(self, client, world):
        page = index_page(client, self.staff_with("view_alert"))

        assert 'id="sync-health"' not in page
        assert "chart-sync-jobs" not in page
        assert "sync_progress.js" not in page
        assert open_alert_count(page, "high") == "3"
        assert 'data-kpi="out_of_stock"' not in page

    def test_a_staff_user_without_permissions_sees_no_figures(self, client, world):
        page = index_page(client, self.staff_with())

        assert 'id="stockpool-dashboard"' in page
        assert "data-kpi=" not in page
        assert 'class="chart' not in page


class TestSvgRenderers:
    def test_labels_titles_and_series_names_are_escaped(self):
        svg = charts.line_chart(
            "c<1>", 'On <hand> & "co"', ["<d1>", "d&2"], [charts.Series("<script>alert(1)</script>", [1, 2])]
        )
        bars = charts.stacked_bar_chart("c2", "<t>", ["a<b"], [charts.Series("x&y", [1]), charts.Series("z", [2])])
        rows = charts.horizontal_bar_chart("c3", "t", ["<shop> & co"], [charts.Series("'q'", [3])])

        for markup in (svg, bars, rows):
            assert "<script>" not in markup
            assert "<shop>" not in markup
            assert "<d1>" not in markup
            assert "<t>" not in markup
            well_formed(markup)  # well formed
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
        assert 'id="c&lt;1&gt;"' in svg
        assert "On &lt;hand&gt; &amp; &quot;co&quot;" in svg
        assert "a&lt;b · x&amp;y: 1" in bars

    def test_output_is_deterministic(self):
        def draw():
            return charts.line_chart(
                "c", "t", ["a", "b", "c"], [charts.Series("s", [1, 5, 2]), charts.Series("u", [0.5, None, 3])]
            )

        assert draw() == draw()

    def test_a_series_of_zeros_has_a_scale_and_no_division_by_zero(self):
        line = charts.line_chart("z", "t", ["a", "b"], [charts.Series("s", [0, 0])])
        bars = charts.stacked_bar_chart("y", "t", ["a", "b"], [charts.Series("s", [0, 0])])
        rows = charts.horizontal_bar_chart("x", "t", ["a"], [charts.Series("s", [0])])

        assert line.count('class="point"') == 2
        assert bars.count('class="bar"') == 2
        assert bars.count('class="segment"') == 0
        assert rows.count('class="segment"') == 0
        assert ">1</text>" in line  # the axis is 0..1

    def test_negative_values_go_below_the_zero_line(self):
        line = charts.line_chart("n", "t", ["a", "b"], [charts.Series("s", [-5, 3])])
        bars = charts.stacked_bar_chart("m", "t", ["a"], [charts.Series("up", [4]), charts.Series("down", [-2])])

        zero = float(re.search(r'y1="([\d.]+)" y2="[\d.]+" stroke="currentColor" stroke-opacity="0.5"', line).group(1))
        low = float(re.search(r'cy="([\d.]+)" r="2.5" fill="[^"]+"><title>a · s: -5', line).group(1))
        assert low > zero
        assert ">-6</text>" in line
        up = re.search(r'y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="[^"]+"><title>a · up', bars)
        down = re.search(r'y="([\d.]+)" width="[\d.]+" height="[\d.]+" fill="[^"]+"><title>a · down', bars)
        assert float(down.group(1)) == pytest.approx(float(up.group(1)) + float(up.group(2)), abs=0.2)

    def test_a_single_point_is_a_dot_in_the_middle(self):
        line = charts.line_chart("p", "t", ["only"], [charts.Series("s", [7])])

        assert line.count('class="point"') == 1
        assert 'cx="296"' in line  # halfway between 44 and 548
        assert "<polyline" not in line
        assert "1 point from only to only" in line

    def test_gaps_break_the_line(self):
        line = charts.line_chart("g", "t", ["a", "b", "c", "d", "e"], [charts.Series("s", [1, 2, None, 3, 4])])

        assert line.count("<polyline") == 2
        assert line.count('class="point"') == 4
        assert "<td>\u2013</td>" in line  # the gap in the data table

    def test_nothing_to_chart(self):
        for empty in (
            charts.line_chart("e", "t", [], []),
            charts.stacked_bar_chart("e", "t", ["a"], [charts.Series("s", [None])]),
            charts.horizontal_bar_chart("e", "t", [], [charts.Series("s", [])]),
        ):
            assert "No data to chart yet." in empty
            well_formed(empty)

    def test_a_series_must_have_a_value_per_label(self):
        with pytest.raises(ValueError, match="2 values for 3 labels"):
            charts.line_chart("x", "t", ["a", "b", "c"], [charts.Series("s", [1, 2])])

    @pytest.mark.parametrize(
        ("lo", "hi", "ticks"),
        [
            (0, 0, [0, 1]),
            (0, 7, [0, 2, 4, 6, 8]),
            (-3, 12, [-5, 0, 5, 10, 15]),
            (0, 1234, [0, 500, 1000, 1500]),
            (5, 5, [0, 2, 4, 6]),
            (-5, -5, [-6, -4, -2, 0]),
        ],
    )
    def test_ticks_are_round(self, lo, hi, ticks):
        assert charts.nice_ticks(lo, hi) == ticks

    def test_fractional_ticks_when_asked(self):
        assert charts.nice_ticks(0, 0.3, integer=False) == [0, 0.1, 0.2, 0.3]
