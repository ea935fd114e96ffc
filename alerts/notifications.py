"""Telling people: an email and signed webhooks per rule, throttled per subject, or a daily digest.

Who hears of a newly raised alert:

* the rule that raised it: a platform rule's recipients are the platform's operators, an
  organization's narrowed rule's are that organization's;
* every enabled subscription of its kind (an organization's rule over everything) whose
  organization's staff see it.

A rule is only ever told what its organization sees (a platform rule sees everything): every email,
webhook and digest takes its alerts through ``addressed_to``, the one place that boundary is drawn.

A level that flaps (low, fine, low again) raises a new alert each time; the throttle is per
(kind, subject), with the raising rule's ``throttle_minutes``, so people hear once per throttle, not
once per flap. A digest rule hears nothing singly: once a day it gets the alerts it raised since its
last digest or, a subscription, those of its kind its organization saw since then.
"""

import json
import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from alerts.models import DEFAULT_THROTTLE_MINUTES, Alert, AlertRule
from connectors.signing import HEADER, sign
from inventory.scoping import visible_to_organizations

logger = logging.getLogger(__name__)

TIMEOUT = (3.0, 10.0)
#: A subscription's digest leaves out the alerts of the last few minutes for the next one: an
#: evaluation still committing may hold alerts first seen before the digest looked.
DIGEST_SETTLE = timedelta(minutes=5)


def notify(alert_ids: list[int]) -> None:
    """Queue the notifications of newly raised alerts, one task for them all (called after the raising commit)."""
    from alerts.tasks import notify_alerts_task

    if not alert_ids:
        return
    try:
        notify_alerts_task.delay(list(alert_ids))
    except Exception:  # the alerts stand in the admin; a broker hiccup must not fail the evaluation
        logger.warning("Could not queue the notifications of %s alert(s).", len(alert_ids), exc_info=True)


def addressed_to(rule: AlertRule, alerts):
    """``alerts`` (a queryset) narrowed to what ``rule`` may be told of: what its organization's staff see,
    everything for a platform rule. Every notification goes through here."""
    if rule.organization_id is None:
        return alerts
    return visible_to_organizations(alerts, [rule.organization_id])


def claim(alert_ids: list[int]) -> dict[AlertRule, list[Alert]]:
    """Which rules to tell now of which of the newly raised ``alert_ids``.

    An alert is claimed once (``last_notified_at``), and only if a rule is to hear of it singly and
    nothing on its (kind, subject) was told within its raising rule's throttle; a second worker given
    the same ids claims nothing.
    """
    audience = _audience(Alert.objects.filter(pk__in=alert_ids, last_notified_at__isnull=True))
    wanted = sorted(set().union(*audience.values()))
    claimed = {alert.pk: alert for alert in map(_stamp, wanted) if alert is not None}
    told = {rule: [claimed[pk] for pk in sorted(ids) if pk in claimed] for rule, ids in audience.items()}
    return {rule: alerts for rule, alerts in told.items() if alerts}


def _about(rule: AlertRule) -> Q:
    """The alerts ``rule`` hears of: those it raised and, a subscription, every one of its kind."""
    return Q(rule=rule) | Q(kind=rule.kind) if rule.is_subscription else Q(rule=rule)


def _audience(alerts) -> dict[AlertRule, set[int]]:
    """The rules that hear of ``alerts`` singly, each with the ids of those it may be told of."""
    rules = AlertRule.objects.filter(digest=False).filter(
        Q(pk__in=alerts.values("rule_id"))
        | Q(pk__in=AlertRule.objects.subscriptions().filter(enabled=True, kind__in=alerts.values("kind")))
    )
    audience = {}
    for rule in rules.order_by("pk"):
        ids = set(addressed_to(rule, alerts.filter(_about(rule))).values_list("pk", flat=True))
        if ids:
            audience[rule] = ids
    return audience


def _stamp(alert_id: int) -> Alert | None:
    """The alert, marked notified, unless it was or something on its subject was within the throttle."""
    now = timezone.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update(of=("self",)).select_related("rule").filter(pk=alert_id).first()
        if alert is None or alert.last_notified_at is not None:
            return None
        throttle = alert.rule.throttle_minutes if alert.rule else DEFAULT_THROTTLE_MINUTES
        recently = Alert.objects.filter(
            kind=alert.kind, subject=alert.subject, last_notified_at__gte=now - timedelta(minutes=throttle)
        )
        if recently.exists():
            return None
        alert.last_notified_at = now
        alert.save(update_fields=["last_notified_at"])
    return alert


