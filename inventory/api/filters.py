import django_filters

from config.api import MultiValueFilter
from inventory.models import StockLevel, StockMovement


class StockLevelFilter(django_filters.FilterSet):
    sku = MultiValueFilter(field_name="variant__sku", help_text="SKU; repeat for several.")
    warehouse = MultiValueFilter(field_name="warehouse__code", help_text="Warehouse code; repeat for several.")
    below_threshold = django_filters.BooleanFilter(
        method="filter_below_threshold", help_text="Only levels at or below (true) or above (false) the threshold."
    )

    class Meta:
        model = StockLevel
        fields = ["sku", "warehouse", "below_threshold"]

    def filter_below_threshold(self, queryset, name, value):
        return queryset.below_threshold(value)


class StockMovementFilter(django_filters.FilterSet):
    sku = MultiValueFilter(field_name="variant__sku", help_text="SKU; repeat for several.")
    warehouse = MultiValueFilter(field_name="warehouse__code", help_text="Warehouse code; repeat for several.")
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601 date-time."
    )
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="ISO 8601 date-time.")
    reason = django_filters.MultipleChoiceFilter(choices=StockMovement.Reason.choices)
    source = django_filters.MultipleChoiceFilter(choices=StockMovement.Source.choices)
    reference = django_filters.CharFilter()

    class Meta:
        model = StockMovement
        fields = ["sku", "warehouse", "since", "until", "reason", "source", "reference"]
