from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement
from reservations.api.authentication import ChannelKeyThrottle
from reservations.idempotency import fingerprint
from reservations.models import ChannelApiKey, IdempotencyKey, Reservation
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db

RESERVATIONS = "/api/v1/reservations/"


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


@pytest.fixture
def client(shop, api_client_for):
    return api_client_for(shop)


def reserve(client, order_ref="A-1", items=None, **headers):
    items = items if items is not None else [{"sku": "TOMB45-001", "quantity": 2}]
    return client.post(RESERVATIONS, {"order_ref": order_ref, "items": items}, format="json", **headers)


class TestAuthentication:
    def test_no_key_is_401(self, shop):
        response = APIClient().get("/api/v1/availability/", {"sku": "TOMB45-001"})

        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == 'Api-Key realm="stockpool"'

    @pytest.mark.parametrize("header", ["Api-Key nonsense", "Api-Key sp_000000000000.wrong", "Api-Key a b"])
    def test_bad_key_is_401(self, shop, header):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)

        assert_error(client.get("/api/v1/availability/", {"sku": "x"}), 401, "authentication_failed")

    def test_revoked_key_is_401(self, client):
        ChannelApiKey.objects.update(revoked_at=timezone.now())

        assert_error(client.get("/api/v1/availability/", {"sku": "x"}), 401, "authentication_failed")

    def test_keys_are_stored_only_as_hashes(self, client):
        record = client.api_key
        assert record.plain_key not in (record.key_hash, record.prefix)
        assert record.key_hash == ChannelApiKey.hash(record.plain_key)

    def test_staff_session_cannot_use_the_channel_api(self, superuser):
        staff = APIClient()
        staff.force_login(superuser)

        assert staff.get("/api/v1/availability/", {"sku": "x"}).status_code in (401, 403)

    def test_create_api_key_command_prints_the_key_alone_on_its_last_line(self, shop, capsys):
        call_command("create_api_key", shop.code, name="Till 1")

        key = capsys.readouterr().out.strip().splitlines()[-1]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert client.get("/api/v1/availability/", {"sku": "TOMB45-001"}).status_code == 200
        assert ChannelApiKey.objects.get(name="Till 1").channel == shop

    def test_throttled_per_key(self, client, monkeypatch):
        monkeypatch.setattr(ChannelKeyThrottle, "THROTTLE_RATES", {"channel": "3/minute"})

        statuses = [client.get("/api/v1/availability/", {"sku": "x"}).status_code for _ in range(4)]

        assert statuses == [200, 200, 200, 429]


class TestAvailability:
    def test_reports_each_sku_and_unknown_ones_apart(self, client, shop, warehouse, receive, listing_for):
        unlisted = VariantFactory(sku="UNLISTED")
        receive(warehouse, unlisted, 3)

        body = client.get("/api/v1/availability/", {"sku": ["TOMB45-001", "UNLISTED", "NOPE"]}).json()

        assert body["channel"] == "shop"
        assert body["items"] == [
            {"sku": "TOMB45-001", "available": 10, "sellable": True, "listed": True},
            {"sku": "UNLISTED", "available": 0, "sellable": False, "listed": False},
        ]
        assert body["unknown_skus"] == ["NOPE"]

    def test_no_sku_is_400(self, client):
        assert_error(client.get("/api/v1/availability/"), 400, "invalid")


class TestPosCheck:
    def test_enough(self, client):
        body = client.post("/api/v1/pos/check/", {"sku": "TOMB45-001", "quantity": 2}, format="json").json()

        assert body == {
            "sku": "TOMB45-001",
            "requested": 2,
            "available": True,
            "current_stock": 10,
            "message": "In stock",
        }

    def test_not_enough_says_how_many_there_are(self, client, warehouse, variant):
        StockLevel.objects.filter(variant=variant).update(reserved=9)

        body = client.post("/api/v1/pos/check/", {"sku": "TOMB45-001", "quantity": 2}, format="json").json()

        assert (body["available"], body["current_stock"]) == (False, 1)
        assert body["message"] == "Insufficient stock (only 1 available, need 2)"

    def test_unknown_sku_is_400_naming_it(self, client):
        error = assert_error(
            client.post("/api/v1/pos/check/", {"sku": "NOPE", "quantity": 1}, format="json"), 400, "unknown_sku"
        )

        assert error["details"] == {"skus": ["NOPE"]}


