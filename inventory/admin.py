"""The back office: thin ModelAdmins over the stock model.

Stock numbers are never edited in a form here. Every change of ``on_hand`` is booked through
``inventory.services`` by the stock operations of the StockLevel admin (adjust, count,
receive, transfer, bulk adjust), as the admin source with the clerk as actor, and the
movement ledger is read-only for everyone, superusers included.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.core.exceptions import PermissionDenied
from django.db.models import Case, CharField, F, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Concat
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from inventory import selectors, services
from inventory.admin_bulk import ListingBulkMixin, MovementExportMixin, StockLevelBulkMixin
from inventory.admin_display import BAD, WARN, badge, short_time, with_detail
from inventory.admin_scoping import ReadOnlyModelAdmin, ScopedModelAdmin, ScopedModelAdminMixin, ScopedTabularInline
from inventory.forms import AdjustStockForm, BulkAdjustStockForm, ReceiveStockForm, TransferStockForm
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
from inventory.scoping import (
    ADJUST_STOCK,
    CHANGE_EXPOSURE_RULES,
    is_manageable,
    listings_ruled_by,
    listings_with_pool_seen_by,
    manageable_by,
    organization_ids,
    visible_to,
)

admin.site.site_header = "Stockpool back office"
admin.site.site_title = "Stockpool"
admin.site.index_title = "Back office"

#: How many ancestors one query reads with a category, so a path costs no query per row
#: in lists and autocompletes (each level deeper costs one more) and sorts as a tree.
CATEGORY_DEPTH = 3
CATEGORY_ANCESTORS = "__".join(["parent"] * CATEGORY_DEPTH)


def _refresh_sellability(*, variant_ids=None, listing_ids=None):
    """Catalog edits can make listings sellable or not; record that now, not at the next stock change."""
    services.refresh_listings(variant_ids=variant_ids, listing_ids=listing_ids, cause=ListingStateChange.Cause.CATALOG)


def _category_path():
    """The full path as SQL, so the category list sorts as a tree; exact up to CATEGORY_DEPTH ancestors."""
    prefixes = [
        Case(
            When(**{f"{ancestor}__isnull": False}, then=Concat(f"{ancestor}__name", Value(" / "))),
            default=Value(""),
        )
        for ancestor in ("__".join(["parent"] * depth) for depth in range(CATEGORY_DEPTH, 0, -1))
    ]
    return Concat(*prefixes, "name", output_field=CharField())


def _movements_url(*, warehouse_id=None, variant_id=None) -> str:
    filters = {"warehouse__id__exact": warehouse_id, "variant__id__exact": variant_id}
    query = urlencode({name: value for name, value in filters.items() if value is not None})
    return f"{reverse('admin:inventory_stockmovement_changelist')}?{query}"


class CategoryFilter(admin.RelatedFieldListFilter):
    """Categories by full path in tree order, read in one query however deep the tree is."""

    def field_choices(self, field, request, model_admin):
        categories = {category.pk: category for category in Category.objects.all()}
        for category in categories.values():
            category.parent = categories.get(category.parent_id)
        return sorted(((pk, str(category)) for pk, category in categories.items()), key=lambda c: c[1].casefold())


class OwnedByOrganizationAdmin(ScopedModelAdmin):
    """A catalogue entry staff make is their organization's; only superusers make the platform's."""

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not request.user.is_superuser and "organization" in form.base_fields:
            form.base_fields["organization"].required = True
        return form


@admin.register(Organization)
class OrganizationAdmin(ScopedModelAdmin):
    """Organizations are made and removed by superusers; an organization's administrator may rename theirs."""

    list_display = ("name", "kind", "slug", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Warehouse)
class WarehouseAdmin(ScopedModelAdmin):
    shown_with = Warehouse
    list_display = ("code", "name", "organization", "active", "system_of_record")
    list_filter = ("active", "system_of_record", "organization")
    list_select_related = ("organization",)
    search_fields = ("code", "name", "external_location_id")
    autocomplete_fields = ("organization",)
    readonly_fields = ("last_snapshot_at", "created_at")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change and "active" in form.changed_data:
            stocked = StockLevel.objects.filter(warehouse=form.instance).values_list("variant_id", flat=True)
            _refresh_sellability(variant_ids=stocked)


