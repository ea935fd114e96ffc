"""The stock model: who owns what, what is sold, how much is where, and every change to it.

Invariants the database itself enforces: a stock level never has ``reserved < 0`` nor
``on_hand < reserved``; the movement ledger is append-only (refused in the ORM here, and
by a trigger on PostgreSQL).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Organization(models.Model):
    class Kind(models.TextChoices):
        SUPPLIER = "supplier", "Supplier"
        RESELLER = "reseller", "Reseller"
        RETAILER = "retailer", "Retailer"

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.RESELLER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Warehouse(models.Model):
    """A physical stock location; its ``on_hand`` may be mirrored from a partner system."""

    class SystemOfRecord(models.TextChoices):
        STOCKPOOL = "stockpool", "Stockpool (local)"
        ZOHO_INVENTORY = "zoho_inventory", "Zoho Inventory"
        CIN7_CORE = "cin7_core", "Cin7 Core"
        AMAZON_FBA = "amazon_fba", "Amazon FBA"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="warehouses")
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True, help_text="Inactive warehouses feed no channel.")
    address = models.TextField(blank=True)
    system_of_record = models.CharField(
        max_length=32,
        choices=SystemOfRecord.choices,
        default=SystemOfRecord.STOCKPOOL,
        help_text="Where on_hand is authoritative. Mirrored levels are corrected from partner snapshots.",
    )
    external_location_id = models.CharField(
        max_length=128, blank=True, help_text="The partner's id for this location (Zoho warehouse, Cin7 location, ...)."
    )
    last_snapshot_at = models.DateTimeField(
        null=True, blank=True, help_text="When the partner's stock snapshot was last applied."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["system_of_record", "external_location_id"],
                condition=~Q(external_location_id=""),
                name="warehouse_unique_external_location",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def is_mirrored(self) -> bool:
        return self.system_of_record != self.SystemOfRecord.STOCKPOOL


class Category(models.Model):
    """A node of the catalog tree; ``parent`` is null at the roots."""

    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="categories",
        help_text="Who may change it; everyone files products under it. Empty: the platform's.",
    )
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["parent", "slug"], name="category_unique_slug_per_parent"),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(parent__isnull=True), name="category_unique_root_slug"
            ),
        ]

    def __str__(self):
        return " / ".join(node.name for node in self.ancestors_and_self())

    def ancestors_and_self(self) -> list["Category"]:
        chain, node, seen = [], self, set()
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            chain.append(node)
            node = node.parent
        return list(reversed(chain))


class Product(models.Model):
    """A catalogue entry of the organization that owns it (the supplier whose items these are)."""

    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="products",
        help_text="Whose catalogue it is: they change it and see its cost prices. Empty: the platform's.",
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    brand = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Variant(models.Model):
    """The sellable unit, identified by its SKU."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="variants")
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True, help_text="What tells this variant apart, e.g. '50 ml, Mint'.")
    barcode = models.CharField(max_length=64, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, default=0, validators=[MinValueValidator(0)])
    cost_price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    track_inventory = models.BooleanField(
        default=True, help_text="Untracked variants are sold without holding or counting stock."
    )
    active = models.BooleanField(default=True)
    low_stock_threshold = models.PositiveIntegerField(
        default=5, help_text="At or below this many available units the variant counts as low."
    )
    reorder_point = models.PositiveIntegerField(
        null=True, blank=True, help_text="At or below this many units on hand, reorder."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["barcode"], condition=~Q(barcode=""), name="variant_unique_barcode"),
        ]

    def __str__(self):
        label = f"{self.product.name} {self.name}".strip() if self.product_id else self.name
        return f"{self.sku} · {label}"


class StockLevelQuerySet(models.QuerySet):
    def with_available(self):
        """Annotate ``available_qty`` (on_hand - reserved), so it can be filtered and sorted."""
        return self.annotate(available_qty=models.F("on_hand") - models.F("reserved"))

    def below_threshold(self, below: bool = True):
        """Levels at or below their variant's low-stock threshold (or, with False, above it)."""
        at_or_below = Q(available_qty__lte=models.F("variant__low_stock_threshold"))
        levels = self.with_available()
        return levels.filter(at_or_below) if below else levels.exclude(at_or_below)


