"""Reservations (holds a channel takes on stock), POS sales, idempotency keys and channel API keys."""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from inventory.models import Channel, Variant, Warehouse


class Reservation(models.Model):
    """Units a channel holds for one order until it is confirmed, released or expires."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CONSUMED = "consumed", "Consumed"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"

    class Kind(models.TextChoices):
        CHECKOUT = "checkout", "Checkout hold"
        POS_SALE = "pos_sale", "POS sale"
        CHANNEL_ORDER = "channel_order", "Channel's own order"  # taken on a marketplace's side, as it reports it

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="reservations")
    order_ref = models.CharField(max_length=128, help_text="The channel's order reference, or the POS sale id.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CHECKOUT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField()
    release_reason = models.CharField(max_length=200, blank=True)
    invoice_number = models.CharField(max_length=128, blank=True)
    customer_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it was consumed, released or expired.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "order_ref"], name="reservation_unique_order_ref"),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="reservation_active_expiry"),
        ]

    def __str__(self):
        return f"{self.channel.code}:{self.order_ref} ({self.status})"


class ChannelActivity(Channel):
    """A channel seen through the figures of its holds, sales and refused requests: all a supplier knows of
    another organization's channel drawing on its stock (reservations themselves are the channel's)."""

    class Meta:
        proxy = True
        default_permissions = ("view",)  # figures to read; nothing to add, change or delete
        verbose_name = "channel activity"
        verbose_name_plural = "channel activity"


class ReservationLine(models.Model):
    """Units of one variant held at one warehouse; ``warehouse`` is empty for untracked variants."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="reservation_lines")
    warehouse = models.ForeignKey(
        Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="reservation_lines"
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    tax = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="reservationline_quantity_positive"),
        ]
        indexes = [models.Index(fields=["variant", "warehouse"], name="reservationline_level")]

    def __str__(self):
        return f"{self.quantity} x {self.variant_id} @ {self.warehouse_id}"


class Return(models.Model):
    """Units of a confirmed sale coming back: a POS refund, a storefront's return, a cancelled shipped order.

    ``return_ref`` is the channel's own id for it, recording it exactly once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reservation = models.ForeignKey(Reservation, on_delete=models.PROTECT, related_name="returns")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="returns")
    return_ref = models.CharField(max_length=128, help_text="The channel's id for the return.")
    restock = models.BooleanField(help_text="Whether the units went back on the shelf (else only recorded).")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["channel", "return_ref"], name="return_unique_ref")]

    def __str__(self):
        return f"{self.channel.code}:{self.return_ref}"


class ReturnLine(models.Model):
    """Units of one sold line coming back (to the warehouse they were sold from)."""

    sale_return = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="lines")
    sold_line = models.ForeignKey(ReservationLine, on_delete=models.PROTECT, related_name="return_lines")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="returnline_quantity_positive")]

    def __str__(self):
        return f"{self.quantity} of line {self.sold_line_id}"


class OversellIncident(models.Model):
    """Units a channel sold on its own side that our stock could not cover (a marketplace order accepted
    after the units were gone): booked anyway, never dropped, for a manager to settle."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="oversell_incidents")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="oversell_incidents")
    quantity = models.PositiveIntegerField(help_text="Units sold that could not be held.")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["reservation", "variant"], name="oversellincident_unique_line"),
        ]

    def __str__(self):
        return f"{self.reservation} short {self.quantity} of {self.variant_id}"


class StockRefusal(models.Model):
    """A channel asked for more of a SKU than it could have: the oversell attempts managers watch."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="stock_refusals")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="stock_refusals")
    order_ref = models.CharField(max_length=128)
    requested = models.PositiveIntegerField()
    available = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["variant", "created_at"], name="stockrefusal_variant_time")]

    def __str__(self):
        return f"{self.channel_id} asked {self.requested} of {self.variant_id}, {self.available} available"


class IdempotencyKey(models.Model):
    """A channel's ``Idempotency-Key`` and the response its first request got, replayed on repeats."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        COMPLETED = "completed", "Completed"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "key"], name="idempotencykey_unique")]

    def __str__(self):
        return f"{self.channel_id}:{self.key}"


class ChannelApiKeyQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True, channel__active=True)


class ChannelApiKey(models.Model):
    """A secret that lets one channel's POS or storefront call the channel API.

    Only a SHA-256 of the key is stored (the key is 256 random bits, so a fast hash is enough);
    the key itself is shown once, when it is made.
    """

    PREFIX_LENGTH = 12

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="Which terminal or store uses it.")
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ChannelApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "channel API key"
        ordering = ["channel__code", "name"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…) for {self.channel.code}"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """A new key as (key, prefix, hash): ``sp_<prefix>.<secret>``."""
        prefix = secrets.token_hex(ChannelApiKey.PREFIX_LENGTH // 2)
        key = f"sp_{prefix}.{secrets.token_urlsafe(32)}"
        return key, prefix, ChannelApiKey.hash(key)

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def prefix_of(key: str) -> str | None:
        if not key.startswith("sp_") or "." not in key:
            return None
        return key[3:].split(".", 1)[0]