@admin.register(Category)
class CategoryAdmin(OwnedByOrganizationAdmin):
    list_display = ("full_path", "slug", "organization")
    list_select_related = ("organization",)
    search_fields = ("name", "slug", "parent__name")
    autocomplete_fields = ("parent", "organization")
    seen_choice_fields = ("parent",)  # under a shared category
    prepopulated_fields = {"slug": ("name",)}
    ordering = (_category_path().asc(),)

    def get_queryset(self, request):
        # Serves the list and the autocompletes of parent and product category alike.
        return super().get_queryset(request).select_related(CATEGORY_ANCESTORS)

    @admin.display(description="Category", ordering=_category_path())
    def full_path(self, category):
        return str(category)


class VariantInline(ScopedTabularInline):
    model = Variant
    fields = ("sku", "name", "barcode", "price", "track_inventory", "active", "low_stock_threshold")
    extra = 0
    show_change_link = True


@admin.register(Product)
class ProductAdmin(OwnedByOrganizationAdmin):
    list_display = ("name", "brand", "category", "organization", "active", "updated_at")
    list_filter = (("category", CategoryFilter), "active", "organization")
    list_select_related = (f"category__{CATEGORY_ANCESTORS}", "organization")
    search_fields = ("name", "brand")
    autocomplete_fields = ("category", "organization")
    seen_choice_fields = ("category",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (VariantInline,)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change and ("active" in form.changed_data or any(formset.has_changed() for formset in formsets)):
            _refresh_sellability(variant_ids=form.instance.variants.values_list("pk", flat=True))


class StockLevelInline(ScopedTabularInline):
    """Where the variant is stocked. The numbers change only through the stock operations."""

    model = StockLevel
    fields = ("warehouse", "on_hand", "reserved", "available")
    readonly_fields = fields
    ordering = ("warehouse__code",)
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Variant)
class VariantAdmin(ScopedModelAdmin):
    private_lookups = ("cost_price",)
    list_display = ("sku", "product", "name", "price", "active", "total_on_hand")
    list_filter = (("product__category", CategoryFilter), "active", "track_inventory")
    list_select_related = ("product",)
    search_fields = ("sku", "name", "product__name", "=barcode")
    autocomplete_fields = ("product",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (StockLevelInline,)

    def get_queryset(self, request):
        on_hand = (
            visible_to(StockLevel.objects.filter(variant=OuterRef("pk")), request.user)
            .order_by()
            .values("variant")
            .annotate(total=Sum("on_hand"))
            .values("total")
        )
        return super().get_queryset(request).annotate(total_on_hand=Coalesce(Subquery(on_hand), Value(0)))

    def get_exclude(self, request, obj=None):
        # Cost prices are the catalogue owner's (the supplier's): nobody else sees them.
        exclude = list(super().get_exclude(request, obj) or [])
        if not _owns_catalogue_of(request.user, obj):
            exclude.append("cost_price")
        return exclude

    @admin.display(description="On hand (your warehouses)", ordering="total_on_hand")
    def total_on_hand(self, variant):
        return variant.total_on_hand

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change and {"active", "track_inventory"} & set(form.changed_data):
            _refresh_sellability(variant_ids=[form.instance.pk])


def _owns_catalogue_of(user, variant: Variant | None) -> bool:
    """Whether ``user`` is of the organization whose catalogue ``variant`` is in (or may add to one)."""
    if user.is_superuser:
        return True
    if variant is None:
        return bool(organization_ids(user, "inventory.add_variant"))
    return variant.product.organization_id in organization_ids(user)


class BelowThresholdFilter(admin.SimpleListFilter):
    """Levels whose available units are at or below the variant's low-stock threshold."""

    title = "stock"
    parameter_name = "below_threshold"

    def lookups(self, request, model_admin):
        return (("yes", "At or below threshold"), ("no", "Above threshold"))

    def queryset(self, request, queryset):
        # ``available_qty`` is annotated by selectors.stock_levels, the admin's queryset.
        if self.value() == "yes":
            return queryset.filter(available_qty__lte=F("variant__low_stock_threshold"))
        if self.value() == "no":
            return queryset.filter(available_qty__gt=F("variant__low_stock_threshold"))
        return queryset


@admin.register(StockLevel)
class StockLevelAdmin(StockLevelBulkMixin, ReadOnlyModelAdmin):
    """Stock levels to look at; changing them takes ``inventory.adjust_stock`` and the operation views."""

    shown_with = Warehouse
    list_display = ("sku", "warehouse_code", "on_hand", "reserved", "available", "low_stock", "movements")
    list_filter = ("warehouse", BelowThresholdFilter)
    list_select_related = ("warehouse", "variant__product")
    search_fields = ("variant__sku", "=variant__barcode", "variant__product__name")
    ordering = ("warehouse__code", "variant__sku")
    fields = ("warehouse", "variant", "on_hand", "reserved", "available", "updated_at")
    readonly_fields = fields
    actions = ("adjust_selected_levels", *StockLevelBulkMixin.bulk_actions)
    action_permissions = {**StockLevelBulkMixin.action_permissions, "adjust_stock": ADJUST_STOCK}

    def get_queryset(self, request):
        return visible_to(selectors.stock_levels(), request.user)

    def get_list_display(self, request):
        if self.has_adjust_stock_permission(request):
            return (*self.list_display, "adjust")
        return self.list_display

    def has_adjust_stock_permission(self, request):
        return request.user.has_perm(ADJUST_STOCK)

    @admin.display(description="SKU", ordering="variant__sku")
    def sku(self, level):
        return with_detail(level.variant.sku, level.variant.product.name)

    @admin.display(description="Warehouse", ordering="warehouse__code")
    def warehouse_code(self, level):
        return format_html('<span title="{}">{}</span>', level.warehouse.name, level.warehouse.code)

    @admin.display(ordering="available_qty")
    def available(self, level):
        return level.available_qty

    @admin.display(description="Low stock", ordering="available_qty")
    def low_stock(self, level):
        """A problem in warning colours: "Out" with nothing available, "Low" at or below the threshold; else blank."""
        available, threshold = level.available_qty, level.variant.low_stock_threshold
        if available <= 0:
            return badge("Out", BAD, f"Nothing available (low at {threshold})")
        if available <= threshold:
            return badge("Low", WARN, f"{available} available, at or below the threshold of {threshold}")
        return ""

    @admin.display(description="Ledger")
    def movements(self, level):
        url = _movements_url(warehouse_id=level.warehouse_id, variant_id=level.variant_id)
        return format_html('<a href="{}">Movements</a>', url)

    @admin.display(description="")
    def adjust(self, level):
        return format_html('<a href="{}">Adjust</a>', reverse("admin:inventory_stocklevel_adjust", args=[level.pk]))

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<int:level_id>/adjust/", self.admin_site.admin_view(self.adjust_view), name=f"{prefix}_adjust"),
            path("receive/", self.admin_site.admin_view(self.receive_view), name=f"{prefix}_receive"),
            path("transfer/", self.admin_site.admin_view(self.transfer_view), name=f"{prefix}_transfer"),
            *super().get_urls(),
        ]

    def adjust_view(self, request, level_id):
        self._require_adjust_permission(request)
        level = self.get_object(request, str(level_id))
        if level is None:
            raise Http404("No such stock level.")
        if not is_manageable(level, request.user, ADJUST_STOCK):
            raise PermissionDenied
        form = AdjustStockForm(_posted(request), level=level)
        done_url = _movements_url(warehouse_id=level.warehouse_id, variant_id=level.variant_id)
        return self._stock_operation(
            request, form, title=f"Adjust stock: {level}", level=level, done_url=lambda _form: done_url
        )

    def receive_view(self, request):
        self._require_adjust_permission(request)
        form = ReceiveStockForm(_posted(request), initial=_ids_from_query(request))
        return self._stock_operation(
            request,
            form,
            title="Receive stock",
            done_url=lambda form: _movements_url(
                warehouse_id=form.cleaned_data["warehouse"].pk, variant_id=form.cleaned_data["variant"].pk
            ),
        )

    def transfer_view(self, request):
        self._require_adjust_permission(request)
        form = TransferStockForm(_posted(request), initial=_ids_from_query(request))
        return self._stock_operation(
            request,
            form,
            title="Transfer stock",
            done_url=lambda form: _movements_url(variant_id=form.cleaned_data["variant"].pk),
        )

    @admin.action(description="Adjust selected levels…", permissions=["adjust_stock"])
    def adjust_selected_levels(self, request, queryset):
        levels = list(queryset)
        form = BulkAdjustStockForm(request.POST if "apply" in request.POST else None, levels=levels)
        if form.is_valid() and form.book(actor=request.user) is not None:
            reason = StockMovement.Reason(form.cleaned_data["reason"]).label
            self.message_user(
                request,
                f"Changed {len(levels)} stock levels by {form.cleaned_data['delta']:+d} ({reason}).",
                messages.SUCCESS,
            )
            return None
        context = {
            **self._operation_context(request, form, title="Adjust selected levels"),
            "levels": levels,
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/inventory/stocklevel/bulk_adjust.html", context)

    def _require_adjust_permission(self, request):
        if not self.has_adjust_stock_permission(request):
            raise PermissionDenied

    def _stock_operation(self, request, form, *, title, done_url, level=None):
        """Show the form; on a valid POST book it, then go to the movements it wrote."""
        for field in form.fields.values():  # only warehouses where the user may adjust, to choose or to post
            if getattr(field, "queryset", None) is not None:
                scope = manageable_by if field.queryset.model is Warehouse else visible_to
                field.queryset = scope(field.queryset, request.user, ADJUST_STOCK)
        if request.method == "POST" and form.is_valid():
            movements = form.book(actor=request.user)
            if movements is not None:
                self.message_user(request, _booked_message(movements), messages.SUCCESS)
                return HttpResponseRedirect(done_url(form))
        context = {**self._operation_context(request, form, title=title), "level": level}
        return TemplateResponse(request, "admin/inventory/stocklevel/stock_operation.html", context)

    def _operation_context(self, request, form, *, title):
        request.current_app = self.admin_site.name
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}, model_admin=self),
            "media": self.media + form.media,
        }


