"""An in-memory Cin7 Core (formerly DEAR Inventory, API v2) that speaks partner-apis.md section B.

Paths and auth
    Everything lives under ``/ExternalApi/v2/``, matched case-insensitively (``/externalapi/v2/Product``
    works; an unknown endpoint such as ``/Products`` is 404), and query parameter names are
    case-insensitive too (``page`` = ``Page``). Every call needs ``api-auth-accountid`` (``account_id``)
    and ``api-auth-applicationkey`` (``application_key``, or another from ``add_application()``);
    otherwise 403 ``{"ErrorCode": 403, "Exception": "Method authentication failed"}``.

Reads
    ``GET /product`` (``ID``, ``Name`` and ``Sku`` *containing* the value, case-insensitive, as the spec
    describes them; ``ModifiedSince``: LastModifiedOn at or after; ``IncludeDeprecated``) answers
    ``{"Total", "Page", "Products": [...]}``. ``GET /ref/productavailability`` (``ID``, ``Name``/``Sku``
    containing, ``Location`` exact name, ``Category``; **ignores ModifiedSince**) answers one row per
    product x location where OnHand, Allocated, Available, OnOrder or InTransit is non-zero:
    ``{ID (the product's), SKU, Name, Barcode, Location, Bin, Batch, ExpiryDate, OnHand, Allocated,
    Available, OnOrder, StockOnHand (a value: OnHand x AverageCost), InTransit, NextDeliveryDate}`` with
    Available = OnHand - Allocated. ``GET /ref/location`` (``LocationList``), ``GET /customer``
    (``CustomerList``), ``GET /me``. Lists take ``Page`` (from 1) and ``Limit`` (default 100; **larger
    than 1000 is capped to 1000**). Rows come in creation order. Stock changes do **not** touch a
    product's LastModifiedOn (stock is not part of the product record), so only a full availability pull
    or the stock webhook sees them. Dates are ``yyyy-MM-ddTHH:mm:ss.fff`` in UTC without ``Z``
    (``dates_with_z`` adds it, as some live payloads have it).

Sales and when Cin7's stock reflects them (the double-count rule depends on it)
    ``POST /sale`` creates the header: ``Customer`` (name) or ``CustomerID`` of a known customer
    (``customer_name`` / ``customer_id``), ``Location`` (name; default location otherwise), optional
    ``SkipQuote``, ``CustomerReference``, ``ExternalID``, ... It answers the sale with its ``ID`` and an
    ``Order`` whose ``SaleOrderNumber`` is ``SO-00001``... ``POST /sale/order`` sets the lines
    (``SaleID``, ``Status`` DRAFT|AUTHORISED, ``Lines`` with ``ProductID`` or ``SKU``, ``Quantity``,
    ``Price``, ``Tax``, ``Total``; with ``strict_totals`` a line's Total must equal
    Quantity x Price x (1 - Discount/100) within 0.01). It is refused unless the quote is AUTHORISED
    (``POST /sale/quote``) or ``SkipQuote`` is true, and unless the order is still NOT AVAILABLE or DRAFT.
    **AUTHORISED allocates**: Allocated rises and Available falls at the sale's location by the quantity
    that is available (the rest is backordered: the line's ``BackorderQuantity``, sale status
    BACKORDERED, else ORDERED); **OnHand does not change** until the sale ships: with
    ``AutoPickPackShipMode`` AUTOPICK, AUTOPICKPACK or AUTOPICKPACKSHIP it ships at once (status
    PICKED / PACKED / SHIPPED), otherwise when ``fulfil_sale(id)`` (``POST /_sandbox/orders/<id>/fulfil``)
    ships it; shipping lowers OnHand and Allocated by the allocated quantity (Available is unchanged by
    shipping). With ``apply_sales_immediately`` off, an authorised order changes nothing until
    ``apply_pending_orders()``. ``DELETE /sale?ID=&Void=true`` (or ``void_sale(id)``, ``POST
    /_sandbox/orders/<id>/void``: a clerk in Cin7's UI) voids a sale that is neither shipped nor invoiced
    and releases its allocation, sending ``Sale/Voided`` and the stock webhook. ``GET /sale?ID=``,
    ``GET /sale/order?SaleID=`` and ``GET /saleList`` (``Search``, ``ExternalID``, ``Status``,
    ``OrderStatus``, ``QuoteStatus``, ``CreatedSince``, ``UpdatedSince``, ``OrderLocationID``) read them.

Invoices and credit notes (a simple sale has one of each)
    ``POST /sale/invoice`` (``SaleID``, ``Status`` DRAFT|AUTHORISED, ``InvoiceDate``, ``InvoiceDueDate``,
    ``Lines``: the order's when omitted) needs an authorised order and an invoice still NOT AVAILABLE or
    DRAFT; an authorised one is numbered ``INV-00001``. ``POST /sale/creditnote`` (``SaleID``, ``Status``,
    ``CreditNoteDate``, ``Memo``, ``Lines`` with Quantity, Price, Tax and Total, ``Restock`` lines with
    ``ProductID`` or ``SKU``, ``Quantity`` and ``Location`` or ``LocationID``) needs an AUTHORISED (or PAID)
    invoice and a credit note still NOT AVAILABLE or DRAFT; a line may credit no more than was invoiced, a
    restock line no more than its product's credited quantity. AUTHORISED, it is numbered ``CR-00001``, the
    sale becomes CREDITED and its restock lines go back on hand at their location (shipped or not: while the
    sale is unshipped its allocation stays until it ships, so Available rises by the units restocked either
    way), sending ``Sale/CreditNoteAuthorised`` and the stock webhook. ``GET /sale/invoice?SaleID=`` and
    ``GET /sale/creditnote?SaleID=`` read them; the sale carries them as ``Invoices`` and ``CreditNotes``.

Stock adjustments
    ``POST /stockadjustment`` (``EffectiveDate``, ``Status`` DRAFT|COMPLETED, ``Lines`` with ``ProductID``
    or ``SKU``, ``Quantity``, ``Location`` or ``LocationID`` (default location otherwise), ``UnitCost``).
    **A line's Quantity is the new absolute OnHand at that location** (``stock_adjustment_mode =
    "absolute"``, the default; ``"delta"`` makes it a signed change instead). In the response, lines for
    product x location pairs that had stock are ``ExistingStockLines`` with ``QuantityOnHand`` (the new
    level), ``Adjustment`` (new - old) and ``Available``; the others are ``NewStockLines``. Only
    ``COMPLETED`` changes stock; a DRAFT is completed later by ``PUT /stockadjustment`` with ``TaskID``
    and ``Status: COMPLETED``. ``GET /stockadjustment?TaskID=`` reads one (without a known TaskID: 400
    ``{"ErrorCode": 400, "Exception": "Stock Adjustment with specified TaskID not found"}``);
    ``GET /stockadjustmentList``.

Errors and limits
    ``{"ErrorCode": n, "Exception": "..."}``: 400 validation (including contract violations, naming the
    schema error), 403 auth, 404 unknown endpoint, 405 wrong method, 5xx server errors. Throttling is a
    token bucket per application key, ``rate_per_minute`` (60) with a burst of one minute's worth,
    answered ``throttle_status`` (503 by default, as the official table says; 429 if configured) with
    ``{"ErrorCode": 503, "Exception": "You reached 60 calls per minute API limit"}`` and no
    ``Retry-After``.

Webhooks (Cin7 does not sign; it sends the auth you configure)
    ``GET/POST/PUT/DELETE /webhooks`` manage subscriptions as Cin7 does (``Type``, ``ExternalURL``,
    ``ExternalAuthorizationType`` noauth|basicauth|bearerauth, ``ExternalUserName``/``ExternalPassword``,
    ``ExternalBearerToken``, ``ExternalHeaders`` [{Key, Value}], at most 5 per type);
    ``configure_webhook(url, ...)`` does the same from Python. Events sent:
    ``Stock/AvailableStockLevelChanged`` (a bare JSON array of availability rows of the changed
    product x locations, zero rows included), ``Sale/OrderAuthorised``, ``Sale/ShipmentAuthorised``,
    ``Sale/InvoiceAuthorised``, ``Sale/CreditNoteAuthorised`` and ``Sale/Voided`` (``{"SaleID",
    "SaleOrderNumber", "EventType"}``). Clerk changes through the control
    API send synchronously; changes made through the partner API send after the response is written
    (``webhooks_for_api_changes``, on by default: Cin7 reports every availability change). Each delivery
    is attempted once (Cin7's retry schedule spans an hour).

Sandbox-only control endpoints (besides those in :mod:`connectors.sandbox.base`):
``POST /_sandbox/orders/<sale id>/fulfil`` (ship an authorised sale), ``POST /_sandbox/orders/<sale
id>/void`` (void a sale), ``POST /_sandbox/applications`` (another application key, with its own rate limit
bucket).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from connectors.sandbox.base import (
    BaseSandbox,
    ControlError,
    PartnerError,
    WebhookDelivery,
    _Pending,
    as_number,
    deterministic_guid,
    generate_items,
    json_response,
    num,
    truthy,
)

DEFAULT_LOCATIONS = ("Main Warehouse", "Retail Store")
PREFIX = "/externalapi/v2"
MAX_LIMIT = 1000
STOCK_EVENT = "Stock/AvailableStockLevelChanged"
WEBHOOK_TYPES = (
    "Sale/QuoteAuthorised",
    "Sale/OrderAuthorised",
    "Sale/Voided",
    "Sale/Backordered",
    "Sale/ShipmentAuthorised",
    "Sale/InvoiceAuthorised",
    "Sale/PickAuthorised",
    "Sale/PackAuthorised",
    "Sale/CreditNoteAuthorised",
    "Sale/Undo",
    "Sale/PartialPaymentReceived",
    "Sale/FullPaymentReceived",
    "Sale/ShipmentTrackingNumberChanged",
    "Sale/Created",
    "Purchase/OrderAuthorised",
    "Purchase/InvoiceAuthorised",
    "Purchase/StockReceivedAuthorised",
    "Purchase/CreditNoteAuthorised",
    "Customer/Updated",
    "Supplier/Updated",
    "Product/Updated",
    STOCK_EVENT,
)
DEFAULT_WEBHOOK_TYPES = (
    STOCK_EVENT,
    "Sale/OrderAuthorised",
    "Sale/ShipmentAuthorised",
    "Sale/CreditNoteAuthorised",
    "Sale/Voided",
)
#: The status of a simple sale's invoice or credit note before any is made.
NO_TASK = "NOT AVAILABLE"
AUTO_MODES = {"AUTOPICK": "PICKED", "AUTOPICKPACK": "PACKED", "AUTOPICKPACKSHIP": "SHIPPED"}


def parse_cin7_time(text: str) -> datetime:
    """ISO 8601 as Cin7 takes it: ``2024-05-01T00:00:00.000``, with ``Z``/an offset or without (UTC),
    or a bare date."""
    moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1) if "T" not in text else text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclasses.dataclass
class StockRow:
    on_hand: float = 0.0
    allocated: float = 0.0
    on_order: float = 0.0
    in_transit: float = 0.0

    @property
    def available(self) -> float:
        return self.on_hand - self.allocated

    @property
    def nonzero(self) -> bool:
        return any((self.on_hand, self.allocated, self.available, self.on_order, self.in_transit))


class Cin7Sandbox(BaseSandbox):
    """Cin7 Core in memory. Known credentials are attributes: ``account_id``, ``application_key``,
    ``customer_id``, ``customer_name``; ``url`` and ``api_url`` (``url + "/ExternalApi/v2"``) once started."""

    partner = "cin7"
    MALFORMED_BODY = '{"Total":41,"Page":1,"Products":[{"ID":"53350e22-0a89-4bdd-b11c-90bb33'
    CONFIG: ClassVar[dict[str, type]] = {
        "validate_requests": bool,
        "webhooks_for_api_changes": bool,
        "rate_per_minute": float,
        "throttle_status": int,
        "apply_sales_immediately": bool,
        "stock_adjustment_mode": str,
        "dates_with_z": bool,
        "strict_totals": bool,
    }

    def __init__(
        self,
        *,
        account_id: str = "6c1f3b52-8d2e-4a49-9f0e-3b7a5c2d1e90",
        application_key: str = "0d4e9a7b-2c61-4f85-b3a8-9e1c7f6d5a42",
        locations: Sequence[str] = DEFAULT_LOCATIONS,
        rate_per_minute: float = 60,
        throttle_status: int = 503,
        apply_sales_immediately: bool = True,
        stock_adjustment_mode: str = "absolute",
        dates_with_z: bool = False,
        strict_totals: bool = True,
        webhooks_for_api_changes: bool = True,
        validate_requests: bool = True,
        seed: int = 0,
    ) -> None:
        self.account_id = account_id
        self.application_key = application_key
        self.default_locations = tuple(locations)
        self.rate_per_minute = float(rate_per_minute)
        self.throttle_status = throttle_status
        self.apply_sales_immediately = apply_sales_immediately
        self.stock_adjustment_mode = stock_adjustment_mode
        self.dates_with_z = dates_with_z
        self.strict_totals = strict_totals
        self.customer_id = "2f7a9c1e-5b3d-4e8f-a6c2-1d9b8e7f6a50"
        self.customer_name = "Stockpool POS"
        super().__init__(validate_requests=validate_requests, seed=seed)
        self.webhooks_for_api_changes = webhooks_for_api_changes

    # -- state ---------------------------------------------------------------------------------------

    def default_rate_per_minute(self) -> float:
        return self.rate_per_minute

    def reset_state(self) -> None:
        self._counters: dict[str, int] = {}
        self.application_keys = {self.application_key}
        self.locations: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self._by_sku: dict[str, str] = {}
        self._product_dates: dict[str, datetime] = {}
        self.stock_rows: dict[tuple[str, str], StockRow] = {}
        self.customers = {
            self.customer_id: self._customer(self.customer_id, self.customer_name),
            "8b4e2d6f-1a3c-4f7e-9d5b-6c8a0e2f4b13": self._customer(
                "8b4e2d6f-1a3c-4f7e-9d5b-6c8a0e2f4b13", "Walk-in Customer"
            ),
        }
        self.sales: dict[str, dict[str, Any]] = {}
        self._sale_state: dict[str, dict[str, Any]] = {}
        self.stock_adjustments: dict[str, dict[str, Any]] = {}
        self._draft_lines: dict[str, list[dict[str, Any]]] = {}
        self.webhook_subscriptions: list[dict[str, Any]] = []
        self._seeded = 0
        for name in self.default_locations:
            self._ensure_location(name)

    @staticmethod
    def _customer(customer_id: str, name: str) -> dict[str, Any]:
        return {
            "ID": customer_id,
            "Name": name,
            "Currency": "USD",
            "PaymentTerm": "30 days",
            "Discount": 0,
            "TaxRule": "Tax Exempt",
            "PriceTier": "Tier 1",
            "Status": "Active",
            "Contacts": [],
            "Addresses": [],
        }

    def _guid(self, kind: str) -> str:
        self._counters[kind] = self._counters.get(kind, 0) + 1
        return deterministic_guid("cin7", kind, self.base_seed, self._counters[kind])

    def _number(self, kind: str, prefix: str) -> str:
        key = f"number:{kind}"
        self._counters[key] = self._counters.get(key, 0) + 1
        return f"{prefix}-{self._counters[key]:05d}"

    def _ensure_location(self, name: str) -> dict[str, Any]:
        for location in self.locations.values():
            if location["Name"].lower() == name.lower():
                return location
        location_id = self._guid("location")
        location = {
            "ID": location_id,
            "Name": name,
            "IsDefault": not self.locations,
            "IsDeprecated": False,
            "ParentID": None,
            "ParentName": None,
            "IsShopfloor": False,
            "IsStaging": False,
            "IsCoMan": False,
            "FixedAssetsLocation": False,
            "ReferenceCount": 0,
            "PickZones": None,
            "Bins": None,
            "AddressLine1": f"{len(self.locations) + 1} Dock Street",
            "AddressLine2": "",
            "AddressCitySuburb": "Springfield",
            "AddressStateProvince": "",
            "AddressZipPostCode": "",
            "AddressCountry": "USA",
        }
        self.locations[location_id] = location
        return location

    @property
    def default_location(self) -> dict[str, Any]:
        return next(loc for loc in self.locations.values() if loc["IsDefault"])

    def location_id(self, name_or_id: str) -> str:
        """A location's ID from its name (case-insensitive) or ID."""
        with self.lock:
            if name_or_id in self.locations:
                return name_or_id
            for location in self.locations.values():
                if location["Name"].lower() == str(name_or_id).lower():
                    return location["ID"]
        raise ControlError(f"unknown location {name_or_id!r}")

    def _product(self, sku_or_id: str) -> dict[str, Any]:
        product = self.products.get(str(sku_or_id)) or self.products.get(self._by_sku.get(str(sku_or_id).lower(), ""))
        if product is None:
            raise ControlError(f"unknown product {sku_or_id!r}")
        return product

    def _date(self, moment: datetime | None) -> str | None:
        if moment is None:
            return None
        text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
        return text + "Z" if self.dates_with_z else text

    def _row(self, product_id: str, location_id: str) -> StockRow:
        return self.stock_rows.setdefault((product_id, location_id), StockRow())

    # -- Python control methods ---------------------------------------------------------------------

    def add_application(self) -> str:
        """Another application key of the same account (it gets its own rate-limit bucket)."""
        with self.lock:
            key = self._guid("application")
            self.application_keys.add(key)
            return key

    def seed(
        self, items: int = 20, locations: Sequence[str] | None = None, seed: int | None = None
    ) -> list[dict[str, Any]]:
        """Add ``items`` generated products (deterministic for a given seed and call sequence) stocked at
        ``locations`` (names; created when missing; default: every location). Returns
        ``[{"ID", "SKU", "Name"}]``."""
        with self.lock:
            names = list(locations) if locations else [loc["Name"] for loc in self.locations.values()]
            location_ids = {name: self._ensure_location(name)["ID"] for name in names}
            generated = generate_items(
                items, names, seed=self.base_seed if seed is None else seed, start_index=self._seeded + 1
            )
            self._seeded += items
            epoch = datetime(2025, 1, 1, tzinfo=UTC)
            created = []
            for entry in generated:
                product_id = self._guid("product")
                modified = epoch + timedelta(minutes=entry.index, milliseconds=entry.index % 1000)
                product = self._product_record(
                    product_id,
                    sku=entry.sku,
                    name=entry.name,
                    category=entry.category,
                    brand=entry.brand,
                    price=entry.rate,
                    cost=entry.purchase_rate,
                    barcode=entry.ean,
                    weight=entry.weight,
                    reorder=entry.reorder_level,
                    created=epoch + timedelta(minutes=entry.index),
                )
                self._store_product(product, modified)
                for name, quantity in entry.stock.items():
                    if quantity:
                        self.stock_rows[(product_id, location_ids[name])] = StockRow(on_hand=float(quantity))
                created.append({"ID": product_id, "SKU": entry.sku, "Name": entry.name})
            return created

    def _product_record(
        self,
        product_id: str,
        *,
        sku: str,
        name: str,
        category: str,
        brand: str,
        price: float,
        cost: float,
        barcode: str,
        weight: float,
        reorder: float,
        created: datetime,
        status: str = "Active",
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "ID": product_id,
            "SKU": sku,
            "Name": name,
            "Category": category,
            "Brand": brand,
            "Type": "Stock",
            "CostingMethod": "FIFO",
            "DropShipMode": "No Drop Ship",
            "DefaultLocation": self.default_location["Name"],
            "Length": 0,
            "Width": 0,
            "Height": 0,
            "Weight": weight,
            "WeightUnits": "kg",
            "DimensionsUnits": "cm",
            "UOM": "Item",
            "Barcode": barcode,
            "MinimumBeforeReorder": reorder,
            "ReorderQuantity": reorder * 2,
            "AverageCost": cost,
            "ShortDescription": None,
            "Description": f"{name} by {brand}.",
            "AttributeSet": None,
            "Tags": "",
            "Status": status,
            "Sellable": True,
            "CreatedDate": created,
            "Suppliers": [],
            "ReorderLevels": [],
            "BillOfMaterial": False,
            "BillOfMaterialsProducts": [],
            "Movements": [],
            "Attachments": [],
        }
        for tier in range(1, 11):
            record[f"PriceTier{tier}"] = price if tier == 1 else 0
        record["PriceTiers"] = {"Tier 1": price}
        for index in range(1, 11):
            record[f"AdditionalAttribute{index}"] = None
        return record

    def _store_product(self, product: dict[str, Any], modified: datetime) -> None:
        self.products[product["ID"]] = product
        self._by_sku[product["SKU"].lower()] = product["ID"]
        self._product_dates[product["ID"]] = modified

    def add_item(
        self,
        sku: str,
        name: str | None = None,
        stock: dict[str, float] | None = None,
        price: float = 10.0,
        cost: float = 5.0,
        category: str = "Accessories",
        brand: str = "Northwind",
        status: str = "Active",
        **extra: Any,
    ) -> dict[str, Any]:
        """Create one product; ``stock`` maps location names or IDs to OnHand. Returns the product as
        ``GET /product`` shows it."""
        if extra:
            raise ControlError(f"unknown product fields: {', '.join(sorted(extra))}")
        with self.lock:
            if sku.lower() in self._by_sku:
                raise ControlError(f"SKU {sku!r} exists")
            now = self.now()
            product = self._product_record(
                self._guid("product"),
                sku=sku,
                name=name or sku,
                category=category,
                brand=brand,
                price=float(price),
                cost=float(cost),
                barcode="",
                weight=0.0,
                reorder=0,
                created=now,
                status=status,
            )
            self._store_product(product, now)
            for location, quantity in (stock or {}).items():
                try:
                    location_id = self.location_id(location)
                except ControlError:
                    location_id = self._ensure_location(location)["ID"]
                self._row(product["ID"], location_id).on_hand = float(quantity)
            return self._product_payload(product)

    add_product = add_item

    def product(self, sku_or_id: str) -> dict[str, Any]:
        with self.lock:
            return self._product_payload(self._product(sku_or_id))

    def availability(self, sku: str, location: str) -> dict[str, Any]:
        """The availability row of a product (SKU or ID) at a location (name or ID), zeros included."""
        with self.lock:
            product = self._product(sku)
            location_id = self.location_id(location)
            return self._availability_row(product, location_id, self._row(product["ID"], location_id))

    def stock(self, sku: str, location: str) -> float | int:
        """OnHand of a product (SKU or ID) at a location (name or ID)."""
        with self.lock:
            product = self._product(sku)
            row = self.stock_rows.get((product["ID"], self.location_id(location)))
            return num(row.on_hand if row else 0.0)

    def stock_by_location(self, sku: str) -> dict[str, Any]:
        with self.lock:
            product = self._product(sku)
            return {
                self.locations[location_id]["Name"]: {
                    "OnHand": num(row.on_hand),
                    "Allocated": num(row.allocated),
                    "Available": num(row.available),
                }
                for (product_id, location_id), row in self.stock_rows.items()
                if product_id == product["ID"]
            }

    def set_stock(self, sku: str, location: str, on_hand: float, *, notify: bool = True) -> dict[str, Any]:
        """A clerk's stocktake in Cin7's UI: OnHand at ``location`` becomes ``on_hand``; sends
        ``Stock/AvailableStockLevelChanged`` (if subscribed and ``notify``)."""
        quantity = as_number(on_hand)
        if quantity is None:
            raise ControlError("on_hand must be a number")
        return self._clerk_change(lambda current: quantity - current, sku, location, notify)

    def adjust_stock(self, sku: str, location: str, delta: float, *, notify: bool = True) -> dict[str, Any]:
        """A clerk's sale (negative) or receipt (positive) in Cin7's UI; as :meth:`set_stock`."""
        quantity = as_number(delta)
        if quantity is None:
            raise ControlError("delta must be a number")
        return self._clerk_change(lambda current: quantity, sku, location, notify)

    def _clerk_change(
        self, delta_from: Callable[[float], float], sku: str, location: str, notify: bool
    ) -> dict[str, Any]:
        """Change OnHand by ``delta_from(current OnHand)`` under the lock; send the webhook outside it."""
        with self.lock:
            product = self._product(sku)
            location_id = self.location_id(location)
            row = self._row(product["ID"], location_id)
            row.on_hand += delta_from(row.on_hand)
            result: dict[str, Any] = self._availability_row(product, location_id, row)
            payload = [dict(result)]
        deliveries = self._send(STOCK_EVENT, payload) if notify else []
        result["deliveries"] = [d.to_dict() for d in deliveries]
        return result

    def send_stock_webhook(self, sku: str) -> list[WebhookDelivery]:
        """Send ``Stock/AvailableStockLevelChanged`` for one product (every location it has a row at)."""
        with self.lock:
            product = self._product(sku)
            rows = [
                self._availability_row(product, location_id, row)
                for (product_id, location_id), row in self.stock_rows.items()
                if product_id == product["ID"]
            ]
        return self._send(STOCK_EVENT, rows)

    def _send(self, event: str, payload: Any) -> list[WebhookDelivery]:
        return self._deliver_all([(event, payload)])

    def configure_webhook(
        self,
        url: str,
        types: Sequence[str] = DEFAULT_WEBHOOK_TYPES,
        auth_type: str = "noauth",
        username: str = "",
        password: str = "",
        bearer_token: str = "",
        headers: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Subscribe ``url`` to ``types`` (replacing earlier subscriptions made this way) with Cin7's
        auth options: ``auth_type`` noauth|basicauth|bearerauth and custom ``headers``."""
        if not url:
            raise ControlError("url is required")
        if isinstance(types, str):
            types = [types]
        with self.lock:
            self.webhook_subscriptions = [s for s in self.webhook_subscriptions if not s.get("_control")]
            created = []
            for event_type in types:
                subscription = self._subscription(
                    {
                        "Type": event_type,
                        "ExternalURL": url,
                        "ExternalAuthorizationType": auth_type,
                        "ExternalUserName": username,
                        "ExternalPassword": password,
                        "ExternalBearerToken": bearer_token,
                        "ExternalHeaders": [{"Key": k, "Value": v} for k, v in (headers or {}).items()],
                    }
                )
                subscription["_control"] = True
                self.webhook_subscriptions.append(subscription)
                created.append(subscription)
            return [self._public_subscription(s) for s in created]

    def _subscription(self, body: dict[str, Any], existing: dict[str, Any] | None = None) -> dict[str, Any]:
        subscription = dict(existing or {"ID": self._guid("webhook"), "IsActive": True})
        for key in (
            "Type",
            "Name",
            "IsActive",
            "ExternalURL",
            "ExternalAuthorizationType",
            "ExternalUserName",
            "ExternalPassword",
            "ExternalBearerToken",
            "ExternalHeaders",
        ):
            if key in body:
                subscription[key] = body[key]
        subscription.setdefault("Name", subscription.get("Type", ""))
        subscription.setdefault("ExternalAuthorizationType", "noauth")
        subscription.setdefault("ExternalHeaders", [])
        if subscription.get("Type") not in WEBHOOK_TYPES:
            raise ControlError(f"Unknown webhook type {subscription.get('Type')!r}")
        if subscription["ExternalAuthorizationType"] not in {"noauth", "basicauth", "bearerauth"}:
            raise ControlError("ExternalAuthorizationType must be noauth, basicauth or bearerauth")
        if not subscription.get("ExternalURL"):
            raise ControlError("ExternalURL is required")
        if not isinstance(subscription["ExternalHeaders"], list):
            raise ControlError("ExternalHeaders must be a list of {Key, Value}")
        return subscription

    @staticmethod
    def _public_subscription(subscription: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in subscription.items() if not k.startswith("_")}

    def clear_webhook(self) -> None:
        with self.lock:
            self.webhook_subscriptions = []

    def webhook_config(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._public_subscription(s) for s in self.webhook_subscriptions]

    def webhook_targets(self, event: str) -> list[dict[str, Any]]:
        targets = []
        with self.lock:
            for subscription in self.webhook_subscriptions:
                if subscription["Type"] != event or not subscription.get("IsActive", True):
                    continue
                headers = {h["Key"]: h["Value"] for h in subscription["ExternalHeaders"] if h.get("Key")}
                headers["X-Amzn-Trace-Id"] = f"Root=1-{self._guid('trace').replace('-', '')[:24]}"
                auth = None
                if subscription["ExternalAuthorizationType"] == "basicauth":
                    auth = (subscription.get("ExternalUserName", ""), subscription.get("ExternalPassword", ""))
                elif subscription["ExternalAuthorizationType"] == "bearerauth":
                    headers["Authorization"] = f"Bearer {subscription.get('ExternalBearerToken', '')}"
                targets.append({"url": subscription["ExternalURL"], "headers": headers, "params": None, "auth": auth})
        return targets

    def orders(self) -> list[dict[str, Any]]:
        """Every sale created through the API, with ``_sandbox: {pending, fulfilled, allocations}``."""
        with self.lock:
            return [
                {
                    **sale,
                    "_sandbox": {
                        **self._sale_state[sale_id],
                        "allocations": list(self._sale_state[sale_id]["allocations"]),
                    },
                }
                for sale_id, sale in self.sales.items()
            ]

    def apply_pending_orders(self) -> list[str]:
        """Allocate (and ship, for auto-pick modes) every authorised sale held back by
        ``apply_sales_immediately`` off; sends the webhooks. Returns the SaleIDs applied."""
        applied = []
        pending = _Pending()
        with self.lock:
            for sale_id, state in self._sale_state.items():
                if state["pending"]:
                    self._allocate(self.sales[sale_id], pending, force_webhooks=True)
                    applied.append(sale_id)
        self._deliver_all(pending.webhooks)
        return applied

    def fulfil_sale(self, sale_id: str) -> dict[str, Any]:
        """Ship an authorised sale as a clerk would in Cin7's UI: OnHand and Allocated drop by what was
        allocated; sends ``Sale/ShipmentAuthorised`` and the stock webhook. Returns the sale."""
        pending = _Pending()
        with self.lock:
            sale = self.sales.get(sale_id)
            if sale is None:
                raise ControlError(f"unknown sale {sale_id!r}")
            state = self._sale_state[sale_id]
            if sale["Order"]["Status"] != "AUTHORISED" or state["pending"]:
                raise ControlError("only an authorised, applied sale can be fulfilled")
            if state["fulfilled"]:
                raise ControlError("the sale has already been fulfilled")
            self._ship(sale, "SHIPPED", pending, force_webhooks=True)
            result = dict(sale)
        self._deliver_all(pending.webhooks)
        return result

    def void_sale(self, sale_id: str) -> dict[str, Any]:
        """Void a sale as a clerk would in Cin7's UI: its allocation is released; sends ``Sale/Voided`` and the
        stock webhook. Returns the sale."""
        pending = _Pending()
        with self.lock:
            sale = self.sales.get(sale_id)
            if sale is None:
                raise ControlError(f"unknown sale {sale_id!r}")
            try:
                self._void(sale, pending, force_webhooks=True)
            except PartnerError as error:
                raise ControlError(error.message) from None
            result = dict(sale)
        self._deliver_all(pending.webhooks)
        return result

    def adjustments(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(adjustment) for adjustment in self.stock_adjustments.values()]

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "partner": self.partner,
                "url": self.url,
                "api_url": self.api_url,
                "account_id": self.account_id,
                "application_key": self.application_key,
                "customer_id": self.customer_id,
                "customer_name": self.customer_name,
                "locations": [
                    {"ID": loc["ID"], "Name": loc["Name"], "IsDefault": loc["IsDefault"]}
                    for loc in self.locations.values()
                ],
                "counts": {
                    "products": len(self.products),
                    "sales": len(self.sales),
                    "stock_adjustments": len(self.stock_adjustments),
                    "requests": len(self.request_log),
                    "webhook_deliveries": len(self.webhook_deliveries),
                },
                "now": self._date(self.now()),
                "config": self.config(),
                "faults": self.faults.to_dict(),
                "webhook": self.webhook_config(),
            }

    @property
    def api_url(self) -> str:
        return f"{self.url}/ExternalApi/v2" if self.url else ""

    def _apply_setting(self, name: str, value: Any) -> None:
        if name == "stock_adjustment_mode" and value not in {"absolute", "delta"}:
            raise ControlError("stock_adjustment_mode must be absolute or delta")
        if name == "throttle_status" and value not in {429, 503}:
            raise ControlError("throttle_status must be 429 or 503")
        super()._apply_setting(name, value)
        if name == "rate_per_minute":
            self.rate_limiter.configure(value)

    # -- control API extras -----------------------------------------------------------------------------

    def _control_rules(self) -> list[Rule]:
        return [
            *super()._control_rules(),
            Rule("/_sandbox/orders/<sale_id>/fulfil", endpoint="fulfil", methods=["POST"]),
            Rule("/_sandbox/orders/<sale_id>/void", endpoint="void", methods=["POST"]),
            Rule("/_sandbox/applications", endpoint="applications", methods=["POST"]),
        ]

    def _control_fulfil(self, request: Request, body: dict, sale_id: str) -> dict:
        return {"sale": self.fulfil_sale(sale_id)}

    def _control_void(self, request: Request, body: dict, sale_id: str) -> dict:
        return {"sale": self.void_sale(sale_id)}

    def _control_applications(self, request: Request, body: dict) -> dict:
        return {"application_key": self.add_application()}

    # -- partner API ---------------------------------------------------------------------------------

    ROUTES: ClassVar[dict[str, dict[str, str]]] = {
        "/me": {"GET": "me"},
        "/product": {"GET": "products"},
        "/ref/productavailability": {"GET": "availability"},
        "/ref/location": {"GET": "locations"},
        "/customer": {"GET": "customers"},
        "/sale": {"GET": "get_sale", "POST": "create_sale", "DELETE": "void_sale"},
        "/sale/quote": {"GET": "get_quote", "POST": "set_quote"},
        "/sale/order": {"GET": "get_order", "POST": "set_order"},
        "/sale/invoice": {"GET": "get_invoices", "POST": "set_invoice"},
        "/sale/creditnote": {"GET": "get_credit_notes", "POST": "set_credit_note"},
        "/salelist": {"GET": "sale_list"},
        "/stockadjustment": {"GET": "get_adjustment", "POST": "create_adjustment", "PUT": "update_adjustment"},
        "/stockadjustmentlist": {"GET": "adjustment_list"},
        "/webhooks": {
            "GET": "list_webhooks",
            "POST": "create_webhook",
            "PUT": "update_webhook",
            "DELETE": "delete_webhook",
        },
    }

    def rate_key(self, request: Request) -> str | None:
        if not request.path.lower().startswith(PREFIX):
            return None
        return request.headers.get("api-auth-applicationkey", "").strip().lower() or "-"

    def error_response(self, status: int, message: str, code: int | None = None) -> Response:
        return json_response({"ErrorCode": code if code is not None else status, "Exception": message}, status=status)

    def throttle_response(self) -> Response:
        status = self.throttle_status
        limit = num(self.rate_per_minute)
        return json_response(
            {"ErrorCode": status, "Exception": f"You reached {limit} calls per minute API limit"}, status=status
        )

    def server_error_response(self, status: int) -> Response:
        return json_response({"ErrorCode": status, "Exception": "Internal Server Error"}, status=status)

    def handle(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        path = request.path.lower().rstrip("/")
        if not path.startswith(PREFIX + "/"):
            raise PartnerError(404, "Endpoint not found")
        relative = path[len(PREFIX) :]
        methods = self.ROUTES.get(relative)
        if methods is None:
            raise PartnerError(404, f"Endpoint {request.path} does not exist")
        endpoint = methods.get(request.method)
        if endpoint is None:
            raise PartnerError(405, f"The requested resource does not support http method '{request.method}'.")
        account = request.headers.get("api-auth-accountid", "").strip().lower()
        key = request.headers.get("api-auth-applicationkey", "").strip().lower()
        if account != self.account_id.lower() or key not in {k.lower() for k in self.application_keys}:
            raise PartnerError(403, "Method authentication failed")
        if request.method in {"POST", "PUT"}:
            if body_error or not isinstance(body, dict):
                raise PartnerError(400, body_error or "The request body must be a JSON object")
            violation = self.spec_violation(request, body)
            if violation:
                raise PartnerError(400, f"Invalid request: {violation}")
        query = {k.lower(): v for k, v in request.args.items()}
        try:
            with self.lock:
                return getattr(self, f"_api_{endpoint}")(query, body, pending)
        except ControlError as exc:
            raise PartnerError(400, str(exc)) from None

    # helpers ----------------------------------------------------------------------------------------------

    @staticmethod
    def _paging(query: dict[str, str]) -> tuple[int, int]:
        try:
            page = int(query.get("page", 1))
            limit = int(query.get("limit", 100))
        except ValueError:
            raise PartnerError(400, "Page and Limit must be integers") from None
        if page < 1 or limit < 1:
            raise PartnerError(400, "Page and Limit must be positive")
        return page, min(limit, MAX_LIMIT)

    @staticmethod
    def _page(rows: list, page: int, limit: int) -> list:
        return rows[(page - 1) * limit : page * limit]

    @staticmethod
    def _since(query: dict[str, str], name: str) -> datetime | None:
        text = query.get(name.lower())
        if not text:
            return None
        try:
            return parse_cin7_time(text)
        except ValueError:
            raise PartnerError(400, f"{name} must be an ISO 8601 date") from None

    def _product_payload(self, product: dict[str, Any]) -> dict[str, Any]:
        payload = dict(product)
        payload["CreatedDate"] = self._date(product["CreatedDate"])
        payload["LastModifiedOn"] = self._date(self._product_dates[product["ID"]])
        return payload

    def _availability_row(self, product: dict[str, Any], location_id: str, row: StockRow) -> dict[str, Any]:
        return {
            "ID": product["ID"],
            "SKU": product["SKU"],
            "Name": product["Name"],
            "Barcode": product["Barcode"] or None,
            "Location": self.locations[location_id]["Name"],
            "Bin": None,
            "Batch": None,
            "ExpiryDate": None,
            "OnHand": num(row.on_hand),
            "Allocated": num(row.allocated),
            "Available": num(row.available),
            "OnOrder": num(row.on_order),
            "StockOnHand": num(round(row.on_hand * product["AverageCost"], 2)),
            "InTransit": num(row.in_transit),
            "NextDeliveryDate": None,
        }

    def _resolve_product(self, line: dict[str, Any], index: int) -> dict[str, Any]:
        product = None
        if line.get("ProductID"):
            product = self.products.get(str(line["ProductID"]))
        elif line.get("SKU"):
            product = self.products.get(self._by_sku.get(str(line["SKU"]).lower(), ""))
        if product is None:
            reference = line.get("ProductID") or line.get("SKU")
            raise PartnerError(400, f"Line {index + 1}: Product not found: {reference}")
        return product

    def _resolve_location(self, name: str | None = None, location_id: str | None = None) -> str:
        if location_id:
            if location_id not in self.locations:
                raise PartnerError(400, f"Location with ID {location_id} not found")
            return location_id
        if name:
            for location in self.locations.values():
                if location["Name"].lower() == str(name).lower():
                    return location["ID"]
            raise PartnerError(400, f"Location '{name}' not found")
        return self.default_location["ID"]

    # reads ------------------------------------------------------------------------------------------------

    def _api_me(self, query: dict, body: Any, pending: _Pending) -> Response:
        return json_response(
            {
                "Company": "Stockpool Sandbox Trading",
                "Currency": "USD",
                "TimeZone": "(UTC) Coordinated Universal Time",
                "DefaultWeightUnits": "kg",
                "DefaultDimensionsUnits": "cm",
                "LockDate": None,
                "OpeningBalanceDate": None,
            }
        )

    def _api_products(self, query: dict, body: Any, pending: _Pending) -> Response:
        page, limit = self._paging(query)
        since = self._since(query, "ModifiedSince")
        product_id = query.get("id")
        name = query.get("name", "").lower()
        sku = query.get("sku", "").lower()
        include_deprecated = truthy(query.get("includedeprecated", "false"))
        matching = [
            product
            for product in self.products.values()
            if (not product_id or product["ID"] == product_id)
            and (not name or name in product["Name"].lower())
            and (not sku or sku in product["SKU"].lower())
            and (include_deprecated or product["Status"] == "Active")
            and (since is None or self._product_dates[product["ID"]] >= since)
        ]
        return json_response(
            {
                "Total": len(matching),
                "Page": page,
                "Products": [self._product_payload(p) for p in self._page(matching, page, limit)],
            }
        )

    def _api_availability(self, query: dict, body: Any, pending: _Pending) -> Response:
        page, limit = self._paging(query)
        product_id = query.get("id")
        name = query.get("name", "").lower()
        sku = query.get("sku", "").lower()
        location = query.get("location", "").lower()
        category = query.get("category", "").lower()
        rows = []
        location_order = list(self.locations)
        by_product: dict[str, list[tuple[str, StockRow]]] = {}
        for (pid, location_id), row in self.stock_rows.items():
            by_product.setdefault(pid, []).append((location_id, row))
        for product in self.products.values():
            if product_id and product["ID"] != product_id:
                continue
            if (name and name not in product["Name"].lower()) or (sku and sku not in product["SKU"].lower()):
                continue
            if category and product["Category"].lower() != category:
                continue
            entries = sorted(by_product.get(product["ID"], []), key=lambda entry: location_order.index(entry[0]))
            for location_id, row in entries:
                if not row.nonzero:
                    continue
                if location and self.locations[location_id]["Name"].lower() != location:
                    continue
                rows.append((product, location_id, row))
        chunk = self._page(rows, page, limit)
        return json_response(
            {
                "Total": len(rows),
                "Page": page,
                "ProductAvailabilityList": [self._availability_row(p, loc, row) for p, loc, row in chunk],
            }
        )

    def _api_locations(self, query: dict, body: Any, pending: _Pending) -> Response:
        page, limit = self._paging(query)
        location_id = query.get("id")
        name = query.get("name", "").lower()
        deprecated = query.get("deprecated")
        matching = [
            loc
            for loc in self.locations.values()
            if (not location_id or loc["ID"] == location_id)
            and (not name or loc["Name"].lower().startswith(name))
            and (deprecated is None or loc["IsDeprecated"] == truthy(deprecated))
        ]
        return json_response(
            {
                "Total": len(matching),
                "Page": page,
                "LocationList": [dict(loc) for loc in self._page(matching, page, limit)],
            }
        )

    def _api_customers(self, query: dict, body: Any, pending: _Pending) -> Response:
        page, limit = self._paging(query)
        customer_id = query.get("id")
        name = query.get("name", "").lower()
        matching = [
            c
            for c in self.customers.values()
            if (not customer_id or c["ID"] == customer_id) and (not name or name in c["Name"].lower())
        ]
        return json_response(
            {"Total": len(matching), "Page": page, "CustomerList": [dict(c) for c in self._page(matching, page, limit)]}
        )

    # sales ----------------------------------------------------------------------------------------------------

    def _sale(self, sale_id: str | None) -> dict[str, Any]:
        sale = self.sales.get(str(sale_id or ""))
        if sale is None:
            raise PartnerError(400, "Sale with specified ID not found")
        return sale

    def _touch(self, sale: dict[str, Any]) -> None:
        sale["LastModifiedOn"] = self._date(self.now())

    def _api_create_sale(self, query: dict, body: dict, pending: _Pending) -> Response:
        customer = None
        if body.get("CustomerID"):
            customer = self.customers.get(str(body["CustomerID"]))
        elif body.get("Customer"):
            customer = next(
                (c for c in self.customers.values() if c["Name"].lower() == str(body["Customer"]).lower()), None
            )
        if customer is None:
            raise PartnerError(400, "Customer not found. Specify an existing Customer or CustomerID.")
        location_id = self._resolve_location(body.get("Location"))
        sale_id = self._guid("sale")
        now = self.now()
        skip_quote = truthy(body.get("SkipQuote", False))
        sale = {
            "ID": sale_id,
            "Customer": customer["Name"],
            "CustomerID": customer["ID"],
            "Contact": body.get("Contact", ""),
            "Phone": body.get("Phone", ""),
            "Email": body.get("Email", ""),
            "DefaultAccount": body.get("DefaultAccount", "200"),
            "SkipQuote": skip_quote,
            "BillingAddress": body.get("BillingAddress"),
            "ShippingAddress": body.get("ShippingAddress"),
            "ShippingNotes": body.get("ShippingNotes", ""),
            "BaseCurrency": "USD",
            "CustomerCurrency": "USD",
            "TaxRule": body.get("TaxRule", customer["TaxRule"]),
            "TaxCalculation": "Inclusive" if truthy(body.get("TaxInclusive", False)) else "Exclusive",
            "Terms": body.get("Terms", customer["PaymentTerm"]),
            "PriceTier": body.get("PriceTier", customer["PriceTier"]),
            "ShipBy": body.get("ShipBy"),
            "Location": self.locations[location_id]["Name"],
            "SaleOrderDate": body.get("SaleOrderDate") or now.strftime("%Y-%m-%dT00:00:00"),
            "LastModifiedOn": self._date(now),
            "Note": body.get("Note", ""),
            "CustomerReference": body.get("CustomerReference", ""),
            "COGSAmount": 0,
            "Status": "ESTIMATED" if skip_quote else "DRAFT",
            "CombinedPickingStatus": "NOT AVAILABLE",
            "CombinedPackingStatus": "NOT AVAILABLE",
            "CombinedShippingStatus": "NOT AVAILABLE",
            "FulFilmentStatus": "NOT FULFILLED",
            "CombinedInvoiceStatus": "NOT AVAILABLE",
            "CombinedPaymentStatus": "UNPAID",
            "CombinedTrackingNumbers": "",
            "Carrier": "",
            "CurrencyRate": 1,
            "SalesRepresentative": body.get("SalesRepresentative", ""),
            "Type": "Simple Sale",
            "SourceChannel": body.get("SourceChannel"),
            "ExternalID": body.get("ExternalID"),
            "ServiceOnly": False,
            "Quote": {
                "Memo": "",
                "Status": "NOT AVAILABLE",
                "Lines": [],
                "AdditionalCharges": [],
                "TotalBeforeTax": 0,
                "Tax": 0,
                "Total": 0,
            },
            "Order": {
                "SaleOrderNumber": self._number("sale", "SO"),
                "Memo": "",
                "Status": "NOT AVAILABLE",
                "Lines": [],
                "AdditionalCharges": [],
                "TotalBeforeTax": 0,
                "Tax": 0,
                "Total": 0,
            },
            "Fulfilments": [],
            "Invoices": [],
            "CreditNotes": [],
            "ManualJournals": {"Status": "NOT AVAILABLE", "Lines": []},
            "Attachments": [],
            "InventoryMovements": [],
            "AdditionalAttributes": None,
        }
        self.sales[sale_id] = sale
        self._sale_state[sale_id] = {
            "location_id": location_id,
            "created": now,
            "pending": False,
            "fulfilled": False,
            "allocations": [],
        }
        return json_response(sale)

    def _priced_lines(self, lines: Any) -> list[dict[str, Any]]:
        if not isinstance(lines, list):
            raise PartnerError(400, "Lines must be a list")
        priced = []
        for index, line in enumerate(lines):
            if not isinstance(line, dict):
                raise PartnerError(400, f"Line {index + 1} must be an object")
            product = self._resolve_product(line, index)
            quantity = as_number(line.get("Quantity"))
            price = as_number(line.get("Price"))
            discount = as_number(line.get("Discount", 0)) or 0.0
            tax = as_number(line.get("Tax", 0)) or 0.0
            total = as_number(line.get("Total"))
            if quantity is None or quantity <= 0:
                raise PartnerError(400, f"Line {index + 1}: Quantity should be greater than zero")
            if price is None or price < 0:
                raise PartnerError(400, f"Line {index + 1}: Price is required")
            expected = round(quantity * price * (1 - discount / 100), 2)
            if total is None:
                total = expected
            elif self.strict_totals and abs(total - expected) > 0.01:
                raise PartnerError(
                    400,
                    f"Line {index + 1}: Total {num(total)} is not equal to "
                    f"Quantity * Price - Discount ({num(expected)})",
                )
            priced.append(
                {
                    "ProductID": product["ID"],
                    "SKU": product["SKU"],
                    "Name": line.get("Name") or product["Name"],
                    "Quantity": num(quantity),
                    "Price": num(price),
                    "Discount": num(discount),
                    "Tax": num(tax),
                    "TaxRule": line.get("TaxRule", "Tax Exempt"),
                    "AverageCost": product["AverageCost"],
                    "Comment": line.get("Comment", ""),
                    "DropShip": False,
                    "BackorderQuantity": 0,
                    "Total": num(total),
                }
            )
        return priced

    def _api_get_quote(self, query: dict, body: Any, pending: _Pending) -> Response:
        sale = self._sale(query.get("saleid"))
        return json_response({"SaleID": sale["ID"], **sale["Quote"]})

    def _api_set_quote(self, query: dict, body: dict, pending: _Pending) -> Response:
        sale = self._sale(body.get("SaleID"))
        if sale["Quote"]["Status"] == "AUTHORISED":
            raise PartnerError(400, "Sale quote has already been authorised")
        status = body.get("Status", "DRAFT")
        if status not in {"DRAFT", "AUTHORISED"}:
            raise PartnerError(400, "Status must be DRAFT or AUTHORISED")
        lines = self._priced_lines(body.get("Lines", []))
        subtotal = sum(line["Total"] for line in lines)
        tax = sum(line["Tax"] for line in lines)
        sale["Quote"] = {
            "Memo": body.get("Memo", ""),
            "Status": status,
            "Lines": lines,
            "AdditionalCharges": body.get("AdditionalCharges", []),
            "TotalBeforeTax": num(subtotal),
            "Tax": num(tax),
            "Total": num(subtotal + tax),
        }
        sale["Status"] = "ESTIMATED" if status == "AUTHORISED" else "ESTIMATING"
        self._touch(sale)
        return json_response({"SaleID": sale["ID"], **sale["Quote"]})

    def _api_get_order(self, query: dict, body: Any, pending: _Pending) -> Response:
        sale = self._sale(query.get("saleid"))
        return json_response({"SaleID": sale["ID"], **sale["Order"]})

    def _api_set_order(self, query: dict, body: dict, pending: _Pending) -> Response:
        sale = self._sale(body.get("SaleID"))
        if not sale["SkipQuote"] and sale["Quote"]["Status"] != "AUTHORISED":
            raise PartnerError(400, "Sale Quote should be authorised (or SkipQuote set) before the Sale Order")
        if sale["Order"]["Status"] not in {"NOT AVAILABLE", "DRAFT"}:
            raise PartnerError(400, f"Sale Order with status {sale['Order']['Status']} cannot be changed")
        status = body.get("Status")
        if status not in {"DRAFT", "AUTHORISED"}:
            raise PartnerError(400, "Status must be DRAFT or AUTHORISED")
        mode = str(body.get("AutoPickPackShipMode") or "NOPICK").upper()
        if mode not in {"NOPICK", *AUTO_MODES}:
            raise PartnerError(400, "AutoPickPackShipMode must be NOPICK, AUTOPICK, AUTOPICKPACK or AUTOPICKPACKSHIP")
        lines = self._priced_lines(body.get("Lines"))
        if not lines:
            raise PartnerError(400, "Sale Order should have at least one line")
        subtotal = sum(line["Total"] for line in lines)
        tax = sum(line["Tax"] for line in lines)
        sale["Order"].update(
            {
                "Memo": body.get("Memo", ""),
                "Status": status,
                "Lines": lines,
                "AdditionalCharges": body.get("AdditionalCharges", []),
                "TotalBeforeTax": num(subtotal),
                "Tax": num(tax),
                "Total": num(subtotal + tax),
            }
        )
        state = self._sale_state[sale["ID"]]
        state["mode"] = mode
        self._touch(sale)
        if status == "DRAFT":
            sale["Status"] = "ORDERING"
        else:
            sale["Status"] = "ORDERED"
            self.queue_api_webhook(pending, "Sale/OrderAuthorised", self._sale_event(sale, "Sale/OrderAuthorised"))
            if self.apply_sales_immediately:
                self._allocate(sale, pending)
            else:
                state["pending"] = True
        return json_response({"SaleID": sale["ID"], **sale["Order"]})

    @staticmethod
    def _sale_event(sale: dict[str, Any], event: str) -> dict[str, Any]:
        return {"SaleID": sale["ID"], "SaleOrderNumber": sale["Order"]["SaleOrderNumber"], "EventType": event}

    def _queue(self, pending: _Pending, event: str, payload: Any, force: bool) -> None:
        if force:
            pending.webhooks.append((event, payload))
        else:
            self.queue_api_webhook(pending, event, payload)

    def _allocate(self, sale: dict[str, Any], pending: _Pending, force_webhooks: bool = False) -> None:
        """AUTHORISED order: allocate what is available at the sale's location, backorder the rest."""
        state = self._sale_state[sale["ID"]]
        location_id = state["location_id"]
        backordered = False
        allocations = []
        for line in sale["Order"]["Lines"]:
            row = self._row(line["ProductID"], location_id)
            allocate = min(line["Quantity"], max(row.available, 0.0))
            row.allocated += allocate
            line["BackorderQuantity"] = num(line["Quantity"] - allocate)
            backordered = backordered or line["BackorderQuantity"] > 0
            allocations.append({"ProductID": line["ProductID"], "LocationID": location_id, "Quantity": num(allocate)})
        state["allocations"] = allocations
        state["pending"] = False
        sale["Status"] = "BACKORDERED" if backordered else "ORDERED"
        self._touch(sale)
        self._queue(pending, STOCK_EVENT, self._rows_for(allocations), force_webhooks)
        mode = state.get("mode", "NOPICK")
        if mode in AUTO_MODES:
            self._ship(sale, AUTO_MODES[mode], pending, force_webhooks)

    def _ship(self, sale: dict[str, Any], status: str, pending: _Pending, force_webhooks: bool = False) -> None:
        """Ship what was allocated: OnHand and Allocated drop together."""
        state = self._sale_state[sale["ID"]]
        for allocation in state["allocations"]:
            row = self._row(allocation["ProductID"], allocation["LocationID"])
            row.on_hand -= allocation["Quantity"]
            row.allocated -= allocation["Quantity"]
        state["fulfilled"] = True
        sale["Status"] = status
        sale["CombinedPickingStatus"] = "PICKED"
        sale["CombinedPackingStatus"] = "PACKED" if status in {"PACKED", "SHIPPED"} else "NOT PACKED"
        sale["CombinedShippingStatus"] = "SHIPPED" if status == "SHIPPED" else "NOT SHIPPED"
        sale["FulFilmentStatus"] = "FULFILLED"
        sale["Fulfilments"] = [
            {
                "TaskID": self._guid("fulfilment"),
                "FulfillmentNumber": 1,
                "Pick": {"Status": "AUTHORISED", "Lines": [dict(a) for a in state["allocations"]]},
                "Pack": {"Status": "AUTHORISED" if status in {"PACKED", "SHIPPED"} else "NOT AVAILABLE"},
                "Ship": {"Status": "AUTHORISED" if status == "SHIPPED" else "NOT AVAILABLE"},
            }
        ]
        self._touch(sale)
        self._queue(
            pending, "Sale/ShipmentAuthorised", self._sale_event(sale, "Sale/ShipmentAuthorised"), force_webhooks
        )
        self._queue(pending, STOCK_EVENT, self._rows_for(state["allocations"]), force_webhooks)

    def _rows_for(self, allocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen = []
        for allocation in allocations:
            key = (allocation["ProductID"], allocation["LocationID"])
            if key not in seen:
                seen.append(key)
        return [self._availability_row(self.products[p], loc, self._row(p, loc)) for p, loc in seen]

    def _api_get_sale(self, query: dict, body: Any, pending: _Pending) -> Response:
        return json_response(self._sale(query.get("id")))

    def _api_void_sale(self, query: dict, body: Any, pending: _Pending) -> Response:
        sale = self._sale(query.get("id"))
        if not truthy(query.get("void", "false")):
            raise PartnerError(400, "Only voiding is supported: pass Void=true")
        self._void(sale, pending)
        return json_response({"ID": sale["ID"], "Status": "VOIDED"})

    def _void(self, sale: dict[str, Any], pending: _Pending, force_webhooks: bool = False) -> None:
        """Void a sale neither shipped nor invoiced: its allocation is released."""
        state = self._sale_state[sale["ID"]]
        if sale["Status"] == "VOIDED":
            raise PartnerError(400, "Sale has already been voided")
        if state["fulfilled"]:
            raise PartnerError(400, "Sale with authorised fulfilment cannot be voided. Undo the fulfilment first")
        if self._task_status(sale["Invoices"]) in {"AUTHORISED", "PAID"}:
            raise PartnerError(400, "Sale with authorised invoice cannot be voided. Void the invoice first")
        for allocation in state["allocations"]:
            self._row(allocation["ProductID"], allocation["LocationID"]).allocated -= allocation["Quantity"]
        if state["allocations"]:
            self._queue(pending, STOCK_EVENT, self._rows_for(state["allocations"]), force_webhooks)
        state.update(allocations=[], pending=False)
        sale["Status"] = "VOIDED"
        sale["Order"]["Status"] = "VOIDED"
        self._touch(sale)
        self._queue(pending, "Sale/Voided", self._sale_event(sale, "Sale/Voided"), force_webhooks)

    # invoices and credit notes --------------------------------------------------------------------------

    def _api_get_invoices(self, query: dict, body: Any, pending: _Pending) -> Response:
        sale = self._sale(query.get("saleid"))
        return json_response({"SaleID": sale["ID"], "Invoices": sale["Invoices"]})

    def _api_set_invoice(self, query: dict, body: dict, pending: _Pending) -> Response:
        sale = self._sale(body.get("SaleID"))
        if sale["Order"]["Status"] != "AUTHORISED":
            raise PartnerError(400, "Sale Order should be authorised before the Invoice")
        if self._task_status(sale["Invoices"]) not in {NO_TASK, "DRAFT"}:
            raise PartnerError(400, f"Invoice with status {self._task_status(sale['Invoices'])} cannot be changed")
        status = body.get("Status", "DRAFT")
        if status not in {"DRAFT", "AUTHORISED"}:
            raise PartnerError(400, "Status must be DRAFT or AUTHORISED")
        if body.get("Lines"):
            lines = self._priced_lines(body["Lines"])
        else:
            lines = [dict(line) for line in sale["Order"]["Lines"]]
        subtotal, tax = sum(line["Total"] for line in lines), sum(line["Tax"] for line in lines)
        task_id = sale["Invoices"][0]["TaskID"] if sale["Invoices"] else self._guid("invoice")
        sale["Invoices"] = [
            {
                "TaskID": task_id,
                "InvoiceNumber": self._number("invoice", "INV") if status == "AUTHORISED" else "",
                "Memo": body.get("Memo", ""),
                "Status": status,
                "InvoiceDate": body.get("InvoiceDate"),
                "InvoiceDueDate": body.get("InvoiceDueDate"),
                "Lines": lines,
                "AdditionalCharges": [],
                "TotalBeforeTax": num(subtotal),
                "Tax": num(tax),
                "Total": num(subtotal + tax),
                "Paid": 0,
            }
        ]
        sale["CombinedInvoiceStatus"] = "INVOICED" if status == "AUTHORISED" else "INVOICING"
        self._touch(sale)
        if status == "AUTHORISED":
            event = "Sale/InvoiceAuthorised"
            self.queue_api_webhook(pending, event, self._sale_event(sale, event))
        return json_response({"SaleID": sale["ID"], "Invoices": sale["Invoices"]})

    def _api_get_credit_notes(self, query: dict, body: Any, pending: _Pending) -> Response:
        sale = self._sale(query.get("saleid"))
        return json_response({"SaleID": sale["ID"], "CreditNotes": sale["CreditNotes"]})

    def _api_set_credit_note(self, query: dict, body: dict, pending: _Pending) -> Response:
        sale = self._sale(body.get("SaleID"))
        if self._task_status(sale["Invoices"]) not in {"AUTHORISED", "PAID"}:
            raise PartnerError(400, "Sale Invoice should be authorised before the Credit Note")
        if self._task_status(sale["CreditNotes"]) not in {NO_TASK, "DRAFT"}:
            status = self._task_status(sale["CreditNotes"])
            raise PartnerError(400, f"Credit Note with status {status} cannot be changed")
        status = body.get("Status", "DRAFT")
        if status not in {"DRAFT", "AUTHORISED"}:
            raise PartnerError(400, "Status must be DRAFT or AUTHORISED")
        lines = self._priced_lines(body.get("Lines"))
        credited = self._by_product(lines)
        invoiced = self._by_product(sale["Invoices"][0]["Lines"])
        for product_id, quantity in credited.items():
            if quantity > invoiced.get(product_id, 0):
                raise PartnerError(400, f"Credit Note quantity of {self.products[product_id]['SKU']} exceeds invoiced")
        restock = self._restock_lines(body.get("Restock") or [], credited)
        subtotal, tax = sum(line["Total"] for line in lines), sum(line["Tax"] for line in lines)
        task_id = sale["CreditNotes"][0]["TaskID"] if sale["CreditNotes"] else self._guid("creditnote")
        sale["CreditNotes"] = [
            {
                "TaskID": task_id,
                "CreditNoteInvoiceNumber": sale["Invoices"][0]["InvoiceNumber"],
                "CreditNoteNumber": self._number("creditnote", "CR") if status == "AUTHORISED" else "",
                "Memo": body.get("Memo", ""),
                "Status": status,
                "CreditNoteDate": body.get("CreditNoteDate"),
                "Lines": lines,
                "AdditionalCharges": [],
                "Refunds": [],
                "Restock": restock,
                "TotalBeforeTax": num(subtotal),
                "Tax": num(tax),
                "Total": num(subtotal + tax),
            }
        ]
        self._touch(sale)
        if status == "AUTHORISED":
            for line in restock:
                self._row(line["ProductID"], line["LocationID"]).on_hand += line["Quantity"]
            sale["Status"] = "CREDITED"
            event = "Sale/CreditNoteAuthorised"
            self.queue_api_webhook(pending, event, self._sale_event(sale, event))
            if restock:
                self.queue_api_webhook(pending, STOCK_EVENT, self._rows_for(restock))
        return json_response({"SaleID": sale["ID"], "CreditNotes": sale["CreditNotes"]})

    def _restock_lines(self, lines: Any, credited: dict[str, float]) -> list[dict[str, Any]]:
        if not isinstance(lines, list):
            raise PartnerError(400, "Restock must be a list")
        restock = []
        for index, line in enumerate(lines):
            if not isinstance(line, dict):
                raise PartnerError(400, f"Restock line {index + 1} must be an object")
            product = self._resolve_product(line, index)
            quantity = as_number(line.get("Quantity"))
            if quantity is None or quantity <= 0:
                raise PartnerError(400, f"Restock line {index + 1}: Quantity should be greater than zero")
            location_id = self._resolve_location(line.get("Location"), line.get("LocationID"))
            restock.append(
                {
                    "ProductID": product["ID"],
                    "SKU": product["SKU"],
                    "Name": product["Name"],
                    "Quantity": num(quantity),
                    "Location": self.locations[location_id]["Name"],
                    "LocationID": location_id,
                }
            )
        for product_id, quantity in self._by_product(restock).items():
            if quantity > credited.get(product_id, 0):
                raise PartnerError(400, f"Restock quantity of {self.products[product_id]['SKU']} exceeds credited")
        return restock

    @staticmethod
    def _by_product(lines: list[dict[str, Any]]) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in lines:
            totals[line["ProductID"]] = totals.get(line["ProductID"], 0.0) + line["Quantity"]
        return totals

    @staticmethod
    def _task_status(tasks: list[dict[str, Any]]) -> str:
        """The status of a simple sale's one invoice or credit note."""
        return tasks[0]["Status"] if tasks else NO_TASK

    def _api_sale_list(self, query: dict, body: Any, pending: _Pending) -> Response:
        page, limit = self._paging(query)
        created_since = self._since(query, "CreatedSince")
        updated_since = self._since(query, "UpdatedSince")
        search = query.get("search", "").lower()
        exact = {
            "ExternalID": query.get("externalid"),
            "Status": query.get("status"),
            "OrderStatus": query.get("orderstatus"),
            "QuoteStatus": query.get("quotestatus"),
            "OrderLocationID": query.get("orderlocationid"),
        }
        rows = []
        for sale_id, sale in self.sales.items():
            state = self._sale_state[sale_id]
            invoice = sale["Invoices"][0] if sale["Invoices"] else {}
            credit_note = sale["CreditNotes"][0] if sale["CreditNotes"] else {}
            summary = {
                "SaleID": sale_id,
                "OrderNumber": sale["Order"]["SaleOrderNumber"],
                "Status": sale["Status"],
                "OrderDate": sale["SaleOrderDate"],
                "Customer": sale["Customer"],
                "CustomerID": sale["CustomerID"],
                "CustomerReference": sale["CustomerReference"],
                "InvoiceNumber": invoice.get("InvoiceNumber") or None,
                "InvoiceDate": invoice.get("InvoiceDate"),
                "InvoiceDueDate": invoice.get("InvoiceDueDate"),
                "InvoiceAmount": invoice.get("Total", 0),
                "PaidAmount": 0,
                "ShipBy": sale["ShipBy"],
                "BaseCurrency": sale["BaseCurrency"],
                "CustomerCurrency": sale["CustomerCurrency"],
                "CreditNoteNumber": credit_note.get("CreditNoteNumber") or None,
                "Updated": sale["LastModifiedOn"],
                "QuoteStatus": sale["Quote"]["Status"],
                "OrderStatus": sale["Order"]["Status"],
                "CombinedPickingStatus": sale["CombinedPickingStatus"],
                "CombinedPackingStatus": sale["CombinedPackingStatus"],
                "CombinedShippingStatus": sale["CombinedShippingStatus"],
                "CombinedInvoiceStatus": sale["CombinedInvoiceStatus"],
                "CombinedPaymentStatus": sale["CombinedPaymentStatus"],
                "CombinedTrackingNumbers": "",
                "CreditNoteStatus": self._task_status(sale["CreditNotes"]),
                "FulFilmentStatus": sale["FulFilmentStatus"],
                "Type": sale["Type"],
                "OrderLocationID": state["location_id"],
                "ExternalID": sale["ExternalID"],
                "SourceChannel": sale["SourceChannel"],
            }
            if any(value and str(summary.get(key) or "").lower() != value.lower() for key, value in exact.items()):
                continue
            if search and not any(
                search in str(summary.get(key) or "").lower()
                for key in (
                    "OrderNumber",
                    "Status",
                    "Customer",
                    "InvoiceNumber",
                    "CustomerReference",
                    "CreditNoteNumber",
                )
            ):
                continue
            if created_since is not None and state["created"] < created_since:
                continue
            if updated_since is not None and parse_cin7_time(sale["LastModifiedOn"]) < updated_since:
                continue
            rows.append(summary)
        return json_response({"Total": len(rows), "Page": page, "SaleList": self._page(rows, page, limit)})

    # stock adjustments ----------------------------------------------------------------------------------

    def _api_create_adjustment(self, query: dict, body: dict, pending: _Pending) -> Response:
        if not body.get("EffectiveDate"):
            raise PartnerError(400, "EffectiveDate is required")
        status = body.get("Status", "DRAFT")
        if status not in {"DRAFT", "COMPLETED"}:
            raise PartnerError(400, "Status must be DRAFT or COMPLETED")
        lines = self._adjustment_lines(body.get("Lines"))
        task_id = self._guid("stockadjustment")
        adjustment = {
            "TaskID": task_id,
            "StocktakeNumber": self._number("stockadjustment", "ST"),
            "Status": "DRAFT",
            "EffectiveDate": body["EffectiveDate"],
            "Account": body.get("Account", ""),
            "Reference": body.get("Reference", ""),
            "ExistingStockLines": [],
            "NewStockLines": [],
            "Transactions": [],
        }
        self.stock_adjustments[task_id] = adjustment
        self._draft_lines[task_id] = lines
        self._preview(adjustment, lines)
        if status == "COMPLETED":
            self._complete(adjustment, pending)
        return json_response(adjustment)

    def _api_update_adjustment(self, query: dict, body: dict, pending: _Pending) -> Response:
        adjustment = self.stock_adjustments.get(str(body.get("TaskID") or ""))
        if adjustment is None:
            raise PartnerError(400, "Stock Adjustment with specified TaskID not found")
        if adjustment["Status"] != "DRAFT":
            raise PartnerError(400, f"Stock Adjustment with status {adjustment['Status']} cannot be changed")
        if "Lines" in body:
            self._draft_lines[adjustment["TaskID"]] = self._adjustment_lines(body["Lines"])
        for key in ("EffectiveDate", "Account", "Reference"):
            if key in body:
                adjustment[key] = body[key]
        self._preview(adjustment, self._draft_lines[adjustment["TaskID"]])
        status = body.get("Status", "DRAFT")
        if status == "COMPLETED":
            self._complete(adjustment, pending)
        elif status != "DRAFT":
            raise PartnerError(400, "Status must be DRAFT or COMPLETED")
        return json_response(adjustment)

    def _adjustment_lines(self, lines: Any) -> list[dict[str, Any]]:
        if not isinstance(lines, list) or not lines:
            raise PartnerError(400, "Lines are required")
        resolved = []
        for index, line in enumerate(lines):
            if not isinstance(line, dict):
                raise PartnerError(400, f"Line {index + 1} must be an object")
            product = self._resolve_product(line, index)
            location_id = self._resolve_location(line.get("Location"), line.get("LocationID"))
            quantity = as_number(line.get("Quantity"))
            if quantity is None:
                raise PartnerError(400, f"Line {index + 1}: Quantity is required")
            if self.stock_adjustment_mode == "absolute" and quantity < 0:
                raise PartnerError(400, f"Line {index + 1}: Quantity can not be negative")
            unit_cost = as_number(line.get("UnitCost"))
            resolved.append(
                {
                    "product": product,
                    "location_id": location_id,
                    "quantity": quantity,
                    "unit_cost": product["AverageCost"] if unit_cost is None else unit_cost,
                    "comments": line.get("Comments", ""),
                }
            )
        return resolved

    def _preview(self, adjustment: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        """Fill Existing/NewStockLines from the current stock (what completing it would do)."""
        existing, new = [], []
        for line in lines:
            product, location_id = line["product"], line["location_id"]
            row = self.stock_rows.get((product["ID"], location_id))
            old = row.on_hand if row else 0.0
            target = line["quantity"] if self.stock_adjustment_mode == "absolute" else old + line["quantity"]
            common = {
                "ProductID": product["ID"],
                "SKU": product["SKU"],
                "ProductName": product["Name"],
                "Location": self.locations[location_id]["Name"],
                "LocationID": location_id,
                "BatchSN": None,
                "ExpiryDate": None,
                "Comments": line["comments"],
                "UnitCost": num(line["unit_cost"]),
            }
            if row is not None and row.nonzero:
                existing.append(
                    {
                        **common,
                        "QuantityOnHand": num(target),
                        "Adjustment": num(target - old),
                        "Available": num(target - row.allocated),
                    }
                )
            else:
                new.append({**common, "Quantity": num(target), "ReceivedDate": adjustment["EffectiveDate"]})
        adjustment["ExistingStockLines"] = existing
        adjustment["NewStockLines"] = new

    def _complete(self, adjustment: dict[str, Any], pending: _Pending) -> None:
        touched = []
        amount = 0.0
        for line in self._draft_lines[adjustment["TaskID"]]:
            row = self._row(line["product"]["ID"], line["location_id"])
            old = row.on_hand
            row.on_hand = line["quantity"] if self.stock_adjustment_mode == "absolute" else old + line["quantity"]
            amount += (row.on_hand - old) * line["unit_cost"]
            touched.append({"ProductID": line["product"]["ID"], "LocationID": line["location_id"]})
        adjustment["Status"] = "COMPLETED"
        inventory, other = "715: Inventory", adjustment["Account"] or "403"
        adjustment["Transactions"] = [
            {
                "ID": self._guid("transaction"),
                "EffectiveDate": adjustment["EffectiveDate"],
                "Amount": num(round(abs(amount), 2)),
                "Debit": inventory if amount >= 0 else other,
                "Credit": other if amount >= 0 else inventory,
            }
        ]
        self.queue_api_webhook(pending, STOCK_EVENT, self._rows_for(touched))

    def _api_get_adjustment(self, query: dict, body: Any, pending: _Pending) -> Response:
        adjustment = self.stock_adjustments.get(query.get("taskid", ""))
        if adjustment is None:
            raise PartnerError(400, "Stock Adjustment with specified TaskID not found")
        return json_response(adjustment)

    def _api_adjustment_list(self, query: dict, body: Any, pending: _Pending) -> Response:
        page, limit = self._paging(query)
        status = query.get("status", "").upper()
        rows = [
            {k: adj[k] for k in ("TaskID", "StocktakeNumber", "EffectiveDate", "Status", "Account", "Reference")}
            for adj in self.stock_adjustments.values()
            if not status or adj["Status"] == status
        ]
        return json_response({"Total": len(rows), "Page": page, "StockAdjustmentList": self._page(rows, page, limit)})

    # webhooks --------------------------------------------------------------------------------------------------

    def _api_list_webhooks(self, query: dict, body: Any, pending: _Pending) -> Response:
        return json_response({"Webhooks": self.webhook_config()})

    def _api_create_webhook(self, query: dict, body: dict, pending: _Pending) -> Response:
        subscription = self._subscription(body)
        same_type = [s for s in self.webhook_subscriptions if s["Type"] == subscription["Type"]]
        if len(same_type) >= 5:
            raise PartnerError(400, f"There is a limit of 5 webhooks of the same type ({subscription['Type']})")
        self.webhook_subscriptions.append(subscription)
        return json_response(self._public_subscription(subscription))

    def _api_update_webhook(self, query: dict, body: dict, pending: _Pending) -> Response:
        for index, subscription in enumerate(self.webhook_subscriptions):
            if subscription["ID"] == body.get("ID"):
                updated = self._subscription(body, existing=subscription)
                self.webhook_subscriptions[index] = updated
                return json_response(self._public_subscription(updated))
        raise PartnerError(400, "Webhook with specified ID not found")

    def _api_delete_webhook(self, query: dict, body: Any, pending: _Pending) -> Response:
        before = len(self.webhook_subscriptions)
        self.webhook_subscriptions = [s for s in self.webhook_subscriptions if s["ID"] != query.get("id")]
        if len(self.webhook_subscriptions) == before:
            raise PartnerError(400, "Webhook with specified ID not found")
        return json_response({"Webhooks": self.webhook_config()})
