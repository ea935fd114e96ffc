"""Who sees what, and who may change what: the one place where organization boundaries are drawn.

A staff user sees the data of the organizations they are a member of (``Membership``), and may do
there what their role in that organization allows: a manager at one organization and a clerk at
another acts as a manager at the first and as a clerk at the second. A superuser sees and may do
everything; anyone else, a staff user without a membership included, sees nothing.

Every read that leaves the back office (admin changelists, forms, lookups and actions, the staff
API, exports, the dashboard) goes through ``visible_to(queryset, user, perm)``, and every write
through ``manageable_by(queryset, user, perm)``. Both apply the rule registered for the queryset's
model to the organizations where the user's role holds ``perm``:

* ``see``: an organization owning warehouses (a supplier) sees their stock levels and ledger, every
  channel drawing from them with the channel's listings (its own figures, not the other
  organization's orders), its connector accounts and what hangs off them, and the alerts about all
  of that; an organization owning channels (a reseller) sees those channels and what hangs off them
  (listings, reservations, sales, API keys, webhooks), and the alerts about them;
* ``manage`` (when it differs): what the organization may change among what it sees, e.g. the
  supplier sees a reseller's channel but may not rename it or issue it keys;
* the catalogue is seen by those who own it, stock it, list it or could list it;
* a model without a rule is the platform's, seen by superusers only.

Each app registers the rules of its models with ``register`` in its own ``scoping.py``, imported by
its app config's ``ready`` (``inventory``'s and ``auth``'s are below).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import models
from django.db.models import Exists, OuterRef, Q

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

#: A rule: the organizations' ids (and the user) -> the filter of rows they may see or change.
Rule = Callable[[frozenset[int], object], Q]
#: A permission ("app.codename"), any of several, or None for "whatever the role".
Perm = str | Iterable[str] | None

#: Models seen by every active staff user whatever their organizations.
SHARED = "shared"

#: The inventory's own permissions, held by roles (alerts/migrations/0003_roles.py).
ADJUST_STOCK = "inventory.adjust_stock"
EXPORT_DATA = "inventory.export_data"
CHANGE_EXPOSURE_RULES = "inventory.change_exposure_rules"


@dataclass(frozen=True)
class _Rules:
    see: Rule | str
    manage: Rule | None
    counted: Rule | None


_rules: dict[type[models.Model], _Rules] = {}


def register(
    model: type[models.Model], see: Rule | str, *, manage: Rule | None = None, counted: Rule | None = None
) -> None:
    """Declare who sees ``model``'s rows (a rule, or ``SHARED``), and where it differs, who may change
    them (``manage``) and whose figures they count in without being shown (``counted``)."""
    if see is SHARED and manage is None:
        raise ValueError(f"{model.__name__} is seen by everyone: say who may change it.")
    _rules[model] = _Rules(see, manage, counted)


def is_scoped(model: type[models.Model]) -> bool:
    return model in _rules


# --- Memberships and roles -------------------------------------------------------------------------


def _roles(user) -> dict[int, str]:
    """{organization id: role} of ``user``, read once per user object."""
    cached = user.__dict__.get("_scoping_roles")
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("organization_id", "role"))
        user._scoping_roles = cached
    return cached


def _granted(user) -> dict[str, frozenset[str]]:
    """{role: the permissions it holds}, each role with the user's own permissions added.

    A role's permissions are its group's (alerts/migrations/0003_roles.py); a permission a superuser
    gave the user directly, or through a group that is not a role's, holds in all their organizations.
    The user is in the group of their highest role (``services.sync_role_groups``), so with one role
    their permissions are Django's, already read for the request; mixed roles cost two queries.
    """
    cached = user.__dict__.get("_scoping_granted")
    if cached is None:
        roles = set(_roles(user).values())
        if len(roles) <= 1:
            cached = {role: frozenset(user.get_all_permissions()) for role in roles}
        else:
            cached = _granted_by_role(user, roles)
        user._scoping_granted = cached
    return cached


def _granted_by_role(user, roles: set[str]) -> dict[str, frozenset[str]]:
    role_of_group = {Membership.GROUPS[role]: role for role in roles}
    by_role: dict[str, set[str]] = {role: set() for role in roles}
    rows = Permission.objects.filter(group__name__in=role_of_group).values_list(
        "group__name", "content_type__app_label", "codename"
    )
    for group, app_label, codename in rows:
        by_role[role_of_group[group]].add(f"{app_label}.{codename}")
    personal_groups = Group.objects.filter(user=user).exclude(name__in=Membership.GROUPS.values())
    own = {
        f"{app_label}.{codename}"
        for app_label, codename in Permission.objects.filter(Q(user=user) | Q(group__in=personal_groups)).values_list(
            "content_type__app_label", "codename"
        )
    }
    return {role: frozenset(perms | own) for role, perms in by_role.items()}


def organization_ids(user, perm: Perm = None) -> frozenset[int] | None:
    """The organizations whose data ``user`` sees, or with ``perm``, those where their role holds it
    (any of them, given several); ``None`` means every row (a superuser)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return None
    roles = _roles(user)
    if perm is None:
        return frozenset(roles)
    wanted = {perm} if isinstance(perm, str) else set(perm)
    granted = _granted(user)
    return frozenset(org for org, role in roles.items() if wanted & granted[role])


