import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

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


def test_missing_heartbeats_are_reported_but_do_not_fail_the_probe(client):
    body = client.get("/health/").json()

    assert body["worker"] == {"ok": False, "age_seconds": None}
    assert body["beat"] == {"ok": False, "age_seconds": None}


def test_stale_heartbeat_is_not_ok(client, settings):
    settings.HEARTBEAT_STALE_SECONDS = 0
    heartbeats.record(heartbeats.WORKER)

    assert client.get("/health/").json()["worker"]["ok"] is False


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


def test_unreachable_broker_is_reported(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    body = client.get("/health/").json()

    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True


def test_beat_scheduler_marks_its_heartbeat_when_it_ticks(monkeypatch):
    monkeypatch.setattr("django_celery_beat.schedulers.DatabaseScheduler.tick", lambda self, *a, **kw: 1.0)
    scheduler = HeartbeatDatabaseScheduler.__new__(HeartbeatDatabaseScheduler)

    assert heartbeats.age_seconds(heartbeats.BEAT) is None
    scheduler.tick()

    assert heartbeats.age_seconds(heartbeats.BEAT) < 5