def _posted(request):
    return request.POST if request.method == "POST" else None


def _ids_from_query(request) -> dict:
    """Prefill from links such as ``?warehouse=3&variant=7``; anything not an id is ignored."""
    return {name: value for name, value in request.GET.items() if value.isdecimal()}


def _booked_message(movements) -> str:
    if not movements:
        return "The count matches what is on hand; nothing was booked."
    legs = "; ".join(
        f"{m.quantity:+d} of {m.variant.sku} at {m.warehouse.code} (on hand now {m.on_hand_after})" for m in movements
    )
    return f"Booked {movements[0].get_reason_display().lower()}: {legs}."


@admin.register(StockMovement)
class StockMovementAdmin(MovementExportMixin, ReadOnlyModelAdmin):
    """The ledger is append-only: nobody, superusers included, adds, changes or deletes movements here."""

    shown_with = Warehouse
    list_display = (
        "when",
        "sku",
        "warehouse_code",
        "signed_quantity",
        "on_hand_after",
        "reason",
        "made_by",
        "short_reference",
    )
    list_filter = ("reason", "source", "warehouse", "created_at")
    list_select_related = ("variant", "warehouse", "actor")
    search_fields = ("variant__sku", "reference")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "warehouse",
        "variant",
        "quantity",
        "on_hand_after",
        "reason",
        "source",
        "actor",
        "reference",
        "note",
        "operation_id",
    )
    readonly_fields = fields
    # Counting the whole ledger on every filtered page is slow once it is large.
    show_full_result_count = False

    @admin.display(description="When", ordering="created_at")
    def when(self, movement):
        return short_time(movement.created_at)

    @admin.display(description="SKU", ordering="variant__sku")
    def sku(self, movement):
        return movement.variant.sku

    @admin.display(description="Warehouse", ordering="warehouse__code")
    def warehouse_code(self, movement):
        return format_html('<span title="{}">{}</span>', movement.warehouse.name, movement.warehouse.code)

    @admin.display(description="Quantity", ordering="quantity")
    def signed_quantity(self, movement):
        return f"{movement.quantity:+d}"

    @admin.display(description="By", ordering="actor__username")
    def made_by(self, movement):
        """Who booked it, and through what (the admin, the API, a sync): one column for both."""
        if movement.actor is None:
            return movement.get_source_display()
        return with_detail(movement.actor.get_username(), movement.get_source_display())

    @admin.display(description="Reference", ordering="reference")
    def short_reference(self, movement):
        """Cut to the column's width (a sale's reservation id is long); whole in the tooltip and on the page."""
        if not movement.reference:
            return "-"
        return format_html('<span class="sp-clip" title="{}">{}</span>', movement.reference, movement.reference)


