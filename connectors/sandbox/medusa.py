"""An in-memory Medusa v2 (2.0.0) Admin API that speaks partner-apis.md section D and Medusa's 2.0.0 Admin
API reference (the request bodies it checks: ``connectors/sandbox/contracts/medusa``).

Medusa is self-hosted, so the server *is* the backend URL: ``url`` and ``api_url`` are the same and the
paths are ``/auth/...`` and ``/admin/...``. The control API lives under ``/_sandbox/`` as for every
sandbox (see :mod:`connectors.sandbox.base`).

Auth (D.2)
    ``POST /auth/user/emailpass {"email", "password"}`` answers ``{"token": <JWT>}``: a real HS256 JWT
    signed with ``jwt_secret`` (Medusa's default ``"supersecret"``) whose claims are ``actor_id`` (the
    user), ``actor_type: "user"``, ``auth_identity_id``, ``app_metadata: {user_id}``, ``iat`` and ``exp``
    (``token_lifetime``, default 86400 s like Medusa's ``jwtExpiresIn: "1d"``, on the sandbox clock).
    Wrong email or password: 401 ``{"type": "unauthorized", "message": "Invalid email or password"}``.
    ``POST /auth/token/refresh`` with a valid bearer answers a fresh token. Admin routes take
    ``Authorization: Bearer <jwt>`` or ``Authorization: Basic <secret key>`` where the key (``sk_`` + 64
    hex) is sent either raw or as standard Basic ``base64("sk_...:")`` (empty password); a trailing ``:``
    is stripped and the ``sk_`` prefix is required. Anything else (no header, a bad signature, an expired
    or ``expire_tokens()``-ed JWT, a revoked or unknown key, a ``pk_`` key, the v1 header
    ``x-medusa-access-token``) is 401 ``{"message": "Unauthorized"}`` exactly as the middleware answers.

Errors
    ``{"type", "message"}`` plus ``code`` where Medusa's error handler sets one
    (``components.schemas.Error``): ``invalid_data`` / ``not_allowed`` 400, ``unauthorized`` 401,
    ``not_found`` 404, 5xx faults ``{"code": "unknown_error", "type": "unknown_error", "message": "An
    unknown error occurred."}``. A request body that breaks its contract (the 2.0.0 spec's ``requestBody``
    with what Medusa's zod validators add, ``validators.ts``: no unknown fields, quantities ``>= 0``) is
    400 ``{"type": "invalid_data", "message": "Invalid request: <the schema error>"}``.
    ``GET /admin/inventory-items`` is ``.strict()`` in Medusa too: an unknown query parameter (e.g. a bare
    ``location_id``) is 400 ``Invalid request: Unrecognized fields: 'location_id'`` (``strict_query`` off
    ignores unknown parameters instead). The zod rules are read from a later ``validators.ts`` than 2.0.0
    and the message wording is approximate. Unknown routes are 404 ``{"type": "not_found", "message":
    "Cannot GET /x"}`` (Express answers HTML there; JSON is the sandbox's choice). Invalid JSON is 400
    invalid_data.

Lists (D.3)
    ``limit``/``offset`` -> ``{"<plural>": [...], "count", "offset", "limit"}``; defaults: inventory
    items 20, levels 50, orders 15 (Medusa's); stock locations 20, products 50, reservations 20 (the
    sandbox's choice). No maximum. Query strings are parsed the way ``qs`` does: ``sku=A&sku=B``,
    ``sku[]=A``, ``sku[0]=A``, ``location_levels[location_id]=sloc_..``, ``updated_at[$gt]=ISO``.
    ``order=field`` / ``-field`` sorts by a top-level field. ``fields`` selects top-level fields and
    relations: bare names replace the defaults, ``+x`` adds, ``-x`` removes, ``*rel`` names a relation;
    ``rel.sub`` selects the whole relation (sub-field selection is not modelled; orders, levels and
    reservations ignore ``fields``). Note that an unencoded ``+`` arrives as a space (``qs`` decodes it
    so), making the field bare: send ``%2B``.

Inventory (D.4)
    ``GET /admin/inventory-items`` filters ``q`` (sku/title/description contains, case-insensitive),
    ``id``, ``sku`` (exact, string or array), ``location_levels[location_id]`` (items with a level at one
    of the locations; the item still shows all its levels), ``origin_country``, ``hs_code``,
    ``mid_code``, ``material``, ``requires_shipping``; ``weight``/``length``/``height``/``width``
    operator maps, ``$and`` and ``$or`` are accepted and ignored. Default fields are Medusa's, including
    ``*location_levels`` and the item-level ``stocked_quantity`` / ``reserved_quantity`` (sums over the
    levels). ``GET /admin/inventory-items/{id}``; ``POST /admin/inventory-items`` creates one (no variant).
    Levels: ``GET .../{id}/location-levels`` (``location_id`` filter) -> ``inventory_levels``;
    ``POST .../{id}/location-levels`` ``{location_id, stocked_quantity?, incoming_quantity?}`` creates
    one (unknown location 404; an existing one 400 invalid_data ``... already exists``);
    ``POST .../{id}/location-levels/{location_id}`` ``{stocked_quantity?, incoming_quantity?}`` sets
    **absolute** values (no level there: 404); ``DELETE`` removes a level unless it has reservations
    (400 not_allowed). All answer ``{"inventory_item": {...}}`` (DELETE: ``{id, object:
    "inventory-level", deleted, parent}``). ``available_quantity = stocked - reserved`` and may go
    negative when stock is set below the reservations (Medusa does not refuse that).

    ``POST .../{id}/location-levels/batch`` behaves as Medusa 2.0.0's route does: ``create`` and
    ``delete`` (location ids) are applied, **``update`` is validated and then ignored** (the route's
    "add support for updates" TODO), and the answer is ``{"inventory_item": {}}``. A connector must set
    quantities with the per-location POST. The cross-item ``POST /admin/inventory-items/location-levels/
    batch`` of later releases is not in the 2.0.0 spec and is 404, unless ``newer_batch_api`` is on:
    then it takes ``{create|update: [{inventory_item_id, location_id, stocked_quantity?,
    incoming_quantity?}], delete: [level ids]}`` and answers ``{created, updated, deleted}``, and the
    per-item batch applies ``update`` entries (which then need ``location_id``).

Stock locations, products, reservations (D.5, D.6)
    Two locations by default (``European Warehouse``, ``US Warehouse``), both linked to the ``Default
    Sales Channel``. ``GET /admin/stock-locations[/{id}]`` (``q``, ``id``, ``name``; default fields id,
    name, metadata, dates and ``address``; ``+sales_channels``, ``+fulfillment_sets``, ``+address_id``).
    ``GET /admin/products[/{id}]``: one product with one variant per seeded SKU (``manage_inventory``,
    linked to the inventory item of the same SKU with ``required_quantity`` 1); filters ``q``, ``id``,
    ``handle``, ``status``, ``variants[sku]``, ``created_at``/``updated_at`` operator maps;
    ``+variants.inventory_quantity`` adds the summed available quantity, ``*variants.inventory_items``
    the links. ``GET /admin/reservations`` (``location_id``, ``inventory_item_id``, ``line_item_id``).

Orders and when Medusa's stock reflects them (the double-count rule depends on it)
    ``place_order(items=[{"sku", "quantity", "unit_price"?}], location=None, payment_status="captured", ...)``
    (``POST /_sandbox/orders``) is a storefront checkout: it creates ``order_<ULID>`` (display ids 1, 2, ...)
    with ``ordli_`` line items and, as Medusa's cart completion does, **one reservation per line at the
    order's stock location: ``reserved_quantity`` rises, ``stocked_quantity`` does not change, so
    ``available_quantity`` falls at once**. Without enough available stock it is refused (Medusa: "Some
    variant does not have the required inventory") unless ``allow_backorder=True``. ``fulfil_order(id)``
    (``POST /_sandbox/orders/<id>/fulfil``) creates the fulfilment: stocked and reserved both fall by the
    quantity and the reservations go. ``cancel_order(id)`` (``POST /_sandbox/orders/<id>/cancel``) releases
    an unfulfilled order's reservations, or cancels a fulfilled order's fulfilment first, its units going
    back to ``stocked_quantity``; the payment becomes ``refunded`` (captured) or ``canceled``.
    ``receive_return(id, items=[{"sku" or "item_id", "quantity", "damaged_quantity"?}], location=None)``
    (``POST /_sandbox/orders/<id>/returns``) receives a return of fulfilled units not yet returned: the good
    ones go back to ``stocked_quantity`` at the location (default: the order's), the damaged ones do not,
    as ``AdminReturnItem``'s ``received_quantity`` and ``damaged_quantity`` say. ``GET /admin/orders/{id}``
    answers ``{"order": AdminOrder}``, ``GET /admin/returns/{id}`` ``{"return": AdminReturn}`` (the answers
    our contract holds to the official schemas), and ``GET /admin/orders`` / ``GET /admin/returns``
    (``order_id``) list them.

Webhooks (D.7: Medusa has none; this is the subscriber recipe we ship, ``integrations/medusa``)
    ``configure_webhook(url, secret=None, events=ORDER_EVENTS, headers=None)``. Each POST carries
    ``Stockpool-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` (DESIGN.md "Our
    signature scheme"; ``t`` is the sandbox clock plus ``signature_offset``, so a negative offset produces
    stale signatures). The order events are Medusa's own names (``order.placed``, ``order.canceled``,
    ``order.fulfillment_created``, ``order.return_received``) and their bodies are what the recipe sends (our
    contract's "order event" document)::

        {"id": "order.placed:order_..", "type": "order.placed", "created_at": "<ISO>",
         "data": <the order as GET /admin/orders/{id} shows it then>,
         "return": <for order.return_received: the return as GET /admin/returns/{id} shows it>}

    The id is the event name and its subject as Medusa's event data names it (the order's ``id``, the
    ``fulfillment_id`` or the ``return_id``), so a redelivery keeps it. Amounts are decimal major units (Medusa
    v2 stores ``10.5``, not cents). ``resend_order_event(order_id, event)`` sends the latest event of that
    kind again, to test deduplication. Subscribing to ``inventory.inventory-level.updated`` (the 2.0.0 event
    name) adds ``{"id", "type", "created_at", "data": {level fields + "sku"}}`` events for clerk edits
    (``set_stocked_quantity``), fulfilments, cancels and returns, ``send_stock_webhook(sku)`` and, with
    ``webhooks_for_api_changes``, level writes through the API.

Rate limit
    Medusa has none (D.1); ``rate_per_minute`` (default 0 = off) turns on a token bucket per credential
    answering 429 ``{"code": "api_error", "type": "not_allowed", "message": "Too many requests, please
    try again later."}`` with ``Retry-After`` (what a reverse proxy in front of Medusa might answer).

Switches (``configure()``, ``POST /_sandbox/config``): ``validate_requests``, ``webhooks_for_api_changes``,
``rate_per_minute``, ``token_lifetime``, ``strict_query``, ``newer_batch_api``, ``signature_offset``,
``currency_code``.

Sandbox-only control endpoints (besides those in :mod:`connectors.sandbox.base`):
``POST /_sandbox/orders`` (place an order), ``POST /_sandbox/orders/<id>/fulfil``,
``POST /_sandbox/orders/<id>/cancel``, ``POST /_sandbox/orders/<id>/returns`` (``{"items", "location"?}``),
``POST /_sandbox/orders/<id>/resend`` (``{"event"?}``),
``GET /_sandbox/inventory-items``, ``POST /_sandbox/tokens/expire``, ``POST /_sandbox/keys`` (a new secret
key), ``POST /_sandbox/keys/revoke`` (``{"token"}``), ``POST /_sandbox/users`` (``{"email", "password"}``).
``/_sandbox/stock`` takes ``on_hand`` as the new ``stocked_quantity``; ``/_sandbox/adjustments`` lists
every level change (API writes, clerk edits, orders) with before and after.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import dataclasses
import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.sandbox.base import (
    BaseSandbox,
    ControlError,
    WebhookDelivery,
    _Pending,
    as_number,
    generate_items,
    json_response,
    num,
    send_webhook,
    truthy,
)

DEFAULT_LOCATIONS = ("European Warehouse", "US Warehouse")
SIGNATURE_HEADER = "Stockpool-Signature"
ORDER_PLACED = "order.placed"
ORDER_CANCELED = "order.canceled"
ORDER_FULFILLMENT_CREATED = "order.fulfillment_created"
ORDER_RETURN_RECEIVED = "order.return_received"
LEVEL_UPDATED = "inventory.inventory-level.updated"
#: The order events our subscriber recipe (integrations/medusa) forwards.
ORDER_EVENTS = (ORDER_PLACED, ORDER_CANCELED, ORDER_FULFILLMENT_CREATED, ORDER_RETURN_RECEIVED)
WEBHOOK_EVENTS = (*ORDER_EVENTS, LEVEL_UPDATED)
DEFAULT_WEBHOOK_EVENTS = ORDER_EVENTS
PAYMENT_STATUSES = (
    "canceled",
    "not_paid",
    "awaiting",
    "authorized",
    "partially_authorized",
    "captured",
    "partially_captured",
    "partially_refunded",
    "refunded",
    "requires_action",
)
UNAUTHORIZED = {"message": "Unauthorized"}
THROTTLE_MESSAGE = "Too many requests, please try again later."

DEFAULT_INVENTORY_ITEM_FIELDS = (
    "id",
    "sku",
    "title",
    "description",
    "thumbnail",
    "origin_country",
    "hs_code",
    "requires_shipping",
    "mid_code",
    "material",
    "weight",
    "length",
    "height",
    "width",
    "metadata",
    "reserved_quantity",
    "stocked_quantity",
    "created_at",
    "updated_at",
    "*location_levels",
)
DEFAULT_STOCK_LOCATION_FIELDS = ("id", "name", "metadata", "created_at", "updated_at", "address")
INVENTORY_ITEM_QUERY_KEYS = {
    "fields",
    "offset",
    "limit",
    "order",
    "with_deleted",
    "q",
    "id",
    "sku",
    "origin_country",
    "mid_code",
    "hs_code",
    "material",
    "requires_shipping",
    "weight",
    "length",
    "height",
    "width",
    "location_levels",
    "$and",
    "$or",
}


# --------------------------------------------------------------------------------------------------
# Ids, times, JWTs and signatures
# --------------------------------------------------------------------------------------------------

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def deterministic_ulid(sequence: int, *parts: object) -> str:
    """A 26-character ULID whose time part grows with ``sequence`` (1 ms per step from 2025-01-01) and
    whose random part is a hash of ``parts``: same arguments, same ULID; later sequences sort later."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return _base32(_ULID_EPOCH_MS + sequence, 10) + _base32(int.from_bytes(digest[:10], "big"), 16)


