"""What every partner sandbox shares: the threaded HTTP server, faults, rate limiting, the request log,
webhook sending, the control API under ``/_sandbox/`` and deterministic data generation.

A sandbox is a WSGI application (the instance is callable, ``sandbox.wsgi_app`` too) holding its
state in memory behind one re-entrant lock. ``sandbox.start()`` serves it on 127.0.0.1 on an ephemeral
port (``sandbox.url``); ``sandbox.stop()`` stops it; ``with ZohoSandbox() as sandbox:`` does both.

Order of handling for a partner request (anything outside ``/_sandbox/``):

1. the body is read and parsed, and a :class:`RequestRecord` is started;
2. a fault is drawn (:class:`Faults`), in this order: ``throttle_storm`` (always), ``drop_rate``,
   ``error_rate``, ``malformed_rate``; faults are decided *before* normal handling, so a faulted
   request never changes state;
3. the concurrency cap for the request's rate key (Zoho: organization, Cin7: application key) is taken,
   then ``latency_ms`` is slept (inside the slot, so latency plus concurrency produces the partner's
   concurrency refusals);
4. the fault, if any, is answered: ``drop`` closes the socket without a response, ``throttle`` answers
   the partner's throttle response, ``error`` a partner-shaped 5xx (``error_status``), ``malformed``
   a 200 whose JSON body is cut short;
5. otherwise the per-key token bucket is checked (the partner's throttle response when empty), then
   the partner handler runs (auth, validation, routing, state changes);
6. the record is completed with the status and appended to ``sandbox.request_log``; webhooks the
   partner would send because of this request go out after the response has been written.

The control API (never faulted, rate limited, authenticated or logged) mirrors the Python methods:

====== ================================= ==============================================================
GET    /_sandbox/                        state summary: credentials, locations, counts, config, faults
POST   /_sandbox/reset                   back to the initial state (``{"seed": int}`` optional)
POST   /_sandbox/seed                    ``{"items": N, "locations": [names], "seed": int}``
POST   /_sandbox/items                   add one item: ``{"sku", "name", "stock": {location: qty}, ...}``
GET    /_sandbox/stock?sku=&location=    current stock of one SKU at one location (or all locations)
POST   /_sandbox/stock                   ``{"sku", "location", "on_hand": n}`` or ``{..., "delta": n}``:
                                         a clerk's change in the partner's own UI; sends the webhook
GET    /_sandbox/faults                  current faults; POST sets some (partial), DELETE clears
GET    /_sandbox/config                  switches; POST sets some (partial)
GET    /_sandbox/webhook                 webhook target; POST configures it, DELETE removes it
GET    /_sandbox/webhook/deliveries      what was sent and how the receiver answered
POST   /_sandbox/webhook/send            ``{"sku"}``: send the stock webhook for one SKU now
GET    /_sandbox/requests                the request log (``?method=&path=``); DELETE clears it
GET    /_sandbox/orders                  sales orders (Zoho) / sales (Cin7) created through the API
POST   /_sandbox/orders/apply            apply the stock effect of orders held back by the lag switch
GET    /_sandbox/adjustments             inventory adjustments (Zoho) / stock adjustments (Cin7)
POST   /_sandbox/clock/advance           ``{"seconds": n}``: move the sandbox clock forward
GET    /_sandbox/spec-violations         logged request bodies that break the partner's contract
====== ================================= ==============================================================

Each sandbox adds its own (see its module docstring).

Request bodies are checked against the partner's contract in :mod:`connectors.sandbox.contracts`, loaded
when the sandbox is made: without a readable contract the sandbox raises
:class:`~connectors.sandbox.contracts.ContractError` rather than run unchecked.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import requests
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from connectors.sandbox.contracts import CONTRACTS_DIR, ContractError, load_contract

logger = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


# --------------------------------------------------------------------------------------------------
# The HTTP server
# --------------------------------------------------------------------------------------------------


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without the access log, speaking HTTP/1.1 (keep-alive)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            logger.debug("sandbox server: " + message, *args)


class _ThreadedServer(ThreadedWSGIServer):
    request_queue_size = 256  # the listen backlog: dozens of clients connect at once in the tests

    def __init__(self, host: str, port: int, app: Callable) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(host, port, app, handler=_QuietRequestHandler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on keep-alive clients so their handler threads end with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        logger.debug("sandbox server: error while serving %s", client_address, exc_info=True)


class SandboxServer:
    """A threaded WSGI server on 127.0.0.1, started and stopped in-process.

    ``SandboxServer(app).start()`` binds an ephemeral port (or ``port``) and serves in a daemon thread;
    ``.url`` is ``http://127.0.0.1:<port>``; ``.stop()`` shuts it down and hangs up on open connections.
    Also a context manager. ``serve_forever()`` serves in the calling thread (the management command).
    """

    def __init__(self, app: Callable, host: str = LOCALHOST, port: int = 0) -> None:
        self.app = app
        self.host = host
        self._server = _ThreadedServer(host, port, app)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sandbox-server-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------
# JSON and number helpers
# --------------------------------------------------------------------------------------------------


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), default=str)
    return Response(body, status=status, headers=dict(headers or {}), content_type=JSON_CONTENT_TYPE)


def parse_json(raw: bytes) -> tuple[Any, str | None]:
    """``(value, None)`` for a JSON document, ``(None, reason)`` otherwise; empty input is ``(None, None)``."""
    if not raw or not raw.strip():
        return None, None
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"Invalid JSON: {exc}"


def num(value: float | int) -> float | int:
    """A quantity as JSON shows it: integral values as ints, others as floats rounded to 4 places."""
    value = round(float(value), 4)
    return int(value) if value == int(value) else value


def as_number(value: Any) -> float | None:
    """A JSON number (not a bool), or a numeric string, as a float; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


