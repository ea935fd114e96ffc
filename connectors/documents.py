"""The documents our pushes made in systems of record, and what the partners say became of them.

A push records the document it made (or found, re-sending) as its message's own; webhooks and pulls refresh
the status of documents we know (a sales order shipped, a sale voided in the partner's own screens); a
reconciliation records what the partner holds for our recent messages, so that a copy a re-send made (a
duplicate) or a document deleted there shows. Nothing here touches stock: a void is settled by the
partner's next figure through the double-count rule, and told to a manager by an alert.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from connectors.models import ConnectorAccount, OutboundMessage, PartnerDocument

#: A partner reported new statuses of our documents (kwargs: ``account``, ``documents``), after the commit.
statuses_changed = Signal()


@dataclass(frozen=True)
class DocumentState:
    """A partner document as the partner describes it now."""

    kind: str
    partner_id: str
    number: str
    status: str
    partner_status: str


@transaction.atomic
def record_pushed(message: OutboundMessage, state: DocumentState) -> PartnerDocument:
    """The document ``message``'s push made or found: the message's own."""
    document = _upsert(message.account, message, state, duplicate=False)
    PartnerDocument.objects.filter(message=message, kind=state.kind, duplicate=False).exclude(pk=document.pk).update(
        duplicate=True
    )
    return document


@transaction.atomic
def refresh(account: ConnectorAccount, states: Iterable[DocumentState]) -> list[PartnerDocument]:
    """Statuses the partner reported for documents we know (others are not ours); those that changed."""
    states = list(states)
    known = {
        (document.kind, document.partner_id): document
        for document in PartnerDocument.objects.select_for_update().filter(
            account=account, partner_id__in=[state.partner_id for state in states]
        )
    }
    now, changed = timezone.now(), []
    for state in states:
        document = known.get((state.kind, state.partner_id))
        if document is not None and _apply(document, state, now):
            changed.append(document)
    if changed:
        transaction.on_commit(lambda: statuses_changed.send(sender=PartnerDocument, account=account, documents=changed))
    return changed


@transaction.atomic
def record_found(
    account: ConnectorAccount, found: dict[str, list[DocumentState]], *, kinds: Iterable[str], since: datetime
) -> list[PartnerDocument]:
    """What a reconciliation read at the partner for our messages made since ``since`` (by dedupe key, the
    documents of ``kinds`` carrying it): each message keeps its own document (the one its push recorded, else
    the partner's first) and any other is a duplicate; a document of those kinds and messages the partner no
    longer has is missing. Returns the duplicates still counting at the partner."""
    kinds = list(kinds)
    messages = {
        message.dedupe_key: message
        for message in OutboundMessage.objects.filter(account=account, dedupe_key__in=list(found))
    }
    seen = set()
    for key, states in found.items():
        message = messages.get(key)
        if message is None:
            continue  # a key of ours on a document whose message is gone: nothing to compare it with
        own = set(PartnerDocument.objects.filter(message=message, duplicate=False).values_list("kind", "partner_id"))
        for state in sorted(states, key=lambda s: (s.number, s.partner_id)):
            is_own = (state.kind, state.partner_id) in own or all(kind != state.kind for kind, _ in own)
            if is_own:
                own.add((state.kind, state.partner_id))
            seen.add(_upsert(account, message, state, duplicate=not is_own).pk)
    missing = PartnerDocument.objects.filter(account=account, kind__in=kinds, message__created_at__gte=since).exclude(
        pk__in=seen
    )
    missing.exclude(status=PartnerDocument.Status.MISSING).update(
        status=PartnerDocument.Status.MISSING, status_changed_at=timezone.now()
    )
    return list(
        PartnerDocument.objects.filter(account=account, duplicate=True)
        .exclude(status__in=PartnerDocument.GONE)
        .select_related("message")
    )


def _upsert(account, message, state: DocumentState, *, duplicate: bool) -> PartnerDocument:
    now = timezone.now()
    document, created = PartnerDocument.objects.select_for_update().get_or_create(
        account=account,
        kind=state.kind,
        partner_id=state.partner_id,
        defaults={
            "message": message,
            "reservation_id": message.payload.get("reservation_id"),
            "number": state.number,
            "status": state.status,
            "partner_status": state.partner_status,
            "duplicate": duplicate,
            "status_changed_at": now,
            "checked_at": now,
        },
    )
    if not created:
        document.duplicate = document.duplicate and duplicate
        _apply(document, state, now, also=["duplicate"])
    return document


def _apply(document: PartnerDocument, state: DocumentState, now, also=()) -> bool:
    changed = document.status != state.status
    if changed:
        document.status_changed_at = now
    document.status, document.partner_status, document.checked_at = state.status, state.partner_status, now
    document.number = state.number or document.number
    document.save(update_fields=["status", "partner_status", "number", "status_changed_at", "checked_at", *also])
    return changed
