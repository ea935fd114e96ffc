"""An in-memory Amazon Selling Partner API (one seller, one marketplace) that speaks partner-apis.md
section C: Login with Amazon, Listings Items 2021-08-01, FBA Inventory v1, Feeds 2021-06-30 with
``JSON_LISTINGS_FEED``, Orders v0 with buyer orders placed through the control API, and a relay of
notifications the way an EventBridge API destination posts them.

One server plays every host: LWA (``POST /auth/o2/token``), the SP-API endpoint (``api_url``, the
sandbox's own URL: give it to python-amazon-sp-api as ``client.endpoint``) and the S3 bucket behind feed
documents (``/feed-documents/<id>``, presigned URLs).

Auth (C.1)
    ``POST /auth/o2/token``, form-encoded (query parameters are accepted too). ``grant_type=refresh_token``
    with ``client_id``, ``client_secret`` and ``refresh_token`` answers ``{"access_token": "Atza|...",
    "refresh_token", "token_type": "bearer", "expires_in": token_lifetime}`` (3600 s on the sandbox clock).
    Errors: a grant type other than refresh_token / client_credentials is 400 ``unsupported_grant_type``; a
    wrong client id or secret 401 ``invalid_client``; a wrong or revoked refresh token 400 ``invalid_grant``;
    a missing parameter 400 ``invalid_request`` (all ``{"error", "error_description"}``).
    ``grant_type=client_credentials`` with a ``scope`` answers a grantless token, which the operations
    here refuse. SP-API calls need ``x-amz-access-token``: missing, unknown, revoked, grantless or expired
    is 403 ``{"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
    "details": ""}]}`` (``details`` says "The access token you provided has expired." or "... is revoked,
    malformed or invalid." when a token was sent). Nothing else is checked: the Host header (the library
    sends ``27.0.0.1:port`` for ``http://127.0.0.1:port``), ``user-agent``, ``x-amz-date``, AWS SigV4
    ``Authorization`` / ``x-amz-security-token`` and unknown query parameters (``MarketplaceId``,
    ``MarketplaceIds``, ``marketplace_ids``) are ignored. A ``sellerId`` in a path other than ``seller_id``
    is 403 Unauthorized.

Errors and rate limits (C.2)
    Every error is the ``errors`` envelope. 400 ``InvalidInput`` for bad parameters and bodies: a body that
    breaks its contract (``connectors/sandbox/contracts/amazon``, after the official Listings Items, FBA
    Inventory and Feeds models) answers ``message`` "Request has missing or invalid parameters and cannot be
    parsed." and the schema error in ``details``. 404 ``NOT_FOUND`` / ``NotFound``, 405
    ``MethodNotAllowed``, 429 ``QuotaExceeded`` ("You exceeded your quota for the requested resource."), 5xx
    ``InternalFailure`` / ``ServiceUnavailable``. Each operation has its own token bucket with the usage
    plan of the models (``USAGE_PLANS``: getListingsItem 5/s burst 10, patchListingsItem 5/5,
    getInventorySummaries 2/2, feeds as the upstream Feeds model says, getOrders 0.0167/20, getOrder and
    getOrderItems 0.5/30, ...); an empty bucket answers 429.
    Every answer carries ``x-amzn-RequestId``; answers of rate-limited operations carry
    ``x-amzn-RateLimit-Limit`` (the rate, e.g. ``5.0``), 429 included, 403 excluded (as the models list the
    headers). The buckets refill on ``time.monotonic()`` plus whatever ``advance_clock`` added;
    ``freeze_rate_clock`` makes them refill only by ``advance_clock`` (deterministic tests).
    ``enforce_rate_limits`` off: no 429s; ``set_rate_limit(operation, rate, burst)`` changes a plan.

Listings Items 2021-08-01 (C.3)
    ``GET /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=ATVPDKIKX0DER[&includedData=...]``
    (``marketplaceIds`` required; ``includedData`` default ``summaries``; ``summaries``, ``attributes``,
    ``issues``, ``offers``, ``fulfillmentAvailability``, ``procurement``, ``relationships``,
    ``productTypes``); 404 ``NOT_FOUND`` "SKU '...' not found in marketplace ATVPDKIKX0DER" when absent. A
    listing's MFN quantity is its ``attributes.fulfillment_availability`` entry with
    ``fulfillment_channel_code: "DEFAULT"`` (``fulfillmentAvailability``: ``fulfillmentChannelCode``,
    camelCase); FBA listings have an ``AMAZON_NA`` entry and show the FBA fulfillable quantity.
    ``PATCH`` (body ``ListingsItemPatchRequest``, checked against the model: 400 naming the schema error)
    validates the patches (paths must be ``/attributes/<name>``; ``fulfillment_availability`` entries need a
    ``fulfillment_channel_code`` and, for ``add``/``replace`` of ``DEFAULT``, an integer ``quantity`` >= 0)
    and answers 200 ``{"sku", "status": "ACCEPTED", "submissionId", "issues": []}`` and applies them, or
    200 ``status: "INVALID"`` with ERROR issues (code ``4000001``) and changes nothing (as SP-API does for
    bad attribute values). ``replace``/``add`` set the attribute, ``merge`` merges entries by
    ``fulfillment_channel_code`` (keeping ``restock_date``, ``lead_time_to_ship_max_days``), ``delete``
    removes it. ``mode=VALIDATION_PREVIEW`` answers ``VALID`` and applies nothing (``includedData=identifiers``
    adds the ASIN). With ``apply_patches_immediately`` off, accepted submissions wait for
    ``apply_pending_orders()`` (SP-API applies them asynchronously). A ``productType`` other than the
    listing's is INVALID (code ``4000004``), in a PATCH as in a feed message. A DEFAULT quantity merged or
    added onto an offer fulfilled by Amazon only (AMAZON_NA, no DEFAULT) **converts** it to merchant
    fulfilment, as Amazon documents for seller quantities sent for FBA inventory ("Clarification on how
    to use the Inventory feed type Quantity attribute": the shipment method changes to seller-fulfilled
    and the FBA units are stranded): its AMAZON_NA entry goes, the FBA inventory stays but no longer
    sells, and the listing carries a ``STRANDED_INVENTORY`` warning. The sandbox converts rather than
    refuses because refusing would hide the damage a connector that sends DEFAULT to an FBA offer does on
    Amazon; tests assert that offers stay AMAZON_NA. (A ``replace`` naming both DEFAULT and AMAZON_NA
    keeps both: Amazon's multiple-fulfilment listings.) A PATCH (or DELETE) of an unknown SKU
    follows ``unknown_sku``: ``"not_found"`` (default) 404 ``NOT_FOUND``; ``"invalid"`` 200 INVALID with a
    ``NOT_FOUND`` issue; ``"accepted"`` accepts it and creates an incomplete listing (no ASIN, no status),
    which is what live SP-API was reported to do. ``PUT`` (``ListingsItemPutRequest``) creates or replaces a
    listing; ``DELETE`` removes one; ``GET /listings/2021-08-01/items/{sellerId}`` (searchListingsItems:
    ``identifiers`` + ``identifiersType=SKU``, ``createdAfter/Before``, ``lastUpdatedAfter/Before``,
    ``withStatus``, ``withoutStatus``, ``sortBy`` sku|createdDate|lastUpdatedDate (default),
    ``sortOrder`` ASC|DESC (default), ``pageSize`` <= 20 (default 10), ``pageToken``; at most 1000 items
    pageable) answers ``{numberOfResults, pagination: {nextToken, previousToken}, items}``.

FBA Inventory v1 (C.4)
    ``GET /fba/inventory/v1/summaries?granularityType=Marketplace&granularityId=ATVPDKIKX0DER&marketplaceIds=
    ATVPDKIKX0DER[&details=true][&startDateTime=][&sellerSkus=a,b][&sellerSku=][&nextToken=]`` answers
    ``{"payload": {"granularity", "inventorySummaries": [...]}, "pagination": {"nextToken"}}`` in pages of
    ``fba_page_size`` (50) ordered by SKU; ``inventoryDetails`` only with ``details=true``; totalQuantity =
    fulfillable + inbound + reserved + unfulfillable + researching. ``startDateTime``: summaries updated at
    or after it (sellerSkus/sellerSku are then ignored; earlier than 18 months is 400); ``sellerSkus``
    (at most 50) beats ``sellerSku``. A ``nextToken`` carries the first request's filters and **expires
    ``next_token_ttl`` (30) seconds after it was issued** on the sandbox clock: 400 ``InvalidInput`` "Next
    token is invalid or expired". The model's sandbox-only operations work too: ``POST /fba/inventory/v1/
    items`` (create an FBA SKU), ``POST /fba/inventory/v1/items/inventory`` (add fulfillable quantity;
    ``x-amzn-idempotency-token`` required), ``DELETE /fba/inventory/v1/items/{sellerSku}``.

Feeds 2021-06-30 (JSON_LISTINGS_FEED only)
    ``POST /feeds/2021-06-30/documents`` ``{"contentType"}`` answers 201 ``{"feedDocumentId", "url"}``: a
    presigned URL of this server (``X-Amz-Signature``, valid 5 minutes) that takes a ``PUT`` of the document
    (S3-style XML 403 for a bad signature or an expired URL). ``POST /feeds/2021-06-30/feeds``
    ``{"feedType": "JSON_LISTINGS_FEED", "marketplaceIds", "inputFeedDocumentId"}`` answers 202
    ``{"feedId"}`` (another feed type or an unknown document: 400). ``GET /feeds/2021-06-30/feeds/{feedId}``
    answers the Feed; its ``processingStatus`` goes IN_QUEUE -> IN_PROGRESS -> DONE following
    ``feed_advance``: ``"poll"`` (default: the n-th getFeed answers IN_QUEUE for n <= p, IN_PROGRESS for
    n <= 2p, DONE after, p = ``feed_polls_per_step``, 1), ``"clock"`` (``feed_step_seconds`` per step on the
    sandbox clock) or ``"manual"`` (only ``process_feed(id)``). The feed is processed when it becomes DONE:
    each valid message is applied and ``resultFeedDocumentId`` names the processing report, read through
    ``GET /feeds/2021-06-30/documents/{id}`` -> ``{"feedDocumentId", "url"}`` (``compressionAlgorithm:
    GZIP`` when ``gzip_reports``) and a GET of the url: ``{"header": {"sellerId", "version": "2.0",
    "feedId"}, "issues": [{"messageId", "sku", "code", "severity", "message", "attributeName"?}],
    "summary": {"errors", "warnings", "messagesProcessed", "messagesAccepted", "messagesInvalid"}}`` (plus
    ``items`` and ``itemSummary`` when the feed header asks for ``report.includedData``). The document must
    be ``{"header": {"sellerId", "version": "2.0", "issueLocale"?}, "messages": [{"messageId", "sku",
    "operationType": "PATCH"|"PARTIAL_UPDATE"|"UPDATE"|"DELETE", "productType", "patches"|"attributes"}]}``
    as ``listings-feed-schema-v2`` describes. Per message: a schema error (code ``4000003``), a duplicate
    messageId (``4000002``), an unknown SKU for PATCH/PARTIAL_UPDATE/DELETE (``NOT_FOUND``, unless
    ``unknown_sku`` is ``"accepted"``) or an invalid patch value (``4000001``) is an ERROR issue for that
    message, which is not applied; the others are. A document that was never uploaded, is not JSON, breaks
    the document schema or names another seller makes the feed FATAL (with a report). ``GET
    /feeds/2021-06-30/feeds`` (feedTypes, processingStatuses, marketplaceIds, createdSince (default 90 days
    ago), createdUntil (default now), pageSize, nextToken) and ``DELETE .../feeds/{feedId}`` (IN_QUEUE only)
    exist too.

Orders v0 (C.6b)
    ``GET /orders/v0/orders`` (getOrders): ``MarketplaceIds`` required (at most 50); exactly one of
    ``CreatedAfter`` (with optional ``CreatedBefore``) and ``LastUpdatedAfter`` (with optional
    ``LastUpdatedBefore``), a ``...Before`` at or after its ``...After`` and at least two minutes before
    now (else 400 InvalidInput); ``OrderStatuses`` and ``FulfillmentChannels`` filter (unknown values 400);
    ``MaxResultsPerPage`` 1..100 (default 100); ``NextToken`` carries the first request's filters. The
    answer is ``{"payload": {"Orders": [...], "NextToken"?, "LastUpdatedBefore" | "CreatedBefore"}}``,
    oldest change (or purchase) first; the ``...Before`` it names is the bound the answer is complete up
    to (the given one, else the sandbox's now when the first page was asked for). ``GET
    /orders/v0/orders/{orderId}`` (getOrder) answers ``{"payload": Order}``; ``GET
    /orders/v0/orders/{orderId}/orderItems`` (getOrderItems) ``{"payload": {"AmazonOrderId", "OrderItems",
    "NextToken"?}}`` in pages of ``order_items_page_size`` (100); an unknown order is 404 ``NotFound``. As
    on Amazon, a Pending order's items carry no ``ItemPrice``/``ItemTax`` and the order no ``OrderTotal``.
    Order ids are 3-7-7 (``113-0000001-4817263``), order item ids 14 digits.

Buyer orders (control API)
    ``place_order(sku, quantity, fulfillment_channel="MFN", status="Pending")`` (``POST /_sandbox/orders``;
    ``items=[{"sku", "quantity"}]`` for several lines) is a buyer's checkout: an MFN order needs a DEFAULT
    offer with enough quantity and lowers it at once (a Pending order is not charged yet, but its units are
    taken: C.6b); an AFN order needs FBA fulfillable units and moves them to ``pendingCustomerOrder``. It
    publishes ``ORDER_CHANGE`` (OrderLevel, the order's status and items) and the quantity notification of
    each SKU (``LISTINGS_ITEM_MFN_QUANTITY_CHANGE`` for MFN, ``FBA_INVENTORY_AVAILABILITY_CHANGES`` for
    AFN), ORDER_CHANGE first unless ``quantity_notification_first``. ``set_order_status(id, status)``
    (``POST /_sandbox/orders/<id>/status``) moves it on (Pending -> Unshipped -> PartiallyShipped ->
    Shipped; an AFN order's shipped units leave ``pendingCustomerOrder``); ``ship_order(id)`` (``POST
    /_sandbox/orders/<id>/ship``) ships all of it; ``cancel_order(id)`` (``POST
    /_sandbox/orders/<id>/cancel``, before anything shipped) gives the units back as Amazon does (the MFN
    quantity rises again, AFN units return to fulfillable) and notifies the same way;
    ``resend_order_change(id)`` (``POST /_sandbox/orders/<id>/notify``) publishes its ORDER_CHANGE again
    (a new NotificationId). ``GET /_sandbox/orders`` lists them as getOrder shows them, with ``_items``.

Notifications (C.5), relayed the way an EventBridge API destination posts
    ``configure_webhook(url, api_key_name="x-api-key", api_key_value=relay_api_key, headers=None,
    events=both, format="notification")``: each notification is POSTed as JSON with the API-key header (and
    ``User-Agent: Amazon/EventBridge/ApiDestinations``). The body is the SP-API notification
    ``{"NotificationVersion": "1.0", "NotificationType", "PayloadVersion": "1.0", "EventTime", "Payload",
    "NotificationMetadata": {"ApplicationId", "SubscriptionId", "PublishTime", "NotificationId"}}``, or with
    ``format="eventbridge"`` the EventBridge event carrying it under ``detail``. Types:
    ``LISTINGS_ITEM_MFN_QUANTITY_CHANGE`` (``{SellerId, FulfillmentChannelCode: "DEFAULT", Sku, Quantity}``),
    ``FBA_INVENTORY_AVAILABILITY_CHANGES`` (``{SellerId, FNSKU, ASIN, SKU,
    FulfillmentInventoryByMarketplace: [...]}``) and ``ORDER_CHANGE`` (``{OrderChangeNotification:
    {NotificationLevel, SellerId, AmazonOrderId, OrderChangeType, OrderChangeTrigger, Summary}}``); real
    Amazon delivers the FBA and order types to SQS only, so the relay plays an SQS-to-HTTP forwarder for
    them. Hand edits "in Seller Central" (``set_mfn_quantity``,
    ``set_fba_quantity``, ``POST /_sandbox/stock``) send synchronously when the quantity changed and
    ``notify_on_manual_changes`` is on; API changes (PATCH, PUT, feeds, addInventory) send after the
    response when ``webhooks_for_api_changes`` is on (default: Amazon notifies every MFN quantity change).
    ``send_notification(type, sku)`` sends one now. Every notification published is kept
    (``notifications()``), deliveries in ``webhook_deliveries``.

Sandbox-only control endpoints (besides those in :mod:`connectors.sandbox.base`, where ``/_sandbox/stock``
takes the location ``DEFAULT`` (or ``MFN``) for the MFN quantity and ``AMAZON_NA`` (or ``FBA``) for the FBA
fulfillable quantity, and ``/_sandbox/seed`` takes ``{"listings": N, "fba": M, "seed"}``):
``GET|POST /_sandbox/listings`` (``?sku=`` for one; POST: ``add_listing``), ``POST /_sandbox/mfn``
(``{"sku", "quantity", "notify"}``), ``GET|POST /_sandbox/fba`` (POST: ``{"sku", "fulfillable", ...,
"notify"}``), ``GET /_sandbox/feeds``, ``POST /_sandbox/feeds/<id>/process``, ``GET /_sandbox/documents/<id>``,
``GET /_sandbox/submissions``, ``POST /_sandbox/submissions/apply``, ``GET /_sandbox/notifications``,
``GET|POST /_sandbox/orders`` and ``POST /_sandbox/orders/<id>/status|ship|cancel|notify`` (above),
``POST /_sandbox/notifications/send`` (``{"type", "sku"}``), ``POST /_sandbox/tokens/expire``, ``POST
/_sandbox/tokens/revoke`` (``{"refresh_token": true}`` revokes it too), ``GET|POST /_sandbox/rate-limits``
(``{"<operation>": {"rate", "burst"}}``). A slow Amazon: ``configure(slow_operation="createFeed",
slow_operation_ms=3000)`` answers that operation that much later, after it has done its work (a client that
times out has been served all the same).
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.sandbox.base import (
    BaseSandbox,
    ControlError,
    PartnerError,
    TokenBucket,
    WebhookDelivery,
    _Pending,
    as_number,
    deterministic_guid,
    generate_items,
    json_response,
    parse_json,
    truthy,
)

MARKETPLACE_ID = "ATVPDKIKX0DER"
MFN_CHANNEL = "DEFAULT"
FBA_CHANNEL = "AMAZON_NA"
MFN_EVENT = "LISTINGS_ITEM_MFN_QUANTITY_CHANGE"
FBA_EVENT = "FBA_INVENTORY_AVAILABILITY_CHANGES"
ORDER_EVENT = "ORDER_CHANGE"
#: Notifications about one SKU (``send_notification``).
NOTIFICATION_TYPES = (MFN_EVENT, FBA_EVENT)
#: Everything the relay can forward.
RELAYED_EVENTS = (*NOTIFICATION_TYPES, ORDER_EVENT)
ORDER_STATUSES = (
    "PendingAvailability",
    "Pending",
    "Unshipped",
    "PartiallyShipped",
    "Shipped",
    "InvoiceUnconfirmed",
    "Canceled",
    "Unfulfillable",
)
#: The order a buyer's order moves in (``set_order_status`` only moves forward).
ORDER_PROGRESS = ("PendingAvailability", "Pending", "Unshipped", "PartiallyShipped", "Shipped")
NOT_SHIPPED = ("PendingAvailability", "Pending", "Unshipped")
FULFILLMENT_CHANNELS = ("MFN", "AFN")
LISTINGS_FEED = "JSON_LISTINGS_FEED"
FEED_STATUSES = ("IN_QUEUE", "IN_PROGRESS", "DONE")

UNAUTHORIZED = "Access to requested resource is denied."
QUOTA_EXCEEDED = "You exceeded your quota for the requested resource."
INVALID_INPUT = "Request has missing or invalid parameters and cannot be parsed."
EXPIRED_TOKEN = "The access token you provided has expired."  # noqa: S105 - a message
INVALID_TOKEN = "The access token you provided is revoked, malformed or invalid."  # noqa: S105 - a message
NEXT_TOKEN_INVALID = "Next token is invalid or expired"  # noqa: S105 - a message

#: (rate per second, burst) of each operation: the usage plans in the models' descriptions
#: (partner-apis.md C.2; the Feeds values come from the upstream feeds_2021-06-30.json model).
USAGE_PLANS: dict[str, tuple[float, float]] = {
    "getListingsItem": (5.0, 10.0),
    "putListingsItem": (5.0, 10.0),
    "patchListingsItem": (5.0, 5.0),
    "deleteListingsItem": (5.0, 5.0),
    "searchListingsItems": (5.0, 5.0),
    "getInventorySummaries": (2.0, 2.0),
    "createFeedDocument": (0.0083, 15.0),
    "createFeed": (0.0083, 15.0),
    "getFeed": (2.0, 15.0),
    "getFeeds": (0.0222, 10.0),
    "cancelFeed": (0.0222, 10.0),
    "getFeedDocument": (0.0222, 10.0),
    "getOrders": (0.0167, 20.0),
    "getOrder": (0.5, 30.0),
    "getOrderItems": (0.5, 30.0),
}

GET_INCLUDED = (
    "summaries",
    "attributes",
    "issues",
    "offers",
    "fulfillmentAvailability",
    "procurement",
    "relationships",
    "productTypes",
)
PATCH_INCLUDED = ("identifiers", "issues")

#: FBA quantities ``set_fba_quantity`` takes (keyword = field of :class:`FbaItem`).
FBA_FIELDS = (
    "fulfillable",
    "inbound_working",
    "inbound_shipped",
    "inbound_receiving",
    "pending_customer_order",
    "pending_transshipment",
    "fc_processing",
    "customer_damaged",
    "warehouse_damaged",
    "distributor_damaged",
    "carrier_damaged",
    "defective",
    "expired",
    "researching",
)


def amazon_time(moment: datetime, milliseconds: bool = False) -> str:
    """``2025-01-01T00:00:00Z`` (``...00.000Z`` with ``milliseconds``), as SP-API writes times."""
    moment = moment.astimezone(UTC)
    if milliseconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_amazon_time(text: str) -> datetime:
    """ISO 8601 as SP-API takes it: ``Z`` or an offset (a ``+`` that arrived as a space is accepted),
    fractional seconds, or a bare date; no zone means UTC."""
    text = text.strip()
    if len(text) > 19 and text[-6] == " ":
        text = text[:-6] + "+" + text[-5:]
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_rate(rate: float) -> str:
    """The ``x-amzn-RateLimit-Limit`` value: ``5.0``, ``0.0083``."""
    return str(float(rate))


#: Presigned URLs of feed documents (S3 on Amazon) are served by the sandbox itself under this prefix.
_DOCUMENT_PREFIX = "/feed-documents/"


# --------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------


class UsagePlans:
    """One :class:`~connectors.sandbox.base.TokenBucket` per operation with that operation's usage plan
    (rate per second, burst). ``take(operation)`` is 0.0 when a token was taken (or the operation has no
    plan), else the seconds until one will be available."""

    def __init__(self, plans: Mapping[str, tuple[float, float]], clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.plans: dict[str, tuple[float, float]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        for operation, (rate, burst) in plans.items():
            self.set(operation, rate, burst)

    def set(self, operation: str, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ControlError("rate must be positive and burst at least 1")
        with self._lock:
            self.plans[operation] = (float(rate), float(burst))
            self._buckets[operation] = TokenBucket(float(rate) * 60.0, float(burst), clock=self._clock)

    def take(self, key: str, tokens: float = 1.0) -> float:
        with self._lock:
            bucket = self._buckets.get(key)
        return bucket.take(key, tokens) if bucket is not None else 0.0

    def reset(self) -> None:
        with self._lock:
            buckets = list(self._buckets.values())
        for bucket in buckets:
            bucket.reset()

    def limit(self, operation: str | None) -> str | None:
        plan = self.plans.get(operation or "")
        return format_rate(plan[0]) if plan else None

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {operation: {"rate": rate, "burst": burst} for operation, (rate, burst) in self.plans.items()}


@dataclasses.dataclass
class Listing:
    sku: str
    product_type: str
    item_name: str
    asin: str | None
    fn_sku: str | None
    status: list[str]
    attributes: dict[str, Any]
    created: datetime
    updated: datetime
    condition_type: str = "new_new"
    price: float | None = None
    issues: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def mfn_quantity(self) -> int | None:
        for entry in self.attributes.get("fulfillment_availability") or []:
            if isinstance(entry, dict) and entry.get("fulfillment_channel_code") == MFN_CHANNEL:
                quantity = entry.get("quantity")
                return quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else None
        return None

    @property
    def channels(self) -> list[str]:
        return [
            str(entry.get("fulfillment_channel_code"))
            for entry in self.attributes.get("fulfillment_availability") or []
            if isinstance(entry, dict) and entry.get("fulfillment_channel_code")
        ]


@dataclasses.dataclass
class FbaItem:
    sku: str
    asin: str
    fn_sku: str
    product_name: str
    updated: datetime
    condition: str = "NewItem"
    fulfillable: int = 0
    inbound_working: int = 0
    inbound_shipped: int = 0
    inbound_receiving: int = 0
    pending_customer_order: int = 0
    pending_transshipment: int = 0
    fc_processing: int = 0
    customer_damaged: int = 0
    warehouse_damaged: int = 0
    distributor_damaged: int = 0
    carrier_damaged: int = 0
    defective: int = 0
    expired: int = 0
    researching: int = 0
    stores: list[str] = dataclasses.field(default_factory=list)

    @property
    def reserved(self) -> int:
        return self.pending_customer_order + self.pending_transshipment + self.fc_processing

    @property
    def unfulfillable(self) -> int:
        return (
            self.customer_damaged
            + self.warehouse_damaged
            + self.distributor_damaged
            + self.carrier_damaged
            + self.defective
            + self.expired
        )

    @property
    def inbound(self) -> int:
        return self.inbound_working + self.inbound_shipped + self.inbound_receiving

    @property
    def total(self) -> int:
        return self.fulfillable + self.inbound + self.reserved + self.unfulfillable + self.researching


@dataclasses.dataclass
class OrderLine:
    item_id: str
    sku: str
    asin: str
    title: str
    quantity: int
    unit_price: float
    shipped: int = 0


@dataclasses.dataclass
class Order:
    order_id: str
    fulfillment_channel: str
    status: str
    purchased: datetime
    updated: datetime
    lines: list[OrderLine]

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def shipped(self) -> int:
        return sum(line.shipped for line in self.lines)


class AmazonError(PartnerError):
    """An SP-API error, answered as ``{"errors": [{"code", "message", "details"}]}``; ``code`` defaults to
    the usual one for the status (400 InvalidInput, 403 Unauthorized, 404 NotFound, ...)."""

    def __init__(self, status: int, message: str, details: str = "", code: str | None = None) -> None:
        # base hands error_response() only (status, message, code): details ride after a newline
        super().__init__(status, f"{message}\n{details}" if details else message)
        self.code = code  # type: ignore[assignment]


def _issue(code: str, message: str, attribute: str | None = None, category: str = "INVALID_ATTRIBUTE") -> dict:
    return {
        "code": code,
        "message": message,
        "severity": "ERROR",
        "attributeNames": [attribute] if attribute else [],
        "categories": [category] if category else [],
    }


class AmazonSandbox(BaseSandbox):
    """Amazon SP-API in memory for one seller in one marketplace. Known values are attributes:
    ``seller_id``, ``marketplace_id`` (ATVPDKIKX0DER), LWA ``client_id``, ``client_secret``,
    ``refresh_token``, ``application_id`` (in notifications' metadata), ``relay_api_key`` (the relay's
    default API key); ``url``, ``api_url`` (the SP-API endpoint, the same), ``lwa_url``
    (``url + "/auth/o2/token"``) and ``lwa_host`` (``127.0.0.1:<port>``) once started."""

    partner = "amazon"
    MALFORMED_BODY = (
        '{"payload":{"granularity":{"granularityType":"Marketplace","granularityId":"ATVPDKIKX0DER"},'
        '"inventorySummaries":[{"asin":"B0'
    )
    CONFIG: ClassVar[dict[str, type]] = {
        "validate_requests": bool,
        "webhooks_for_api_changes": bool,
        "notify_on_manual_changes": bool,
        "enforce_rate_limits": bool,
        "freeze_rate_clock": bool,
        "token_lifetime": int,
        "next_token_ttl": float,
        "fba_page_size": int,
        "feed_advance": str,
        "feed_polls_per_step": int,
        "feed_step_seconds": float,
        "apply_patches_immediately": bool,
        "unknown_sku": str,
        "gzip_reports": bool,
        "order_items_page_size": int,
        "slow_operation": str,
        "slow_operation_ms": int,
    }

    def __init__(
        self,
        *,
        seller_id: str = "A2SPSTOCKPOOL7Q",
        marketplace_id: str = MARKETPLACE_ID,
        client_id: str = "amzn1.application-oa2-client.5f0c3e9b2a7d4c18b6e1f4a9d2c7b305",
        client_secret: str = "amzn1.oa2-cs.v1.stockpoolsandbox0123456789abcdef0123456789abcdef01234567",  # noqa: S107
        refresh_token: str = "Atzr|IwEBIStockpoolSandboxRefreshToken-0001",  # noqa: S107
        application_id: str = "amzn1.sellerapps.app.7c2d9e14-5b3a-4f60-8e1d-2a9c6b4f3e01",
        relay_api_key: str = "stockpool-sandbox-relay-key-0001",
        token_lifetime: int = 3600,
        next_token_ttl: float = 30.0,
        fba_page_size: int = 50,
        feed_advance: str = "poll",
        feed_polls_per_step: int = 1,
        feed_step_seconds: float = 30.0,
        enforce_rate_limits: bool = True,
        freeze_rate_clock: bool = False,
        apply_patches_immediately: bool = True,
        unknown_sku: str = "not_found",
        gzip_reports: bool = False,
        notify_on_manual_changes: bool = True,
        webhooks_for_api_changes: bool = True,
        validate_requests: bool = True,
        seed: int = 0,
    ) -> None:
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.application_id = application_id
        self.relay_api_key = relay_api_key
        self.token_lifetime = token_lifetime
        self.next_token_ttl = float(next_token_ttl)
        self.fba_page_size = fba_page_size
        self.feed_polls_per_step = feed_polls_per_step
        self.feed_step_seconds = float(feed_step_seconds)
        self.enforce_rate_limits = enforce_rate_limits
        self.freeze_rate_clock = freeze_rate_clock
        self.apply_patches_immediately = apply_patches_immediately
        self.gzip_reports = gzip_reports
        self.notify_on_manual_changes = notify_on_manual_changes
        self.order_items_page_size = 100
        self.slow_operation = ""
        self.slow_operation_ms = 0
        self.webhook: dict[str, Any] | None = None
        self._check_choice("feed_advance", feed_advance)
        self._check_choice("unknown_sku", unknown_sku)
        self.feed_advance = feed_advance
        self.unknown_sku = unknown_sku
        self._local = threading.local()
        super().__init__(validate_requests=validate_requests, seed=seed)
        self.webhooks_for_api_changes = webhooks_for_api_changes
        self.rate_limiter = UsagePlans(USAGE_PLANS, self._rate_clock)  # type: ignore[assignment]
        self._api_map = Map(self._api_rules(), strict_slashes=False, merge_slashes=True)

    # -- state ---------------------------------------------------------------------------------------

    _CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "feed_advance": ("poll", "clock", "manual"),
        "unknown_sku": ("not_found", "invalid", "accepted"),
    }

    def _check_choice(self, name: str, value: Any) -> None:
        if value not in self._CHOICES[name]:
            raise ControlError(f"{name} must be one of {', '.join(self._CHOICES[name])}")

    def _rate_clock(self) -> float:
        return (0.0 if self.freeze_rate_clock else time.monotonic()) + self._clock_offset

    def reset_state(self) -> None:
        self._counters: dict[str, int] = {}
        self.listings_by_sku: dict[str, Listing] = {}
        self.fba: dict[str, FbaItem] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self._revoked_refresh_tokens: set[str] = set()
        self._next_tokens: dict[str, dict[str, Any]] = {}
        self._page_tokens: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self._signatures: dict[str, tuple[str, datetime]] = {}
        self.feeds_by_id: dict[str, dict[str, Any]] = {}
        self.submissions: list[dict[str, Any]] = []
        self._pending_submissions: list[dict[str, Any]] = []
        self.published: list[dict[str, Any]] = []
        self._idempotency: set[str] = set()
        self.webhook = None
        self._seeded = 0
        self.orders_by_id: dict[str, Order] = {}
        self._order_tokens: dict[str, dict[str, Any]] = {}

    def _count(self, kind: str) -> int:
        self._counters[kind] = self._counters.get(kind, 0) + 1
        return self._counters[kind]

    def _guid(self, kind: str) -> str:
        return deterministic_guid("amazon", kind, self.base_seed, self._count(kind))

    def _hex(self, kind: str) -> str:
        return self._guid(kind).replace("-", "")

    def _code(self, prefix: str, sku: str, length: int) -> str:
        digest = hashlib.sha256(f"amazon:{prefix}:{self.base_seed}:{sku}".encode()).hexdigest().upper()
        return prefix + digest[: length - len(prefix)]

    def _listing(self, sku: str) -> Listing:
        listing = self.listings_by_sku.get(sku)
        if listing is None:
            raise ControlError(f"unknown listing {sku!r}")
        return listing

    def _fba_item(self, sku: str) -> FbaItem:
        item = self.fba.get(sku)
        if item is None:
            raise ControlError(f"unknown FBA SKU {sku!r}")
        return item

    @property
    def api_url(self) -> str:
        return self.url

    @property
    def lwa_url(self) -> str:
        return f"{self.url}/auth/o2/token" if self.url else ""

    @property
    def lwa_host(self) -> str:
        return self.url.split("://", 1)[1] if self.url else ""

    # -- Python control methods ---------------------------------------------------------------------

    def issue_access_token(self) -> str:
        """An LWA access token minted without the token call."""
        with self.lock:
            return self._mint_token(scope=None)

    def _mint_token(self, scope: str | None) -> str:
        token = f"Atza|IwEB{self._hex('access-token')}"
        self.access_tokens[token] = {"expires": self.now() + timedelta(seconds=self.token_lifetime), "scope": scope}
        return token

    def expire_tokens(self) -> int:
        """Every access token expires now; returns how many there were."""
        with self.lock:
            moment = self.now()
            for token in self.access_tokens.values():
                token["expires"] = moment
            return len(self.access_tokens)

    def revoke_tokens(self, refresh_token: bool = False) -> None:
        """Forget every access token; with ``refresh_token``, the refresh token stops working too."""
        with self.lock:
            self.access_tokens.clear()
            if refresh_token:
                self._revoked_refresh_tokens.add(self.refresh_token)

    def seed(
        self,
        listings: int | None = None,
        fba: int = 0,
        seed: int | None = None,
        *,
        items: int | None = None,
        locations: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Add ``listings`` generated MFN listings (default 20; ``items`` is an alias) with a DEFAULT
        quantity, then ``fba`` generated FBA SKUs (a listing with an AMAZON_NA entry and FBA inventory with
        fulfillable, inbound, reserved and unfulfillable quantities). Deterministic for a given seed and
        call sequence. ``locations`` is accepted for the base API's sake and ignored. Returns
        ``[{"sku", "channel", "quantity"}]``."""
        del locations
        mfn_count = listings if listings is not None else (items if items is not None else 20)
        if mfn_count < 0 or fba < 0:
            raise ControlError("listings and fba must not be negative")
        with self.lock:
            generated = generate_items(
                mfn_count + fba,
                ["qty"],
                seed=self.base_seed if seed is None else seed,
                start_index=self._seeded + 1,
            )
            self._seeded += mfn_count + fba
            epoch = datetime(2025, 1, 1, tzinfo=UTC)
            created = []
            for position, entry in enumerate(generated):
                moment = epoch + timedelta(minutes=entry.index)
                quantity = entry.stock["qty"]
                if position < mfn_count:
                    self._create_listing(
                        entry.sku, entry.name, quantity=quantity, price=entry.rate, moment=moment, fba=False
                    )
                    created.append({"sku": entry.sku, "channel": MFN_CHANNEL, "quantity": quantity})
                else:
                    self._create_listing(
                        entry.sku, entry.name, quantity=None, price=entry.rate, moment=moment, fba=True
                    )
                    item = self.fba[entry.sku]
                    item.fulfillable = quantity
                    item.inbound_shipped = entry.index % 3 * 4
                    item.pending_customer_order = entry.index % 4
                    item.defective = 1 if entry.index % 5 == 0 else 0
                    created.append({"sku": entry.sku, "channel": FBA_CHANNEL, "quantity": quantity})
            return created

    def _create_listing(
        self,
        sku: str,
        name: str,
        *,
        quantity: int | None,
        price: float | None,
        moment: datetime,
        fba: bool,
        product_type: str = "PRODUCT",
        status: Sequence[str] = ("BUYABLE", "DISCOVERABLE"),
        asin: str | None = None,
        condition_type: str = "new_new",
        issues: Sequence[dict[str, Any]] = (),
    ) -> Listing:
        asin = asin or self._code("B0", sku, 10)
        availability: list[dict[str, Any]] = []
        if fba:
            availability.append({"fulfillment_channel_code": FBA_CHANNEL})
        else:
            availability.append({"fulfillment_channel_code": MFN_CHANNEL, "quantity": int(quantity or 0)})
        attributes: dict[str, Any] = {
            "item_name": [{"value": name, "language_tag": "en_US", "marketplace_id": self.marketplace_id}],
            "condition_type": [{"value": condition_type, "marketplace_id": self.marketplace_id}],
            "fulfillment_availability": availability,
        }
        if price is not None:
            attributes["purchasable_offer"] = [
                {
                    "currency": "USD",
                    "audience": "ALL",
                    "marketplace_id": self.marketplace_id,
                    "our_price": [{"schedule": [{"value_with_tax": round(float(price), 2)}]}],
                }
            ]
        fn_sku = self._code("X00", sku, 10) if fba else None
        listing = Listing(
            sku=sku,
            product_type=product_type,
            item_name=name,
            asin=asin,
            fn_sku=fn_sku,
            status=list(status),
            attributes=attributes,
            created=moment,
            updated=moment,
            condition_type=condition_type,
            price=price,
            issues=[dict(issue) for issue in issues],
        )
        self.listings_by_sku[sku] = listing
        if fba:
            self.fba[sku] = FbaItem(sku=sku, asin=asin, fn_sku=fn_sku or "", product_name=name, updated=moment)
        return listing

    def add_listing(
        self,
        sku: str,
        quantity: int = 0,
        *,
        name: str | None = None,
        product_type: str = "PRODUCT",
        status: Sequence[str] = ("BUYABLE", "DISCOVERABLE"),
        price: float | None = 10.0,
        asin: str | None = None,
        condition_type: str = "new_new",
        fba: bool = False,
        fulfillable: int | None = None,
        issues: Sequence[dict[str, Any]] = (),
        **fba_quantities: int,
    ) -> dict[str, Any]:
        """Create one listing: MFN with a DEFAULT ``quantity``, or with ``fba`` an FBA SKU whose inventory
        starts at ``fulfillable`` (default ``quantity``) and the other ``FBA_FIELDS`` given. Returns it as
        :meth:`listing` does."""
        unknown = set(fba_quantities) - set(FBA_FIELDS)
        if unknown:
            raise ControlError(f"unknown listing fields: {', '.join(sorted(unknown))}")
        if not sku:
            raise ControlError("sku is required")
        with self.lock:
            if sku in self.listings_by_sku:
                raise ControlError(f"SKU {sku!r} exists")
            self._create_listing(
                sku,
                name or sku,
                quantity=self._quantity_arg(quantity, "quantity"),
                price=None if price is None else float(price),
                moment=self.now(),
                fba=bool(fba),
                product_type=product_type,
                status=[status] if isinstance(status, str) else status,
                asin=asin,
                condition_type=condition_type,
                issues=issues,
            )
            if fba:
                item = self.fba[sku]
                item.fulfillable = self._quantity_arg(quantity if fulfillable is None else fulfillable, "fulfillable")
                for field, value in fba_quantities.items():
                    setattr(item, field, self._quantity_arg(value, field))
            return self._listing_dict(self.listings_by_sku[sku])

    def add_item(
        self,
        sku: str,
        name: str | None = None,
        stock: Mapping[str, float] | None = None,
        price: float | None = None,
        rate: float | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The base API's item: ``stock`` maps ``DEFAULT`` (or ``MFN``) to the MFN quantity and
        ``AMAZON_NA`` (or ``FBA``) to FBA fulfillable (which makes it an FBA SKU). Other catalogue fields
        the other sandboxes take (category, brand, cost, ...) are ignored."""
        for ignored in ("category", "brand", "cost", "purchase_rate", "reorder_level", "status"):
            extra.pop(ignored, None)
        if extra:
            raise ControlError(f"unknown item fields: {', '.join(sorted(extra))}")
        channels = {self._channel(location): value for location, value in (stock or {}).items()}
        fba = FBA_CHANNEL in channels
        quantity = channels.get(FBA_CHANNEL if fba else MFN_CHANNEL, 0)
        offer = price if price is not None else rate
        return self.add_listing(sku, int(quantity), name=name, price=10.0 if offer is None else offer, fba=fba)

    @staticmethod
    def _channel(location: str) -> str:
        key = str(location).strip().upper()
        if key in {"DEFAULT", "MFN"}:
            return MFN_CHANNEL
        if key in {"AMAZON_NA", "FBA", "AFN"}:
            return FBA_CHANNEL
        raise ControlError(f"unknown location {location!r}: use DEFAULT (MFN) or AMAZON_NA (FBA)")

    @staticmethod
    def _quantity_arg(value: Any, name: str) -> int:
        number = as_number(value)
        if number is None or number < 0 or number != int(number):
            raise ControlError(f"{name} must be a whole number >= 0")
        return int(number)

    def listing(self, sku: str) -> dict[str, Any]:
        with self.lock:
            return self._listing_dict(self._listing(sku))

    def listings(self) -> list[dict[str, Any]]:
        """Every listing: ``{sku, productType, quantity (MFN DEFAULT quantity or None), status, asin,
        fnSku, itemName, channels, fulfillable (FBA or None), attributes, issues, createdDate,
        lastUpdatedDate}``, ordered by SKU."""
        with self.lock:
            return [self._listing_dict(self.listings_by_sku[sku]) for sku in sorted(self.listings_by_sku)]

    def _listing_dict(self, listing: Listing) -> dict[str, Any]:
        fba = self.fba.get(listing.sku)
        return {
            "sku": listing.sku,
            "productType": listing.product_type,
            "quantity": listing.mfn_quantity,
            "status": list(listing.status),
            "asin": listing.asin,
            "fnSku": listing.fn_sku,
            "itemName": listing.item_name,
            "channels": listing.channels,
            "fulfillable": fba.fulfillable if fba else None,
            "attributes": copy.deepcopy(listing.attributes),
            "issues": copy.deepcopy(listing.issues),
            "createdDate": amazon_time(listing.created),
            "lastUpdatedDate": amazon_time(listing.updated),
        }

    def fba_inventory(self) -> list[dict[str, Any]]:
        """Every FBA SKU as ``getInventorySummaries`` shows it with ``details=true``, ordered by SKU."""
        with self.lock:
            return [self._summary(self.fba[sku], details=True) for sku in sorted(self.fba)]

    def mfn_quantity(self, sku: str) -> int | None:
        with self.lock:
            return self._listing(sku).mfn_quantity

    def fba_quantity(self, sku: str) -> int:
        with self.lock:
            return self._fba_item(sku).fulfillable

    def set_mfn_quantity(self, sku: str, quantity: int, *, notify: bool = True) -> dict[str, Any]:
        """The seller edits the MFN quantity in Seller Central: the DEFAULT entry becomes ``quantity``
        (restock date and handling time kept); when it changed, ``LISTINGS_ITEM_MFN_QUANTITY_CHANGE`` is sent
        (if ``notify`` and ``notify_on_manual_changes``). Returns the listing with ``deliveries``."""
        quantity = self._quantity_arg(quantity, "quantity")
        with self.lock:
            listing = self._listing(sku)
            before = listing.mfn_quantity
            self._merge_availability(listing, [{"fulfillment_channel_code": MFN_CHANNEL, "quantity": quantity}])
            listing.updated = self.now()
            changed = before != quantity
            notification = (
                self._notification(MFN_EVENT, sku) if changed and notify and self.notify_on_manual_changes else None
            )
            result = self._listing_dict(listing)
        result["deliveries"] = [d.to_dict() for d in self._send(MFN_EVENT, notification)]
        return result

    def set_fba_quantity(
        self, sku: str, fulfillable: int | None = None, *, notify: bool = True, **quantities: int
    ) -> dict[str, Any]:
        """Amazon's fulfilment network changes an FBA SKU (a customer order, a receipt, a damaged unit):
        ``fulfillable`` and any of ``FBA_FIELDS`` are set, lastUpdatedTime moves, and when something
        changed ``FBA_INVENTORY_AVAILABILITY_CHANGES`` is sent (if ``notify`` and
        ``notify_on_manual_changes``). Returns the summary (``details=true`` shape) with ``deliveries``."""
        unknown = set(quantities) - set(FBA_FIELDS)
        if unknown:
            raise ControlError(f"unknown FBA fields: {', '.join(sorted(unknown))}")
        if fulfillable is not None:
            quantities["fulfillable"] = fulfillable
        values = {field: self._quantity_arg(value, field) for field, value in quantities.items()}
        with self.lock:
            item = self._fba_item(sku)
            changed = any(getattr(item, field) != value for field, value in values.items())
            for field, value in values.items():
                setattr(item, field, value)
            if changed:
                item.updated = self.now()
            notification = (
                self._notification(FBA_EVENT, sku) if changed and notify and self.notify_on_manual_changes else None
            )
            result = self._summary(item, details=True)
        result["deliveries"] = [d.to_dict() for d in self._send(FBA_EVENT, notification)]
        return result

    # the base API's stock vocabulary: a "location" is the fulfilment channel

    def stock(self, sku: str, location: str) -> int:
        """The MFN quantity (location ``DEFAULT``; None counts as 0) or FBA fulfillable (``AMAZON_NA``)."""
        if self._channel(location) == FBA_CHANNEL:
            return self.fba_quantity(sku)
        return self.mfn_quantity(sku) or 0

    def stock_by_location(self, sku: str) -> dict[str, Any]:
        with self.lock:
            listing = self._listing(sku)
            result: dict[str, Any] = {}
            if listing.mfn_quantity is not None:
                result[MFN_CHANNEL] = listing.mfn_quantity
            if sku in self.fba:
                result[FBA_CHANNEL] = self.fba[sku].fulfillable
            return result

    def set_stock(self, sku: str, location: str, on_hand: float, *, notify: bool = True) -> dict[str, Any]:
        if self._channel(location) == FBA_CHANNEL:
            return self.set_fba_quantity(sku, self._quantity_arg(on_hand, "on_hand"), notify=notify)
        return self.set_mfn_quantity(sku, self._quantity_arg(on_hand, "on_hand"), notify=notify)

    def adjust_stock(self, sku: str, location: str, delta: float, *, notify: bool = True) -> dict[str, Any]:
        change = as_number(delta)
        if change is None or change != int(change):
            raise ControlError("delta must be a whole number")
        current = self.stock(sku, location)
        return self.set_stock(sku, location, max(0, current + int(change)), notify=notify)

    # notifications

    def configure_webhook(
        self,
        url: str,
        api_key_name: str | None = "x-api-key",
        api_key_value: str | None = None,
        headers: Mapping[str, str] | None = None,
        events: Sequence[str] | None = None,
        format: str = "notification",
        **extra: Any,
    ) -> dict[str, Any]:
        """Relay notifications to ``url`` the way an EventBridge API destination with API-key
        authorization posts them: header ``api_key_name: api_key_value`` (default ``relay_api_key``) plus
        ``headers``; ``events`` (default all three types); ``format`` ``"notification"`` (the SP-API envelope)
        or ``"eventbridge"`` (the event, envelope under ``detail``)."""
        if extra:
            raise ControlError(f"unknown webhook settings: {', '.join(sorted(extra))}")
        if not url:
            raise ControlError("url is required")
        if format not in {"notification", "eventbridge"}:
            raise ControlError("format must be notification or eventbridge")
        chosen = list(RELAYED_EVENTS if events is None else ([events] if isinstance(events, str) else events))
        unknown = set(chosen) - set(RELAYED_EVENTS)
        if unknown:
            raise ControlError(f"unknown notification types: {', '.join(sorted(unknown))}")
        with self.lock:
            self.webhook = {
                "url": url,
                "api_key_name": api_key_name or None,
                "api_key_value": (api_key_value if api_key_value is not None else self.relay_api_key)
                if api_key_name
                else None,
                "headers": dict(headers or {}),
                "events": chosen,
                "format": format,
            }
            return dict(self.webhook)

    def clear_webhook(self) -> None:
        with self.lock:
            self.webhook = None

    def webhook_config(self) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self.webhook) if self.webhook else None

    def webhook_targets(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            webhook = self.webhook
            if not webhook or event not in webhook["events"]:
                return []
            headers = {"User-Agent": "Amazon/EventBridge/ApiDestinations", **webhook["headers"]}
            if webhook["api_key_name"]:
                headers[webhook["api_key_name"]] = webhook["api_key_value"] or ""
            return [{"url": webhook["url"], "headers": headers, "params": None, "auth": None}]

    def send_notification(self, notification_type: str, sku: str) -> list[WebhookDelivery]:
        """Publish one notification of ``notification_type`` for ``sku`` now (relayed if configured)."""
        if notification_type not in NOTIFICATION_TYPES:
            raise ControlError(f"notification type must be one of {', '.join(NOTIFICATION_TYPES)}")
        with self.lock:
            if notification_type == FBA_EVENT:
                self._fba_item(sku)
            else:
                self._listing(sku)
            notification = self._notification(notification_type, sku)
        return self._send(notification_type, notification)

    def send_stock_webhook(self, sku: str) -> list[WebhookDelivery]:
        """The notification for one SKU: FBA for an FBA SKU, MFN otherwise."""
        with self.lock:
            event = FBA_EVENT if sku in self.fba else MFN_EVENT
        return self.send_notification(event, sku)

    def notifications(self) -> list[dict[str, Any]]:
        """Every notification published (sent or not), oldest first."""
        with self.lock:
            return copy.deepcopy(self.published)

    def _send(self, event: str, notification: dict[str, Any] | None) -> list[WebhookDelivery]:
        if notification is None:
            return []
        return self._deliver_all([(event, notification)])

    def _queue_notification(self, pending: _Pending, event: str, sku: str) -> None:
        if self.webhooks_for_api_changes:
            self.queue_api_webhook(pending, event, self._notification(event, sku))

    def _notification(self, event: str, sku: str) -> dict[str, Any]:
        """The notification about one SKU as Amazon publishes it (see ``_envelope``)."""
        if event == MFN_EVENT:
            listing = self.listings_by_sku[sku]
            payload: dict[str, Any] = {
                "SellerId": self.seller_id,
                "FulfillmentChannelCode": MFN_CHANNEL,
                "Sku": sku,
                "Quantity": listing.mfn_quantity or 0,
            }
        else:
            item = self.fba[sku]
            payload = {
                "SellerId": self.seller_id,
                "FNSKU": item.fn_sku,
                "ASIN": item.asin,
                "SKU": sku,
                "FulfillmentInventoryByMarketplace": [
                    {
                        "MarketplaceId": self.marketplace_id,
                        "ItemName": item.product_name,
                        "FulfillmentInventory": {
                            "InboundQuantityBreakdown": {
                                "Working": item.inbound_working,
                                "Shipped": item.inbound_shipped,
                                "Receiving": item.inbound_receiving,
                            },
                            "Fulfillable": item.fulfillable,
                            "Unfulfillable": item.unfulfillable,
                            "Researching": item.researching,
                            "ReservedQuantityBreakdown": {
                                "WarehouseProcessing": item.fc_processing,
                                "WarehouseTransfer": item.pending_transshipment,
                                "PendingCustomerOrder": item.pending_customer_order,
                            },
                            "FutureSupplyBuyable": 0,
                            "PendingCustomerOrderInTransit": 0,
                        },
                        "Stores": list(item.stores),
                    }
                ],
            }
        return self._envelope(event, payload)

    def _envelope(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A notification's SP-API envelope (wrapped for EventBridge if so configured); logged."""
        now = self.now()
        envelope = {
            "NotificationVersion": "1.0",
            "NotificationType": event,
            "PayloadVersion": "1.0",
            "EventTime": amazon_time(now, milliseconds=True),
            "Payload": payload,
            "NotificationMetadata": {
                "ApplicationId": self.application_id,
                "SubscriptionId": deterministic_guid("amazon", "subscription", self.base_seed, event),
                "PublishTime": amazon_time(now, milliseconds=True),
                "NotificationId": self._guid("notification"),
            },
        }
        self.published.append(copy.deepcopy(envelope))
        if self.webhook and self.webhook["format"] == "eventbridge":
            return {
                "version": "0",
                "id": self._guid("event"),
                "detail-type": event,
                "source": f"aws.partner/sellingpartnerapi.amazon/{self.application_id}",
                "account": "123456789012",
                "time": amazon_time(now),
                "region": "us-east-1",
                "resources": [],
                "detail": envelope,
            }
        return envelope

    # buyer orders

    def place_order(
        self,
        sku: str | None = None,
        quantity: int = 1,
        fulfillment_channel: str = "MFN",
        status: str = "Pending",
        *,
        items: Sequence[Mapping[str, Any]] | None = None,
        notify: bool = True,
        quantity_notification_first: bool = False,
    ) -> dict[str, Any]:
        """A buyer orders ``quantity`` of ``sku`` (or ``items``: ``[{"sku", "quantity"}]``), fulfilled by the
        seller (MFN) or by Amazon (AFN): the units are taken from the offer at once and ``ORDER_CHANGE`` and
        the quantity notifications are published (see the module docstring). Returns the order (as
        :meth:`order`) with ``deliveries``."""
        if fulfillment_channel not in FULFILLMENT_CHANNELS:
            raise ControlError("fulfillment_channel must be MFN or AFN")
        if status not in NOT_SHIPPED:
            raise ControlError(f"a new order's status is one of {', '.join(NOT_SHIPPED)}")
        wanted = list(items) if items is not None else [{"sku": sku, "quantity": quantity}]
        if not wanted or any(not isinstance(entry, Mapping) or not entry.get("sku") for entry in wanted):
            raise ControlError("sku (or items with a sku each) is required")
        demand: dict[str, int] = {}
        for entry in wanted:
            units = self._quantity_arg(entry.get("quantity", 1), "quantity")
            if units < 1:
                raise ControlError("quantity must be at least 1")
            demand[str(entry["sku"])] = demand.get(str(entry["sku"]), 0) + units
        with self.lock:
            for item_sku, units in demand.items():
                on_offer = self._sellable(item_sku, fulfillment_channel)
                if units > on_offer:
                    raise ControlError(
                        f"{item_sku} has {on_offer} unit(s) for sale {fulfillment_channel}; "
                        f"a buyer cannot order {units}"
                    )
            now = self.now()
            order = Order(
                order_id=self._order_id(),
                fulfillment_channel=fulfillment_channel,
                status=status,
                purchased=now,
                updated=now,
                lines=[
                    OrderLine(
                        item_id=f"{self._count('order-item') * 7919 + 10_000_000_000_000 + self.base_seed % 997:014d}",
                        sku=item_sku,
                        asin=self.listings_by_sku[item_sku].asin or self._code("B0", item_sku, 10),
                        title=self.listings_by_sku[item_sku].item_name,
                        quantity=units,
                        unit_price=float(self.listings_by_sku[item_sku].price or 10.0),
                    )
                    for item_sku, units in demand.items()
                ],
            )
            self.orders_by_id[order.order_id] = order
            self._move_units(order, taken=True)
            notifications = self._order_notifications(order, "Order placed", notify, quantity_notification_first)
            result = self._order_dict(order, with_items=True)
        result["deliveries"] = [d.to_dict() for d in self._deliver_all(notifications)]
        return result

    def set_order_status(self, order_id: str, status: str, *, notify: bool = True) -> dict[str, Any]:
        """Move an order on: Pending -> Unshipped (payment authorized) -> PartiallyShipped (half its units
        shipped) -> Shipped (all of them); never back. Publishes ORDER_CHANGE (and, for AFN, the FBA
        notification of the units that left the fulfilment centre)."""
        if status not in ORDER_PROGRESS:
            raise ControlError(f"status must be one of {', '.join(ORDER_PROGRESS)} (cancel_order cancels)")
        with self.lock:
            order = self._order_or_error(order_id)
            if order.status not in ORDER_PROGRESS or ORDER_PROGRESS.index(status) <= ORDER_PROGRESS.index(order.status):
                raise ControlError(f"order {order_id} is {order.status}; it cannot become {status}")
            target = {"PartiallyShipped": max(1, order.units // 2), "Shipped": order.units}.get(status, 0)
            if status == "PartiallyShipped" and target >= order.units:
                raise ControlError(f"order {order_id} has one unit: it ships whole")
            shipping = max(0, target - order.shipped)
            for line in order.lines:
                more = min(shipping, line.quantity - line.shipped)
                line.shipped += more
                shipping -= more
                if order.fulfillment_channel == "AFN" and more:
                    item = self.fba[line.sku]
                    item.pending_customer_order = max(0, item.pending_customer_order - more)
                    item.updated = self.now()
            order.status = status
            order.updated = self.now()
            events: list[tuple[str, Any]] = []
            if notify:
                events.append((ORDER_EVENT, self._order_notification(order, f"Order {status}")))
                if order.fulfillment_channel == "AFN" and target:
                    events += [(FBA_EVENT, self._notification(FBA_EVENT, line.sku)) for line in order.lines]
            result = self._order_dict(order, with_items=True)
        result["deliveries"] = [d.to_dict() for d in self._deliver_all(events)]
        return result

    def ship_order(self, order_id: str, *, notify: bool = True) -> dict[str, Any]:
        """Ship all of an order (Shipped)."""
        return self.set_order_status(order_id, "Shipped", notify=notify)

    def cancel_order(self, order_id: str, *, notify: bool = True, quantity_notification_first: bool = False):
        """Cancel an order nothing of which has shipped: its units go back on offer as Amazon gives them back
        (the MFN quantity rises by them; AFN units return from pendingCustomerOrder to fulfillable)."""
        with self.lock:
            order = self._order_or_error(order_id)
            if order.status not in NOT_SHIPPED:
                raise ControlError(f"order {order_id} is {order.status}: only an order not yet shipped is cancelled")
            order.status = "Canceled"
            order.updated = self.now()
            self._move_units(order, taken=False)
            notifications = self._order_notifications(order, "Order canceled", notify, quantity_notification_first)
            result = self._order_dict(order, with_items=True)
        result["deliveries"] = [d.to_dict() for d in self._deliver_all(notifications)]
        return result

    def resend_order_change(self, order_id: str) -> list[WebhookDelivery]:
        """Publish the order's ORDER_CHANGE again, as it now is (a new NotificationId)."""
        with self.lock:
            notification = self._order_notification(self._order_or_error(order_id), "Order status resent")
        return self._deliver_all([(ORDER_EVENT, notification)])

    def _order_or_error(self, order_id: str) -> Order:
        order = self.orders_by_id.get(str(order_id))
        if order is None:
            raise ControlError(f"unknown order {order_id!r}")
        return order

    def _order_id(self) -> str:
        number = self._count("order")
        digest = hashlib.sha256(f"amazon:order:{self.base_seed}:{number}".encode()).hexdigest()
        return f"113-{number:07d}-{int(digest[:12], 16) % 10_000_000:07d}"

    def _sellable(self, sku: str, channel: str) -> int:
        """Units a buyer may order of ``sku`` through ``channel``: the DEFAULT quantity (MFN) or FBA's
        fulfillable units (AFN, only for an offer Amazon fulfils)."""
        listing = self.listings_by_sku.get(sku)
        if listing is None:
            raise ControlError(f"unknown listing {sku!r}")
        if channel == "MFN":
            return listing.mfn_quantity or 0
        if FBA_CHANNEL not in listing.channels or sku not in self.fba:
            return 0
        return self.fba[sku].fulfillable

    def _move_units(self, order: Order, *, taken: bool) -> None:
        """Take an order's units off the offer (``taken``) or give them back (a cancellation)."""
        sign = -1 if taken else 1
        for line in order.lines:
            if order.fulfillment_channel == "MFN":
                listing = self.listings_by_sku.get(line.sku)
                if listing is None or listing.mfn_quantity is None:
                    continue  # the offer is gone: nothing to give back to
                quantity = listing.mfn_quantity + sign * line.quantity
                self._merge_availability(listing, [{"fulfillment_channel_code": MFN_CHANNEL, "quantity": quantity}])
                listing.updated = self.now()
            elif line.sku in self.fba:
                item = self.fba[line.sku]
                item.fulfillable += sign * line.quantity
                item.pending_customer_order = max(0, item.pending_customer_order - sign * line.quantity)
                item.updated = self.now()

    def _order_notifications(
        self, order: Order, reason: str, notify: bool, quantity_first: bool
    ) -> list[tuple[str, Any]]:
        if not notify:
            return []
        quantity_event = MFN_EVENT if order.fulfillment_channel == "MFN" else FBA_EVENT
        quantities = [
            (quantity_event, self._notification(quantity_event, sku))
            for sku in dict.fromkeys(line.sku for line in order.lines)
            if sku in (self.listings_by_sku if quantity_event == MFN_EVENT else self.fba)
        ]
        change = [(ORDER_EVENT, self._order_notification(order, reason))]
        return quantities + change if quantity_first else change + quantities

    def _order_notification(self, order: Order, reason: str) -> dict[str, Any]:
        """ORDER_CHANGE as Amazon publishes it (OrderLevel: the whole order's status and items)."""
        summary = {
            "MarketplaceId": self.marketplace_id,
            "OrderStatus": order.status,
            "PurchaseDate": amazon_time(order.purchased, milliseconds=True),
            "DestinationPostalCode": "98109",
            "FulfillmentType": order.fulfillment_channel,
            "OrderType": "StandardOrder",
            "NumberOfItemsShipped": order.shipped,
            "NumberOfItemsUnshipped": order.units - order.shipped,
            "OrderItems": [
                {
                    "OrderItemId": line.item_id,
                    "SellerSKU": line.sku,
                    "SupplySourceId": None,
                    "OrderItemStatus": "Shipped" if line.shipped >= line.quantity else "Unshipped",
                    "Quantity": line.quantity,
                    "QuantityShipped": line.shipped,
                }
                for line in order.lines
            ],
        }
        payload = {
            "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": self.seller_id,
                "AmazonOrderId": order.order_id,
                "OrderChangeType": "OrderStatusChange",
                "OrderChangeTrigger": {
                    "TimeOfOrderChange": amazon_time(order.updated, milliseconds=True),
                    "ChangeReason": reason,
                },
                "Summary": summary,
            }
        }
        return self._envelope(ORDER_EVENT, payload)

    def _order_dict(self, order: Order, *, with_items: bool = False) -> dict[str, Any]:
        """An order as getOrder answers it (``_items``: its items as getOrderItems answers them)."""
        result: dict[str, Any] = {
            "AmazonOrderId": order.order_id,
            "PurchaseDate": amazon_time(order.purchased),
            "LastUpdateDate": amazon_time(order.updated),
            "OrderStatus": order.status,
            "FulfillmentChannel": order.fulfillment_channel,
            "SalesChannel": "Amazon.com",
            "ShipServiceLevel": "Std US D2D Dom",
            "NumberOfItemsShipped": order.shipped,
            "NumberOfItemsUnshipped": order.units - order.shipped,
            "PaymentMethod": "Other",
            "MarketplaceId": self.marketplace_id,
            "ShipmentServiceLevelCategory": "Standard",
            "OrderType": "StandardOrder",
            "EarliestShipDate": amazon_time(order.purchased + timedelta(days=1)),
            "LatestShipDate": amazon_time(order.purchased + timedelta(days=3)),
            "IsBusinessOrder": False,
            "IsPrime": False,
            "IsPremiumOrder": False,
            "IsGlobalExpressEnabled": False,
            "IsReplacementOrder": False,
            "IsSoldByAB": False,
            "IsISPU": False,
        }
        if order.status not in ("Pending", "PendingAvailability"):
            total = sum(line.unit_price * line.quantity for line in order.lines)
            result["OrderTotal"] = {"CurrencyCode": "USD", "Amount": f"{total:.2f}"}
        if with_items:
            result["_items"] = [self._order_item_dict(order, line) for line in order.lines]
        return result

    @staticmethod
    def _order_item_dict(order: Order, line: OrderLine) -> dict[str, Any]:
        item: dict[str, Any] = {
            "ASIN": line.asin,
            "SellerSKU": line.sku,
            "OrderItemId": line.item_id,
            "Title": line.title,
            "QuantityOrdered": line.quantity,
            "QuantityShipped": line.shipped,
            "ConditionId": "New",
            "ConditionSubtypeId": "New",
            "IsGift": "false",
            "IsTransparency": False,
            "SerialNumberRequired": False,
        }
        if order.status not in ("Pending", "PendingAvailability"):  # Amazon prices an order once it is paid for
            item["ItemPrice"] = {"CurrencyCode": "USD", "Amount": f"{line.unit_price * line.quantity:.2f}"}
            item["ItemTax"] = {"CurrencyCode": "USD", "Amount": "0.00"}
        return item

    # submissions, feeds, documents

    def submissions_log(self) -> list[dict[str, Any]]:
        """Every listings submission (PATCH, PUT, DELETE and feed messages): ``{submissionId, sku, source,
        status, issues, applied, at}``."""
        with self.lock:
            return copy.deepcopy(self.submissions)

    def apply_pending_orders(self) -> list[str]:
        """Apply the accepted PATCH/PUT submissions held back by ``apply_patches_immediately`` off (and
        send their notifications); returns their submissionIds."""
        pending = _Pending()
        with self.lock:
            waiting, self._pending_submissions = self._pending_submissions, []
            for submission in waiting:
                submission["apply"](pending)
                submission["record"]["applied"] = True
            applied = [submission["record"]["submissionId"] for submission in waiting]
        self._deliver_all(pending.webhooks)
        return applied

    apply_pending_submissions = apply_pending_orders

    def orders(self) -> list[dict[str, Any]]:
        """Every buyer order as getOrder shows it, with ``_items`` (getOrderItems' items), oldest first."""
        with self.lock:
            return [self._order_dict(order, with_items=True) for order in self.orders_by_id.values()]

    def order(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            return self._order_dict(self._order_or_error(order_id), with_items=True)

    def adjustments(self) -> list[dict[str, Any]]:
        """The listings submissions (what the API changed), as :meth:`submissions_log`."""
        return self.submissions_log()

    def feeds(self) -> list[dict[str, Any]]:
        """Every feed as getFeed shows it (advanced by the clock first, in ``clock`` mode), with
        ``_sandbox: {inputFeedDocumentId, polls, report}``."""
        pending = _Pending()
        with self.lock:
            for feed in self.feeds_by_id.values():
                self._advance_by_clock(feed, pending)
            result = [self._feed_dict(feed, internal=True) for feed in self.feeds_by_id.values()]
        self._deliver_all(pending.webhooks)
        return result

    def feed(self, feed_id: str) -> dict[str, Any]:
        with self.lock:
            return self._feed_dict(self._feed_or_error(feed_id), internal=True)

    def process_feed(self, feed_id: str) -> dict[str, Any]:
        """Finish a feed now (IN_QUEUE or IN_PROGRESS -> DONE or FATAL), whatever ``feed_advance`` says."""
        pending = _Pending()
        with self.lock:
            feed = self._feed_or_error(feed_id)
            if feed["processingStatus"] in {"IN_QUEUE", "IN_PROGRESS"}:
                self._set_feed_status(feed, "DONE", pending)
            result = self._feed_dict(feed, internal=True)
        self._deliver_all(pending.webhooks)
        return result

    def _feed_or_error(self, feed_id: str) -> dict[str, Any]:
        feed = self.feeds_by_id.get(str(feed_id))
        if feed is None:
            raise ControlError(f"unknown feed {feed_id!r}")
        return feed

    def document(self, document_id: str) -> dict[str, Any]:
        """A feed document: ``{feedDocumentId, contentType, kind (input|result), uploaded, content}``
        (content decoded as text; a report as parsed JSON)."""
        with self.lock:
            document = self.documents.get(document_id)
            if document is None:
                raise ControlError(f"unknown document {document_id!r}")
            raw = document["content"]
            if raw is not None and document.get("compressed"):
                raw = gzip.decompress(raw)
            text = raw.decode("utf-8", "replace") if raw is not None else None
            content: Any = text
            if document["kind"] == "result" and text is not None:
                content = json.loads(text)
            return {
                "feedDocumentId": document_id,
                "contentType": document["contentType"],
                "kind": document["kind"],
                "uploaded": document["content"] is not None,
                "content": content,
            }

    # rate limits

    def set_rate_limit(self, operation: str, rate: float | None = None, burst: float | None = None) -> dict:
        """Change one operation's usage plan (rate per second, burst); returns every plan."""
        plans = self.rate_limiter.plans  # type: ignore[attr-defined]
        if operation not in plans:
            raise ControlError(f"unknown operation {operation!r}")
        current_rate, current_burst = plans[operation]
        self.rate_limiter.set(  # type: ignore[attr-defined]
            operation,
            float(current_rate if rate is None else rate),
            float(current_burst if burst is None else burst),
        )
        return self.rate_limits()

    def rate_limits(self) -> dict[str, dict[str, float]]:
        return self.rate_limiter.to_dict()  # type: ignore[attr-defined]

    # -- configuration and state ----------------------------------------------------------------------

    def _apply_setting(self, name: str, value: Any) -> None:
        if name in self._CHOICES:
            self._check_choice(name, value)
        numeric = {"token_lifetime", "fba_page_size", "next_token_ttl", "feed_step_seconds", "feed_polls_per_step"}
        if name in numeric and value is None:
            raise ControlError(f"{name} needs a value")
        if name in {"token_lifetime", "fba_page_size"} and value is not None and value < 1:
            raise ControlError(f"{name} must be at least 1")
        if name in {"next_token_ttl", "feed_step_seconds", "feed_polls_per_step"} and value is not None and value < 0:
            raise ControlError(f"{name} must not be negative")
        super()._apply_setting(name, value)
        if name == "freeze_rate_clock":
            self.rate_limiter.reset()

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "partner": self.partner,
                "url": self.url,
                "api_url": self.api_url,
                "lwa_url": self.lwa_url,
                "seller_id": self.seller_id,
                "marketplace_id": self.marketplace_id,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
                "application_id": self.application_id,
                "relay_api_key": self.relay_api_key,
                "locations": [
                    {"Name": MFN_CHANNEL, "location_name": MFN_CHANNEL, "fulfillment": "MFN"},
                    {"Name": FBA_CHANNEL, "location_name": FBA_CHANNEL, "fulfillment": "FBA"},
                ],
                "counts": {
                    "listings": len(self.listings_by_sku),
                    "items": len(self.listings_by_sku),
                    "fba": len(self.fba),
                    "feeds": len(self.feeds_by_id),
                    "documents": len(self.documents),
                    "submissions": len(self.submissions),
                    "pending_submissions": len(self._pending_submissions),
                    "notifications": len(self.published),
                    "orders": len(self.orders_by_id),
                    "access_tokens": len(self.access_tokens),
                    "requests": len(self.request_log),
                    "webhook_deliveries": len(self.webhook_deliveries),
                },
                "now": amazon_time(self.now(), milliseconds=True),
                "config": self.config(),
                "faults": self.faults.to_dict(),
                "webhook": self.webhook_config(),
                "rate_limits": self.rate_limits(),
            }

    # -- contract checks ----------------------------------------------------------------------------------

    def notification_violations(self, envelope: Any) -> list[str]:
        """Every way a notification (the SP-API envelope, or an EventBridge event carrying it in ``detail``)
        breaks the contract of its type."""
        if isinstance(envelope, dict) and "detail" in envelope and "NotificationType" not in envelope:
            envelope = envelope["detail"]
        if not isinstance(envelope, dict):
            return ["the notification is not an object"]
        kind = envelope.get("NotificationType")
        if not isinstance(kind, str) or kind not in self.contract.documents:
            return [f"no contract for notification type {kind!r}"]
        return self.contract.document_violations(kind, envelope)

    # -- control API extras ---------------------------------------------------------------------------

    def _control_rules(self) -> list[Rule]:
        return [
            *super()._control_rules(),
            Rule("/_sandbox/listings", endpoint="listings", methods=["GET", "POST"]),
            Rule("/_sandbox/mfn", endpoint="mfn", methods=["POST"]),
            Rule("/_sandbox/fba", endpoint="fba", methods=["GET", "POST"]),
            Rule("/_sandbox/feeds", endpoint="feeds", methods=["GET"]),
            Rule("/_sandbox/feeds/<feed_id>/process", endpoint="process_feed", methods=["POST"]),
            Rule("/_sandbox/documents/<document_id>", endpoint="document", methods=["GET"]),
            Rule("/_sandbox/submissions", endpoint="submissions", methods=["GET"]),
            Rule("/_sandbox/submissions/apply", endpoint="apply_orders", methods=["POST"]),
            Rule("/_sandbox/notifications", endpoint="notifications", methods=["GET"]),
            Rule("/_sandbox/notifications/send", endpoint="send_notification", methods=["POST"]),
            Rule("/_sandbox/tokens/expire", endpoint="expire_tokens", methods=["POST"]),
            Rule("/_sandbox/tokens/revoke", endpoint="revoke_tokens", methods=["POST"]),
            Rule("/_sandbox/rate-limits", endpoint="rate_limits", methods=["GET", "POST"]),
            Rule("/_sandbox/orders", endpoint="place_order", methods=["POST"]),
            Rule("/_sandbox/orders/<order_id>/status", endpoint="order_status", methods=["POST"]),
            Rule("/_sandbox/orders/<order_id>/ship", endpoint="ship_order", methods=["POST"]),
            Rule("/_sandbox/orders/<order_id>/cancel", endpoint="cancel_order", methods=["POST"]),
            Rule("/_sandbox/orders/<order_id>/notify", endpoint="notify_order", methods=["POST"]),
        ]

    def _control_seed(self, request: Request, body: dict) -> dict:
        count = body.get("listings", body.get("items"))
        created = self.seed(
            listings=None if count is None else int(count), fba=int(body.get("fba", 0)), seed=body.get("seed")
        )
        return {"created": len(created), "listings": created[:1000]}

    def _control_listings(self, request: Request, body: dict) -> dict:
        if request.method == "POST":
            return self.add_listing(**body)
        sku = request.args.get("sku")
        if sku:
            return self.listing(sku)
        return {"listings": self.listings()}

    def _control_mfn(self, request: Request, body: dict) -> dict:
        if not body.get("sku") or "quantity" not in body:
            raise ControlError("sku and quantity are required")
        return self.set_mfn_quantity(body["sku"], body["quantity"], notify=truthy(body.get("notify", True)))

    def _control_fba(self, request: Request, body: dict) -> dict:
        if request.method == "GET":
            return {"inventory": self.fba_inventory()}
        fields = dict(body)
        sku = fields.pop("sku", None)
        if not sku:
            raise ControlError("sku is required")
        notify = truthy(fields.pop("notify", True))
        return self.set_fba_quantity(sku, notify=notify, **fields)

    def _control_feeds(self, request: Request, body: dict) -> dict:
        return {"feeds": self.feeds()}

    def _control_process_feed(self, request: Request, body: dict, feed_id: str) -> dict:
        return {"feed": self.process_feed(feed_id)}

    def _control_document(self, request: Request, body: dict, document_id: str) -> dict:
        return self.document(document_id)

    def _control_submissions(self, request: Request, body: dict) -> dict:
        return {"submissions": self.submissions_log()}

    def _control_notifications(self, request: Request, body: dict) -> dict:
        return {"notifications": self.notifications()}

    def _control_send_notification(self, request: Request, body: dict) -> dict:
        sku = body.get("sku")
        if not sku:
            raise ControlError("sku is required")
        notification_type = body.get("type") or body.get("notification_type")
        if notification_type:
            deliveries = self.send_notification(notification_type, sku)
        else:
            deliveries = self.send_stock_webhook(sku)
        return {"deliveries": [d.to_dict() for d in deliveries]}

    def _control_expire_tokens(self, request: Request, body: dict) -> dict:
        return {"expired": self.expire_tokens()}

    def _control_revoke_tokens(self, request: Request, body: dict) -> dict:
        self.revoke_tokens(refresh_token=truthy(body.get("refresh_token", False)))
        return {"revoked": True}

    def _control_rate_limits(self, request: Request, body: dict) -> dict:
        if request.method == "POST":
            for operation, plan in body.items():
                if not isinstance(plan, dict):
                    raise ControlError(f"{operation}: give {{'rate': r, 'burst': b}}")
                self.set_rate_limit(operation, plan.get("rate"), plan.get("burst"))
        return {"rate_limits": self.rate_limits()}

    def _control_place_order(self, request: Request, body: dict) -> dict:
        order = self.place_order(**body)
        return {"order": order, "deliveries": order.pop("deliveries")}

    def _control_order_status(self, request: Request, body: dict, order_id: str) -> dict:
        if not body.get("status"):
            raise ControlError("status is required")
        order = self.set_order_status(order_id, body["status"], notify=truthy(body.get("notify", True)))
        return {"order": order, "deliveries": order.pop("deliveries")}

    def _control_ship_order(self, request: Request, body: dict, order_id: str) -> dict:
        order = self.ship_order(order_id, notify=truthy(body.get("notify", True)))
        return {"order": order, "deliveries": order.pop("deliveries")}

    def _control_cancel_order(self, request: Request, body: dict, order_id: str) -> dict:
        order = self.cancel_order(
            order_id,
            notify=truthy(body.get("notify", True)),
            quantity_notification_first=truthy(body.get("quantity_notification_first", False)),
        )
        return {"order": order, "deliveries": order.pop("deliveries")}

    def _control_notify_order(self, request: Request, body: dict, order_id: str) -> dict:
        return {"deliveries": [d.to_dict() for d in self.resend_order_change(order_id)]}

    # -- partner API plumbing -------------------------------------------------------------------------

    def _api_rules(self) -> list[Rule]:
        item = "/listings/2021-08-01/items/<seller_id>/<path:sku>"
        return [
            Rule("/auth/o2/token", endpoint="lwaToken", methods=["POST"]),
            Rule("/listings/2021-08-01/items/<seller_id>", endpoint="searchListingsItems", methods=["GET"]),
            Rule(item, endpoint="getListingsItem", methods=["GET"]),
            Rule(item, endpoint="putListingsItem", methods=["PUT"]),
            Rule(item, endpoint="patchListingsItem", methods=["PATCH"]),
            Rule(item, endpoint="deleteListingsItem", methods=["DELETE"]),
            Rule("/fba/inventory/v1/summaries", endpoint="getInventorySummaries", methods=["GET"]),
            Rule("/fba/inventory/v1/items", endpoint="createInventoryItem", methods=["POST"]),
            Rule("/fba/inventory/v1/items/inventory", endpoint="addInventory", methods=["POST"]),
            Rule("/fba/inventory/v1/items/<path:seller_sku>", endpoint="deleteInventoryItem", methods=["DELETE"]),
            Rule("/feeds/2021-06-30/documents", endpoint="createFeedDocument", methods=["POST"]),
            Rule("/feeds/2021-06-30/documents/<document_id>", endpoint="getFeedDocument", methods=["GET"]),
            Rule("/feeds/2021-06-30/feeds", endpoint="getFeeds", methods=["GET"]),
            Rule("/feeds/2021-06-30/feeds", endpoint="createFeed", methods=["POST"]),
            Rule("/feeds/2021-06-30/feeds/<feed_id>", endpoint="getFeed", methods=["GET"]),
            Rule("/feeds/2021-06-30/feeds/<feed_id>", endpoint="cancelFeed", methods=["DELETE"]),
            Rule(_DOCUMENT_PREFIX + "<document_id>", endpoint="uploadDocument", methods=["PUT"]),
            Rule(_DOCUMENT_PREFIX + "<document_id>", endpoint="downloadDocument", methods=["GET"]),
            Rule("/orders/v0/orders", endpoint="getOrders", methods=["GET"]),
            Rule("/orders/v0/orders/<order_id>", endpoint="getOrder", methods=["GET"]),
            Rule("/orders/v0/orders/<order_id>/orderItems", endpoint="getOrderItems", methods=["GET"]),
        ]

    _HANDLERS: ClassVar[dict[str, str]] = {
        "lwaToken": "_lwa_token",
        "searchListingsItems": "_search_listings",
        "getListingsItem": "_get_listing",
        "putListingsItem": "_put_listing",
        "patchListingsItem": "_patch_listing",
        "deleteListingsItem": "_delete_listing",
        "getInventorySummaries": "_inventory_summaries",
        "createInventoryItem": "_create_inventory_item",
        "addInventory": "_add_inventory",
        "deleteInventoryItem": "_delete_inventory_item",
        "createFeedDocument": "_create_feed_document",
        "getFeedDocument": "_get_feed_document",
        "getFeeds": "_get_feeds",
        "createFeed": "_create_feed",
        "getFeed": "_get_feed",
        "cancelFeed": "_cancel_feed",
        "uploadDocument": "_upload_document",
        "downloadDocument": "_download_document",
        "getOrders": "_get_orders",
        "getOrder": "_get_order",
        "getOrderItems": "_get_order_items",
    }
    _UNAUTHENTICATED: ClassVar[set[str]] = {"lwaToken", "uploadDocument", "downloadDocument"}

    def _match(self, request: Request) -> tuple[str, dict[str, Any]] | None:
        cached = request.environ.get("stockpool.amazon.match")
        if cached is not None:
            return cached or None
        try:
            endpoint, args = self._api_map.bind_to_environ(request.environ).match()
            found: Any = (endpoint, args)
        except MethodNotAllowed:
            found = ("", {"_status": 405})
        except HTTPException:
            found = ("", {"_status": 404})
        request.environ["stockpool.amazon.match"] = found
        return found

    def rate_key(self, request: Request) -> str | None:
        if not self.enforce_rate_limits:
            return None
        endpoint, _ = self._match(request) or ("", {})
        return endpoint if endpoint in self.rate_limiter.plans else None  # type: ignore[attr-defined]

    def _handle_partner_request(self, request: Request, environ: dict) -> Response:
        endpoint, _ = self._match(request) or ("", {})
        self._local.operation = endpoint
        try:
            response = super()._handle_partner_request(request, environ)
        finally:
            self._local.operation = None
        if endpoint and endpoint == self.slow_operation and self.slow_operation_ms > 0:
            time.sleep(self.slow_operation_ms / 1000)  # done already; only the answer is late
        if endpoint in {"uploadDocument", "downloadDocument"}:
            response.headers["x-amz-request-id"] = self._request_id()[:16].upper()
            return response
        response.headers["x-amzn-RequestId"] = self._request_id()
        limit = self.rate_limiter.limit(endpoint)  # type: ignore[attr-defined]
        if limit and response.status_code != 403:
            response.headers["x-amzn-RateLimit-Limit"] = limit
        return response

    def _request_id(self) -> str:
        with self.lock:
            return self._guid("request")

    def parse_body(self, request: Request) -> tuple[Any, str | None]:
        if request.mimetype == "application/x-www-form-urlencoded":
            return None, None
        return parse_json(request.get_data(cache=True))

    @staticmethod
    def _error_message(response: Response) -> str | None:
        data, _ = parse_json(response.get_data())
        if isinstance(data, dict):
            errors = data.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                message = str(errors[0].get("message") or errors[0].get("code") or "")
                details = errors[0].get("details")
                return f"{message} ({details})" if details else message
            if data.get("error"):
                return f"{data['error']}: {data.get('error_description', '')}".rstrip(": ")
        return None

    @staticmethod
    def errors(status: int, code: str, message: str, details: str = "") -> Response:
        return json_response({"errors": [{"code": code, "message": message, "details": details}]}, status=status)

    _STATUS_CODES: ClassVar[dict[int, str]] = {
        400: "InvalidInput",
        403: "Unauthorized",
        404: "NotFound",
        405: "MethodNotAllowed",
        413: "RequestTooLarge",
        415: "UnsupportedMediaType",
        429: "QuotaExceeded",
        500: "InternalFailure",
        503: "ServiceUnavailable",
    }

    def error_response(self, status: int, message: str, code: int | str | None = None) -> Response:
        text, _, details = message.partition("\n")  # see AmazonError
        return self.errors(status, str(code or self._STATUS_CODES.get(status, "InternalFailure")), text, details)

    def throttle_response(self) -> Response:
        return self.errors(429, "QuotaExceeded", QUOTA_EXCEEDED)

    def server_error_response(self, status: int) -> Response:
        if status == 503:
            return self.errors(503, "ServiceUnavailable", "Service is temporarily unavailable. Please try again.")
        return self.errors(status, "InternalFailure", "We encountered an internal error. Please try again.")

    def handle(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        endpoint, args = self._match(request) or ("", {})
        if not endpoint:
            if args.get("_status") == 405:
                raise AmazonError(405, f"Method {request.method} is not allowed for {request.path}")
            raise AmazonError(404, f"Resource {request.path} not found")
        if endpoint not in self._UNAUTHENTICATED:
            self._authenticate(request)
        handler = getattr(self, self._HANDLERS[endpoint])
        with self.lock:
            return handler(request, body, body_error, pending, **args)

    # -- helpers --------------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        token = request.headers.get("x-amz-access-token", "").strip()
        if not token:
            raise AmazonError(403, UNAUTHORIZED)
        with self.lock:
            entry = self.access_tokens.get(token)
            if entry is None or entry["scope"]:
                raise AmazonError(403, UNAUTHORIZED, INVALID_TOKEN)
            if entry["expires"] <= self.now():
                raise AmazonError(403, UNAUTHORIZED, EXPIRED_TOKEN)

    @staticmethod
    def _invalid(message: str, details: str = "") -> AmazonError:
        return AmazonError(400, message, details)

    @staticmethod
    def _list_param(request: Request, name: str) -> list[str]:
        values = []
        for raw in request.args.getlist(name):
            values.extend(part.strip() for part in raw.split(",") if part.strip())
        return values

    def _marketplaces(self, request: Request, max_items: int | None = None) -> list[str]:
        marketplaces = self._list_param(request, "marketplaceIds")
        if not marketplaces:
            raise self._invalid("Missing required parameter: marketplaceIds")
        if max_items is not None and len(marketplaces) > max_items:
            raise self._invalid(f"marketplaceIds takes at most {max_items} value(s)")
        unknown = [m for m in marketplaces if m != self.marketplace_id]
        if unknown:
            raise self._invalid(f"Invalid marketplaceIds: {', '.join(unknown)}")
        return marketplaces

    def _check_seller(self, seller_id: str) -> None:
        if seller_id != self.seller_id:
            raise AmazonError(403, UNAUTHORIZED, f"The seller {seller_id} is not authorized for this application.")

    def _included(self, request: Request, allowed: Sequence[str], default: Sequence[str]) -> list[str]:
        included = self._list_param(request, "includedData") or list(default)
        unknown = [value for value in included if value not in allowed]
        if unknown:
            raise self._invalid(f"Invalid includedData: {', '.join(unknown)}", f"Allowed: {', '.join(allowed)}")
        return included

    def _json_body(self, request: Request, body: Any, body_error: str | None) -> dict[str, Any]:
        if body_error or not isinstance(body, dict):
            raise self._invalid(INVALID_INPUT, body_error or "The request body must be a JSON object")
        violation = self.spec_violation(request, body)
        if violation:
            raise self._invalid(INVALID_INPUT, violation)
        return body

    def _time_param(self, request: Request, name: str) -> datetime | None:
        text = request.args.get(name)
        if not text:
            return None
        try:
            return parse_amazon_time(text)
        except ValueError:
            raise self._invalid(f"Query parameter [{name}] value is not a valid ISO date-time object") from None

    def _record_submission(self, sku: str, source: str, status: str, issues: list[dict], applied: bool) -> dict:
        record = {
            "submissionId": self._hex("submission"),
            "sku": sku,
            "source": source,
            "status": status,
            "issues": copy.deepcopy(issues),
            "applied": applied,
            "at": amazon_time(self.now(), milliseconds=True),
        }
        self.submissions.append(record)
        return record

    # -- LWA ------------------------------------------------------------------------------------------

    def _lwa_token(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        params = dict(request.args.items())
        if request.mimetype == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(request.get_data(cache=True).decode("utf-8", "replace"))
            params.update({key: values[0] for key, values in form.items()})

        def lwa_error(status: int, error: str, description: str) -> Response:
            return json_response({"error_description": description, "error": error}, status=status)

        grant_type = params.get("grant_type", "")
        if not grant_type:
            return lwa_error(400, "invalid_request", "The request is missing a required parameter : grant_type")
        if grant_type not in {"refresh_token", "client_credentials"}:
            return lwa_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server",
            )
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            return lwa_error(401, "invalid_client", "Client authentication failed")
        if grant_type == "client_credentials":
            scope = params.get("scope", "")
            if not scope:
                return lwa_error(400, "invalid_request", "The request is missing a required parameter : scope")
            token = self._mint_token(scope=scope)
            return json_response(
                {"access_token": token, "scope": scope, "token_type": "bearer", "expires_in": self.token_lifetime}
            )
        refresh_token = params.get("refresh_token", "")
        if not refresh_token:
            return lwa_error(400, "invalid_request", "The request is missing a required parameter : refresh_token")
        if refresh_token != self.refresh_token or refresh_token in self._revoked_refresh_tokens:
            return lwa_error(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token = self._mint_token(scope=None)
        return json_response(
            {
                "access_token": token,
                "refresh_token": self.refresh_token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
            }
        )

    # -- Listings Items -------------------------------------------------------------------------------

    def _item_payload(self, listing: Listing, included: Iterable[str]) -> dict[str, Any]:
        payload: dict[str, Any] = {"sku": listing.sku}
        fba = self.fba.get(listing.sku)
        for name in included:
            if name == "summaries":
                summary: dict[str, Any] = {"marketplaceId": self.marketplace_id}
                if listing.asin:
                    summary["asin"] = listing.asin
                summary.update(
                    {
                        "productType": listing.product_type,
                        "conditionType": listing.condition_type,
                        "status": list(listing.status),
                    }
                )
                if listing.fn_sku:
                    summary["fnSku"] = listing.fn_sku
                summary.update(
                    {
                        "itemName": listing.item_name,
                        "createdDate": amazon_time(listing.created),
                        "lastUpdatedDate": amazon_time(listing.updated),
                    }
                )
                payload["summaries"] = [summary]
            elif name == "attributes":
                payload["attributes"] = copy.deepcopy(listing.attributes)
            elif name == "issues":
                payload["issues"] = copy.deepcopy(listing.issues)
            elif name == "offers":
                payload["offers"] = (
                    []
                    if listing.price is None
                    else [
                        {
                            "marketplaceId": self.marketplace_id,
                            "offerType": "B2C",
                            "price": {"currencyCode": "USD", "amount": f"{listing.price:.2f}"},
                            "audience": {"value": "ALL", "displayName": "Sell on Amazon"},
                        }
                    ]
                )
            elif name == "fulfillmentAvailability":
                availability = []
                for entry in listing.attributes.get("fulfillment_availability") or []:
                    if not isinstance(entry, dict) or not entry.get("fulfillment_channel_code"):
                        continue
                    code = entry["fulfillment_channel_code"]
                    row: dict[str, Any] = {"fulfillmentChannelCode": code}
                    if code == MFN_CHANNEL and isinstance(entry.get("quantity"), int):
                        row["quantity"] = entry["quantity"]
                    elif code != MFN_CHANNEL and fba is not None:
                        row["quantity"] = fba.fulfillable
                    availability.append(row)
                payload["fulfillmentAvailability"] = availability
            elif name == "procurement":
                payload["procurement"] = []
            elif name == "relationships":
                payload["relationships"] = [{"marketplaceId": self.marketplace_id, "relationships": []}]
            elif name == "productTypes":
                payload["productTypes"] = [{"marketplaceId": self.marketplace_id, "productType": listing.product_type}]
        return payload

    def _not_found(self, sku: str) -> AmazonError:
        return AmazonError(404, f"SKU '{sku}' not found in marketplace {self.marketplace_id}", code="NOT_FOUND")

    def _get_listing(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, seller_id: str, sku: str
    ) -> Response:
        self._check_seller(seller_id)
        self._marketplaces(request)
        included = self._included(request, GET_INCLUDED, ["summaries"])
        listing = self.listings_by_sku.get(sku)
        if listing is None:
            raise self._not_found(sku)
        return json_response(self._item_payload(listing, included))

    def _search_listings(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, seller_id: str
    ) -> Response:
        self._check_seller(seller_id)
        self._marketplaces(request)
        included = self._included(request, GET_INCLUDED, ["summaries"])
        try:
            page_size = int(request.args.get("pageSize", 10))
        except ValueError:
            raise self._invalid("pageSize must be an integer") from None
        if not 1 <= page_size <= 20:
            raise self._invalid("pageSize must be between 1 and 20")
        identifiers = self._list_param(request, "identifiers")
        identifiers_type = request.args.get("identifiersType", "")
        if bool(identifiers) != bool(identifiers_type):
            raise self._invalid("identifiers and identifiersType must be given together")
        if identifiers_type and identifiers_type not in {"SKU", "ASIN", "FNSKU"}:
            raise self._invalid(f"identifiersType {identifiers_type} is not supported by the sandbox")
        if len(identifiers) > 20:
            raise self._invalid("identifiers takes at most 20 values")
        bounds = {name: self._time_param(request, name) for name in ("createdAfter", "createdBefore")}
        bounds.update({name: self._time_param(request, name) for name in ("lastUpdatedAfter", "lastUpdatedBefore")})
        with_status = set(self._list_param(request, "withStatus"))
        without_status = set(self._list_param(request, "withoutStatus"))
        sort_by = request.args.get("sortBy", "lastUpdatedDate")
        sort_order = request.args.get("sortOrder", "DESC")
        if sort_by not in {"sku", "createdDate", "lastUpdatedDate"} or sort_order not in {"ASC", "DESC"}:
            raise self._invalid("sortBy must be sku|createdDate|lastUpdatedDate and sortOrder ASC|DESC")

        def wanted(listing: Listing) -> bool:
            if identifiers:
                value = {"SKU": listing.sku, "ASIN": listing.asin, "FNSKU": listing.fn_sku}[identifiers_type]
                if value not in identifiers:
                    return False
            checks = (
                (bounds["createdAfter"], listing.created, 1),
                (bounds["createdBefore"], listing.created, -1),
                (bounds["lastUpdatedAfter"], listing.updated, 1),
                (bounds["lastUpdatedBefore"], listing.updated, -1),
            )
            for bound, moment, direction in checks:
                if bound is not None and (moment < bound if direction > 0 else moment > bound):
                    return False
            if with_status and not with_status & set(listing.status):
                return False
            return not (without_status and without_status & set(listing.status))

        key: Callable[[Listing], Any] = {
            "sku": lambda listing: listing.sku,
            "createdDate": lambda listing: (listing.created, listing.sku),
            "lastUpdatedDate": lambda listing: (listing.updated, listing.sku),
        }[sort_by]
        rows = sorted((x for x in self.listings_by_sku.values() if wanted(x)), key=key, reverse=sort_order == "DESC")
        offset = 0
        page_token = request.args.get("pageToken")
        if page_token:
            state = self._page_tokens.get(page_token)
            if state is None:
                raise self._invalid("Invalid pageToken")
            offset = state["offset"]
        pageable = rows[:1000]
        page = pageable[offset : offset + page_size]
        pagination: dict[str, str] = {}
        if offset + page_size < len(pageable):
            pagination["nextToken"] = self._page_token(offset + page_size)
        if offset > 0:
            pagination["previousToken"] = self._page_token(max(0, offset - page_size))
        result: dict[str, Any] = {"numberOfResults": len(rows)}
        if pagination:
            result["pagination"] = pagination
        result["items"] = [self._item_payload(listing, included) for listing in page]
        return json_response(result)

    def _page_token(self, offset: int) -> str:
        token = self._hex("page-token")
        self._page_tokens[token] = {"offset": offset}
        return token

    def _patch_issues(self, patches: Sequence[Any]) -> list[dict[str, Any]]:
        """What SP-API would report for these patches' values (empty: they can be applied)."""
        issues: list[dict[str, Any]] = []
        for index, patch in enumerate(patches):
            if not isinstance(patch, dict):
                issues.append(_issue("4000001", f"Patch {index + 1} must be an object."))
                continue
            op, path, value = patch.get("op"), patch.get("path"), patch.get("value")
            parts = str(path or "").split("/")
            if len(parts) != 3 or parts[0] != "" or parts[1] != "attributes" or not parts[2]:
                issues.append(
                    _issue(
                        "4000001",
                        f"The patch path '{path}' is invalid; only top-level attributes "
                        "('/attributes/<name>') can be patched.",
                    )
                )
                continue
            attribute = parts[2]
            if op in {"add", "replace", "merge"} and not isinstance(value, list):
                issues.append(_issue("4000001", f"A value is required to {op} '{attribute}'.", attribute))
                continue
            if attribute != "fulfillment_availability" or op == "delete":
                continue
            for entry in value or []:
                problem = None
                if not isinstance(entry, dict):
                    problem = "each value must be an object"
                elif (
                    not isinstance(entry.get("fulfillment_channel_code"), str) or not entry["fulfillment_channel_code"]
                ):
                    problem = "'fulfillment_channel_code' is required"
                elif "quantity" in entry and (
                    not isinstance(entry["quantity"], int)
                    or isinstance(entry["quantity"], bool)
                    or entry["quantity"] < 0
                ):
                    problem = "'quantity' must be a whole number of at least 0"
                elif (
                    op in {"add", "replace"}
                    and entry["fulfillment_channel_code"] == MFN_CHANNEL
                    and "quantity" not in entry
                ):
                    problem = "'quantity' is required for the DEFAULT fulfillment channel"
                if problem:
                    issues.append(
                        _issue(
                            "4000001",
                            f"The provided value for 'Fulfillment Availability' is invalid: {problem}.",
                            "fulfillment_availability",
                        )
                    )
        return issues

    @staticmethod
    def _merge_availability(listing: Listing, entries: Sequence[dict[str, Any]]) -> None:
        current = [dict(e) for e in listing.attributes.get("fulfillment_availability") or [] if isinstance(e, dict)]
        for entry in entries:
            for existing in current:
                if existing.get("fulfillment_channel_code") == entry.get("fulfillment_channel_code"):
                    existing.update(copy.deepcopy(entry))
                    break
            else:
                current.append(copy.deepcopy(entry))
        listing.attributes["fulfillment_availability"] = current

    def _apply_patches(self, listing: Listing, patches: Sequence[dict[str, Any]]) -> None:
        afn_only = bool(listing.channels) and MFN_CHANNEL not in listing.channels
        for patch in patches:
            attribute = patch["path"].split("/")[2]
            op, value = patch["op"], patch.get("value")
            if op == "delete":
                listing.attributes.pop(attribute, None)
            elif op == "merge" and attribute == "fulfillment_availability":
                self._merge_availability(listing, value or [])
            elif op == "merge" and isinstance(listing.attributes.get(attribute), list):
                merged = [dict(e) if isinstance(e, dict) else e for e in listing.attributes[attribute]]
                for index, entry in enumerate(value or []):
                    if index < len(merged) and isinstance(merged[index], dict):
                        merged[index].update(copy.deepcopy(entry))
                    else:
                        merged.append(copy.deepcopy(entry))
                listing.attributes[attribute] = merged
            else:
                listing.attributes[attribute] = copy.deepcopy(value)
            if attribute == "item_name" and isinstance(value, list) and value and isinstance(value[0], dict):
                listing.item_name = str(value[0].get("value") or listing.item_name)
        if afn_only and MFN_CHANNEL in listing.channels and not self._names_amazon_fulfilment(patches):
            self._convert_to_merchant_fulfilled(listing)
        listing.updated = self.now()

    @staticmethod
    def _names_amazon_fulfilment(patches: Sequence[dict[str, Any]]) -> bool:
        """Whether the patches set an Amazon fulfilment channel themselves (a multiple-fulfilment listing)."""
        return any(
            isinstance(entry, dict) and entry.get("fulfillment_channel_code") not in (None, MFN_CHANNEL)
            for patch in patches
            if patch.get("path") == "/attributes/fulfillment_availability"
            for entry in patch.get("value") or []
        )

    @staticmethod
    def _convert_to_merchant_fulfilled(listing: Listing) -> None:
        """What Amazon does to an FBA offer given a seller (DEFAULT) quantity: it becomes merchant-fulfilled
        and its units in Amazon's fulfilment centres stop selling (stranded)."""
        listing.attributes["fulfillment_availability"] = [
            entry
            for entry in listing.attributes.get("fulfillment_availability") or []
            if isinstance(entry, dict) and entry.get("fulfillment_channel_code") == MFN_CHANNEL
        ]
        listing.issues.append(
            {
                "code": "STRANDED_INVENTORY",
                "message": "The offer was changed from Fulfilled by Amazon to seller-fulfilled by a DEFAULT quantity; "
                "its inventory at Amazon's fulfilment centres cannot be sold.",
                "severity": "WARNING",
                "attributeNames": ["fulfillment_availability"],
                "categories": ["INVALID_ATTRIBUTE"],
            }
        )

    @staticmethod
    def _product_type_issue(listing: Listing | None, product_type: str) -> dict[str, Any] | None:
        """Amazon refuses a submission whose productType is not the listing's."""
        if listing is None or listing.product_type == product_type:
            return None
        return _issue(
            "4000004",
            f"The provided productType '{product_type}' does not match the productType '{listing.product_type}' "
            "of the listing.",
            category="INVALID_ATTRIBUTE",
        )

    def _change_listing(self, sku: str, change: Callable[[], None], pending: _Pending) -> None:
        """Run ``change`` (which edits or creates the listing) and queue the MFN notification if the MFN
        quantity changed."""
        before = self.listings_by_sku[sku].mfn_quantity if sku in self.listings_by_sku else None
        change()
        listing = self.listings_by_sku.get(sku)
        if listing is not None and listing.mfn_quantity is not None and listing.mfn_quantity != before:
            self._queue_notification(pending, MFN_EVENT, sku)

    def _incomplete_listing(self, sku: str, product_type: str) -> Listing:
        """A listing created by an offer-only submission for an unknown SKU (``unknown_sku="accepted"``)."""
        now = self.now()
        listing = Listing(
            sku=sku,
            product_type=product_type,
            item_name=sku,
            asin=None,
            fn_sku=None,
            status=[],
            attributes={},
            created=now,
            updated=now,
            price=None,
        )
        self.listings_by_sku[sku] = listing
        return listing

    def _submit(self, sku: str, source: str, apply: Callable[[_Pending], None], pending: _Pending) -> dict:
        """Record an accepted submission and apply it now or hold it (``apply_patches_immediately``)."""
        record = self._record_submission(sku, source, "ACCEPTED", [], applied=self.apply_patches_immediately)
        if self.apply_patches_immediately:
            apply(pending)
        else:
            self._pending_submissions.append({"record": record, "apply": apply})
        return record

    def _patch_listing(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, seller_id: str, sku: str
    ) -> Response:
        self._check_seller(seller_id)
        self._marketplaces(request)
        included = self._included(request, PATCH_INCLUDED, ["issues"])
        mode = request.args.get("mode") or None
        if mode not in {None, "VALIDATION_PREVIEW"}:
            raise self._invalid(f"Invalid mode: {mode}")
        body = self._json_body(request, body, body_error)
        patches, product_type = body.get("patches"), body.get("productType")
        if not isinstance(patches, list) or not patches or not isinstance(product_type, str):
            raise self._invalid(INVALID_INPUT, "productType and at least one patch are required")
        exists = sku in self.listings_by_sku
        if not exists and self.unknown_sku == "not_found":
            raise self._not_found(sku)
        issues = self._patch_issues(patches)
        mismatch = self._product_type_issue(self.listings_by_sku.get(sku), product_type)
        if mismatch:
            issues.append(mismatch)
        if not exists and self.unknown_sku == "invalid":
            issues = [
                _issue("NOT_FOUND", f"SKU '{sku}' not found in marketplace {self.marketplace_id}.", category=""),
                *issues,
            ]
        if issues:
            status = "INVALID"
            record = self._record_submission(sku, "patch", status, issues, applied=False)
        elif mode == "VALIDATION_PREVIEW":
            status = "VALID"
            record = self._record_submission(sku, "patch:preview", status, [], applied=False)
        else:
            status = "ACCEPTED"

            def apply(pending: _Pending) -> None:
                def change() -> None:
                    listing = self.listings_by_sku.get(sku) or self._incomplete_listing(sku, product_type)
                    self._apply_patches(listing, patches)

                self._change_listing(sku, change, pending)

            record = self._submit(sku, "patch", apply, pending)
        result: dict[str, Any] = {"sku": sku, "status": status, "submissionId": record["submissionId"]}
        if "issues" in included:
            result["issues"] = issues
        if "identifiers" in included and mode == "VALIDATION_PREVIEW":
            listing = self.listings_by_sku.get(sku)
            result["identifiers"] = (
                [{"marketplaceId": self.marketplace_id, "asin": listing.asin}] if listing and listing.asin else []
            )
        return json_response(result)

    def _put_listing(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, seller_id: str, sku: str
    ) -> Response:
        self._check_seller(seller_id)
        self._marketplaces(request)
        included = self._included(request, PATCH_INCLUDED, ["issues"])
        mode = request.args.get("mode") or None
        if mode not in {None, "VALIDATION_PREVIEW"}:
            raise self._invalid(f"Invalid mode: {mode}")
        body = self._json_body(request, body, body_error)
        attributes, product_type = body.get("attributes"), body.get("productType")
        if not isinstance(attributes, dict) or not isinstance(product_type, str):
            raise self._invalid(INVALID_INPUT, "productType and attributes are required")
        patches = [
            {"op": "replace", "path": f"/attributes/{name}", "value": value} for name, value in attributes.items()
        ]
        issues = self._patch_issues(patches)
        if issues:
            status, record = "INVALID", self._record_submission(sku, "put", "INVALID", issues, applied=False)
        elif mode == "VALIDATION_PREVIEW":
            status, record = "VALID", self._record_submission(sku, "put:preview", "VALID", [], applied=False)
        else:
            status = "ACCEPTED"

            def apply(pending: _Pending) -> None:
                def change() -> None:
                    listing = self.listings_by_sku.get(sku)
                    if listing is None:
                        names = attributes.get("item_name") or [{}]
                        name = names[0].get("value", sku) if isinstance(names[0], dict) else sku
                        listing = self._create_listing(
                            sku,
                            str(name),
                            quantity=0,
                            price=None,
                            moment=self.now(),
                            fba=False,
                            product_type=product_type,
                        )
                    listing.attributes = copy.deepcopy(attributes)
                    listing.product_type = product_type
                    self._apply_patches(listing, [])

                self._change_listing(sku, change, pending)

            record = self._submit(sku, "put", apply, pending)
        result: dict[str, Any] = {"sku": sku, "status": status, "submissionId": record["submissionId"]}
        if "issues" in included:
            result["issues"] = issues
        return json_response(result)

    def _delete_listing(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, seller_id: str, sku: str
    ) -> Response:
        self._check_seller(seller_id)
        self._marketplaces(request)
        if sku not in self.listings_by_sku:
            if self.unknown_sku == "not_found":
                raise self._not_found(sku)
            if self.unknown_sku == "invalid":
                issues = [
                    _issue("NOT_FOUND", f"SKU '{sku}' not found in marketplace {self.marketplace_id}.", category="")
                ]
                record = self._record_submission(sku, "delete", "INVALID", issues, applied=False)
                return json_response(
                    {"sku": sku, "status": "INVALID", "submissionId": record["submissionId"], "issues": issues}
                )
        self.listings_by_sku.pop(sku, None)
        record = self._record_submission(sku, "delete", "ACCEPTED", [], applied=True)
        return json_response({"sku": sku, "status": "ACCEPTED", "submissionId": record["submissionId"], "issues": []})

    # -- FBA Inventory ---------------------------------------------------------------------------------

    def _summary(self, item: FbaItem, details: bool) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "asin": item.asin,
            "fnSku": item.fn_sku,
            "sellerSku": item.sku,
            "condition": item.condition,
        }
        if details:
            summary["inventoryDetails"] = {
                "fulfillableQuantity": item.fulfillable,
                "inboundWorkingQuantity": item.inbound_working,
                "inboundShippedQuantity": item.inbound_shipped,
                "inboundReceivingQuantity": item.inbound_receiving,
                "reservedQuantity": {
                    "totalReservedQuantity": item.reserved,
                    "pendingCustomerOrderQuantity": item.pending_customer_order,
                    "pendingTransshipmentQuantity": item.pending_transshipment,
                    "fcProcessingQuantity": item.fc_processing,
                },
                "researchingQuantity": {
                    "totalResearchingQuantity": item.researching,
                    "researchingQuantityBreakdown": (
                        [{"name": "researchingQuantityInShortTerm", "quantity": item.researching}]
                        if item.researching
                        else []
                    ),
                },
                "unfulfillableQuantity": {
                    "totalUnfulfillableQuantity": item.unfulfillable,
                    "customerDamagedQuantity": item.customer_damaged,
                    "warehouseDamagedQuantity": item.warehouse_damaged,
                    "distributorDamagedQuantity": item.distributor_damaged,
                    "carrierDamagedQuantity": item.carrier_damaged,
                    "defectiveQuantity": item.defective,
                    "expiredQuantity": item.expired,
                },
            }
        summary.update(
            {
                "lastUpdatedTime": amazon_time(item.updated),
                "productName": item.product_name,
                "totalQuantity": item.total,
                "stores": list(item.stores),
            }
        )
        return summary

    def _inventory_summaries(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        granularity_type = request.args.get("granularityType")
        granularity_id = request.args.get("granularityId")
        if granularity_type != "Marketplace":
            raise self._invalid("Invalid granularityType: the only granularityType is Marketplace")
        if granularity_id != self.marketplace_id:
            raise self._invalid(f"Invalid granularityId: {granularity_id}")
        self._marketplaces(request, max_items=1)
        details = truthy(request.args.get("details", "false"))
        next_token = request.args.get("nextToken")
        now = self.now()
        if next_token:
            state = self._next_tokens.get(next_token)
            if state is None or (now - state["issued"]).total_seconds() > self.next_token_ttl:
                raise self._invalid(NEXT_TOKEN_INVALID)
            filters, offset = state["filters"], state["offset"]
        else:
            start = self._time_param(request, "startDateTime")
            if start is not None and start < now - timedelta(days=548):
                raise self._invalid("Query startDateTime cannot be earlier than 18 months before now")
            skus = self._list_param(request, "sellerSkus")
            if len(skus) > 50:
                raise self._invalid("sellerSkus takes at most 50 values")
            single = request.args.get("sellerSku")
            if start is not None:
                filters = {"start": start, "skus": None}
            elif skus:
                filters = {"start": None, "skus": skus}
            elif single:
                filters = {"start": None, "skus": [single]}
            else:
                filters = {"start": None, "skus": None}
            offset = 0
        rows = [
            self.fba[sku]
            for sku in sorted(self.fba)
            if (filters["skus"] is None or sku in filters["skus"])
            and (filters["start"] is None or self.fba[sku].updated >= filters["start"])
        ]
        page = rows[offset : offset + self.fba_page_size]
        result: dict[str, Any] = {
            "payload": {
                "granularity": {"granularityType": "Marketplace", "granularityId": self.marketplace_id},
                "inventorySummaries": [self._summary(item, details) for item in page],
            }
        }
        if offset + self.fba_page_size < len(rows):
            token = self._hex("next-token")
            self._next_tokens[token] = {"issued": now, "filters": filters, "offset": offset + self.fba_page_size}
            result["pagination"] = {"nextToken": token}
        return json_response(result)

    def _create_inventory_item(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending
    ) -> Response:
        body = self._json_body(request, body, body_error)
        if body.get("marketplaceId") != self.marketplace_id:
            raise self._invalid(f"Invalid marketplaceId: {body.get('marketplaceId')}")
        sku = str(body.get("sellerSku") or "")
        if not sku:
            raise self._invalid(INVALID_INPUT, "sellerSku is required")
        if sku in self.fba:
            raise self._invalid(f"SKU {sku} already exists in the inventory")
        if sku in self.listings_by_sku:
            raise self._invalid(f"SKU {sku} is already a merchant-fulfilled listing")
        self._create_listing(
            sku, str(body.get("productName") or sku), quantity=None, price=None, moment=self.now(), fba=True
        )
        return json_response({})

    def _add_inventory(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        token = request.headers.get("x-amzn-idempotency-token", "").strip()
        if not token:
            raise self._invalid("Missing required header: x-amzn-idempotency-token")
        body = self._json_body(request, body, body_error)
        if token in self._idempotency:
            return json_response({})
        items = body.get("inventoryItems") or []
        for entry in items:
            if entry.get("marketplaceId") != self.marketplace_id:
                raise self._invalid(f"Invalid marketplaceId: {entry.get('marketplaceId')}")
            if entry.get("sellerSku") not in self.fba:
                raise AmazonError(404, f"SKU {entry.get('sellerSku')} not found in the inventory")
            if not isinstance(entry.get("quantity"), int) or entry["quantity"] < 0:
                raise self._invalid(INVALID_INPUT, "quantity must be a whole number >= 0")
        self._idempotency.add(token)
        now = self.now()
        for entry in items:
            item = self.fba[entry["sellerSku"]]
            item.fulfillable += entry["quantity"]
            item.updated = now
            if entry["quantity"]:
                self._queue_notification(pending, FBA_EVENT, item.sku)
        return json_response({})

    def _delete_inventory_item(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, seller_sku: str
    ) -> Response:
        if request.args.get("marketplaceId") != self.marketplace_id:
            raise self._invalid(f"Invalid marketplaceId: {request.args.get('marketplaceId')}")
        if seller_sku not in self.fba:
            raise AmazonError(404, f"SKU {seller_sku} not found in the inventory")
        del self.fba[seller_sku]
        self.listings_by_sku.pop(seller_sku, None)
        return json_response({})

    # -- Orders v0 ---------------------------------------------------------------------------------------

    def _get_orders(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        marketplaces = self._list_param(request, "MarketplaceIds")
        if not marketplaces:
            raise self._invalid("Missing required parameter: MarketplaceIds")
        if len(marketplaces) > 50:
            raise self._invalid("MarketplaceIds takes at most 50 values")
        unknown = [m for m in marketplaces if m != self.marketplace_id]
        if unknown:
            raise self._invalid(f"Invalid MarketplaceIds: {', '.join(unknown)}")
        next_token = request.args.get("NextToken")
        if next_token:
            state = self._order_tokens.get(next_token)
            if state is None:
                raise self._invalid("Invalid NextToken")
        else:
            state = self._order_filters(request)
        field = state["field"]
        rows = sorted(
            (order for order in self.orders_by_id.values() if self._order_wanted(order, state)),
            key=lambda order: (getattr(order, field), order.order_id),
        )
        offset = state["offset"]
        page = rows[offset : offset + state["page_size"]]
        payload: dict[str, Any] = {"Orders": [self._order_dict(order) for order in page]}
        if offset + state["page_size"] < len(rows):
            token = self._hex("order-token")
            self._order_tokens[token] = {**state, "offset": offset + state["page_size"]}
            payload["NextToken"] = token
        payload["LastUpdatedBefore" if field == "updated" else "CreatedBefore"] = amazon_time(state["before"])
        return json_response({"payload": payload})

    def _order_filters(self, request: Request) -> dict[str, Any]:
        """getOrders' filters, checked as Amazon checks them; the start of a NextToken's state."""
        created = [self._time_param(request, name) for name in ("CreatedAfter", "CreatedBefore")]
        updated = [self._time_param(request, name) for name in ("LastUpdatedAfter", "LastUpdatedBefore")]
        if created[0] is None and updated[0] is None:
            raise self._invalid("Either CreatedAfter or LastUpdatedAfter must be specified")
        if created[0] is not None and any(updated):
            raise self._invalid("LastUpdatedAfter and LastUpdatedBefore cannot be set when CreatedAfter is set")
        if updated[0] is not None and any(created):
            raise self._invalid("CreatedAfter and CreatedBefore cannot be set when LastUpdatedAfter is set")
        field, (after, before) = ("purchased", created) if created[0] is not None else ("updated", updated)
        now = self.now()
        if before is not None and (before < after or before > now - timedelta(minutes=2)):
            name = "CreatedBefore" if field == "purchased" else "LastUpdatedBefore"
            raise self._invalid(f"{name} must be on or after its After date and at least two minutes before now")
        statuses = self._list_param(request, "OrderStatuses")
        channels = self._list_param(request, "FulfillmentChannels")
        bad = [s for s in statuses if s not in ORDER_STATUSES] + [c for c in channels if c not in FULFILLMENT_CHANNELS]
        if bad:
            raise self._invalid(f"Invalid value(s): {', '.join(bad)}")
        try:
            page_size = int(request.args.get("MaxResultsPerPage", 100))
        except ValueError:
            raise self._invalid("MaxResultsPerPage must be an integer") from None
        if not 1 <= page_size <= 100:
            raise self._invalid("MaxResultsPerPage must be between 1 and 100")
        return {
            "field": field,
            "after": after,
            "before": before or now,
            "statuses": statuses,
            "channels": channels,
            "page_size": page_size,
            "offset": 0,
        }

    @staticmethod
    def _order_wanted(order: Order, state: dict[str, Any]) -> bool:
        moment = getattr(order, state["field"])
        return (
            state["after"] <= moment <= state["before"]
            and (not state["statuses"] or order.status in state["statuses"])
            and (not state["channels"] or order.fulfillment_channel in state["channels"])
        )

    def _known_order(self, order_id: str) -> Order:
        order = self.orders_by_id.get(order_id)
        if order is None:
            raise AmazonError(404, f"Order {order_id} not found", code="NotFound")
        return order

    def _get_order(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, order_id: str
    ) -> Response:
        return json_response({"payload": self._order_dict(self._known_order(order_id))})

    def _get_order_items(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, order_id: str
    ) -> Response:
        order = self._known_order(order_id)
        offset = 0
        next_token = request.args.get("NextToken")
        if next_token:
            state = self._order_tokens.get(next_token)
            if state is None or state.get("order_id") != order_id:
                raise self._invalid("Invalid NextToken")
            offset = state["offset"]
        size = self.order_items_page_size
        items = [self._order_item_dict(order, line) for line in order.lines[offset : offset + size]]
        payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": items}
        if offset + size < len(order.lines):
            token = self._hex("order-token")
            self._order_tokens[token] = {"order_id": order_id, "offset": offset + size}
            payload["NextToken"] = token
        return json_response({"payload": payload})

    # -- Feeds and documents ----------------------------------------------------------------------------

    def _presigned_url(self, document_id: str) -> str:
        signature = hashlib.sha256(f"{document_id}:{self._count('signature')}:{self.base_seed}".encode()).hexdigest()
        self._signatures[signature] = (document_id, self.now() + timedelta(minutes=5))
        query = urllib.parse.urlencode(
            {
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Date": self.now().strftime("%Y%m%dT%H%M%SZ"),
                "X-Amz-Expires": "300",
                "X-Amz-SignedHeaders": "host",
                "X-Amz-Signature": signature,
            }
        )
        return f"{self.url}{_DOCUMENT_PREFIX}{document_id}?{query}"

    def _new_document(self, content_type: str, kind: str, content: bytes | None = None) -> str:
        document_id = f"amzn1.tortuga.4.na.{self._guid('document')}.T{self._count('document-suffix'):06d}"
        self.documents[document_id] = {
            "contentType": content_type,
            "kind": kind,
            "content": content,
            "compressed": False,
        }
        return document_id

    def _create_feed_document(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        body = self._json_body(request, body, body_error)
        content_type = body.get("contentType")
        if not isinstance(content_type, str) or not content_type.strip():
            raise self._invalid(INVALID_INPUT, "contentType is required")
        document_id = self._new_document(content_type, "input")
        return json_response({"feedDocumentId": document_id, "url": self._presigned_url(document_id)}, status=201)

    @staticmethod
    def _s3_error(status: int, code: str, message: str) -> Response:
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
        return Response(body, status=status, content_type="application/xml")

    def _check_signature(self, request: Request, document_id: str) -> Response | None:
        signature = request.args.get("X-Amz-Signature", "")
        entry = self._signatures.get(signature)
        if entry is None or entry[0] != document_id or document_id not in self.documents:
            return self._s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if entry[1] <= self.now():
            return self._s3_error(403, "AccessDenied", "Request has expired")
        return None

    def _upload_document(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, document_id: str
    ) -> Response:
        refused = self._check_signature(request, document_id)
        if refused is not None:
            return refused
        document = self.documents[document_id]
        if document["kind"] != "input":
            return self._s3_error(403, "AccessDenied", "Access Denied")
        document["content"] = request.get_data(cache=True)
        document["uploadedContentType"] = request.content_type
        etag = hashlib.md5(document["content"]).hexdigest()  # noqa: S324 - S3's ETag is an MD5
        return Response(b"", status=200, headers={"ETag": f'"{etag}"'})

    def _download_document(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, document_id: str
    ) -> Response:
        refused = self._check_signature(request, document_id)
        if refused is not None:
            return refused
        document = self.documents[document_id]
        if document["content"] is None:
            return self._s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(document["content"], status=200, content_type=document["contentType"])

    def _get_feed_document(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, document_id: str
    ) -> Response:
        document = self.documents.get(document_id)
        if document is None:
            raise AmazonError(404, f"Feed document {document_id} not found")
        result: dict[str, Any] = {"feedDocumentId": document_id, "url": self._presigned_url(document_id)}
        if document.get("compressed"):
            result["compressionAlgorithm"] = "GZIP"
        return json_response(result)

    def _create_feed(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        body = self._json_body(request, body, body_error)
        feed_type = body.get("feedType")
        if feed_type != LISTINGS_FEED:
            raise self._invalid(f"Invalid feedType: {feed_type}", f"The sandbox only processes {LISTINGS_FEED}")
        marketplaces = body.get("marketplaceIds")
        if not isinstance(marketplaces, list) or self.marketplace_id not in marketplaces:
            raise self._invalid(f"marketplaceIds must include {self.marketplace_id}")
        unknown = [m for m in marketplaces if m != self.marketplace_id]
        if unknown:
            raise self._invalid(f"Invalid marketplaceIds: {', '.join(map(str, unknown))}")
        document_id = body.get("inputFeedDocumentId")
        document = self.documents.get(str(document_id))
        if document is None or document["kind"] != "input":
            raise self._invalid(f"Invalid inputFeedDocumentId: {document_id}")
        feed_id = str(50_000_000_000 + self._count("feed") * 1_013 + self.base_seed % 1000)
        self.feeds_by_id[feed_id] = {
            "feedId": feed_id,
            "feedType": feed_type,
            "marketplaceIds": list(marketplaces),
            "createdTime": self.now(),
            "processingStatus": "IN_QUEUE",
            "processingStartTime": None,
            "processingEndTime": None,
            "resultFeedDocumentId": None,
            "_input": document_id,
            "_polls": 0,
            "_report": None,
        }
        return json_response({"feedId": feed_id}, status=202)

    def _feed_dict(self, feed: dict[str, Any], internal: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {
            "feedId": feed["feedId"],
            "feedType": feed["feedType"],
            "marketplaceIds": list(feed["marketplaceIds"]),
            "createdTime": amazon_time(feed["createdTime"], milliseconds=True),
            "processingStatus": feed["processingStatus"],
        }
        if feed["processingStartTime"] is not None:
            result["processingStartTime"] = amazon_time(feed["processingStartTime"], milliseconds=True)
        if feed["processingEndTime"] is not None:
            result["processingEndTime"] = amazon_time(feed["processingEndTime"], milliseconds=True)
        if feed["resultFeedDocumentId"]:
            result["resultFeedDocumentId"] = feed["resultFeedDocumentId"]
        if internal:
            result["_sandbox"] = {
                "inputFeedDocumentId": feed["_input"],
                "polls": feed["_polls"],
                "report": copy.deepcopy(feed["_report"]),
            }
        return result

    def _advance_by_clock(self, feed: dict[str, Any], pending: _Pending) -> None:
        if self.feed_advance != "clock" or feed["processingStatus"] not in {"IN_QUEUE", "IN_PROGRESS"}:
            return
        elapsed = (self.now() - feed["createdTime"]).total_seconds()
        step = self.feed_step_seconds
        if elapsed >= 2 * step:
            self._set_feed_status(feed, "DONE", pending)
        elif elapsed >= step:
            self._set_feed_status(feed, "IN_PROGRESS", pending)

    def _advance_by_poll(self, feed: dict[str, Any], pending: _Pending) -> None:
        feed["_polls"] += 1
        if self.feed_advance != "poll" or feed["processingStatus"] not in {"IN_QUEUE", "IN_PROGRESS"}:
            return
        per_step = self.feed_polls_per_step
        if feed["_polls"] > 2 * per_step:
            self._set_feed_status(feed, "DONE", pending)
        elif feed["_polls"] > per_step:
            self._set_feed_status(feed, "IN_PROGRESS", pending)

    def _set_feed_status(self, feed: dict[str, Any], status: str, pending: _Pending) -> None:
        now = self.now()
        if feed["processingStartTime"] is None and status in {"IN_PROGRESS", "DONE"}:
            feed["processingStartTime"] = now
        if status != "DONE":
            feed["processingStatus"] = status
            return
        report, fatal = self._process_feed(feed, pending)
        content = json.dumps(report, separators=(",", ":")).encode()
        result_id = self._new_document("application/json; charset=UTF-8", "result")
        if self.gzip_reports:
            content = gzip.compress(content, mtime=0)
            self.documents[result_id]["compressed"] = True
        self.documents[result_id]["content"] = content
        feed.update(
            processingStatus="FATAL" if fatal else "DONE",
            processingEndTime=now,
            resultFeedDocumentId=result_id,
            _report=report,
        )

    def _get_feed(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, feed_id: str
    ) -> Response:
        feed = self.feeds_by_id.get(feed_id)
        if feed is None:
            raise AmazonError(404, f"Feed {feed_id} not found")
        self._advance_by_clock(feed, pending)
        self._advance_by_poll(feed, pending)
        return json_response(self._feed_dict(feed))

    def _get_feeds(self, request: Request, body: Any, body_error: str | None, pending: _Pending) -> Response:
        next_token = request.args.get("nextToken")
        if next_token:
            state = self._page_tokens.get(next_token)
            if state is None or "feeds" not in state:
                raise self._invalid("Invalid nextToken")
            feed_types, statuses, marketplaces, since, until, page_size, offset = state["feeds"]
        else:
            feed_types = self._list_param(request, "feedTypes")
            if not feed_types:
                raise self._invalid("feedTypes or nextToken is required")
            statuses = self._list_param(request, "processingStatuses")
            marketplaces = self._list_param(request, "marketplaceIds")
            since = self._time_param(request, "createdSince") or self.now() - timedelta(days=90)
            until = self._time_param(request, "createdUntil") or self.now()
            try:
                page_size = int(request.args.get("pageSize", 10))
            except ValueError:
                raise self._invalid("pageSize must be an integer") from None
            if not 1 <= page_size <= 100:
                raise self._invalid("pageSize must be between 1 and 100")
            offset = 0
        for feed in self.feeds_by_id.values():
            self._advance_by_clock(feed, pending)
        rows = [
            feed
            for feed in sorted(self.feeds_by_id.values(), key=lambda f: f["createdTime"], reverse=True)
            if feed["feedType"] in feed_types
            and (not statuses or feed["processingStatus"] in statuses)
            and (not marketplaces or set(marketplaces) & set(feed["marketplaceIds"]))
            and since <= feed["createdTime"] <= until
        ]
        result: dict[str, Any] = {"feeds": [self._feed_dict(feed) for feed in rows[offset : offset + page_size]]}
        if offset + page_size < len(rows):
            token = self._hex("page-token")
            filters = (feed_types, statuses, marketplaces, since, until, page_size, offset + page_size)
            self._page_tokens[token] = {"offset": 0, "feeds": filters}
            result["nextToken"] = token
        return json_response(result)

    def _cancel_feed(
        self, request: Request, body: Any, body_error: str | None, pending: _Pending, feed_id: str
    ) -> Response:
        feed = self.feeds_by_id.get(feed_id)
        if feed is None:
            raise AmazonError(404, f"Feed {feed_id} not found")
        self._advance_by_clock(feed, pending)
        if feed["processingStatus"] != "IN_QUEUE":
            raise self._invalid(f"Feed {feed_id} is {feed['processingStatus']}; only IN_QUEUE feeds can be cancelled")
        feed["processingStatus"] = "CANCELLED"
        return Response(b"", status=200)

    # feed processing

    def _process_feed(self, feed: dict[str, Any], pending: _Pending) -> tuple[dict[str, Any], bool]:
        """Apply the feed document's valid messages; ``(processing report, fatal)``."""
        header = {"sellerId": self.seller_id, "version": "2.0", "feedId": feed["feedId"]}

        def fatal(message: str) -> tuple[dict[str, Any], bool]:
            report = {
                "header": header,
                "issues": [{"code": "4000000", "severity": "ERROR", "message": message}],
                "summary": {
                    "errors": 1,
                    "warnings": 0,
                    "messagesProcessed": 0,
                    "messagesAccepted": 0,
                    "messagesInvalid": 0,
                },
            }
            return report, True

        raw = self.documents[feed["_input"]]["content"]
        if raw is None:
            return fatal("The feed document was not uploaded.")
        document, error = parse_json(raw)
        if error or document is None:
            return fatal(f"The feed document is not valid JSON: {error or 'empty document'}.")
        violation = self.contract.first_document_violation(f"{LISTINGS_FEED} envelope", document)
        if violation is not None:
            return fatal(f"The feed document does not conform to the listings feed schema: {violation}.")
        if document["header"]["sellerId"] != self.seller_id:
            return fatal(f"The sellerId {document['header']['sellerId']} does not match the seller of the feed.")
        report_request = document["header"].get("report")
        issues: list[dict[str, Any]] = []
        accepted = invalid = 0
        seen: set[int] = set()
        touched: list[str] = []
        for message in document["messages"]:
            message_id = message.get("messageId")
            sku = message.get("sku")

            def add_issue(code: str, text: str, attribute: str | None = None, message_id=message_id, sku=sku) -> None:
                issue: dict[str, Any] = {}
                if isinstance(message_id, int) and not isinstance(message_id, bool) and message_id >= 1:
                    issue["messageId"] = message_id
                if isinstance(sku, str) and sku:
                    issue["sku"] = sku
                issue.update({"code": code, "severity": "ERROR", "message": text})
                if attribute:
                    issue["attributeName"] = attribute
                issues.append(issue)

            error = self.contract.first_document_violation(f"{LISTINGS_FEED} message", message)
            if error is not None:
                add_issue("4000003", f"The message does not conform to the listings feed schema: {error}")
                invalid += 1
                continue
            if message_id in seen:
                add_issue("4000002", f"messageId {message_id} is used by another message of this feed.")
                invalid += 1
                continue
            seen.add(message_id)
            operation = message["operationType"]
            exists = sku in self.listings_by_sku
            if not exists and operation in {"PATCH", "PARTIAL_UPDATE", "DELETE"} and self.unknown_sku != "accepted":
                add_issue("NOT_FOUND", f"SKU '{sku}' not found in marketplace {self.marketplace_id}.")
                invalid += 1
                continue
            if operation == "DELETE":
                self.listings_by_sku.pop(sku, None)
                self._record_submission(sku, f"feed:{feed['feedId']}", "ACCEPTED", [], applied=True)
                accepted += 1
                continue
            mismatch = (
                self._product_type_issue(self.listings_by_sku.get(sku), message["productType"])
                if operation in {"PATCH", "PARTIAL_UPDATE"}
                else None
            )
            if mismatch:
                add_issue(mismatch["code"], mismatch["message"])
                self._record_submission(sku, f"feed:{feed['feedId']}", "INVALID", [mismatch], applied=False)
                invalid += 1
                continue
            if operation == "PATCH":
                patches = message["patches"]
            else:
                patches = [
                    {"op": "replace", "path": f"/attributes/{name}", "value": value}
                    for name, value in message["attributes"].items()
                ]
            value_issues = self._patch_issues(patches)
            if value_issues:
                for value_issue in value_issues:
                    add_issue(
                        value_issue["code"], value_issue["message"], next(iter(value_issue["attributeNames"]), None)
                    )
                self._record_submission(sku, f"feed:{feed['feedId']}", "INVALID", value_issues, applied=False)
                invalid += 1
                continue

            def change(message=message, sku=sku, patches=patches, operation=operation) -> None:
                listing = self.listings_by_sku.get(sku)
                if listing is None:
                    listing = self._incomplete_listing(sku, message["productType"])
                if operation == "UPDATE":
                    listing.attributes = {}
                self._apply_patches(listing, patches)

            self._change_listing(sku, change, pending)
            self._record_submission(sku, f"feed:{feed['feedId']}", "ACCEPTED", [], applied=True)
            touched.append(sku)
            accepted += 1
        errors = sum(1 for issue in issues if issue["severity"] == "ERROR")
        report: dict[str, Any] = {
            "header": header,
            "issues": issues,
            "summary": {
                "errors": errors,
                "warnings": sum(1 for issue in issues if issue["severity"] == "WARNING"),
                "messagesProcessed": len(document["messages"]),
                "messagesAccepted": accepted,
                "messagesInvalid": invalid,
            },
        }
        if report_request:
            included = report_request["includedData"]
            header["report"] = copy.deepcopy(report_request)
            items = [
                self._item_payload(self.listings_by_sku[sku], included)
                for sku in dict.fromkeys(touched)
                if sku in self.listings_by_sku
            ]
            report["summary"]["itemSummary"] = {"items": len(items), "errors": 0, "warnings": 0}
            report["items"] = items
        return report, False
