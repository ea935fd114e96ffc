import pytest
from django.core.management import call_command
from django.urls import reverse

from connectors.models import ConnectorAccount, Kind, SyncJob
from connectors.sync import run_sync_job
from tests.clients import staff_client
from tests.connectors.accounts import zoho_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(zoho_sandbox):
    zoho_sandbox.seed(items=12)
    return zoho_account(zoho_sandbox)


class TestSyncJobApi:
    def test_start_is_202_and_progress_can_be_followed(self, account):
        client = staff_client("run_sync", "view_syncjob")

        started = client.post("/api/v1/sync-jobs/", {"account": account.pk, "kind": "full"}, format="json")

        assert started.status_code == 202, started.content
        job_id = started.json()["id"]
        assert started.json()["status"] == "queued"
        run_sync_job(job_id)  # what the worker does with the queued task
        progress = client.get(f"/api/v1/sync-jobs/{job_id}/").json()
        assert (progress["status"], progress["processed"], progress["progress_percent"]) == ("succeeded", 12, 100)

    def test_a_second_start_returns_the_job_already_queued(self, account):
        client = staff_client("run_sync", "view_syncjob")

        first = client.post("/api/v1/sync-jobs/", {"account": account.pk, "kind": "full"}, format="json").json()
        again = client.post("/api/v1/sync-jobs/", {"account": account.pk, "kind": "full"}, format="json").json()

        assert first["id"] == again["id"]
        assert SyncJob.objects.count() == 1

    def test_starting_needs_the_run_sync_permission(self, account):
        response = staff_client("view_syncjob").post(
            "/api/v1/sync-jobs/", {"account": account.pk, "kind": "full"}, format="json"
        )

        assert response.status_code == 403
        assert not SyncJob.objects.exists()

    @pytest.mark.parametrize(
        "body", [{"account": 999999, "kind": "full"}, {"kind": "full"}, {"account": 1, "kind": "push"}]
    )
    def test_bad_requests_are_400(self, account, body):
        response = staff_client("run_sync").post("/api/v1/sync-jobs/", body, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid"


class TestAdminActions:
    def test_test_connection_and_sync_now(self, client, superuser, account):
        client.force_login(superuser)
        url = reverse("admin:connectors_connectoraccount_changelist")

        tested = client.post(url, {"action": "test_connection", "_selected_action": [account.pk]}, follow=True)
        client.post(url, {"action": "sync_full", "_selected_action": [account.pk]})

        assert "Connected to Zoho Inventory" in tested.content.decode()
        job = SyncJob.objects.get()
        assert (job.kind, job.started_by) == ("full", superuser)

    def test_the_job_page_shows_progress_counts_and_errors(self, client, superuser, account):
        client.force_login(superuser)
        job = run_sync_job(SyncJob.objects.create(account=account, kind="full").pk)

        page = client.get(reverse("admin:connectors_syncjob_change", args=[job.pk])).content.decode()

        assert '<progress max="100" value="100"></progress>' in page


def test_the_demo_connects_its_warehouses_and_channels_to_the_sandboxes(settings):
    settings.DEMO_ZOHO_SANDBOX_URL = "http://127.0.0.1:8101"

    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)

    zoho = ConnectorAccount.objects.get(kind=Kind.ZOHO_INVENTORY)
    cin7 = ConnectorAccount.objects.get(kind=Kind.CIN7_CORE)
    medusa = ConnectorAccount.objects.get(kind=Kind.MEDUSA)
    amazon = ConnectorAccount.objects.get(kind=Kind.AMAZON_SP_API)
    assert medusa.channel.code == "medusa-store"
    assert (amazon.channel.code, amazon.warehouse.code) == ("amazon-us", "amazon-fba-us")
    for account in (medusa, amazon):
        assert not account.missing_credentials
        account.full_clean()
    assert (zoho.warehouse.code, zoho.api_base_url) == ("bmb-cash-carry", "http://127.0.0.1:8101/inventory/v1")
    assert cin7.warehouse.code == "bookbarber-shop"
    assert not zoho.missing_credentials
    assert not cin7.missing_credentials
    zoho.full_clean()
    cin7.full_clean()
