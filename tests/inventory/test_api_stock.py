import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement
from tests.clients import staff_client
from tests.factories import VariantFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

STOCK_URL = "/api/v1/stock/"
ADJUST_URL = "/api/v1/stock/adjustments/"
MOVEMENTS_URL = "/api/v1/movements/"


@pytest.fixture
def clerk():
    return staff_client("view_stocklevel", "view_stockmovement", "adjust_stock")


@pytest.fixture
def stocked(warehouse, receive):
    variants = [VariantFactory(sku=f"SKU-{i}", low_stock_threshold=5) for i in range(3)]
    for variant, quantity in zip(variants, (2, 5, 20), strict=True):
        receive(warehouse, variant, quantity)
    return variants


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


class TestAuthentication:
    def test_anonymous_is_401_in_the_error_envelope(self):
        assert_error(APIClient().get(STOCK_URL), 401, "not_authenticated")

    def test_token_auth_works_and_drf_create_token_command_makes_one(self, superuser, stocked):
        call_command("drf_create_token", superuser.username)
        token = Token.objects.get(user=superuser)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

        assert client.get(STOCK_URL).status_code == 200

    def test_reading_stock_requires_the_view_permission(self, stocked):
        assert_error(staff_client().get(STOCK_URL), 403, "permission_denied")

    def test_adjusting_requires_the_adjust_permission(self, stocked, warehouse):
        client = staff_client("view_stocklevel", "change_stocklevel")
        body = {"adjustments": [{"sku": "SKU-0", "warehouse": warehouse.code, "delta": 1, "reason": "receipt"}]}

        assert_error(client.post(ADJUST_URL, body, format="json"), 403, "permission_denied")
        assert StockMovement.objects.count() == 3


class TestStockList:
    def test_rows_carry_sku_warehouse_and_quantities(self, clerk, stocked, warehouse):
        StockLevel.objects.filter(variant=stocked[2]).update(reserved=4)

        response = clerk.get(STOCK_URL)

        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 3
        row = next(r for r in body["results"] if r["sku"] == "SKU-2")
        assert (row["warehouse"], row["on_hand"], row["reserved"], row["available"]) == (warehouse.code, 20, 4, 16)

    def test_filters_by_sku_warehouse_and_threshold(self, clerk, stocked, receive):
        other = WarehouseFactory(code="backroom")
        receive(other, stocked[0], 50)

        def skus(**params):
            return sorted((r["sku"], r["warehouse"]) for r in clerk.get(STOCK_URL, params).json()["results"])

        assert skus(sku=["SKU-0", "SKU-1"]) == [("SKU-0", "backroom"), ("SKU-0", "main"), ("SKU-1", "main")]
        assert skus(warehouse="backroom") == [("SKU-0", "backroom")]
        assert skus(below_threshold="true") == [("SKU-0", "main"), ("SKU-1", "main")]
        assert skus(below_threshold="false", warehouse="main") == [("SKU-2", "main")]

    def test_is_paginated_and_the_query_count_does_not_grow_with_rows(
        self, clerk, warehouse, receive, django_assert_max_num_queries
    ):
        for variant in VariantFactory.create_batch(30):
            receive(warehouse, variant, 1)

        # One more than before organizations: the user's memberships (inventory.scoping).
        with django_assert_max_num_queries(5):
            first = clerk.get(STOCK_URL, {"page_size": 25}).json()

        assert (first["count"], len(first["results"])) == (30, 25)
        assert first["next"]


