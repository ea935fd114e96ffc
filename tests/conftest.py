import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import transaction
from django.test import override_settings
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


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher():
    """Every test user gets a password: Django's PBKDF2 (a million iterations) costs a third of a
    second per user, which made the admin tests spend most of their time hashing."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True, scope="session")
def _plain_static_files():
    """Tests render pages without running collectstatic, so no manifest is needed; for the whole session,
    so that a class-scoped fixture (``class_db``) renders pages too."""
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}):
        yield


@pytest.fixture(scope="class")
def class_db(django_db_setup, django_db_blocker):
    """Database access for a class-scoped fixture that builds a world once for the tests of a class, as
    Django's ``setUpTestData`` does: the world is made in a transaction rolled back after the class's last
    test, and each test runs in a savepoint of it rolled back after the test, so no test sees another's
    writes. The tests must not be transactional (``transaction=True``) and must leave the world's Python
    objects as they found them."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


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
