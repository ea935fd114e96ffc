"""Alert rules and the alerts they raise: the manager's list of what needs attention."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from connectors import crypto
from connectors.models import ConnectorAccount
from inventory.models import Channel, Organization, Variant, Warehouse
from inventory.scoping import channels_of


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


#: Most urgent first, for ordering and for "at least this severe".
SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}


class Kind(models.TextChoices):
    LOW_STOCK = "low_stock", "Low stock"
    OUT_OF_STOCK = "out_of_stock", "Out of stock"
    BACK_IN_STOCK = "back_in_stock", "Back in stock"
    REORDER_POINT = "reorder_point", "Reorder point reached"
    SYNC_FAILED = "sync_failed", "Sync failed"
    SYNC_STALE = "sync_stale", "Sync stale"
    SYNC_CONFLICT = "sync_conflict", "Sync conflict awaiting a manager"
    SYNC_CORRECTIONS = "sync_corrections", "Many corrections from a system of record"
    WEBHOOK_FAILURES = "webhook_failures", "Webhook failures"
    CIRCUIT_OPEN = "circuit_open", "Connector circuit open"
    DEAD_LETTER = "dead_letter", "Outbound messages dead-lettered"
    DUPLICATE_DOCUMENTS = "duplicate_documents", "Duplicate documents at a system of record"
    SALE_VOIDED = "sale_voided", "A sale made here voided in its system of record"
    OVERSELL_ATTEMPTS = "oversell_attempts", "Oversell attempts"
    OVERSELL_INCIDENT = "oversell_incident", "Oversell incident (a channel sold what we did not have)"
    EXPIRY_RATE = "expiry_rate", "Reservation expiry rate"
    LEDGER_MISMATCH = "ledger_mismatch", "Ledger mismatch"
    PRICE_VARIANCE = "price_variance", "Price variance between channels"


#: Kinds whose subject is a SKU (optionally narrowed to a warehouse or a channel's listing).
STOCK_KINDS = (Kind.LOW_STOCK, Kind.OUT_OF_STOCK, Kind.REORDER_POINT)

#: An alert whose rule is gone is throttled as a new rule would be.
DEFAULT_THROTTLE_MINUTES = 60


class AlertRuleQuerySet(models.QuerySet):
    def subscriptions(self):
        """Organizations' rules over everything: they tell their organization, they detect nothing."""
        return self.filter(organization__isnull=False, scope=AlertRule.Scope.ALL)

    def detecting(self):
        """The platform's rules, and organizations' rules narrowed to one warehouse, channel or variant."""
        return self.exclude(organization__isnull=False, scope=AlertRule.Scope.ALL)


