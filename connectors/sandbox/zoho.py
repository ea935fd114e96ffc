"""An in-memory Zoho Inventory (API v1) that speaks the contract in partner-apis.md section A.

One server plays both Zoho hosts: the accounts server (``POST /oauth/v2/token``) and the API
(``/inventory/v1/...``); ``api_domain`` in token responses is the sandbox's own URL.

Auth and scoping
    ``POST /oauth/v2/token`` takes ``refresh_token, client_id, client_secret, grant_type=refresh_token``
    as query parameters or a form body. Success: ``{"access_token", "api_domain", "token_type": "Bearer",
    "expires_in", "scope"}`` (lifetime ``token_lifetime``, default 3600 s, on the sandbox clock). Unknown
    client: HTTP 200 ``{"error": "invalid_client"}``; unknown or revoked refresh token (or an
    authorization code): HTTP 200 ``{"error": "invalid_code"}``; more than ``token_mint_limit`` (10) tokens
    for one refresh token within ``token_mint_window`` (600 s): HTTP 400 ``{"error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after some
    time."}``. API calls take ``Authorization: Zoho-oauthtoken <token>`` (or ``Bearer``); a missing,
    unknown, revoked or expired token is HTTP 401 ``{"code": 57, "message": "You are not authorized to
    perform this operation"}``. ``organization_id`` comes as a query parameter or the
    ``X-com-zoho-inventory-organizationid`` header: missing is 400 code 6024, unknown is 400 code 6041.

Lists
    ``page`` (default 1) and ``per_page`` (default 200; **larger values are capped to 200**, and
    ``page_context.per_page`` says so). ``page_context`` = ``{page, per_page, has_more_page, report_name,
    applied_filter, sort_column, sort_order}``. ``GET /items`` filters: ``last_modified_time`` (items whose
    last_modified_time is **at or after** the given time, which may be ``yyyy-MM-ddTHH:mm:ssZ``, carry an
    offset such as ``+0530``/``+05:30`` (an unencoded ``+`` that arrived as a space is accepted too), or
    none (UTC)), ``sku`` (exact), ``sku_startswith``, ``sku_contains``, ``name``, ``name_startswith``,
    ``name_contains``, ``search_text``, ``item_id``, ``category_id``, ``status`` / ``filter_by``
    (``Status.All|Active|Inactive``), ``location_id`` (alias ``warehouse_id``: only items stocked there,
    and the top-level stock fields become that location's); ``sort_column`` (name, sku, rate,
    purchase_rate, created_time, last_modified_time, reorder_level, stock_on_hand; ties by item_id) and
    ``sort_order`` A|D. Timestamps have second resolution, as Zoho's do.

Stock
    Each item has ``locations[]`` (``location_stock_on_hand, location_available_stock,
    location_actual_available_stock, location_available_for_sale_stock, location_committed_stock``:
    numbers, or strings as the OAS types them when ``stock_as_strings`` is on) and, when
    ``include_warehouses`` is on, the legacy ``warehouses[]`` with the same figures under ``warehouse_*``
    names. Top-level ``stock_on_hand, available_stock, actual_available_stock`` are the sums.
    on hand = available; actual available = available for sale = on hand - committed.
    Every change to an item's stock bumps its ``last_modified_time``. ``upc``/``ean`` are digit strings
    (the OAS types them int64; clients should accept both).

Sales orders and when Zoho's stock reflects them (the double-count rule depends on it)
    ``POST /salesorders`` (201, ``code`` 0, the order under ``salesorder`` and mirrored under
    ``sales_order``) needs ``customer_id`` (a known customer: ``sandbox.customer_id``) and ``line_items``
    with ``item_id`` and ``quantity``; ``reference_number`` is stored and filterable
    (``GET /salesorders?reference_number=``); ``salesorder_number`` is generated (``SO-00001``) unless
    ``ignore_auto_number_generation=true``, when it is required and must be unique (400 code 1001).
    A line's location is its ``location_id``, else the order's, else the primary location.
    New orders are ``confirmed`` (``sales_order_status="draft"`` makes them drafts, confirmed later by
    ``POST /salesorders/{id}/status/confirmed``). **A confirmed order reduces ``location_stock_on_hand``
    of each line's location at once** (``apply_sales_orders_immediately``, default on) and its
    ``shipped_status`` is ``fulfilled`` with ``quantity_shipped`` = ``quantity``: from then on every pull
    reflects the sale. With the switch off, a confirmed order only *commits* the quantity (on hand is
    unchanged; actual available and available for sale drop; ``shipped_status`` ``pending``) until
    ``apply_pending_orders()`` (``POST /_sandbox/orders/apply``) ships it: on hand drops, commitment is
    released, ``shipped_status`` becomes ``fulfilled``. So: the order is reflected in on hand exactly
    when ``shipped_status == "fulfilled"``. ``POST /salesorders/{id}/status/void`` gives back what the
    order took. Both steps bump the items' ``last_modified_time``.
    Taxes: ``GET /settings/taxes`` lists the organization's one tax (``SALES_TAX_ID``, "Sales Tax", 8%); a
    line with its ``tax_id`` carries ``tax_name`` and ``tax_percentage`` and adds its tax to the order's
    ``tax_total`` (``total`` = ``sub_total`` + ``tax_total``, rounded to cents); an unknown ``tax_id`` is 400.

Inventory adjustments
    ``POST /inventoryadjustments`` needs ``date, reason, adjustment_type`` (only ``quantity``) and
    ``line_items`` with ``item_id`` and a signed ``quantity_adjusted`` delta; the line's location is its
    ``location_id``, else the adjustment's, else the primary one. It applies at once and answers
    **HTTP 200** (as the OAS documents; sales orders answer 201 as theirs does) with
    ``inventory_adjustment``. ``GET /inventoryadjustments[/{id}]`` read them back.

Errors and limits
    Errors are ``{"code": n, "message": "..."}``: 57 auth (401), 6024/6041 organization (400), 1002
    not found (404 for a path id, 400 for an id inside a body), 1001 duplicate (400), 4 invalid input or
    a contract violation (400, the message names the schema error), 5 unknown URL (404), 37 method not
    allowed (405), 45 throttled (429), 1000 internal error (5xx). Only 0, 57 and 1002 are documented
    codes; the others are the sandbox's choice. Throttling is a token bucket per organization,
    ``rate_per_minute`` (100) with a burst of one minute's worth, plus ``concurrency_limit`` (10)
    simultaneous calls and an optional ``daily_limit``; all answer 429 ``{"code": 45, "message": "You have
    made too many requests continuously. Please try again after some time."}`` (no ``Retry-After``, as
    Zoho documents none).

Webhooks (Zoho workflow webhooks)
    ``configure_webhook(url, headers=..., params=..., modules=("item", "salesorder"))``: one workflow rule
    per module, "created or edited", each with this webhook. On stock changes made through the control API
    the sandbox POSTs ``{"item": {...the item as GET /items/{id} shows it...}}``, and on a sales order
    voided or shipped there ``{"salesorder": {...the order as GET /salesorders/{id} shows it...}}``, with
    those custom headers and query parameters (the shared secret: Zoho does not sign). Changes made through
    the partner API (a sales order created, confirmed or voided, an adjustment) send them too when
    ``webhooks_for_api_changes`` is on (default off), after the response is written.

Sandbox-only control endpoints (besides those in :mod:`connectors.sandbox.base`):
``POST /_sandbox/tokens/expire`` (every access token expires now), ``POST /_sandbox/tokens/revoke``
(every access token is forgotten; ``{"refresh_token": true}`` revokes the refresh token too, until reset),
``POST /_sandbox/orders/<salesorder id>/void`` (a clerk voids a sales order in Zoho's UI: what it took comes
back, the item and sales order webhooks are sent).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.sandbox.base import (
    CATEGORY_NAMES,
    BaseSandbox,
    ControlError,
    PartnerError,
    WebhookDelivery,
    _Pending,
    as_number,
    generate_items,
    json_response,
    num,
    parse_json,
    truthy,
)

DEFAULT_LOCATIONS = ("Head Office", "East Warehouse")
THROTTLE_MESSAGE = "You have made too many requests continuously. Please try again after some time."
UNAUTHORIZED_MESSAGE = "You are not authorized to perform this operation"
SORT_COLUMNS = (
    "name",
    "sku",
    "rate",
    "purchase_rate",
    "created_time",
    "last_modified_time",
    "reorder_level",
    "stock_on_hand",
)
MAX_PER_PAGE = 200
#: The modules whose workflow rules send the webhook.
WEBHOOK_MODULES = ("item", "salesorder")
#: The organization's one tax (``GET /settings/taxes``); a line without ``tax_id`` is untaxed.
SALES_TAX_ID = "4815000000055001"
NO_TAX = {"tax_id": "", "tax_name": "", "tax_percentage": 0}
_TIME_PATTERN = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*(Z|[+\- ]\d{2}:?\d{2})?$"
)


def zoho_time(moment: datetime) -> str:
    """``2024-05-01T10:00:00+0000``: Zoho's timestamp format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


