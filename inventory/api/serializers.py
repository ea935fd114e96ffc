from rest_framework import serializers

from config.api import StrictIntegerField
from inventory import services
from inventory.models import StockLevel, StockMovement, Variant, Warehouse
from inventory.scoping import ADJUST_STOCK, manageable_by, visible_to

MAX_ADJUSTMENTS_PER_REQUEST = 1000


class StockLevelOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="variant.sku")
    product = serializers.CharField(source="variant.product.name")
    variant_name = serializers.CharField(source="variant.name")
    warehouse = serializers.CharField(source="warehouse.code")
    available = serializers.IntegerField(source="available_qty")
    low_stock_threshold = serializers.IntegerField(source="variant.low_stock_threshold")

    class Meta:
        model = StockLevel
        fields = [
            "sku",
            "product",
            "variant_name",
            "warehouse",
            "on_hand",
            "reserved",
            "available",
            "low_stock_threshold",
            "updated_at",
        ]


class StockMovementOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="variant.sku")
    warehouse = serializers.CharField(source="warehouse.code")
    actor = serializers.CharField(source="actor.get_username", default=None)

    class Meta:
        model = StockMovement
        fields = [
            "id",
            "created_at",
            "sku",
            "warehouse",
            "quantity",
            "on_hand_after",
            "reason",
            "source",
            "actor",
            "reference",
            "note",
            "operation_id",
        ]


class AdjustmentInput(serializers.Serializer):
    """One row; SKU and warehouse resolve against maps the parent preloads into the context."""

    sku = serializers.CharField(max_length=64)
    warehouse = serializers.CharField(max_length=64, help_text="Warehouse code.")
    delta = StrictIntegerField(required=False, help_text="Signed change of on_hand; not zero.")
    set_on_hand = StrictIntegerField(required=False, min_value=0, help_text="The counted quantity.")
    reason = serializers.ChoiceField(choices=services.MANUAL_REASONS)
    reference = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)

    def validate_sku(self, value):
        if value not in self.context["variants"]:
            raise serializers.ValidationError(f"Unknown SKU {value!r}.")
        return value

    def validate_warehouse(self, value):
        if value not in self.context["warehouses"]:
            raise serializers.ValidationError(f"Unknown warehouse {value!r}.")
        return value

    def validate(self, attrs):
        has_delta, has_count = "delta" in attrs, "set_on_hand" in attrs
        if has_delta == has_count:
            raise serializers.ValidationError("Give exactly one of delta or set_on_hand.")
        if has_delta and attrs["delta"] == 0:
            raise serializers.ValidationError({"delta": "Must not be zero."})
        attrs["variant"] = self.context["variants"][attrs["sku"]]
        attrs["warehouse"] = self.context["warehouses"][attrs["warehouse"]]
        return attrs


class AdjustmentsInput(serializers.Serializer):
    adjustments = AdjustmentInput(many=True, allow_empty=False, max_length=MAX_ADJUSTMENTS_PER_REQUEST)

    def to_internal_value(self, data):
        rows = data.get("adjustments") if isinstance(data, dict) else None
        rows = [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []
        # Another organization's SKU or warehouse (or one where the user's role may not adjust) is as
        # unknown as one that does not exist.
        user = self.context.get("user")
        skus = _strings(row.get("sku") for row in rows)
        self.context["variants"] = {
            v.sku: v for v in visible_to(Variant.objects.filter(sku__in=skus), user, ADJUST_STOCK)
        }
        codes = _strings(row.get("warehouse") for row in rows)
        visible = manageable_by(Warehouse.objects.filter(code__in=codes), user, ADJUST_STOCK)
        self.context["warehouses"] = {warehouse.code: warehouse for warehouse in visible}
        return super().to_internal_value(data)

    @property
    def errors_by_row(self) -> list[dict] | dict:
        """Row errors as ``[{"index", "sku", "errors"}]`` naming every bad row; other errors as they are.

        DRF reports a list's errors as ``{index: errors}``; a non-integer key means the list itself is wrong.
        """
        row_errors = self.errors.get("adjustments")
        if not (isinstance(row_errors, dict) and row_errors and all(isinstance(k, int) for k in row_errors)):
            return self.errors
        rows = self.initial_data["adjustments"]
        return [
            {"index": index, "sku": rows[index].get("sku") if isinstance(rows[index], dict) else None, "errors": errors}
            for index, errors in sorted(row_errors.items())
        ]


def _strings(values) -> set[str]:
    return {value for value in values if isinstance(value, str)}


class AdjustmentsOutput(serializers.Serializer):
    operation_id = serializers.UUIDField(allow_null=True)
    movements = StockMovementOutput(many=True, help_text="One per level changed; a count that matched writes none.")
