"""Partner accounts and what Stockpool exchanges with them: references, sync jobs, conflicts, the outbox."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from connectors import crypto
from inventory.models import Channel, Organization, Variant, Warehouse


class Kind(models.TextChoices):
    ZOHO_INVENTORY = "zoho_inventory", "Zoho Inventory"
    CIN7_CORE = "cin7_core", "Cin7 Core"
    AMAZON_SP_API = "amazon_sp_api", "Amazon SP-API"
    MEDUSA = "medusa", "Medusa"


#: The partners' real endpoints; the demo and the tests point accounts at the sandboxes instead.
DEFAULT_URLS = {
    Kind.ZOHO_INVENTORY: ("https://www.zohoapis.com/inventory/v1", "https://accounts.zoho.com"),
    Kind.CIN7_CORE: ("https://inventory.dearsystems.com/ExternalApi/v2", ""),
    Kind.AMAZON_SP_API: ("https://sellingpartnerapi-na.amazon.com", "https://api.amazon.com"),
    Kind.MEDUSA: ("", ""),
}

#: Settings each kind needs, and what they mean.
REQUIRED_SETTINGS = {
    Kind.ZOHO_INVENTORY: {
        "organization_id": "Zoho organization id",
        "location_id": "the Zoho location mirrored into the account's warehouse",
    },
    Kind.CIN7_CORE: {"location": "the Cin7 location name mirrored into the account's warehouse"},
    Kind.AMAZON_SP_API: {"seller_id": "selling partner id", "marketplace_id": "marketplace id, e.g. ATVPDKIKX0DER"},
    Kind.MEDUSA: {"location_id": "the Medusa stock location published to"},
}

#: Credential fields each kind needs (stored encrypted).
REQUIRED_CREDENTIALS = {
    Kind.ZOHO_INVENTORY: ("client_id", "client_secret", "refresh_token"),
    Kind.CIN7_CORE: ("account_id", "application_key"),
    Kind.AMAZON_SP_API: ("client_id", "client_secret", "refresh_token"),
    Kind.MEDUSA: ("secret_key",),
}


class ConnectorAccount(models.Model):
    """One connection to a partner system, with its credentials, settings, schedule and health."""

    class ConflictStrategy(models.TextChoices):
        HUB_WINS = "hub_wins", "Stockpool wins (push our value again)"
        SOURCE_WINS = "source_wins", "The partner wins"
        HIGHEST = "highest", "Keep the highest"
        LOWEST = "lowest", "Keep the lowest"
        MANUAL = "manual", "A manager decides"

    class CircuitState(models.TextChoices):
        CLOSED = "closed", "Closed (healthy)"
        OPEN = "open", "Open (calls suspended)"
        HALF_OPEN = "half_open", "Half-open (trying again)"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    name = models.CharField(max_length=200)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="connector_accounts")
    warehouse = models.ForeignKey(
        Warehouse,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="connector_accounts",
        help_text="The warehouse whose on_hand this account mirrors (systems of record).",
    )
    channel = models.ForeignKey(
        Channel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="connector_accounts",
        help_text="The channel whose availability is published to this account (marketplaces, storefronts).",
    )
    api_base_url = models.URLField(max_length=300, blank=True)
    auth_base_url = models.URLField(max_length=300, blank=True, help_text="OAuth server, where the partner has one.")
    credentials_encrypted = models.TextField(blank=True, editable=False)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    settings = models.JSONField(default=dict, blank=True)
    conflict_strategy = models.CharField(
        max_length=16, choices=ConflictStrategy.choices, default=ConflictStrategy.HUB_WINS
    )
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="For 'partner wins' between several partners: the lowest number wins."
    )
    incremental_sync_minutes = models.PositiveIntegerField(
        default=5, help_text="Minutes between incremental syncs; 0 turns them off."
    )
    full_sync_hour = models.PositiveSmallIntegerField(
        null=True, blank=True, default=3, help_text="Hour (UTC) of the nightly full sync; empty turns it off."
    )
    enabled = models.BooleanField(default=True)
    sync_cursor = models.JSONField(default=dict, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    circuit_state = models.CharField(
        max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED, editable=False
    )
    circuit_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse"], condition=Q(warehouse__isnull=False), name="one_account_mirrors_a_warehouse"
            )
        ]
        permissions = [("run_sync", "Can test connections and start syncs")]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    def save(self, *args, **kwargs):
        default_api, default_auth = DEFAULT_URLS[self.kind]
        self.api_base_url = self.api_base_url or default_api
        self.auth_base_url = self.auth_base_url or default_auth
        super().save(*args, **kwargs)

    def clean(self):
        missing = [name for name in REQUIRED_SETTINGS.get(self.kind, {}) if not self.settings.get(name)]
        if missing:
            raise ValidationError({"settings": f"Missing for {self.get_kind_display()}: {', '.join(missing)}."})
        if self.kind in (Kind.ZOHO_INVENTORY, Kind.CIN7_CORE) and self.warehouse_id is None:
            raise ValidationError({"warehouse": "A system of record needs the warehouse it mirrors."})
        if self.kind == Kind.MEDUSA and not self.api_base_url:
            raise ValidationError({"api_base_url": "Medusa is self-hosted: give its URL."})

    @property
    def credentials(self) -> dict:
        return crypto.decrypt_json(self.credentials_encrypted) if self.credentials_encrypted else {}

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_encrypted = crypto.encrypt_json(value)

    webhook_secret = crypto.encrypted_text("webhook_secret_encrypted")

    @property
    def missing_credentials(self) -> list[str]:
        present = self.credentials
        return [name for name in REQUIRED_CREDENTIALS.get(self.kind, ()) if not present.get(name)]


class ExternalRef(models.Model):
    """What a local object (variant, warehouse, category, ...) is called in a partner system."""

    account = models.ForeignKey(ConnectorAccount, on_delete=models.CASCADE, related_name="external_refs")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    local_object = GenericForeignKey("content_type", "object_id")
    external_id = models.CharField(max_length=128)
    external_code = models.CharField(max_length=200, blank=True, help_text="The partner's SKU or name, if any.")
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "content_type", "object_id"], name="externalref_unique_local"),
            models.UniqueConstraint(
                fields=["account", "content_type", "external_id"], name="externalref_unique_external"
            ),
        ]

    def __str__(self):
        return f"{self.account}: {self.content_type.model} {self.object_id} = {self.external_id}"


class SyncJob(models.Model):
    class Kind(models.TextChoices):
        FULL = "full", "Full pull"
        INCREMENTAL = "incremental", "Incremental pull"
        PUSH = "push", "Push"
        ORDERS = "orders", "Orders pull"  # a marketplace's own orders, booked as channel orders (Amazon)

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    MAX_ERRORS_KEPT = 100

    account = models.ForeignKey(ConnectorAccount, on_delete=models.CASCADE, related_name="sync_jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Known once the partner says how many.")
    processed = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    checkpoint = models.JSONField(default=dict, blank=True, help_text="Where a resumed job carries on.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the worker running it.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "status"], name="syncjob_account_status")]

    def __str__(self):
        return f"{self.get_kind_display()} of {self.account} ({self.status})"

    @property
    def progress_percent(self) -> int | None:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.total:
            return None
        return min(100, self.processed * 100 // self.total)


class SyncConflict(models.Model):
    """A partner value that disagrees with ours, and how it was settled."""

    class Status(models.TextChoices):
        OPEN = "open", "Awaiting a manager"
        RESOLVED = "resolved", "Resolved"

    class Field(models.TextChoices):
        QUANTITY = "quantity", "Quantity"
        PRICE = "price", "Price"

    account = models.ForeignKey(ConnectorAccount, on_delete=models.CASCADE, related_name="conflicts")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="sync_conflicts")
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=16, choices=Field.choices)
    local_value = models.CharField(max_length=64)
    remote_value = models.CharField(max_length=64)
    strategy = models.CharField(max_length=16, choices=ConnectorAccount.ConflictStrategy.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=200, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("resolve_conflict", "Can resolve sync conflicts")]

    def __str__(self):
        return f"{self.get_field_display()} of {self.variant.sku}: ours {self.local_value}, theirs {self.remote_value}"


class ChannelWebhook(models.Model):
    """A URL of a channel's own (a POS, a storefront) that receives our signed stock events.

    Events are signed with ``Stockpool-Signature`` (``connectors.signing``) using ``secret``,
    which is generated here and shown once, and go through the outbox like any partner call.
    """

    class Event(models.TextChoices):
        STOCK_CHANGED = "stock.changed", "stock.changed: the channel's availability of a SKU changed"
        LISTING_DISABLED = "listing.disabled", "listing.disabled: a SKU can no longer be sold on the channel"
        LISTING_ENABLED = "listing.enabled", "listing.enabled: a SKU can be sold on the channel again"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500, help_text="HTTPS endpoint of the channel's system that receives events.")
    events = models.JSONField(default=list, help_text="The event types sent to this URL.")
    secret_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["channel", "url"]
        constraints = [models.UniqueConstraint(fields=["channel", "url"], name="channelwebhook_unique_url")]

    def __str__(self):
        return f"{self.channel.code} → {self.url}"

    def clean(self):
        unknown = set(self.events or []) - set(self.Event.values)
        if unknown or not self.events:
            raise ValidationError({"events": f"Choose one or more of {', '.join(self.Event.values)}."})

    secret = crypto.encrypted_text("secret_encrypted")


class OutboundMessage(models.Model):
    """The outbox: anything to send to a partner or a channel's webhook, written in the transaction that caused it.

    Each message goes to exactly one destination: a connector ``account`` or a ``channel_webhook``.
    ``stock_effects`` lists what the message will do to the partner's stock once applied
    (``[{"warehouse_id", "variant_id", "quantity"}]``, signed), so that a snapshot taken
    before the partner applied it is not mistaken for an outside change.
    """

    class Kind(models.TextChoices):
        PUSH_SALE = "push_sale", "Push a sale"
        PUSH_ADJUSTMENT = "push_adjustment", "Push a stock adjustment"
        PUSH_RETURN = "push_return", "Push a return"
        PUBLISH_QUANTITY = "publish_quantity", "Publish a quantity"
        CHANNEL_EVENT = "channel_event", "Channel event"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead-lettered"

    account = models.ForeignKey(
        ConnectorAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="outbound_messages"
    )
    channel_webhook = models.ForeignKey(
        ChannelWebhook, null=True, blank=True, on_delete=models.CASCADE, related_name="outbound_messages"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    payload = models.JSONField()
    stock_effects = models.JSONField(default=list, blank=True)
    dedupe_key = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the current or last attempt began, or last reported progress."
    )
    first_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the first attempt began: from then on the partner may hold its effect."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    response = models.JSONField(null=True, blank=True, help_text="What the partner answered, e.g. its document id.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "dedupe_key"], name="outbound_unique_dedupe_key"),
            models.UniqueConstraint(fields=["channel_webhook", "dedupe_key"], name="outbound_unique_webhook_key"),
            models.CheckConstraint(
                condition=Q(account__isnull=False, channel_webhook__isnull=True)
                | Q(account__isnull=True, channel_webhook__isnull=False),
                name="outbound_one_destination",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbound_due"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.destination} ({self.status})"

    @property
    def destination(self):
        return self.account or self.channel_webhook


class WebhookEvent(models.Model):
    """A partner's webhook as it arrived: stored before it is answered, processed after."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        REJECTED = "rejected", "Rejected (will not be retried)"
        FAILED = "failed", "Failed (can be replayed)"

    account = models.ForeignKey(ConnectorAccount, on_delete=models.CASCADE, related_name="webhook_events")
    event_id = models.CharField(max_length=200, help_text="The partner's event id, else sha256 of the body.")
    event_type = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="The headers kept for diagnosis; never secrets.")
    body = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["account", "event_id"], name="webhookevent_unique_event")]
        indexes = [models.Index(fields=["status", "received_at"], name="webhookevent_status")]

    def __str__(self):
        return f"{self.event_type or 'event'} {self.event_id[:16]} from {self.account} ({self.status})"


