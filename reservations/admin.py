from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Sum
from django.template.response import TemplateResponse

from inventory.admin_scoping import ReadOnlyModelAdmin, ScopedModelAdmin
from inventory.exceptions import DomainError
from inventory.scoping import visible_to
from reservations import selectors, services
from reservations.models import (
    ChannelActivity,
    ChannelApiKey,
    IdempotencyKey,
    OversellIncident,
    Reservation,
    ReturnLine,
)

#: A channel's own order (a marketplace's) in the channel's terms, by the status of its reservation.
CHANNEL_ORDER_STATES = {
    Reservation.Status.ACTIVE: "pending: units held",
    Reservation.Status.CONSUMED: "sold",
    Reservation.Status.RELEASED: "cancelled",
    Reservation.Status.EXPIRED: "hold lapsed",
}


class ChannelOrderFilter(admin.SimpleListFilter):
    """Orders taken on a marketplace's side (Amazon's, Medusa's) by what became of them; with the channel
    filter, e.g. Amazon's orders still pending."""

    title = "channel's own orders"
    parameter_name = "channel_order"

    def lookups(self, request, model_admin):
        return list(CHANNEL_ORDER_STATES.items())

    def queryset(self, request, queryset):
        if self.value() in CHANNEL_ORDER_STATES:
            return queryset.filter(kind=Reservation.Kind.CHANNEL_ORDER, status=self.value())
        return queryset


@admin.register(Reservation)
class ReservationAdmin(ScopedModelAdmin):
    list_display = ["order_ref", "channel", "kind", "state", "units", "expires_at", "created_at", "closed_at"]
    list_filter = ["status", ChannelOrderFilter, "kind", "channel"]
    search_fields = ["order_ref", "invoice_number", "customer_name", "lines__variant__sku"]
    list_select_related = ["channel"]
    date_hierarchy = "created_at"
    actions = ["release_selected"]
    readonly_fields = [
        "id",
        "channel",
        "order_ref",
        "kind",
        "status",
        "expires_at",
        "release_reason",
        "invoice_number",
        "customer_name",
        "created_at",
        "updated_at",
        "closed_at",
    ]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(total_units=Sum("lines__quantity"))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Its lines, by SKU and warehouse, to read: nothing on a reservation is edited in a form.
        if obj is not None:
            lines = obj.lines.select_related("variant__product", "warehouse").order_by("pk")
            context["lines"] = visible_to(lines, request.user, "reservations.view_reservationline")
            returned = ReturnLine.objects.filter(sale_return__reservation=obj).select_related(
                "sale_return", "sold_line__variant", "sold_line__warehouse"
            )
            context["returned"] = visible_to(returned, request.user, "reservations.view_returnline").order_by(
                "sale_return__created_at", "pk"
            )
            context["incidents"] = obj.oversell_incidents.select_related("variant")
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="units", ordering="total_units")
    def units(self, reservation):
        return reservation.total_units

    @admin.display(description="status", ordering="status")
    def state(self, reservation):
        """A channel's own order reads in its channel's terms (pending, sold, cancelled); the others as they are."""
        if reservation.kind == Reservation.Kind.CHANNEL_ORDER:
            return CHANNEL_ORDER_STATES[reservation.status]
        return reservation.get_status_display()

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Release selected active reservations", permissions=["change"])
    def release_selected(self, request, queryset):
        released = 0
        for reservation in queryset.filter(status=Reservation.Status.ACTIVE).select_related("channel"):
            try:
                services.release(
                    channel=reservation.channel,
                    reservation_id=reservation.pk,
                    reason=f"released in the admin by {request.user.get_username()}",
                )
                released += 1
            except DomainError as error:
                self.message_user(request, f"{reservation}: {error.message}", messages.ERROR)
        self.message_user(request, f"Released {released} reservation(s); their stock is back in the pool.")


