"""The beat scheduler: django-celery-beat's, marking beat's own heartbeat as it ticks.

Its own module because it imports django-celery-beat's models, which the Celery app
module (imported while settings load) must not.
"""

import time

from django_celery_beat.schedulers import DatabaseScheduler

from config import heartbeats

_MARK_EVERY_SECONDS = 5.0


class HeartbeatDatabaseScheduler(DatabaseScheduler):
    _last_mark = 0.0

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        if now - self._last_mark >= _MARK_EVERY_SECONDS:
            heartbeats.record(heartbeats.BEAT)
            self._last_mark = now
        return super().tick(*args, **kwargs)