def forget(user) -> None:
    """Drop the organizations and roles cached on ``user`` (after their memberships changed)."""
    for name in ("_scoping_roles", "_scoping_granted", "_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(name, None)


# --- Reading and writing through the rules ---------------------------------------------------------


def _as_queryset(queryset):
    if isinstance(queryset, type) and issubclass(queryset, models.Model):
        return queryset._default_manager.all()
    return queryset


def _narrowed(queryset, orgs: frozenset[int] | None, user, rule_of: Callable[[_Rules], Rule | str]):
    """``queryset`` filtered by one of its model's rules for ``orgs`` (``None``: everything)."""
    queryset = _as_queryset(queryset)
    if orgs is None:
        return queryset
    rules = _rules.get(queryset.model)
    if rules is None or not orgs:
        return queryset.none()
    rule = rule_of(rules)
    if rule is SHARED:
        return queryset if user is None or user.is_staff else queryset.none()
    return queryset.filter(rule(orgs, user))


def visible_to(queryset, user, perm: Perm = None):
    """``queryset`` (or a model's default manager) narrowed to the rows ``user`` may see, or with
    ``perm``, may see where their role holds it (e.g. ``inventory.export_data`` for an export)."""
    return _narrowed(queryset, organization_ids(user, perm), user, lambda rules: rules.see)


def manageable_by(queryset, user, perm: Perm):
    """``queryset`` narrowed to the rows ``user`` may change with ``perm``: those the model's ``manage``
    rule (or, without one, its ``see`` rule) gives the organizations where their role holds ``perm``."""
    return _narrowed(queryset, organization_ids(user, perm), user, lambda rules: rules.manage or rules.see)


def counted_for(queryset, user, perm: Perm = None):
    """``queryset`` narrowed to the rows that count in ``user``'s figures (sums and counts, never shown one
    by one): a supplier counts the units another organization's channel holds or sold on its stock."""
    return _narrowed(queryset, organization_ids(user, perm), user, lambda rules: rules.counted or rules.see)


def visible_to_organizations(queryset, organization_ids: Iterable[int]):
    """``queryset`` narrowed to what the staff of these organizations see, whoever they are: for what is
    sent to an organization rather than read by a user (its alert notifications)."""
    return _narrowed(queryset, frozenset(organization_ids), None, lambda rules: rules.see)


def is_visible(obj: models.Model, user, perm: Perm = None) -> bool:
    return visible_to(type(obj), user, perm).filter(pk=obj.pk).exists()


def is_manageable(obj: models.Model, user, perm: Perm) -> bool:
    return manageable_by(type(obj), user, perm).filter(pk=obj.pk).exists()


def stock_behind(path: str = "") -> models.QuerySet:
    """The levels a listing sells from, its variant in its channel's warehouses: for the outer row's
    ``variant_id`` and ``channel_id`` (a listing, an alert about one), or those at ``path`` (``listing__``)."""
    return StockLevel.objects.filter(
        variant=OuterRef(f"{path}variant_id"), warehouse__channel_links__channel=OuterRef(f"{path}channel_id")
    )


def listings_of(orgs, path: str = "") -> Q:
    """A filter on listings (or rows about one, at ``path``): those of the organizations' channels, and
    those selling their stock; not a reseller's own products on a channel that also draws on them."""
    return Q(**{f"{path}channel__organization__in": orgs}) | Exists(
        stock_behind(path).filter(warehouse__organization__in=orgs)
    )


def stock_owners_of(orgs) -> Q:
    """A filter on listings: those whose stock is the organizations' to share out. A listing sells its
    variant from its channel's warehouses; where another organization's warehouse holds it, that
    organization (the supplier) sets its exposure rules, not the channel's own (a reseller adding a
    warehouse of its own gains nothing over the supplier's stock); where only the channel's own
    organization's warehouses hold it, or none yet, its own does."""
    others = stock_behind().exclude(warehouse__organization=OuterRef("channel__organization_id"))
    return Exists(others.filter(warehouse__organization__in=orgs)) | (
        Q(channel__organization__in=orgs) & ~Exists(others)
    )


def pools_of(orgs) -> Q:
    """A filter on listings: those whose pool (the stock behind them) the organizations may see: they set
    their rules, and every unit behind them is theirs."""
    return stock_owners_of(orgs) & ~Exists(stock_behind().exclude(warehouse__organization__in=orgs))


def _listings_by(queryset, user, perm: Perm, rule: Callable[[frozenset[int]], Q]):
    orgs = organization_ids(user, perm)
    return queryset if orgs is None else visible_to(queryset, user).filter(rule(orgs))


def listings_ruled_by(queryset, user, perm: Perm = CHANGE_EXPOSURE_RULES):
    """Listings whose exposure rules (buffer, allocation, cap, enable switch) ``user`` may set, where their
    role holds ``perm``: the stock is the supplier's, so is the share of it a reseller's channel may
    sell; the reseller sees its rules but does not change them (``stock_owners_of``)."""
    return _listings_by(queryset, user, perm, stock_owners_of)


def listings_with_pool_seen_by(queryset, user):
    """Listings whose pool ``user`` sees (``pools_of``)."""
    return _listings_by(queryset, user, None, pools_of)


# --- Building blocks the apps' rules share --------------------------------------------------------


def channels_of(orgs) -> models.QuerySet:
    """Ids of the channels the organizations see: their own, and every one drawing from their warehouses."""
    drawing = ChannelWarehouse.objects.filter(warehouse__organization__in=orgs).values("channel_id")
    return Channel.objects.filter(Q(organization__in=orgs) | Q(pk__in=drawing)).values("pk")


def catalogue_of(orgs) -> Q:
    """A filter on variants: those whose product the organizations own, stock, list, or could list
    (stocked in a warehouse one of their channels draws from)."""
    stocked = StockLevel.objects.filter(
        Q(warehouse__organization__in=orgs) | Q(warehouse__channel_links__channel__organization__in=orgs)
    ).values("variant_id")
    listed = ChannelListing.objects.filter(channel__organization__in=orgs).values("variant_id")
    return Q(product__organization__in=orgs) | Q(pk__in=stocked) | Q(pk__in=listed)


def view_permission(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.view_{model._meta.model_name}"


class VisibleQuerysetMixin:
    """For DRF generic views: ``get_queryset`` narrowed to what the request's user may see with the
    view's ``scope_permission`` (the model's view permission when unset)."""

    scope_permission: str | None = None

    def get_queryset(self):
        queryset = super().get_queryset()
        return visible_to(queryset, self.request.user, self.scope_permission or view_permission(queryset.model))


# --- The inventory's rules --------------------------------------------------------------------------


def _own(orgs, user) -> Q:
    return Q(organization__in=orgs)


def _users_managed(orgs, user) -> Q:
    """Members of the organizations who belong to no other and are not superusers: an organization's
    administrator must not reset the password of someone another organization relies on."""
    members = Membership.objects.filter(organization__in=orgs).values("user_id")
    elsewhere = Membership.objects.exclude(organization__in=orgs).values("user_id")
    return Q(pk__in=members, is_superuser=False) & ~Q(pk__in=elsewhere)


register(Category, SHARED, manage=_own)
register(
    Product,
    lambda orgs, user: (
        Q(organization__in=orgs) | Q(pk__in=Variant.objects.filter(catalogue_of(orgs)).values("product_id"))
    ),
    manage=_own,
)
register(Variant, lambda orgs, user: catalogue_of(orgs), manage=lambda orgs, user: Q(product__organization__in=orgs))
register(Organization, lambda orgs, user: Q(pk__in=orgs))
register(Membership, lambda orgs, user: Q(organization__in=orgs))
register(Warehouse, _own)
register(StockLevel, lambda orgs, user: Q(warehouse__organization__in=orgs))
register(StockMovement, lambda orgs, user: Q(warehouse__organization__in=orgs))
register(Channel, lambda orgs, user: Q(pk__in=channels_of(orgs)), manage=_own)
register(
    ChannelWarehouse,
    lambda orgs, user: Q(channel__organization__in=orgs) | Q(warehouse__organization__in=orgs),
    manage=lambda orgs, user: Q(channel__organization__in=orgs),
)
# A listing is its channel's organization's (its price, whether it exists); the exposure rules of one
# selling another organization's stock are that organization's to set (``listings_ruled_by``).
register(
    ChannelListing, lambda orgs, user: listings_of(orgs), manage=lambda orgs, user: Q(channel__organization__in=orgs)
)
register(ListingStateChange, lambda orgs, user: listings_of(orgs, "listing__"))
register(
    get_user_model(),
    lambda orgs, user: (
        Q(pk=getattr(user, "pk", None)) | Q(pk__in=Membership.objects.filter(organization__in=orgs).values("user_id"))
    ),
    manage=_users_managed,
)
