from rest_framework import serializers

from config.api import StrictIntegerField
from reservations.models import Reservation, Return

#: The most units one line may ask for; more is a typo or an attack, not an order.
MAX_LINE_QUANTITY = 100_000
MAX_LINES = 200
MAX_AVAILABILITY_SKUS = 100


class QuantityField(StrictIntegerField):
    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_LINE_QUANTITY, **kwargs)


class ReserveItemInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = QuantityField()


class ReservationInput(serializers.Serializer):
    order_ref = serializers.CharField(
        max_length=128,
        help_text="Your order reference, naming one hold on this channel for good. Sending it again with the same "
        "items returns that hold as it now is (also once released, expired or confirmed: check `status`); with "
        "other items it is 409 `order_ref_conflict`. To hold stock again after a release or an expiry, send a new "
        "reference (e.g. your order number with the attempt: `1001-2`).",
    )
    items = ReserveItemInput(many=True, allow_empty=False, max_length=MAX_LINES)
    ttl_seconds = StrictIntegerField(
        required=False, min_value=30, max_value=24 * 3600, help_text="Hold time; the channel's default if absent."
    )


class ReturnInput(serializers.Serializer):
    return_ref = serializers.CharField(
        max_length=128,
        help_text="Your id for the return (e.g. the refund's receipt number), recording it exactly once: sent "
        "again with the same sale, items and restock it returns the first return (200); with anything else it is "
        "409 `return_ref_conflict`.",
    )
    items = ReserveItemInput(many=True, allow_empty=False, max_length=MAX_LINES)
    restock = serializers.BooleanField(
        default=True,
        help_text="Whether the units go back on the shelf of the warehouse each was sold from; false records the "
        "return (e.g. damaged goods) without changing stock.",
    )
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class ReleaseInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class PosCheckInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = QuantityField()


class PosCheckOutput(serializers.Serializer):
    sku = serializers.CharField()
    requested = serializers.IntegerField()
    available = serializers.BooleanField(help_text="Whether the requested quantity can be sold now.")
    current_stock = serializers.IntegerField(allow_null=True, help_text="What the channel may sell; null if untracked.")
    message = serializers.CharField()


class PosSaleItemInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = QuantityField()
    price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, help_text="Unit price charged, before tax."
    )
    tax = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        required=False,
        default=None,
        help_text="Tax charged on the whole line (all its units), as on the receipt.",
    )


class PosSaleInput(serializers.Serializer):
    sale_id = serializers.CharField(
        max_length=128,
        help_text="The terminal's sale id, recording the sale exactly once: sending it again with the same items, "
        "prices and tax returns the first sale (200); with anything else it is 409 `sale_id_conflict` and changes "
        "nothing. It and `invoice_number` are carried to the warehouse's system of record (Cin7 "
        "`CustomerReference` and note, Zoho `reference_number` and notes) so the sale can be found there.",
    )
    invoice_number = serializers.CharField(max_length=128, required=False, default="", allow_blank=True)
    customer_name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    items = PosSaleItemInput(many=True, allow_empty=False, max_length=MAX_LINES)


class ReservationLineOutput(serializers.Serializer):
    sku = serializers.CharField(source="variant.sku")
    quantity = serializers.IntegerField()
    warehouse = serializers.CharField(source="warehouse.code", default=None, allow_null=True)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    tax = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)


class ReservationOutput(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    items = ReservationLineOutput(source="lines", many=True)

    class Meta:
        model = Reservation
        fields = [
            "id",
            "channel",
            "order_ref",
            "kind",
            "status",
            "expires_at",
            "created_at",
            "closed_at",
            "release_reason",
            "invoice_number",
            "customer_name",
            "items",
        ]


class ReturnLineOutput(serializers.Serializer):
    sku = serializers.CharField(source="sold_line.variant.sku")
    quantity = serializers.IntegerField()
    warehouse = serializers.CharField(
        source="sold_line.warehouse.code",
        default=None,
        allow_null=True,
        help_text="Where the units were sold from, and go back to when restocked.",
    )


class ReturnOutput(serializers.ModelSerializer):
    reservation = serializers.UUIDField(source="reservation_id")
    items = ReturnLineOutput(source="lines", many=True)

    class Meta:
        model = Return
        fields = ["id", "reservation", "return_ref", "restock", "reason", "created_at", "items"]


class AvailabilityItemOutput(serializers.Serializer):
    sku = serializers.CharField()
    available = serializers.IntegerField(allow_null=True, help_text="Units the channel may sell; null if untracked.")
    sellable = serializers.BooleanField()
    listed = serializers.BooleanField(help_text="Whether the SKU is listed on this channel at all.")


class AvailabilityOutput(serializers.Serializer):
    channel = serializers.CharField()
    items = AvailabilityItemOutput(many=True)
    unknown_skus = serializers.ListField(child=serializers.CharField())
