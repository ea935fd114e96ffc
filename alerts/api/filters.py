import django_filters

from alerts.models import Alert, Kind, Severity
from config.api import MultiValueFilter


class AlertFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=Kind.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    status = django_filters.MultipleChoiceFilter(choices=Alert.Status.choices)
    active = django_filters.BooleanFilter(method="filter_active", help_text="Open or acknowledged (true), or resolved.")
    sku = MultiValueFilter(field_name="variant__sku", help_text="SKU; repeat for several.")
    warehouse = MultiValueFilter(field_name="warehouse__code", help_text="Warehouse code; repeat for several.")
    channel = MultiValueFilter(field_name="channel__code", help_text="Channel code; repeat for several.")
    since = django_filters.IsoDateTimeFilter(field_name="last_seen", lookup_expr="gte", help_text="Seen since.")

    class Meta:
        model = Alert
        fields = ["kind", "severity", "status", "active", "sku", "warehouse", "channel", "since"]

    def filter_active(self, queryset, name, value):
        return queryset.filter(status__in=Alert.ACTIVE) if value else queryset.exclude(status__in=Alert.ACTIVE)