class ChannelWarehouseInline(ScopedTabularInline):
    model = ChannelWarehouse
    fields = ("priority", "warehouse")
    autocomplete_fields = ("warehouse",)
    ordering = ("priority", "id")
    extra = 1

    def get_formset(self, request, obj=None, **kwargs):
        # The user's own warehouses may be attached; those the channel already draws from (a reseller's
        # channel drawing from its supplier) stay valid, so the channel can still be saved.
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None and not request.user.is_superuser:
            field = formset.form.base_fields["warehouse"]
            field.queryset = (field.queryset | Warehouse.objects.filter(channel_links__channel=obj)).distinct()
        return formset


@admin.register(Channel)
class ChannelAdmin(ScopedModelAdmin):
    list_display = ("code", "name", "kind", "organization", "active", "reservation_ttl_seconds")
    list_filter = ("kind", "organization", "active")
    list_select_related = ("organization",)
    search_fields = ("code", "name")
    autocomplete_fields = ("organization",)
    readonly_fields = ("created_at",)
    inlines = (ChannelWarehouseInline,)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change and ("active" in form.changed_data or any(formset.has_changed() for formset in formsets)):
            _refresh_sellability(listing_ids=form.instance.listings.values_list("pk", flat=True))


class ListingStateChangeInline(ScopedTabularInline):
    """When the listing became sellable or unsellable, as the services recorded it."""

    model = ListingStateChange
    fields = ("created_at", "sellable", "available", "cause")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChannelListing)
