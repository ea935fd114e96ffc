"""Who sees and acts on alerts and alert rules (see inventory/scoping.py)."""

from django.db.models import Q

from alerts.models import Alert, AlertRule
from inventory.models import StockLevel
from inventory.scoping import channels_of, listings_of, register

#: An alert about a SKU across every warehouse (low, out of stock, reorder point, oversell attempts).
ABOUT_SKU_ALONE = Q(
    warehouse__isnull=True, channel__isnull=True, account__isnull=True, organization__isnull=True, variant__isnull=False
)


def _sku_alone_of(orgs) -> Q:
    """A SKU's own alert is its catalogue owner's and its stockers' (it sums their stock), not the
    resellers' who list it: they hear of their listings."""
    stocked = StockLevel.objects.filter(warehouse__organization__in=orgs).values("variant_id")
    return ABOUT_SKU_ALONE & (Q(variant__product__organization__in=orgs) | Q(variant__in=stocked))


def _alerts_seen(orgs, user) -> Q:
    """Alerts about the organizations' warehouses, channels (their own, and the figures of those drawing on
    their stock), listings selling their stock, accounts or themselves; an alert about a SKU alone, to
    its owner and those who stock it."""
    about_channel = Q(channel__isnull=False, variant__isnull=True)
    about_listing = Q(channel__isnull=False, variant__isnull=False)
    return (
        Q(warehouse__organization__in=orgs)
        | (about_channel & Q(channel__in=channels_of(orgs)))
        | (about_listing & listings_of(orgs))
        | Q(account__organization__in=orgs)
        | Q(organization__in=orgs)
        | _sku_alone_of(orgs)
    )


def _alerts_managed(orgs, user) -> Q:
    """Acknowledged and resolved by whose subject it is: a reseller's listing alert by the reseller, though
    its supplier sees it too."""
    return (
        Q(warehouse__organization__in=orgs)
        | Q(channel__organization__in=orgs)
        | Q(account__organization__in=orgs)
        | Q(organization__in=orgs)
        | _sku_alone_of(orgs)
    )


register(Alert, _alerts_seen, manage=_alerts_managed)
# A rule is its organization's; platform rules (no organization), which decide what is detected and
# tell the platform's operators, are the superusers'.
register(AlertRule, lambda orgs, user: Q(organization__in=orgs))