def parse_zoho_time(text: str) -> datetime:
    """A filter timestamp: ``yyyy-MM-ddTHH:mm:ssZ``, with an offset (``+0530``, ``+05:30``, or ``" 0530"``
    when a ``+`` was not URL-encoded), without one (UTC), or a bare date."""
    match = _TIME_PATTERN.match(text.strip())
    if not match:
        raise ValueError(text)
    day, hour, minute, second, zone = match.groups()
    moment = datetime.fromisoformat(day).replace(
        hour=int(hour or 0), minute=int(minute or 0), second=int(second or 0), tzinfo=UTC
    )
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


@dataclasses.dataclass
class ZohoItem:
    item_id: str
    name: str
    sku: str
    rate: float
    purchase_rate: float
    reorder_level: float
    upc: str
    ean: str
    category_id: str
    category_name: str
    brand: str
    description: str
    created_time: datetime
    last_modified_time: datetime
    status: str = "active"
    unit: str = "pcs"
    stock: dict[str, float] = dataclasses.field(default_factory=dict)  # location_id -> on hand
    committed: dict[str, float] = dataclasses.field(default_factory=dict)  # location_id -> committed


class ZohoSandbox(BaseSandbox):
    """Zoho Inventory in memory. Known credentials are attributes: ``organization_id``, ``client_id``,
    ``client_secret``, ``refresh_token``, ``customer_id``; ``url`` (accounts server and ``api_domain``),
    ``api_url`` (``url + "/inventory/v1"``) once started."""

    partner = "zoho"
    MALFORMED_BODY = '{"code":0,"message":"success","items":[{"item_id":"4815000000044208","name":"Wid'
    CONFIG: ClassVar[dict[str, type]] = {
        "validate_requests": bool,
        "webhooks_for_api_changes": bool,
        "rate_per_minute": float,
        "concurrency_limit": int,
        "daily_limit": int,
        "token_lifetime": int,
        "token_mint_limit": int,
        "token_mint_window": int,
        "stock_as_strings": bool,
        "include_warehouses": bool,
        "apply_sales_orders_immediately": bool,
        "sales_order_status": str,
    }

    def __init__(
        self,
        *,
        organization_id: str = "60012345678",
        client_id: str = "1000.STOCKPOOLSANDBOXCLIENT00000000",
        client_secret: str = "stockpool-sandbox-zoho-client-secret-0001",  # noqa: S107 - a sandbox
        refresh_token: str = "1000.5a4d5b0c2e1f4a7b9c3d6e8f0a1b2c3d.4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b",  # noqa: S107
        locations: Sequence[str] = DEFAULT_LOCATIONS,
        rate_per_minute: float = 100,
        concurrency_limit: int | None = 10,
        daily_limit: int | None = None,
        token_lifetime: int = 3600,
        token_mint_limit: int = 10,
        token_mint_window: int = 600,
        stock_as_strings: bool = False,
        include_warehouses: bool = False,
        apply_sales_orders_immediately: bool = True,
        sales_order_status: str = "confirmed",
        webhooks_for_api_changes: bool = False,
        validate_requests: bool = True,
        seed: int = 0,
    ) -> None:
        self.organization_id = organization_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.customer_id = "4815000000044080"
        self.default_locations = tuple(locations)
        self.rate_per_minute = float(rate_per_minute)
        self.concurrency_limit = concurrency_limit
        self.daily_limit = daily_limit
        self.token_lifetime = token_lifetime
        self.token_mint_limit = token_mint_limit
        self.token_mint_window = token_mint_window
        self.stock_as_strings = stock_as_strings
        self.include_warehouses = include_warehouses
        self.apply_sales_orders_immediately = apply_sales_orders_immediately
        self.sales_order_status = sales_order_status
        self.webhook: dict[str, Any] | None = None
        super().__init__(validate_requests=validate_requests, seed=seed)
        self.webhooks_for_api_changes = webhooks_for_api_changes
        self.concurrency.limit = concurrency_limit
        self._api_map = Map(self._api_rules(), strict_slashes=False, merge_slashes=True)

    # -- state ---------------------------------------------------------------------------------------

    def default_rate_per_minute(self) -> float:
        return self.rate_per_minute

    def contract_variant(self, query: Mapping[str, str]) -> str | None:
        """With ``ignore_auto_number_generation`` the sales order must carry its own ``salesorder_number``."""
        return "ignore_auto_number_generation" if truthy(query.get("ignore_auto_number_generation")) else None

    def reset_state(self) -> None:
        self._ids: dict[str, int] = {}
        self.locations: dict[str, dict[str, Any]] = {}
        self.categories: dict[str, dict[str, Any]] = {}
        self.items: dict[str, ZohoItem] = {}
        self._by_sku: dict[str, str] = {}
        self.sales_orders: dict[str, dict[str, Any]] = {}
        self._so_state: dict[str, dict[str, Any]] = {}
        self.inventory_adjustments: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, datetime] = {}
        self._mints: dict[str, list[datetime]] = {}
        self._revoked_refresh_tokens: set[str] = set()
        self._daily_counts: dict[str, int] = {}
        self.webhook = None
        self.customers = {
            self.customer_id: {"contact_id": self.customer_id, "contact_name": "Stockpool Channels"},
            "4815000000044081": {"contact_id": "4815000000044081", "contact_name": "Walk-in Customer"},
        }
        self.taxes = {
            SALES_TAX_ID: {"tax_id": SALES_TAX_ID, "tax_name": "Sales Tax", "tax_percentage": 8, "tax_type": "tax"}
        }
        self._seeded = 0
        for name in self.default_locations:
            self._ensure_location(name)

    def _next_id(self, kind: str, base: int) -> str:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return str(base + self._ids[kind])

    def _ensure_location(self, name: str) -> dict[str, Any]:
        for location in self.locations.values():
            if location["location_name"].lower() == name.lower():
                return location
        location_id = self._next_id("location", 460000000038079)
        location = {
            "location_id": location_id,
            "location_name": name,
            "type": "general",
            "is_primary": not self.locations,
            "status": "active",
            "parent_location_id": "",
            "email": "",
            "phone": "",
            "address": {
                "attention": "",
                "street_address1": f"{len(self.locations) + 1} Harbour Road",
                "street_address2": "",
                "city": "Springfield",
                "state": "",
                "country": "U.S.A",
            },
        }
        self.locations[location_id] = location
        return location

    def _ensure_category(self, name: str) -> str:
        for category in self.categories.values():
            if category["name"] == name:
                return category["category_id"]
        category_id = self._next_id("category", 4815000000200000)
        self.categories[category_id] = {
            "category_id": category_id,
            "name": name,
            "parent_category_id": "-1",
            "depth": 1,
            "has_children": False,
            "is_active": True,
        }
        return category_id

    @property
    def primary_location_id(self) -> str:
        for location in self.locations.values():
            if location["is_primary"]:
                return location["location_id"]
        raise ControlError("no locations")

    def location_id(self, name_or_id: str) -> str:
        """A location's id from its name (case-insensitive) or id."""
        with self.lock:
            if name_or_id in self.locations:
                return name_or_id
            for location in self.locations.values():
                if location["location_name"].lower() == str(name_or_id).lower():
                    return location["location_id"]
        raise ControlError(f"unknown location {name_or_id!r}")

    def _item(self, sku_or_id: str) -> ZohoItem:
        item = self.items.get(str(sku_or_id)) or self.items.get(self._by_sku.get(str(sku_or_id).lower(), ""))
        if item is None:
            raise ControlError(f"unknown item {sku_or_id!r}")
        return item

    def _stamp(self) -> datetime:
        return self.now().replace(microsecond=0)

    # -- Python control methods ---------------------------------------------------------------------

    def seed(
        self, items: int = 20, locations: Sequence[str] | None = None, seed: int | None = None
    ) -> list[dict[str, Any]]:
        """Add ``items`` generated items (deterministic for a given seed and call sequence) stocked at
        ``locations`` (names; created when missing; default: every location). Returns
        ``[{"item_id", "sku", "name"}]``."""
        with self.lock:
            names = list(locations) if locations else [loc["location_name"] for loc in self.locations.values()]
            location_ids = {name: self._ensure_location(name)["location_id"] for name in names}
            category_ids = {name: self._ensure_category(name) for name in CATEGORY_NAMES}
            generated = generate_items(
                items,
                names,
                seed=self.base_seed if seed is None else seed,
                start_index=self._seeded + 1,
            )
            self._seeded += items
            epoch = datetime(2025, 1, 1, tzinfo=UTC)
            created = []
            for entry in generated:
                item_id = self._next_id("item", 4815000000100000)
                created_time = epoch + timedelta(minutes=entry.index)
                item = ZohoItem(
                    item_id=item_id,
                    name=entry.name,
                    sku=entry.sku,
                    rate=entry.rate,
                    purchase_rate=entry.purchase_rate,
                    reorder_level=entry.reorder_level,
                    upc=entry.upc,
                    ean=entry.ean,
                    category_id=category_ids[entry.category],
                    category_name=entry.category,
                    brand=entry.brand,
                    description=f"{entry.name} by {entry.brand}.",
                    created_time=created_time,
                    last_modified_time=created_time + timedelta(hours=entry.index % 7),
                    stock={location_ids[name]: float(qty) for name, qty in entry.stock.items()},
                )
                self.items[item_id] = item
                self._by_sku[item.sku.lower()] = item_id
                created.append({"item_id": item_id, "sku": item.sku, "name": item.name})
            return created

    def add_item(
        self,
        sku: str,
        name: str | None = None,
        stock: dict[str, float] | None = None,
        rate: float = 10.0,
        purchase_rate: float = 5.0,
        category: str = "Accessories",
        brand: str = "Northwind",
        status: str = "active",
        reorder_level: float = 0,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create one item; ``stock`` maps location names or ids to on-hand quantities. Returns the
        item as ``GET /items/{id}`` shows it."""
        if extra:
            raise ControlError(f"unknown item fields: {', '.join(sorted(extra))}")
        with self.lock:
            if sku.lower() in self._by_sku:
                raise ControlError(f"SKU {sku!r} exists")
            item_id = self._next_id("item", 4815000000100000)
            stamp = self._stamp()
            item = ZohoItem(
                item_id=item_id,
                name=name or sku,
                sku=sku,
                rate=float(rate),
                purchase_rate=float(purchase_rate),
                reorder_level=float(reorder_level),
                upc="",
                ean="",
                category_id=self._ensure_category(category),
                category_name=category,
                brand=brand,
                description="",
                created_time=stamp,
                last_modified_time=stamp,
                status=status,
            )
            for location, quantity in (stock or {}).items():
                try:
                    location_id = self.location_id(location)
                except ControlError:
                    location_id = self._ensure_location(location)["location_id"]
                item.stock[location_id] = float(quantity)
            self.items[item_id] = item
            self._by_sku[sku.lower()] = item_id
            return self._item_payload(item, detail=True)

    def item(self, sku_or_id: str) -> dict[str, Any]:
        """An item as ``GET /items/{id}`` shows it, by SKU or id."""
        with self.lock:
            return self._item_payload(self._item(sku_or_id), detail=True)

    def stock(self, sku: str, location: str) -> float | int:
        """On hand of an item (SKU or id) at a location (name or id)."""
        with self.lock:
            return num(self._item(sku).stock.get(self.location_id(location), 0.0))

    def stock_by_location(self, sku: str) -> dict[str, Any]:
        with self.lock:
            item = self._item(sku)
            return {
                loc["location_name"]: {
                    "location_id": loc_id,
                    "on_hand": num(item.stock.get(loc_id, 0.0)),
                    "committed": num(item.committed.get(loc_id, 0.0)),
                }
                for loc_id, loc in self.locations.items()
                if loc_id in item.stock or loc_id in item.committed
            }

    def set_stock(self, sku: str, location: str, on_hand: float, *, notify: bool = True) -> dict[str, Any]:
        """A clerk's stock count in Zoho's UI: on hand at ``location`` becomes ``on_hand``; bumps
        last_modified_time and sends the item webhook (if configured and ``notify``)."""
        quantity = as_number(on_hand)
        if quantity is None:
            raise ControlError("on_hand must be a number")
        return self._clerk_change(lambda current: quantity - current, sku, location, notify)

    def adjust_stock(self, sku: str, location: str, delta: float, *, notify: bool = True) -> dict[str, Any]:
        """A clerk's sale (negative) or receipt (positive) in Zoho's UI; as :meth:`set_stock`."""
        quantity = as_number(delta)
        if quantity is None:
            raise ControlError("delta must be a number")
        return self._clerk_change(lambda item: quantity, sku, location, notify)

    def _clerk_change(
        self, delta_from: Callable[[float], float], sku: str, location: str, notify: bool
    ) -> dict[str, Any]:
        """Change on hand by ``delta_from(current on hand)`` under the lock; send the webhook outside it."""
        with self.lock:
            item = self._item(sku)
            location_id = self.location_id(location)
            current = item.stock.get(location_id, 0.0)
            item.stock[location_id] = current + delta_from(current)
            item.last_modified_time = self._stamp()
            result = {
                "item_id": item.item_id,
                "sku": item.sku,
                "location_id": location_id,
                "location_name": self.locations[location_id]["location_name"],
                "on_hand": num(item.stock[location_id]),
                "last_modified_time": zoho_time(item.last_modified_time),
            }
            payload = {"item": self._item_payload(item, detail=True)}
        deliveries = self._send("item", payload) if notify else []
        result["deliveries"] = [d.to_dict() for d in deliveries]
        return result

    def send_stock_webhook(self, sku: str) -> list[WebhookDelivery]:
        """Send the item webhook for one item now (e.g. to test duplicate deliveries)."""
        with self.lock:
            payload = {"item": self._item_payload(self._item(sku), detail=True)}
        return self._send("item", payload)

    def _send(self, event: str, payload: Any) -> list[WebhookDelivery]:
        return self._deliver_all([(event, payload)])

    def configure_webhook(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        modules: Sequence[str] = WEBHOOK_MODULES,
        **extra: Any,
    ) -> None:
        """Where the workflow webhook goes, with its custom headers (the shared secret) and query params, for
        the rules of ``modules`` (item, salesorder)."""
        params = params or extra.pop("query_params", None)
        if extra:
            raise ControlError(f"unknown webhook settings: {', '.join(sorted(extra))}")
        if not url:
            raise ControlError("url is required")
        if isinstance(modules, str):
            modules = [modules]
        unknown = set(modules) - set(WEBHOOK_MODULES)
        if unknown:
            raise ControlError(f"unknown modules: {', '.join(sorted(unknown))}")
        with self.lock:
            self.webhook = {
                "url": url,
                "headers": dict(headers or {}),
                "params": dict(params or {}),
                "modules": list(modules),
            }

    def clear_webhook(self) -> None:
        with self.lock:
            self.webhook = None

    def webhook_config(self) -> dict[str, Any] | None:
        with self.lock:
            return dict(self.webhook) if self.webhook else None

    def webhook_targets(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(self.webhook)] if self.webhook and event in self.webhook["modules"] else []

    def void_sales_order(self, salesorder_id: str) -> dict[str, Any]:
        """A clerk voids a sales order in Zoho's UI: what it took comes back; sends the item and sales order
        webhooks. Returns the order."""
        pending = _Pending()
        with self.lock:
            order = self.sales_orders.get(str(salesorder_id))
            if order is None:
                raise ControlError(f"unknown sales order {salesorder_id!r}")
            if order["status"] == "void":
                raise ControlError("the sales order is already void")
            self._void(order, pending, force_webhooks=True)
            result = dict(order)
        self._deliver_all(pending.webhooks)
        return result

    def orders(self) -> list[dict[str, Any]]:
        """Every sales order created through the API, with ``_sandbox: {stock_applied, committed}``."""
        with self.lock:
            return [
                {**order, "_sandbox": dict(self._so_state[order_id])} for order_id, order in self.sales_orders.items()
            ]

    def apply_pending_orders(self) -> list[str]:
        """Ship every confirmed order whose stock effect was held back (``apply_sales_orders_immediately``
        off): on hand drops now. Sends the item and sales order webhooks. Returns the salesorder_ids applied."""
        changed: dict[str, ZohoItem] = {}
        applied = []
        with self.lock:
            for order_id, state in self._so_state.items():
                if state["committed"] and not state["applied"]:
                    changed.update(self._apply_order(self.sales_orders[order_id]))
                    applied.append(order_id)
            webhooks = [("item", {"item": self._item_payload(item, detail=True)}) for item in changed.values()]
            webhooks += [("salesorder", self._order_event(self.sales_orders[order_id])) for order_id in applied]
        self._deliver_all(webhooks)
        return applied

    def adjustments(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(adjustment) for adjustment in self.inventory_adjustments.values()]

    def issue_access_token(self) -> str:
        """An access token minted without the OAuth call (does not count toward the mint limit)."""
        with self.lock:
            token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self.access_tokens[token] = self.now() + timedelta(seconds=self.token_lifetime)
            return token

    def expire_tokens(self) -> int:
        """Every access token expires now; returns how many there were."""
        with self.lock:
            moment = self.now()
            for token in self.access_tokens:
                self.access_tokens[token] = moment
            return len(self.access_tokens)

    def revoke_tokens(self, refresh_token: bool = False) -> None:
        """Forget every access token; with ``refresh_token``, the refresh token stops working too."""
        with self.lock:
            self.access_tokens.clear()
            if refresh_token:
                self._revoked_refresh_tokens.add(self.refresh_token)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "partner": self.partner,
                "url": self.url,
                "accounts_url": self.url,
                "api_url": self.api_url,
                "organization_id": self.organization_id,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
                "customer_id": self.customer_id,
                "locations": [
                    {
                        "location_id": loc["location_id"],
                        "location_name": loc["location_name"],
                        "is_primary": loc["is_primary"],
                    }
                    for loc in self.locations.values()
                ],
                "counts": {
                    "items": len(self.items),
                    "salesorders": len(self.sales_orders),
                    "inventory_adjustments": len(self.inventory_adjustments),
                    "access_tokens": len(self.access_tokens),
                    "requests": len(self.request_log),
                    "webhook_deliveries": len(self.webhook_deliveries),
                },
                "now": zoho_time(self.now()),
                "config": self.config(),
                "faults": self.faults.to_dict(),
                "webhook": self.webhook_config(),
            }

    @property
    def api_url(self) -> str:
        return f"{self.url}/inventory/v1" if self.url else ""

    def _apply_setting(self, name: str, value: Any) -> None:
        if name == "sales_order_status" and value not in {"confirmed", "draft"}:
            raise ControlError("sales_order_status must be confirmed or draft")
        super()._apply_setting(name, value)
        if name == "rate_per_minute":
            self.rate_limiter.configure(value)
        elif name == "concurrency_limit":
            self.concurrency.limit = value

    # -- control API extras -----------------------------------------------------------------------------

    def _control_rules(self) -> list[Rule]:
        return [
            *super()._control_rules(),
            Rule("/_sandbox/tokens/expire", endpoint="expire_tokens", methods=["POST"]),
            Rule("/_sandbox/tokens/revoke", endpoint="revoke_tokens", methods=["POST"]),
            Rule("/_sandbox/orders/<salesorder_id>/void", endpoint="void_order", methods=["POST"]),
        ]

    def _control_void_order(self, request: Request, body: dict, salesorder_id: str) -> dict:
        return {"salesorder": self.void_sales_order(salesorder_id)}

    def _control_expire_tokens(self, request: Request, body: dict) -> dict:
        return {"expired": self.expire_tokens()}

    def _control_revoke_tokens(self, request: Request, body: dict) -> dict:
        self.revoke_tokens(refresh_token=truthy(body.get("refresh_token", False)))
        return {"revoked": True}

    # -- partner API ---------------------------------------------------------------------------------

    def _api_rules(self) -> list[Rule]:
        v1 = "/inventory/v1"
        return [
            Rule("/oauth/v2/token", endpoint="oauth_token", methods=["POST"]),
            Rule(f"{v1}/organizations", endpoint="organizations", methods=["GET"]),
            Rule(f"{v1}/items", endpoint="list_items", methods=["GET"]),
            Rule(f"{v1}/items/<item_id>", endpoint="get_item", methods=["GET"]),
            Rule(f"{v1}/itemdetails", endpoint="item_details", methods=["GET"]),
            Rule(f"{v1}/locations", endpoint="list_locations", methods=["GET"]),
            Rule(f"{v1}/settings/taxes", endpoint="list_taxes", methods=["GET"]),
            Rule(f"{v1}/categories", endpoint="list_categories", methods=["GET"]),
            Rule(f"{v1}/salesorders", endpoint="list_salesorders", methods=["GET"]),
            Rule(f"{v1}/salesorders", endpoint="create_salesorder", methods=["POST"]),
            Rule(f"{v1}/salesorders/<salesorder_id>", endpoint="get_salesorder", methods=["GET"]),
            Rule(f"{v1}/salesorders/<salesorder_id>/status/confirmed", endpoint="confirm_salesorder", methods=["POST"]),
            Rule(f"{v1}/salesorders/<salesorder_id>/status/void", endpoint="void_salesorder", methods=["POST"]),
            Rule(f"{v1}/inventoryadjustments", endpoint="list_adjustments", methods=["GET"]),
            Rule(f"{v1}/inventoryadjustments", endpoint="create_adjustment", methods=["POST"]),
            Rule(f"{v1}/inventoryadjustments/<adjustment_id>", endpoint="get_adjustment", methods=["GET"]),
        ]

    def rate_key(self, request: Request) -> str | None:
        if not request.path.startswith("/inventory/"):
            return None
        return self._organization_param(request) or "-"

    @staticmethod
    def _organization_param(request: Request) -> str:
        return (
            request.args.get("organization_id") or request.headers.get("X-com-zoho-inventory-organizationid") or ""
        ).strip()

    def parse_body(self, request: Request) -> tuple[Any, str | None]:
        raw = request.get_data(cache=True)
        if request.mimetype == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
            if "JSONString" in form:
                return parse_json(form["JSONString"][0].encode())
            return None, None
        return parse_json(raw)

    def error_response(self, status: int, message: str, code: int | None = None) -> Response:
        return json_response({"code": code if code is not None else 4, "message": message}, status=status)

    def throttle_response(self) -> Response:
        return json_response({"code": 45, "message": THROTTLE_MESSAGE}, status=429)

    def server_error_response(self, status: int) -> Response:
        return json_response({"code": 1000, "message": "Internal error"}, status=status)

    def handle(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        adapter = self._api_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed:
            raise PartnerError(405, "The HTTP method is not allowed for the requested resource", 37) from None
        except HTTPException:
            raise PartnerError(404, "Invalid URL Passed", 5) from None
        if endpoint == "oauth_token":
            return self._oauth_token(request)
        self._authenticate(request)
        if endpoint != "organizations":
            self._check_organization(request)
        if body_error:
            raise PartnerError(400, body_error, 4)
        if endpoint in {"create_salesorder", "create_adjustment"}:
            if not isinstance(body, dict):
                raise PartnerError(400, "The request body must be a JSON object", 4)
            violation = self.spec_violation(request, body)
            if violation:
                raise PartnerError(400, f"Invalid request body: {violation}", 4)
        with self.lock:
            return getattr(self, f"_api_{endpoint}")(request, body, pending, **args)

    # auth -----------------------------------------------------------------------------------------------

    def _oauth_token(self, request: Request) -> Response:
        params = dict(request.args.items())
        if request.mimetype == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(request.get_data(cache=True).decode("utf-8", "replace"))
            params.update({key: values[0] for key, values in form.items()})
        grant_type = params.get("grant_type", "")
        with self.lock:
            if grant_type == "authorization_code":
                return json_response({"error": "invalid_code"})
            if grant_type != "refresh_token":
                return json_response({"error": "unsupported_grant_type"})
            if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
                return json_response({"error": "invalid_client"})
            refresh_token = params.get("refresh_token", "")
            if refresh_token != self.refresh_token or refresh_token in self._revoked_refresh_tokens:
                return json_response({"error": "invalid_code"})
            now = self.now()
            window_start = now - timedelta(seconds=self.token_mint_window)
            mints = [moment for moment in self._mints.get(refresh_token, []) if moment > window_start]
            if len(mints) >= self.token_mint_limit:
                self._mints[refresh_token] = mints
                return json_response(
                    {"error": "Access Denied", "error_description": THROTTLE_MESSAGE},
                    status=400,
                )
            mints.append(now)
            self._mints[refresh_token] = mints
            token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self.access_tokens[token] = now + timedelta(seconds=self.token_lifetime)
            return json_response(
                {
                    "access_token": token,
                    "scope": "ZohoInventory.FullAccess.all",
                    "api_domain": self.url,
                    "token_type": "Bearer",
                    "expires_in": self.token_lifetime,
                }
            )

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "").strip()
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() not in {"zoho-oauthtoken", "bearer"} or not token:
            raise PartnerError(401, UNAUTHORIZED_MESSAGE, 57)
        with self.lock:
            expires_at = self.access_tokens.get(token)
            if expires_at is None or expires_at <= self.now():
                raise PartnerError(401, UNAUTHORIZED_MESSAGE, 57)

    def _check_organization(self, request: Request) -> None:
        organization_id = self._organization_param(request)
        if not organization_id:
            raise PartnerError(
                400,
                "This user belongs to multiple organizations, hence the parameter CompanyID/CompanyName is "
                "required for associating this user to a specific organization.",
                6024,
            )
        if organization_id != self.organization_id:
            raise PartnerError(
                400, f"This user is not associated with the CompanyID/CompanyName:{organization_id}.", 6041
            )
        if self.daily_limit:
            with self.lock:
                count = self._daily_counts.get(organization_id, 0) + 1
                self._daily_counts[organization_id] = count
            if count > self.daily_limit:
                raise PartnerError(429, THROTTLE_MESSAGE, 45)

    # payloads ---------------------------------------------------------------------------------------

    def _quantity(self, value: float) -> Any:
        return str(num(value)) if self.stock_as_strings else num(value)

    def _item_payload(self, item: ZohoItem, detail: bool = False, location_id: str | None = None) -> dict[str, Any]:
        locations = []
        warehouses = []
        total_on_hand = total_committed = 0.0
        for loc_id, location in self.locations.items():
            if loc_id not in item.stock and loc_id not in item.committed:
                continue
            on_hand = item.stock.get(loc_id, 0.0)
            committed = item.committed.get(loc_id, 0.0)
            if location_id is None or loc_id == location_id:
                total_on_hand += on_hand
                total_committed += committed
            locations.append(
                {
                    "location_id": loc_id,
                    "location_name": location["location_name"],
                    "status": location["status"],
                    "is_primary": location["is_primary"],
                    "location_stock_on_hand": self._quantity(on_hand),
                    "location_available_stock": self._quantity(on_hand),
                    "location_actual_available_stock": self._quantity(on_hand - committed),
                    "location_available_for_sale_stock": self._quantity(on_hand - committed),
                    "location_committed_stock": self._quantity(committed),
                }
            )
            if self.include_warehouses:
                warehouses.append(
                    {
                        "warehouse_id": loc_id,
                        "warehouse_name": location["location_name"],
                        "status": location["status"],
                        "is_primary": location["is_primary"],
                        "warehouse_stock_on_hand": self._quantity(on_hand),
                        "initial_stock": self._quantity(0),
                        "initial_stock_rate": self._quantity(0),
                        "warehouse_available_stock": self._quantity(on_hand),
                        "warehouse_actual_available_stock": self._quantity(on_hand - committed),
                        "warehouse_committed_stock": self._quantity(committed),
                        "warehouse_actual_committed_stock": self._quantity(committed),
                        "warehouse_available_for_sale_stock": self._quantity(on_hand - committed),
                        "warehouse_actual_available_for_sale_stock": self._quantity(on_hand - committed),
                        "is_fba_warehouse": False,
                        "sales_channels": [],
                    }
                )
        payload: dict[str, Any] = {
            "item_id": item.item_id,
            "name": item.name,
            "sku": item.sku,
            "status": item.status,
            "item_type": "inventory",
            "product_type": "goods",
            "unit": item.unit,
            "description": item.description,
            "rate": num(item.rate),
            "purchase_rate": num(item.purchase_rate),
            "reorder_level": num(item.reorder_level),
            "group_id": "",
            "group_name": "",
            "upc": item.upc,
            "ean": item.ean,
            "isbn": "",
            "part_number": "",
            "category_id": item.category_id,
            "category_name": item.category_name,
            "brand": item.brand,
            "manufacturer": item.brand,
            "is_taxable": True,
            "tax_id": "",
            "tax_name": "",
            "tax_percentage": 0,
            "track_inventory": True,
            "stock_on_hand": num(total_on_hand),
            "available_stock": num(total_on_hand),
            "actual_available_stock": num(total_on_hand - total_committed),
            "available_for_sale_stock": num(total_on_hand - total_committed),
            "created_time": zoho_time(item.created_time),
            "last_modified_time": zoho_time(item.last_modified_time),
            "locations": locations,
            "custom_fields": [],
        }
        if self.include_warehouses:
            payload["warehouses"] = warehouses
        if detail:
            payload.update(
                {
                    "can_be_sold": True,
                    "can_be_purchased": True,
                    "is_combo_product": False,
                    "vendor_id": "",
                    "vendor_name": "",
                    "account_name": "Sales",
                    "purchase_account_name": "Cost of Goods Sold",
                    "inventory_account_name": "Inventory Asset",
                }
            )
        return payload

    @staticmethod
    def _page_context(page: int, per_page: int, has_more: bool, report: str, sort_column: str, sort_order: str) -> dict:
        return {
            "page": page,
            "per_page": per_page,
            "has_more_page": has_more,
            "report_name": report,
            "applied_filter": "Status.All",
            "sort_column": sort_column,
            "sort_order": sort_order,
        }

    @staticmethod
    def _paging(request: Request) -> tuple[int, int]:
        try:
            page = int(request.args.get("page", 1))
            per_page = int(request.args.get("per_page", MAX_PER_PAGE))
        except ValueError:
            raise PartnerError(400, "Invalid value passed for page or per_page", 4) from None
        if page < 1 or per_page < 1:
            raise PartnerError(400, "Invalid value passed for page or per_page", 4)
        return page, min(per_page, MAX_PER_PAGE)

    def _modified_since(self, request: Request) -> datetime | None:
        text = request.args.get("last_modified_time")
        if not text:
            return None
        try:
            return parse_zoho_time(text)
        except ValueError:
            raise PartnerError(400, "Invalid value passed for last_modified_time", 4) from None

    # endpoints --------------------------------------------------------------------------------------

    def _api_organizations(self, request: Request, body: Any, pending: _Pending) -> Response:
        return json_response(
            {
                "code": 0,
                "message": "success",
                "organizations": [
                    {
                        "organization_id": self.organization_id,
                        "name": "Stockpool Sandbox Trading",
                        "contact_name": "Sandbox Admin",
                        "email": "sandbox@example.com",
                        "is_default_org": True,
                        "language_code": "en",
                        "currency_code": "USD",
                        "currency_symbol": "$",
                        "time_zone": "Etc/UTC",
                        "is_org_active": True,
                    }
                ],
            }
        )

    def _api_list_items(self, request: Request, body: Any, pending: _Pending) -> Response:
        args = request.args
        page, per_page = self._paging(request)
        since = self._modified_since(request)
        sort_column = args.get("sort_column", "name")
        if sort_column not in SORT_COLUMNS:
            raise PartnerError(400, "Invalid value passed for sort_column", 4)
        sort_order = args.get("sort_order", "A").upper()
        if sort_order not in {"A", "D", "ASCENDING", "DESCENDING"}:
            raise PartnerError(400, "Invalid value passed for sort_order", 4)
        sort_order = sort_order[0]
        location_id = args.get("location_id") or args.get("warehouse_id")
        if location_id and location_id not in self.locations:
            raise PartnerError(400, "Invalid value passed for location_id", 4)
        status = args.get("status", "").lower()
        filter_by = args.get("filter_by", "")
        if filter_by in {"Status.Active", "Status.Inactive"}:
            status = filter_by.split(".", 1)[1].lower()
        text = {
            key: args.get(key, "").lower()
            for key in (
                "sku",
                "sku_startswith",
                "sku_contains",
                "name",
                "name_startswith",
                "name_contains",
                "search_text",
            )
        }
        item_id = args.get("item_id")
        category_id = args.get("category_id")

        def wanted(item: ZohoItem) -> bool:
            sku, name = item.sku.lower(), item.name.lower()
            return not (
                (since is not None and item.last_modified_time < since)
                or (status and item.status != status)
                or (text["sku"] and sku != text["sku"])
                or (text["sku_startswith"] and not sku.startswith(text["sku_startswith"]))
                or (text["sku_contains"] and text["sku_contains"] not in sku)
                or (text["name"] and name != text["name"])
                or (text["name_startswith"] and not name.startswith(text["name_startswith"]))
                or (text["name_contains"] and text["name_contains"] not in name)
                or (text["search_text"] and text["search_text"] not in name and text["search_text"] not in sku)
                or (item_id and item.item_id != item_id)
                or (category_id and item.category_id != category_id)
                or (location_id and location_id not in item.stock and location_id not in item.committed)
            )

        def key(item: ZohoItem) -> tuple:
            if sort_column == "stock_on_hand":
                value: Any = sum(item.stock.values()) if not location_id else item.stock.get(location_id, 0.0)
            elif sort_column in {"name", "sku"}:
                value = getattr(item, sort_column).lower()
            else:
                value = getattr(item, sort_column)
            return (value, int(item.item_id))

        matching = sorted((item for item in self.items.values() if wanted(item)), key=key, reverse=sort_order == "D")
        start = (page - 1) * per_page
        chunk = matching[start : start + per_page]
        return json_response(
            {
                "code": 0,
                "message": "success",
                "items": [self._item_payload(item, location_id=location_id) for item in chunk],
                "page_context": self._page_context(
                    page, per_page, start + per_page < len(matching), "Items", sort_column, sort_order
                ),
            }
        )

    def _api_get_item(self, request: Request, body: Any, pending: _Pending, item_id: str) -> Response:
        item = self.items.get(item_id)
        if item is None:
            raise PartnerError(404, "Item does not exist.", 1002)
        return json_response({"code": 0, "message": "success", "item": self._item_payload(item, detail=True)})

    def _api_item_details(self, request: Request, body: Any, pending: _Pending) -> Response:
        ids = [part.strip() for part in request.args.get("item_ids", "").split(",") if part.strip()]
        if not ids:
            raise PartnerError(400, "item_ids is required", 4)
        found = [self._item_payload(self.items[i], detail=True) for i in ids if i in self.items]
        return json_response({"code": 0, "message": "success", "items": found})

    def _api_list_locations(self, request: Request, body: Any, pending: _Pending) -> Response:
        return json_response(
            {"code": 0, "message": "success", "locations": [dict(loc) for loc in self.locations.values()]}
        )

    def _api_list_taxes(self, request: Request, body: Any, pending: _Pending) -> Response:
        return json_response({"code": 0, "message": "success", "taxes": [dict(tax) for tax in self.taxes.values()]})

    def _api_list_categories(self, request: Request, body: Any, pending: _Pending) -> Response:
        root = {
            "category_id": "-1",
            "name": "Root",
            "parent_category_id": "",
            "depth": 0,
            "has_children": bool(self.categories),
            "is_active": True,
        }
        return json_response(
            {"code": 0, "message": "success", "categories": [root, *(dict(c) for c in self.categories.values())]}
        )

    # sales orders ---------------------------------------------------------------------------------

    def _line_location(self, line: dict, order_location: str | None) -> str:
        location_id = str(line.get("location_id") or order_location or self.primary_location_id)
        if location_id not in self.locations:
            raise PartnerError(400, f"Invalid value passed for location_id: {location_id}", 4)
        return location_id

    def _api_create_salesorder(self, request: Request, body: dict, pending: _Pending) -> Response:
        customer_id = str(body.get("customer_id") or "")
        if not customer_id:
            raise PartnerError(400, "Please select a customer (customer_id is required).", 4)
        if customer_id not in self.customers:
            raise PartnerError(400, "Customer does not exist.", 1002)
        lines = body.get("line_items")
        if not isinstance(lines, list) or not lines:
            raise PartnerError(400, "line_items is required: add at least one line item.", 4)
        order_location = body.get("location_id")
        if order_location and str(order_location) not in self.locations:
            raise PartnerError(400, f"Invalid value passed for location_id: {order_location}", 4)
        if truthy(request.args.get("ignore_auto_number_generation", "false")):
            number = str(body.get("salesorder_number") or "")
            if not number:
                raise PartnerError(400, "salesorder_number is required when auto numbering is ignored.", 4)
            if any(order["salesorder_number"] == number for order in self.sales_orders.values()):
                raise PartnerError(400, f'Sales Order "{number}" already exists.', 1001)
        else:
            number = f"SO-{len(self.sales_orders) + 1:05d}"
        line_items = []
        for index, line in enumerate(lines):
            if not isinstance(line, dict):
                raise PartnerError(400, f"line_items[{index}] must be an object", 4)
            item = self.items.get(str(line.get("item_id") or ""))
            if item is None:
                raise PartnerError(400, "Item does not exist.", 1002)
            quantity = as_number(line.get("quantity"))
            if quantity is None or quantity <= 0:
                raise PartnerError(400, f"Invalid value passed for quantity in line {index + 1}", 4)
            rate = as_number(line.get("rate"))
            rate = item.rate if rate is None else rate
            location_id = self._line_location(line, order_location)
            tax = self.taxes.get(str(line.get("tax_id") or ""), NO_TAX)
            if line.get("tax_id") and tax is NO_TAX:
                raise PartnerError(400, f"Invalid value passed for tax_id in line {index + 1}", 4)
            line_items.append(
                {
                    "line_item_id": self._next_id("line_item", 4815000000400000),
                    "item_id": item.item_id,
                    "sku": item.sku,
                    "name": line.get("name") or item.name,
                    "description": line.get("description", ""),
                    "item_order": index + 1,
                    "rate": num(rate),
                    "quantity": num(quantity),
                    "unit": item.unit,
                    **{key: tax[key] for key in ("tax_id", "tax_name", "tax_percentage")},
                    "item_total": num(rate * quantity),
                    "location_id": location_id,
                    "location_name": self.locations[location_id]["location_name"],
                    "quantity_invoiced": 0,
                    "quantity_packed": 0,
                    "quantity_shipped": 0,
                }
            )
        stamp = self._stamp()
        order_id = self._next_id("salesorder", 4815000000300000)
        sub_total = sum(line["item_total"] for line in line_items)
        tax_total = round(sum(line["item_total"] * line["tax_percentage"] / 100 for line in line_items), 2)
        order = {
            "salesorder_id": order_id,
            "salesorder_number": number,
            "date": body.get("date") or stamp.date().isoformat(),
            "shipment_date": body.get("shipment_date", ""),
            "reference_number": body.get("reference_number", ""),
            "status": "draft",
            "order_status": "draft",
            "shipped_status": "pending",
            "invoiced_status": "not_invoiced",
            "paid_status": "unpaid",
            "customer_id": customer_id,
            "customer_name": self.customers[customer_id]["contact_name"],
            "currency_code": "USD",
            "location_id": str(order_location or self.primary_location_id),
            "location_name": self.locations[str(order_location or self.primary_location_id)]["location_name"],
            "line_items": line_items,
            "sub_total": num(sub_total),
            "tax_total": num(tax_total),
            "total": num(round(sub_total + tax_total, 2)),
            "notes": body.get("notes", ""),
            "created_time": zoho_time(stamp),
            "last_modified_time": zoho_time(stamp),
        }
        self.sales_orders[order_id] = order
        self._so_state[order_id] = {"committed": False, "applied": False, "voided": False}
        if self.sales_order_status == "confirmed":
            self._confirm(order, pending)
        self.queue_api_webhook(pending, "salesorder", self._order_event(order))
        return json_response(
            {"code": 0, "message": "Sales Order has been created.", "salesorder": order, "sales_order": order},
            status=201,
        )

    def _confirm(self, order: dict, pending: _Pending) -> None:
        state = self._so_state[order["salesorder_id"]]
        order["status"] = order["order_status"] = "confirmed"
        order["last_modified_time"] = zoho_time(self._stamp())
        state["committed"] = True
        changed: dict[str, ZohoItem] = {}
        if self.apply_sales_orders_immediately:
            changed.update(self._apply_order(order))
        else:
            for line in order["line_items"]:
                item = self.items[line["item_id"]]
                item.committed[line["location_id"]] = item.committed.get(line["location_id"], 0.0) + line["quantity"]
                item.last_modified_time = self._stamp()
                changed[item.item_id] = item
        for item in changed.values():
            self.queue_api_webhook(pending, "item", {"item": self._item_payload(item, detail=True)})

    def _apply_order(self, order: dict) -> dict[str, ZohoItem]:
        """Ship a confirmed order: on hand drops (and the commitment, if any, is released)."""
        state = self._so_state[order["salesorder_id"]]
        changed = {}
        for line in order["line_items"]:
            item = self.items[line["item_id"]]
            location_id = line["location_id"]
            item.stock[location_id] = item.stock.get(location_id, 0.0) - line["quantity"]
            if item.committed.get(location_id):
                item.committed[location_id] = max(0.0, item.committed[location_id] - line["quantity"])
            item.last_modified_time = self._stamp()
            line["quantity_packed"] = line["quantity_shipped"] = line["quantity"]
            changed[item.item_id] = item
        state["applied"] = True
        order["shipped_status"] = "fulfilled"
        order["last_modified_time"] = zoho_time(self._stamp())
        return changed

    def _api_list_salesorders(self, request: Request, body: Any, pending: _Pending) -> Response:
        page, per_page = self._paging(request)
        args = request.args
        since = self._modified_since(request)
        filters = {key: args.get(key) for key in ("reference_number", "salesorder_number", "status", "customer_id")}
        search = args.get("search_text", "").lower()
        matching = []
        for order in self.sales_orders.values():
            if any(value and str(order.get(key)) != value for key, value in filters.items()):
                continue
            if search and not any(
                search in str(order.get(k, "")).lower()
                for k in ("salesorder_number", "reference_number", "customer_name")
            ):
                continue
            if since is not None and parse_zoho_time(order["last_modified_time"]) < since:
                continue
            matching.append(order)
        matching.sort(key=lambda order: int(order["salesorder_id"]), reverse=True)
        start = (page - 1) * per_page
        summary_keys = (
            "salesorder_id", "salesorder_number", "reference_number", "customer_id", "customer_name", "status",
            "order_status", "shipped_status", "invoiced_status", "paid_status", "date", "shipment_date",
            "location_id", "total", "currency_code", "created_time", "last_modified_time",
        )  # fmt: skip
        return json_response(
            {
                "code": 0,
                "message": "success",
                "salesorders": [{k: o[k] for k in summary_keys} for o in matching[start : start + per_page]],
                "page_context": self._page_context(
                    page, per_page, start + per_page < len(matching), "Sales Orders", "created_time", "D"
                ),
            }
        )

    def _order(self, salesorder_id: str) -> dict:
        order = self.sales_orders.get(salesorder_id)
        if order is None:
            raise PartnerError(404, "Sales Order does not exist.", 1002)
        return order

    def _api_get_salesorder(self, request: Request, body: Any, pending: _Pending, salesorder_id: str) -> Response:
        order = self._order(salesorder_id)
        return json_response({"code": 0, "message": "success", "salesorder": order, "sales_order": order})

    def _api_confirm_salesorder(self, request: Request, body: Any, pending: _Pending, salesorder_id: str) -> Response:
        order = self._order(salesorder_id)
        if order["status"] != "draft":
            raise PartnerError(400, f"Sales order in status {order['status']} cannot be confirmed.", 4)
        self._confirm(order, pending)
        self.queue_api_webhook(pending, "salesorder", self._order_event(order))
        return json_response({"code": 0, "message": "Sales Order status has been changed to Confirmed."})

    def _api_void_salesorder(self, request: Request, body: Any, pending: _Pending, salesorder_id: str) -> Response:
        order = self._order(salesorder_id)
        if order["status"] == "void":
            raise PartnerError(400, "Sales order is already void.", 4)
        self._void(order, pending)
        return json_response({"code": 0, "message": "Sales Order status has been changed to Void."})

    def _void(self, order: dict, pending: _Pending, force_webhooks: bool = False) -> None:
        """Void an order: what it took comes back (on hand if it shipped, else its commitment)."""
        state = self._so_state[order["salesorder_id"]]
        webhooks = []
        for line in order["line_items"]:
            item = self.items[line["item_id"]]
            location_id = line["location_id"]
            if state["applied"]:
                item.stock[location_id] = item.stock.get(location_id, 0.0) + line["quantity"]
            elif state["committed"]:
                item.committed[location_id] = max(0.0, item.committed.get(location_id, 0.0) - line["quantity"])
            if state["committed"]:
                item.last_modified_time = self._stamp()
                webhooks.append(("item", {"item": self._item_payload(item, detail=True)}))
        state.update(committed=False, applied=False, voided=True)
        order["status"] = order["order_status"] = "void"
        order["last_modified_time"] = zoho_time(self._stamp())
        webhooks.append(("salesorder", self._order_event(order)))
        for event, payload in webhooks:
            if force_webhooks:
                pending.webhooks.append((event, payload))
            else:
                self.queue_api_webhook(pending, event, payload)

    @staticmethod
    def _order_event(order: dict) -> dict:
        """The sales order module's default webhook payload: the order under its module key."""
        return {"salesorder": dict(order)}

    # inventory adjustments ------------------------------------------------------------------------

    def _api_create_adjustment(self, request: Request, body: dict, pending: _Pending) -> Response:
        for field in ("date", "reason", "adjustment_type"):
            if not body.get(field):
                raise PartnerError(400, f"{field} is required", 4)
        if body["adjustment_type"] != "quantity":
            raise PartnerError(400, "Only quantity adjustments are supported (adjustment_type=quantity).", 4)
        lines = body.get("line_items")
        if not isinstance(lines, list) or not lines:
            raise PartnerError(400, "line_items is required", 4)
        order_location = body.get("location_id")
        if order_location and str(order_location) not in self.locations:
            raise PartnerError(400, f"Invalid value passed for location_id: {order_location}", 4)
        resolved = []
        for index, line in enumerate(lines):
            if not isinstance(line, dict):
                raise PartnerError(400, f"line_items[{index}] must be an object", 4)
            item = self.items.get(str(line.get("item_id") or ""))
            if item is None:
                raise PartnerError(400, "Item does not exist.", 1002)
            delta = as_number(line.get("quantity_adjusted"))
            if delta is None:
                raise PartnerError(400, f"Invalid value passed for quantity_adjusted in line {index + 1}", 4)
            resolved.append((item, delta, self._line_location(line, order_location)))
        stamp = self._stamp()
        adjustment_id = self._next_id("adjustment", 4815000000500000)
        line_items = []
        for item, delta, location_id in resolved:
            item.stock[location_id] = item.stock.get(location_id, 0.0) + delta
            item.last_modified_time = stamp
            line_items.append(
                {
                    "line_item_id": self._next_id("line_item", 4815000000400000),
                    "item_id": item.item_id,
                    "name": item.name,
                    "sku": item.sku,
                    "quantity_adjusted": num(delta),
                    "unit": item.unit,
                    "location_id": location_id,
                    "location_name": self.locations[location_id]["location_name"],
                }
            )
            self.queue_api_webhook(pending, "item", {"item": self._item_payload(item, detail=True)})
        adjustment = {
            "inventory_adjustment_id": adjustment_id,
            "date": body["date"],
            "reason": body["reason"],
            "reason_id": "",
            "description": body.get("description", ""),
            "reference_number": body.get("reference_number", ""),
            "adjustment_type": "quantity",
            "status": "adjusted",
            "location_id": str(order_location or ""),
            "line_items": line_items,
            "total": 0,
            "created_time": zoho_time(stamp),
            "last_modified_time": zoho_time(stamp),
        }
        self.inventory_adjustments[adjustment_id] = adjustment
        return json_response(
            {"code": 0, "message": "Inventory Adjustment has been added", "inventory_adjustment": adjustment}
        )

    def _api_list_adjustments(self, request: Request, body: Any, pending: _Pending) -> Response:
        page, per_page = self._paging(request)
        reference = request.args.get("reference_number")
        matching = [
            adj for adj in self.inventory_adjustments.values() if not reference or adj["reference_number"] == reference
        ]
        matching.sort(key=lambda adj: int(adj["inventory_adjustment_id"]), reverse=True)
        start = (page - 1) * per_page
        return json_response(
            {
                "code": 0,
                "message": "success",
                "inventory_adjustments": [
                    {k: v for k, v in adj.items() if k != "line_items"} for adj in matching[start : start + per_page]
                ],
                "page_context": self._page_context(
                    page, per_page, start + per_page < len(matching), "Inventory Adjustments", "date", "D"
                ),
            }
        )

    def _api_get_adjustment(self, request: Request, body: Any, pending: _Pending, adjustment_id: str) -> Response:
        adjustment = self.inventory_adjustments.get(adjustment_id)
        if adjustment is None:
            raise PartnerError(404, "Inventory Adjustment does not exist.", 1002)
        return json_response({"code": 0, "message": "success", "inventory_adjustment": adjustment})
