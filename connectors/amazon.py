"""Amazon SP-API: the marketplace channel we publish MFN quantities to, and the FBA warehouse we mirror.

Quotas are per operation (patchListingsItem 5/s burst 5, getInventorySummaries 2/s burst 2, the
Feeds operations far lower), so each operation has its own shared bucket. One changed listing is
one ``patchListingsItem``; many are one ``JSON_LISTINGS_FEED``, whose processing report is read
back so that an error is reported against its own SKU.
"""

import json
import time
from datetime import UTC, datetime, timedelta

from django.db import transaction

from connectors.clients import client_for
from connectors.http import PartnerError, PartnerMalformedResponse, PartnerRequestError, RateLimit, RateLimiter
from connectors.models import ConnectorAccount, OutboundMessage, SyncConflict, SyncJob
from connectors.snapshots import ReadWindow, Snapshot, apply_snapshots
from connectors.sync import PageOutcome, record_page
from inventory.models import StockMovement, Variant
from reservations.exceptions import UnknownSku

LISTINGS = "/listings/2021-08-01/items"
FEEDS = "/feeds/2021-06-30"
#: (rate per second, burst) per operation, from the models' usage plans.
QUOTAS = {
    "patchListingsItem": (5, 5),
    "getListingsItem": (5, 10),
    "getInventorySummaries": (2, 2),
    "createFeedDocument": (0.0083, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2, 15),
    "getFeedDocument": (0.0222, 10),
}
#: From this many due publications on, one feed replaces one call per listing.
FEED_THRESHOLD = 20
FEED_MAX_MESSAGES = 10_000
#: nextToken lives 30 s; a checkpoint older than this starts the pull again.
NEXT_TOKEN_LIFETIME = timedelta(seconds=25)


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

    def _limiter(self, operation: str) -> RateLimiter:
        """Amazon's bucket less a token of burst and 5% of rate: a slot is taken before the call's login,
        so a late first call must not let the burst's last one land inside Amazon's refill time."""
        rate, burst = QUOTAS[operation]
        return RateLimiter(
            f"amazon:{self.seller_id}:{operation}", RateLimit(capacity=max(1, burst - 1), per_second=rate * 0.95)
        )

    def test_connection(self) -> str:
        self._summaries_page(None)
        return f"Connected to Amazon SP-API as seller {self.seller_id} in marketplace {self.marketplace_id}."

    # --- publishing --------------------------------------------------------------------------

    def push(self, message: OutboundMessage) -> dict:
        if message.kind != OutboundMessage.Kind.PUBLISH_QUANTITY:
            raise PartnerRequestError(f"Amazon takes no {message.get_kind_display()} messages.")
        payload = message.payload
        response = self.client.request(
            "PATCH",
            f"{LISTINGS}/{self.seller_id}/{payload['sku']}",
            params={"marketplaceIds": self.marketplace_id},
            json=self._patch_body(payload["quantity"]),
            idempotent=True,  # an absolute quantity: sending it twice changes nothing
            limiter=self._limiter("patchListingsItem"),
        ).data
        if response.get("status") == "INVALID":
            raise PartnerRequestError(f"Amazon refused {payload['sku']}: {_issues(response.get('issues'))}")
        return {"submission_id": response.get("submissionId"), "status": response.get("status")}

    def _patch_body(self, quantity: int) -> dict:
        return {
            "productType": self.product_type,
            "patches": [
                {
                    "op": "merge",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}],
                }
            ],
        }

    def push_batch(self, messages: list[OutboundMessage]) -> dict[int, dict | PartnerError]:
        """One JSON_LISTINGS_FEED for many publications; each message's outcome from the processing report."""
        feed = {
            "header": {"sellerId": self.seller_id, "version": "2.0", "issueLocale": "en_US"},
            "messages": [
                {
                    "messageId": index,
                    "sku": message.payload["sku"],
                    "operationType": "PATCH",
                    "productType": self.product_type,
                    "patches": self._patch_body(message.payload["quantity"])["patches"],
                }
                for index, message in enumerate(messages, start=1)
            ],
        }
        content_type = "application/json; charset=UTF-8"
        document = self.client.post(
            f"{FEEDS}/documents",
            json={"contentType": content_type},
            limiter=self._limiter("createFeedDocument"),
        ).data
        upload = self.client.session.put(
            document["url"], data=json.dumps(feed).encode(), headers={"Content-Type": content_type}, timeout=(5, 60)
        )
        if upload.status_code >= 300:
            raise PartnerError(f"Amazon refused the feed upload ({upload.status_code}).", status=upload.status_code)
        feed_id = self.client.post(
            f"{FEEDS}/feeds",
            json={
                "feedType": "JSON_LISTINGS_FEED",
                "marketplaceIds": [self.marketplace_id],
                "inputFeedDocumentId": document["feedDocumentId"],
            },
            limiter=self._limiter("createFeed"),
        ).data["feedId"]
        report = self._await_report(feed_id)
        errors: dict[int, list[str]] = {}
        for issue in report.get("issues", []):
            if issue.get("severity") == "ERROR":
                errors.setdefault(int(issue.get("messageId", 0)), []).append(
                    issue.get("message", issue.get("code", ""))
                )
        return {
            message.pk: (
                PartnerRequestError(
                    f"Amazon refused {message.payload['sku']} in feed {feed_id}: {'; '.join(errors[i])}"
                )
                if i in errors
                else {"feed_id": feed_id}
            )
            for i, message in enumerate(messages, start=1)
        }

    def _await_report(self, feed_id: str) -> dict:
        deadline = time.monotonic() + self.feed_wait_seconds
        while True:
            feed = self.client.get(f"{FEEDS}/feeds/{feed_id}", limiter=self._limiter("getFeed")).data
            status = feed.get("processingStatus")
            if status in ("DONE", "FATAL", "CANCELLED"):
                break
            if time.monotonic() > deadline:
                raise PartnerError(f"Amazon feed {feed_id} still {status} after {self.feed_wait_seconds:.0f} s.")
            time.sleep(self.feed_poll_seconds)
        if status != "DONE" or not feed.get("resultFeedDocumentId"):
            raise PartnerError(f"Amazon feed {feed_id} ended {status}.")
        document = self.client.get(
            f"{FEEDS}/documents/{feed['resultFeedDocumentId']}", limiter=self._limiter("getFeedDocument")
        ).data
        report = self.client.session.get(document["url"], timeout=(5, 60))
        try:
            return report.json()
        except ValueError as error:
            raise PartnerMalformedResponse(f"Amazon feed {feed_id}: the processing report is not JSON.") from error

    # --- the FBA warehouse -------------------------------------------------------------------

    def pull(self, job: SyncJob) -> None:
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
        return self.client.get("/fba/inventory/v1/summaries", params, limiter=self._limiter("getInventorySummaries"))

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
        applied = apply_snapshots(self.account, snapshots, window, reference=f"amazon fba sync job {job.pk}")
        outcome.updated += applied.corrected
        outcome.unchanged += applied.unchanged + applied.deferred
        return outcome

    # --- notifications (relayed by an EventBridge API destination) ----------------------------

    def handle_webhook(self, event_type: str, payload, received_at) -> None:
        notification = payload.get("detail", payload) if isinstance(payload, dict) else {}
        body = notification.get("Payload") or {}
        if event_type == "FBA_INVENTORY_AVAILABILITY_CHANGES":
            self._fba_changed(body, notification.get("EventTime"), received_at)
        elif event_type == "LISTINGS_ITEM_MFN_QUANTITY_CHANGE" and body.get("Sku") is not None:
            self.mfn_quantity_changed(str(body["Sku"]), int(body["Quantity"]))

    def _fba_changed(self, body: dict, event_time: str | None, received_at) -> None:
        """Amazon's own figure, true as of its event time: a later one already applied wins."""
        variant = Variant.objects.filter(sku=body.get("SKU")).first()
        if variant is None:
            raise UnknownSku([str(body.get("SKU"))])
        fulfillable = next(
            (
                int(entry["FulfillmentInventory"]["Fulfillable"])
                for entry in body.get("FulfillmentInventoryByMarketplace", [])
                if entry.get("MarketplaceId") == self.marketplace_id
            ),
            None,
        )
        if fulfillable is None:
            return
        as_of = datetime.fromisoformat(event_time.replace("Z", "+00:00")) if event_time else received_at
        apply_snapshots(
            self.account,
            [Snapshot(variant, fulfillable, as_of)],
            ReadWindow(received_at, received_at),
            source=StockMovement.Source.WEBHOOK,
            reference="amazon fba notification",
        )

    # --- drift ---------------------------------------------------------------------------------

    def mfn_quantity_changed(self, sku: str, quantity: int) -> SyncConflict | None:
        """Amazon reports an MFN quantity (a seller edited it in Seller Central): settle it by strategy."""
        from connectors.publishing import settle_quantity_drift

        return settle_quantity_drift(self.account, sku, quantity)


def _issues(issues) -> str:
    return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues or []) or "no reason given"
