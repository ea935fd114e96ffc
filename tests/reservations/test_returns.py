"""Returns of confirmed sales: back to the warehouse each unit was sold from, exactly once per return_ref."""

import pytest

from inventory.models import StockLevel, StockMovement
from inventory.selectors import ledger_mismatches
from reservations import services
from reservations.exceptions import ReservationNotActive, ReturnExceedsSale, ReturnRefConflict
from reservations.models import Return
from tests.factories import VariantFactory, WarehouseFactory
from tests.reservations.conftest import assert_stock_invariants
from tests.threads import run_concurrently

pytestmark = pytest.mark.django_db

Line = services.LineRequest
Back = services.ReturnRequest
RETURNS = "/api/v1/reservations/{}/returns/"


def on_hand(warehouse, variant) -> int:
    return StockLevel.objects.get(warehouse=warehouse, variant=variant).on_hand


@pytest.fixture
def split_sale(variant, receive, channel_with, listing_for):
    """A till drawing from two warehouses sold 3 units: 1 from the first, 2 from the second."""
    first, second = WarehouseFactory.create_batch(2)
    till = channel_with(first, second, code="till", kind="pos")
    listing_for(till, variant)
    receive(first, variant, 1)
    receive(second, variant, 5)
    sale, _ = services.record_pos_sale(channel=till, sale_id="S-1", lines=[Line(variant, 3)])
    return till, sale, first, second


class TestRecordReturn:
    def test_restocked_units_go_back_where_they_were_sold_from_one_movement_per_line(self, split_sale, variant):
        till, sale, first, second = split_sale

        sale_return, created = services.record_return(
            channel=till, reservation_id=sale.pk, return_ref="R-1", lines=[Back(variant, 3)], restock=True
        )

        assert created
        assert (on_hand(first, variant), on_hand(second, variant)) == (1, 5)
        movements = StockMovement.objects.filter(reason="return").order_by("warehouse_id")
        assert [(m.warehouse_id, m.quantity) for m in movements] == [(first.pk, 1), (second.pk, 2)]
        assert {m.reference for m in movements} == {"till:S-1 return R-1"}
        assert [(line.sold_line.warehouse_id, line.quantity) for line in sale_return.lines.all()] == [
            (first.pk, 1),
            (second.pk, 2),
        ]
        assert not ledger_mismatches().exists()
        assert_stock_invariants()

    def test_without_restock_the_return_is_recorded_and_stock_is_unchanged(self, split_sale, variant):
        till, sale, first, second = split_sale

        services.record_return(
            channel=till, reservation_id=sale.pk, return_ref="R-1", lines=[Back(variant, 2)], restock=False
        )

        assert (on_hand(first, variant), on_hand(second, variant)) == (0, 3)
        assert not StockMovement.objects.filter(reason="return").exists()
        assert Return.objects.get().restock is False

    def test_more_than_was_sold_over_all_returns_is_refused_and_writes_nothing(self, split_sale, variant):
        till, sale, _, _ = split_sale
        services.record_return(
            channel=till, reservation_id=sale.pk, return_ref="R-1", lines=[Back(variant, 2)], restock=True
        )

        with pytest.raises(ReturnExceedsSale) as refused:
            services.record_return(
                channel=till, reservation_id=sale.pk, return_ref="R-2", lines=[Back(variant, 2)], restock=True
            )

        assert refused.value.details == [{"sku": variant.sku, "requested": 2, "returnable": 1}]
        assert Return.objects.count() == 1
        assert StockMovement.objects.filter(reason="return").count() == 2  # the first return's two lines

    def test_a_sku_the_sale_did_not_sell_is_not_returnable(self, split_sale):
        till, sale, _, _ = split_sale
        other = VariantFactory()

        with pytest.raises(ReturnExceedsSale):
            services.record_return(
                channel=till, reservation_id=sale.pk, return_ref="R-1", lines=[Back(other, 1)], restock=True
            )

    def test_the_same_return_ref_and_body_is_the_first_return_another_body_a_conflict(self, split_sale, variant):
        till, sale, _, _ = split_sale
        first_return, _ = services.record_return(
            channel=till, reservation_id=sale.pk, return_ref="R-1", lines=[Back(variant, 1)], restock=True
        )

        again, created = services.record_return(
            channel=till, reservation_id=sale.pk, return_ref="R-1", lines=[Back(variant, 1)], restock=True
        )
        assert (again.pk, created) == (first_return.pk, False)
        for lines, restock in (([Back(variant, 2)], True), ([Back(variant, 1)], False)):
            with pytest.raises(ReturnRefConflict):
                services.record_return(
                    channel=till, reservation_id=sale.pk, return_ref="R-1", lines=lines, restock=restock
                )
        assert StockMovement.objects.filter(reason="return").count() == 1

    def test_a_hold_that_was_not_confirmed_takes_no_return(self, shop, variant):
        hold, _ = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 2)])

        with pytest.raises(ReservationNotActive):
            services.record_return(
                channel=shop, reservation_id=hold.pk, return_ref="R-1", lines=[Back(variant, 1)], restock=True
            )


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_concurrent_returns_of_the_same_sale_never_return_more_than_it_sold(split_sale, variant):
    till, sale, first, second = split_sale

    def give_back(n):
        return services.record_return(
            channel=till, reservation_id=sale.pk, return_ref=f"R-{n}", lines=[Back(variant, 1)], restock=True
        )

    outcomes = run_concurrently(give_back, range(8), workers=8)

    assert sum(isinstance(o, tuple) for o in outcomes) == 3
    assert sum(isinstance(o, ReturnExceedsSale) for o in outcomes) == 5
    assert (on_hand(first, variant), on_hand(second, variant)) == (1, 5)
    assert not ledger_mismatches().exists()
    assert_stock_invariants()