# --------------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------------


class TokenBucket:
    """Per-key token buckets: ``rate_per_minute`` tokens a minute, holding at most ``capacity``
    (default: one minute's worth). ``take(key)`` returns 0.0 when a token was taken, else the seconds
    until one will be available. Thread-safe."""

    def __init__(
        self,
        rate_per_minute: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self.configure(rate_per_minute, capacity)

    def configure(self, rate_per_minute: float, capacity: float | None = None) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        with self._lock:
            self.rate_per_minute = float(rate_per_minute)
            self.capacity = float(capacity if capacity is not None else rate_per_minute)
            self._buckets.clear()

    def take(self, key: str, tokens: float = 1.0) -> float:
        with self._lock:
            now = self._clock()
            per_second = self.rate_per_minute / 60.0
            level, stamp = self._buckets.get(key, (self.capacity, now))
            level = min(self.capacity, level + (now - stamp) * per_second)
            if level >= tokens:
                self._buckets[key] = (level - tokens, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (tokens - level) / per_second

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


class ConcurrencyGate:
    """At most ``limit`` requests in flight per key (``limit`` None or 0: unlimited). Thread-safe."""

    def __init__(self, limit: int | None) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self.limit = limit

    def acquire(self, key: str) -> bool:
        with self._lock:
            current = self._in_flight.get(key, 0)
            if self.limit and current >= self.limit:
                return False
            self._in_flight[key] = current + 1
            return True

    def release(self, key: str) -> None:
        with self._lock:
            current = self._in_flight.get(key, 0)
            if current <= 1:
                self._in_flight.pop(key, None)
            else:
                self._in_flight[key] = current - 1


# --------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Faults:
    """Fault injection for partner requests (never for the control API).

    Rates are probabilities in [0, 1] drawn per request from a generator seeded by ``seed`` (None:
    unpredictable), so a seeded run injects the same faults into the same request sequence.
    """

    error_rate: float = 0.0
    error_status: int = 500
    latency_ms: int = 0
    throttle_storm: bool = False
    malformed_rate: float = 0.0
    drop_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        self._validate()
        self._rng = random.Random(self.seed)  # noqa: S311 - fault injection, not cryptography

    def _validate(self) -> None:
        for name in ("error_rate", "malformed_rate", "drop_rate"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
            setattr(self, name, value)
        self.error_status = int(self.error_status)
        if not 500 <= self.error_status <= 599:
            raise ValueError("error_status must be a 5xx status")
        self.latency_ms = int(self.latency_ms)
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        self.throttle_storm = truthy(self.throttle_storm)

    def draw(self) -> str | None:
        """The fault for the next request: ``throttle``, ``drop``, ``error``, ``malformed`` or None."""
        if self.throttle_storm:
            return "throttle"
        for name, rate in (("drop", self.drop_rate), ("error", self.error_rate), ("malformed", self.malformed_rate)):
            if rate and self._rng.random() < rate:
                return name
        return None

    @property
    def active(self) -> bool:
        return bool(self.throttle_storm or self.drop_rate or self.error_rate or self.malformed_rate or self.latency_ms)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}


# --------------------------------------------------------------------------------------------------
# The request log and webhook deliveries
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RequestRecord:
    """One partner request as the sandbox saw it."""

    partner: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body (or Zoho's JSONString form field), None when absent or unparseable
    raw_body: str
    at: str
    status: int | None = None  # None: the connection was dropped
    fault: str | None = None
    error: str | None = None  # the partner error message answered, if any
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class WebhookDelivery:
    """One webhook POST the sandbox sent and how the receiver answered (status None: no answer)."""

    event: str
    url: str
    payload: Any
    headers: dict[str, str]
    status: int | None
    ok: bool
    error: str | None
    response_body: str
    at: str
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def send_webhook(
    event: str,
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 5.0,
) -> WebhookDelivery:
    """POST ``payload`` as JSON to ``url`` with the configured headers, query parameters and Basic auth,
    synchronously; never raises for transport errors (they are recorded in the delivery)."""
    body = json.dumps(payload, separators=(",", ":"), default=str)
    sent_headers = {"Content-Type": "application/json", "User-Agent": "stockpool-sandbox-webhook/1"}
    sent_headers.update(headers or {})
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        sent_headers["Authorization"] = f"Basic {token}"
    started = time.monotonic()
    at = datetime.now(UTC).isoformat()
    try:
        response = requests.post(url, data=body.encode(), headers=sent_headers, params=params or None, timeout=timeout)
    except requests.RequestException as exc:
        return WebhookDelivery(
            event, url, payload, sent_headers, None, False, str(exc), "", at, (time.monotonic() - started) * 1000
        )
    return WebhookDelivery(
        event,
        url,
        payload,
        sent_headers,
        response.status_code,
        200 <= response.status_code < 300,
        None,
        response.text[:2000],
        at,
        (time.monotonic() - started) * 1000,
    )


# --------------------------------------------------------------------------------------------------
# Deterministic data
# --------------------------------------------------------------------------------------------------

_BRANDS = [
    ("Northwind", "NWD"),
    ("Harbor & Pine", "HBP"),
    ("Copperline", "CPL"),
    ("Alder Supply", "ALD"),
    ("Fieldcraft", "FLD"),
    ("Bluestem", "BLS"),
    ("Kestrel Works", "KST"),
    ("Old Mill", "OML"),
]
_PRODUCTS = [
    ("Merino Crew Sock", "SOCK", "Apparel", 9.5),
    ("Canvas Tote Bag", "TOTE", "Accessories", 18.0),
    ("Beard Oil 30ml", "BOIL", "Grooming", 14.0),
    ("Pomade 100g", "POMD", "Grooming", 16.5),
    ("Straight Razor", "RAZR", "Grooming", 42.0),
    ("Leather Wallet", "WALT", "Accessories", 35.0),
    ("Cotton Tee", "TEE", "Apparel", 22.0),
    ("Wool Beanie", "BEAN", "Apparel", 19.0),
    ("Enamel Mug", "MUG", "Home", 12.0),
    ("Soy Candle", "CNDL", "Home", 24.0),
    ("Trail Runner", "TRLR", "Footwear", 89.0),
    ("Chelsea Boot", "CHLB", "Footwear", 149.0),
    ("USB-C Cable 2m", "USBC", "Electronics", 11.0),
    ("Desk Lamp", "LAMP", "Electronics", 48.0),
    ("Hair Clipper", "CLIP", "Grooming", 79.0),
    ("Shaving Brush", "BRSH", "Grooming", 27.0),
]
_VARIANTS = ["Charcoal", "Navy", "Olive", "Sand", "Rust", "Black", "Natural", "Slate"]
_SIZES = ["S", "M", "L", "XL", "One Size"]

CATEGORY_NAMES = sorted({product[2] for product in _PRODUCTS})


def _check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


@dataclasses.dataclass
class GeneratedItem:
    """A realistic-looking catalogue entry; the partner sandboxes turn it into their own records."""

    index: int
    sku: str
    name: str
    brand: str
    category: str
    rate: float
    purchase_rate: float
    reorder_level: int
    upc: str
    ean: str
    weight: float
    stock: dict[str, int]  # location name -> on hand


def generate_items(
    count: int,
    locations: Sequence[str],
    *,
    seed: int = 0,
    start_index: int = 1,
    max_stock: int = 120,
) -> list[GeneratedItem]:
    """``count`` deterministic items (same arguments, same items), with stock at each location
    (about one in eight is out of stock at a location). SKUs are unique for distinct indexes."""
    rng = random.Random(f"stockpool-sandbox-items:{seed}")  # noqa: S311 - test data
    items = []
    for index in range(start_index, start_index + count):
        brand, brand_code = _BRANDS[rng.randrange(len(_BRANDS))]
        product, product_code, category, base_price = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
        colour = _VARIANTS[rng.randrange(len(_VARIANTS))]
        size = _SIZES[rng.randrange(len(_SIZES))]
        rate = round(base_price * (0.85 + rng.random() * 0.4), 2)
        upc_body = f"{rng.randrange(10**10, 10**11):011d}"
        ean_body = f"{rng.randrange(10**11, 10**12):012d}"
        stock = {}
        for location in locations:
            stock[location] = 0 if rng.random() < 0.125 else rng.randrange(1, max_stock + 1)
        items.append(
            GeneratedItem(
                index=index,
                sku=f"{brand_code}-{product_code}-{index:05d}",
                name=f"{brand} {product} - {colour} / {size}",
                brand=brand,
                category=category,
                rate=rate,
                purchase_rate=round(rate * (0.45 + rng.random() * 0.15), 2),
                reorder_level=rng.choice([0, 5, 10, 20]),
                upc=upc_body + _check_digit(upc_body),
                ean=ean_body + _check_digit(ean_body),
                weight=round(0.05 + rng.random() * 2, 3),
                stock=stock,
            )
        )
    return items


def deterministic_guid(*parts: object) -> str:
    """A GUID (version 4 layout) derived from ``parts``: same parts, same GUID."""
    return str(
        uuid.UUID(
            bytes=uuid.uuid5(uuid.NAMESPACE_URL, "stockpool-sandbox:" + ":".join(map(str, parts))).bytes, version=4
        )
    )


# --------------------------------------------------------------------------------------------------
# The sandbox base class
# --------------------------------------------------------------------------------------------------


class ControlError(Exception):
    """A bad control call (answered 400 ``{"error": ...}``) or a bad argument to a Python control method."""


class PartnerError(Exception):
    """Raised inside partner handlers to answer the partner's error envelope."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclasses.dataclass
class _Pending:
    """Per-request scratch: webhooks to send once the response has been written."""

    webhooks: list[tuple[str, Any]] = dataclasses.field(default_factory=list)


class BaseSandbox:
    """State, locking, the WSGI entry point, faults, rate limits, the request log, webhooks and the
    control API. Subclasses implement the partner: see :class:`connectors.sandbox.zoho.ZohoSandbox` and
    :class:`connectors.sandbox.cin7.Cin7Sandbox`."""

    partner: ClassVar[str] = ""
    #: Settings ``configure()`` accepts, with their types (bool, int, float, str).
    CONFIG: ClassVar[dict[str, type]] = {"validate_requests": bool, "webhooks_for_api_changes": bool}
    #: The request log and the webhook deliveries keep this many entries (the oldest go first).
    LOG_LIMIT: ClassVar[int] = 20_000
    #: A JSON prefix that looks like the partner's and is cut short (the ``malformed`` fault).
    MALFORMED_BODY: ClassVar[str] = '{"code":0,"message":"success","items":[{"item_id":"48150000'

    #: Where the partner's contract is (``<contracts_dir>/<partner>/index.json``).
    contracts_dir: ClassVar[Path] = CONTRACTS_DIR
    #: Whether a request logged without a body is checked as ``{}`` (Medusa reads it so) or reported.
    MISSING_BODY_IS_EMPTY_OBJECT: ClassVar[bool] = False

    def __init__(self, *, validate_requests: bool = True, seed: int = 0) -> None:
        try:
            self.contract = load_contract(self.partner, self.contracts_dir)
        except ContractError as exc:
            raise ContractError(f"the {self.partner} sandbox refuses to start without its contract: {exc}") from exc
        self.lock = threading.RLock()
        self.validate_requests = validate_requests
        self.webhooks_for_api_changes = False
        self.base_seed = seed
        self.faults = Faults()
        self.request_log: list[RequestRecord] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.rate_limiter = TokenBucket(self.default_rate_per_minute())
        self.concurrency = ConcurrencyGate(None)
        self._clock_offset = 0.0
        self.server: SandboxServer | None = None
        self.url: str = ""
        self._control_map = Map(self._control_rules(), strict_slashes=False, merge_slashes=True)
        self.reset()

    # -- serving ---------------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = LOCALHOST) -> BaseSandbox:
        """Serve on ``host:port`` (port 0: ephemeral) in a background thread; sets ``self.url``."""
        if self.server is None:
            self.server = SandboxServer(self, host=host, port=port).start()
            self.url = self.server.url
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> BaseSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    def wsgi_app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "/_sandbox" or request.path.startswith("/_sandbox/"):
            response = self._dispatch_control(request)
        else:
            response = self._handle_partner_request(request, environ)
        return response(environ, start_response)

    # -- what subclasses provide ------------------------------------------------------------------

    def default_rate_per_minute(self) -> float:
        return 60.0

    def reset_state(self) -> None:
        """Rebuild the partner state (called under the lock by ``reset()``)."""
        raise NotImplementedError

    def rate_key(self, request: Request) -> str | None:
        """The key the partner rate-limits by for this request, or None when it is not limited."""
        return None

    def handle(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        raise NotImplementedError

    def error_response(self, status: int, message: str, code: int | None = None) -> Response:
        raise NotImplementedError

    def throttle_response(self) -> Response:
        raise NotImplementedError

    def server_error_response(self, status: int) -> Response:
        raise NotImplementedError

    def parse_body(self, request: Request) -> tuple[Any, str | None]:
        return parse_json(request.get_data(cache=True))

    def webhook_targets(self, event: str) -> list[dict[str, Any]]:
        """The configured targets for ``event``: dicts with url, headers, params, auth."""
        return []

    # -- the partner request pipeline -------------------------------------------------------------

    def _handle_partner_request(self, request: Request, environ: dict) -> Response:
        started = time.monotonic()
        raw = request.get_data(cache=True)
        body, body_error = self.parse_body(request)
        record = RequestRecord(
            partner=self.partner,
            method=request.method,
            path=request.path,
            query=dict(request.args.items()),
            headers={key.lower(): value for key, value in request.headers.items()},
            body=body,
            raw_body=raw.decode("utf-8", "replace"),
            at=self.now().isoformat(),
        )
        with self.lock:
            fault = self.faults.draw()
            latency = self.faults.latency_ms
        key = self.rate_key(request)
        acquired = key is None or self.concurrency.acquire(key)
        pending = _Pending()
        try:
            if latency:
                time.sleep(latency / 1000.0)
            if fault == "drop":
                record.fault = "drop"
                self._finish(record, None, started)
                sock = environ.get("werkzeug.socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                raise ConnectionAbortedError("sandbox fault: connection dropped")
            if not acquired:
                record.fault = "concurrency"
                response = self.throttle_response()
            elif fault == "throttle":
                record.fault = "throttle"
                response = self.throttle_response()
            elif fault == "error":
                record.fault = "error"
                response = self.server_error_response(self.faults.error_status)
            elif fault == "malformed":
                record.fault = "malformed"
                response = Response(self.MALFORMED_BODY, status=200, content_type=JSON_CONTENT_TYPE)
            elif key is not None and self.rate_limiter.take(key) > 0:
                record.fault = "rate_limited"
                response = self.throttle_response()
            else:
                response = self._run_handler(request, body, body_error, pending)
        finally:
            if acquired and key is not None:
                self.concurrency.release(key)
        if response.status_code >= 400:
            record.error = self._error_message(response)
        self._finish(record, response.status_code, started)
        if pending.webhooks:
            webhooks = list(pending.webhooks)
            response.call_on_close(lambda: self._deliver_all(webhooks))
        return response

    def _run_handler(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        try:
            return self.handle(request, body, body_error, pending)
        except PartnerError as exc:
            return self.error_response(exc.status, exc.message, exc.code)
        except Exception:
            logger.exception("sandbox %s: handler failed for %s %s", self.partner, request.method, request.path)
            return self.server_error_response(500)

    def _finish(self, record: RequestRecord, status: int | None, started: float) -> None:
        record.status = status
        record.duration_ms = round((time.monotonic() - started) * 1000, 2)
        with self.lock:
            self.request_log.append(record)
            if len(self.request_log) > self.LOG_LIMIT:
                del self.request_log[: len(self.request_log) - self.LOG_LIMIT]

    @staticmethod
    def _error_message(response: Response) -> str | None:
        data, _ = parse_json(response.get_data())
        if isinstance(data, list) and data:
            data = data[0]
        if isinstance(data, dict):
            for key in ("message", "Exception", "error_description", "error"):
                if data.get(key):
                    return str(data[key])
        return None

    # -- webhooks ---------------------------------------------------------------------------------

    def _deliver_all(self, webhooks: Sequence[tuple[str, Any]]) -> list[WebhookDelivery]:
        deliveries = []
        for event, payload in webhooks:
            for target in self.webhook_targets(event):
                delivery = send_webhook(
                    event,
                    target["url"],
                    payload,
                    headers=target.get("headers"),
                    params=target.get("params"),
                    auth=target.get("auth"),
                )
                self._record_delivery(delivery)
                deliveries.append(delivery)
        return deliveries

    def _record_delivery(self, delivery: WebhookDelivery) -> None:
        with self.lock:
            self.webhook_deliveries.append(delivery)
            if len(self.webhook_deliveries) > self.LOG_LIMIT:
                del self.webhook_deliveries[: len(self.webhook_deliveries) - self.LOG_LIMIT]

    def contract_variant(self, query: Mapping[str, str]) -> str | None:
        """The named variant of an operation's contract that applies to a request with ``query`` (None: the
        default); see :mod:`connectors.sandbox.contracts`."""
        return None

    def spec_violation(self, request: Request, body: Any) -> str | None:
        """The first way ``body`` breaks the partner's contract (None: fine, or checks switched off)."""
        if not self.validate_requests:
            return None
        variant = self.contract_variant(request.args)
        return self.contract.first_request_violation(request.method, request.path, body, variant)

    def queue_api_webhook(self, pending: _Pending, event: str, payload: Any) -> None:
        """Send ``event`` after the response, if the partner sends webhooks for API-made changes."""
        if self.webhooks_for_api_changes:
            pending.webhooks.append((event, payload))

    # -- clock --------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The sandbox clock: real UTC time plus whatever ``advance_clock`` added."""
        return datetime.now(UTC) + timedelta(seconds=self._clock_offset)

    def advance_clock(self, seconds: float) -> datetime:
        """Move the sandbox clock forward (token expiry, timestamps); returns the new time."""
        if seconds < 0:
            raise ControlError("the clock only moves forward")
        with self.lock:
            self._clock_offset += float(seconds)
            return self.now()

    # -- common Python control methods -----------------------------------------------------------------

    def reset(self, seed: int | None = None) -> None:
        """Back to the initial state: no items, default locations, no orders, no faults, empty logs,
        no webhook target; configuration switches are kept. ``seed`` changes the base seed."""
        with self.lock:
            if seed is not None:
                self.base_seed = seed
            self.faults = Faults()
            self.request_log = []
            self.webhook_deliveries = []
            self.rate_limiter.reset()
            self._clock_offset = 0.0
            self.reset_state()

    def configure_faults(self, **settings: Any) -> Faults:
        """Set some fault settings (the others keep their values); returns the new :class:`Faults`."""
        unknown = set(settings) - Faults.field_names()
        if unknown:
            raise ControlError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self.lock:
            values = {**self.faults.to_dict(), **settings}
            try:
                self.faults = Faults(**values)
            except (TypeError, ValueError) as exc:
                raise ControlError(str(exc)) from exc
            return self.faults

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = Faults()

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change configuration switches (see ``CONFIG`` of each sandbox); returns them all."""
        unknown = set(settings) - set(self.CONFIG)
        if unknown:
            raise ControlError(f"unknown settings: {', '.join(sorted(unknown))}")
        with self.lock:
            for name, value in settings.items():
                kind = self.CONFIG[name]
                try:
                    if kind is bool:
                        converted: Any = truthy(value)
                    elif value is None:
                        converted = None
                    else:
                        converted = kind(value)
                except (TypeError, ValueError) as exc:
                    raise ControlError(f"{name}: {exc}") from exc
                self._apply_setting(name, converted)
            return self.config()

    def _apply_setting(self, name: str, value: Any) -> None:
        setattr(self, name, value)

    def config(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.CONFIG}

    def logged_requests(self, method: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """The request log, optionally only one method and paths containing ``path`` (case-insensitive)."""
        with self.lock:
            records = list(self.request_log)
        if method:
            records = [r for r in records if r.method == method.upper()]
        if path:
            records = [r for r in records if path.lower() in r.path.lower()]
        return records

    def clear_request_log(self) -> None:
        with self.lock:
            self.request_log = []

    def record_violations(self, record: RequestRecord) -> list[str]:
        """Every way a logged request's body breaks the partner's contract (a body that was not JSON, or
        is missing where one is expected, is reported as such)."""
        variant = self.contract_variant(record.query)
        if self.contract.request_schema(record.method, record.path, variant) is None:
            return []
        body = record.body
        if body is None:
            if record.raw_body.strip():
                return ["the body is not a JSON document"]
            if not self.MISSING_BODY_IS_EMPTY_OBJECT:
                return ["the body is missing"]
            body = {}
        return self.contract.request_violations(record.method, record.path, body, variant)

    def spec_violations(self) -> list[tuple[RequestRecord, list[str]]]:
        """Logged requests whose bodies break the partner's contract, with the reasons."""
        return [(record, errors) for record in self.logged_requests() if (errors := self.record_violations(record))]

    # -- the control API -----------------------------------------------------------------------------

    def _control_rules(self) -> list[Rule]:
        return [
            Rule("/_sandbox/", endpoint="state", methods=["GET"]),
            Rule("/_sandbox/reset", endpoint="reset", methods=["POST"]),
            Rule("/_sandbox/seed", endpoint="seed", methods=["POST"]),
            Rule("/_sandbox/items", endpoint="add_item", methods=["POST"]),
            Rule("/_sandbox/stock", endpoint="stock", methods=["GET", "POST"]),
            Rule("/_sandbox/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
            Rule("/_sandbox/config", endpoint="config", methods=["GET", "POST"]),
            Rule("/_sandbox/webhook", endpoint="webhook", methods=["GET", "POST", "DELETE"]),
            Rule("/_sandbox/webhook/deliveries", endpoint="deliveries", methods=["GET", "DELETE"]),
            Rule("/_sandbox/webhook/send", endpoint="send_webhook", methods=["POST"]),
            Rule("/_sandbox/requests", endpoint="requests", methods=["GET", "DELETE"]),
            Rule("/_sandbox/orders", endpoint="orders", methods=["GET"]),
            Rule("/_sandbox/orders/apply", endpoint="apply_orders", methods=["POST"]),
            Rule("/_sandbox/adjustments", endpoint="adjustments", methods=["GET"]),
            Rule("/_sandbox/clock/advance", endpoint="advance_clock", methods=["POST"]),
            Rule("/_sandbox/spec-violations", endpoint="spec_violations", methods=["GET"]),
        ]

    def _dispatch_control(self, request: Request) -> Response:
        adapter = self._control_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            return json_response({"error": exc.description or exc.name}, status=exc.code or 404)
        body, error = parse_json(request.get_data(cache=True))
        if error:
            return json_response({"error": error}, status=400)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return json_response({"error": "the body must be a JSON object"}, status=400)
        handler = getattr(self, f"_control_{endpoint}")
        try:
            result = handler(request, body, **args)
        except (ControlError, KeyError, ValueError, TypeError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return json_response({"error": str(message)}, status=400)
        if isinstance(result, Response):
            return result
        return json_response(result)

    def _control_state(self, request: Request, body: dict) -> dict:
        return self.state()

    def _control_reset(self, request: Request, body: dict) -> dict:
        self.reset(seed=body.get("seed"))
        return self.state()

    def _control_seed(self, request: Request, body: dict) -> dict:
        created = self.seed(
            items=int(body.get("items", 20)),
            locations=body.get("locations"),
            seed=body.get("seed"),
        )
        return {"created": len(created), "items": created[:1000]}

    def _control_add_item(self, request: Request, body: dict) -> dict:
        return self.add_item(**body)

    def _control_stock(self, request: Request, body: dict) -> dict:
        if request.method == "GET":
            sku = request.args.get("sku") or request.args.get("item_id") or request.args.get("id")
            if not sku:
                raise ControlError("sku is required")
            location = request.args.get("location")
            if location:
                return {"sku": sku, "location": location, "on_hand": self.stock(sku, location)}
            return {"sku": sku, "stock": self.stock_by_location(sku)}
        sku = body.get("sku") or body.get("item_id") or body.get("id")
        location = body.get("location") or body.get("location_id")
        if not sku or not location:
            raise ControlError("sku and location are required")
        notify = truthy(body.get("notify", True))
        if "on_hand" in body:
            return self.set_stock(sku, location, body["on_hand"], notify=notify)
        if "delta" in body:
            return self.adjust_stock(sku, location, body["delta"], notify=notify)
        raise ControlError("give on_hand or delta")

    def _control_faults(self, request: Request, body: dict) -> dict:
        if request.method == "POST":
            self.configure_faults(**body)
        elif request.method == "DELETE":
            self.clear_faults()
        return self.faults.to_dict()

    def _control_config(self, request: Request, body: dict) -> dict:
        if request.method == "POST":
            return self.configure(**body)
        return self.config()

    def _control_webhook(self, request: Request, body: dict) -> dict:
        if request.method == "POST":
            self.configure_webhook(**body)
        elif request.method == "DELETE":
            self.clear_webhook()
        return {"webhook": self.webhook_config()}

    def _control_deliveries(self, request: Request, body: dict) -> dict:
        with self.lock:
            if request.method == "DELETE":
                self.webhook_deliveries = []
            return {"deliveries": [d.to_dict() for d in self.webhook_deliveries]}

    def _control_send_webhook(self, request: Request, body: dict) -> dict:
        sku = body.get("sku") or body.get("item_id") or body.get("id")
        if not sku:
            raise ControlError("sku is required")
        return {"deliveries": [d.to_dict() for d in self.send_stock_webhook(sku)]}

    def _control_requests(self, request: Request, body: dict) -> dict:
        if request.method == "DELETE":
            self.clear_request_log()
            return {"requests": []}
        records = self.logged_requests(method=request.args.get("method"), path=request.args.get("path"))
        return {"requests": [r.to_dict() for r in records]}

    def _control_orders(self, request: Request, body: dict) -> dict:
        return {"orders": self.orders()}

    def _control_apply_orders(self, request: Request, body: dict) -> dict:
        return {"applied": self.apply_pending_orders()}

    def _control_adjustments(self, request: Request, body: dict) -> dict:
        return {"adjustments": self.adjustments()}

    def _control_advance_clock(self, request: Request, body: dict) -> dict:
        return {"now": self.advance_clock(float(body.get("seconds", 0))).isoformat()}

    def _control_spec_violations(self, request: Request, body: dict) -> dict:
        return {"violations": [{"request": r.to_dict(), "errors": errors} for r, errors in self.spec_violations()]}

    # -- partner-specific control methods (implemented by subclasses) -----------------------------

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def seed(
        self, items: int = 20, locations: Sequence[str] | None = None, seed: int | None = None
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def add_item(self, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    def set_stock(self, sku: str, location: str, on_hand: float, *, notify: bool = True) -> dict[str, Any]:
        raise NotImplementedError

    def adjust_stock(self, sku: str, location: str, delta: float, *, notify: bool = True) -> dict[str, Any]:
        raise NotImplementedError

    def stock(self, sku: str, location: str) -> float | int:
        raise NotImplementedError

    def stock_by_location(self, sku: str) -> dict[str, Any]:
        raise NotImplementedError

    def send_stock_webhook(self, sku: str) -> list[WebhookDelivery]:
        raise NotImplementedError

    def configure_webhook(self, **settings: Any) -> None:
        raise NotImplementedError

    def clear_webhook(self) -> None:
        raise NotImplementedError

    def webhook_config(self) -> Any:
        raise NotImplementedError

    def orders(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def apply_pending_orders(self) -> list[str]:
        raise NotImplementedError

    def adjustments(self) -> list[dict[str, Any]]:
        raise NotImplementedError


class WebhookReceiver:
    """A tiny local HTTP server that records every request it receives (for testing webhook senders).

    ``received`` holds :class:`ReceivedRequest` objects; ``status`` is what it answers (default 200);
    ``on_receive(received)``, if set, runs before the answer (e.g. to call the sandbox back the way an
    eager webhook handler would); ``wait_for(count, timeout)`` waits until at least ``count`` requests
    arrived and returns them.
    """

    def __init__(self, status: int = 200, on_receive: Callable[[ReceivedRequest], None] | None = None) -> None:
        self.status = status
        self.on_receive = on_receive
        self.received: list[ReceivedRequest] = []
        self._condition = threading.Condition()
        self._server = SandboxServer(self._app)
        self.url = ""

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        raw = request.get_data()
        data, _ = parse_json(raw)
        received = ReceivedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.args.items()),
            headers={key.lower(): value for key, value in request.headers.items()},
            body=raw,
            json=data,
        )
        if self.on_receive is not None:
            self.on_receive(received)
        with self._condition:
            self.received.append(received)
            self._condition.notify_all()
            status = self.status
        return json_response({"received": True}, status=status)(environ, start_response)

    def start(self) -> WebhookReceiver:
        self._server.start()
        self.url = self._server.url + "/hooks/"
        return self

    def stop(self) -> None:
        self._server.stop()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedRequest]:
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            return list(self.received)

    def clear(self) -> None:
        with self._condition:
            self.received = []

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclasses.dataclass
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any
