from django import template
from django.urls import reverse

from alerts.models import SEVERITY_RANK
from alerts.selectors import open_counts_by_severity

register = template.Library()


@register.inclusion_tag("admin/alerts/open_counts.html", takes_context=True)
def open_alerts_by_severity(context):
    """Open and acknowledged alerts per severity, each linking to its filtered list (for those who may see them)."""
    user = context["request"].user
    if not user.has_perm("alerts.view_alert"):
        return {"visible": False}
    counts = open_counts_by_severity()
    url = reverse("admin:alerts_alert_changelist")
    return {
        "visible": True,
        "severities": [
            {
                "key": key,
                "label": key.label,
                "count": counts.get(key, 0),
                "url": f"{url}?status__in=open,acknowledged&severity__exact={key}",
            }
            for key in sorted(SEVERITY_RANK, key=SEVERITY_RANK.get)
        ],
    }
