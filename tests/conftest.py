import pytest
from django.core.cache import cache
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread
from rest_framework.test import APIClient

from config.celery import app as celery_app
from inventory import services
from inventory.models import StockMovement
from tests.factories import (
    ChannelApiKeyFactory,
    ChannelFactory,
    ChannelListingFactory,
    ChannelWarehouseFactory,
    UserFactory,
    VariantFactory,
    WarehouseFactory,
)

pytest_plugins = [
    "tests.connectors.sandboxes",
    "tests.connectors.sandboxes_medusa",
    "tests.connectors.sandboxes_amazon",
]


class _BackloggedWSGIServer(ThreadedWSGIServer):
    """The test server with a production-sized accept backlog: Django's 10 resets connections
    when dozens of concurrent clients connect at once."""

    request_queue_size = 256


LiveServerThread.server_class = _BackloggedWSGIServer

# Tasks queued by code under test stay in this process: tests run what they need themselves,
# and nothing is left in the real broker for a worker to pick up.
celery_app.conf.broker_url = "memory://"


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Tests render pages without running collectstatic, so no manifest is needed."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def warehouse(db):
    return WarehouseFactory(code="main")


@pytest.fixture
def variant(db):
    return VariantFactory(sku="TOMB45-001")


@pytest.fixture
def receive(db):
    """Book stock through the service, as real code would: ``receive(warehouse, variant, 10)``."""

    def _receive(warehouse, variant, quantity):
        return services.receive_stock(
            warehouse=warehouse, variant=variant, quantity=quantity, source=StockMovement.Source.SYSTEM
        )

    return _receive


@pytest.fixture
def channel_with(db):
    """A channel drawing from ``warehouses`` in the order given: ``channel_with(w1, w2)``."""

    def _channel_with(*warehouses, **fields):
        channel = ChannelFactory(**fields)
        for priority, warehouse in enumerate(warehouses):
            ChannelWarehouseFactory(channel=channel, warehouse=warehouse, priority=priority)
        return channel

    return _channel_with


@pytest.fixture
def listing_for(db):
    def _listing_for(channel, variant, **rules):
        return ChannelListingFactory(channel=channel, variant=variant, **rules)

    return _listing_for


@pytest.fixture
def api_client_for(db):
    """An API client speaking for ``channel`` with a fresh API key: ``api_client_for(channel)``."""

    def _client(channel):
        key = ChannelApiKeyFactory(channel=channel)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key.plain_key}")
        client.api_key = key
        return client

    return _client
