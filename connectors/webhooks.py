"""Inbound webhooks: authenticate by the partner's scheme, store the raw event, answer 202 at once.

Processing happens in Celery (``process_event``); an event is deduplicated on the partner's event
id, else on a hash of its body, so a delivery repeated by the partner is processed once. An event
without an id of its own (Zoho, Cin7) only says "this changed: read it again", so the same body
arriving after its twin was processed is a new notice, not a repeat: a level that went A, B and
back to A sends A's body twice. It is queued again (the connector re-reads the partner's current
state, which is harmless if it was a repeat after all).
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connectors import signing
from connectors.http import PartnerError
from connectors.models import ConnectorAccount, Kind, WebhookEvent
from inventory.exceptions import DomainError

logger = logging.getLogger(__name__)

#: Headers kept with an event for diagnosis (never credentials).
KEPT_HEADERS = ("content-type", "user-agent", "x-amzn-trace-id", "x-amz-event-type", "stockpool-signature")
#: How an event id made from the body (no partner id) begins.
BODY_HASH = "sha256:"
#: What WebhookEvent stores of an event's id and type.
EVENT_ID_LENGTH, EVENT_TYPE_LENGTH = 200, 100
#: Default header carrying the shared secret, per partner (overridable with settings["webhook_header"]).
SECRET_HEADERS = {
    Kind.ZOHO_INVENTORY: "X-Stockpool-Secret",
    Kind.CIN7_CORE: "verification-token",
    Kind.AMAZON_SP_API: "x-api-key",
}


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": None}}, status=status)


@csrf_exempt
@require_POST
def receive(request, account_id: int):
    account = ConnectorAccount.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        return _error(404, "not_found", "No such connector account.")
    body = request.body
    refusal = authenticate(account, request, body)
    if refusal:
        logger.warning("Webhook for %s refused: %s (from %s)", account, refusal, request.META.get("REMOTE_ADDR"))
        return _error(401, "authentication_failed", "The webhook could not be authenticated.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "malformed_json", "The body is not JSON.")
    event_id, event_type = identify(account, payload, body)
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                account=account,
                event_id=event_id,
                event_type=event_type,
                headers={k: v for k, v in request.headers.items() if k.lower() in KEPT_HEADERS},
                body=body.decode(),
            )
            transaction.on_commit(lambda: _enqueue(event.pk))
    except IntegrityError:
        if event_id.startswith(BODY_HASH) and _requeue_processed(account, event_id):
            return JsonResponse({"status": "requeued", "event_id": event_id}, status=202)
        return JsonResponse({"status": "duplicate", "event_id": event_id}, status=202)
    return JsonResponse({"status": "accepted", "id": event.pk, "event_id": event_id}, status=202)


def _requeue_processed(account: ConnectorAccount, event_id: str) -> bool:
    """Process a stored body-hash event again if it was processed already; one still waiting covers this one."""
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update()
            .filter(account=account, event_id=event_id, status=WebhookEvent.Status.PROCESSED)
            .first()
        )
        if event is None:
            return False
        WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.RECEIVED, received_at=timezone.now())
        transaction.on_commit(lambda: _enqueue(event.pk))
    return True


def _enqueue(event_pk: int) -> None:
    from connectors.tasks import process_webhook_task

    try:
        process_webhook_task.delay(event_pk)
    except Exception:  # stored already: the periodic sweep processes what could not be queued
        logger.warning("Could not queue webhook event %s; the sweep will process it.", event_pk, exc_info=True)


def authenticate(account: ConnectorAccount, request, body: bytes) -> str | None:
    """None when the request carries the account's credential in the partner's scheme, else why not."""
    secret = account.webhook_secret
    if not secret:
        return "no webhook secret is configured for this account"
    if account.kind == Kind.MEDUSA:
        return signing.verify(request.headers.get(signing.HEADER, ""), body, secret)
    if account.kind == Kind.CIN7_CORE and account.settings.get("webhook_auth") in ("basic", "bearer"):
        return _check_authorization(request.headers.get("Authorization", ""), account.settings["webhook_auth"], secret)
    header = account.settings.get("webhook_header") or SECRET_HEADERS[account.kind]
    return None if hmac.compare_digest(request.headers.get(header, "").encode(), secret.encode()) else "bad secret"


def _check_authorization(value: str, scheme: str, secret: str) -> str | None:
    kind, _, credential = value.partition(" ")
    if scheme == "bearer":
        given = credential if kind.lower() == "bearer" else ""
    else:  # basic: the secret is the password (any user name)
        try:
            given = base64.b64decode(credential).decode().partition(":")[2] if kind.lower() == "basic" else ""
        except (binascii.Error, UnicodeDecodeError):
            given = ""
    return None if hmac.compare_digest(given.encode(), secret.encode()) else f"bad {scheme} credential"


def identify(account: ConnectorAccount, payload, body: bytes) -> tuple[str, str]:
    """(event id, event type): the partner's own id where it sends one that fits, else sha256 of the body."""
    digest = BODY_HASH + hashlib.sha256(body).hexdigest()
    if account.kind == Kind.MEDUSA and isinstance(payload, dict):
        return _partner_id(payload.get("id"), digest), str(payload.get("type", ""))[:EVENT_TYPE_LENGTH]
    if account.kind == Kind.AMAZON_SP_API and isinstance(payload, dict):
        notification = payload.get("detail", payload)
        notification = notification if isinstance(notification, dict) else {}  # stored all the same, rejected later
        metadata = notification.get("NotificationMetadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        event_type = str(notification.get("NotificationType", ""))[:EVENT_TYPE_LENGTH]
        return _partner_id(metadata.get("NotificationId"), digest), event_type
    if account.kind == Kind.CIN7_CORE:
        if isinstance(payload, list):
            return digest, "Stock/AvailableStockLevelChanged"
        return digest, str(payload.get("EventType", "")) if isinstance(payload, dict) else ""
    if isinstance(payload, dict) and payload:
        return digest, next(iter(payload))  # Zoho's default payload: the entity under its module key
    return digest, ""


def _partner_id(value, digest: str) -> str:
    """A malformed event's id (none, or too long to store) gives way to the body's hash: stored, never a 500."""
    text = str(value or "")
    return text if 0 < len(text) <= EVENT_ID_LENGTH else digest


def process_event(event_pk: int) -> WebhookEvent:
    """Apply a stored event through its connector. A partner hiccup leaves it FAILED (retried, replayable);
    an event we can never honour (unknown SKU, no stock for an order) is REJECTED with the reason."""
    from connectors.registry import connector_for

    event = WebhookEvent.objects.select_related("account", "account__warehouse", "account__channel").get(pk=event_pk)
    if event.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.REJECTED):
        return event
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    try:
        connector_for(event.account).handle_webhook(event.event_type, json.loads(event.body), event.received_at)
    except DomainError as error:
        _settle(event, WebhookEvent.Status.REJECTED, error.message)
    except PartnerError as error:
        _settle(event, WebhookEvent.Status.FAILED, str(error))
        raise
    else:
        _settle(event, WebhookEvent.Status.PROCESSED)
    event.refresh_from_db()
    return event


def _settle(event: WebhookEvent, status: str, error: str = "") -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(status=status, last_error=error[:2000], processed_at=timezone.now())


def replay(events) -> int:
    """Process failed events again (the admin's replay)."""
    ids = list(events.filter(status=WebhookEvent.Status.FAILED).values_list("pk", flat=True))
    WebhookEvent.objects.filter(pk__in=ids).update(status=WebhookEvent.Status.RECEIVED, last_error="")
    for event_pk in ids:
        transaction.on_commit(lambda event_pk=event_pk: _enqueue(event_pk))
    return len(ids)


def unqueued_events(older_than_seconds: int = 60):
    """Events stored but not processed a while after arrival: their queueing was lost, or a worker died."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED, received_at__lt=cutoff)
