"""Idempotency-Key for the channel API, on Stripe's model.

The first request with a key claims it (in flight); its response is stored and replayed
for repeats with the same body. The same key with another body is refused (422), and a
repeat while the first is still running is refused (409). A claim left in flight by a
crashed request may be taken over after ``IN_FLIGHT_TAKEOVER``.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from inventory.models import Channel
from reservations.exceptions import IdempotencyKeyInFlight, IdempotencyKeyMismatch
from reservations.models import IdempotencyKey

IN_FLIGHT_TAKEOVER = timedelta(seconds=60)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status: int
    body: object


def fingerprint(method: str, path: str, body) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(channel: Channel, key: str, request_fingerprint: str) -> IdempotencyKey | Replay:
    """Claim ``key`` for a new request, or say what an earlier request with it got."""
    record, created = IdempotencyKey.objects.get_or_create(
        channel=channel, key=key, defaults={"fingerprint": request_fingerprint}
    )
    if created:
        return record
    if record.fingerprint != request_fingerprint:
        raise IdempotencyKeyMismatch(
            "This Idempotency-Key was used with a different request; use a new key for a new request.",
            details={"key": key},
        )
    if record.state == IdempotencyKey.State.COMPLETED:
        return Replay(status=record.response_status, body=record.response_body)
    now = timezone.now()
    taken_over = IdempotencyKey.objects.filter(
        pk=record.pk, state=IdempotencyKey.State.IN_FLIGHT, created_at__lt=now - IN_FLIGHT_TAKEOVER
    ).update(created_at=now)
    if taken_over:
        return record
    raise IdempotencyKeyInFlight(
        "A request with this Idempotency-Key is still being processed; retry shortly.", details={"key": key}
    )


def complete(record: IdempotencyKey, status: int, body) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).update(
        state=IdempotencyKey.State.COMPLETED, response_status=status, response_body=body, completed_at=timezone.now()
    )


def abandon(record: IdempotencyKey) -> None:
    """Forget a claim whose request failed unexpectedly, so that a retry may run."""
    IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_FLIGHT).delete()
