"""Bulk work in the back office: exports, stock count and adjustment files, rules of many listings.

Mixins for the ModelAdmins in ``inventory.admin`` and ``alerts.admin``; each adds its views,
actions and changelist buttons, behind its own permission:

- **Exports** (``inventory.export_data``, and the list's view permission): "Export CSV" and
  "Export JSON" buttons on the stock level, listing, movement and alert lists export the list as
  filtered, searched and sorted; "Export selected as CSV/JSON" actions export the rows ticked.
- **Stock files** (``inventory.adjust_stock``): Stock levels → "Import counts (CSV)" reads a
  count or adjustment file, shows every change it would book, and on "Apply" books them all
  in one operation or none (``inventory.imports``). A count sheet per warehouse can be downloaded.
- **Listing rules** (``inventory.change_exposure_rules``): the "Change rules of selected
  listings…" action sets buffer, allocation percent, cap (or removes it) and the enable
  switch of every selected listing through ``inventory.services.update_listing_rules``, all of
  them in one transaction, each recomputing its sellable state (recorded, and published to
  the channel's partner).
"""

import re
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode

from inventory import exports, imports, selectors, services
from inventory.exceptions import DomainError
from inventory.models import ChannelListing, Variant, Warehouse
from inventory.scoping import (
    ADJUST_STOCK,
    CHANGE_EXPOSURE_RULES,
    EXPORT_DATA,
    listings_ruled_by,
    manageable_by,
    visible_to,
)

#: How long a previewed stock file waits for its "Apply".
PREVIEW_TTL_SECONDS = 2 * 3600
#: Rows listed on an intermediate page; the rest are counted.
SHOWN_ROWS = 100


def _page_context(model_admin, request, *, title: str, form=None) -> dict:
    request.current_app = model_admin.admin_site.name
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "media": model_admin.media,
    }
    if form is not None:
        context["adminform"] = helpers.AdminForm(
            form, [(None, {"fields": list(form.fields)})], {}, model_admin=model_admin
        )
        context["media"] = model_admin.media + form.media
    return context


