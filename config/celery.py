import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("stockpool")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.celery.record_worker_heartbeat_task", ignore_result=True)
def record_worker_heartbeat_task():
    """Scheduled by beat and run by a worker, so a fresh mark proves broker and worker alike."""
    from config import heartbeats

    heartbeats.record(heartbeats.WORKER)


@worker_ready.connect
def record_heartbeat_when_ready(**kwargs):
    """A worker that just started is alive now, not only once beat's first heartbeat task reaches it."""
    from config import heartbeats

    heartbeats.record(heartbeats.WORKER)