def medusa_time(moment: datetime) -> str:
    """``2025-01-01T10:00:00.000Z``: how Medusa's JSON shows dates."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_medusa_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(claims: Mapping[str, Any], secret: str) -> str:
    """An HS256 JWT (what ``jsonwebtoken.sign`` produces for Medusa)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def decode_jwt(token: str, secret: str) -> dict[str, Any] | None:
    """The claims of an HS256 JWT signed with ``secret`` (expiry is not checked here), else None."""
    try:
        header_part, payload_part, signature_part = token.split(".")
        header = json.loads(_b64url_decode(header_part))
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return None
        expected = hmac.new(secret.encode(), f"{header_part}.{payload_part}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64url_decode(signature_part)):
            return None
        claims = json.loads(_b64url_decode(payload_part))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def webhook_body(payload: Any) -> bytes:
    """The exact bytes :func:`connectors.sandbox.base.send_webhook` sends for ``payload``."""
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``: DESIGN.md's signature scheme."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(header: str, body: bytes, secret: str, *, now: float, tolerance: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and its ``t`` is at most ``tolerance`` s old."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if now - timestamp > tolerance:
        return False
    expected = signature_header(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --------------------------------------------------------------------------------------------------
# Query strings the way ``qs`` parses them
# --------------------------------------------------------------------------------------------------

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def parse_query(args: MultiDict) -> dict[str, Any]:
    """``a=1&a=2`` -> ``{"a": ["1", "2"]}``, ``a[]=1`` / ``a[0]=1`` -> ``{"a": ["1"]}``,
    ``a[b][$gt]=1`` -> ``{"a": {"b": {"$gt": "1"}}}``."""
    result: dict[str, Any] = {}
    for key, value in args.items(multi=True):
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])] if head else [key]
        _assign(result, parts, value)
    return result


