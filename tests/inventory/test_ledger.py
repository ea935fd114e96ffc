"""The ledger is append-only, and on_hand always equals the sum of its movements."""

import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from inventory import services
from inventory.exceptions import StockRuleViolation
from inventory.models import LedgerIsAppendOnly, StockLevel, StockMovement
from inventory.selectors import ledger_mismatches
from tests.factories import VariantFactory, WarehouseFactory


@pytest.mark.django_db
class TestAppendOnly:
    @pytest.fixture
    def movement(self, warehouse, variant, receive):
        return receive(warehouse, variant, 5)

    def test_saving_an_existing_movement_is_refused(self, movement):
        movement.quantity = 50
        with pytest.raises(LedgerIsAppendOnly):
            movement.save()

    def test_deleting_a_movement_is_refused(self, movement):
        with pytest.raises(LedgerIsAppendOnly):
            movement.delete()

    def test_queryset_update_and_delete_are_refused(self, movement):
        with pytest.raises(LedgerIsAppendOnly):
            StockMovement.objects.filter(pk=movement.pk).update(quantity=50)
        with pytest.raises(LedgerIsAppendOnly):
            StockMovement.objects.all().delete()
        assert StockMovement.objects.get(pk=movement.pk).quantity == 5

    @pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL")
    def test_the_database_refuses_raw_updates_and_deletes(self, movement):
        for sql in ("UPDATE inventory_stockmovement SET quantity = 50", "DELETE FROM inventory_stockmovement"):
            with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as c:
                c.execute(sql)
        assert StockMovement.objects.get(pk=movement.pk).quantity == 5


@pytest.mark.django_db
class TestLevelConstraints:
    def test_database_refuses_reserved_below_zero(self, warehouse, variant, receive):
        receive(warehouse, variant, 5)
        with pytest.raises(IntegrityError), transaction.atomic():
            StockLevel.objects.filter(warehouse=warehouse).update(reserved=-1)

    def test_database_refuses_on_hand_below_reserved(self, warehouse, variant, receive):
        receive(warehouse, variant, 5)
        with pytest.raises(IntegrityError), transaction.atomic():
            StockLevel.objects.filter(warehouse=warehouse).update(reserved=6)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("receive"), st.integers(0, 1), st.integers(1, 50)),
        st.tuples(st.just("delta"), st.integers(0, 1), st.integers(-60, 60).filter(bool)),
        st.tuples(st.just("count"), st.integers(0, 1), st.integers(0, 80)),
        st.tuples(st.just("transfer"), st.integers(0, 1), st.integers(1, 40)),
    ),
    max_size=25,
)


class LedgerPropertyTest(HypothesisTestCase):
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(operations)
    def test_on_hand_always_equals_the_sum_of_movements(self, ops):
        warehouses = WarehouseFactory.create_batch(2)
        variant = VariantFactory()
        for op, index, quantity in ops:
            here, there = warehouses[index], warehouses[1 - index]
            try:
                if op == "receive":
                    services.receive_stock(warehouse=here, variant=variant, quantity=quantity, source="system")
                elif op == "delta":
                    services.adjust_stock(
                        warehouse=here, variant=variant, delta=quantity, reason="adjustment", source="system"
                    )
                elif op == "count":
                    services.adjust_stock(
                        warehouse=here, variant=variant, set_on_hand=quantity, reason="count", source="system"
                    )
                else:
                    services.transfer_stock(
                        from_warehouse=here, to_warehouse=there, variant=variant, quantity=quantity, source="system"
                    )
            except StockRuleViolation:
                pass  # refused operations must leave no trace, which the checks below prove

        assert not ledger_mismatches().exists()
        for level in StockLevel.objects.filter(variant=variant):
            assert level.on_hand >= level.reserved >= 0
            last = StockMovement.objects.filter(warehouse=level.warehouse, variant=variant).first()
            assert level.on_hand == (last.on_hand_after if last else 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_decrements_never_take_a_level_below_zero(warehouse, variant, receive):
    """Twenty clerks book one damaged unit each at once against ten on hand: exactly ten succeed."""
    receive(warehouse, variant, 10)
    start = threading.Barrier(20)
    outcomes = []

    def book_damage():
        try:
            start.wait()
            services.adjust_stock(warehouse=warehouse, variant=variant, delta=-1, reason="damage", source="api")
            outcomes.append("ok")
        except StockRuleViolation:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=book_damage) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes.count("ok") == 10
    assert outcomes.count("refused") == 10
    assert StockLevel.objects.get(warehouse=warehouse, variant=variant).on_hand == 0
    assert not ledger_mismatches().exists()
