"""GET /health/: the database, the broker and the Celery heartbeats, for ops probes."""

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from kombu import Connection

from config import heartbeats

_BROKER_TIMEOUT_SECONDS = 2


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure to answer is "down", with its reason
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_broker() -> dict:
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=_BROKER_TIMEOUT_SECONDS,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=_BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # unreachable broker is reported, not raised
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True}


def _heartbeat(process: str) -> dict:
    try:
        age = heartbeats.age_seconds(process)
    except Exception as exc:  # the cache being down must not take /health/ down
        return {"ok": False, "age_seconds": None, "error": f"{type(exc).__name__}: {exc}"}
    if age is None:
        return {"ok": False, "age_seconds": None}
    return {"ok": age <= settings.HEARTBEAT_STALE_SECONDS, "age_seconds": round(age, 1)}


def health(request):
    """200 while the database answers (the app can serve), else 503; the rest is reported."""
    database = _check_database()
    body = {
        "status": "ok" if database["ok"] else "unavailable",
        "database": database,
        "broker": _check_broker(),
        "worker": _heartbeat(heartbeats.WORKER),
        "beat": _heartbeat(heartbeats.BEAT),
    }
    return JsonResponse(body, status=200 if database["ok"] else 503)
