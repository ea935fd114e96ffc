import pytest
from django.urls import reverse

from reservations import services
from reservations.models import ChannelApiKey, Reservation

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_release_action_returns_held_stock(admin_client, shop, variant):
    held, _ = services.reserve(channel=shop, order_ref="A-1", lines=[services.LineRequest(variant, 3)])
    sold, _ = services.record_pos_sale(channel=shop, sale_id="S-1", lines=[services.LineRequest(variant, 1)])

    response = admin_client.post(
        reverse("admin:reservations_reservation_changelist"),
        {"action": "release_selected", "_selected_action": [held.pk, sold.pk]},
        follow=True,
    )

    assert response.status_code == 200
    held.refresh_from_db()
    assert held.status == Reservation.Status.RELEASED
    assert "released in the admin by root" in held.release_reason
    assert Reservation.objects.get(pk=sold.pk).status == Reservation.Status.CONSUMED
    assert shop.listings.get().variant.stock_levels.get().reserved == 0


def test_reservations_cannot_be_added_or_deleted_in_the_admin(admin_client, shop, variant):
    held, _ = services.reserve(channel=shop, order_ref="A-1", lines=[services.LineRequest(variant, 1)])

    assert admin_client.get(reverse("admin:reservations_reservation_add")).status_code == 403
    assert admin_client.post(reverse("admin:reservations_reservation_delete", args=[held.pk])).status_code == 403


def test_new_api_key_is_shown_once_and_stored_hashed(admin_client, shop):
    response = admin_client.post(
        reverse("admin:reservations_channelapikey_add"), {"channel": shop.pk, "name": "Till 1"}
    )

    assert response.status_code == 200
    record = ChannelApiKey.objects.get(name="Till 1")
    key = response.context["key"]
    assert key.startswith(f"sp_{record.prefix}.")
    assert record.key_hash == ChannelApiKey.hash(key)
    assert key in response.content.decode()
    change_page = admin_client.get(reverse("admin:reservations_channelapikey_change", args=[record.pk]))
    assert key not in change_page.content.decode()


def test_revoke_action(admin_client, shop):
    record, _ = services.create_api_key(channel=shop, name="Till 1")

    admin_client.post(
        reverse("admin:reservations_channelapikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [record.pk]},
    )

    record.refresh_from_db()
    assert record.revoked_at is not None
    assert not ChannelApiKey.objects.usable().exists()
