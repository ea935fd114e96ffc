"""Admin forms for stock operations.

Each form checks what it can alone (one of delta or count, two different warehouses, ...)
and then books the operation through ``inventory.services`` as the admin source, so the
rules live in one place. When a service refuses, its message becomes a form error and
nothing has changed.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect

from inventory import services
from inventory.exceptions import DomainError, StockRuleViolation
from inventory.models import StockLevel, StockMovement, Variant, Warehouse

Reason = StockMovement.Reason

CLERK_REASONS = [(reason.value, reason.label) for reason in services.MANUAL_REASONS]


def _reason_field():
    return forms.ChoiceField(choices=[("", "---------"), *CLERK_REASONS])


def _not_zero(value):
    if value == 0:
        raise forms.ValidationError("A change of zero books nothing.")


def _delta_field(**kwargs):
    return forms.IntegerField(
        label="Change by",
        min_value=-services.MAX_ON_HAND,
        max_value=services.MAX_ON_HAND,
        validators=[_not_zero],
        help_text="Signed: -3 takes three units out, 5 puts five in.",
        **kwargs,
    )


def _reference_field():
    return forms.CharField(
        max_length=StockMovement._meta.get_field("reference").max_length,
        required=False,
        help_text="Delivery note, count sheet or order number.",
    )


def _note_field():
    return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


def _quantity_field():
    return forms.IntegerField(min_value=1, max_value=services.MAX_ON_HAND)


def _warehouse_field(**kwargs):
    return forms.ModelChoiceField(Warehouse.objects.all(), **kwargs)


def _variant_field():
    # Variants run into thousands: search them instead of rendering them all into a <select>.
    return forms.ModelChoiceField(
        Variant.objects.all(), widget=AutocompleteSelect(StockLevel._meta.get_field("variant"), admin.site)
    )


def _refusal_messages(error: DomainError) -> list[str]:
    violations = error.details if isinstance(error, StockRuleViolation) and isinstance(error.details, list) else []
    if len(violations) <= 1:
        return [error.message]
    return [
        f"Nothing was changed: {len(violations)} levels would break their rules.",
        *(f"{v['sku']} at {v['warehouse']}: {v['reason']}." for v in violations),
    ]


class StockOperationForm(forms.Form):
    """A stock operation a clerk asks for; the service decides, and may refuse."""

    def book(self, *, actor) -> list[StockMovement] | None:
        """Book the operation and return its movements, or None when refused (the reason is a form error)."""
        try:
            return self._book(actor=actor)
        except DomainError as error:
            field = error.details.get("field") if isinstance(error.details, dict) else None
            self.add_error(field if field in self.fields else None, _refusal_messages(error))
            return None

    def _book(self, *, actor) -> list[StockMovement]:
        raise NotImplementedError


class AdjustStockForm(StockOperationForm):
    delta = _delta_field(required=False)
    set_on_hand = forms.IntegerField(
        label="Counted quantity",
        required=False,
        min_value=0,
        max_value=services.MAX_ON_HAND,
        help_text="What is physically there; the difference from on hand is booked.",
    )
    reason = _reason_field()
    reference = _reference_field()
    note = _note_field()

    def __init__(self, *args, level: StockLevel, **kwargs):
        super().__init__(*args, **kwargs)
        self.level = level

    def clean(self):
        cleaned = super().clean()
        delta, counted = cleaned.get("delta"), cleaned.get("set_on_hand")
        if delta is None and counted is None and not self.has_error("delta") and not self.has_error("set_on_hand"):
            raise forms.ValidationError("Give either a change or a counted quantity.")
        if delta is not None and counted is not None:
            raise forms.ValidationError("Give a change or a counted quantity, not both.")
        return cleaned

    def _book(self, *, actor):
        movement = services.adjust_stock(
            warehouse=self.level.warehouse,
            variant=self.level.variant,
            source=StockMovement.Source.ADMIN,
            actor=actor,
            **self.cleaned_data,
        )
        return [movement] if movement else []


class ReceiveStockForm(StockOperationForm):
    warehouse = _warehouse_field()
    variant = _variant_field()
    quantity = _quantity_field()
    reference = _reference_field()
    note = _note_field()

    def _book(self, *, actor):
        return [services.receive_stock(source=StockMovement.Source.ADMIN, actor=actor, **self.cleaned_data)]


class TransferStockForm(StockOperationForm):
    from_warehouse = _warehouse_field(label="From")
    to_warehouse = _warehouse_field(label="To")
    variant = _variant_field()
    quantity = _quantity_field()
    reference = _reference_field()
    note = _note_field()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("from_warehouse") and cleaned.get("from_warehouse") == cleaned.get("to_warehouse"):
            self.add_error("to_warehouse", "Choose a different warehouse to move the stock to.")
        return cleaned

    def _book(self, *, actor):
        return list(services.transfer_stock(source=StockMovement.Source.ADMIN, actor=actor, **self.cleaned_data))


class BulkAdjustStockForm(StockOperationForm):
    """The same change applied to many levels, all or nothing."""

    delta = _delta_field()
    reason = _reason_field()
    reference = _reference_field()
    note = _note_field()

    def __init__(self, *args, levels, **kwargs):
        super().__init__(*args, **kwargs)
        self.levels = levels

    def _book(self, *, actor):
        changes = [services.StockChange(level.warehouse, level.variant, **self.cleaned_data) for level in self.levels]
        return services.apply_stock_changes(changes, source=StockMovement.Source.ADMIN, actor=actor)
