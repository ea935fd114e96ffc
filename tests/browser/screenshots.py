"""The README's screenshots, taken with the browser tests' tooling (``docs/screenshots/*.png``).

Not part of the suite: pytest collects ``test_*.py`` only, so this runs when named::

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python -m pytest -p no:cacheprovider \\
        tests/browser/screenshots.py

It loads the demo world (as ``make run`` does), gives it thirty days of history (POS sales,
deliveries, alerts, sync jobs), starts one sync that is still running, logs in as the demo admin
and saves each screen at 1366x768, the laptop screen the back office is made to fit, as a newcomer
first sees it (the navigation sidebar open). With ``pngquant`` on the PATH (``apt-get install pngquant``)
the PNGs are quantized to a palette, which keeps them small; each must stay under ``MAX_BYTES``.
"""

import contextlib
import random
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, F
from django.utils import timezone

from tests.browser.conftest import skip_unless_browser

skip_unless_browser()

from playwright.sync_api import expect  # noqa: E402 - only once the module is known to run

from alerts import services as alerts  # noqa: E402
from alerts.models import Alert  # noqa: E402
from connectors.models import ConnectorAccount, OutboundMessage, SyncJob  # noqa: E402
from inventory import services  # noqa: E402
from inventory.demo import BMB, build_demo_world  # noqa: E402
from inventory.exceptions import DomainError  # noqa: E402
from inventory.models import Channel, StockLevel, StockMovement, Warehouse  # noqa: E402
from reservations import services as reservations  # noqa: E402
from reservations.services import LineRequest  # noqa: E402

OUT = Path(settings.BASE_DIR) / "docs" / "screenshots"
MAX_BYTES = 200_000
PASSWORD = "demo-screenshots"
DAYS = 30


def test_readme_screenshots(page, log_in):
    with back_in_time(DAYS + 1):
        build_demo_world(admin_password=PASSWORD)
        alerts.evaluate()  # what the demo starts with is raised before the charts' window
    _history(random.Random(45))
    running = _running_job()
    admin = get_user_model().objects.get(username="admin")
    log_in(page, admin, PASSWORD)
    OUT.mkdir(parents=True, exist_ok=True)

    page.goto("/admin/")
    expect(page.locator(".sp-chart svg").first).to_be_visible()
    _save(page, "dashboard")
    page.evaluate("document.querySelector('.sp-charts').scrollIntoView()")
    _save(page, "dashboard-charts")

    bmb = Warehouse.objects.get(code=BMB)
    page.goto(f"/admin/inventory/stocklevel/?warehouse__id__exact={bmb.pk}&o=5")  # least available first
    expect(page.locator("#result_list")).to_be_visible()
    _save(page, "stock")

    page.goto("/admin/alerts/alert/?status__in=open,acknowledged")
    expect(page.locator("#result_list")).to_be_visible()
    _save(page, "alerts")

    page.goto("/admin/connectors/syncjob/")
    expect(page.locator(f'[data-sync-status-of="{running.pk}"]')).to_have_text("Running")
    _save(page, "sync")

    for name in ("dashboard", "dashboard-charts", "stock", "alerts", "sync"):
        size = (OUT / f"{name}.png").stat().st_size
        assert size < MAX_BYTES, f"{name}.png is {size} bytes"


def _save(page, name: str) -> None:
    path = OUT / f"{name}.png"
    page.mouse.move(0, 0)  # no hover effects in the picture
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    if pngquant := shutil.which("pngquant"):
        subprocess.run(  # noqa: S603 - a fixed tool on a file this function just wrote
            [pngquant, "--force", "--skip-if-larger", "--strip", "--quality=70-95", "--output", str(path), str(path)],
            check=False,
        )


def back_in_time(days: float):
    """What is booked inside is stamped ``days`` ago (``auto_now_add`` and the services read the clock)."""
    return mock.patch.object(timezone, "now", return_value=timezone.now() - timedelta(days=days))


