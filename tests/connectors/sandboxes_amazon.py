"""Pytest fixtures for the Amazon SP-API sandbox; register with ``-p tests.connectors.sandboxes_amazon`` (or
add it to ``pytest_plugins`` in the root conftest), or import the fixture into a test module.

* ``amazon_sandbox``: a fresh :class:`~connectors.sandbox.amazon.AmazonSandbox` served on an ephemeral port
  of 127.0.0.1 (``.url`` = ``.api_url``, ``.lwa_url``, ``.lwa_host``; credentials ``.seller_id``,
  ``.marketplace_id``, ``.client_id``, ``.client_secret``, ``.refresh_token``, ``.application_id``,
  ``.relay_api_key``; every control method), stopped afterwards. Request bodies are checked against
  the Amazon contract in ``connectors/sandbox/contracts/amazon`` (``validate_requests=True``).

(The function is ``amazon_sandbox_fixture`` so that a test module can import it without shadowing the
fixture name: ``from tests.connectors.sandboxes_amazon import amazon_sandbox_fixture  # noqa: F401``.)

A fresh sandbox has no listings: call ``sandbox.seed(listings=N, fba=M)`` or
``sandbox.add_listing("SKU-1", 5)`` / ``sandbox.add_listing("SKU-2", fba=True, fulfillable=7)``. The
notification relay's receiver is the ``webhook_receiver`` fixture of ``tests.connectors.sandboxes``.
"""

import pytest

from connectors.sandbox.amazon import AmazonSandbox


@pytest.fixture(name="amazon_sandbox")
def amazon_sandbox_fixture():
    sandbox = AmazonSandbox(validate_requests=True).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()