class TestReservations:
    def test_reserve_is_201_with_id_status_expiry_and_items(self, client, warehouse):
        response = reserve(client)

        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "active"
        assert body["expires_at"]
        assert body["items"] == [
            {"sku": "TOMB45-001", "quantity": 2, "warehouse": warehouse.code, "unit_price": None, "tax": None}
        ]

    def test_insufficient_stock_is_409_with_requested_and_available_per_sku(self, client):
        error = assert_error(reserve(client, items=[{"sku": "TOMB45-001", "quantity": 11}]), 409, "insufficient_stock")

        assert error["details"] == [{"sku": "TOMB45-001", "requested": 11, "available": 10}]
        assert not Reservation.objects.exists()

    def test_unknown_sku_is_400_naming_it(self, client):
        error = assert_error(
            reserve(client, items=[{"sku": "TOMB45-001", "quantity": 1}, {"sku": "GHOST", "quantity": 1}]),
            400,
            "unknown_sku",
        )

        assert error["details"]["skus"] == ["GHOST"]
        assert StockLevel.objects.get().reserved == 0

    @pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", True, None, 10**9], ids=repr)
    def test_bad_quantities_are_400(self, client, quantity):
        assert_error(reserve(client, items=[{"sku": "TOMB45-001", "quantity": quantity}]), 400, "invalid")
        assert StockLevel.objects.get().reserved == 0

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"order_ref": "x", "items": []},
            {"order_ref": "x", "items": "all"},
            ["x"],
            {"order_ref": "", "items": []},
        ],
        ids=["empty", "no-items", "items-not-list", "not-object", "blank-ref"],
    )
    def test_malformed_bodies_are_400(self, client, body):
        assert_error(client.post(RESERVATIONS, body, format="json"), 400, "invalid")

    def test_broken_json_is_400(self, client):
        response = client.post(RESERVATIONS, "{oops", content_type="application/json")

        assert_error(response, 400, "malformed_request")

    def test_get_confirm_release_flow(self, client):
        created = reserve(client).json()
        url = f"{RESERVATIONS}{created['id']}/"

        assert client.get(url).json()["status"] == "active"
        assert client.post(f"{url}confirm/").json()["status"] == "consumed"
        assert StockMovement.objects.filter(reason="sale").count() == 1

    def test_release_with_reason_is_harmless_to_repeat(self, client):
        created = reserve(client).json()
        url = f"{RESERVATIONS}{created['id']}/release/"

        first = client.post(url, {"reason": "payment failed"}, format="json")
        second = client.post(url, {"reason": "again"}, format="json")

        assert (first.status_code, second.status_code) == (200, 200)
        assert second.json()["release_reason"] == "payment failed"
        assert StockLevel.objects.get().reserved == 0

    def test_confirm_after_expiry_is_410(self, client):
        created = reserve(client).json()
        Reservation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

        assert_error(client.post(f"{RESERVATIONS}{created['id']}/confirm/"), 410, "reservation_expired")
        assert StockLevel.objects.get().reserved == 0

    def test_another_channels_reservation_is_404(
        self, client, warehouse, variant, channel_with, listing_for, api_client_for
    ):
        rival = channel_with(warehouse, code="rival")
        listing_for(rival, variant)
        rival_id = reserve(api_client_for(rival)).json()["id"]

        for response in (
            client.get(f"{RESERVATIONS}{rival_id}/"),
            client.post(f"{RESERVATIONS}{rival_id}/confirm/"),
            client.post(f"{RESERVATIONS}{rival_id}/release/"),
        ):
            assert_error(response, 404, "not_found")
        assert Reservation.objects.get(pk=rival_id).status == "active"

    def test_unknown_id_is_404(self, client):
        assert_error(client.get(f"{RESERVATIONS}00000000-0000-0000-0000-000000000000/"), 404, "not_found")


