"""Every answer under /api/ and /webhooks/ that is an error is the JSON envelope, whoever gives it:
DRF, Django's URL resolver, a body too large to read, or a crash."""

import logging
import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from config.api import StandardPagination
from reservations.models import Reservation
from tests.clients import staff_client
from tests.factories import ChannelApiKeyFactory, ConnectorAccountFactory

pytestmark = pytest.mark.django_db

THREE_MEGABYTES = 3 * 1024 * 1024


def assert_envelope(response, status, code):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


@pytest.fixture
def channel_client(warehouse, variant, receive, channel_with, listing_for):
    channel = channel_with(warehouse, code="shop")
    listing_for(channel, variant)
    receive(warehouse, variant, 10)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {ChannelApiKeyFactory(channel=channel).plain_key}")
    return client


def test_an_oversized_api_body_is_413_changes_nothing_and_logs_no_traceback(channel_client, caplog):
    body = b'{"order_ref": "big", "items": [{"sku": "TOMB45-001", "quantity": 1}], "pad": "' + b"x" * THREE_MEGABYTES
    body += b'"}'

    with caplog.at_level(logging.INFO):
        response = channel_client.post("/api/v1/reservations/", data=body, content_type="application/json")

    error = assert_envelope(response, 413, "payload_too_large")
    assert error["details"]["content_length"] == len(body)
    assert not Reservation.objects.exists()
    assert not [record for record in caplog.records if record.exc_info]


def test_an_oversized_webhook_is_413_before_anything_else():
    account = ConnectorAccountFactory()

    response = Client().post(f"/webhooks/{account.pk}/", data=b"x" * THREE_MEGABYTES, content_type="application/json")

    assert_envelope(response, 413, "payload_too_large")


def test_a_content_length_that_is_not_a_number_is_400():
    response = Client().post("/api/v1/reservations/", data=b"{}", content_type="application/json", CONTENT_LENGTH="x")

    assert_envelope(response, 400, "malformed_request")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/reservations/not-a-uuid/",
        "/api/v1/reservations/not-a-uuid/confirm/",
        f"/api/v1/reservations/{uuid.uuid4()}/",
        "/api/v1/no-such-endpoint/",
        "/api/v2/availability/",
        "/api/",
    ],
)
def test_unknown_paths_and_malformed_ids_are_json_404(channel_client, path):
    assert_envelope(channel_client.get(path), 404, "not_found")


def test_a_webhook_url_without_an_account_number_is_json_404():
    assert_envelope(Client().post("/webhooks/abc/", data=b"{}", content_type="application/json"), 404, "not_found")


def test_a_wrong_method_on_a_webhook_is_json_405_naming_the_allowed_one():
    account = ConnectorAccountFactory()

    response = Client().get(f"/webhooks/{account.pk}/")

    assert_envelope(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("path", ["/api/v1/stock/", "/api/v1/movements/", "/api/v1/alerts/"])
def test_a_channel_key_on_a_staff_endpoint_is_403_saying_it_is_a_channel_key(channel_client, path):
    error = assert_envelope(channel_client.get(path), 403, "channel_key_not_accepted")

    assert "channel API key" in error["message"]


def test_no_credentials_on_a_staff_endpoint_is_still_401():
    assert_envelope(APIClient().get("/api/v1/stock/"), 401, "not_authenticated")


def test_a_crash_is_a_json_500(monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(StandardPagination, "paginate_queryset", crash)
    client = staff_client("view_stocklevel")
    client.raise_request_exception = False

    assert_envelope(client.get("/api/v1/stock/"), 500, "server_error")


def test_the_admin_keeps_its_html_pages(admin_client):
    response = admin_client.get("/admin/no-such-page/")

    assert response.status_code == 404
    assert "application/json" not in response["Content-Type"]
