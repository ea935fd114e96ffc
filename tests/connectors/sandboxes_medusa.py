"""Pytest fixture for the Medusa v2 sandbox; import it into a test module
(``from tests.connectors.sandboxes_medusa import medusa_sandbox  # noqa: F401``) or register the module
with ``pytest_plugins``.

* ``medusa_sandbox``: a fresh :class:`~connectors.sandbox.medusa.MedusaSandbox` served on an ephemeral port
  of 127.0.0.1 (``.url`` = ``.api_url``, the Medusa backend URL; credentials ``.email``, ``.password``,
  ``.secret_key``; ids ``.location_ids`` (name -> ``sloc_`` id), ``.default_location_id``,
  ``.sales_channel_id``; every control method), stopped afterwards. Request bodies are checked against
  the Medusa contract in ``connectors/sandbox/contracts/medusa`` (``validate_requests=True``).

A fresh sandbox has the two default stock locations (``European Warehouse``, ``US Warehouse``), one admin
user, one secret key and no inventory: call ``sandbox.seed(items=N)`` or
``sandbox.add_inventory_item(sku=..., stock={"European Warehouse": 5})``.
"""

import pytest

from connectors.sandbox.medusa import MedusaSandbox


@pytest.fixture
def medusa_sandbox():
    sandbox = MedusaSandbox(validate_requests=True).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()