def send_email(rule: AlertRule, alerts: list[Alert]) -> None:
    """One email to the rule's recipients: an alert on its own, or the list when several came at once."""
    if not rule.recipients:
        return
    first = alerts[0]
    if len(alerts) == 1:
        subject = f"[Stockpool {first.get_severity_display()}] {first.get_kind_display()}: {first.subject_label}"
        body = f"{first.message}\n\nFirst seen {first.first_seen:%Y-%m-%d %H:%M} UTC.\n{admin_link(first)}\n"
    else:
        subject = f"[Stockpool {first.get_severity_display()}] {first.get_kind_display()}: {len(alerts)} alerts"
        body = "\n".join(f"- {a.subject_label}: {a.message} {admin_link(a)}" for a in alerts) + "\n"
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, rule.recipients)


def post_raised(alert_id: int, rule_id: int) -> None:
    """POST a raised alert to the rule's webhook if the rule may still be told of it; raises on failure."""
    rule = AlertRule.objects.filter(pk=rule_id).exclude(webhook_url="").first()
    if rule is None:
        return
    alert = addressed_to(rule, Alert.objects.filter(pk=alert_id)).first()
    if alert is not None:
        post_webhook(rule, {"type": "alert.raised", "alert": as_event(alert)})


def post_webhook(rule: AlertRule, body: dict) -> None:
    """POST ``body`` signed with the rule's secret; raises on failure so the task retries."""
    raw = json.dumps(body, separators=(",", ":"), default=str).encode()
    response = requests.post(
        rule.webhook_url,
        data=raw,
        headers={"Content-Type": "application/json", HEADER: sign(rule.webhook_secret, raw)},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    response.raise_for_status()


def as_event(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "subject": alert.subject,
        "subject_label": alert.subject_label,
        "status": alert.status,
        "message": alert.message,
        "first_seen": alert.first_seen.isoformat(),
        "count": alert.count,
        "context": alert.context,
        "url": admin_link(alert),
    }


def admin_link(alert: Alert) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("admin:alerts_alert_change", args=[alert.pk])


def send_digests() -> int:
    """One message per digest rule with what it is to hear of since its last digest; how many were sent."""
    sent = 0
    muted = AlertRule.objects.subscriptions().filter(enabled=False)
    rules = AlertRule.objects.filter(digest=True).exclude(pk__in=muted)
    for rule_id in rules.order_by("pk").values_list("pk", flat=True):
        rule, alerts = _collect_digest(rule_id)
        if not alerts:
            continue
        if rule.recipients:
            lines = "\n".join(f"- [{a.get_status_display()}] {a.subject_label}: {a.message}" for a in alerts)
            send_mail(
                f"[Stockpool digest] {rule.name}: {len(alerts)} alert(s)",
                f"{lines}\n\n{settings.SITE_URL.rstrip('/')}{reverse('admin:alerts_alert_changelist')}\n",
                settings.DEFAULT_FROM_EMAIL,
                rule.recipients,
            )
        if rule.webhook_url:
            try:
                post_webhook(rule, {"type": "alert.digest", "alerts": [as_event(a) for a in alerts]})
            except requests.RequestException:
                logger.warning("Could not post the digest of rule %s to its webhook.", rule.pk, exc_info=True)
        sent += 1
    return sent


@transaction.atomic
def _collect_digest(rule_id: int) -> tuple[AlertRule, list[Alert]]:
    """Take the alerts of the rule's next digest, the rule's row locked so that two workers send it once:
    those it raised still pending or, a subscription, those of its kind first seen since its last digest."""
    rule = AlertRule.objects.select_for_update().get(pk=rule_id)
    now = timezone.now()
    if rule.is_subscription:
        until = max(now - DIGEST_SETTLE, rule.digested_until)
        taken = Alert.objects.filter(_about(rule), first_seen__gt=rule.digested_until, first_seen__lte=until)
        rule.digested_until = until
        rule.save(update_fields=["digested_until"])
    else:
        pending = Alert.objects.filter(rule=rule, digest_pending=True).values_list("pk", flat=True)
        taken = Alert.objects.filter(pk__in=list(pending))
        taken.update(digest_pending=False, last_notified_at=now)
    return rule, list(addressed_to(rule, taken).order_by("first_seen", "pk"))
