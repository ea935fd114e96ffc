"""The alert list as an export kind of ``inventory.exports`` (CSV and JSON from the admin)."""

from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from alerts.api.serializers import AlertOutput
from alerts.selectors import alert_list
from inventory.exports import CHUNK_SIZE, ExportKind, register

#: The alerts API's fields, in its order.
ALERT_COLUMNS = tuple(AlertOutput.Meta.fields)


def alert_rows(alerts: QuerySet | None = None) -> Iterator[dict]:
    """Alerts, most recently seen first unless the queryset orders them otherwise; the alerts API's fields."""
    alerts = alert_list() if alerts is None else alerts
    username = get_user_model().USERNAME_FIELD
    values = alerts.values_list(
        "pk",
        "kind",
        "severity",
        "status",
        "subject",
        "subject_label",
        "variant__sku",
        "warehouse__code",
        "channel__code",
        "account__name",
        "message",
        "context",
        "count",
        "first_seen",
        "last_seen",
        f"acknowledged_by__{username}",
        "acknowledged_at",
        f"resolved_by__{username}",
        "resolved_at",
        "note",
    )
    for record in values.iterator(CHUNK_SIZE):
        yield dict(zip(ALERT_COLUMNS, record, strict=True))


register(ExportKind("alerts", ALERT_COLUMNS, alert_rows))
