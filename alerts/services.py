"""Raising, refreshing and resolving alerts; people acknowledging and resolving them.

``evaluate`` runs detectors and applies what they found: a subject whose condition holds gets
its one active alert (created, or refreshed: last_seen, count, message); an active alert the
detector looked at and found clear resolves itself. The one-active-alert-per-(kind, subject)
rule is the database's (a partial unique index): two workers evaluating at once insert with
ON CONFLICT DO NOTHING, so the second simply finds the first's alert.
"""

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts import notifications, selectors
from alerts.models import STOCK_KINDS, Alert, Kind
from alerts.selectors import BACK_IN_STOCK_FOR, Detection, Finding
from inventory.exceptions import DomainError

logger = logging.getLogger(__name__)

#: Rows per UPDATE when refreshing many alerts' messages.
BATCH = 500


class AlertNotActive(DomainError):
    code = "alert_not_active"
    http_status = 409


#: The minute sweep: every kind but the ledger check, which runs on stock events and nightly.
SWEEP_KINDS = (*STOCK_KINDS, *selectors.SWEPT)
#: What a stock change can affect, for the variants that changed.
EVENT_KINDS = (*STOCK_KINDS, Kind.LEDGER_MISMATCH)


def evaluate(kinds: Iterable[str] | None = None, *, variant_ids: Iterable[int] | None = None) -> dict[str, int]:
    """Run the detectors of ``kinds`` and apply what they find; returns the active alerts per kind.

    With ``variant_ids`` (a stock event) the stock and ledger detectors look at those variants only.
    """
    variant_ids = None if variant_ids is None else sorted(set(variant_ids))
    kinds = kinds or (EVENT_KINDS if variant_ids is not None else SWEEP_KINDS)
    rules = selectors.rules_by_kind()
    active = {}
    for kind in kinds:
        if not rules.get(kind):
            continue
        if kind in STOCK_KINDS:
            detection = selectors.detect_stock(kind, rules[kind], variant_ids)
        elif kind == Kind.LEDGER_MISMATCH:
            detection = selectors.detect_ledger_mismatch(rules[kind], variant_ids)
        else:
            detection = selectors.SWEPT[kind](rules[kind])
        active[kind] = apply(detection, back_in_stock_rules=rules.get(Kind.BACK_IN_STOCK, []))
    if variant_ids is None:
        expire_back_in_stock()
    return active


@transaction.atomic
def apply(detection: Detection, *, back_in_stock_rules=()) -> int:
    """Make the active alerts of ``detection.kind`` (within what it covers) match its findings."""
    now = timezone.now()
    kind, findings = detection.kind, {f.subject: f for f in detection.findings}
    current = {
        alert.subject: alert
        for alert in Alert.objects.active()
        .filter(kind=kind)
        .filter(detection.covers | Q(subject__in=list(findings)))
        .only("pk", "subject", "message", "severity", "count")
    }
    cleared = [alert for subject, alert in current.items() if subject not in findings]
    if cleared:
        Alert.objects.filter(pk__in=[a.pk for a in cleared]).update(
            status=Alert.Status.RESOLVED, resolved_at=now, note="Resolved automatically: the condition cleared."
        )
        if kind == Kind.OUT_OF_STOCK and back_in_stock_rules:
            _back_in_stock([a.pk for a in cleared], back_in_stock_rules[0], now)

    seen = [current[s] for s in findings if s in current]
    if seen:
        counted = [a.pk for a in seen if findings[a.subject].count is None]
        Alert.objects.filter(pk__in=counted).update(last_seen=now, count=F("count") + 1)
        changed = []
        for alert in seen:
            finding = findings[alert.subject]
            alert.count = alert.count + 1 if finding.count is None else finding.count
            if (
                finding.count is not None
                or alert.message != finding.message[:500]
                or alert.severity != finding.rule.severity
            ):
                alert.message, alert.severity, alert.context = (
                    finding.message[:500],
                    finding.rule.severity,
                    finding.context,
                )
                alert.last_seen = now
                changed.append(alert)
        Alert.objects.bulk_update(changed, ["message", "severity", "context", "last_seen", "count"], batch_size=BATCH)

    new = [f for s, f in findings.items() if s not in current]
    if new:
        raised = _insert(kind, new, now)
        if kind == Kind.OUT_OF_STOCK:
            Alert.objects.active().filter(kind=Kind.BACK_IN_STOCK, subject__in=[f.subject for f in new]).update(
                status=Alert.Status.RESOLVED, resolved_at=now, note="Resolved automatically: out of stock again."
            )
        transaction.on_commit(lambda: notifications.notify(raised))
    return len(findings)


