"""The demo's alert rules: the platform's tell the platform operator, and each organization subscribes its
manager to the alerts it sees (on the console, where the demo's mail goes). A reseller hears of its own
listings: a rule on each channel selling another organization's stock raises their out-of-stock alerts
(the SKU's own alert is its supplier's)."""

from django.contrib.auth import get_user_model

from alerts.models import AlertRule, Kind
from inventory.demo import role_usernames
from inventory.models import Membership

PLATFORM_EMAIL = "ops@stockpool.example"
#: Whom the first demo's platform rules mailed, about every organization: handed to the operator.
FORMER_PLATFORM_EMAIL = "manager@bmb-wholesale.example"
NOTIFIED_KINDS = (
    Kind.OUT_OF_STOCK,
    Kind.SYNC_FAILED,
    Kind.CIRCUIT_OPEN,
    Kind.DEAD_LETTER,
    Kind.BACK_IN_STOCK,
    Kind.SALE_VOIDED,
    Kind.DUPLICATE_DOCUMENTS,
)


def configure_demo_rules(sender, organizations, channels, **kwargs) -> None:
    """Idempotent: recipients staff changed since, and subscriptions already made, are left alone."""
    platform = AlertRule.objects.filter(organization=None, scope=AlertRule.Scope.ALL, kind__in=NOTIFIED_KINDS)
    platform.filter(email_recipients__in=["", FORMER_PLATFORM_EMAIL]).update(email_recipients=PLATFORM_EMAIL)
    digest = set(platform.filter(digest=True).values_list("kind", flat=True))
    managers = _manager_emails()
    for slug, organization in organizations.items():
        for kind in NOTIFIED_KINDS:
            AlertRule.objects.get_or_create(
                organization=organization,
                kind=kind,
                scope=AlertRule.Scope.ALL,
                defaults={
                    "name": f"{organization.name}: {Kind(kind).label}",
                    "digest": kind in digest,  # as the platform hears of it: "back in stock" once a day
                    "email_recipients": managers.get(slug, ""),
                },
            )
    for channel in channels.values():
        if channel.warehouses.exclude(organization=channel.organization_id).exists():
            AlertRule.objects.get_or_create(
                organization_id=channel.organization_id,
                kind=Kind.OUT_OF_STOCK,
                scope=AlertRule.Scope.CHANNEL,
                channel=channel,
                defaults={"name": f"{channel.name}: out of stock"},  # told through the subscription
            )


def _manager_emails() -> dict[str, str]:
    """{organization slug: its demo manager's email address}."""
    usernames = {name: slug for name, (slug, role, _) in role_usernames().items() if role == Membership.Role.MANAGER}
    users = get_user_model().objects.filter(username__in=usernames).values_list("username", "email")
    return {usernames[username]: email for username, email in users if email}
