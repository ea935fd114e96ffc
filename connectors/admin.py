from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from connectors import crypto, outbox, services, sync, webhooks
from connectors.models import (
    REQUIRED_CREDENTIALS,
    ChannelWebhook,
    ConnectorAccount,
    ExternalRef,
    OutboundMessage,
    SyncConflict,
    SyncJob,
    WebhookEvent,
)
from inventory.admin_display import short_time, with_detail
from inventory.admin_scoping import ReadOnlyModelAdmin, ScopedModelAdmin

CREDENTIAL_FIELDS = sorted({name for names in REQUIRED_CREDENTIALS.values() for name in names})


def _secret_field(label: str) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=forms.PasswordInput(render_value=False))


class ConnectorAccountForm(forms.ModelForm):
    """Secrets are write-only: blank keeps what is stored, and nothing stored is ever sent back to the page."""

    api_base_url = forms.URLField(
        max_length=300, required=False, assume_scheme="https", help_text="Blank: the partner's real API."
    )
    auth_base_url = forms.URLField(
        max_length=300, required=False, assume_scheme="https", help_text="Blank: the partner's real OAuth server."
    )
    webhook_secret = _secret_field("Webhook secret")
    # One write-only field per credential any partner kind needs (REQUIRED_CREDENTIALS).
    credential_account_id = _secret_field("Account id (Cin7)")
    credential_application_key = _secret_field("Application key (Cin7)")
    credential_client_id = _secret_field("Client id (Zoho, Amazon)")
    credential_client_secret = _secret_field("Client secret (Zoho, Amazon)")
    credential_refresh_token = _secret_field("Refresh token (Zoho, Amazon)")
    credential_secret_key = _secret_field("Secret API key (Medusa)")

    class Meta:
        model = ConnectorAccount
        fields = [
            "name",
            "kind",
            "organization",
            "warehouse",
            "channel",
            "enabled",
            "api_base_url",
            "auth_base_url",
            "settings",
            "conflict_strategy",
            "priority",
            "incremental_sync_minutes",
            "full_sync_hour",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.credentials if self.instance.pk else {}
        for name in CREDENTIAL_FIELDS:
            masked = crypto.mask(stored.get(name, ""))
            self.fields[f"credential_{name}"].help_text = f"Stored: {masked}. Blank keeps it." if masked else "Not set."
        if self.instance.webhook_secret_encrypted:
            self.fields["webhook_secret"].help_text = "Stored. Blank keeps it."

    def credentials(self) -> dict:
        return {name: self.cleaned_data.get(f"credential_{name}", "") for name in CREDENTIAL_FIELDS}


@admin.register(ConnectorAccount)
class ConnectorAccountAdmin(ScopedModelAdmin):
    shown_with = ConnectorAccount
    action_permissions = {"run_sync": "connectors.run_sync"}
    form = ConnectorAccountForm
    list_display = [
        "name_and_organization",
        "kind",
        "warehouse_code",
        "enabled",
        "health",
        "circuit_state",
        "last_success",
    ]
    list_filter = ["kind", "enabled", "circuit_state"]
    search_fields = ["name"]
    list_select_related = ["organization", "warehouse"]
    readonly_fields = [
        "last_success_at",
        "last_failure_at",
        "last_error",
        "circuit_state",
        "circuit_changed_at",
        "sync_cursor",
        "created_at",
    ]
    actions = ["test_connection", "sync_incremental", "sync_full", "reconcile_now"]
    #: The list actions an account's own page offers as buttons, in their order there.
    page_actions = {"test_connection": "Test connection", "sync_incremental": "Sync now", "sync_full": "Full sync"}

    def get_fieldsets(self, request, obj=None):
        credential_fields = [f"credential_{name}" for name in CREDENTIAL_FIELDS]
        return [
            (None, {"fields": ["name", "kind", "organization", "warehouse", "channel", "enabled"]}),
            ("Partner", {"fields": ["api_base_url", "auth_base_url", "settings"]}),
            (
                "Secrets (encrypted at rest, never shown)",
                # Who may only look sees which secrets are stored, not empty password boxes.
                {
                    "fields": [*credential_fields, "webhook_secret"]
                    if self.has_change_permission(request, obj)
                    else ["stored_secrets"]
                },
            ),
            ("Sync", {"fields": ["conflict_strategy", "priority", "incremental_sync_minutes", "full_sync_hour"]}),
            ("Health", {"fields": self.readonly_fields}),
        ]

    def save_model(self, request, obj, form, change):
        services.save_account(obj, credentials=form.credentials(), webhook_secret=form.cleaned_data["webhook_secret"])

    @admin.display(description="stored secrets")
    def stored_secrets(self, account):
        missing = set(account.missing_credentials)
        stored = [
            f"{name}: {'missing' if name in missing else 'set'}" for name in REQUIRED_CREDENTIALS.get(account.kind, ())
        ]
        stored.append(f"webhook secret: {'set' if account.webhook_secret_encrypted else 'none'}")
        return "; ".join(stored)

    @admin.display(description="name", ordering="name")
    def name_and_organization(self, account):
        return with_detail(account.name, account.organization)

    @admin.display(description="warehouse", ordering="warehouse__code")
    def warehouse_code(self, account):
        if account.warehouse is None:
            return "-"
        return format_html('<span title="{}">{}</span>', account.warehouse.name, account.warehouse.code)

    @admin.display(description="last success", ordering="last_success_at")
    def last_success(self, account):
        return short_time(account.last_success_at)

    @admin.display(description="health")
    def health(self, account):
        if account.last_error:
            return format_html('<span style="color:#ba2121" title="{}">failing</span>', account.last_error)
        return "ok" if account.last_success_at else "never synced"

    @admin.action(description="Test connection", permissions=["run_sync"])
    def test_connection(self, request, queryset):
        for account in queryset:
            ok, text = services.test_connection(account)
            self.message_user(request, f"{account}: {text}", messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Sync now (incremental)", permissions=["run_sync"])
    def sync_incremental(self, request, queryset):
        self._start(request, queryset, SyncJob.Kind.INCREMENTAL)

    @admin.action(description="Sync now (full)", permissions=["run_sync"])
    def sync_full(self, request, queryset):
        self._start(request, queryset, SyncJob.Kind.FULL)

    def _start(self, request, queryset, kind):
        for account in queryset:
            if not account.enabled:
                self.message_user(request, f"{account}: disabled, no sync started.", messages.WARNING)
                continue
            job, created = sync.start_sync(account, kind, started_by=request.user)
            verb = "started" if created else "already running"
            self.message_user(request, f"{account}: {job.get_kind_display()} {verb} (job {job.pk}).")

    @admin.action(description="Reconcile now (full read and ledger check)", permissions=["run_sync"])
    def reconcile_now(self, request, queryset):
        from connectors.tasks import reconcile_task

        reconcile_task.delay(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, "Reconciliation queued; its sync jobs show progress and corrections.")

    def has_run_sync_permission(self, request):
        return request.user.has_perm("connectors.run_sync")

    def get_urls(self):
        run = self.admin_site.admin_view(self.run_page_action)
        return [
            path("<path:object_id>/run/<str:action>/", run, name="connectors_connectoraccount_run"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["page_actions"] = self._page_actions_for(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _page_actions_for(self, request, account) -> list[tuple[str, str]]:
        """(action, label) of the buttons ``account``'s page offers: the list actions the user may run on it."""
        if account is None:
            return []
        offered = self.get_actions(request)
        allowed = [name for name in self.page_actions if name in offered]
        if not allowed or not self.rows_for_action(request, self._only(request, account), "run_sync").exists():
            return []
        return [(name, self.page_actions[name]) for name in allowed]

    @method_decorator(require_POST)
    def run_page_action(self, request, object_id, action):
        """A button of the account's page: its list action on this one account, checked and run the same way."""
        account = self.get_object(request, unquote(object_id))  # another organization's: 404; beyond the role: 403
        if account is None:
            raise Http404("No such connector account.")
        offered = self.get_actions(request)
        if action not in self.page_actions or action not in offered:
            raise PermissionDenied
        run, _name, _description = offered[action]
        run(self, request, self._only(request, account))
        return HttpResponseRedirect(reverse("admin:connectors_connectoraccount_change", args=[account.pk]))

    def _only(self, request, account):
        return self.get_queryset(request).filter(pk=account.pk)


#: Jobs whose progress can still change: their bars are kept live by connectors/static/connectors/sync_progress.js.
LIVE_STATUSES = (SyncJob.Status.QUEUED, SyncJob.Status.RUNNING)


def sync_progress_widget(job: SyncJob) -> str:
    """A job's progress bar and figure; a queued or running job's carries the API URL the script polls.

    The script (sync_progress.js) reads ``data-sync-url`` and updates the ``<progress>``, the
    ``data-sync-field="label"`` text, any ``data-sync-status-of="<job id>"`` element and every figure
    marked by ``live_figure`` until the job ends.
    """
    percent = job.progress_percent
    if percent is None:
        bar = format_html('<progress></progress> <span data-sync-field="label">{}</span>', job.processed)
    else:
        bar = format_html(
            '<progress max="100" value="{}"></progress> <span data-sync-field="label">{}%</span>', percent, percent
        )
    if job.status not in LIVE_STATUSES:
        return format_html('<span class="sync-progress">{}</span>', bar)
    return format_html(
        '<span class="sync-progress" data-sync-job="{}" data-sync-url="{}">{}</span>',
        job.pk,
        reverse("sync-job-detail", args=[job.pk]),
        bar,
    )


def live_figure(job: SyncJob, field: str, shown) -> str:
    """``shown`` (the job's ``field`` as the page shows it now), kept current by sync_progress.js from the
    job's API answer (``field`` is a key of it) while the job can still change."""
    if job.status not in LIVE_STATUSES:
        return shown
    return format_html('<span data-sync-of="{}" data-sync-field="{}">{}</span>', job.pk, field, shown)


def _or_dash(value):
    return "-" if value is None else value


def _live_field(field: str, description: str, show=_or_dash):
    """A list column or read-only field showing the job's ``field`` (through ``show``), live while the job runs."""

    @admin.display(description=description, ordering=field)
    def display(self, job):
        return live_figure(job, field, show(getattr(job, field)))

    display.__name__ = f"live_{field}"
    return display


@admin.register(SyncJob)
class SyncJobAdmin(ScopedModelAdmin):
    shown_with = ConnectorAccount
    list_display = [
        "id",
        "account_and_kind",
        "status_and_progress",
        "live_processed",
        "live_created_count",
        "live_updated_count",
        "live_unchanged_count",
        "live_failed_count",
        "live_finished_at",
    ]
    list_filter = ["status", "kind", "account"]
    list_select_related = ["account", "started_by"]
    readonly_fields = [
        "account",
        "kind",
        "job_status",
        "progress",
        "live_total",
        "live_processed",
        "live_created_count",
        "live_updated_count",
        "live_unchanged_count",
        "live_failed_count",
        "errors",
        "checkpoint",
        "started_by",
        "created_at",
        "live_started_at",
        "live_finished_at",
        "heartbeat_at",
    ]
    fields = readonly_fields

    class Media:
        js = ["connectors/sync_progress.js"]

    live_total = _live_field("total", "total")
    live_processed = _live_field("processed", "processed")
    live_created_count = _live_field("created_count", "created")
    live_updated_count = _live_field("updated_count", "updated")
    live_unchanged_count = _live_field("unchanged_count", "unchanged")
    live_failed_count = _live_field("failed_count", "failed")
    live_started_at = _live_field("started_at", "started", short_time)
    live_finished_at = _live_field("finished_at", "finished", short_time)

    @admin.display(description="account", ordering="account__name")
    def account_and_kind(self, job):
        return with_detail(job.account.name, job.get_kind_display())

    @admin.display(description="status", ordering="status")
    def job_status(self, job):
        return format_html('<span data-sync-status-of="{}">{}</span>', job.pk, job.get_status_display())

    @admin.display(description="progress")
    def progress(self, job):
        return sync_progress_widget(job)

    @admin.display(description="status", ordering="status")
    def status_and_progress(self, job):
        return format_html('{}<div class="sp-progress-line">{}</div>', self.job_status(job), self.progress(job))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SyncConflict)
class SyncConflictAdmin(ScopedModelAdmin):
    shown_with = ConnectorAccount
    action_permissions = {"resolve_conflict": "connectors.resolve_conflict"}
    list_display = [
        "variant",
        "field",
        "local_value",
        "remote_value",
        "account",
        "strategy",
        "status",
        "resolution",
        "created_at",
    ]
    list_filter = ["status", "field", "account", "strategy"]
    search_fields = ["variant__sku"]
    list_select_related = ["variant", "account"]
    readonly_fields = [
        "account",
        "variant",
        "warehouse",
        "field",
        "local_value",
        "remote_value",
        "strategy",
        "status",
        "resolution",
        "resolved_by",
        "resolved_at",
        "created_at",
    ]
    fields = readonly_fields
    actions = ["take_partner_value", "keep_ours"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_resolve_conflict_permission(self, request):
        return request.user.has_perm("connectors.resolve_conflict")

    @admin.action(description="Resolve: take the partner's value", permissions=["resolve_conflict"])
    def take_partner_value(self, request, queryset):
        self._resolve(request, queryset, take_partner_value=True)

    @admin.action(description="Resolve: keep ours", permissions=["resolve_conflict"])
    def keep_ours(self, request, queryset):
        self._resolve(request, queryset, take_partner_value=False)

    def _resolve(self, request, queryset, *, take_partner_value):
        open_conflicts = list(queryset.filter(status=SyncConflict.Status.OPEN))
        for conflict in open_conflicts:
            services.resolve_conflict(conflict, take_partner_value=take_partner_value, user=request.user)
        self.message_user(request, f"Resolved {len(open_conflicts)} conflict(s).")


class ChannelWebhookForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text=ChannelWebhook._meta.get_field("url").help_text
    )
    events = forms.MultipleChoiceField(
        choices=ChannelWebhook.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=ChannelWebhook.Event.values,
        help_text="Each is POSTed as JSON signed with Stockpool-Signature; see the API docs' webhooks.",
    )

    class Meta:
        model = ChannelWebhook
        fields = ["channel", "url", "events", "enabled"]


@admin.register(ChannelWebhook)
class ChannelWebhookAdmin(ScopedModelAdmin):
    """The signing secret is generated here and shown once, like an API key."""

    form = ChannelWebhookForm
    list_display = ["channel", "url", "enabled", "last_success_at", "last_failure_at", "short_error"]
    list_filter = ["enabled", "channel"]
    search_fields = ["url", "channel__code"]
    list_select_related = ["channel"]
    readonly_fields = ["last_success_at", "last_failure_at", "last_error", "created_at"]
    actions = ["rotate_secret"]

    @admin.display(description="last error")
    def short_error(self, webhook):
        return webhook.last_error[:80]

    def save_model(self, request, obj, form, change):
        secret = services.save_channel_webhook(obj)
        if secret:
            self._show_secret(request, obj, secret)

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(self, request, queryset):
        for webhook in queryset.select_related("channel"):
            self._show_secret(request, webhook, services.rotate_channel_webhook_secret(webhook))

    def _show_secret(self, request, webhook, secret):
        self.message_user(
            request,
            format_html(
                "Signing secret for {}: <code>{}</code>. Copy it now into the receiving system: "
                "it will not be shown again.",
                webhook,
                secret,
            ),
            messages.WARNING,
        )


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyModelAdmin):
    action_permissions = {"retry": "connectors.change_outboundmessage"}
    list_display = ["id", "destination", "kind", "status", "attempts", "next_attempt_at", "delivered_at", "short_error"]
    list_filter = ["status", "kind", "account"]
    search_fields = ["dedupe_key"]
    list_select_related = ["account", "channel_webhook__channel"]
    readonly_fields = [
        "account",
        "channel_webhook",
        "kind",
        "status",
        "dedupe_key",
        "payload",
        "stock_effects",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "delivered_at",
        "last_error",
        "response",
        "created_at",
    ]
    fields = readonly_fields
    actions = ["retry_now"]

    @admin.display(description="last error")
    def short_error(self, message):
        return message.last_error[:80]

    def has_retry_permission(self, request):
        return request.user.has_perm("connectors.change_outboundmessage")

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset):
        retried = outbox.retry(queryset)
        self.message_user(request, f"{retried} message(s) queued for delivery.")


@admin.register(ExternalRef)
class ExternalRefAdmin(ScopedModelAdmin):
    shown_with = ConnectorAccount
    list_display = ["account", "content_type", "object_id", "external_id", "external_code", "last_seen_at"]
    list_filter = ["account", "content_type"]
    search_fields = ["external_id", "external_code"]
    list_select_related = ["account", "content_type"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ScopedModelAdmin):
    shown_with = ConnectorAccount
    action_permissions = {"replay": "connectors.change_webhookevent"}
    list_display = ["received_at", "account", "event_type", "status", "attempts", "short_error"]
    list_filter = ["status", "account", "event_type"]
    search_fields = ["event_id", "event_type"]
    list_select_related = ["account"]
    readonly_fields = [
        "account",
        "event_id",
        "event_type",
        "headers",
        "body",
        "received_at",
        "status",
        "attempts",
        "last_error",
        "processed_at",
    ]
    fields = readonly_fields
    actions = ["replay_failed"]

    @admin.display(description="last error")
    def short_error(self, event):
        return event.last_error[:80]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_replay_permission(self, request):
        return request.user.has_perm("connectors.change_webhookevent")

    @admin.action(description="Replay failed events", permissions=["replay"])
    def replay_failed(self, request, queryset):
        self.message_user(request, f"{webhooks.replay(queryset)} event(s) queued again.")
