"""Working the alert list (REST and admin), notifications and their throttle, and concurrent evaluation."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from alerts import notifications, services, tasks
from alerts.models import Alert, AlertRule, Kind
from config.celery import app as celery_app
from connectors import signing
from inventory import services as stock
from tests.clients import staff_client
from tests.factories import AlertFactory, OrganizationFactory, UserFactory, VariantFactory
from tests.threads import run_together

ALERTS_URL = "/api/v1/alerts/"


@pytest.fixture
def clerk(db):
    return staff_client("view_alert", "acknowledge_alert")


@pytest.fixture
def manager(db):
    return staff_client("view_alert", "acknowledge_alert", "resolve_alert")


@pytest.mark.django_db
class TestRestApi:
    def test_list_filters_and_pages(self, clerk, warehouse):
        AlertFactory.create_batch(3, warehouse=warehouse)
        AlertFactory(kind=Kind.LOW_STOCK, severity="medium", warehouse=warehouse)
        AlertFactory(status=Alert.Status.RESOLVED, warehouse=warehouse)
        # About a SKU of another organization's catalogue nobody in the clerk's organization stocks: not theirs.
        AlertFactory(variant__product__organization=OrganizationFactory())
        body = clerk.get(ALERTS_URL, {"active": "true"}).json()
        assert body["count"] == 4
        assert set(body["results"][0]) >= {"id", "kind", "severity", "status", "subject_label", "sku", "message"}
        low = clerk.get(ALERTS_URL, {"kind": "low_stock", "warehouse": warehouse.code}).json()
        assert [a["kind"] for a in low["results"]] == ["low_stock"]
        assert clerk.get(ALERTS_URL, {"severity": "critical"}).json()["count"] == 0

    def test_bad_filter_is_a_400_envelope(self, clerk):
        response = clerk.get(ALERTS_URL, {"severity": "apocalyptic"})
        assert response.status_code == 400
        assert "error" in response.json()

    def test_a_clerk_acknowledges_but_cannot_resolve(self, clerk, warehouse):
        alert = AlertFactory(warehouse=warehouse)
        response = clerk.post(f"{ALERTS_URL}{alert.pk}/acknowledge/", {"note": "counting the shelf"}, format="json")
        assert response.status_code == 200
        assert (response.json()["status"], response.json()["note"]) == ("acknowledged", "counting the shelf")

        refused = clerk.post(f"{ALERTS_URL}{alert.pk}/resolve/", {}, format="json")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
        alert.refresh_from_db()
        assert alert.status == Alert.Status.ACKNOWLEDGED

    def test_a_manager_resolves_and_repeating_it_changes_nothing(self, manager, warehouse):
        alert = AlertFactory(warehouse=warehouse)
        first = manager.post(f"{ALERTS_URL}{alert.pk}/resolve/", {"note": "restocked"}, format="json").json()
        assert (first["status"], first["resolved_by"]) == ("resolved", manager.user.username)
        again = manager.post(f"{ALERTS_URL}{alert.pk}/resolve/", {"note": "other"}, format="json").json()
        assert (again["resolved_at"], again["note"]) == (first["resolved_at"], "restocked")
        refused = manager.post(f"{ALERTS_URL}{alert.pk}/acknowledge/", {}, format="json")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "alert_not_active")

    def test_unknown_alert_and_anonymous(self, manager):
        assert manager.post(f"{ALERTS_URL}999999/resolve/", {}, format="json").status_code == 404
        assert APIClient().get(ALERTS_URL).status_code in (401, 403)


@pytest.mark.django_db
class TestAdmin:
    def test_list_is_coloured_and_counts_show_on_the_index(self, admin_client):
        AlertFactory(severity="critical")
        AlertFactory(severity="high", status=Alert.Status.RESOLVED)
        page = admin_client.get(reverse("admin:alerts_alert_changelist")).content.decode()
        assert "#b91c1c" in page  # critical's colour
        index = admin_client.get(reverse("admin:index")).content.decode()
        assert 'id="open-alerts"' in index
        assert "open-alerts-critical" in index

    def test_bulk_acknowledge_and_resolve_with_a_note(self, admin_client):
        alerts = AlertFactory.create_batch(3)
        url = reverse("admin:alerts_alert_changelist")
        ids = [a.pk for a in alerts]
        admin_client.post(url, {"action": "acknowledge_selected", "_selected_action": ids[:2], "note": "on it"})
        assert set(Alert.objects.filter(pk__in=ids[:2]).values_list("status", "note")) == {("acknowledged", "on it")}
        admin_client.post(url, {"action": "resolve_selected", "_selected_action": ids, "note": "done"})
        assert set(Alert.objects.values_list("status", flat=True)) == {"resolved"}

    def test_a_clerk_is_not_offered_resolve(self, client, warehouse):
        user = UserFactory(username="clerk")
        for codename in ("view_alert", "acknowledge_alert"):
            user.user_permissions.add(Permission.objects.get(codename=codename))
        client.force_login(user)
        alert = AlertFactory(warehouse=warehouse)
        page = client.get(reverse("admin:alerts_alert_changelist")).content.decode()
        assert "acknowledge_selected" in page
        assert "resolve_selected" not in page
        client.post(
            reverse("admin:alerts_alert_changelist"), {"action": "resolve_selected", "_selected_action": [alert.pk]}
        )
        alert.refresh_from_db()
        assert alert.status == Alert.Status.OPEN


@pytest.mark.django_db
class TestNotifications:
    @pytest.fixture
    def rule(self):
        rule = AlertRule.objects.get(kind=Kind.OUT_OF_STOCK, scope="all")
        rule.email_recipients = "manager@bmb.example, ops@bmb.example"
        rule.throttle_minutes = 60
        rule.save()
        return rule

    def raise_and_notify(self, variant, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.evaluate(variant_ids=[variant.pk])
        alert = Alert.objects.active().get(kind=Kind.OUT_OF_STOCK, variant=variant, organization__isnull=False)
        assert callbacks, "a newly raised alert queues its notification after commit"
        tasks.notify_alerts_task([alert.pk])
        return alert

    def test_email_once_per_subject_within_the_throttle(
        self, rule, warehouse, receive, django_capture_on_commit_callbacks
    ):
        variant = VariantFactory(sku="FLAP-1")
        first = self.raise_and_notify(variant, django_capture_on_commit_callbacks)
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["manager@bmb.example", "ops@bmb.example"]
        assert "FLAP-1" in mail.outbox[0].subject
        assert f"/admin/alerts/alert/{first.pk}/" in mail.outbox[0].body

        for _ in range(5):  # the level flaps: back, out, back, out...
            receive(warehouse, variant, 1)
            services.evaluate(variant_ids=[variant.pk])
            stock.adjust_stock(warehouse=warehouse, variant=variant, delta=-1, reason="damage", source="admin")
            self.raise_and_notify(variant, django_capture_on_commit_callbacks)
        assert Alert.objects.filter(kind=Kind.OUT_OF_STOCK).count() == 6
        assert len(mail.outbox) == 1

        Alert.objects.update(last_notified_at=timezone.now() - timedelta(minutes=61))
        receive(warehouse, variant, 1)
        services.evaluate(variant_ids=[variant.pk])
        stock.adjust_stock(warehouse=warehouse, variant=variant, delta=-1, reason="damage", source="admin")
        self.raise_and_notify(variant, django_capture_on_commit_callbacks)
        assert len(mail.outbox) == 2

    def test_several_raised_at_once_make_one_email_per_rule(self, rule):
        variants = VariantFactory.create_batch(3)
        services.evaluate(variant_ids=[v.pk for v in variants])
        tasks.notify_alerts_task(list(Alert.objects.values_list("pk", flat=True)))
        assert len(mail.outbox) == 1
        assert mail.outbox[0].subject.endswith("Out of stock: 3 alerts")
        assert all(v.sku in mail.outbox[0].body for v in variants)

    def test_signed_webhook(self, rule, webhook_receiver, django_capture_on_commit_callbacks):
        rule.webhook_url, rule.webhook_secret = webhook_receiver.url, "whsec_alerts"
        rule.save()
        alert = self.raise_and_notify(VariantFactory(), django_capture_on_commit_callbacks)
        tasks.post_alert_webhook_task(alert.pk, rule.pk)
        (request,) = webhook_receiver.wait_for(1)
        assert signing.verify(request.headers["stockpool-signature"], request.body, "whsec_alerts") is None
        assert request.json["type"] == "alert.raised"
        assert request.json["alert"]["id"] == alert.pk

    def test_low_severity_kinds_go_in_a_digest(self, warehouse, receive):
        rule = AlertRule.objects.get(kind=Kind.BACK_IN_STOCK)
        rule.email_recipients = "manager@bmb.example"
        rule.save()
        variants = VariantFactory.create_batch(3)
        services.evaluate(variant_ids=[v.pk for v in variants])
        for variant in variants:
            receive(warehouse, variant, 5)
        services.evaluate(variant_ids=[v.pk for v in variants])
        back_in_stock = list(Alert.objects.filter(kind=Kind.BACK_IN_STOCK).values_list("pk", flat=True))
        assert notifications.claim(back_in_stock) == {}  # not singly
        assert notifications.send_digests() == 1
        assert len(mail.outbox) == 1
        assert "3 alert(s)" in mail.outbox[0].subject
        assert notifications.send_digests() == 0


@pytest.mark.django_db
def test_a_stock_change_evaluates_the_changed_variants(warehouse, receive, django_capture_on_commit_callbacks):
    variant = VariantFactory(low_stock_threshold=5)
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            receive(warehouse, variant, 3)
    finally:
        celery_app.conf.task_always_eager = False
    assert Alert.objects.active().filter(kind=Kind.LOW_STOCK, variant=variant).exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_evaluating_at_once_leave_one_alert_per_subject(warehouse):
    AlertRule.objects.get_or_create(kind=Kind.OUT_OF_STOCK, scope="all", defaults={"name": "Out", "severity": "high"})
    variants = VariantFactory.create_batch(200)

    def evaluate_three_times():
        for _ in range(3):
            services.evaluate([Kind.OUT_OF_STOCK])

    assert run_together(evaluate_three_times) == []
    assert Alert.objects.active().filter(kind=Kind.OUT_OF_STOCK).count() == len(variants)
    assert Alert.objects.filter(kind=Kind.OUT_OF_STOCK).count() == len(variants)
