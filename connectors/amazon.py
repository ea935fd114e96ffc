"""Amazon SP-API: the marketplace channel we publish MFN quantities to, and the FBA warehouse we mirror.

Quotas are per operation (patchListingsItem 5/s burst 5, getInventorySummaries 2/s burst 2, the
Feeds operations far lower), so each operation has its own shared bucket. One changed listing is
one ``patchListingsItem``; many are one ``JSON_LISTINGS_FEED``, whose processing report is read
back so that an error is reported against its own SKU.

Only merchant-fulfilled offers get a DEFAULT quantity: an offer Amazon fulfils (AFN) takes its stock from
Amazon's centres, and a DEFAULT quantity would turn it into a merchant-fulfilled one and strand those units.
Each offer's fulfilment and product type are learnt from the Listings API (``AmazonOffer``, kept a day) and
from the FBA pull, before anything is published to it. A feed is recorded before ``createFeed`` is called; if
Amazon's answer never came, the feed is looked up at Amazon and waited for before anything is sent again.
Amazon's own orders are ``connectors.amazon_orders``'.
"""

import json
import time
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from connectors.amazon_orders import ORDER_CHANGE, AmazonOrders, MalformedAmazonData, event_time
from connectors.amazon_orders import report_from_notification as order_report
from connectors.clients import client_for
from connectors.http import (
    PartnerError,
    PartnerMalformedResponse,
    PartnerRequestError,
    PartnerUnavailable,
    RateLimit,
    RateLimiter,
)
from connectors.models import AmazonFeed, AmazonOffer, ConnectorAccount, OutboundMessage, SyncConflict, SyncJob
from connectors.publishing import latest_publication, settle_quantity_drift
from connectors.snapshots import ReadWindow, Snapshot, apply_snapshots
from connectors.sync import PageOutcome, record_page
from inventory.models import ChannelListing, StockMovement, Variant
from reservations.exceptions import UnknownSku

LISTINGS = "/listings/2021-08-01/items"
FEEDS = "/feeds/2021-06-30"
LISTINGS_FEED = "JSON_LISTINGS_FEED"
#: (rate per second, burst) per operation, from the models' usage plans.
QUOTAS = {
    "patchListingsItem": (5, 5),
    "getListingsItem": (5, 10),
    "searchListingsItems": (5, 5),
    "getInventorySummaries": (2, 2),
    "createFeedDocument": (0.0083, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2, 15),
    "getFeeds": (0.0222, 10),
    "getFeedDocument": (0.0222, 10),
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
}
#: From this many due publications on, one feed replaces one call per listing.
FEED_THRESHOLD = 20
FEED_MAX_MESSAGES = 10_000
#: nextToken lives 30 s; a checkpoint older than this starts the pull again.
NEXT_TOKEN_LIFETIME = timedelta(seconds=25)
#: What we learnt of an offer is read again after this long (a seller may switch it to or from FBA).
OFFER_FRESHNESS = timedelta(days=1)
#: searchListingsItems takes at most 20 identifiers (and answers 20 items a page).
SEARCH_BATCH = 20
#: Offers a full pull learns per round (its progress is kept round by round).
LEARN_BATCH = 1_000
#: Amazon's clock against ours, when an unanswered feed is looked for by its creation time.
CLOCK_MARGIN = timedelta(seconds=60)
FINISHED = ("DONE", "FATAL", "CANCELLED")
MFN_CHANNEL = "DEFAULT"


