"""Liveness marks for the Celery worker and beat, read by /health/.

They live in the shared cache (Redis, or files in the embedded setup) so that every web
process sees what any worker or beat process wrote.
"""

from django.core.cache import cache
from django.utils import timezone

WORKER = "worker"
BEAT = "beat"
_KEY = "heartbeat:{}"
_KEEP_SECONDS = 7 * 24 * 3600


def record(process: str) -> None:
    cache.set(_KEY.format(process), timezone.now().timestamp(), timeout=_KEEP_SECONDS)


def age_seconds(process: str) -> float | None:
    """Seconds since the process last checked in, or None if it never did."""
    stamp = cache.get(_KEY.format(process))
    if stamp is None:
        return None
    return max(0.0, timezone.now().timestamp() - stamp)
