"""factory-boy factories for every model; tests build their world from these."""

import uuid
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from alerts.models import Alert
from alerts.models import Kind as AlertKind
from connectors.models import (
    ChannelWebhook,
    ConnectorAccount,
    ExternalRef,
    Kind,
    OutboundMessage,
    SyncConflict,
    SyncJob,
    WebhookEvent,
)
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
from reservations.models import ChannelApiKey, IdempotencyKey, OversellIncident, Reservation, ReservationLine


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("secret-pass-123")
    is_staff = True

    @factory.post_generation
    def organization(user, create, extracted, **kwargs):
        """Staff see only their organizations' data (inventory.scoping): a test user is a member of the
        test organization, which owns what the factories make, unless given another or ``organization=False``.
        The membership is made directly, leaving the user's groups (and so permissions) to the test."""
        if not create or extracted is False:
            return
        organization = extracted or DefaultOrganizationFactory()
        Membership.objects.get_or_create(user=user, organization=organization)


def give_role(user, group_name: str, organization=None):
    """Make ``user`` hold the role of ``group_name`` ("Manager", ...) in ``organization`` (the test organization)."""
    from inventory.services import set_membership

    role = next(role for role, group in Membership.GROUPS.items() if group == group_name)
    set_membership(user, organization or DefaultOrganizationFactory(), role)
    return user


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    kind = Organization.Kind.SUPPLIER


class DefaultOrganizationFactory(OrganizationFactory):
    """The one organization the factories' warehouses, channels and accounts belong to by default."""

    class Meta:
        django_get_or_create = ("slug",)

    name = "Test organization"
    slug = "test-org"