def _url(model_admin, view: str, *args) -> str:
    return reverse(f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_{view}", args=args)


# --- Exports --------------------------------------------------------------------------------------


class ExportMixin:
    """Export buttons for the list as filtered, and (when registered) actions for the rows selected."""

    export_kind: str = ""
    change_list_template = "admin/inventory/bulk/change_list.html"
    #: The action names to register in the ModelAdmin's ``actions``.
    bulk_actions = ("export_selected_csv", "export_selected_json")
    action_permissions = {"export": EXPORT_DATA}

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm(EXPORT_DATA)

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("export.<str:fmt>", self.admin_site.admin_view(self.export_view), name=f"{prefix}_export"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if self.has_export_permission(request) and not request.GET.get("_popup"):
            query = request.GET.copy()
            query.pop("p", None)  # the export is the whole filtered list, not one page of it
            suffix = f"?{query.urlencode()}" if query else ""
            extra_context = {
                **(extra_context or {}),
                "export_links": [
                    (f"Export {fmt.upper()}", f"{_url(self, 'export', fmt)}{suffix}") for fmt in exports.FORMATS
                ],
            }
        return super().changelist_view(request, extra_context)

    def export_view(self, request, fmt):
        if fmt not in exports.FORMATS:
            raise Http404("No such export format.")
        if not (self.has_view_or_change_permission(request) and self.has_export_permission(request)):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(f"{_url(self, 'changelist')}?e=1")
        # The rows of the organizations where the user's role may export, of those the list shows.
        rows = visible_to(changelist.get_queryset(request), request.user, EXPORT_DATA)
        return exports.export_response(self.export_kind, fmt, rows, viewer=request.user, for_spreadsheet=fmt == "csv")

    @admin.action(description="Export selected as CSV", permissions=["export"])
    def export_selected_csv(self, request, queryset):
        return exports.export_response(self.export_kind, "csv", queryset, viewer=request.user, for_spreadsheet=True)

    @admin.action(description="Export selected as JSON", permissions=["export"])
    def export_selected_json(self, request, queryset):
        return exports.export_response(self.export_kind, "json", queryset, viewer=request.user)


class MovementExportMixin(ExportMixin):
    """The ledger exports its list as filtered (no actions: the ledger offers none)."""

    export_kind = "movements"
    bulk_actions = ()


class AlertExportMixin(ExportMixin):
    export_kind = "alerts"


# --- Stock count and adjustment files -------------------------------------------------------------


class StockImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            f"Up to {imports.MAX_IMPORT_BYTES // (1024 * 1024)} MB and {imports.MAX_IMPORT_ROWS:,} rows. "
            "Columns: sku, warehouse, and set_on_hand (counted) or delta (signed change); "
            "optionally reason, reference, note."
        ),
    )
    reason = forms.ChoiceField(
        label="Reason for rows that give none",
        required=False,
        choices=[("", "Stock count for counted rows, adjustment for changes")]
        + [(reason.value, reason.label) for reason in services.MANUAL_REASONS],
    )
    reference = forms.CharField(
        label="Reference for rows that give none",
        required=False,
        max_length=imports.REFERENCE_MAX_LENGTH,
        help_text="Count sheet or delivery note; empty uses the file's name.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > imports.MAX_IMPORT_BYTES:
            raise ValidationError(
                f"The file is {upload.size:,} bytes; the most accepted is {imports.MAX_IMPORT_BYTES:,}. "
                "Split it into smaller files."
            )
        return upload


def _preview_key(user, token: str) -> str:
    return f"inventory:stock-import:{user.pk}:{token}"


def _store_preview(user, stock_import: imports.StockImport) -> str:
    """Keep what the clerk is shown until they apply it; the token names exactly this preview."""
    token = uuid.uuid4().hex
    payload = {
        "text": stock_import.file.text,
        "name": stock_import.file.name,
        "encoding": stock_import.file.encoding,
        "reason": stock_import.reason,
        "reference": stock_import.reference,
        "figures": stock_import.figures,
    }
    cache.set(_preview_key(user, token), payload, PREVIEW_TTL_SECONDS)
    return token


def _claim_preview(user, token: str) -> dict | None:
    """Take a stored preview, once: a second "Apply" of the same preview finds nothing."""
    if not re.fullmatch(r"[0-9a-f]{32}", token or ""):
        return None
    key = _preview_key(user, token)
    payload = cache.get(key)
    if payload is None or not cache.delete(key):
        return None
    return payload


def _replan(payload: dict, user) -> imports.StockImport:
    stock_file = imports.parse_stock_text(payload["text"], name=payload["name"], encoding=payload["encoding"])
    return imports.plan_stock_import(
        stock_file,
        reason=payload["reason"],
        reference=payload["reference"],
        warehouses=manageable_by(Warehouse, user, ADJUST_STOCK),
        variants=visible_to(Variant, user, ADJUST_STOCK),
    )


class StockLevelBulkMixin(ExportMixin):
    """Stock levels: exports, and count or adjustment files uploaded, previewed and applied."""

    export_kind = "stock"
    change_list_template = "admin/inventory/stocklevel/change_list.html"

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("import/", self.admin_site.admin_view(self.stock_import_view), name=f"{prefix}_import"),
            path(
                "import/count-sheet.csv",
                self.admin_site.admin_view(self.count_sheet_view),
                name=f"{prefix}_count_sheet",
            ),
            *super().get_urls(),
        ]

    def _require_import_permission(self, request):
        if not request.user.has_perm(ADJUST_STOCK):
            raise PermissionDenied

    def stock_import_view(self, request):
        """GET: the upload form. POST a file: its preview or its bad rows. POST a preview's token: apply it."""
        self._require_import_permission(request)
        if request.method == "POST" and "token" in request.POST:
            return self._apply_stock_import(request)
        form = StockImportForm(request.POST, request.FILES) if request.method == "POST" else StockImportForm()
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                stock_file = imports.read_stock_file(upload.read(), name=upload.name)
                stock_import = imports.plan_stock_import(
                    stock_file,
                    reason=form.cleaned_data["reason"],
                    reference=form.cleaned_data["reference"],
                    warehouses=manageable_by(Warehouse, request.user, ADJUST_STOCK),
                    variants=visible_to(Variant, request.user, ADJUST_STOCK),
                )
            except imports.StockFileError as error:
                form.add_error("file", error.message)
            else:
                if not stock_import.is_valid:
                    return self._upload_page(request, form, problems=stock_import.problems, name=stock_file.name)
                if not stock_import.lines:
                    form.add_error("file", "No row gives a counted quantity or a change; there is nothing to apply.")
                else:
                    return self._preview_page(request, stock_import)
        return self._upload_page(request, form)

    def _apply_stock_import(self, request):
        payload = _claim_preview(request.user, request.POST.get("token"))
        if payload is None:
            self.message_user(
                request, "This preview was applied already or has expired; upload the file again.", messages.ERROR
            )
            return HttpResponseRedirect(_url(self, "import"))
        stock_import = _replan(payload, request.user)
        try:
            applied = imports.apply_stock_import(stock_import, previewed=payload["figures"], actor=request.user)
        except imports.StalePreview as stale:
            fresh = _replan(payload, request.user)
            if not fresh.is_valid:
                return self._upload_page(request, StockImportForm(), problems=fresh.problems, name=payload["name"])
            return self._preview_page(request, fresh, stale=stale)
        except imports.StockImportRefused as refused:
            return self._upload_page(request, StockImportForm(), problems=refused.problems, name=payload["name"])
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return self._preview_page(request, stock_import)
        self.message_user(request, _applied_message(applied, payload["name"]), messages.SUCCESS)
        for line in _recounted_messages(applied):
            self.message_user(request, line, messages.WARNING)
        if applied.movements:
            movements = reverse("admin:inventory_stockmovement_changelist")
            return HttpResponseRedirect(f"{movements}?{urlencode({'operation_id': applied.operation_id})}")
        return HttpResponseRedirect(_url(self, "changelist"))

    def _upload_page(self, request, form, *, problems=(), name=""):
        context = {
            **_page_context(self, request, title="Import stock counts or adjustments (CSV)", form=form),
            "problems": problems,
            "file_name": name,
            "warehouses": manageable_by(Warehouse, request.user, ADJUST_STOCK).order_by("code").only("code", "name"),
            "max_rows": imports.MAX_IMPORT_ROWS,
            "columns": imports.COLUMNS,
        }
        return TemplateResponse(request, "admin/inventory/bulk/stock_import.html", context)

    def _preview_page(self, request, stock_import: imports.StockImport, *, stale: imports.StalePreview | None = None):
        moved = {item["line"] for item in stale.details} if stale else set()
        context = {
            **_page_context(self, request, title=f"Preview: {stock_import.file.name or 'stock file'}"),
            "stock_import": stock_import,
            "token": _store_preview(request.user, stock_import),
            "stale": stale,
            "moved_lines": moved,
        }
        return TemplateResponse(request, "admin/inventory/bulk/stock_import_preview.html", context)

    def count_sheet_view(self, request):
        """A CSV to count into: the warehouse's SKUs with set_on_hand empty (just the header without one)."""
        self._require_import_permission(request)
        code = request.GET.get("warehouse", "")
        levels = manageable_by(selectors.stock_levels(), request.user, ADJUST_STOCK)
        levels = levels.filter(warehouse__code=code) if code else levels.none()
        if code and not manageable_by(Warehouse, request.user, ADJUST_STOCK).filter(code=code).exists():
            raise Http404("No such warehouse.")
        chunks = exports.csv_chunks(imports.COUNT_SHEET_COLUMNS, imports.count_sheet_rows(levels), bom=True)
        return exports.streaming_download(chunks, fmt="csv", name=f"count-sheet-{code or 'template'}.csv")


