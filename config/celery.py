import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("stockpool")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.celery.record_worker_heartbeat_task", ignore_result=True)
def record_worker_heartbeat_task():
    """Scheduled by beat and run by a worker, so a fresh mark proves broker and worker alike."""
    from config import heartbeats

    heartbeats.record(heartbeats.WORKER)
