"""Pytest fixtures for the partner sandboxes; register with ``-p tests.connectors.sandboxes`` (or
``pytest_plugins = ["tests.connectors.sandboxes"]`` in a conftest).

* ``zoho_sandbox``: a fresh :class:`~connectors.sandbox.zoho.ZohoSandbox` served on an ephemeral port of
  127.0.0.1 (``.url``, ``.api_url``; credentials ``.organization_id``, ``.client_id``, ``.client_secret``,
  ``.refresh_token``, ``.customer_id``; every control method), stopped afterwards. Request bodies are
  checked against the partner's contract in ``connectors/sandbox/contracts`` (``validate_requests=True``).
* ``cin7_sandbox``: the same for :class:`~connectors.sandbox.cin7.Cin7Sandbox` (``.account_id``,
  ``.application_key``, ``.customer_id``, ``.customer_name``).
* ``webhook_receiver``: a :class:`~connectors.sandbox.base.WebhookReceiver` on an ephemeral port
  (``.url``, ``.received``, ``.wait_for(count, timeout)``, ``.status`` to answer with).

Each fresh sandbox has the partner's two default locations, two customers and no items: call
``sandbox.seed(items=N)`` or ``sandbox.add_item(sku=..., stock={"Head Office": 5})``.
"""

import pytest

from connectors.sandbox import Cin7Sandbox, WebhookReceiver, ZohoSandbox


@pytest.fixture
def zoho_sandbox():
    sandbox = ZohoSandbox(validate_requests=True).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def cin7_sandbox():
    sandbox = Cin7Sandbox(validate_requests=True).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
