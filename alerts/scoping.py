"""Who sees alerts and alert rules (see inventory/scoping.py)."""

from django.db.models import Q

from alerts.models import Alert, AlertRule
from inventory.scoping import channels_of, register, variants_of


def _alerts(orgs, user) -> Q:
    """Alerts about the organizations' warehouses, channels (their own and those drawing on them) or
    accounts; an alert about a SKU alone, to those who stock or list it."""
    about_sku_alone = Q(warehouse__isnull=True, channel__isnull=True, account__isnull=True, variant__isnull=False)
    return (
        Q(warehouse__organization__in=orgs)
        | Q(channel__in=channels_of(orgs))
        | Q(account__organization__in=orgs)
        | (about_sku_alone & variants_of(orgs))
    )


register(Alert, _alerts)
# A rule is its organization's; platform rules (no organization), which decide what is detected and
# tell the platform's operators, are the superusers'.
register(AlertRule, lambda orgs, user: Q(organization__in=orgs))