def _applied_message(applied: imports.AppliedImport, name: str) -> str:
    changed = len(applied.movements)
    units_in = sum(m.quantity for m in applied.movements if m.quantity > 0)
    units_out = -sum(m.quantity for m in applied.movements if m.quantity < 0)
    text = (
        f"Applied {name or 'the file'}: {changed} level(s) changed in one operation (+{units_in} / -{units_out} units)."
    )
    matching = len(applied.lines) - changed
    if matching:
        text += f" {matching} count(s) matched what was on hand and booked nothing."
    return text


def _recounted_messages(applied: imports.AppliedImport) -> list[str]:
    if not applied.recounted:
        return []
    moved = "; ".join(
        f"line {item['line']}: {item['sku']} at {item['warehouse']} was {item['previewed']}, then {item['on_hand']}"
        for item in applied.recounted[:20]
    )
    more = f" and {len(applied.recounted) - 20} more" if len(applied.recounted) > 20 else ""
    return [
        f"{len(applied.recounted)} counted level(s) moved after the preview; the counts were booked against "
        f"the figures at the time of applying ({moved}{more})."
    ]


# --- Rules of many listings -----------------------------------------------------------------------


class ListingRulesForm(forms.Form):
    """New rules for many listings; an empty field leaves each listing's own."""

    buffer = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=services.MAX_ON_HAND,
        help_text="Units kept back from the channel. Empty: leave each listing's own.",
    )
    allocation_percent = forms.IntegerField(
        label="Allocation percent",
        required=False,
        min_value=0,
        max_value=100,
        help_text="Share of the pool (after the buffer) the channel may sell, 0 to 100. Empty: leave as is.",
    )
    max_quantity = forms.IntegerField(
        label="Cap (max quantity)",
        required=False,
        min_value=0,
        max_value=services.MAX_ON_HAND,
        help_text="Never show the channel more than this. Empty: leave each listing's own.",
    )
    clear_cap = forms.BooleanField(label="Remove the cap", required=False)
    enabled = forms.ChoiceField(
        label="Enabled",
        required=False,
        choices=[("", "Leave as it is"), ("on", "Enable"), ("off", "Disable")],
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear_cap") and cleaned.get("max_quantity") is not None:
            self.add_error("max_quantity", "Set a cap or remove it, not both.")
        if not self.errors and not self.rules():
            raise ValidationError("Give at least one rule to change.")
        return cleaned

    def rules(self) -> dict:
        data, rules = self.cleaned_data, {}
        for name in ("buffer", "allocation_percent", "max_quantity"):
            if data.get(name) is not None:
                rules[name] = data[name]
        if data.get("clear_cap"):
            rules["max_quantity"] = None
        if data.get("enabled"):
            rules["enabled"] = data["enabled"] == "on"
        return rules


def _describe_rules(rules: dict) -> str:
    parts = []
    if "buffer" in rules:
        parts.append(f"buffer {rules['buffer']}")
    if "allocation_percent" in rules:
        parts.append(f"allocation {rules['allocation_percent']}%")
    if "max_quantity" in rules:
        parts.append("no cap" if rules["max_quantity"] is None else f"cap {rules['max_quantity']}")
    if "enabled" in rules:
        parts.append("enabled" if rules["enabled"] else "disabled")
    return ", ".join(parts)


def _error_messages(error) -> list[str]:
    if isinstance(error, ValidationError):
        return [f"{name}: {message}" if name != "__all__" else message for name, message in _flatten(error)]
    return [error.message]


def _flatten(error: ValidationError):
    if hasattr(error, "error_dict"):
        for name, errors in error.message_dict.items():
            for message in errors:
                yield name, message
    else:
        for message in error.messages:
            yield "__all__", message


class ListingBulkMixin(ExportMixin):
    """Listings: exports, and one set of rules for many listings at once."""

    export_kind = "listings"
    bulk_actions = ("change_listing_rules", *ExportMixin.bulk_actions)
    action_permissions = {**ExportMixin.action_permissions, "change_exposure_rules": CHANGE_EXPOSURE_RULES}

    def has_change_exposure_rules_permission(self, request) -> bool:
        return request.user.has_perm(CHANGE_EXPOSURE_RULES)

    def rows_for_action(self, request, queryset, name: str):
        # The rules of a listing selling another organization's stock are that organization's to set.
        if name == "change_exposure_rules":
            return listings_ruled_by(queryset, request.user)
        return super().rows_for_action(request, queryset, name)

    @admin.action(description="Change rules of selected listings…", permissions=["change_exposure_rules"])
    def change_listing_rules(self, request, queryset):
        listings = list(queryset.select_related("channel", "variant").order_by("channel__code", "variant__sku", "pk"))
        form = ListingRulesForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            rules = form.rules()
            try:
                result = services.update_rules_of_listings([listing.pk for listing in listings], rules)
            except (ValidationError, DomainError) as error:
                form.add_error(None, ["Nothing was changed.", *_error_messages(error)])
            else:
                for listing, names in result.changed:
                    labels = [str(ChannelListing._meta.get_field(name).verbose_name) for name in names]
                    self.log_change(request, listing, [{"changed": {"fields": labels}}])
                self.message_user(request, _rules_message(result, rules), messages.SUCCESS)
                return None
        shown = listings[:SHOWN_ROWS]
        availability = {
            entry.rules.listing_id: entry
            for entry in selectors.listing_availability(
                ChannelListing.objects.filter(pk__in=[listing.pk for listing in shown])
            )
        }
        context = {
            **_page_context(self, request, title="Change rules of selected listings", form=form),
            "listings": [(listing, availability.get(listing.pk)) for listing in shown],
            "listing_count": len(listings),
            "more": max(0, len(listings) - SHOWN_ROWS),
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/inventory/bulk/listing_rules.html", context)


def _rules_message(result: services.RulesChanged, rules: dict) -> str:
    text = f"Set {_describe_rules(rules)} on {len(result.changed)} listing(s)."
    if result.unchanged:
        text += f" {result.unchanged} already had these rules."
    if result.became_unsellable:
        text += f" {result.became_unsellable} became unsellable."
    if result.became_sellable:
        text += f" {result.became_sellable} became sellable."
    return text