@admin.register(OversellIncident)
class OversellIncidentAdmin(ScopedModelAdmin):
    """Orders a channel took on its own side for units we no longer had: what a manager must source or
    have the channel cancel. Settled ones are kept, marked resolved."""

    list_display = ["reservation", "channel", "sku", "quantity", "created_at", "resolved_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["reservation__order_ref", "variant__sku"]
    list_select_related = ["reservation__channel", "variant"]
    actions = ["resolve_selected"]
    fields = readonly_fields = ["reservation", "variant", "quantity", "created_at", "resolved_at"]
    action_permissions = {"resolve": "reservations.change_oversellincident"}

    @admin.display(description="channel", ordering="reservation__channel__code")
    def channel(self, incident):
        return incident.reservation.channel.code

    @admin.display(description="SKU", ordering="variant__sku")
    def sku(self, incident):
        return incident.variant.sku

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resolve_permission(self, request):
        return request.user.has_perm("reservations.change_oversellincident")

    @admin.action(
        description="Mark selected incidents resolved (units sourced or order cancelled)", permissions=["resolve"]
    )
    def resolve_selected(self, request, queryset):
        done = services.resolve_oversell_incidents(queryset)
        self.message_user(request, f"Resolved {done} incident(s).", messages.SUCCESS)


@admin.register(ChannelApiKey)
class ChannelApiKeyAdmin(ScopedModelAdmin):
    list_display = ["name", "channel", "prefix", "created_at", "created_by", "revoked_at"]
    list_filter = ["channel", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "channel__code"]
    list_select_related = ["channel", "created_by"]
    actions = ["revoke_selected"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["channel", "name"]
        return ["channel", "name", "prefix", "created_at", "created_by", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["channel", "prefix", "created_at", "created_by", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        obj.created_by = request.user
        request._issued_api_key = services.issue_api_key(obj)

    def response_add(self, request, obj, post_url_continue=None):
        context = {**self.admin_site.each_context(request), "record": obj, "key": request._issued_api_key}
        return TemplateResponse(request, "admin/reservations/channelapikey/created.html", context)

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = services.revoke_api_keys(queryset)
        self.message_user(request, f"Revoked {revoked} key(s); clients using them are refused from now on.")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ScopedModelAdmin):
    """Read-only: what a channel's retried requests were answered, for support."""

    list_display = ["key", "channel", "state", "response_status", "created_at", "completed_at"]
    list_filter = ["state", "channel"]
    search_fields = ["key"]
    list_select_related = ["channel"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChannelActivity)
class ChannelActivityAdmin(ReadOnlyModelAdmin):
    """Each channel the user sees, by its figures: for a supplier, what other organizations' channels hold,
    sold and were refused on its stock, without their orders."""

    list_display = ["code", "name", "organization", "kind", "active", "holds", "units_held", "units_sold", "refused"]
    list_filter = ["kind", "active", "organization"]
    list_select_related = ["organization"]
    search_fields = ["code", "name"]
    fields = ["code", "name", "organization", "kind", "active", "holds", "units_held", "units_sold", "refused"]
    readonly_fields = fields

    def get_changelist(self, request, **kwargs):
        return _ChannelActivityChangeList

    def get_object(self, request, object_id, from_field=None):
        channel = super().get_object(request, object_id, from_field)
        if channel is not None:  # the change page: one channel's figures, as the viewer counts them
            channel.figures = selectors.channel_figures([channel.pk], request.user)[channel.pk]
        return channel

    @admin.display(description="active holds")
    def holds(self, channel):
        return channel.figures.holds

    @admin.display(description="units held")
    def units_held(self, channel):
        return channel.figures.units_held

    @admin.display(description=f"units sold ({selectors.SOLD_OVER.days} days)")
    def units_sold(self, channel):
        return channel.figures.units_sold

    @admin.display(description=f"refused ({int(selectors.REFUSED_OVER.total_seconds() // 3600)} h)")
    def refused(self, channel):
        return channel.figures.refused


class _ChannelActivityChangeList(ChangeList):
    """The page's figures in three queries, not three per row."""

    def get_results(self, request):
        super().get_results(request)
        figures = selectors.channel_figures([channel.pk for channel in self.result_list], request.user)
        for channel in self.result_list:
            channel.figures = figures[channel.pk]