class AlertRule(models.Model):
    """When to raise a kind of alert, for what, how loudly, and whom to tell.

    Whose rule it is decides what it does, so that an organization hears only of what is its own:

    * a platform rule (no organization, made by superusers) decides what is detected and the default
      thresholds; its recipients are the platform's operators, told of every alert it raises;
    * an organization's rule narrowed to one of its warehouses, to a channel of its own or drawing from
      its warehouses, or to a SKU of its own catalogue refines detection for that subject (it raises the
      alert, with its threshold and severity) and tells its recipients;
    * an organization's rule over everything is a subscription: it detects nothing, and tells its
      recipients of every alert of its kind that the organization's staff see (``alerts.notifications``).
    """

    class Scope(models.TextChoices):
        ALL = "all", "Everything"
        WAREHOUSE = "warehouse", "One warehouse"
        CHANNEL = "channel", "One channel"
        VARIANT = "variant", "One variant"

    name = models.CharField(max_length=200)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alert_rules",
        help_text="Whose rule it is, told only of what the organization sees. Empty: the platform's.",
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.ALL)
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(Variant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    threshold = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Units for stock kinds (empty: the variant's own threshold), minutes for sync stale, "
        "a count for failures and corrections, percent for expiry rate and price variance.",
    )
    window_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="For rates: the period counted (oversell attempts, expiry rate, failures)."
    )
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MEDIUM)
    enabled = models.BooleanField(default=True)
    email_recipients = models.TextField(blank=True, help_text="Addresses to email, one per line or comma-separated.")
    webhook_url = models.URLField(max_length=500, blank=True, help_text="POSTed a signed JSON alert.")
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    digest = models.BooleanField(
        default=False, help_text="Collect notifications into one digest a day instead of one per alert."
    )
    throttle_minutes = models.PositiveIntegerField(
        default=DEFAULT_THROTTLE_MINUTES,
        help_text="At most one notification per alert subject in this many minutes (the raising rule's counts).",
    )
    digested_until = models.DateTimeField(
        default=timezone.now,
        editable=False,
        help_text="A digest subscription has sent the alerts first seen before this.",
    )

    objects = AlertRuleQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "scope", "name"]

    def __str__(self):
        return self.name

    def clean(self):
        needs = {self.Scope.WAREHOUSE: "warehouse", self.Scope.CHANNEL: "channel", self.Scope.VARIANT: "variant"}
        for scope, field in needs.items():
            if (self.scope == scope) != (getattr(self, f"{field}_id") is not None):
                raise ValidationError({field: f"Give a {field} exactly when the scope is '{scope.label}'."})
        if self.scope != self.Scope.ALL and self.kind not in STOCK_KINDS:
            raise ValidationError({"scope": "Only stock alerts can be narrowed to a warehouse, channel or variant."})
        if self.scope == self.Scope.CHANNEL and self.kind == Kind.REORDER_POINT:
            raise ValidationError({"scope": "A reorder point is about stock on hand, not what a channel may sell."})
        if self.organization_id is not None:
            self._clean_subject_is_the_organizations()

    def _clean_subject_is_the_organizations(self):
        """An organization's rule watches only subjects whose alerts its staff see (alerts/scoping.py), so
        that it is told of every alert it raises and never watches another organization's warehouse."""
        org = self.organization_id
        own_warehouse = Warehouse.objects.filter(pk=self.warehouse_id, organization=org)
        if self.warehouse_id is not None and not own_warehouse.exists():
            raise ValidationError({"warehouse": "Choose one of the organization's warehouses."})
        if self.channel_id is not None and not channels_of([org]).filter(pk=self.channel_id).exists():
            raise ValidationError(
                {"channel": "Choose a channel of the organization or one drawing from its warehouses."}
            )
        # A SKU's alert is about the SKU everywhere, seen by all who stock or list it: its thresholds are
        # the catalogue owner's to set.
        if (
            self.variant_id is not None
            and not Variant.objects.filter(pk=self.variant_id, product__organization=org).exists()
        ):
            raise ValidationError({"variant": "Choose a SKU of the organization's own catalogue."})

    webhook_secret = crypto.encrypted_text("webhook_secret_encrypted")

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in self.email_recipients.replace(",", "\n").splitlines() if a.strip()]

    @property
    def is_subscription(self) -> bool:
        return self.organization_id is not None and self.scope == self.Scope.ALL


class AlertQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=Alert.ACTIVE)


class Alert(models.Model):
    """One condition on one subject. While it is open or acknowledged it is the only one for (kind, subject)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    ACTIVE = (Status.OPEN, Status.ACKNOWLEDGED)

    kind = models.CharField(max_length=32, choices=Kind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    subject = models.CharField(max_length=120, help_text="What it is about, e.g. variant:12 or account:3.")
    subject_label = models.CharField(max_length=300)
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    variant = models.ForeignKey(Variant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ConnectorAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Whose it is when no warehouse, channel or account says (its channels' prices disagree).",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=1, help_text="Evaluations that found it, or occurrences for rates.")
    message = models.CharField(max_length=500)
    context = models.JSONField(default=dict, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    digest_pending = models.BooleanField(default=False, help_text="Waiting for its rule's next digest.")

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"], condition=Q(status__in=["open", "acknowledged"]), name="one_active_alert"
            )
        ]
        indexes = [
            models.Index(fields=["kind", "subject"], name="alert_kind_subject"),
            models.Index(fields=["status", "severity"], name="alert_status_severity"),
        ]
        permissions = [
            ("acknowledge_alert", "Can acknowledge alerts"),
            ("resolve_alert", "Can resolve alerts"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.subject_label}"
