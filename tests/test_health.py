from datetime import timedelta

import pytest
from celery.signals import worker_ready
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from config import heartbeats
from config.beat import HeartbeatDatabaseScheduler
from config.celery import record_worker_heartbeat_task

pytestmark = pytest.mark.django_db


def test_healthy_database_answers_200_with_broker_and_heartbeats(client):
    record_worker_heartbeat_task()
    heartbeats.record(heartbeats.BEAT)

    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["worker"]["ok"] is True
    assert body["worker"]["age_seconds"] < 5
    assert body["beat"]["ok"] is True


def test_missing_heartbeats_are_degraded_but_keep_the_node_in_the_balancer(client):
    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["worker"] == {"ok": False, "age_seconds": None}
    assert body["beat"] == {"ok": False, "age_seconds": None}


@pytest.mark.parametrize("stale", [heartbeats.WORKER, heartbeats.BEAT])
def test_one_stale_heartbeat_makes_the_whole_status_degraded(client, settings, monkeypatch, stale):
    settings.HEARTBEAT_STALE_SECONDS = 60
    heartbeats.record(heartbeats.WORKER)
    heartbeats.record(heartbeats.BEAT)
    a_minute_ago = timezone.now() - timedelta(seconds=61)
    with monkeypatch.context() as clock:
        clock.setattr(heartbeats.timezone, "now", lambda: a_minute_ago)
        heartbeats.record(stale)

    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body[stale]["ok"] is False
    fresh = heartbeats.BEAT if stale == heartbeats.WORKER else heartbeats.WORKER
    assert body[fresh]["ok"] is True


def test_a_worker_marks_its_heartbeat_as_soon_as_it_is_ready(client):
    worker_ready.send(sender=None)
    heartbeats.record(heartbeats.BEAT)

    assert client.get("/health/").json()["status"] == "ok"


def test_database_down_answers_503(client, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refuse)

    response = client.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] is False
    assert "connection refused" in body["database"]["error"]


def test_unreachable_broker_answers_503(client, settings):
    record_worker_heartbeat_task()
    heartbeats.record(heartbeats.BEAT)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = client.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True


def test_beat_scheduler_marks_its_heartbeat_when_it_ticks(monkeypatch):
    monkeypatch.setattr("django_celery_beat.schedulers.DatabaseScheduler.tick", lambda self, *a, **kw: 1.0)
    scheduler = HeartbeatDatabaseScheduler.__new__(HeartbeatDatabaseScheduler)

    assert heartbeats.age_seconds(heartbeats.BEAT) is None
    scheduler.tick()

    assert heartbeats.age_seconds(heartbeats.BEAT) < 5