def _history(rng: random.Random) -> None:
    """Thirty days of trading at BMB and BookBarber, with the alerts and sync jobs they would have left,
    and today's open orders, refusals and messages still on their way."""
    bmb = Warehouse.objects.get(code=BMB)
    levels = list(
        StockLevel.objects.filter(warehouse__system_of_record__in=["zoho_inventory", "cin7_core"], on_hand__gt=0)
        .select_related("warehouse", "variant")
        .order_by("-on_hand")[:24]
    )
    pos, web = Channel.objects.get(code="bookbarber-pos"), Channel.objects.get(code="vip-smoke")
    accounts = list(ConnectorAccount.objects.order_by("pk"))
    for days_ago in range(DAYS - 1, -1, -1):
        with back_in_time(days_ago + rng.uniform(0.1, 0.4) if days_ago else 0.01):
            for number in range(rng.randint(4, 9)):
                level = rng.choice(levels)
                _sell(pos if level.warehouse_id != bmb.pk else web, f"demo-{days_ago}-{number}", level, rng)
            if days_ago % 7 == 3:
                for level in rng.sample(levels, 8):
                    services.receive_stock(
                        warehouse=level.warehouse,
                        variant=level.variant,
                        quantity=rng.randint(12, 36),
                        source=StockMovement.Source.ADMIN,
                        reference=f"PO-{2400 + days_ago}",
                    )
            for account in accounts:
                _finished_job(account, rng, failed=rng.random() < 0.07)
            alerts.evaluate()
    for number, level in enumerate(rng.sample([level for level in levels if level.warehouse_id == bmb.pk], 5)):
        with contextlib.suppress(DomainError):
            reservations.reserve(channel=web, order_ref=f"VIP-{9100 + number}", lines=[LineRequest(level.variant, 1)])
    for number, level in enumerate(levels[-2:]):
        with contextlib.suppress(DomainError):  # more than there is: refused, and counted as an oversell attempt
            reservations.record_pos_sale(
                channel=pos, sale_id=f"demo-over-{number}", lines=[LineRequest(level.variant, 10_000)]
            )
    now = timezone.now()
    OutboundMessage.objects.filter(created_at__lt=now - timedelta(minutes=10)).update(
        status=OutboundMessage.Status.DELIVERED, attempts=1, sent_at=F("created_at"), delivered_at=F("created_at")
    )
    alerts.evaluate()
    _sell_out_just_now(Channel.objects.get(code="bmb-b2b"), bmb)


def _sell_out_just_now(channel, warehouse) -> None:
    """A wholesale buyer takes most of three SKUs stocked only here: their alerts come in at once (the
    stock event's evaluation), and a manager takes care of the sold-out one."""
    healthy = list(
        StockLevel.objects.filter(warehouse=warehouse, reserved=0, on_hand__gt=F("variant__low_stock_threshold") + 2)
        .annotate(stocked_at=Count("variant__stock_levels"))
        .filter(stocked_at=1)
        .select_related("variant")
        .order_by("on_hand", "variant__sku")[:3]
    )
    for number, level in enumerate(healthy):
        left = (0, 1, level.variant.low_stock_threshold)[number]
        with contextlib.suppress(DomainError):
            reservations.record_pos_sale(
                channel=channel, sale_id=f"b2b-now-{number}", lines=[LineRequest(level.variant, level.on_hand - left)]
            )
    alerts.evaluate(variant_ids=[level.variant_id for level in healthy])
    admin = get_user_model().objects.get(username="admin")
    alerts.acknowledge(
        Alert.objects.active().filter(kind="out_of_stock", variant__in=[level.variant for level in healthy]),
        user=admin,
        note="Reorder placed with the supplier.",
    )


def _sell(channel, sale_id: str, level, rng: random.Random) -> None:
    with contextlib.suppress(DomainError):  # sold out that day: a refusal, as on any busy day
        reservations.record_pos_sale(
            channel=channel, sale_id=sale_id, lines=[LineRequest(level.variant, rng.randint(1, 4))]
        )


def _finished_job(account, rng: random.Random, *, failed: bool) -> SyncJob:
    """A job that ran just now, and what it leaves on its account (as ``connectors.sync.run_sync_job`` does)."""
    finished = timezone.now()
    seconds = rng.uniform(4, 40)
    started = finished - timedelta(seconds=seconds)
    processed = rng.randint(20, 400)
    error = "Partner unavailable: 503 Service Unavailable after 5 attempts"
    if failed:
        ConnectorAccount.objects.filter(pk=account.pk).update(last_failure_at=finished, last_error=error)
    else:
        ConnectorAccount.objects.filter(pk=account.pk).update(last_success_at=finished, last_error="")
    return SyncJob.objects.create(
        account=account,
        kind=SyncJob.Kind.INCREMENTAL,
        status=SyncJob.Status.FAILED if failed else SyncJob.Status.SUCCEEDED,
        started_at=started,
        finished_at=finished,
        heartbeat_at=finished,
        processed=processed,
        total=processed,
        updated_count=processed // 10,
        unchanged_count=processed - processed // 10,
        errors=[error] if failed else [],
    )


def _running_job() -> SyncJob:
    """A full pull a third of the way through (its page polls the API, which says the same)."""
    account = ConnectorAccount.objects.get(kind="zoho_inventory")
    now = timezone.now()
    return SyncJob.objects.create(
        account=account,
        kind=SyncJob.Kind.FULL,
        status=SyncJob.Status.RUNNING,
        started_at=now - timedelta(seconds=48),
        heartbeat_at=now,
        processed=1_400,
        total=4_200,
        updated_count=120,
        unchanged_count=1_280,
    )
