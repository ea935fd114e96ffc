"""Who sees what: the one place where organization boundaries are drawn.

A staff user sees the data of the organizations they are a member of (``Membership``);
a superuser sees everything; anyone else, a staff user without a membership included, sees
nothing. Every read that leaves the back office (admin changelists, forms, lookups and actions,
the staff API, exports) goes through ``visible_to(queryset, user)``, which applies the rule
registered for the queryset's model:

* an organization owning warehouses (a supplier) sees their stock levels and ledger, every channel
  drawing from them and what hangs off those channels (listings, reservations, refusals), its
  connector accounts and everything under them, and the alerts about all of that;
* an organization owning channels (a reseller) sees those channels and what hangs off them
  (listings, reservations, API keys, webhooks, idempotency records), and alerts about them;
  never another organization's warehouse, stock level or movement;
* the catalogue (categories, products, variants) is shared and seen by every staff user;
* a model without a rule is seen by superusers only.

Each app registers the rules of its models with ``register`` in its own ``scoping.py``, imported by
its app config's ``ready`` (``inventory``'s and ``auth``'s are below).
"""

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q

from inventory.models import (
    Category,
    Channel,
    ChannelListing,
    ChannelWarehouse,
    ListingStateChange,
    Membership,
    Organization,
    Product,
    StockLevel,
    StockMovement,
    Variant,
    Warehouse,
)

#: A rule: the organizations' ids (and the user) -> the filter of rows they may see.
Rule = Callable[[frozenset[int], object], Q]

#: Models seen by every active staff user whatever their organizations.
SHARED = "shared"

_rules: dict[type[models.Model], Rule | str] = {}


def register(model: type[models.Model], rule: Rule | str) -> None:
    """Declare who sees ``model``'s rows: a rule, or ``SHARED``."""
    _rules[model] = rule


def is_scoped(model: type[models.Model]) -> bool:
    return model in _rules


def organization_ids(user) -> frozenset[int] | None:
    """The organizations whose data ``user`` sees; ``None`` means every row (a superuser)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return None
    cached = getattr(user, "_scoping_organization_ids", None)
    if cached is None:
        cached = frozenset(Membership.objects.filter(user=user).values_list("organization_id", flat=True))
        user._scoping_organization_ids = cached
    return cached


def forget(user) -> None:
    """Drop the organizations cached on ``user`` (after their memberships changed)."""
    user.__dict__.pop("_scoping_organization_ids", None)


def visible_to(queryset, user):
    """``queryset`` (or a model's default manager) narrowed to the rows ``user`` may see."""
    if isinstance(queryset, type) and issubclass(queryset, models.Model):
        queryset = queryset._default_manager.all()
    orgs = organization_ids(user)
    if orgs is None:
        return queryset
    rule = _rules.get(queryset.model)
    if rule is None or (not orgs and rule is not SHARED):
        return queryset.none()
    if rule is SHARED:
        return queryset if user.is_staff else queryset.none()
    return queryset.filter(rule(orgs, user))


def owned_by(queryset, user):
    """Rows of a model with an ``organization`` (warehouses, channels, accounts) that belong to ``user``'s
    organizations: narrower than ``visible_to`` where seeing is not owning (a supplier sees the
    resellers' channels drawing from its warehouses, but issues them no API keys)."""
    orgs = organization_ids(user)
    return queryset if orgs is None else queryset.filter(organization__in=orgs)


def listings_ruled_by(queryset, user):
    """Listings whose exposure rules (buffer, allocation, cap, enable switch) ``user``'s organizations set:
    those of channels drawing from their warehouses. The stock is the supplier's, so is the share of
    it a reseller's channel may sell; the reseller sees its rules but does not change them."""
    orgs = organization_ids(user)
    if orgs is None:
        return queryset
    drawing = ChannelWarehouse.objects.filter(warehouse__organization__in=orgs).values("channel_id")
    return visible_to(queryset, user).filter(channel__in=drawing)


def is_visible(obj: models.Model, user) -> bool:
    return visible_to(type(obj), user).filter(pk=obj.pk).exists()


# --- Building blocks the apps' rules share --------------------------------------------------------


def channels_of(orgs) -> models.QuerySet:
    """Ids of the channels the organizations see: their own, and every one drawing from their warehouses."""
    drawing = ChannelWarehouse.objects.filter(warehouse__organization__in=orgs).values("channel_id")
    return Channel.objects.filter(Q(organization__in=orgs) | Q(pk__in=drawing)).values("pk")


def variants_of(orgs) -> Q:
    """A filter on ``variant``: SKUs the organizations stock in their warehouses or list on their channels."""
    stocked = StockLevel.objects.filter(warehouse__organization__in=orgs).values("variant_id")
    listed = ChannelListing.objects.filter(channel__organization__in=orgs).values("variant_id")
    return Q(variant__in=stocked) | Q(variant__in=listed)


class VisibleQuerysetMixin:
    """For DRF generic views: ``get_queryset`` narrowed to what the request's user may see."""

    def get_queryset(self):
        return visible_to(super().get_queryset(), self.request.user)


# --- The inventory's rules --------------------------------------------------------------------------

register(Category, SHARED)
register(Product, SHARED)
register(Variant, SHARED)
register(Organization, lambda orgs, user: Q(pk__in=orgs))
register(Membership, lambda orgs, user: Q(organization__in=orgs))
register(Warehouse, lambda orgs, user: Q(organization__in=orgs))
register(StockLevel, lambda orgs, user: Q(warehouse__organization__in=orgs))
register(StockMovement, lambda orgs, user: Q(warehouse__organization__in=orgs))
register(Channel, lambda orgs, user: Q(pk__in=channels_of(orgs)))
register(
    ChannelWarehouse,
    lambda orgs, user: Q(channel__organization__in=orgs) | Q(warehouse__organization__in=orgs),
)
register(ChannelListing, lambda orgs, user: Q(channel__in=channels_of(orgs)))
register(ListingStateChange, lambda orgs, user: Q(listing__channel__in=channels_of(orgs)))
register(
    get_user_model(),
    lambda orgs, user: Q(pk=user.pk) | Q(pk__in=Membership.objects.filter(organization__in=orgs).values("user_id")),
)
