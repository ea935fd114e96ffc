"""The demo's partner accounts, played by the sandboxes that ``make run`` starts: BMB's Zoho Inventory
and BookBarber's Cin7 Core (systems of record), the Medusa storefront (whose order events its sandbox sends
to us signed, as our subscriber recipe does) and the Amazon seller account we publish to (its FBA warehouse
mirrored; its notifications, orders included, relayed to us with the relay's API key). BMB settles price
disagreements with Zoho by hand, and one waits for its manager."""

from decimal import Decimal

from django.conf import settings

from connectors import services
from connectors.models import ConnectorAccount, Kind
from connectors.sandbox import AmazonSandbox, Cin7Sandbox, MedusaSandbox, ZohoSandbox
from connectors.sync import settle_price_conflict
from inventory.models import Variant

ZOHO_LOCATION = "Head Office"
CIN7_LOCATION = "Retail Store"
MEDUSA_LOCATION = "US Warehouse"
#: A price raised in BMB's Zoho Inventory that BMB has not taken yet: (SKU, Zoho's price).
ZOHO_PRICE_RAISE = ("ELFBAR-BC5000-BLUE-RAZZ-ICE", Decimal("17.99"))


def create_demo_accounts(sender, organizations, warehouses, channels, **kwargs) -> None:
    """Connect the demo's mirrored warehouses to their sandboxes (same credentials every run)."""
    zoho, cin7 = ZohoSandbox(), Cin7Sandbox()  # not started: only their fixed credentials and ids are read
    zoho_url = settings.DEMO_ZOHO_SANDBOX_URL.rstrip("/")
    cin7_url = settings.DEMO_CIN7_SANDBOX_URL.rstrip("/")
    bmb_zoho = _account(
        name="BMB Wholesale · Zoho Inventory",
        created_with={"conflict_strategy": ConnectorAccount.ConflictStrategy.MANUAL},
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
    _price_awaiting_a_manager(bmb_zoho, *ZOHO_PRICE_RAISE)
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
        webhook_secret=medusa.webhook_secret,  # what its subscriber signs order events with
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
        webhook_secret=amazon.relay_api_key,  # the API key its notification relay sends
    )


def _account(*, name, credentials, created_with=None, webhook_secret=None, **fields) -> ConnectorAccount:
    """``fields`` are set on every load; ``created_with`` only on a new account, so that staff's choice stays."""
    account = ConnectorAccount.objects.filter(name=name).first() or ConnectorAccount(name=name, **(created_with or {}))
    for field, value in fields.items():
        setattr(account, field, value)
    return services.save_account(account, credentials=credentials, webhook_secret=webhook_secret)


def _price_awaiting_a_manager(account: ConnectorAccount, sku: str, partner_price: Decimal) -> None:
    """Recorded as a sync records it, while the account leaves prices to a manager; once, so that a manager's
    decision is not asked for again."""
    variant = Variant.objects.get(sku=sku)
    by_hand = account.conflict_strategy == ConnectorAccount.ConflictStrategy.MANUAL
    if by_hand and not account.conflicts.filter(variant=variant).exists():
        settle_price_conflict(account, variant, partner_price)
