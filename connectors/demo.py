"""The demo's partner accounts, played by the sandboxes that ``make run`` starts: BMB's Zoho Inventory
and BookBarber's Cin7 Core (systems of record), the Medusa storefront and the Amazon seller account we
publish to (its FBA warehouse mirrored)."""

from django.conf import settings

from connectors import services
from connectors.models import ConnectorAccount, Kind
from connectors.sandbox import AmazonSandbox, Cin7Sandbox, MedusaSandbox, ZohoSandbox

ZOHO_LOCATION = "Head Office"
CIN7_LOCATION = "Retail Store"
MEDUSA_LOCATION = "US Warehouse"


def create_demo_accounts(sender, organizations, warehouses, channels, **kwargs) -> None:
    """Connect the demo's mirrored warehouses to their sandboxes (same credentials every run)."""
    zoho, cin7 = ZohoSandbox(), Cin7Sandbox()  # not started: only their fixed credentials and ids are read
    zoho_url = settings.DEMO_ZOHO_SANDBOX_URL.rstrip("/")
    cin7_url = settings.DEMO_CIN7_SANDBOX_URL.rstrip("/")
    _account(
        name="BMB Wholesale · Zoho Inventory",
        kind=Kind.ZOHO_INVENTORY,
        organization=organizations["bmb-wholesale"],
        warehouse=warehouses["bmb-cash-carry"],
        api_base_url=f"{zoho_url}/inventory/v1",
        auth_base_url=zoho_url,
        settings={
            "organization_id": zoho.organization_id,
            "location_id": zoho.location_id(ZOHO_LOCATION),
            "customer_id": zoho.customer_id,
        },
        credentials={
            "client_id": zoho.client_id,
            "client_secret": zoho.client_secret,
            "refresh_token": zoho.refresh_token,
        },
    )
    _account(
        name="BookBarber · Cin7 Core",
        kind=Kind.CIN7_CORE,
        organization=warehouses["bookbarber-shop"].organization,
        warehouse=warehouses["bookbarber-shop"],
        api_base_url=f"{cin7_url}/ExternalApi/v2",
        auth_base_url="",
        settings={"location": CIN7_LOCATION, "customer": cin7.customer_name},
        credentials={"account_id": cin7.account_id, "application_key": cin7.application_key},
    )
    medusa = MedusaSandbox()
    _account(
        name="Medusa storefront",
        kind=Kind.MEDUSA,
        organization=channels["medusa-store"].organization,
        channel=channels["medusa-store"],
        api_base_url=settings.DEMO_MEDUSA_SANDBOX_URL.rstrip("/"),
        auth_base_url="",
        settings={"location_id": medusa.location_ids[MEDUSA_LOCATION]},
        credentials={"secret_key": medusa.secret_key},
    )
    amazon, amazon_url = AmazonSandbox(), settings.DEMO_AMAZON_SANDBOX_URL.rstrip("/")
    _account(
        name="Amazon US seller account",
        kind=Kind.AMAZON_SP_API,
        organization=channels["amazon-us"].organization,
        channel=channels["amazon-us"],
        warehouse=warehouses["amazon-fba-us"],
        api_base_url=amazon_url,
        auth_base_url=amazon_url,
        settings={"seller_id": amazon.seller_id, "marketplace_id": amazon.marketplace_id},
        credentials={
            "client_id": amazon.client_id,
            "client_secret": amazon.client_secret,
            "refresh_token": amazon.refresh_token,
        },
    )


def _account(*, name, credentials, **fields) -> ConnectorAccount:
    account = ConnectorAccount.objects.filter(name=name).first() or ConnectorAccount(name=name)
    for field, value in fields.items():
        setattr(account, field, value)
    return services.save_account(account, credentials=credentials)
