"""Connector accounts pointed at the sandboxes, as the connector tests need them."""

from connectors.models import Kind
from inventory.models import Warehouse
from tests.factories import ConnectorAccountFactory, WarehouseFactory

#: Sandboxes answer at 100 or 60 calls a minute like their partners; most tests need not wait for that.
FAST = 6000


def zoho_account(sandbox, *, webhook_secret: str = "", **settings):
    """A Zoho account mirroring the sandbox's Head Office, at a fast call rate (the sandbox's too)."""
    sandbox.configure(rate_per_minute=FAST)
    return _with_secret(
        ConnectorAccountFactory(
            api_base_url=sandbox.api_url,
            auth_base_url=sandbox.url,
            settings={
                "organization_id": sandbox.organization_id,
                "location_id": sandbox.location_id("Head Office"),
                "customer_id": sandbox.customer_id,
                "rate_limit_per_minute": FAST,
                "circuit_fail_max": 50,
                **settings,
            },
            credentials={
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
                "refresh_token": sandbox.refresh_token,
            },
        ),
        webhook_secret,
    )


def cin7_account(sandbox, *, webhook_secret: str = "", **settings):
    """A Cin7 account mirroring the sandbox's Retail Store, at a fast call rate (the sandbox's too)."""
    sandbox.configure(rate_per_minute=FAST)
    return _with_secret(
        ConnectorAccountFactory(
            kind=Kind.CIN7_CORE,
            name="Cin7 BookBarber",
            api_base_url=sandbox.api_url,
            warehouse__system_of_record=Warehouse.SystemOfRecord.CIN7_CORE,
            settings={
                "location": "Retail Store",
                "customer": sandbox.customer_name,
                "rate_limit_per_minute": FAST,
                **settings,
            },
            credentials={"account_id": sandbox.account_id, "application_key": sandbox.application_key},
        ),
        webhook_secret,
    )


def amazon_account(sandbox, channel, *, webhook_secret: str = "", **settings):
    """An Amazon account publishing ``channel`` and mirroring a new ``amazon-fba-us`` warehouse.

    Amazon's per-operation quotas stay as documented: the connector must keep to them.
    """
    return _with_secret(
        ConnectorAccountFactory(
            kind=Kind.AMAZON_SP_API,
            name="Amazon US",
            warehouse=WarehouseFactory(code="amazon-fba-us", system_of_record=Warehouse.SystemOfRecord.AMAZON_FBA),
            channel=channel,
            api_base_url=sandbox.api_url,
            auth_base_url=sandbox.url,
            settings={"seller_id": sandbox.seller_id, "marketplace_id": sandbox.marketplace_id, **settings},
            credentials={
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
                "refresh_token": sandbox.refresh_token,
            },
        ),
        webhook_secret,
    )


def _with_secret(account, secret: str):
    if secret:
        account.webhook_secret = secret
        account.save()
    return account
