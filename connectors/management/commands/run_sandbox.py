"""Run one partner sandbox as a foreground process: ``manage.py run_sandbox zoho --port 8101``.

It prints its URL and what to configure a connector account with (credentials, organization, location
ids), then serves on 127.0.0.1 until Ctrl-C (or SIGTERM).
"""

import base64
import signal

from django.core.management.base import BaseCommand, CommandError

from connectors.sandbox import SANDBOXES
from connectors.sandbox.contracts import ContractError


class Command(BaseCommand):
    help = "Run an in-memory partner sandbox (zoho, cin7, medusa or amazon) on 127.0.0.1 until interrupted."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("partner", choices=sorted(SANDBOXES), help="which partner to play")
        parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
        parser.add_argument("--seed-items", type=int, default=0, help="generate this many items with stock")
        parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
        parser.add_argument(
            "--locations", default="", help="comma-separated location names (default: the partner's two defaults)"
        )
        parser.add_argument(
            "--mirror-warehouse",
            default="",
            metavar="CODE",
            help="seed the catalog and stock of this warehouse of our database (the demo's mirrored warehouses)",
        )
        parser.add_argument(
            "--mirror-location", default="", help="the sandbox location that holds the mirrored stock (default: first)"
        )
        parser.add_argument(
            "--mirror-channel",
            default="",
            metavar="CODE",
            help="list this channel's SKUs with what it may sell now (storefronts and marketplaces we publish to)",
        )
        parser.add_argument(
            "--webhook-url",
            default="",
            help="send the partner's webhooks here; {account_id} stands for the connector account of the mirrored "
            "channel or warehouse",
        )
        parser.add_argument(
            "--webhook-header",
            action="append",
            default=[],
            metavar="NAME:VALUE",
            help="a header sent with every webhook (repeatable): the shared secret",
        )
        parser.add_argument("--webhook-bearer", default="", help="send webhooks with Authorization: Bearer <token>")
        parser.add_argument(
            "--webhook-basic", default="", metavar="USER:PASSWORD", help="send webhooks with Basic auth"
        )
        parser.add_argument("--rate-per-minute", type=float, default=None, help="the partner's rate limit")
        parser.add_argument(
            "--no-validate", action="store_true", help="do not refuse request bodies that break the partner's contract"
        )

    def handle(self, *args, **options):
        partner = options["partner"]
        kwargs = {"validate_requests": not options["no_validate"], "seed": options["seed"]}
        if options["locations"]:
            kwargs["locations"] = [name.strip() for name in options["locations"].split(",") if name.strip()]
        if options["rate_per_minute"]:
            kwargs["rate_per_minute"] = options["rate_per_minute"]
        try:
            sandbox = SANDBOXES[partner](**kwargs)
        except ContractError as exc:
            raise CommandError(str(exc)) from exc
        if options["seed_items"]:
            sandbox.seed(items=options["seed_items"])
        if options["mirror_warehouse"]:
            self._mirror(sandbox, partner, options["mirror_warehouse"], options["mirror_location"])
        if options["mirror_channel"]:
            self._mirror_channel(sandbox, partner, options["mirror_channel"], options["mirror_location"])
        if options["webhook_url"]:
            self._configure_webhook(sandbox, partner, options)
        try:
            sandbox.start(port=options["port"])
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{options['port']}: {exc}") from exc
        self._print_summary(sandbox)
        signal.signal(signal.SIGTERM, self._terminate)
        try:
            while True:  # serve until Ctrl-C or SIGTERM
                signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()
            self.stdout.write("sandbox stopped")

    def _mirror(self, sandbox, partner, warehouse_code, location):
        """Give the sandbox the warehouse's catalog and stock, as the partner would hold them for the demo."""
        from inventory.models import StockLevel

        if partner == "amazon":  # an FBA warehouse: each SKU an FBA listing with its fulfillable units
            levels = StockLevel.objects.filter(warehouse__code=warehouse_code).select_related("variant")
            for level in levels.iterator():
                sandbox.add_listing(level.variant.sku, quantity=0, fba=True, fulfillable=level.on_hand)
            self.stdout.write(f"  mirrored {levels.count()} levels of {warehouse_code} as FBA inventory")
            return
        location = location or sandbox.state()["locations"][0]["location_name" if partner == "zoho" else "Name"]
        levels = StockLevel.objects.filter(warehouse__code=warehouse_code).select_related("variant__product__category")
        for level in levels.iterator():
            variant, product = level.variant, level.variant.product
            price = float(variant.price)
            cost = float(variant.cost_price if variant.cost_price is not None else variant.price / 2)
            common = {
                "sku": variant.sku,
                "name": f"{product.name} {variant.name}".strip(),
                "stock": {location: level.on_hand},
                "category": product.category.name,
                "brand": product.brand or "Unbranded",
            }
            if partner == "zoho":
                sandbox.add_item(**common, rate=price, purchase_rate=cost, reorder_level=variant.reorder_point or 0)
            else:
                sandbox.add_item(**common, price=price, cost=cost)
        self.stdout.write(f"  mirrored {levels.count()} levels of {warehouse_code} at {location}")

    def _mirror_channel(self, sandbox, partner, channel_code, location):
        """Give a storefront sandbox the channel's listings at the quantities we would publish."""
        from inventory.models import ChannelListing
        from inventory.selectors import listing_availability

        if partner not in ("medusa", "amazon"):
            raise CommandError("--mirror-channel is for the medusa and amazon sandboxes")
        listings = ChannelListing.objects.filter(channel__code=channel_code).select_related("variant__product")
        by_id = {entry.rules.listing_id: entry for entry in listing_availability(listings)}
        location = location or (next(iter(sandbox.location_ids)) if partner == "medusa" else "DEFAULT")
        fba_skus = {entry["sku"] for entry in sandbox.listings()} if partner == "amazon" else set()
        for listing in listings:
            variant, quantity = listing.variant, by_id[listing.pk].available or 0
            price = float(listing.price or variant.price)
            if partner == "amazon" and variant.sku in fba_skus:
                sandbox.set_mfn_quantity(variant.sku, quantity, notify=False)  # an FBA SKU we also sell MFN
            elif partner == "amazon":
                sandbox.add_listing(variant.sku, quantity=quantity, price=price)
            else:
                sandbox.add_inventory_item(
                    variant.sku,
                    title=f"{variant.product.name} {variant.name}".strip(),
                    stock={location: quantity},
                    price=price,
                )
        self.stdout.write(f"  mirrored {len(by_id)} listings of {channel_code} at {location}")

    @staticmethod
    def _terminate(signum, frame):
        raise KeyboardInterrupt

    def _configure_webhook(self, sandbox, partner, options):
        if "{account_id}" in options["webhook_url"]:
            url = options["webhook_url"].replace("{account_id}", self._account_id(options))
            options = {**options, "webhook_url": url}
        headers = {}
        for header in options["webhook_header"]:
            name, sep, value = header.partition(":")
            if not sep or not name.strip():
                raise CommandError(f"--webhook-header needs NAME:VALUE, got {header!r}")
            headers[name.strip()] = value.strip()
        if partner == "cin7":
            auth = {}
            if options["webhook_bearer"]:
                auth = {"auth_type": "bearerauth", "bearer_token": options["webhook_bearer"]}
            elif options["webhook_basic"]:
                username, _, password = options["webhook_basic"].partition(":")
                auth = {"auth_type": "basicauth", "username": username, "password": password}
            sandbox.configure_webhook(options["webhook_url"], headers=headers, **auth)
            return
        if options["webhook_bearer"]:
            headers["Authorization"] = f"Bearer {options['webhook_bearer']}"
        elif options["webhook_basic"]:
            headers["Authorization"] = "Basic " + base64.b64encode(options["webhook_basic"].encode()).decode()
        sandbox.configure_webhook(options["webhook_url"], headers=headers)

    @staticmethod
    def _account_id(options) -> str:
        """The id of the enabled connector account of the mirrored channel, else of the mirrored warehouse."""
        from connectors.models import ConnectorAccount

        accounts = ConnectorAccount.objects.filter(enabled=True)
        if options["mirror_channel"]:
            account = accounts.filter(channel__code=options["mirror_channel"]).first()
        else:
            account = accounts.filter(warehouse__code=options["mirror_warehouse"]).first()
        if account is None:
            raise CommandError("--webhook-url names {account_id}, but no enabled account serves what is mirrored")
        return str(account.pk)

    def _print_summary(self, sandbox):
        state = sandbox.state()
        write = self.stdout.write
        write(f"{state['partner']} sandbox listening on {sandbox.url}")
        if state["partner"] == "zoho":
            write(f"  accounts URL:     {sandbox.url}  (POST /oauth/v2/token)")
            write(f"  API base URL:     {sandbox.api_url}")
            write(f"  organization_id:  {state['organization_id']}")
            write(f"  client_id:        {state['client_id']}")
            write(f"  client_secret:    {state['client_secret']}")
            write(f"  refresh_token:    {state['refresh_token']}")
            write(f"  customer_id:      {state['customer_id']}")
            for location in state["locations"]:
                primary = " (primary)" if location["is_primary"] else ""
                write(f"  location:         {location['location_id']}  {location['location_name']}{primary}")
        elif state["partner"] == "cin7":
            write(f"  API base URL:     {sandbox.api_url}")
            write(f"  account id:       {state['account_id']}")
            write(f"  application key:  {state['application_key']}")
            write(f"  customer:         {state['customer_id']}  {state['customer_name']}")
            for location in state["locations"]:
                default = " (default)" if location["IsDefault"] else ""
                write(f"  location:         {location['ID']}  {location['Name']}{default}")
        else:  # Medusa and Amazon: their fixed credentials are in ``connectors.demo`` and the module docstrings
            write(f"  API base URL:     {sandbox.api_url}")
        counts = state.get("counts", {})
        write(f"  items:            {counts.get('items', counts.get('products', counts.get('listings', 0)))}")
        if state.get("webhook"):
            write("  webhooks:         configured (GET /_sandbox/webhook)")
        write(f"  control API:      {sandbox.url}/_sandbox/")
        write("Ctrl-C stops it.")
        self.stdout.flush()