class TestAdjustments:
    def test_applies_every_row_and_returns_the_movements(self, clerk, stocked, warehouse):
        body = {
            "adjustments": [
                {"sku": "SKU-0", "warehouse": warehouse.code, "delta": 3, "reason": "receipt", "reference": "PO-9"},
                {"sku": "SKU-2", "warehouse": warehouse.code, "set_on_hand": 18, "reason": "count"},
            ]
        }

        response = clerk.post(ADJUST_URL, body, format="json")

        assert response.status_code == 201, response.content
        movements = response.json()["movements"]
        assert [(m["sku"], m["quantity"], m["on_hand_after"]) for m in movements] == [
            ("SKU-0", 3, 5),
            ("SKU-2", -2, 18),
        ]
        assert {m["source"] for m in movements} == {"api"}
        assert {m["actor"] for m in movements} == {clerk.user.username}
        assert StockLevel.objects.get(variant=stocked[0]).on_hand == 5

    def test_every_bad_row_is_named_and_nothing_changes(self, clerk, stocked, warehouse):
        rows = [
            {"sku": "SKU-0", "warehouse": warehouse.code, "delta": 1, "reason": "receipt"},  # fine
            {"sku": "NOPE", "warehouse": warehouse.code, "delta": 1, "reason": "receipt"},
            {"sku": "SKU-1", "warehouse": "nowhere", "delta": 1, "reason": "receipt"},
            {"sku": "SKU-1", "warehouse": warehouse.code, "delta": 1, "set_on_hand": 3, "reason": "count"},
            {"sku": "SKU-1", "warehouse": warehouse.code, "delta": "5", "reason": "adjustment"},
            {"sku": "SKU-1", "warehouse": warehouse.code, "delta": 2.5, "reason": "adjustment"},
            {"sku": "SKU-1", "warehouse": warehouse.code, "delta": 0, "reason": "adjustment"},
            {"sku": "SKU-1", "warehouse": warehouse.code, "set_on_hand": -4, "reason": "count"},
            {"sku": "SKU-1", "warehouse": warehouse.code, "delta": 1, "reason": "sale"},
            {"sku": "SKU-1", "warehouse": warehouse.code, "delta": 1},
            "not an object",
        ]

        error = assert_error(clerk.post(ADJUST_URL, {"adjustments": rows}, format="json"), 400, "invalid")

        assert [row["index"] for row in error["details"]] == list(range(1, len(rows)))
        by_index = {row["index"]: row for row in error["details"]}
        assert by_index[1]["sku"] == "NOPE"
        assert "Unknown SKU" in by_index[1]["errors"]["sku"][0]
        assert "Unknown warehouse" in by_index[2]["errors"]["warehouse"][0]
        assert StockMovement.objects.count() == 3

    def test_a_row_that_would_go_below_reserved_refuses_the_whole_request(self, clerk, stocked, warehouse):
        StockLevel.objects.filter(variant=stocked[2]).update(reserved=15)
        body = {
            "adjustments": [
                {"sku": "SKU-0", "warehouse": warehouse.code, "delta": 1, "reason": "receipt"},
                {"sku": "SKU-2", "warehouse": warehouse.code, "delta": -6, "reason": "damage"},
            ]
        }

        error = assert_error(clerk.post(ADJUST_URL, body, format="json"), 400, "stock_rule_violation")

        assert error["details"][0]["index"] == 1
        assert error["details"][0]["sku"] == "SKU-2"
        assert StockMovement.objects.count() == 3

    @pytest.mark.parametrize(
        "body",
        [{}, {"adjustments": []}, {"adjustments": "x"}, [1, 2], {"adjustments": [{}] * 1001}],
        ids=["missing", "empty", "not-a-list", "not-an-object", "too-many"],
    )
    def test_malformed_bodies_are_400(self, clerk, body):
        assert_error(clerk.post(ADJUST_URL, body, format="json"), 400, "invalid")

    def test_unparseable_json_is_400(self, clerk):
        response = clerk.post(ADJUST_URL, data="{not json", content_type="application/json")

        assert_error(response, 400, "malformed_request")


class TestMovements:
    def test_filters_by_sku_warehouse_and_since(self, clerk, stocked, warehouse, receive):
        other = WarehouseFactory(code="backroom")
        receive(other, stocked[1], 7)
        cutoff = StockMovement.objects.order_by("-created_at").first().created_at

        def rows(**params):
            response = clerk.get(MOVEMENTS_URL, params)
            assert response.status_code == 200, response.content
            return [(r["sku"], r["warehouse"], r["quantity"]) for r in response.json()["results"]]

        assert rows(sku="SKU-1") == [("SKU-1", "backroom", 7), ("SKU-1", "main", 5)]
        assert rows(warehouse="backroom") == [("SKU-1", "backroom", 7)]
        assert rows(since=cutoff.isoformat()) == [("SKU-1", "backroom", 7)]

    def test_bad_since_is_400(self, clerk):
        assert_error(clerk.get(MOVEMENTS_URL, {"since": "yesterday-ish"}), 400, "invalid")

    def test_the_ledger_cannot_be_written_through_the_api(self, superuser, stocked):
        client = APIClient()
        client.force_authenticate(superuser)

        assert_error(client.post(MOVEMENTS_URL, {}, format="json"), 405, "method_not_allowed")
        assert StockMovement.objects.count() == 3


def test_openapi_schema_describes_the_stock_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/stock/", "/api/v1/stock/adjustments/", "/api/v1/movements/"} <= set(paths)
