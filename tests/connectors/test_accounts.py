import threading
import time
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from connectors import crypto, services
from connectors.http import RateLimit, RateLimiter
from connectors.models import ConnectorAccount, SyncConflict
from connectors.sync import settle_price_conflict
from tests.factories import ConnectorAccountFactory, SyncConflictFactory, VariantFactory

pytestmark = pytest.mark.django_db


class TestCredentials:
    def test_are_encrypted_at_rest(self):
        account = ConnectorAccountFactory()

        with connection.cursor() as cursor:
            cursor.execute("SELECT credentials_encrypted FROM connectors_connectoraccount WHERE id = %s", [account.pk])
            stored = cursor.fetchone()[0]

        assert "s3cret-client" not in stored
        assert ConnectorAccount.objects.get(pk=account.pk).credentials["client_secret"] == "s3cret-client"

    def test_survive_a_key_rotation(self, settings):
        old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        settings.CONNECTOR_ENCRYPTION_KEYS = [old_key]
        crypto._fernet.cache_clear()
        account = ConnectorAccountFactory()
        settings.CONNECTOR_ENCRYPTION_KEYS = [new_key, old_key]
        crypto._fernet.cache_clear()
        try:
            assert ConnectorAccount.objects.get(pk=account.pk).credentials["refresh_token"] == "1000.refresh"
        finally:
            crypto._fernet.cache_clear()

    def test_are_never_shown_in_the_admin(self, client, superuser):
        account = ConnectorAccountFactory()
        client.force_login(superuser)

        page = client.get(reverse("admin:connectors_connectoraccount_change", args=[account.pk])).content.decode()

        assert "s3cret-client" not in page
        assert "1000.refresh" not in page
        assert "••••••••ient" in page  # masked, so a manager can tell one is set

    def test_blank_fields_in_the_admin_keep_the_stored_secrets(self, client, superuser):
        account = ConnectorAccountFactory(name="Zoho BMB")
        client.force_login(superuser)
        url = reverse("admin:connectors_connectoraccount_change", args=[account.pk])
        data = {
            "name": "Zoho BMB renamed",
            "kind": account.kind,
            "organization": account.organization_id,
            "warehouse": account.warehouse_id,
            "enabled": "on",
            "api_base_url": account.api_base_url,
            "auth_base_url": account.auth_base_url,
            "settings": '{"organization_id": "1", "location_id": "2"}',
            "conflict_strategy": "hub_wins",
            "priority": 100,
            "incremental_sync_minutes": 5,
            "full_sync_hour": 3,
            "credential_client_secret": "",
            "credential_refresh_token": "1000.new-refresh",
        }

        response = client.post(url, data)

        assert response.status_code == 302, response.content.decode()[:2000]
        account.refresh_from_db()
        assert account.name == "Zoho BMB renamed"
        assert account.credentials["client_secret"] == "s3cret-client"
        assert account.credentials["refresh_token"] == "1000.new-refresh"


class TestSettings:
    def test_are_validated_per_kind(self):
        account = ConnectorAccountFactory.build(settings={"organization_id": "1"})

        with pytest.raises(ValidationError, match="location_id"):
            account.clean()

    def test_the_partners_real_urls_are_the_defaults(self):
        account = ConnectorAccountFactory()

        assert account.api_base_url == "https://www.zohoapis.com/inventory/v1"
        assert account.auth_base_url == "https://accounts.zoho.com"


def test_saving_an_account_schedules_its_syncs():
    account = ConnectorAccountFactory(incremental_sync_minutes=7, full_sync_hour=2)

    services.save_account(account)

    incremental = PeriodicTask.objects.get(name=f"Incremental sync of connector account {account.pk}")
    assert (incremental.interval.every, incremental.args) == (7, f'[{account.pk}, "incremental"]')
    full = PeriodicTask.objects.get(name=f"Full sync of connector account {account.pk}")
    assert full.crontab.hour == "2"

    account.enabled = False
    services.save_account(account)
    assert not PeriodicTask.objects.filter(name__contains=f"connector account {account.pk}").exists()


class TestPriceConflicts:
    @pytest.mark.parametrize(
        ("strategy", "kept"),
        [("hub_wins", "10.00"), ("source_wins", "12.00"), ("highest", "12.00"), ("lowest", "10.00")],
    )
    def test_automatic_strategies_decide_and_record(self, strategy, kept):
        account = ConnectorAccountFactory(conflict_strategy=strategy)
        variant = VariantFactory(price=Decimal("10.00"))

        assert settle_price_conflict(account, variant, Decimal("12.00")) == Decimal(kept)

        conflict = SyncConflict.objects.get()
        assert (conflict.status, conflict.local_value, conflict.remote_value) == ("resolved", "10.00", "12.00")

    def test_manual_keeps_ours_and_waits_for_a_manager(self, superuser):
        account = ConnectorAccountFactory(conflict_strategy="manual")
        variant = VariantFactory(price=Decimal("10.00"))

        assert settle_price_conflict(account, variant, Decimal("12.00")) == Decimal("10.00")
        settle_price_conflict(account, variant, Decimal("12.00"))  # the next sync does not open another

        conflict = SyncConflict.objects.get()
        assert conflict.status == "open"
        services.resolve_conflict(conflict, take_partner_value=True, user=superuser)
        variant.refresh_from_db()
        assert variant.price == Decimal("12.00")
        assert SyncConflict.objects.get().resolved_by == superuser

    def test_a_manager_resolves_conflicts_in_the_admin(self, client, superuser):
        conflict = SyncConflictFactory()
        client.force_login(superuser)

        client.post(
            reverse("admin:connectors_syncconflict_changelist"),
            {"action": "keep_ours", "_selected_action": [conflict.pk]},
        )

        conflict.refresh_from_db()
        assert (conflict.status, conflict.resolution) == ("resolved", "kept ours")


def test_the_rate_limiter_is_shared_by_concurrent_callers():
    """Six threads (as six workers would) draw from one Redis bucket: 5 at once, then 20 a second."""
    limiter_key = f"test-{time.monotonic_ns()}"
    limit = RateLimit(capacity=5, per_second=20)
    granted = []
    lock = threading.Lock()
    deadline = time.monotonic() + 1.0

    def caller():
        limiter = RateLimiter(limiter_key, limit)
        while time.monotonic() < deadline:
            limiter.acquire(timeout=2)
            with lock:
                granted.append(time.monotonic())

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    in_window = [t for t in granted if t <= deadline]
    assert 5 + 20 * 0.8 <= len(in_window) <= 5 + 20 * 1.0 + 2


def test_the_admin_form_has_a_field_for_every_credential_a_partner_needs():
    from connectors.admin import ConnectorAccountForm
    from connectors.models import REQUIRED_CREDENTIALS

    needed = {f"credential_{name}" for names in REQUIRED_CREDENTIALS.values() for name in names}
    assert needed <= set(ConnectorAccountForm.base_fields)