class ChannelListingAdmin(ListingBulkMixin, ScopedModelAdmin):
    """Exposure rules per channel and SKU; saving them recomputes the listing's sellable state."""

    actions = ListingBulkMixin.bulk_actions
    list_display = (
        "channel",
        "sku",
        "buffer",
        "allocation_percent",
        "max_quantity",
        "enabled",
        "is_sellable",
        "channel_available",
        "pool",
    )
    list_filter = ("channel", "enabled", "is_sellable")
    list_select_related = ("channel", "variant")
    search_fields = ("variant__sku",)
    autocomplete_fields = ("channel", "variant")
    seen_choice_fields = ("variant",)  # the supplier's SKU a reseller's channel sells
    private_lookups = ("price",)
    inlines = (ListingStateChangeInline,)
    computed_fields = ("is_sellable", "sellable_changed_at", "channel_available", "pool")

    def get_changelist(self, request, **kwargs):
        return _ListingChangeList

    def has_change_permission(self, request, obj=None):
        # Its channel's organization changes a listing (its price); the one whose stock it sells, its rules.
        return super().has_change_permission(request, obj) or (obj is not None and self.may_set_rules(request, obj))

    def get_readonly_fields(self, request, obj=None):
        # A listing stays on its channel and variant; the rules besides price need their own permission.
        readonly = ["channel", "variant", *self.computed_fields] if obj else []
        if not self.may_set_rules(request, obj):
            readonly += [rule for rule in services.EXPOSURE_RULES if rule != "price"]
        if obj is not None and not is_manageable(obj, request.user, "inventory.change_channellisting"):
            readonly.append("price")
        return readonly

    def may_set_rules(self, request, obj=None) -> bool:
        """The permission, and for a listing, holding it in the organization whose stock it sells."""
        if not request.user.has_perm(CHANGE_EXPOSURE_RULES):
            return False
        return obj is None or listings_ruled_by(ChannelListing.objects.filter(pk=obj.pk), request.user).exists()

    @staticmethod
    def is_own_listing(request, obj) -> bool:
        """A listing of one of the user's own channels: its price is theirs to see and set."""
        return obj is None or request.user.is_superuser or obj.channel.organization_id in organization_ids(request.user)

    @staticmethod
    def shows_pool(request, obj) -> bool:
        """The pool is the stock behind the listing: seen by the organization whose stock it all is."""
        listings = ChannelListing.objects.all() if obj is None else ChannelListing.objects.filter(pk=obj.pk)
        return listings_with_pool_seen_by(listings, request.user).exists()

    def get_list_display(self, request):
        if self.shows_pool(request, None):
            return self.list_display
        return tuple(name for name in self.list_display if name != "pool")

    def get_fields(self, request, obj=None):
        if obj is None and not request.user.is_superuser:
            # Whose stock it sells is known once it exists: its rules are set then, by that organization.
            return ("channel", "variant", "price")
        fields = ("channel", "variant", *services.EXPOSURE_RULES, *(self.computed_fields if obj else ()))
        hidden = set()
        if obj is not None and not self.shows_pool(request, obj):
            hidden.add("pool")
        if not self.is_own_listing(request, obj):
            hidden.add("price")  # another organization's channel's price is its own business
        return tuple(name for name in fields if name not in hidden)

    def save_model(self, request, obj, form, change):
        if not change:
            services.add_listing(obj, rules_given=request.user.is_superuser)
            return
        rules = {name: form.cleaned_data[name] for name in form.changed_data if name in services.EXPOSURE_RULES}
        if rules:
            services.update_listing_rules(obj, **rules)

    @admin.display(description="SKU", ordering="variant__sku")
    def sku(self, listing):
        return listing.variant.sku

    @admin.display(description="Channel available")
    def channel_available(self, listing):
        available = _availability_of(listing).available
        return "not tracked" if available is None else available

    @admin.display(description="Pool")
    def pool(self, listing):
        return _availability_of(listing).pool if getattr(listing, "pool_shown", True) else "—"