def _insert(kind: str, findings: list[Finding], now) -> list[int]:
    """Create alerts; a concurrent evaluator's insert of the same (kind, subject) wins quietly. Our ids."""
    Alert.objects.bulk_create(
        [
            Alert(
                kind=kind,
                severity=f.rule.severity,
                subject=f.subject,
                subject_label=f.label[:300],
                rule=f.rule,
                variant_id=f.variant_id,
                warehouse_id=f.warehouse_id,
                channel_id=f.channel_id,
                account_id=f.account_id,
                organization_id=f.organization_id,
                first_seen=now,
                last_seen=now,
                count=f.count or 1,
                message=f.message[:500],
                context=f.context,
                digest_pending=f.rule.digest,
            )
            for f in findings
        ],
        ignore_conflicts=True,
        batch_size=BATCH,
    )
    return list(
        Alert.objects.active()
        .filter(kind=kind, subject__in=[f.subject for f in findings], first_seen=now)
        .values_list("pk", flat=True)
    )


def _back_in_stock(resolved_ids: list[int], rule, now) -> None:
    """Informational: each SKU whose out-of-stock alert just cleared."""
    findings = [
        Finding(
            alert.subject,
            alert.subject_label,
            "Back in stock.",
            rule,
            variant_id=alert.variant_id,
            warehouse_id=alert.warehouse_id,
            channel_id=alert.channel_id,
        )
        for alert in Alert.objects.filter(pk__in=resolved_ids)
    ]
    already = set(
        Alert.objects.active()
        .filter(kind=Kind.BACK_IN_STOCK, subject__in=[f.subject for f in findings])
        .values_list("subject", flat=True)
    )
    raised = _insert(Kind.BACK_IN_STOCK, [f for f in findings if f.subject not in already], now)
    transaction.on_commit(lambda: notifications.notify(raised))


def expire_back_in_stock() -> int:
    return (
        Alert.objects.active()
        .filter(kind=Kind.BACK_IN_STOCK, first_seen__lt=timezone.now() - BACK_IN_STOCK_FOR)
        .update(status=Alert.Status.RESOLVED, resolved_at=timezone.now(), note="Resolved automatically after a day.")
    )


@transaction.atomic
def acknowledge(alerts, *, user, note: str = "") -> int:
    """Acknowledge open alerts (someone is on it); acknowledged and resolved ones are left as they are."""
    now = timezone.now()
    updates = {"status": Alert.Status.ACKNOWLEDGED, "acknowledged_by": user, "acknowledged_at": now}
    if note:
        updates["note"] = note
    return alerts.filter(status=Alert.Status.OPEN).update(**updates)


@transaction.atomic
def resolve(alerts, *, user, note: str = "") -> int:
    """Resolve open or acknowledged alerts by hand; if the condition still holds, the next evaluation raises it anew."""
    updates = {"status": Alert.Status.RESOLVED, "resolved_by": user, "resolved_at": timezone.now()}
    if note:
        updates["note"] = note
    return alerts.filter(status__in=Alert.ACTIVE).update(**updates)


def acknowledge_one(alert: Alert, *, user, note: str = "") -> Alert:
    if alert.status == Alert.Status.RESOLVED:
        raise AlertNotActive(f"Alert {alert.pk} is already resolved.")
    acknowledge(Alert.objects.filter(pk=alert.pk), user=user, note=note)
    alert.refresh_from_db()
    return alert


def resolve_one(alert: Alert, *, user, note: str = "") -> Alert:
    resolve(Alert.objects.filter(pk=alert.pk), user=user, note=note)
    alert.refresh_from_db()
    return alert