class TestIdempotency:
    def test_same_key_and_body_replays_the_first_response(self, client):
        first = reserve(client, HTTP_IDEMPOTENCY_KEY="k-1")
        second = reserve(client, HTTP_IDEMPOTENCY_KEY="k-1")

        assert (first.status_code, second.status_code) == (201, 201)
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert Reservation.objects.count() == 1

    def test_refusals_are_replayed_too(self, client):
        first = reserve(client, items=[{"sku": "TOMB45-001", "quantity": 11}], HTTP_IDEMPOTENCY_KEY="k-1")
        StockLevel.objects.update(on_hand=100)
        second = reserve(client, items=[{"sku": "TOMB45-001", "quantity": 11}], HTTP_IDEMPOTENCY_KEY="k-1")

        assert first.status_code == second.status_code == 409
        assert second.json() == first.json()

    def test_same_key_with_another_body_is_422(self, client):
        reserve(client, HTTP_IDEMPOTENCY_KEY="k-1")

        assert_error(reserve(client, order_ref="B-2", HTTP_IDEMPOTENCY_KEY="k-1"), 422, "idempotency_key_mismatch")
        assert Reservation.objects.count() == 1

    def test_key_still_in_flight_is_409(self, client):
        IdempotencyKey.objects.create(
            channel=client.api_key.channel,
            key="k-1",
            fingerprint=fingerprint(
                "POST", RESERVATIONS, {"order_ref": "A-1", "items": [{"sku": "TOMB45-001", "quantity": 2}]}
            ),
        )

        assert_error(reserve(client, HTTP_IDEMPOTENCY_KEY="k-1"), 409, "idempotency_key_in_flight")
        assert not Reservation.objects.exists()

    def test_abandoned_in_flight_key_is_taken_over(self, client):
        reserve(client, HTTP_IDEMPOTENCY_KEY="k-1")
        IdempotencyKey.objects.update(
            state=IdempotencyKey.State.IN_FLIGHT, created_at=timezone.now() - timedelta(minutes=5)
        )

        assert reserve(client, HTTP_IDEMPOTENCY_KEY="k-1").status_code == 200  # order_ref repeat, same reservation
        assert IdempotencyKey.objects.get().state == IdempotencyKey.State.COMPLETED

    def test_keys_are_per_channel(self, client, warehouse, variant, channel_with, listing_for, api_client_for):
        rival = channel_with(warehouse, code="rival")
        listing_for(rival, variant)

        reserve(client, HTTP_IDEMPOTENCY_KEY="k-1")
        assert reserve(api_client_for(rival), HTTP_IDEMPOTENCY_KEY="k-1").status_code == 201

    def test_oversized_key_is_400(self, client):
        assert_error(reserve(client, HTTP_IDEMPOTENCY_KEY="k" * 256), 400, "invalid")


class TestPosSales:
    SALE = {
        "sale_id": "S-1",
        "invoice_number": "INV-1",
        "customer_name": "Walk-in",
        "items": [{"sku": "TOMB45-001", "quantity": 2, "price": "14.99", "tax": "1.20"}],
    }

    def test_first_is_201_and_a_repeat_returns_the_first_result(self, client):
        first = client.post("/api/v1/pos/sales/", self.SALE, format="json")
        again = client.post("/api/v1/pos/sales/", self.SALE, format="json")

        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert first.json()["status"] == "consumed"
        assert first.json()["items"][0]["unit_price"] == "14.99"
        assert StockLevel.objects.get().on_hand == 8

    def test_a_repeat_with_other_items_is_409_sale_id_conflict_and_changes_nothing(self, client):
        client.post("/api/v1/pos/sales/", self.SALE, format="json")
        other = {**self.SALE, "items": [{"sku": "TOMB45-001", "quantity": 3, "price": "14.99", "tax": "1.80"}]}

        error = assert_error(client.post("/api/v1/pos/sales/", other, format="json"), 409, "sale_id_conflict")

        assert error["details"]["sale_id"] == "S-1"
        assert Reservation.objects.count() == 1
        assert StockLevel.objects.get().on_hand == 8

    def test_bad_price_is_400(self, client):
        sale = {**self.SALE, "items": [{"sku": "TOMB45-001", "quantity": 1, "price": "-1"}]}

        assert_error(client.post("/api/v1/pos/sales/", sale, format="json"), 400, "invalid")


def test_schema_documents_the_channel_api_and_its_security_scheme(client):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert schema["components"]["securitySchemes"]["ChannelApiKey"]["in"] == "header"
    reserve_op = schema["paths"]["/api/v1/reservations/"]["post"]
    assert {"201", "400", "409", "422"} <= set(reserve_op["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in reserve_op["parameters"])
    assert "410" in schema["paths"]["/api/v1/reservations/{reservation_id}/confirm/"]["post"]["responses"]
    sale_op = schema["paths"]["/api/v1/pos/sales/"]["post"]
    assert "sale_id_conflict" in sale_op["responses"]["409"]["description"]
    inputs = schema["components"]["schemas"]
    assert "sale_id_conflict" in inputs["PosSaleInput"]["properties"]["sale_id"]["description"]
    assert "after a release" in inputs["ReservationInput"]["properties"]["order_ref"]["description"]
    assert APIClient().get("/api/docs/").status_code == 200
