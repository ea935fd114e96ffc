"""Progress: live bars for running sync jobs in the admin, and terminal bars for long commands."""

import io
import threading
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse

from config.progress import ProgressBar
from connectors.models import SyncJob
from tests.connectors.accounts import zoho_account
from tests.factories import SyncJobFactory, UserFactory

pytestmark = pytest.mark.django_db

SCRIPT = '<script src="/static/connectors/sync_progress.js"></script>'


class Terminal(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self):
        return True


def staff_with(*codenames):
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def running_job(db):
    return SyncJobFactory(status=SyncJob.Status.RUNNING, processed=50, total=200)


class TestAdmin:
    def test_a_running_jobs_page_has_a_live_bar_and_the_script_that_polls(self, client, superuser, running_job):
        client.force_login(superuser)

        page = client.get(reverse("admin:connectors_syncjob_change", args=[running_job.pk])).content.decode()

        assert f'data-sync-url="/api/v1/sync-jobs/{running_job.pk}/"' in page
        assert '<progress max="100" value="25"></progress> <span data-sync-field="label">25%</span>' in page
        assert f'<span data-sync-status-of="{running_job.pk}">Running</span>' in page
        assert SCRIPT in page

    def test_the_job_list_has_live_bars_for_running_jobs_only(self, client, superuser, running_job):
        finished = SyncJobFactory(status=SyncJob.Status.SUCCEEDED, processed=12, total=12)
        counting = SyncJobFactory(status=SyncJob.Status.QUEUED, processed=3, total=None)
        client.force_login(superuser)

        page = client.get(reverse("admin:connectors_syncjob_changelist")).content.decode()

        assert f'data-sync-url="/api/v1/sync-jobs/{running_job.pk}/"' in page
        assert f'data-sync-url="/api/v1/sync-jobs/{counting.pk}/"' in page
        assert f'data-sync-url="/api/v1/sync-jobs/{finished.pk}/"' not in page
        assert '<progress max="100" value="100"></progress>' in page  # the finished one, still shown
        assert '<progress></progress> <span data-sync-field="label">3</span>' in page  # no total yet
        assert SCRIPT in page

    def test_the_api_the_script_polls_answers_a_staff_session(self, client, running_job):
        client.force_login(staff_with("view_syncjob"))

        response = client.get(f"/api/v1/sync-jobs/{running_job.pk}/", HTTP_ACCEPT="application/json")

        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["status"], body["processed"], body["total"], body["progress_percent"]) == (
            running_job.pk,
            "running",
            50,
            200,
            25,
        )

    def test_the_api_refuses_staff_who_may_not_see_sync_jobs(self, client, running_job):
        client.force_login(staff_with())

        assert client.get(f"/api/v1/sync-jobs/{running_job.pk}/").status_code == 403

    def test_the_script_is_served_from_the_app_and_speaks_the_widgets_contract(self):
        path = finders.find("connectors/sync_progress.js")

        assert path
        script = Path(path).read_text()
        for hook in ("data-sync-url", 'data-sync-field="label"', "data-sync-status-of", "progress_percent"):
            assert hook in script
        assert "http" not in script.replace("HTTP", "")  # nothing fetched from elsewhere


class TestProgressBar:
    def test_without_a_terminal_a_line_per_quarter(self):
        out = io.StringIO()

        with ProgressBar(out, total=8, label="Work", detail="starting") as bar:
            for n in range(1, 9):
                bar.update(n, detail=f"item {n}")

        assert out.getvalue().splitlines() == [
            "Work: 0% (0/8) starting",
            "Work: 25% (2/8) item 2",
            "Work: 50% (4/8) item 4",
            "Work: 75% (6/8) item 6",
            "Work: 100% (8/8) item 8",
        ]

    def test_on_a_terminal_the_bar_is_redrawn_in_place_at_most_ten_times_a_second(self):
        out, now = Terminal(), [0.0]
        bar = ProgressBar(out, total=4, label="Work", width=8, clock=lambda: now[0])

        with bar:
            bar.update(1)  # within 0.1 s of the first drawing: skipped
            now[0] = 0.5
            bar.update(2, detail="half")

        assert out.getvalue() == (
            "\rWork [--------]   0% 0/4\rWork [####----]  50% 2/4 half\rWork [########] 100% 4/4 half\n"
        )

    def test_it_never_moves_back_when_asked_not_to(self):
        out = io.StringIO()
        bar = ProgressBar(out, total=4, label="Work")

        bar.update(3)
        bar.update(1, forward_only=True)

        assert bar.done == 3

    def test_disabled_it_writes_nothing_and_a_broken_stdout_stops_it_quietly(self):
        silent = io.StringIO()
        with ProgressBar(silent, total=2, label="Work", enabled=False) as bar:
            bar.update(1)
        broken = io.StringIO()
        broken.close()

        with ProgressBar(broken, total=2, label="Work") as bar:
            bar.update(2)

        assert silent.getvalue() == ""
        assert not bar.enabled

    def test_an_unknown_total_counts(self):
        out = io.StringIO()

        with ProgressBar(out, total=None, label="Reading") as bar:
            bar.update(120)

        assert out.getvalue().splitlines() == ["Reading: 0", "Reading: 120"]


@pytest.fixture
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.usefixtures("_fast_password_hashing")
class TestCommands:
    def test_load_demo_prints_plain_progress_lines_without_a_terminal(self):
        out = io.StringIO()

        call_command("load_demo", stdout=out)

        lines = out.getvalue().splitlines()
        assert lines[:4] == [
            "Loading the demo world: 0% (0/3) catalogue and opening stock",
            "Loading the demo world: 33% (1/3) listings and their availability",
            "Loading the demo world: 66% (2/3) partner accounts and alert rules",
            "Loading the demo world: 100% (3/3) committing",
        ]
        assert lines[4].startswith("Demo world ready in ")
        assert "\r" not in out.getvalue()

    def test_load_demo_draws_a_bar_on_a_terminal_and_nothing_at_verbosity_0(self):
        terminal, quiet = Terminal(), io.StringIO()

        call_command("load_demo", stdout=terminal)
        call_command("load_demo", stdout=quiet, verbosity=0)

        drawn = terminal.getvalue()
        assert drawn.startswith("\rLoading the demo world [")
        assert "] 100% 3/3" in drawn
        assert "Loading the demo world" not in quiet.getvalue()

    def test_reconcile_prints_plain_progress_lines_without_a_terminal(self, zoho_sandbox):
        zoho_sandbox.add_item(sku="TOMB45-001", stock={"Head Office": 10})
        account = zoho_account(zoho_sandbox)
        out = io.StringIO()

        call_command("reconcile", stdout=out)

        lines = out.getvalue().splitlines()
        assert lines[:2] == [
            "Reconciling: 0% (0/2) 1 mirrored warehouse(s), then the ledger",
            "Reconciling: 100% (2/2) ledger checked",
        ]
        assert lines[2].startswith(f"{account}: succeeded, 1 read, ")
        assert "\r" not in out.getvalue()

    def test_reconcile_draws_a_bar_on_a_terminal_and_stops_following_the_job(self, zoho_sandbox):
        zoho_sandbox.add_item(sku="TOMB45-001", stock={"Head Office": 10})
        account = zoho_account(zoho_sandbox)
        terminal = Terminal()

        call_command("reconcile", stdout=terminal)

        drawn = terminal.getvalue()
        assert drawn.startswith("\rReconciling [")
        assert f"reading {account.name}" in drawn
        assert "] 100% 2/2 ledger checked\n" in drawn
        assert not [thread for thread in threading.enumerate() if thread.name == "reconcile-progress"]