class AmazonConnector:
    feed_threshold = FEED_THRESHOLD
    feed_max_messages = FEED_MAX_MESSAGES

    def __init__(self, account: ConnectorAccount):
        self.account = account
        self.client = client_for(account)
        self.seller_id = account.settings["seller_id"]
        self.marketplace_id = account.settings["marketplace_id"]
        self.product_type = account.settings.get("product_type", "PRODUCT")
        self.feed_poll_seconds = float(account.settings.get("feed_poll_seconds", 30))
        self.feed_wait_seconds = float(account.settings.get("feed_wait_seconds", 600))

    def limiter(self, operation: str) -> RateLimiter:
        """Amazon's bucket less a token of burst and 5% of rate: a slot is taken before the call's login,
        so a late first call must not let the burst's last one land inside Amazon's refill time."""
        rate, burst = QUOTAS[operation]
        return RateLimiter(
            f"amazon:{self.seller_id}:{operation}", RateLimit(capacity=max(1, burst - 1), per_second=rate * 0.95)
        )

    def test_connection(self) -> str:
        self._summaries_page(None)
        return f"Connected to Amazon SP-API as seller {self.seller_id} in marketplace {self.marketplace_id}."

    # --- offers: who fulfils them, and their product type ---------------------------------------------

    def offers(self, skus: dict[int, str]) -> dict[int, AmazonOffer]:
        """The offers of these variants (``{variant id: SKU}``), learnt from the Listings API where not known or
        known too long; a variant Amazon has no listing of is left out."""
        known = {
            offer.variant_id: offer
            for offer in AmazonOffer.objects.filter(
                account=self.account, variant_id__in=list(skus), learnt_at__gte=timezone.now() - OFFER_FRESHNESS
            )
        }
        missing = {sku: variant_id for variant_id, sku in skus.items() if variant_id not in known}
        skus_missing = list(missing)
        learnt = []
        for start in range(0, len(skus_missing), SEARCH_BATCH):
            for item in self._listing_items(skus_missing[start : start + SEARCH_BATCH]):
                if item.get("sku") in missing:
                    learnt.append(self._offer(missing[item["sku"]], item))
        AmazonOffer.objects.bulk_create(
            learnt,
            update_conflicts=True,
            unique_fields=["account", "variant"],
            update_fields=["fulfillment", "product_type", "learnt_at"],
        )
        return known | {offer.variant_id: offer for offer in learnt}

    def _listing_items(self, skus: list[str]) -> list[dict]:
        body = self.client.get(
            f"{LISTINGS}/{self.seller_id}",
            {
                "marketplaceIds": self.marketplace_id,
                "identifiers": ",".join(skus),
                "identifiersType": "SKU",
                "includedData": "summaries,fulfillmentAvailability",
                "pageSize": SEARCH_BATCH,
            },
            limiter=self.limiter("searchListingsItems"),
        ).data
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise PartnerMalformedResponse("Amazon: a searchListingsItems answer without items.")
        return [item for item in items if isinstance(item, dict)]

    def _offer(self, variant_id: int, item: dict) -> AmazonOffer:
        """AFN when every fulfilment record is Amazon's; a listing with a DEFAULT one (or none yet) is ours to
        give a quantity."""
        codes = [entry.get("fulfillmentChannelCode") for entry in item.get("fulfillmentAvailability") or []]
        summaries = [s for s in item.get("summaries") or [] if isinstance(s, dict)]
        return AmazonOffer(
            account=self.account,
            variant_id=variant_id,
            fulfillment=AmazonOffer.Fulfillment.AFN
            if codes and MFN_CHANNEL not in codes
            else AmazonOffer.Fulfillment.MFN,
            product_type=(summaries[0].get("productType") if summaries else None) or self.product_type,
        )

    def _learn_fulfilled_by_amazon(self, variants) -> None:
        """SKUs the FBA inventory lists are offers Amazon fulfils (their product type is learnt when needed)."""
        AmazonOffer.objects.bulk_create(
            [AmazonOffer(account=self.account, variant=v, fulfillment=AmazonOffer.Fulfillment.AFN) for v in variants],
            update_conflicts=True,
            unique_fields=["account", "variant"],
            update_fields=["fulfillment", "learnt_at"],
        )

    def _publishable(self, messages: list[OutboundMessage]) -> tuple[list[tuple], dict[int, dict | PartnerError]]:
        """The messages to send with their MFN offers, and the outcome of the others: an AFN offer is left to
        Amazon's own stock (done, nothing sent), a SKU Amazon does not list is an error on its message."""
        offers = self.offers({m.payload["variant_id"]: m.payload["sku"] for m in messages})
        sendable, outcomes = [], {}
        for message in messages:
            offer = offers.get(message.payload["variant_id"])
            if offer is None:
                outcomes[message.pk] = PartnerRequestError(
                    f"Amazon has no listing of {message.payload['sku']} in {self.marketplace_id}: nothing to publish."
                )
            elif offer.fulfillment == AmazonOffer.Fulfillment.AFN:
                outcomes[message.pk] = {"skipped": "fulfilled by Amazon: its quantity is FBA's, never a DEFAULT one"}
            else:
                sendable.append((message, offer))
        return sendable, outcomes

    def _forget_offers(self, messages: list[OutboundMessage]) -> None:
        """A refused submission may come from what we learnt (a product type changed): learn it again."""
        AmazonOffer.objects.filter(
            account=self.account, variant_id__in=[m.payload["variant_id"] for m in messages]
        ).delete()

    # --- publishing --------------------------------------------------------------------------------------------

    def push(self, message: OutboundMessage) -> dict:
        if message.kind != OutboundMessage.Kind.PUBLISH_QUANTITY:
            raise PartnerRequestError(f"Amazon takes no {message.get_kind_display()} messages.")
        outcome = self._settle_earlier_feeds([message]).get(message.pk)
        if outcome is None:
            sendable, refused = self._publishable([message])
            outcome = refused.get(message.pk) or self._patch(*sendable[0])
        if isinstance(outcome, PartnerError):
            raise outcome
        return outcome

    def _patch(self, message: OutboundMessage, offer: AmazonOffer) -> dict:
        payload = message.payload
        response = self.client.request(
            "PATCH",
            f"{LISTINGS}/{self.seller_id}/{payload['sku']}",
            params={"marketplaceIds": self.marketplace_id},
            json={"productType": offer.product_type, "patches": self._patches(payload["quantity"])},
            idempotent=True,  # an absolute quantity: sending it twice changes nothing
            limiter=self.limiter("patchListingsItem"),
        ).data
        if response.get("status") == "INVALID":
            self._forget_offers([message])
            return PartnerRequestError(f"Amazon refused {payload['sku']}: {_issues(response.get('issues'))}")
        return {"submission_id": response.get("submissionId"), "status": response.get("status")}

    @staticmethod
    def _patches(quantity: int) -> list[dict]:
        return [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": MFN_CHANNEL, "quantity": quantity}],
            }
        ]

    def push_batch(self, messages: list[OutboundMessage]) -> dict[int, dict | PartnerError]:
        """One JSON_LISTINGS_FEED for many publications; each message's outcome from the processing report.

        Messages an earlier unanswered feed carried at their current quantity take that feed's outcome."""
        outcomes = self._settle_earlier_feeds(messages)
        sendable, refused = self._publishable([m for m in messages if m.pk not in outcomes])
        outcomes |= refused
        if sendable:
            outcomes |= self._send_feed(sendable)
        return outcomes

    def _send_feed(self, sendable: list[tuple[OutboundMessage, AmazonOffer]]) -> dict[int, dict | PartnerError]:
        feed = {
            "header": {"sellerId": self.seller_id, "version": "2.0", "issueLocale": "en_US"},
            "messages": [
                {
                    "messageId": index,
                    "sku": message.payload["sku"],
                    "operationType": "PATCH",
                    "productType": offer.product_type,
                    "patches": self._patches(message.payload["quantity"]),
                }
                for index, (message, offer) in enumerate(sendable, start=1)
            ],
        }
        content_type = "application/json; charset=UTF-8"
        document = self.client.post(
            f"{FEEDS}/documents", json={"contentType": content_type}, limiter=self.limiter("createFeedDocument")
        ).data
        upload = self.client.session.put(
            document["url"], data=json.dumps(feed).encode(), headers={"Content-Type": content_type}, timeout=(5, 60)
        )
        if upload.status_code >= 300:
            raise PartnerError(f"Amazon refused the feed upload ({upload.status_code}).", status=upload.status_code)
        record = AmazonFeed.objects.create(
            account=self.account,
            document_id=document["feedDocumentId"],
            quantities=[[message.pk, message.payload["quantity"]] for message, _ in sendable],
            started_at=timezone.now(),
        )
        try:
            record.feed_id = self.client.post(
                f"{FEEDS}/feeds",
                json={
                    "feedType": LISTINGS_FEED,
                    "marketplaceIds": [self.marketplace_id],
                    "inputFeedDocumentId": document["feedDocumentId"],
                },
                limiter=self.limiter("createFeed"),
            ).data["feedId"]
        except PartnerRequestError:  # refused outright: no feed was made, nothing to look for
            AmazonFeed.objects.filter(pk=record.pk).update(settled_at=timezone.now())
            raise
        AmazonFeed.objects.filter(pk=record.pk).update(feed_id=record.feed_id)
        return self._feed_outcomes(record, {message.pk: message for message, _ in sendable})

    def _feed_outcomes(
        self, record: AmazonFeed, messages: dict[int, OutboundMessage]
    ) -> dict[int, dict | PartnerError]:
        """The outcome of each of ``messages`` the feed carried at its current quantity, from the feed's report;
        the feed is settled."""
        report = self._await_report(record.feed_id)
        errors: dict[int, list[str]] = {}
        for issue in report.get("issues", []):
            if issue.get("severity") == "ERROR":
                errors.setdefault(int(issue.get("messageId", 0)), []).append(
                    issue.get("message", issue.get("code", ""))
                )
        outcomes: dict[int, dict | PartnerError] = {}
        for index, (message_pk, quantity) in enumerate(record.quantities, start=1):
            message = messages.get(message_pk)
            if message is None or message.payload["quantity"] != quantity:
                continue  # another's, or since rewritten: its new figure goes in a feed of its own
            outcomes[message_pk] = (
                PartnerRequestError(
                    f"Amazon refused {message.payload['sku']} in feed {record.feed_id}: {'; '.join(errors[index])}"
                )
                if index in errors
                else {"feed_id": record.feed_id}
            )
        self._forget_offers([messages[pk] for pk, outcome in outcomes.items() if isinstance(outcome, PartnerError)])
        AmazonFeed.objects.filter(pk=record.pk).update(settled_at=timezone.now())
        return outcomes

    def _settle_earlier_feeds(self, messages: list[OutboundMessage]) -> dict[int, dict | PartnerError]:
        """Before anything of these messages is sent again: the feeds that carried them and were never settled
        (their creation unanswered, their report never read) are found at Amazon and waited for. Messages such
        a feed carried at their current quantity take its outcome; the others are sent as usual."""
        wanted = {message.pk: message for message in messages}
        outcomes: dict[int, dict | PartnerError] = {}
        for record in AmazonFeed.objects.filter(account=self.account, settled_at__isnull=True).order_by("started_at"):
            if not {message_pk for message_pk, _ in record.quantities} & wanted.keys():
                continue
            record.feed_id = record.feed_id or self._find_feed(record)
            if not record.feed_id:
                AmazonFeed.objects.filter(pk=record.pk).update(settled_at=timezone.now())
                continue
            AmazonFeed.objects.filter(pk=record.pk).update(feed_id=record.feed_id)
            outcomes |= {pk: o for pk, o in self._feed_outcomes(record, wanted).items() if pk not in outcomes}
        return outcomes

    def _find_feed(self, record: AmazonFeed) -> str:
        """The feed an unanswered ``createFeed`` made, by its creation time ("" if it never reached Amazon).
        Several we cannot tell apart are all waited for: none of them can then overtake a new one."""
        answer_by = record.started_at + timedelta(seconds=self.client.timeout[1])
        if timezone.now() < answer_by:
            raise PartnerUnavailable(f"Amazon may still be creating the feed of {record.document_id}; looked up later.")
        body = self.client.get(
            f"{FEEDS}/feeds",
            {
                "feedTypes": LISTINGS_FEED,
                "marketplaceIds": self.marketplace_id,
                "createdSince": _amazon_time(record.started_at - CLOCK_MARGIN),
                "createdUntil": _amazon_time(min(timezone.now(), answer_by + CLOCK_MARGIN)),
                "pageSize": 100,
            },
            limiter=self.limiter("getFeeds"),
        ).data
        feeds = body.get("feeds") if isinstance(body, dict) else None
        if not isinstance(feeds, list):
            raise PartnerMalformedResponse("Amazon: a getFeeds answer without feeds.")
        ours = set(
            AmazonFeed.objects.filter(account=self.account).exclude(feed_id="").values_list("feed_id", flat=True)
        )
        candidates = [feed["feedId"] for feed in feeds if isinstance(feed, dict) and feed.get("feedId") not in ours]
        if len(candidates) == 1:
            return candidates[0]
        for feed_id in candidates:
            self._await_finished(feed_id)
        return ""

    def _await_finished(self, feed_id: str) -> dict:
        deadline = time.monotonic() + self.feed_wait_seconds
        while True:
            feed = self.client.get(f"{FEEDS}/feeds/{feed_id}", limiter=self.limiter("getFeed")).data
            status = feed.get("processingStatus")
            if status in FINISHED:
                return feed
            if time.monotonic() > deadline:
                raise PartnerError(f"Amazon feed {feed_id} still {status} after {self.feed_wait_seconds:.0f} s.")
            time.sleep(self.feed_poll_seconds)

    def _await_report(self, feed_id: str) -> dict:
        feed = self._await_finished(feed_id)
        status = feed.get("processingStatus")
        if status != "DONE" or not feed.get("resultFeedDocumentId"):
            raise PartnerError(f"Amazon feed {feed_id} ended {status}.")
        document = self.client.get(
            f"{FEEDS}/documents/{feed['resultFeedDocumentId']}", limiter=self.limiter("getFeedDocument")
        ).data
        report = self.client.session.get(document["url"], timeout=(5, 60))
        try:
            return report.json()
        except ValueError as error:
            raise PartnerMalformedResponse(f"Amazon feed {feed_id}: the processing report is not JSON.") from error

    # --- pulls: the FBA warehouse, and Amazon's own orders ----------------------------------------------------

    def pull(self, job: SyncJob) -> None:
        """Orders (their own job), else the FBA warehouse; a full pull also learns the channel's offers, so that
        publishing seldom has to ask first."""
        if job.kind == SyncJob.Kind.ORDERS:
            AmazonOrders(self).pull(job)
            return
        self._pull_fba(job)
        if job.kind == SyncJob.Kind.FULL and self.account.channel_id:
            self._learn_listed_offers()

    def _learn_listed_offers(self) -> None:
        listed = dict(
            ChannelListing.objects.filter(channel_id=self.account.channel_id)
            .exclude(
                variant__in=AmazonOffer.objects.filter(
                    account=self.account, learnt_at__gte=timezone.now() - OFFER_FRESHNESS
                ).values("variant")
            )
            .values_list("variant_id", "variant__sku")
        )
        variants = list(listed)
        for start in range(0, len(variants), LEARN_BATCH):
            self.offers({variant_id: listed[variant_id] for variant_id in variants[start : start + LEARN_BATCH]})

    def _pull_fba(self, job: SyncJob) -> None:
        """FBA inventory summaries into the mirrored FBA warehouse (fulfillable units), page by page."""
        checkpoint = dict(job.checkpoint)
        fresh = checkpoint.get("issued_at") and (
            datetime.now(UTC) - datetime.fromisoformat(checkpoint["issued_at"]) < NEXT_TOKEN_LIFETIME
        )
        token = checkpoint.get("next_token") if fresh else None
        while True:
            response = self._summaries_page(token)
            summaries = (response.data.get("payload") or {}).get("inventorySummaries")
            if not isinstance(summaries, list):
                raise PartnerMalformedResponse("Amazon: a summaries page without inventorySummaries.")
            token = (response.data.get("pagination") or {}).get("nextToken")
            with transaction.atomic():
                outcome = self._apply_summaries(summaries, ReadWindow(response.started_at, response.finished_at), job)
                checkpoint = {"next_token": token, "issued_at": response.finished_at.isoformat()}
                record_page(job, outcome, checkpoint=checkpoint, processed=len(summaries))
            if not token:
                return

    def _summaries_page(self, next_token: str | None):
        params = {
            "details": "true",
            "granularityType": "Marketplace",
            "granularityId": self.marketplace_id,
            "marketplaceIds": self.marketplace_id,
        }
        if next_token:
            params["nextToken"] = next_token
        return self.client.get("/fba/inventory/v1/summaries", params, limiter=self.limiter("getInventorySummaries"))

    def _apply_summaries(self, summaries: list[dict], window: ReadWindow, job: SyncJob) -> PageOutcome:
        outcome = PageOutcome()
        variants = {v.sku: v for v in Variant.objects.filter(sku__in=[s.get("sellerSku") for s in summaries])}
        snapshots = []
        for summary in summaries:
            variant = variants.get(summary.get("sellerSku"))
            if variant is None:
                outcome.failed += 1
                outcome.errors.append(f"Amazon FBA SKU {summary.get('sellerSku')!r} is not in our catalog; skipped.")
                continue
            details = summary.get("inventoryDetails") or {}
            snapshots.append(Snapshot(variant, int(details.get("fulfillableQuantity", 0))))
        self._learn_fulfilled_by_amazon([snapshot.variant for snapshot in snapshots])
        applied = apply_snapshots(self.account, snapshots, window, reference=f"amazon fba sync job {job.pk}")
        outcome.updated += applied.corrected
        outcome.unchanged += applied.unchanged + applied.deferred
        return outcome

    # --- notifications (relayed by an EventBridge API destination) ----------------------------------------

    def handle_webhook(self, event_type: str, payload, received_at) -> None:
        """An SP-API notification (or the EventBridge event carrying it); one we cannot read is rejected with the
        reason (MalformedAmazonData), never retried."""
        notification = payload.get("detail", payload) if isinstance(payload, dict) else None
        body = notification.get("Payload") if isinstance(notification, dict) else None
        if not isinstance(body, dict):
            raise MalformedAmazonData(f"Amazon {event_type or 'notification'} without a Payload object.")
        if event_type == "FBA_INVENTORY_AVAILABILITY_CHANGES":
            self._fba_changed(body, event_time(notification, received_at), received_at)
        elif event_type == ORDER_CHANGE:
            AmazonOrders(self).book(order_report(notification))
        elif event_type == "LISTINGS_ITEM_MFN_QUANTITY_CHANGE":
            try:
                sku, quantity = str(body["Sku"]), int(body["Quantity"])
            except (KeyError, TypeError, ValueError) as error:
                raise MalformedAmazonData(f"Amazon MFN quantity notification we cannot read: {error!r}.") from error
            self.mfn_quantity_changed(sku, quantity, as_of=event_time(notification, received_at))

    def _fba_changed(self, body: dict, as_of: datetime, received_at) -> None:
        """Amazon's own figure, true as of its event time: a later one already applied wins."""
        variant = Variant.objects.filter(sku=body.get("SKU")).first()
        if variant is None:
            raise UnknownSku([str(body.get("SKU"))])
        try:
            fulfillable = next(
                (
                    int(entry["FulfillmentInventory"]["Fulfillable"])
                    for entry in body.get("FulfillmentInventoryByMarketplace") or []
                    if entry.get("MarketplaceId") == self.marketplace_id
                ),
                None,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise MalformedAmazonData(f"Amazon FBA notification we cannot read: {error!r}.") from error
        if fulfillable is None:
            return
        self._learn_fulfilled_by_amazon([variant])
        apply_snapshots(
            self.account,
            [Snapshot(variant, fulfillable, as_of)],
            ReadWindow(received_at, received_at),
            source=StockMovement.Source.WEBHOOK,
            reference="amazon fba notification",
        )

    # --- drift ---------------------------------------------------------------------------------------------

    def mfn_quantity_changed(self, sku: str, quantity: int, as_of: datetime | None = None) -> SyncConflict | None:
        """Amazon reports an MFN quantity (true at ``as_of``): settled by strategy once Amazon's own orders are
        booked. A figure lower than the orders booked here explain is first explained by the ORDER_CHANGE events
        waiting to be processed, then by reading Amazon's orders up to ``as_of``: a unit sold there is never
        published back up."""
        listing, message = latest_publication(self.account, sku)
        if listing is None or message is None:
            return None
        if AmazonOffer.objects.filter(
            account=self.account, variant=listing.variant, fulfillment=AmazonOffer.Fulfillment.AFN
        ).exists():
            return None  # Amazon's own stock: not ours to publish
        orders = AmazonOrders(self)
        if not orders.explains(message, listing.variant_id, quantity):
            orders.book_waiting_notifications()
            message.refresh_from_db()
            if not orders.explains(message, listing.variant_id, quantity):
                orders.catch_up(as_of or timezone.now())
        return settle_quantity_drift(self.account, sku, quantity)


def _issues(issues) -> str:
    return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues or []) or "no reason given"


def _amazon_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
