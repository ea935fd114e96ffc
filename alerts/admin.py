from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from alerts import services
from alerts.models import Alert, AlertRule, Severity
from inventory.admin_bulk import AlertExportMixin
from inventory.admin_display import short_time, with_detail
from inventory.admin_scoping import ScopedModelAdmin
from inventory.scoping import visible_to

SEVERITY_COLOURS = {
    Severity.CRITICAL: "#b91c1c",
    Severity.HIGH: "#ea580c",
    Severity.MEDIUM: "#ca8a04",
    Severity.LOW: "#2563eb",
}


class AlertActionForm(ActionForm):
    note = forms.CharField(required=False, max_length=2000, label="Note", help_text="Kept with each alert.")


@admin.register(Alert)
class AlertAdmin(AlertExportMixin, ScopedModelAdmin):
    """The manager's list: most recent first, coloured by severity, worked in bulk with a note."""

    list_display = ["severity_badge", "kind", "subject_and_message", "status", "count", "last_seen_at"]
    list_display_links = ["kind"]
    list_filter = [
        "status",
        "severity",
        "kind",
        ("channel", admin.RelatedOnlyFieldListFilter),
        ("warehouse", admin.RelatedOnlyFieldListFilter),
        ("account", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["subject_label", "message", "variant__sku", "note"]
    list_select_related = ["variant", "warehouse", "channel", "account"]
    date_hierarchy = "last_seen"
    action_form = AlertActionForm
    actions = ["acknowledge_selected", "resolve_selected", *AlertExportMixin.bulk_actions]
    readonly_fields = [
        "kind",
        "severity",
        "status",
        "subject_link",
        "message",
        "context",
        "count",
        "first_seen",
        "last_seen",
        "raised_by",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_by",
        "resolved_at",
        "last_notified_at",
    ]
    fields = [*readonly_fields, "note"]

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, alert):
        return format_html(
            '<span style="background:{};color:#fff;padding:2px 8px;border-radius:9px;font-weight:600">{}</span>',
            SEVERITY_COLOURS.get(alert.severity, "#555"),
            alert.get_severity_display(),
        )

    def get_object(self, request, object_id, from_field=None):
        alert = super().get_object(request, object_id, from_field)
        if alert is not None and alert.rule_id is not None:  # its rule may be another organization's
            alert.rule_shown = visible_to(AlertRule.objects.filter(pk=alert.rule_id), request.user).first()
        return alert

    @admin.display(description="rule")
    def raised_by(self, alert):
        if alert.rule_id is None:
            return "-"
        rule = getattr(alert, "rule_shown", None)
        if rule is None:
            return "another organization's or the platform's rule"
        return format_html('<a href="{}">{}</a>', reverse("admin:alerts_alertrule_change", args=[rule.pk]), rule)

    @admin.display(description="alert", ordering="subject_label")
    def subject_and_message(self, alert):
        return with_detail(self.subject_link(alert), alert.message)

    @admin.display(description="last seen", ordering="last_seen")
    def last_seen_at(self, alert):
        return short_time(alert.last_seen)

    @admin.display(description="subject", ordering="subject_label")
    def subject_link(self, alert):
        target = alert.variant or alert.account or alert.channel or alert.warehouse
        if target is None:
            return alert.subject_label
        try:
            url = reverse(f"admin:{target._meta.app_label}_{target._meta.model_name}_change", args=[target.pk])
        except NoReverseMatch:
            return alert.subject_label
        return format_html('<a href="{}">{}</a>', url, alert.subject_label)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_acknowledge_permission(self, request):
        return request.user.has_perm("alerts.acknowledge_alert")

    def has_resolve_permission(self, request):
        return request.user.has_perm("alerts.resolve_alert")

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge_selected(self, request, queryset):
        done = services.acknowledge(queryset, user=request.user, note=request.POST.get("note", ""))
        self.message_user(request, f"Acknowledged {done} alert(s).", messages.SUCCESS)

    @admin.action(description="Resolve selected alerts", permissions=["resolve"])
    def resolve_selected(self, request, queryset):
        done = services.resolve(queryset, user=request.user, note=request.POST.get("note", ""))
        self.message_user(request, f"Resolved {done} alert(s).", messages.SUCCESS)


class AlertRuleForm(forms.ModelForm):
    webhook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signs webhook notifications (Stockpool-Signature). Blank keeps the stored one.",
    )
    webhook_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", help_text="POSTed a signed JSON alert."
    )

    class Meta:
        model = AlertRule
        fields = [
            "organization",
            "name",
            "kind",
            "scope",
            "warehouse",
            "channel",
            "variant",
            "threshold",
            "window_minutes",
            "severity",
            "enabled",
            "email_recipients",
            "webhook_url",
            "digest",
            "throttle_minutes",
        ]

    def save(self, commit=True):
        if self.cleaned_data.get("webhook_secret"):
            self.instance.webhook_secret = self.cleaned_data["webhook_secret"]
        return super().save(commit)


@admin.register(AlertRule)
class AlertRuleAdmin(ScopedModelAdmin):
    """Staff make rules for their organizations (where their role may); platform rules are the superusers'."""

    form = AlertRuleForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "organization",
        "kind",
        "scope",
        "threshold",
        "window_minutes",
        "severity",
        "enabled",
        "digest",
    ]
    list_filter = ["organization", "kind", "scope", "severity", "enabled"]
    list_editable = ["enabled"]
    search_fields = ["name"]
    autocomplete_fields = ["variant"]
    seen_choice_fields = ("channel",)  # a supplier's rule may watch a reseller's channel drawing on its stock
    list_select_related = ["organization", "warehouse", "channel", "variant"]

    def get_form(self, request, obj=None, **kwargs):
        """Only a superuser leaves the organization empty (a platform rule)."""
        form = super().get_form(request, obj, **kwargs)
        organization = form.base_fields.get("organization")
        if organization is not None and not request.user.is_superuser:
            organization.required, organization.empty_label = True, None
        return form
