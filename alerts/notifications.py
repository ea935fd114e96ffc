"""Telling people: an email and a signed webhook per rule, throttled per subject, or a daily digest.

A level that flaps (low, fine, low again) raises a new alert each time; the throttle is per
(kind, subject), so its people hear once per ``throttle_minutes``, not once per flap.
"""

import json
import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, AlertRule
from connectors.signing import HEADER, sign

logger = logging.getLogger(__name__)

TIMEOUT = (3.0, 10.0)


def notify(alert_ids: list[int]) -> None:
    """Queue the notifications of newly raised alerts, one task for them all (called after the raising commit)."""
    from alerts.tasks import notify_alerts_task

    if not alert_ids:
        return
    try:
        notify_alerts_task.delay(list(alert_ids))
    except Exception:  # the alerts stand in the admin; a broker hiccup must not fail the evaluation
        logger.warning("Could not queue the notifications of %s alert(s).", len(alert_ids), exc_info=True)


def claim(alert_id: int) -> Alert | None:
    """The alert, if it is to be notified now: its rule notifies singly and nothing on its subject did lately."""
    now = timezone.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update(of=("self",)).select_related("rule").filter(pk=alert_id).first()
        if alert is None or alert.rule is None or alert.rule.digest or alert.last_notified_at is not None:
            return None
        recently = Alert.objects.filter(
            kind=alert.kind,
            subject=alert.subject,
            last_notified_at__gte=now - timedelta(minutes=alert.rule.throttle_minutes),
        )
        if recently.exists():
            return None
        alert.last_notified_at = now
        alert.save(update_fields=["last_notified_at"])
    return alert


def send_emails(alerts: list[Alert]) -> None:
    """One email per rule: an alert on its own, or the list when one evaluation raised several at once."""
    by_rule: dict[int, list[Alert]] = {}
    for alert in alerts:
        by_rule.setdefault(alert.rule_id, []).append(alert)
    for raised in by_rule.values():
        rule, first = raised[0].rule, raised[0]
        if not rule.recipients:
            continue
        if len(raised) == 1:
            subject = f"[Stockpool {first.get_severity_display()}] {first.get_kind_display()}: {first.subject_label}"
            body = f"{first.message}\n\nFirst seen {first.first_seen:%Y-%m-%d %H:%M} UTC.\n{admin_link(first)}\n"
        else:
            subject = f"[Stockpool {first.get_severity_display()}] {first.get_kind_display()}: {len(raised)} alerts"
            lines = "\n".join(f"- {a.subject_label}: {a.message} {admin_link(a)}" for a in raised)
            body = f"{lines}\n"
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, rule.recipients)


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
    """One message per digest rule with the alerts it raised since its last digest."""
    sent = 0
    for rule in AlertRule.objects.filter(digest=True):
        with transaction.atomic():
            alerts = list(
                Alert.objects.select_for_update().filter(rule=rule, digest_pending=True).order_by("first_seen")
            )
            if not alerts:
                continue
            Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(
                digest_pending=False, last_notified_at=timezone.now()
            )
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