class TestReturnsApi:
    @pytest.fixture
    def client(self, split_sale, api_client_for):
        return api_client_for(split_sale[0])

    def post(self, client, sale, body, **headers):
        return client.post(RETURNS.format(sale.pk), body, format="json", **headers)

    def test_201_with_the_return_then_200_on_a_repeat(self, client, split_sale, variant):
        sale = split_sale[1]
        body = {"return_ref": "R-1", "items": [{"sku": variant.sku, "quantity": 3}], "reason": "changed mind"}

        created = self.post(client, sale, body)
        repeated = self.post(client, sale, body)

        assert (created.status_code, repeated.status_code) == (201, 200)
        assert repeated.json() == created.json()
        answer = created.json()
        assert (answer["reservation"], answer["return_ref"], answer["restock"]) == (str(sale.pk), "R-1", True)
        assert sorted((i["warehouse"], i["quantity"]) for i in answer["items"]) == sorted(
            [(split_sale[2].code, 1), (split_sale[3].code, 2)]
        )

    def test_refusals_are_409_with_their_code_and_change_nothing(self, client, split_sale, variant):
        sale = split_sale[1]
        self.post(client, sale, {"return_ref": "R-1", "items": [{"sku": variant.sku, "quantity": 2}]})

        exceeds = self.post(client, sale, {"return_ref": "R-2", "items": [{"sku": variant.sku, "quantity": 2}]})
        conflict = self.post(client, sale, {"return_ref": "R-1", "items": [{"sku": variant.sku, "quantity": 1}]})

        assert (exceeds.status_code, exceeds.json()["error"]["code"]) == (409, "return_exceeds_sale")
        assert exceeds.json()["error"]["details"] == [{"sku": variant.sku, "requested": 2, "returnable": 1}]
        assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "return_ref_conflict")
        assert Return.objects.count() == 1

    def test_bad_input_is_400_and_another_channels_sale_404(
        self, client, split_sale, variant, channel_with, listing_for, api_client_for
    ):
        sale = split_sale[1]
        unknown = self.post(client, sale, {"return_ref": "R-1", "items": [{"sku": "NOPE", "quantity": 1}]})
        zero = self.post(client, sale, {"return_ref": "R-1", "items": [{"sku": variant.sku, "quantity": 0}]})
        rival = channel_with(split_sale[2], code="rival")
        listing_for(rival, variant)
        foreign = self.post(
            api_client_for(rival), sale, {"return_ref": "R-1", "items": [{"sku": variant.sku, "quantity": 1}]}
        )

        assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "unknown_sku")
        assert (zero.status_code, zero.json()["error"]["code"]) == (400, "invalid")
        assert (foreign.status_code, foreign.json()["error"]["code"]) == (404, "not_found")
        assert not Return.objects.exists()

    def test_idempotency_key_replays_the_first_answer(self, client, split_sale, variant):
        sale = split_sale[1]
        body = {"return_ref": "R-1", "items": [{"sku": variant.sku, "quantity": 1}]}

        first = self.post(client, sale, body, HTTP_IDEMPOTENCY_KEY="k-1")
        again = self.post(client, sale, body, HTTP_IDEMPOTENCY_KEY="k-1")

        assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
        assert Return.objects.count() == 1

    def test_the_schema_documents_returns(self, client):
        schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

        operation = schema["paths"]["/api/v1/reservations/{reservation_id}/returns/"]["post"]
        assert {"200", "201", "400", "404", "409"} <= set(operation["responses"])
        assert "return_exceeds_sale" in operation["responses"]["409"]["description"]