def _assign(node: dict[str, Any], parts: list[str], value: str) -> None:
    head, rest = parts[0], parts[1:]
    if not rest or (len(rest) == 1 and (rest[0] == "" or rest[0].isdigit())):
        existing = node.get(head)
        if existing is None:
            node[head] = [value] if rest else value
        elif isinstance(existing, list):
            existing.append(value)
        elif isinstance(existing, str):
            node[head] = [existing, value]
        return
    child = node.get(head)
    if not isinstance(child, dict):
        child = {}
        node[head] = child
    _assign(child, rest, value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [str(v) for v in value.values()]
    return [str(value)]


def select_fields(raw: str | None, defaults: Sequence[str]) -> set[str]:
    """The top-level fields and relations a ``fields`` parameter selects (``id`` always)."""

    def top(name: str) -> str:
        return name.strip().lstrip("*").split(".", 1)[0]

    tokens = [token.strip() for token in (raw or "").split(",") if token.strip()]
    bare = [token for token in tokens if token[0] not in "+-"]
    selected = {top(token) for token in bare} if bare else {top(field) for field in defaults}
    selected |= {top(token[1:]) for token in tokens if token[0] == "+"}
    selected -= {top(token[1:]) for token in tokens if token[0] == "-"}
    selected.add("id")
    return selected


#: Levels of many items at once: a later release's route, served only with ``newer_batch_api``.
CROSS_ITEM_BATCH_PATH = "/admin/inventory-items/location-levels/batch"


# --------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------


class MedusaApiError(Exception):
    """A Medusa error answer: ``{"type", "message"}`` (+ ``code``); ``type`` None is the middleware's
    bare ``{"message": "Unauthorized"}``."""

    def __init__(self, status: int, type: str | None, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.code = code


def _not_found(message: str) -> MedusaApiError:
    return MedusaApiError(404, "not_found", message)


def _invalid(message: str) -> MedusaApiError:
    return MedusaApiError(400, "invalid_data", message)


@dataclasses.dataclass
class Level:
    id: str
    inventory_item_id: str
    location_id: str
    stocked: float = 0.0
    reserved: float = 0.0
    incoming: float = 0.0
    created_at: datetime = dataclasses.field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = dataclasses.field(default_factory=lambda: datetime.now(UTC))

    @property
    def available(self) -> float:
        return self.stocked - self.reserved

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "inventory_item_id": self.inventory_item_id,
            "location_id": self.location_id,
            "stocked_quantity": num(self.stocked),
            "reserved_quantity": num(self.reserved),
            "incoming_quantity": num(self.incoming),
            "available_quantity": num(self.available),
            "metadata": None,
            "created_at": medusa_time(self.created_at),
            "updated_at": medusa_time(self.updated_at),
            "deleted_at": None,
        }


@dataclasses.dataclass
class InventoryItem:
    id: str
    sku: str | None
    title: str | None
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    requires_shipping: bool = True
    origin_country: str | None = None
    hs_code: str | None = None
    mid_code: str | None = None
    material: str | None = None
    weight: float | None = None
    metadata: dict[str, Any] | None = None
    levels: dict[str, Level] = dataclasses.field(default_factory=dict)  # location id -> level


class MedusaSandbox(BaseSandbox):
    """Medusa v2 in memory. Known credentials are attributes: ``email``, ``password`` (an admin user),
    ``secret_key`` (``sk_...``), ``jwt_secret``, ``webhook_secret``; ids: ``location_ids`` (name -> id),
    ``default_location_id``, ``sales_channel_id``, ``region_id``; ``url`` and ``api_url`` (the same: the
    Medusa backend URL) once started."""

    partner = "medusa"
    MISSING_BODY_IS_EMPTY_OBJECT = True  # Medusa's body parser reads a missing body as {}
    MALFORMED_BODY = '{"inventory_items":[{"id":"iitem_01JC4ZQ8W0B5V3T2N8M6K4H2G0","sku":"NWD-SOCK-0'
    CONFIG: ClassVar[dict[str, type]] = {
        "validate_requests": bool,
        "webhooks_for_api_changes": bool,
        "rate_per_minute": float,
        "token_lifetime": int,
        "strict_query": bool,
        "newer_batch_api": bool,
        "signature_offset": int,
        "currency_code": str,
    }

    def __init__(
        self,
        *,
        email: str = "admin@medusa-test.com",
        password: str = "supersecret",  # noqa: S107 - a sandbox (Medusa's documented demo user)
        secret_key: str | None = None,
        jwt_secret: str = "supersecret",  # noqa: S107 - Medusa's default projectConfig.http.jwtSecret
        webhook_secret: str = "whsec_stockpool_medusa_sandbox",  # noqa: S107 - a sandbox
        locations: Sequence[str] = DEFAULT_LOCATIONS,
        currency_code: str = "usd",
        rate_per_minute: float = 0,
        token_lifetime: int = 86400,
        strict_query: bool = True,
        newer_batch_api: bool = False,
        signature_offset: int = 0,
        webhooks_for_api_changes: bool = False,
        validate_requests: bool = True,
        seed: int = 0,
    ) -> None:
        self.email = email
        self.password = password
        self.secret_key = (
            secret_key or "sk_" + hashlib.sha256(f"stockpool-medusa-secret-key:{seed}".encode()).hexdigest()
        )
        self.jwt_secret = jwt_secret
        self.default_webhook_secret = webhook_secret
        self.default_locations = tuple(locations)
        self.currency_code = currency_code
        self.rate_per_minute = float(rate_per_minute)
        self.token_lifetime = token_lifetime
        self.strict_query = strict_query
        self.newer_batch_api = newer_batch_api
        self.signature_offset = signature_offset
        self.webhook: dict[str, Any] | None = None
        super().__init__(validate_requests=validate_requests, seed=seed)
        self.webhooks_for_api_changes = webhooks_for_api_changes
        self._api_map = Map(self._api_rules(), strict_slashes=False, merge_slashes=True)

    # -- state ---------------------------------------------------------------------------------------

    def default_rate_per_minute(self) -> float:
        return self.rate_per_minute or 60.0

    def reset_state(self) -> None:
        self._sequence = 0
        self._display_ids = 0
        self._seeded = 0
        self.webhook = None
        self.users: dict[str, dict[str, Any]] = {}
        self.secret_keys: dict[str, dict[str, Any]] = {}
        self.issued_tokens: list[str] = []
        self._expired_tokens: set[str] = set()
        self.locations: dict[str, dict[str, Any]] = {}
        self.items: dict[str, InventoryItem] = {}
        self._by_sku: dict[str, str] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self._variants_by_sku: dict[str, dict[str, Any]] = {}
        self.orders_by_id: dict[str, dict[str, Any]] = {}
        self.returns: dict[str, dict[str, Any]] = {}
        self._return_display_ids = 0
        self._order_state: dict[str, dict[str, Any]] = {}
        self.reservations: dict[str, dict[str, Any]] = {}
        self.level_changes: list[dict[str, Any]] = []
        epoch = datetime(2025, 1, 1, tzinfo=UTC)
        self.sales_channel = {
            "id": self._new_id("sc"),
            "name": "Default Sales Channel",
            "description": "Created by Medusa",
            "is_disabled": False,
            "metadata": None,
            "created_at": medusa_time(epoch),
            "updated_at": medusa_time(epoch),
            "deleted_at": None,
        }
        self.region_id = self._new_id("reg")
        self.customer_id = self._new_id("cus")
        self._add_user(self.email, self.password)
        self.secret_keys[self.secret_key] = {"id": self._new_id("apk"), "revoked_at": None}
        for name in self.default_locations:
            self._ensure_location(name)

    def _new_id(self, prefix: str) -> str:
        self._sequence += 1
        return f"{prefix}_{deterministic_ulid(self._sequence, 'medusa', self.base_seed, prefix, self._sequence)}"

    def _add_user(self, email: str, password: str) -> dict[str, Any]:
        user = {
            "id": self._new_id("user"),
            "email": email,
            "password": password,
            "auth_identity_id": self._new_id("authid"),
        }
        self.users[email.lower()] = user
        return user

    def _ensure_location(self, name: str) -> dict[str, Any]:
        for location in self.locations.values():
            if location["name"].lower() == name.lower():
                return location
        location_id = self._new_id("sloc")
        address_id = self._new_id("laddr")
        created = medusa_time(datetime(2025, 1, 1, tzinfo=UTC))
        number = len(self.locations) + 1
        location = {
            "id": location_id,
            "name": name,
            "address_id": address_id,
            "address": {
                "id": address_id,
                "address_1": f"{number} Harbour Road",
                "address_2": None,
                "company": None,
                "city": "Copenhagen" if number == 1 else "Springfield",
                "country_code": "dk" if number == 1 else "us",
                "phone": None,
                "province": None,
                "postal_code": f"{1000 + number}",
                "metadata": None,
            },
            "metadata": None,
            "created_at": created,
            "updated_at": created,
            "sales_channels": [self.sales_channel],
            "fulfillment_sets": [],
        }
        self.locations[location_id] = location
        return location

    @property
    def location_ids(self) -> dict[str, str]:
        """Stock location name -> ``sloc_`` id."""
        with self.lock:
            return {location["name"]: location_id for location_id, location in self.locations.items()}

    @property
    def default_location_id(self) -> str:
        with self.lock:
            return next(iter(self.locations))

    @property
    def sales_channel_id(self) -> str:
        return self.sales_channel["id"]

    def location_id(self, name_or_id: str) -> str:
        """A stock location's id from its name (case-insensitive) or id."""
        with self.lock:
            if name_or_id in self.locations:
                return name_or_id
            for location_id, location in self.locations.items():
                if location["name"].lower() == str(name_or_id).lower():
                    return location_id
        raise ControlError(f"unknown stock location {name_or_id!r}")

    def _item(self, sku_or_id: str) -> InventoryItem:
        item = self.items.get(str(sku_or_id)) or self.items.get(self._by_sku.get(str(sku_or_id), ""))
        if item is None:
            raise ControlError(f"unknown inventory item {sku_or_id!r}")
        return item

    # -- Python control methods ---------------------------------------------------------------------

    def seed(
        self, items: int = 20, locations: Sequence[str] | None = None, seed: int | None = None
    ) -> list[dict[str, Any]]:
        """Add ``items`` generated SKUs (deterministic for a given seed and call sequence), each a product
        with one variant and an inventory item with a level at every one of ``locations`` (names; created
        when missing; default: every location). Returns ``[{"id", "sku", "title", "variant_id"}]``."""
        with self.lock:
            names = list(locations) if locations else [location["name"] for location in self.locations.values()]
            location_ids = {name: self._ensure_location(name)["id"] for name in names}
            generated = generate_items(
                items, names, seed=self.base_seed if seed is None else seed, start_index=self._seeded + 1
            )
            self._seeded += items
            epoch = datetime(2025, 1, 1, tzinfo=UTC)
            created = []
            for entry in generated:
                moment = epoch + timedelta(minutes=entry.index)
                item = self._create_item(entry.sku, entry.name, moment, weight=entry.weight)
                for name, quantity in entry.stock.items():
                    self._create_level(item, location_ids[name], float(quantity), 0.0, moment)
                variant = self._create_product(item, entry.name, entry.rate, moment, barcode=entry.ean, upc=entry.upc)
                created.append({"id": item.id, "sku": item.sku, "title": item.title, "variant_id": variant["id"]})
            return created

    def add_inventory_item(
        self,
        sku: str,
        title: str | None = None,
        stock: Mapping[str, float] | None = None,
        price: float = 10.0,
        product: bool = True,
        requires_shipping: bool = True,
        name: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create an inventory item with levels at ``stock``'s locations (names or ids -> stocked
        quantity) and, with ``product`` (default), a product with one variant of the same SKU priced
        ``price``. Returns the item as ``GET /admin/inventory-items/{id}`` shows it."""
        if extra:
            raise ControlError(f"unknown inventory item fields: {', '.join(sorted(extra))}")
        with self.lock:
            if sku in self._by_sku:
                raise ControlError(f"SKU {sku!r} exists")
            moment = self.now()
            item = self._create_item(sku, title or name or sku, moment, requires_shipping=requires_shipping)
            for location, quantity in (stock or {}).items():
                try:
                    location_id = self.location_id(location)
                except ControlError:
                    location_id = self._ensure_location(location)["id"]
                amount = as_number(quantity)
                if amount is None:
                    raise ControlError("stock quantities must be numbers")
                self._create_level(item, location_id, amount, 0.0, moment)
            if product:
                self._create_product(item, item.title or sku, float(price), moment)
            return self._item_payload(item)

    add_item = add_inventory_item

    def _create_item(
        self, sku: str | None, title: str | None, moment: datetime, *, requires_shipping: bool = True, **fields: Any
    ) -> InventoryItem:
        item = InventoryItem(
            id=self._new_id("iitem"),
            sku=sku,
            title=title,
            created_at=moment,
            updated_at=moment,
            requires_shipping=requires_shipping,
            **fields,
        )
        self.items[item.id] = item
        if sku:
            self._by_sku[sku] = item.id
        return item

    def _create_level(
        self, item: InventoryItem, location_id: str, stocked: float, incoming: float, moment: datetime
    ) -> Level:
        level = Level(
            id=self._new_id("ilev"),
            inventory_item_id=item.id,
            location_id=location_id,
            stocked=stocked,
            incoming=incoming,
            created_at=moment,
            updated_at=moment,
        )
        item.levels[location_id] = level
        return level

    def _create_product(
        self, item: InventoryItem, title: str, price: float, moment: datetime, barcode: str = "", upc: str = ""
    ) -> dict[str, Any]:
        product_id = self._new_id("prod")
        stamp = medusa_time(moment)
        variant = {
            "id": self._new_id("variant"),
            "title": "Default variant",
            "sku": item.sku,
            "barcode": barcode or None,
            "ean": barcode or None,
            "upc": upc or None,
            "allow_backorder": False,
            "manage_inventory": True,
            "hs_code": None,
            "origin_country": None,
            "mid_code": None,
            "material": None,
            "weight": None,
            "length": None,
            "height": None,
            "width": None,
            "variant_rank": 0,
            "product_id": product_id,
            "prices": [
                {
                    "id": self._new_id("price"),
                    "amount": num(price),
                    "currency_code": self.currency_code,
                    "min_quantity": None,
                    "max_quantity": None,
                    "variant_id": None,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            ],
            "options": [],
            "metadata": None,
            "created_at": stamp,
            "updated_at": stamp,
            "deleted_at": None,
            "_inventory_item_id": item.id,
            "_price": float(price),
        }
        variant["prices"][0]["variant_id"] = variant["id"]
        handle = re.sub(r"[^a-z0-9]+", "-", f"{title}-{item.sku}".lower()).strip("-")
        self.products[product_id] = {
            "id": product_id,
            "title": title,
            "subtitle": None,
            "description": None,
            "handle": handle,
            "status": "published",
            "is_giftcard": False,
            "discountable": True,
            "thumbnail": None,
            "collection_id": None,
            "type_id": None,
            "external_id": None,
            "weight": None,
            "length": None,
            "height": None,
            "width": None,
            "origin_country": None,
            "hs_code": None,
            "mid_code": None,
            "material": None,
            "metadata": None,
            "created_at": stamp,
            "updated_at": stamp,
            "deleted_at": None,
            "variants": [variant],
            "options": [],
            "images": [],
            "tags": [],
            "type": None,
            "collection": None,
            "categories": [],
            "sales_channels": [self.sales_channel],
        }
        if item.sku:
            self._variants_by_sku[item.sku] = variant
        return variant

    def add_user(self, email: str, password: str) -> dict[str, Any]:
        """Another admin user for ``POST /auth/user/emailpass``; returns ``{"id", "email"}``."""
        with self.lock:
            if email.lower() in self.users:
                raise ControlError(f"user {email!r} exists")
            user = self._add_user(email, password)
            return {"id": user["id"], "email": user["email"]}

    def add_secret_key(self) -> str:
        """Another secret API key (``sk_`` + 64 hex), as ``POST /admin/api-keys {"type": "secret"}`` makes."""
        with self.lock:
            key_id = self._new_id("apk")
            token = (
                "sk_" + hashlib.sha256(f"stockpool-medusa-secret-key:{self.base_seed}:{key_id}".encode()).hexdigest()
            )
            self.secret_keys[token] = {"id": key_id, "revoked_at": None}
            return token

    def revoke_secret_key(self, token: str | None = None) -> None:
        """Revoke a secret key (default: ``secret_key``); it answers 401 from now on."""
        with self.lock:
            key = self.secret_keys.get(token or self.secret_key)
            if key is None:
                raise ControlError("unknown secret key")
            key["revoked_at"] = medusa_time(self.now())

    def issue_token(self, email: str | None = None) -> str:
        """A JWT for a user (default: ``email``) without the emailpass call."""
        with self.lock:
            user = self.users.get((email or self.email).lower())
            if user is None:
                raise ControlError(f"unknown user {email!r}")
            return self._token_for(user)

    def _token_for(self, user: dict[str, Any]) -> str:
        issued = int(self.now().timestamp())
        token = encode_jwt(
            {
                "actor_id": user["id"],
                "actor_type": "user",
                "auth_identity_id": user["auth_identity_id"],
                "app_metadata": {"user_id": user["id"]},
                "iat": issued,
                "exp": issued + int(self.token_lifetime),
            },
            self.jwt_secret,
        )
        self.issued_tokens.append(token)
        return token

    def expire_tokens(self) -> int:
        """Every JWT issued so far stops working (as if expired); returns how many there were."""
        with self.lock:
            self._expired_tokens.update(self.issued_tokens)
            return len(self.issued_tokens)

    def inventory_item(self, sku_or_id: str) -> dict[str, Any]:
        """An inventory item (by SKU or id) as ``GET /admin/inventory-items/{id}`` shows it."""
        with self.lock:
            return self._item_payload(self._item(sku_or_id))

    def inventory_items(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._item_payload(item) for item in self.items.values()]

    def level(self, sku: str, location: str) -> dict[str, Any] | None:
        """The location level of an item (SKU or id) at a location (name or id), or None."""
        with self.lock:
            level = self._item(sku).levels.get(self.location_id(location))
            return level.payload() if level else None

    def stock(self, sku: str, location: str) -> float | int:
        """``stocked_quantity`` of an item (SKU or id) at a location (name or id); 0 without a level."""
        with self.lock:
            level = self._item(sku).levels.get(self.location_id(location))
            return num(level.stocked if level else 0.0)

    def stock_by_location(self, sku: str) -> dict[str, Any]:
        with self.lock:
            item = self._item(sku)
            return {
                self.locations[location_id]["name"]: {
                    "location_id": location_id,
                    "stocked_quantity": num(level.stocked),
                    "reserved_quantity": num(level.reserved),
                    "incoming_quantity": num(level.incoming),
                    "available_quantity": num(level.available),
                }
                for location_id, level in item.levels.items()
            }

    def set_stocked_quantity(self, sku: str, location: str, quantity: float, *, notify: bool = True) -> dict[str, Any]:
        """A clerk edits ``stocked_quantity`` in Medusa's admin (drift): the level at ``location`` (created
        if missing) gets ``quantity``. Sends ``inventory.inventory-level.updated`` if subscribed and
        ``notify``. Returns the level with ``deliveries``."""
        amount = as_number(quantity)
        if amount is None or amount < 0:
            raise ControlError("the stocked quantity must be a number >= 0")
        return self._clerk_change(sku, location, lambda current: amount, notify)

    set_stock = set_stocked_quantity

    def adjust_stock(self, sku: str, location: str, delta: float, *, notify: bool = True) -> dict[str, Any]:
        """A clerk changes ``stocked_quantity`` by ``delta``; as :meth:`set_stocked_quantity`."""
        amount = as_number(delta)
        if amount is None:
            raise ControlError("delta must be a number")
        return self._clerk_change(sku, location, lambda current: current + amount, notify)

    def _clerk_change(self, sku: str, location: str, new_value: Any, notify: bool) -> dict[str, Any]:
        pending = _Pending()
        with self.lock:
            item = self._item(sku)
            location_id = self.location_id(location)
            moment = self.now()
            level = item.levels.get(location_id) or self._create_level(item, location_id, 0.0, 0.0, moment)
            before = level.payload()
            level.stocked = float(new_value(level.stocked))
            self._touch(item, level, moment)
            self._log_change("admin", item, level, before)
            result = level.payload()
            if notify:
                self._queue_level_event(pending, item, level, force=True)
        deliveries = self._deliver_all(pending.webhooks)
        result["deliveries"] = [delivery.to_dict() for delivery in deliveries]
        return result

    def _touch(self, item: InventoryItem, level: Level | None, moment: datetime) -> None:
        item.updated_at = moment
        if level is not None:
            level.updated_at = moment

    def _log_change(self, source: str, item: InventoryItem, level: Level, before: dict[str, Any] | None) -> None:
        after = level.payload()
        self.level_changes.append(
            {
                "at": medusa_time(self.now()),
                "source": source,
                "inventory_item_id": item.id,
                "sku": item.sku,
                "location_id": level.location_id,
                "level_id": level.id,
                "before": (
                    {k: before[k] for k in ("stocked_quantity", "reserved_quantity", "incoming_quantity")}
                    if before
                    else None
                ),
                "after": {k: after[k] for k in ("stocked_quantity", "reserved_quantity", "incoming_quantity")},
            }
        )

    # orders ------------------------------------------------------------------------------------------

    def place_order(
        self,
        items: Sequence[Mapping[str, Any]],
        location: str | None = None,
        email: str = "shopper@example.com",
        currency_code: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        allow_backorder: bool = False,
        payment_status: str = "captured",
        notify: bool = True,
    ) -> dict[str, Any]:
        """A storefront checkout: an order for ``items`` (``[{"sku", "quantity", "unit_price"?}]``, SKUs of
        variants) reserved at ``location`` (name or id; default: the first location). Reserves (Medusa's
        semantics: ``reserved_quantity`` rises, ``stocked_quantity`` is unchanged) and sends the signed
        ``order.placed`` webhook (if configured and ``notify``). ``payment_status`` is Medusa's (``captured``
        by default; ``awaiting`` or ``not_paid`` for an order still to be paid). Returns the order as
        ``GET /admin/orders/{id}`` shows it, with ``deliveries``."""
        if not items:
            raise ControlError("an order needs items")
        if payment_status not in PAYMENT_STATUSES:
            raise ControlError(f"payment_status must be one of {', '.join(PAYMENT_STATUSES)}")
        pending = _Pending()
        with self.lock:
            location_id = self.location_id(location) if location else self.default_location_id
            lines = []
            for index, entry in enumerate(items):
                if not isinstance(entry, Mapping):
                    raise ControlError(f"item {index + 1} must be an object with sku and quantity")
                sku = str(entry.get("sku") or entry.get("variant_sku") or "")
                variant = self._variants_by_sku.get(sku)
                if variant is None:
                    raise ControlError(f"no product variant with SKU {sku!r}")
                quantity = as_number(entry.get("quantity", 1))
                if quantity is None or quantity <= 0 or quantity != int(quantity):
                    raise ControlError(f"item {index + 1}: quantity must be a positive whole number")
                price = as_number(entry.get("unit_price", variant["_price"]))
                if price is None or price < 0:
                    raise ControlError(f"item {index + 1}: unit_price must be a number >= 0")
                item = self.items[variant["_inventory_item_id"]]
                lines.append((variant, item, int(quantity), price))
            if not allow_backorder:
                wanted: dict[str, int] = {}
                for _, item, quantity, _ in lines:
                    wanted[item.id] = wanted.get(item.id, 0) + quantity
                for item_id, quantity in wanted.items():
                    level = self.items[item_id].levels.get(location_id)
                    if level is None or level.available < quantity:
                        raise ControlError(
                            "Some variant does not have the required inventory "
                            f"({self.items[item_id].sku}: {quantity} wanted, "
                            f"{num(level.available) if level else 0} available at {location_id})"
                        )
            order = self._create_order(lines, location_id, email, currency_code or self.currency_code, metadata)
            order["payment_status"] = payment_status
            self._queue_order_event(pending, order["id"], ORDER_PLACED, notify)
            result = self._order_payload(order["id"])
        deliveries = self._deliver_all(pending.webhooks)
        result["deliveries"] = [delivery.to_dict() for delivery in deliveries]
        return result

    def _create_order(
        self,
        lines: list[tuple[dict[str, Any], InventoryItem, int, float]],
        location_id: str,
        email: str,
        currency_code: str,
        metadata: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        moment = self.now()
        stamp = medusa_time(moment)
        order_id = self._new_id("order")
        self._display_ids += 1
        order_items = []
        reservation_ids = []
        for variant, item, quantity, price in lines:
            line_id = self._new_id("ordli")
            product = self.products[variant["product_id"]]
            total = round(price * quantity, 4)
            totals = {
                key: num(total)
                for key in (
                    "original_total",
                    "original_subtotal",
                    "item_total",
                    "item_subtotal",
                    "total",
                    "subtotal",
                    "refundable_total",
                )
            }
            zero = dict.fromkeys(
                ("original_tax_total", "item_tax_total", "tax_total", "discount_total", "discount_tax_total"), 0
            )
            order_items.append(
                {
                    "id": line_id,
                    "title": product["title"],
                    "subtitle": variant["title"],
                    "thumbnail": None,
                    "variant_id": variant["id"],
                    "product_id": product["id"],
                    "product_title": product["title"],
                    "product_description": None,
                    "product_subtitle": None,
                    "product_type": None,
                    "product_collection": None,
                    "product_handle": product["handle"],
                    "variant_sku": variant["sku"],
                    "variant_barcode": variant["barcode"],
                    "variant_title": variant["title"],
                    "variant_option_values": None,
                    "requires_shipping": item.requires_shipping,
                    "is_discountable": True,
                    "is_tax_inclusive": False,
                    "compare_at_unit_price": None,
                    "unit_price": num(price),
                    "quantity": quantity,
                    "tax_lines": [],
                    "adjustments": [],
                    "detail": {
                        "id": self._new_id("orditem"),
                        "item_id": line_id,
                        "quantity": quantity,
                        "fulfilled_quantity": 0,
                        "shipped_quantity": 0,
                        "delivered_quantity": 0,
                        "return_requested_quantity": 0,
                        "return_received_quantity": 0,
                        "return_dismissed_quantity": 0,
                        "written_off_quantity": 0,
                        "metadata": None,
                        "created_at": stamp,
                        "updated_at": stamp,
                    },
                    "metadata": None,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "refundable_total_per_unit": num(price),
                    **totals,
                    **zero,
                    "_inventory_item_id": item.id,
                    "_location_id": location_id,
                }
            )
            level = item.levels.get(location_id) or self._create_level(item, location_id, 0.0, 0.0, moment)
            before = level.payload()
            level.reserved += quantity
            self._touch(item, level, moment)
            self._log_change(f"order {order_id}", item, level, before)
            reservation_id = self._new_id("resitem")
            self.reservations[reservation_id] = {
                "id": reservation_id,
                "line_item_id": line_id,
                "location_id": location_id,
                "quantity": quantity,
                "external_id": None,
                "description": None,
                "inventory_item_id": item.id,
                "metadata": None,
                "created_by": None,
                "allow_backorder": False,
                "created_at": stamp,
                "updated_at": stamp,
                "deleted_at": None,
            }
            reservation_ids.append(reservation_id)
        item_total = num(round(sum(float(line["total"]) for line in order_items), 4))
        order: dict[str, Any] = {
            "id": order_id,
            "display_id": self._display_ids,
            "status": "pending",
            "version": 1,
            "region_id": self.region_id,
            "customer_id": self.customer_id,
            "sales_channel_id": self.sales_channel_id,
            "email": email,
            "currency_code": currency_code,
            "items": order_items,
            "shipping_methods": [],
            "payment_collections": [],
            "fulfillments": [],
            "transactions": [],
            "payment_status": "captured",
            "fulfillment_status": "not_fulfilled",
            "summary": {
                "paid_total": item_total,
                "refunded_total": 0,
                "pending_difference": 0,
                "current_order_total": item_total,
                "original_order_total": item_total,
                "transaction_total": item_total,
                "accounting_total": item_total,
                "temporary_difference": 0,
                "difference_sum": 0,
                "raw_paid_total": {"value": str(item_total), "precision": 20},
            },
            "shipping_address": None,
            "billing_address": None,
            "metadata": dict(metadata) if metadata else None,
            "created_at": stamp,
            "updated_at": stamp,
            "canceled_at": None,
        }
        for key in (
            "original_item_total",
            "original_item_subtotal",
            "item_total",
            "item_subtotal",
            "original_total",
            "original_subtotal",
            "total",
            "subtotal",
        ):
            order[key] = item_total
        for key in (
            "original_item_tax_total",
            "item_tax_total",
            "original_tax_total",
            "tax_total",
            "discount_total",
            "discount_tax_total",
            "gift_card_total",
            "gift_card_tax_total",
            "shipping_total",
            "shipping_subtotal",
            "shipping_tax_total",
            "original_shipping_total",
            "original_shipping_subtotal",
            "original_shipping_tax_total",
        ):
            order[key] = 0
        self.orders_by_id[order_id] = order
        self._order_state[order_id] = {
            "location_id": location_id,
            "reservations": reservation_ids,
            "fulfilled": False,
            "canceled": False,
            "events": {},
            "returns": [],
        }
        return order

    def _order_payload(self, order_id: str) -> dict[str, Any]:
        """The order as the admin API shows it now (a copy: later changes do not reach an event already sent)."""
        order = copy.deepcopy(self.orders_by_id[order_id])
        payload = {key: value for key, value in order.items() if not key.startswith("_")}
        payload["items"] = [{k: v for k, v in line.items() if not k.startswith("_")} for line in order["items"]]
        return payload

    def _order_event(self, order_id: str, event: str) -> dict[str, Any]:
        """The webhook body for ``event`` of an order, as the subscriber recipe sends it: the id is the event
        name and its subject (the order, the fulfilment or the return), so a resend keeps it; the order is
        as ``GET /admin/orders/{id}`` shows it when the event is sent (and the return as ``GET
        /admin/returns/{id}`` shows it)."""
        state = self._order_state[order_id]
        subject = self._event_subject(order_id, event)
        event_id = f"{event}:{subject}"
        if event_id in state["events"]:
            return state["events"][event_id]
        payload = {
            "id": event_id,
            "type": event,
            "created_at": medusa_time(self.now()),
            "data": self._order_payload(order_id),
        }
        if event == ORDER_RETURN_RECEIVED:
            payload["return"] = copy.deepcopy(self.returns[subject])
        state["events"][event_id] = payload
        return payload

    def _event_subject(self, order_id: str, event: str) -> str:
        """What an order event is about, as Medusa's event data names it: ``{id}`` of the order, or the
        ``fulfillment_id`` / ``return_id`` beside the ``order_id`` (the latest one)."""
        state = self._order_state[order_id]
        if event == ORDER_CANCELED and not state["canceled"]:
            raise ControlError("the order has not been canceled")
        if event == ORDER_FULFILLMENT_CREATED:
            fulfillments = self.orders_by_id[order_id]["fulfillments"]
            if not fulfillments:
                raise ControlError("the order has not been fulfilled")
            return fulfillments[-1]["id"]
        if event == ORDER_RETURN_RECEIVED:
            if not state["returns"]:
                raise ControlError("the order has no received return")
            return state["returns"][-1]
        if event not in (ORDER_PLACED, ORDER_CANCELED):
            raise ControlError(f"unknown order event {event!r}")
        return order_id

    def _queue_order_event(self, pending: _Pending, order_id: str, event: str, notify: bool) -> None:
        if notify and self._subscribed(event):
            pending.webhooks.append((event, self._order_event(order_id, event)))

    def _subscribed(self, event: str) -> bool:
        return bool(self.webhook and event in self.webhook["events"])

    def _queue_level_event(self, pending: _Pending, item: InventoryItem, level: Level, *, force: bool) -> None:
        """``inventory.inventory-level.updated`` for a level, if subscribed (API changes: only with
        ``webhooks_for_api_changes``)."""
        if not self._subscribed(LEVEL_UPDATED) or not (force or self.webhooks_for_api_changes):
            return
        payload = {
            "id": self._new_id("evt"),
            "type": LEVEL_UPDATED,
            "created_at": medusa_time(self.now()),
            "data": {**level.payload(), "sku": item.sku},
        }
        pending.webhooks.append((LEVEL_UPDATED, payload))

    def _order(self, order_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        order = self.orders_by_id.get(order_id)
        if order is None:
            raise ControlError(f"unknown order {order_id!r}")
        return order, self._order_state[order_id]

    def fulfil_order(self, order_id: str, *, notify: bool = True) -> dict[str, Any]:
        """Fulfil an order as a clerk would in Medusa's admin (``createOrderFulfillmentWorkflow``): at the
        reserved location ``stocked_quantity`` and ``reserved_quantity`` both fall by each line's quantity and
        the reservations go; the order is ``fulfilled`` (not shipped: the fulfilment can still be canceled).
        Sends ``order.fulfillment_created`` and level events if subscribed. Returns the order with
        ``deliveries``."""
        pending = _Pending()
        with self.lock:
            order, state = self._order(order_id)
            if state["fulfilled"] or state["canceled"]:
                raise ControlError("the order has already been fulfilled or canceled")
            moment = self.now()
            for reservation_id in state["reservations"]:
                reservation = self.reservations.pop(reservation_id)
                item = self.items[reservation["inventory_item_id"]]
                level = item.levels[reservation["location_id"]]
                before = level.payload()
                level.stocked -= reservation["quantity"]
                level.reserved -= reservation["quantity"]
                self._touch(item, level, moment)
                self._log_change(f"fulfilment {order_id}", item, level, before)
                if notify:
                    self._queue_level_event(pending, item, level, force=True)
            state["reservations"] = []
            state["fulfilled"] = True
            stamp = medusa_time(moment)
            for line in order["items"]:
                line["detail"]["fulfilled_quantity"] = line["quantity"]
            order["fulfillment_status"] = "fulfilled"
            order["fulfillments"] = [
                {
                    "id": self._new_id("ful"),
                    "location_id": state["location_id"],
                    "packed_at": stamp,
                    "shipped_at": None,
                    "delivered_at": None,
                    "canceled_at": None,
                    "items": [
                        {"line_item_id": line["id"], "quantity": line["quantity"], "sku": line["variant_sku"]}
                        for line in order["items"]
                    ],
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            ]
            order["updated_at"] = stamp
            self._queue_order_event(pending, order_id, ORDER_FULFILLMENT_CREATED, notify)
            result = self._order_payload(order_id)
        deliveries = self._deliver_all(pending.webhooks)
        result["deliveries"] = [delivery.to_dict() for delivery in deliveries]
        return result

    def cancel_order(self, order_id: str, *, notify: bool = True) -> dict[str, Any]:
        """Cancel an order as Medusa does: an unfulfilled order's reservations are released
        (``reserved_quantity`` falls); a fulfilled one's fulfilment is canceled first, its units going back
        to ``stocked_quantity`` where they left (``cancelOrderFulfillmentWorkflow``). An order with a
        received return is refused. Sends ``order.canceled`` if subscribed. Returns the order with
        ``deliveries``."""
        pending = _Pending()
        with self.lock:
            order, state = self._order(order_id)
            if state["canceled"]:
                raise ControlError("the order is already canceled")
            if state["returns"]:
                raise ControlError("an order with a received return cannot be canceled")
            moment = self.now()
            stamp = medusa_time(moment)
            for reservation_id in state["reservations"]:
                reservation = self.reservations.pop(reservation_id)
                item = self.items[reservation["inventory_item_id"]]
                level = item.levels[reservation["location_id"]]
                before = level.payload()
                level.reserved -= reservation["quantity"]
                self._touch(item, level, moment)
                self._log_change(f"cancel {order_id}", item, level, before)
            state["reservations"] = []
            lines = {line["id"]: line for line in order["items"]}
            for fulfillment in order["fulfillments"]:
                if fulfillment["canceled_at"] is not None:
                    continue
                for entry in fulfillment["items"]:
                    line = lines[entry["line_item_id"]]
                    item = self.items[line["_inventory_item_id"]]
                    level = item.levels[fulfillment["location_id"]]
                    before = level.payload()
                    level.stocked += entry["quantity"]
                    self._touch(item, level, moment)
                    self._log_change(f"fulfilment canceled {order_id}", item, level, before)
                    line["detail"]["fulfilled_quantity"] -= entry["quantity"]
                    if notify:
                        self._queue_level_event(pending, item, level, force=True)
                fulfillment.update(canceled_at=stamp, updated_at=stamp)
            state["canceled"] = True
            paid = order["payment_status"] in ("captured", "partially_captured")
            order.update(
                status="canceled",
                fulfillment_status="canceled",
                payment_status="refunded" if paid else "canceled",
                canceled_at=stamp,
                updated_at=stamp,
            )
            self._queue_order_event(pending, order_id, ORDER_CANCELED, notify)
            result = self._order_payload(order_id)
        deliveries = self._deliver_all(pending.webhooks)
        result["deliveries"] = [delivery.to_dict() for delivery in deliveries]
        return result

    def receive_return(
        self,
        order_id: str,
        items: Sequence[Mapping[str, Any]],
        location: str | None = None,
        *,
        notify: bool = True,
    ) -> dict[str, Any]:
        """A return received in Medusa's admin (request, then receive and confirm): ``items`` are
        ``[{"sku" or "item_id", "quantity", "damaged_quantity"?}]``, ``quantity`` the units received in good
        order, ``damaged_quantity`` those received damaged. As Medusa, only fulfilled units not yet returned
        come back; the good ones go back to ``stocked_quantity`` at ``location`` (name or id; default: where
        the order was fulfilled from), the damaged ones do not. Sends ``order.return_received`` and level
        events if subscribed. Returns the return as ``GET /admin/returns/{id}`` shows it, with
        ``deliveries``."""
        if not items:
            raise ControlError("a return needs items")
        pending = _Pending()
        with self.lock:
            order, state = self._order(order_id)
            if state["canceled"]:
                raise ControlError("a canceled order takes no returns")
            location_id = self.location_id(location) if location else state["location_id"]
            received = self._returned_units(order, items)
            moment = self.now()
            stamp = medusa_time(moment)
            return_id = self._new_id("ret")
            self._return_display_ids += 1
            return_items = []
            for line, good, damaged in received:
                detail = line["detail"]
                detail["return_received_quantity"] += good
                detail["return_dismissed_quantity"] += damaged
                return_items.append(
                    {
                        "id": self._new_id("retitem"),
                        "quantity": good + damaged,
                        "received_quantity": good,
                        "damaged_quantity": damaged,
                        "reason_id": None,
                        "note": None,
                        "item_id": line["id"],
                        "return_id": return_id,
                        "metadata": None,
                    }
                )
                if good:
                    item = self.items[line["_inventory_item_id"]]
                    level = item.levels.get(location_id) or self._create_level(item, location_id, 0.0, 0.0, moment)
                    before = level.payload()
                    level.stocked += good
                    self._touch(item, level, moment)
                    self._log_change(f"return {return_id}", item, level, before)
                    if notify:
                        self._queue_level_event(pending, item, level, force=True)
            self.returns[return_id] = {
                "id": return_id,
                "status": "received",
                "refund_amount": num(sum(float(line["unit_price"]) * (g + d) for line, g, d in received)),
                "order_id": order_id,
                "items": return_items,
                "created_at": stamp,
                "canceled_at": None,
                "exchange_id": None,
                "location_id": location_id,
                "claim_id": None,
                "order_version": order["version"],
                "display_id": self._return_display_ids,
                "no_notification": False,
                "received_at": stamp,
            }
            state["returns"].append(return_id)
            order["updated_at"] = stamp
            self._queue_order_event(pending, order_id, ORDER_RETURN_RECEIVED, notify)
            result = dict(self.returns[return_id])
        deliveries = self._deliver_all(pending.webhooks)
        result["deliveries"] = [delivery.to_dict() for delivery in deliveries]
        return result

    @staticmethod
    def _returned_units(
        order: dict[str, Any], items: Sequence[Mapping[str, Any]]
    ) -> list[tuple[dict[str, Any], int, int]]:
        """(line, good, damaged) per returned line, refused as Medusa refuses more than was fulfilled and not
        yet returned."""
        by_id = {line["id"]: line for line in order["items"]}
        by_sku = {line["variant_sku"]: line for line in order["items"]}
        wanted: dict[str, list[int]] = {}
        for index, entry in enumerate(items, start=1):
            if not isinstance(entry, Mapping):
                raise ControlError(f"return item {index} must be an object with sku (or item_id) and quantity")
            line = by_id.get(str(entry.get("item_id"))) or by_sku.get(str(entry.get("sku")))
            if line is None:
                raise ControlError(f"return item {index} names no line of the order")
            counts = [as_number(entry.get("quantity", 0)), as_number(entry.get("damaged_quantity", 0))]
            if any(count is None or count < 0 or count != int(count) for count in counts) or not any(counts):
                raise ControlError(f"return item {index}: quantities must be whole numbers >= 0, not both 0")
            totals = wanted.setdefault(line["id"], [0, 0])
            totals[0] += int(counts[0])
            totals[1] += int(counts[1])
        received = []
        for line_id, (good, damaged) in wanted.items():
            line = by_id[line_id]
            detail = line["detail"]
            returnable = (
                detail["fulfilled_quantity"] - detail["return_received_quantity"] - detail["return_dismissed_quantity"]
            )
            if good + damaged > returnable:
                raise ControlError(
                    f"{line['variant_sku']}: {good + damaged} returned, only {returnable} fulfilled and not returned"
                )
            received.append((line, good, damaged))
        return received

    def resend_order_event(self, order_id: str, event: str = ORDER_PLACED) -> list[WebhookDelivery]:
        """Send an order's event (the latest of its kind) again with the same event id (a subscriber retry)."""
        with self.lock:
            self._order(order_id)
            payload = self._order_event(order_id, event)
            if not self._subscribed(event):
                return []
        return self._deliver_all([(event, payload)])

    def orders(self) -> list[dict[str, Any]]:
        """Every order, as ``GET /admin/orders/{id}`` shows it, with ``_sandbox: {location_id,
        reservations, fulfilled, canceled}``."""
        with self.lock:
            return [
                {
                    **self._order_payload(order_id),
                    "_sandbox": {k: v for k, v in self._order_state[order_id].items() if k != "events"},
                }
                for order_id in self.orders_by_id
            ]

    def order(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            self._order(order_id)
            return self._order_payload(order_id)

    def apply_pending_orders(self) -> list[str]:
        """Nothing is ever pending: Medusa reserves when the order is placed."""
        return []

    def adjustments(self) -> list[dict[str, Any]]:
        """Every level change (API writes, clerk edits, orders, fulfilments) with before and after."""
        with self.lock:
            return [dict(change) for change in self.level_changes]

    # webhooks ------------------------------------------------------------------------------------------

    def configure_webhook(
        self,
        url: str,
        secret: str | None = None,
        events: Sequence[str] | str = DEFAULT_WEBHOOK_EVENTS,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Where the subscriber posts, the shared ``secret`` it signs with (default ``webhook_secret``)
        and which ``events`` (the order events the recipe forwards, ``inventory.inventory-level.updated``)."""
        if not url:
            raise ControlError("url is required")
        events = [events] if isinstance(events, str) else list(events)
        unknown = set(events) - set(WEBHOOK_EVENTS)
        if unknown:
            raise ControlError(f"unknown events: {', '.join(sorted(unknown))}")
        with self.lock:
            self.webhook = {
                "url": url,
                "secret": secret or self.default_webhook_secret,
                "events": events,
                "headers": dict(headers or {}),
            }
            return dict(self.webhook)

    @property
    def webhook_secret(self) -> str:
        with self.lock:
            return self.webhook["secret"] if self.webhook else self.default_webhook_secret

    def clear_webhook(self) -> None:
        with self.lock:
            self.webhook = None

    def webhook_config(self) -> dict[str, Any] | None:
        with self.lock:
            return dict(self.webhook) if self.webhook else None

    def webhook_targets(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            if not self.webhook or event not in self.webhook["events"]:
                return []
            return [dict(self.webhook)]

    def send_stock_webhook(self, sku: str) -> list[WebhookDelivery]:
        """Send ``inventory.inventory-level.updated`` for every level of one item now (if subscribed)."""
        pending = _Pending()
        with self.lock:
            item = self._item(sku)
            for level in item.levels.values():
                self._queue_level_event(pending, item, level, force=True)
        return self._deliver_all(pending.webhooks)

    def _deliver_all(self, webhooks: Sequence[tuple[str, Any]]) -> list[WebhookDelivery]:
        """As the base class, plus the ``Stockpool-Signature`` header over the exact body sent."""
        deliveries = []
        for event, payload in webhooks:
            for target in self.webhook_targets(event):
                body = webhook_body(payload)
                timestamp = int(self.now().timestamp()) + int(self.signature_offset)
                headers = {
                    **target.get("headers", {}),
                    SIGNATURE_HEADER: signature_header(target["secret"], timestamp, body),
                }
                delivery = send_webhook(event, target["url"], payload, headers=headers)
                self._record_delivery(delivery)
                deliveries.append(delivery)
        return deliveries

    # state, config, spec ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "partner": self.partner,
                "url": self.url,
                "api_url": self.api_url,
                "email": self.email,
                "password": self.password,
                "secret_key": self.secret_key,
                "secret_keys": [
                    {"token": token, **key} for token, key in self.secret_keys.items() if key["revoked_at"] is None
                ],
                "jwt_secret": self.jwt_secret,
                "sales_channel_id": self.sales_channel_id,
                "region_id": self.region_id,
                "locations": [{"id": loc_id, "name": loc["name"]} for loc_id, loc in self.locations.items()],
                "counts": {
                    "inventory_items": len(self.items),
                    "products": len(self.products),
                    "orders": len(self.orders_by_id),
                    "reservations": len(self.reservations),
                    "returns": len(self.returns),
                    "users": len(self.users),
                    "requests": len(self.request_log),
                    "webhook_deliveries": len(self.webhook_deliveries),
                },
                "now": medusa_time(self.now()),
                "config": self.config(),
                "faults": self.faults.to_dict(),
                "webhook": self.webhook_config(),
            }

    @property
    def api_url(self) -> str:
        return self.url

    def _apply_setting(self, name: str, value: Any) -> None:
        if name == "rate_per_minute" and (value is None or value < 0):
            raise ControlError("rate_per_minute must be >= 0 (0: off)")
        if name == "token_lifetime" and (value is None or value <= 0):
            raise ControlError("token_lifetime must be positive")
        super()._apply_setting(name, value)
        if name == "rate_per_minute":
            self.rate_limiter.configure(value or 60.0)

    def contract_variant(self, query: Mapping[str, str]) -> str | None:
        """Later releases apply the per-item batch's update entries, which then name their location."""
        return "newer_batch_api" if self.newer_batch_api else None

    # -- control API extras -----------------------------------------------------------------------------

    def _control_rules(self) -> list[Rule]:
        return [
            *super()._control_rules(),
            Rule("/_sandbox/orders", endpoint="place_order", methods=["POST"]),
            Rule("/_sandbox/orders/<order_id>/fulfil", endpoint="fulfil_order", methods=["POST"]),
            Rule("/_sandbox/orders/<order_id>/cancel", endpoint="cancel_order", methods=["POST"]),
            Rule("/_sandbox/orders/<order_id>/returns", endpoint="receive_return", methods=["POST"]),
            Rule("/_sandbox/orders/<order_id>/resend", endpoint="resend_order", methods=["POST"]),
            Rule("/_sandbox/inventory-items", endpoint="inventory_items", methods=["GET"]),
            Rule("/_sandbox/tokens/expire", endpoint="expire_tokens", methods=["POST"]),
            Rule("/_sandbox/keys", endpoint="add_key", methods=["POST"]),
            Rule("/_sandbox/keys/revoke", endpoint="revoke_key", methods=["POST"]),
            Rule("/_sandbox/users", endpoint="add_user", methods=["POST"]),
        ]

    def _control_place_order(self, request: Request, body: dict) -> dict:
        order = self.place_order(**body)
        return {"order": order, "deliveries": order.pop("deliveries")}

    def _control_fulfil_order(self, request: Request, body: dict, order_id: str) -> dict:
        order = self.fulfil_order(order_id, notify=truthy(body.get("notify", True)))
        return {"order": order, "deliveries": order.pop("deliveries")}

    def _control_cancel_order(self, request: Request, body: dict, order_id: str) -> dict:
        order = self.cancel_order(order_id, notify=truthy(body.get("notify", True)))
        return {"order": order, "deliveries": order.pop("deliveries")}

    def _control_receive_return(self, request: Request, body: dict, order_id: str) -> dict:
        received = self.receive_return(
            order_id, body.get("items") or [], body.get("location"), notify=truthy(body.get("notify", True))
        )
        return {"return": received, "deliveries": received.pop("deliveries")}

    def _control_resend_order(self, request: Request, body: dict, order_id: str) -> dict:
        deliveries = self.resend_order_event(order_id, body.get("event", ORDER_PLACED))
        return {"deliveries": [delivery.to_dict() for delivery in deliveries]}

    def _control_inventory_items(self, request: Request, body: dict) -> dict:
        return {"inventory_items": self.inventory_items()}

    def _control_expire_tokens(self, request: Request, body: dict) -> dict:
        return {"expired": self.expire_tokens()}

    def _control_add_key(self, request: Request, body: dict) -> dict:
        return {"secret_key": self.add_secret_key()}

    def _control_revoke_key(self, request: Request, body: dict) -> dict:
        self.revoke_secret_key(body.get("token"))
        return {"revoked": True}

    def _control_add_user(self, request: Request, body: dict) -> dict:
        return {"user": self.add_user(str(body.get("email") or ""), str(body.get("password") or ""))}

    # -- partner API ---------------------------------------------------------------------------------

    def _api_rules(self) -> list[Rule]:
        items = "/admin/inventory-items"
        return [
            Rule("/auth/user/<provider>", endpoint="authenticate", methods=["POST"]),
            Rule("/auth/token/refresh", endpoint="refresh_token", methods=["POST"]),
            Rule(items, endpoint="list_items", methods=["GET"]),
            Rule(items, endpoint="create_item", methods=["POST"]),
            Rule(CROSS_ITEM_BATCH_PATH, endpoint="cross_item_batch", methods=["POST"]),
            Rule(f"{items}/<item_id>", endpoint="get_item", methods=["GET"]),
            Rule(f"{items}/<item_id>/location-levels", endpoint="list_levels", methods=["GET"]),
            Rule(f"{items}/<item_id>/location-levels", endpoint="create_level", methods=["POST"]),
            Rule(f"{items}/<item_id>/location-levels/batch", endpoint="batch_levels", methods=["POST"]),
            Rule(f"{items}/<item_id>/location-levels/<location_id>", endpoint="update_level", methods=["POST"]),
            Rule(f"{items}/<item_id>/location-levels/<location_id>", endpoint="delete_level", methods=["DELETE"]),
            Rule("/admin/stock-locations", endpoint="list_locations", methods=["GET"]),
            Rule("/admin/stock-locations/<location_id>", endpoint="get_location", methods=["GET"]),
            Rule("/admin/products", endpoint="list_products", methods=["GET"]),
            Rule("/admin/products/<product_id>", endpoint="get_product", methods=["GET"]),
            Rule("/admin/orders", endpoint="list_orders", methods=["GET"]),
            Rule("/admin/orders/<order_id>", endpoint="get_order", methods=["GET"]),
            Rule("/admin/returns", endpoint="list_returns", methods=["GET"]),
            Rule("/admin/returns/<return_id>", endpoint="get_return", methods=["GET"]),
            Rule("/admin/reservations", endpoint="list_reservations", methods=["GET"]),
        ]

    def rate_key(self, request: Request) -> str | None:
        if not self.rate_per_minute or request.path.startswith("/_sandbox"):
            return None
        return request.headers.get("Authorization", "").strip() or "anonymous"

    def error_response(self, status: int, message: str, code: int | None = None) -> Response:
        kind = {400: "invalid_data", 401: "unauthorized", 404: "not_found", 409: "conflict"}.get(
            status, "unknown_error"
        )
        return self._error(MedusaApiError(status, kind, message))

    @staticmethod
    def _error(error: MedusaApiError) -> Response:
        if error.type is None:
            return json_response({"message": error.message}, status=error.status)
        body: dict[str, Any] = {"type": error.type, "message": error.message}
        if error.code is not None:
            body = {"code": error.code, **body}
        return json_response(body, status=error.status)

    def throttle_response(self) -> Response:
        retry_after = math.ceil(60.0 / self.rate_per_minute) if self.rate_per_minute else 1
        return json_response(
            {"code": "api_error", "type": "not_allowed", "message": THROTTLE_MESSAGE},
            status=429,
            headers={"Retry-After": str(retry_after)},
        )

    def server_error_response(self, status: int) -> Response:
        return json_response(
            {"code": "unknown_error", "type": "unknown_error", "message": "An unknown error occurred."}, status=status
        )

    def handle(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        try:
            return self._route(request, body, body_error, pending)
        except MedusaApiError as exc:
            return self._error(exc)

    def _route(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        path = request.path
        if path == "/admin" or path.startswith("/admin/"):
            self._authenticate(request)
        adapter = self._api_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException:
            raise _not_found(f"Cannot {request.method} {request.path}") from None
        if endpoint == "cross_item_batch" and not self.newer_batch_api:
            raise _not_found(f"Cannot {request.method} {request.path}")
        if endpoint == "refresh_token":
            self._authenticate(request, bearer_only=True)
        query = parse_query(request.args)
        if request.method == "POST":
            if body_error:
                raise _invalid("Invalid JSON in request body")
            if body is None:
                body = {}
            if not isinstance(body, dict):
                raise _invalid("Invalid request: Expected type: 'object', got: " + type(body).__name__)
            violation = self.spec_violation(request, body)
            if violation:
                raise _invalid(f"Invalid request: {violation}")
        with self.lock:
            return getattr(self, f"_api_{endpoint}")(request, query, body, pending, **args)

    # auth -----------------------------------------------------------------------------------------------

    def _authenticate(self, request: Request, *, bearer_only: bool = False) -> None:
        scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
        credential = credential.strip()
        with self.lock:
            if scheme.lower() == "bearer" and credential and self._valid_jwt(credential):
                return
            if not bearer_only and scheme.lower() == "basic" and credential and self._valid_key(credential):
                return
        raise MedusaApiError(401, None, UNAUTHORIZED["message"])

    def _valid_jwt(self, token: str) -> bool:
        claims = decode_jwt(token, self.jwt_secret)
        if claims is None or token in self._expired_tokens:
            return False
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= self.now().timestamp():
            return False
        if claims.get("actor_type") != "user":
            return False
        return any(user["id"] == claims.get("actor_id") for user in self.users.values())

    def _valid_key(self, credential: str) -> bool:
        token = credential
        if not token.startswith("sk_"):
            try:
                token = base64.b64decode(token, validate=True).decode()
            except (ValueError, binascii.Error, UnicodeDecodeError):
                return False
        token = token.removesuffix(":")
        if not token.startswith("sk_"):
            return False
        key = self.secret_keys.get(token)
        return key is not None and key["revoked_at"] is None

    def _api_authenticate(
        self, request: Request, query: dict, body: dict, pending: _Pending, provider: str
    ) -> Response:
        if provider != "emailpass":
            raise MedusaApiError(401, "unauthorized", f"Unable to retrieve the auth provider with id: {provider}")
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str):
            raise MedusaApiError(401, "unauthorized", "Email should be a string")
        if not isinstance(password, str):
            raise MedusaApiError(401, "unauthorized", "Password should be a string")
        user = self.users.get(email.lower())
        if user is None or not hmac.compare_digest(user["password"], password):
            raise MedusaApiError(401, "unauthorized", "Invalid email or password")
        return json_response({"token": self._token_for(user)})

    def _api_refresh_token(self, request: Request, query: dict, body: dict, pending: _Pending) -> Response:
        token = request.headers.get("Authorization", "").strip().partition(" ")[2].strip()
        claims = decode_jwt(token, self.jwt_secret) or {}
        user = next((u for u in self.users.values() if u["id"] == claims.get("actor_id")), None)
        if user is None:
            raise MedusaApiError(401, None, UNAUTHORIZED["message"])
        return json_response({"token": self._token_for(user)})

    # helpers ----------------------------------------------------------------------------------------------

    @staticmethod
    def _paging(query: dict[str, Any], default_limit: int) -> tuple[int, int]:
        values = []
        for name, default in (("offset", 0), ("limit", default_limit)):
            raw = query.get(name)
            if raw is None or raw == "":
                values.append(default)
                continue
            try:
                value = int(float(str(raw)))
            except ValueError:
                raise _invalid(f"Invalid request: Expected type: 'number' for field '{name}', got: 'nan'") from None
            if value < 0:
                raise _invalid(f"Invalid request: Value for field '{name}' too small, expected at least: '0'")
            values.append(value)
        return values[0], values[1]

    @staticmethod
    def _list(name: str, rows: list[Any], offset: int, limit: int) -> Response:
        return json_response(
            {name: rows[offset : offset + limit], "count": len(rows), "offset": offset, "limit": limit}
        )

    @staticmethod
    def _sorted(rows: list[dict[str, Any]], order: Any) -> list[dict[str, Any]]:
        if not order or not isinstance(order, str):
            return rows
        field = order.lstrip("-")
        present = [row for row in rows if row.get(field) is not None]
        missing = [row for row in rows if row.get(field) is None]
        present.sort(key=lambda row: row[field], reverse=order.startswith("-"))
        return present + missing

    @staticmethod
    def _fields(query: dict[str, Any]) -> str | None:
        value = query.get("fields")
        return ",".join(value) if isinstance(value, list) else value

    @staticmethod
    def _date_filter(rows: list[dict[str, Any]], query: dict[str, Any], field: str) -> list[dict[str, Any]]:
        operators = query.get(field)
        if not isinstance(operators, dict):
            return rows
        checks = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b, "$lt": lambda a, b: a < b}
        checks["$lte"] = lambda a, b: a <= b
        for operator, raw in operators.items():
            check = checks.get(operator)
            if check is None or not isinstance(raw, str):
                continue
            try:
                bound = parse_medusa_time(raw)
            except ValueError:
                raise _invalid(f"Invalid request: Invalid date for field '{field}'") from None
            rows = [row for row in rows if check(parse_medusa_time(row[field]), bound)]
        return rows

    def _item_or_404(self, item_id: str) -> InventoryItem:
        item = self.items.get(item_id)
        if item is None:
            raise _not_found(f"Inventory item with id: {item_id} was not found")
        return item

    def _item_payload(self, item: InventoryItem, fields: str | None = None) -> dict[str, Any]:
        levels = list(item.levels.values())
        full: dict[str, Any] = {
            "id": item.id,
            "sku": item.sku,
            "title": item.title,
            "description": item.description,
            "thumbnail": None,
            "origin_country": item.origin_country,
            "hs_code": item.hs_code,
            "requires_shipping": item.requires_shipping,
            "mid_code": item.mid_code,
            "material": item.material,
            "weight": item.weight,
            "length": None,
            "height": None,
            "width": None,
            "metadata": item.metadata,
            "reserved_quantity": num(sum(level.reserved for level in levels)),
            "stocked_quantity": num(sum(level.stocked for level in levels)),
            "created_at": medusa_time(item.created_at),
            "updated_at": medusa_time(item.updated_at),
            "location_levels": [level.payload() for level in levels],
        }
        selected = select_fields(fields, DEFAULT_INVENTORY_ITEM_FIELDS)
        return {key: value for key, value in full.items() if key in selected}

    @staticmethod
    def _quantity(body: dict[str, Any], name: str) -> float | None:
        """A quantity from a body (None when absent); guards the handler when validation is off."""
        if name not in body or body[name] is None:
            return None
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise _invalid(f"Invalid request: {name} must be a number >= 0")
        return float(value)

    def _location_or_404(self, location_id: str) -> dict[str, Any]:
        location = self.locations.get(location_id)
        if location is None:
            raise _not_found(f"Stock locations with ids: {location_id} was not found")
        return location

    # inventory items --------------------------------------------------------------------------------------

    def _api_list_items(self, request: Request, query: dict, body: Any, pending: _Pending) -> Response:
        if self.strict_query:
            unknown = sorted(set(query) - INVENTORY_ITEM_QUERY_KEYS)
            if unknown:
                names = ", ".join(f"'{name}'" for name in unknown)
                raise _invalid(f"Invalid request: Unrecognized fields: {names}")
        offset, limit = self._paging(query, 20)
        ids = set(_as_list(query.get("id")))
        skus = set(_as_list(query.get("sku")))
        text = str(query.get("q") or "").lower()
        levels_filter = query.get("location_levels")
        location_ids = set(_as_list(levels_filter.get("location_id"))) if isinstance(levels_filter, dict) else set()
        exact = {
            name: set(_as_list(query.get(name)))
            for name in ("origin_country", "hs_code", "mid_code", "material")
            if query.get(name) is not None
        }
        requires_shipping = query.get("requires_shipping")

        def wanted(item: InventoryItem) -> bool:
            if ids and item.id not in ids:
                return False
            if skus and item.sku not in skus:
                return False
            if text and not any(text in (value or "").lower() for value in (item.sku, item.title, item.description)):
                return False
            if location_ids and not location_ids & set(item.levels):
                return False
            if requires_shipping is not None and item.requires_shipping != truthy(requires_shipping):
                return False
            return all(getattr(item, name) in values for name, values in exact.items())

        fields = self._fields(query)
        rows = [self._item_payload(item, fields) for item in self.items.values() if wanted(item)]
        return self._list("inventory_items", self._sorted(rows, query.get("order")), offset, limit)

    def _api_get_item(self, request: Request, query: dict, body: Any, pending: _Pending, item_id: str) -> Response:
        item = self._item_or_404(item_id)
        return json_response({"inventory_item": self._item_payload(item, self._fields(query))})

    def _api_create_item(self, request: Request, query: dict, body: dict, pending: _Pending) -> Response:
        sku = body.get("sku")
        if sku is not None and not isinstance(sku, str):
            raise _invalid("Invalid request: sku must be a string")
        if sku and sku in self._by_sku:
            raise _invalid(f"Inventory item with sku: {sku}, already exists.")
        levels = self._entries(body, "location_levels")
        for entry in levels:
            self._location_or_404(str(entry.get("location_id")))
        moment = self.now()
        title = body.get("title") if isinstance(body.get("title"), str) else None
        item = self._create_item(sku, title, moment, requires_shipping=body.get("requires_shipping", True) is not False)
        for entry in levels:
            level = self._create_level(
                item,
                entry["location_id"],
                self._quantity(entry, "stocked_quantity") or 0.0,
                self._quantity(entry, "incoming_quantity") or 0.0,
                moment,
            )
            self._log_change("api", item, level, None)
        return json_response({"inventory_item": self._item_payload(item, self._fields(query))})

    # location levels --------------------------------------------------------------------------------------

    def _api_list_levels(self, request: Request, query: dict, body: Any, pending: _Pending, item_id: str) -> Response:
        item = self._item_or_404(item_id)
        offset, limit = self._paging(query, 50)
        location_ids = set(_as_list(query.get("location_id")))
        rows = [
            level.payload() for level in item.levels.values() if not location_ids or level.location_id in location_ids
        ]
        return self._list("inventory_levels", self._sorted(rows, query.get("order")), offset, limit)

    def _create_level_from(self, item: InventoryItem, entry: dict[str, Any], pending: _Pending) -> Level:
        location_id = str(entry.get("location_id") or "")
        self._location_or_404(location_id)
        if location_id in item.levels:
            raise _invalid(
                f"Inventory level with inventory_item_id: {item.id}, location_id: {location_id} already exists."
            )
        moment = self.now()
        level = self._create_level(
            item,
            location_id,
            self._quantity(entry, "stocked_quantity") or 0.0,
            self._quantity(entry, "incoming_quantity") or 0.0,
            moment,
        )
        self._touch(item, None, moment)
        self._log_change("api", item, level, None)
        self._queue_level_event(pending, item, level, force=False)
        return level

    def _update_level_from(
        self, item: InventoryItem, location_id: str, entry: dict[str, Any], pending: _Pending
    ) -> Level:
        level = item.levels.get(location_id)
        if level is None:
            raise _not_found(f"Inventory level for item {item.id} and location {location_id} not found")
        stocked = self._quantity(entry, "stocked_quantity")
        incoming = self._quantity(entry, "incoming_quantity")
        before = level.payload()
        if stocked is not None:
            level.stocked = stocked
        if incoming is not None:
            level.incoming = incoming
        self._touch(item, level, self.now())
        self._log_change("api", item, level, before)
        self._queue_level_event(pending, item, level, force=False)
        return level

    def _api_create_level(self, request: Request, query: dict, body: dict, pending: _Pending, item_id: str) -> Response:
        item = self._item_or_404(item_id)
        self._create_level_from(item, body, pending)
        return json_response({"inventory_item": self._item_payload(item, self._fields(query))})

    def _api_update_level(
        self, request: Request, query: dict, body: dict, pending: _Pending, item_id: str, location_id: str
    ) -> Response:
        item = self._item_or_404(item_id)
        self._update_level_from(item, location_id, body, pending)
        return json_response({"inventory_item": self._item_payload(item, self._fields(query))})

    def _delete_level(self, item: InventoryItem, location_id: str) -> Level:
        level = item.levels.get(location_id)
        if level is None:
            raise _not_found(f"Inventory level for item {item.id} and location {location_id} not found")
        if level.reserved > 0:
            raise MedusaApiError(
                400,
                "not_allowed",
                f"Cannot remove Inventory Level {item.id} at Location {location_id} because there are "
                "reservations at location",
            )
        del item.levels[location_id]
        self._touch(item, None, self.now())
        return level

    def _api_delete_level(
        self, request: Request, query: dict, body: Any, pending: _Pending, item_id: str, location_id: str
    ) -> Response:
        item = self._item_or_404(item_id)
        level = self._delete_level(item, location_id)
        return json_response(
            {
                "id": level.id,
                "object": "inventory-level",
                "deleted": True,
                "parent": self._item_payload(item, self._fields(query)),
            }
        )

    @contextlib.contextmanager
    def _all_or_nothing(self, items: Iterable[InventoryItem], pending: _Pending) -> Iterator[None]:
        """Undo the level changes of a batch that fails part-way (Medusa's workflows compensate)."""
        saved = [
            (item, item.updated_at, {loc: dataclasses.replace(level) for loc, level in item.levels.items()})
            for item in items
        ]
        changes, webhooks = len(self.level_changes), len(pending.webhooks)
        try:
            yield
        except MedusaApiError:
            for item, updated_at, levels in saved:
                item.levels = levels
                item.updated_at = updated_at
            del self.level_changes[changes:]
            del pending.webhooks[webhooks:]
            raise

    @staticmethod
    def _entries(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
        entries = body.get(name) or []
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise _invalid(f"Invalid request: {name} must be an array of objects")
        return entries

    def _api_batch_levels(self, request: Request, query: dict, body: dict, pending: _Pending, item_id: str) -> Response:
        item = self._item_or_404(item_id)
        with self._all_or_nothing([item], pending):
            for location_id in body.get("delete") or []:
                self._delete_level(item, str(location_id))
            for entry in self._entries(body, "create"):
                self._create_level_from(item, entry, pending)
            updates = self._entries(body, "update")  # validated; applied only by later releases
            if self.newer_batch_api:
                for entry in updates:
                    self._update_level_from(item, str(entry.get("location_id") or ""), entry, pending)
        return json_response({"inventory_item": {}})

    def _api_cross_item_batch(self, request: Request, query: dict, body: dict, pending: _Pending) -> Response:
        created, updated, deleted = [], [], []
        with self._all_or_nothing(list(self.items.values()), pending):
            for level_id in body.get("delete") or []:
                for item in self.items.values():
                    match = next((level for level in item.levels.values() if level.id == level_id), None)
                    if match is not None:
                        self._delete_level(item, match.location_id)
                        deleted.append(level_id)
                        break
                else:
                    raise _not_found(f"Inventory level with id: {level_id} was not found")
            for entry in self._entries(body, "create"):
                item = self._item_or_404(str(entry.get("inventory_item_id")))
                created.append(self._create_level_from(item, entry, pending).payload())
            for entry in self._entries(body, "update"):
                item = self._item_or_404(str(entry.get("inventory_item_id")))
                updated.append(self._update_level_from(item, str(entry.get("location_id")), entry, pending).payload())
        return json_response({"created": created, "updated": updated, "deleted": deleted})

    # stock locations, products, orders, reservations -------------------------------------------------------

    def _location_payload(self, location: dict[str, Any], fields: str | None) -> dict[str, Any]:
        selected = select_fields(fields, DEFAULT_STOCK_LOCATION_FIELDS)
        return {key: value for key, value in location.items() if key in selected}

    def _api_list_locations(self, request: Request, query: dict, body: Any, pending: _Pending) -> Response:
        offset, limit = self._paging(query, 20)
        ids = set(_as_list(query.get("id")))
        names = set(_as_list(query.get("name")))
        text = str(query.get("q") or "").lower()
        channels = set(_as_list(query.get("sales_channel_id")))
        rows = [
            self._location_payload(location, self._fields(query))
            for location in self.locations.values()
            if (not ids or location["id"] in ids)
            and (not names or location["name"] in names)
            and (not text or text in location["name"].lower())
            and (not channels or channels & {channel["id"] for channel in location["sales_channels"]})
        ]
        return self._list("stock_locations", self._sorted(rows, query.get("order")), offset, limit)

    def _api_get_location(
        self, request: Request, query: dict, body: Any, pending: _Pending, location_id: str
    ) -> Response:
        location = self.locations.get(location_id)
        if location is None:
            raise _not_found(f"Stock location with id: {location_id} was not found")
        return json_response({"stock_location": self._location_payload(location, self._fields(query))})

    def _product_payload(self, product: dict[str, Any], fields: str | None) -> dict[str, Any]:
        raw = fields or ""
        with_quantity = "variants.inventory_quantity" in raw
        with_links = "variants.inventory_items" in raw
        variants = []
        for variant in product["variants"]:
            shown = {key: value for key, value in variant.items() if not key.startswith("_")}
            item = self.items.get(variant["_inventory_item_id"])
            if with_quantity:
                available = sum(level.available for level in item.levels.values()) if item else 0
                shown["inventory_quantity"] = num(available)
            if with_links:
                shown["inventory_items"] = (
                    [
                        {
                            "id": f"pvitem_{variant['id'].split('_', 1)[1]}",
                            "variant_id": variant["id"],
                            "inventory_item_id": item.id,
                            "required_quantity": 1,
                            "inventory": self._item_payload(item, "id,sku,title,requires_shipping"),
                        }
                    ]
                    if item
                    else []
                )
            variants.append(shown)
        payload = {**product, "variants": variants}
        if fields:
            defaults = [key for key in product if key != "variants"] + ["variants"]
            selected = select_fields(fields, defaults)
            payload = {key: value for key, value in payload.items() if key in selected}
        return payload

    def _api_list_products(self, request: Request, query: dict, body: Any, pending: _Pending) -> Response:
        offset, limit = self._paging(query, 50)
        ids = set(_as_list(query.get("id")))
        handles = set(_as_list(query.get("handle")))
        statuses = set(_as_list(query.get("status")))
        text = str(query.get("q") or "").lower()
        variant_filter = query.get("variants") if isinstance(query.get("variants"), dict) else {}
        variant_skus = set(_as_list(variant_filter.get("sku")))
        rows = []
        for product in self.products.values():
            skus = {variant["sku"] for variant in product["variants"]}
            if ids and product["id"] not in ids:
                continue
            if handles and product["handle"] not in handles:
                continue
            if statuses and product["status"] not in statuses:
                continue
            if variant_skus and not variant_skus & skus:
                continue
            haystack = [product["title"], product["handle"], *[sku or "" for sku in skus]]
            if text and not any(text in value.lower() for value in haystack):
                continue
            rows.append(product)
        rows = self._date_filter(self._date_filter(rows, query, "created_at"), query, "updated_at")
        payloads = [self._product_payload(product, self._fields(query)) for product in rows]
        return self._list("products", self._sorted(payloads, query.get("order")), offset, limit)

    def _api_get_product(
        self, request: Request, query: dict, body: Any, pending: _Pending, product_id: str
    ) -> Response:
        product = self.products.get(product_id)
        if product is None:
            raise _not_found(f"Product with id: {product_id} was not found")
        return json_response({"product": self._product_payload(product, self._fields(query))})

    def _api_list_orders(self, request: Request, query: dict, body: Any, pending: _Pending) -> Response:
        offset, limit = self._paging(query, 15)
        ids = set(_as_list(query.get("id")))
        statuses = set(_as_list(query.get("status")))
        channels = set(_as_list(query.get("sales_channel_id")))
        text = str(query.get("q") or "").lower()
        rows = [
            self._order_payload(order_id)
            for order_id, order in self.orders_by_id.items()
            if (not ids or order_id in ids)
            and (not statuses or order["status"] in statuses)
            and (not channels or order["sales_channel_id"] in channels)
            and (not text or text in order["email"].lower() or text == str(order["display_id"]))
        ]
        rows = self._date_filter(self._date_filter(rows, query, "created_at"), query, "updated_at")
        return self._list("orders", self._sorted(rows, query.get("order")), offset, limit)

    def _api_get_order(self, request: Request, query: dict, body: Any, pending: _Pending, order_id: str) -> Response:
        if order_id not in self.orders_by_id:
            raise _not_found(f"Order with id: {order_id} was not found")
        return json_response({"order": self._order_payload(order_id)})

    def _api_list_returns(self, request: Request, query: dict, body: Any, pending: _Pending) -> Response:
        offset, limit = self._paging(query, 15)
        order_ids = set(_as_list(query.get("order_id")))
        rows = [dict(found) for found in self.returns.values() if not order_ids or found["order_id"] in order_ids]
        return self._list("returns", self._sorted(rows, query.get("order")), offset, limit)

    def _api_get_return(self, request: Request, query: dict, body: Any, pending: _Pending, return_id: str) -> Response:
        if return_id not in self.returns:
            raise _not_found(f"Return with id: {return_id} was not found")
        return json_response({"return": dict(self.returns[return_id])})

    def _api_list_reservations(self, request: Request, query: dict, body: Any, pending: _Pending) -> Response:
        offset, limit = self._paging(query, 20)
        filters = {
            name: set(_as_list(query.get(name)))
            for name in ("location_id", "inventory_item_id", "line_item_id")
            if query.get(name) is not None
        }
        rows = [
            dict(reservation)
            for reservation in self.reservations.values()
            if all(reservation[name] in values for name, values in filters.items())
        ]
        return self._list("reservations", self._sorted(rows, query.get("order")), offset, limit)