class _ListingChangeList(ChangeList):
    """Works out the page's availability in two queries, not two per row, and whose pools to show in one."""

    def get_results(self, request):
        super().get_results(request)
        page = ChannelListing.objects.filter(pk__in=[listing.pk for listing in self.result_list])
        by_id = {entry.rules.listing_id: entry for entry in selectors.listing_availability(page)}
        pools_shown = set(listings_with_pool_seen_by(page, request.user).values_list("pk", flat=True))
        for listing in self.result_list:
            listing.availability = by_id[listing.pk]
            listing.pool_shown = listing.pk in pools_shown


def _availability_of(listing: ChannelListing) -> selectors.ListingAvailability:
    if not hasattr(listing, "availability"):  # a change form shows one listing
        (listing.availability,) = selectors.listing_availability(ChannelListing.objects.filter(pk=listing.pk))
    return listing.availability


@admin.register(Membership)
class MembershipAdmin(ScopedModelAdmin):
    """Who belongs to which organization, with what role; the role's group follows (``set_membership``)."""

    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", "organization")
    list_select_related = ("user", "organization")
    search_fields = ("user__username", "user__email", "organization__name")
    autocomplete_fields = ("user", "organization")
    seen_choice_fields = ("user",)  # a colleague who also works for another organization
    readonly_fields = ("created_at",)

    def save_model(self, request, obj, form, change):
        if change and {"user", "organization"} & set(form.changed_data):
            original = Membership.objects.select_related("user", "organization").get(pk=obj.pk)
            services.remove_membership(original.user, original.organization)
        obj.pk = services.set_membership(obj.user, obj.organization, obj.role).pk

    def delete_model(self, request, obj):
        services.remove_membership(obj.user, obj.organization)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "organization"):
            services.remove_membership(membership.user, membership.organization)


admin.site.unregister(get_user_model())


class InvitationForm(AdminUserCreationForm):
    """A new login for one of the inviting administrator's organizations, with its role there."""

    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.CLERK)


@admin.register(get_user_model())
class StaffUserAdmin(ScopedModelAdminMixin, UserAdmin):
    """Users, for an organization's administrator: those of their organizations, and new ones they invite
    into them. Roles are given by memberships (which set the groups); superuser status, groups and
    permissions are the superusers'. Someone who also belongs to another organization is that
    organization's too: only a superuser changes them (``inventory.scoping``)."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ["is_superuser", "groups", "user_permissions"]
        return readonly

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None and not request.user.is_superuser:
            return [*fieldsets, ("Membership", {"fields": ("organization", "role")})]
        return fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = InvitationForm
        form = super().get_form(request, obj, **kwargs)
        if "organization" in form.base_fields:
            form.base_fields["organization"].queryset = manageable_by(Organization, request.user, "auth.add_user")
        return form

    def save_model(self, request, obj, form, change):
        invited = not change and "organization" in form.cleaned_data
        if invited:
            obj.is_staff = True  # a login to the back office, where the membership shows them their data
        super().save_model(request, obj, form, change)
        if invited:
            services.set_membership(obj, form.cleaned_data["organization"], form.cleaned_data["role"])