class StockLevel(models.Model):
    """How much of a variant is in a warehouse. Changed only through ``inventory.services``."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StockLevelQuerySet.as_manager()

    class Meta:
        # No default ordering: a join in a locking query would lock the joined rows too.
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "variant"], name="stocklevel_unique_warehouse_variant"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stocklevel_reserved_not_negative"),
            models.CheckConstraint(
                condition=Q(on_hand__gte=models.F("reserved")), name="stocklevel_on_hand_covers_reserved"
            ),
        ]
        permissions = [
            ("adjust_stock", "Can adjust, count, receive and transfer stock"),
            ("export_data", "Can export stock, listings, movements and alerts"),
        ]

    def __str__(self):
        return f"{self.variant.sku} @ {self.warehouse.code}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class LedgerIsAppendOnly(Exception):
    """Raised on any attempt to change or remove a stock movement."""


class StockMovementQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerIsAppendOnly("Stock movements cannot be updated; book a correcting movement instead.")

    def delete(self):
        raise LedgerIsAppendOnly("Stock movements cannot be deleted; book a correcting movement instead.")


class StockMovement(models.Model):
    """One change of ``on_hand``: the append-only ledger of a stock level."""

    class Reason(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        COUNT = "count", "Stock count"
        ADJUSTMENT = "adjustment", "Adjustment"
        SALE = "sale", "Sale"
        RETURN = "return", "Return"
        TRANSFER = "transfer", "Transfer"
        DAMAGE = "damage", "Damage or loss"
        SYNC_CORRECTION = "sync_correction", "Sync correction"

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        WEBHOOK = "webhook", "Webhook"
        SYNC = "sync", "Sync"
        SYSTEM = "system", "System"

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="movements")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="movements")
    quantity = models.IntegerField(help_text="Signed change of on_hand.")
    on_hand_after = models.IntegerField()
    reason = models.CharField(max_length=32, choices=Reason.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="stock_movements"
    )
    reference = models.CharField(max_length=200, blank=True, help_text="Order, partner document or count sheet.")
    note = models.TextField(blank=True)
    operation_id = models.UUIDField(
        help_text="Shared by the movements one operation wrote, e.g. both legs of a transfer."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = StockMovementQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["variant", "warehouse", "created_at"], name="movement_level_time"),
            models.Index(fields=["reference"], name="movement_reference"),
        ]

    def __str__(self):
        return f"{self.quantity:+d} {self.variant.sku} @ {self.warehouse.code} ({self.reason})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerIsAppendOnly("Stock movements cannot be changed; book a correcting movement instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerIsAppendOnly("Stock movements cannot be deleted; book a correcting movement instead.")


class Channel(models.Model):
    """A place stock is sold through, drawing from an ordered list of warehouses."""

    class Kind(models.TextChoices):
        POS = "pos", "Point of sale"
        STOREFRONT = "storefront", "Storefront"
        MARKETPLACE = "marketplace", "Marketplace"
        WHOLESALE = "wholesale", "Wholesale"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="channels")
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    active = models.BooleanField(default=True)
    reservation_ttl_seconds = models.PositiveIntegerField(
        default=900, validators=[MinValueValidator(30), MaxValueValidator(7 * 24 * 3600)]
    )
    warehouses = models.ManyToManyField(Warehouse, through="ChannelWarehouse", related_name="channels")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class ChannelWarehouse(models.Model):
    """A warehouse a channel draws from; lower priority numbers are drawn from first."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="warehouse_links")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="channel_links")
    priority = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["channel", "priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "warehouse"], name="channelwarehouse_unique"),
        ]

    def __str__(self):
        return f"{self.channel.code} ← {self.warehouse.code} (priority {self.priority})"


class ChannelListing(models.Model):
    """A variant offered on a channel, with the exposure rules that shape what it may sell.

    ``is_sellable`` is computed by ``inventory.services.refresh_listings`` and every change
    of it is recorded as a ListingStateChange.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="listings")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="listings")
    buffer = models.PositiveIntegerField(default=0, help_text="Units kept back from this channel.")
    allocation_percent = models.PositiveSmallIntegerField(
        default=100,
        validators=[MaxValueValidator(100)],
        help_text="Share of the pool (after the buffer) this channel may sell, rounded down.",
    )
    max_quantity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Never show this channel more than this many units."
    )
    enabled = models.BooleanField(default=True, help_text="Manual switch: disabled listings never sell.")
    price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Channel price; empty uses the variant's."
    )
    is_sellable = models.BooleanField(default=False, editable=False)
    sellable_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel__code", "variant__sku"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "variant"], name="channellisting_unique"),
            models.CheckConstraint(condition=Q(allocation_percent__lte=100), name="channellisting_percent_max_100"),
        ]
        permissions = [
            ("change_exposure_rules", "Can change a listing's buffer, allocation, cap and enable switch"),
        ]

    def __str__(self):
        return f"{self.variant.sku} on {self.channel.code}"


class ListingStateChange(models.Model):
    """A recorded transition of a listing between sellable and unsellable."""

    class Cause(models.TextChoices):
        STOCK = "stock", "Stock changed"
        RULES = "rules", "Exposure rules changed"
        CATALOG = "catalog", "Catalog or channel changed"

    listing = models.ForeignKey(ChannelListing, on_delete=models.CASCADE, related_name="state_changes")
    sellable = models.BooleanField()
    available = models.IntegerField(null=True, help_text="Channel availability at the transition; empty if untracked.")
    cause = models.CharField(max_length=16, choices=Cause.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        state = "sellable" if self.sellable else "unsellable"
        return f"{self.listing} became {state}"


class Membership(models.Model):
    """A user's place in an organization: what they see is its data, what they may do is their role.

    A role is carried out by the group of the same name (alerts/migrations/0003_roles.py); keep the
    two in step through ``inventory.services.set_membership`` and ``remove_membership``.
    """

    class Role(models.TextChoices):
        CLERK = "clerk", "Clerk"
        MANAGER = "manager", "Manager"
        ADMINISTRATOR = "administrator", "Administrator"

    #: The role group each role holds, weakest first.
    GROUPS = {Role.CLERK: "Stock clerk", Role.MANAGER: "Manager", Role.ADMINISTRATOR: "Administrator"}

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLERK)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_organization"),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_role_display()} at {self.organization}"