class SnapshotMark(models.Model):
    """When the partner's figure last applied to a level was true, so an older one arriving late is ignored."""

    account = models.ForeignKey(ConnectorAccount, on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    as_of = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "variant"], name="snapshotmark_unique")]

    def __str__(self):
        return f"{self.variant_id} as of {self.as_of:%Y-%m-%d %H:%M:%S}"


class PartnerDocument(models.Model):
    """A document our push made in a system of record (a sales order, a sale, a credit note, a stock
    adjustment) and its state there as last read, so that a sale made here shows what became of it at the
    partner, and reconciliation tells the one document a message made from a copy a re-send made."""

    class Kind(models.TextChoices):
        SALES_ORDER = "sales_order", "Sales order"
        SALE = "sale", "Sale"
        CREDIT_NOTE = "credit_note", "Credit note"
        ADJUSTMENT = "adjustment", "Stock adjustment"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        CONFIRMED = "confirmed", "Confirmed"
        FULFILLED = "fulfilled", "Shipped"
        VOID = "void", "Voided"
        MISSING = "missing", "No longer at the partner"

    #: Kinds that are a sale made here, whose void at the partner a manager must hear of.
    SALE_KINDS = (Kind.SALES_ORDER, Kind.SALE)
    #: Statuses of a document that no longer counts at the partner.
    GONE = (Status.VOID, Status.MISSING)

    account = models.ForeignKey(ConnectorAccount, on_delete=models.CASCADE, related_name="documents")
    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="documents")
    reservation = models.ForeignKey(
        "reservations.Reservation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="partner_documents",
        help_text="The sale (or the sale a return belongs to) the document was pushed for.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    partner_id = models.CharField(max_length=128)
    number = models.CharField(max_length=64, blank=True, help_text="The partner's own number, e.g. SO-00001.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONFIRMED)
    partner_status = models.CharField(max_length=100, blank=True, help_text="The status in the partner's words.")
    duplicate = models.BooleanField(
        default=False, help_text="A copy found beside the document the message made: a re-send should never make one."
    )
    status_changed_at = models.DateTimeField(help_text="When we first saw the current status.")
    checked_at = models.DateTimeField(help_text="When the partner last told us about it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "partner_id"], name="partnerdocument_unique"),
        ]
        indexes = [models.Index(fields=["status", "kind"], name="partnerdocument_status")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.number or self.partner_id} at {self.account} ({self.status})"


class AmazonOffer(models.Model):
    """How Amazon sells one of our variants: fulfilled by us (MFN: the DEFAULT quantity we publish) or by
    Amazon from its own centres (AFN: its stock only mirrored by the FBA pull, never given a DEFAULT quantity,
    which would convert the offer and strand its units), and the product type its submissions must name.
    Learnt from the Listings API and the FBA pull: partner knowledge, kept here rather than in inventory."""

    class Fulfillment(models.TextChoices):
        MFN = "MFN", "Merchant-fulfilled (we ship)"
        AFN = "AFN", "Fulfilled by Amazon (FBA)"

    account = models.ForeignKey(ConnectorAccount, on_delete=models.CASCADE, related_name="amazon_offers")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    fulfillment = models.CharField(max_length=3, choices=Fulfillment.choices)
    product_type = models.CharField(
        max_length=100, blank=True, help_text="The listing's product type at Amazon (unknown if learnt from FBA)."
    )
    learnt_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "variant"], name="amazonoffer_unique")]

    def __str__(self):
        return f"{self.variant_id} at {self.account_id}: {self.fulfillment}"


class AmazonFeed(models.Model):
    """A listings feed we submitted to Amazon, or may have: recorded with the quantities it carries before
    ``createFeed`` is called, so that after an unanswered call (a timeout, a killed worker) the feed is looked
    up at Amazon and waited for rather than sent again."""

    account = models.ForeignKey(ConnectorAccount, on_delete=models.CASCADE, related_name="amazon_feeds")
    document_id = models.CharField(max_length=200, help_text="Our uploaded feed document.")
    feed_id = models.CharField(max_length=64, blank=True, help_text="Amazon's id, once an answer or a lookup gives it.")
    quantities = models.JSONField(help_text="[outbound message id, quantity] it carries, in its messageId order.")
    started_at = models.DateTimeField(help_text="When createFeed was called: where a lookup searches.")
    settled_at = models.DateTimeField(
        null=True, blank=True, help_text="When its report was applied, or it was found never to have reached Amazon."
    )

    class Meta:
        indexes = [models.Index(fields=["account", "settled_at"], name="amazonfeed_unsettled")]

    def __str__(self):
        return f"feed {self.feed_id or '(unanswered)'} of {self.account_id}"

