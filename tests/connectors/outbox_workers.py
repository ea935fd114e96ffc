"""Helpers for the exactly-once tests: an outbox worker in its own process that a test kills mid-call, and
waiting for a slow sandbox to finish what it was asked."""

import os
import subprocess
import sys
import time

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from connectors import outbox
from connectors.models import OutboundMessage


def wait_until(condition, timeout: float = 10.0, what: str = "the condition"):
    """``condition()``'s first truthy value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def send_again_now() -> None:
    """Bring every waiting message's next attempt forward to now (rather than wait out its backoff)."""
    OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING).update(next_attempt_at=timezone.now())


def expire_leases() -> None:
    """As if ``SENDING_TIMEOUT`` had passed since every sending message's worker last reported progress."""
    OutboundMessage.objects.filter(status=OutboundMessage.Status.SENDING).update(
        sent_at=F("sent_at") - outbox.SENDING_TIMEOUT
    )


def start_outbox_worker() -> subprocess.Popen:
    """``outbox.deliver_due()`` in a process of its own, on the test database (a transactional test's)."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", "from connectors import outbox; outbox.deliver_due()"],
        env=env,
        cwd=settings.BASE_DIR,
    )


def kill_while_sending(worker: subprocess.Popen, sending: str, *, in_flight: float = 0.3) -> None:
    """Kill ``worker`` once its message says it is creating ``sending`` at the partner and the request has had
    ``in_flight`` seconds to leave: mid-call, its answer never read."""
    try:
        wait_until(
            lambda: OutboundMessage.objects.filter(response__sending=sending).exists() or worker.poll() is not None,
            timeout=30,
            what=f"the worker to send a {sending}",
        )
        assert worker.poll() is None, "the worker ended before it was killed"
        time.sleep(in_flight)
    finally:
        worker.kill()
        worker.wait()