class MembershipFactory(factory.django.DjangoModelFactory):
    """A user's membership of an organization, made directly (``set_membership`` also sets the role's group)."""

    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory, organization=False)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.CLERK


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse

    organization = factory.SubFactory(DefaultOrganizationFactory)
    code = factory.Sequence(lambda n: f"wh-{n}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    organization = factory.SubFactory(DefaultOrganizationFactory)
    category = factory.SubFactory(CategoryFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    brand = "Acme"


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = "Default"
    barcode = factory.Sequence(lambda n: f"400{n:010d}")
    price = factory.Faker("pydecimal", left_digits=3, right_digits=2, positive=True)
    low_stock_threshold = 5


class StockLevelFactory(factory.django.DjangoModelFactory):
    """A bare level row. Tests that need stock should book it through inventory.services."""

    class Meta:
        model = StockLevel

    warehouse = factory.SubFactory(WarehouseFactory)
    variant = factory.SubFactory(VariantFactory)


class StockMovementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockMovement

    warehouse = factory.SubFactory(WarehouseFactory)
    variant = factory.SubFactory(VariantFactory)
    quantity = 1
    on_hand_after = 1
    reason = StockMovement.Reason.RECEIPT
    source = StockMovement.Source.SYSTEM
    operation_id = factory.LazyFunction(uuid.uuid4)


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    organization = factory.SubFactory(DefaultOrganizationFactory)
    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.Sequence(lambda n: f"Channel {n}")
    kind = Channel.Kind.STOREFRONT


class ChannelWarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelWarehouse

    channel = factory.SubFactory(ChannelFactory)
    warehouse = factory.SubFactory(WarehouseFactory)
    priority = 0


class ChannelListingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelListing

    channel = factory.SubFactory(ChannelFactory)
    variant = factory.SubFactory(VariantFactory)


class ListingStateChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ListingStateChange

    listing = factory.SubFactory(ChannelListingFactory)
    sellable = True
    available = 1
    cause = ListingStateChange.Cause.STOCK


class ReservationFactory(factory.django.DjangoModelFactory):
    """A bare reservation row. Tests that need held stock should use reservations.services.reserve."""

    class Meta:
        model = Reservation

    channel = factory.SubFactory(ChannelFactory)
    order_ref = factory.Sequence(lambda n: f"order-{n}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))


class ReservationLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReservationLine

    reservation = factory.SubFactory(ReservationFactory)
    variant = factory.SubFactory(VariantFactory)
    warehouse = factory.SubFactory(WarehouseFactory)
    quantity = 1


class OversellIncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OversellIncident

    reservation = factory.SubFactory(ReservationFactory, kind=Reservation.Kind.CHANNEL_ORDER)
    variant = factory.SubFactory(VariantFactory)
    quantity = 2


class IdempotencyKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdempotencyKey

    channel = factory.SubFactory(ChannelFactory)
    key = factory.Sequence(lambda n: f"key-{n}")
    fingerprint = "0" * 64


class ChannelApiKeyFactory(factory.django.DjangoModelFactory):
    """An API key; the plain key is on the instance as ``plain_key`` after creation."""

    class Meta:
        model = ChannelApiKey

    channel = factory.SubFactory(ChannelFactory)
    name = factory.Sequence(lambda n: f"Terminal {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        record = model_class(*args, **kwargs)
        key, record.prefix, record.key_hash = ChannelApiKey.generate()
        record.save()
        record.plain_key = key
        return record


class ConnectorAccountFactory(factory.django.DjangoModelFactory):
    """A Zoho account mirroring a Zoho-mirrored warehouse, with credentials set (encrypted)."""

    class Meta:
        model = ConnectorAccount

    kind = Kind.ZOHO_INVENTORY
    name = factory.Sequence(lambda n: f"Zoho account {n}")
    organization = factory.SubFactory(DefaultOrganizationFactory)
    warehouse = factory.SubFactory(
        WarehouseFactory,
        organization=factory.SelfAttribute("..organization"),
        system_of_record=Warehouse.SystemOfRecord.ZOHO_INVENTORY,
    )
    settings = factory.LazyFunction(lambda: {"organization_id": "10234695", "location_id": "460000000038080"})
    credentials = factory.LazyFunction(
        lambda: {"client_id": "1000.CLIENT", "client_secret": "s3cret-client", "refresh_token": "1000.refresh"}
    )


class ExternalRefFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExternalRef

    account = factory.SubFactory(ConnectorAccountFactory)
    local_object = factory.SubFactory(VariantFactory)
    external_id = factory.Sequence(lambda n: f"48150000000{n:05d}")


class SyncJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncJob

    account = factory.SubFactory(ConnectorAccountFactory)
    kind = SyncJob.Kind.FULL


class SyncConflictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncConflict

    account = factory.SubFactory(ConnectorAccountFactory)
    variant = factory.SubFactory(VariantFactory)
    field = SyncConflict.Field.PRICE
    local_value = "10.00"
    remote_value = "12.00"
    strategy = ConnectorAccount.ConflictStrategy.MANUAL


class ChannelWebhookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelWebhook

    channel = factory.SubFactory(ChannelFactory)
    url = factory.Sequence(lambda n: f"https://pos-{n}.example/stockpool-events")
    events = factory.LazyFunction(lambda: list(ChannelWebhook.Event.values))
    secret = factory.Sequence(lambda n: f"whsec_test_{n}")


class OutboundMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboundMessage

    account = factory.SubFactory(ConnectorAccountFactory)
    kind = OutboundMessage.Kind.PUSH_SALE
    payload = factory.LazyFunction(lambda: {"date": "2026-11-21", "lines": []})
    dedupe_key = factory.Sequence(lambda n: f"stockpool-sale-{n}")
    next_attempt_at = factory.LazyFunction(timezone.now)


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEvent

    account = factory.SubFactory(ConnectorAccountFactory)
    event_id = factory.Sequence(lambda n: f"sha256:{n:064d}")
    event_type = "item"
    body = '{"item": {"item_id": "1"}}'


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    kind = AlertKind.OUT_OF_STOCK
    severity = "high"
    variant = factory.SubFactory(VariantFactory)
    subject = factory.LazyAttribute(lambda alert: f"variant:{alert.variant.pk}")
    subject_label = factory.LazyAttribute(lambda alert: f"SKU {alert.variant.sku}")
    message = "None available."
    first_seen = factory.LazyFunction(timezone.now)
    last_seen = factory.LazyFunction(timezone.now)


class AlertRuleFactory(factory.django.DjangoModelFactory):
    """An organization's rule (the test organization's); with the default scope, a subscription to its alerts."""

    class Meta:
        model = "alerts.AlertRule"

    organization = factory.SubFactory(DefaultOrganizationFactory)
    name = factory.Sequence(lambda n: f"Rule {n}")
    kind = AlertKind.OUT_OF_STOCK
    email_recipients = factory.LazyAttribute(lambda rule: f"alerts@{rule.organization.slug}.example")
