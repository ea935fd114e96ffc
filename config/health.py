"""GET /health/: the database, the broker and the Celery heartbeats, for ops probes.

``status`` is ``ok`` only when every component is. Without the database or the broker nothing
can be served or queued: 503, so a load balancer takes the node out. A stale worker or beat
heartbeat is ``degraded`` with 200: the web node still serves reads and holds, and taking it out
of the balancer would not bring the worker back.
"""

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
    components = {
        "database": _check_database(),
        "broker": _check_broker(),
        "worker": _heartbeat(heartbeats.WORKER),
        "beat": _heartbeat(heartbeats.BEAT),
    }
    if not (components["database"]["ok"] and components["broker"]["ok"]):
        status = "unavailable"
    elif not all(component["ok"] for component in components.values()):
        status = "degraded"
    else:
        status = "ok"
    return JsonResponse({"status": status, **components}, status=503 if status == "unavailable" else 200)
