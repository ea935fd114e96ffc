"""The Amazon sandbox's Orders v0, its buyer orders and ORDER_CHANGE, the AFN offers a DEFAULT quantity converts,
the product type it holds submissions to, and a slow Amazon: over real HTTP, answers held to our contract."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from connectors.sandbox.amazon import FBA_EVENT, MFN_EVENT, ORDER_EVENT, amazon_time
from tests.connectors.test_sandbox_amazon import TIMEOUT, Api, conforms, control, quantity_patch

ORDERS = "/orders/v0/orders"


@pytest.fixture
def api(amazon_sandbox):
    return Api(amazon_sandbox)


def get_orders(api, **params):
    params.setdefault("MarketplaceIds", api.sandbox.marketplace_id)
    return api.request("GET", ORDERS, params=params)


def an_hour_ago():
    return amazon_time(datetime.now(UTC) - timedelta(hours=1))


# --- buyer orders -------------------------------------------------------------------------------------------


def test_an_mfn_order_takes_its_units_at_once_and_notifies_order_first(amazon_sandbox, webhook_receiver):
    amazon_sandbox.add_listing("SKU-1", 5, price=12.5)
    amazon_sandbox.configure_webhook(webhook_receiver.url)

    answer = control(amazon_sandbox, "POST", "orders", {"sku": "SKU-1", "quantity": 2}).json()

    order = answer["order"]
    assert order["OrderStatus"] == "Pending"
    assert order["FulfillmentChannel"] == "MFN"
    assert "OrderTotal" not in order  # not charged yet
    assert amazon_sandbox.mfn_quantity("SKU-1") == 3
    change, quantity = (request.json for request in webhook_receiver.wait_for(2))
    assert (change["NotificationType"], quantity["NotificationType"]) == (ORDER_EVENT, MFN_EVENT)
    notice = change["Payload"]["OrderChangeNotification"]
    assert notice["AmazonOrderId"] == order["AmazonOrderId"]
    assert notice["Summary"]["OrderStatus"] == "Pending"
    assert notice["Summary"]["FulfillmentType"] == "MFN"
    ((item),) = notice["Summary"]["OrderItems"]
    assert (item["SellerSKU"], item["Quantity"]) == ("SKU-1", 2)
    assert quantity["Payload"]["Quantity"] == 3
    assert amazon_sandbox.notification_violations(change) == []


def test_quantity_notification_first_and_orders_beyond_the_offer_are_refused(amazon_sandbox, webhook_receiver):
    amazon_sandbox.add_listing("SKU-1", 2)
    amazon_sandbox.configure_webhook(webhook_receiver.url)

    refused = control(amazon_sandbox, "POST", "orders", {"sku": "SKU-1", "quantity": 3})
    amazon_sandbox.place_order("SKU-1", 2, quantity_notification_first=True)

    assert refused.status_code == 400
    assert "has 2 unit(s) for sale" in refused.json()["error"]
    first, second = (request.json for request in webhook_receiver.wait_for(2))
    assert (first["NotificationType"], second["NotificationType"]) == (MFN_EVENT, ORDER_EVENT)
    assert first["Payload"]["Quantity"] == 0


def test_an_afn_order_moves_fulfillable_units_to_pending_customer_orders(amazon_sandbox, webhook_receiver):
    amazon_sandbox.add_listing("FBA-1", fba=True, fulfillable=6)
    amazon_sandbox.add_listing("MFN-1", 4)
    amazon_sandbox.configure_webhook(webhook_receiver.url)

    order = amazon_sandbox.place_order("FBA-1", 2, fulfillment_channel="AFN", status="Unshipped")
    with pytest.raises(Exception, match="0 unit"):
        amazon_sandbox.place_order("MFN-1", 1, fulfillment_channel="AFN")  # not fulfilled by Amazon

    summary = amazon_sandbox.fba_inventory()[0]["inventoryDetails"]
    assert summary["fulfillableQuantity"] == 4
    assert summary["reservedQuantity"]["pendingCustomerOrderQuantity"] == 2
    assert order["OrderTotal"]["Amount"] == "20.00"
    kinds = [request.json["NotificationType"] for request in webhook_receiver.wait_for(2)]
    assert kinds == [ORDER_EVENT, FBA_EVENT]

    amazon_sandbox.ship_order(order["AmazonOrderId"])
    summary = amazon_sandbox.fba_inventory()[0]["inventoryDetails"]
    assert (summary["fulfillableQuantity"], summary["reservedQuantity"]["pendingCustomerOrderQuantity"]) == (4, 0)


def test_orders_move_on_and_a_cancellation_gives_the_units_back(amazon_sandbox, webhook_receiver):
    amazon_sandbox.add_listing("SKU-1", 5)
    amazon_sandbox.add_listing("SKU-2", 5)
    amazon_sandbox.add_listing("FBA-1", fba=True, fulfillable=6)
    shipped = amazon_sandbox.place_order(items=[{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 2}])
    cancelled = amazon_sandbox.place_order("SKU-1", 1)
    afn = amazon_sandbox.place_order("FBA-1", 2, fulfillment_channel="AFN")
    amazon_sandbox.configure_webhook(webhook_receiver.url)

    paid = control(amazon_sandbox, "POST", f"orders/{shipped['AmazonOrderId']}/status", {"status": "Unshipped"})
    partly = amazon_sandbox.set_order_status(shipped["AmazonOrderId"], "PartiallyShipped")
    done = control(amazon_sandbox, "POST", f"orders/{shipped['AmazonOrderId']}/ship").json()["order"]
    control(amazon_sandbox, "POST", f"orders/{cancelled['AmazonOrderId']}/cancel")
    control(amazon_sandbox, "POST", f"orders/{afn['AmazonOrderId']}/cancel")
    too_late = control(amazon_sandbox, "POST", f"orders/{shipped['AmazonOrderId']}/cancel")
    backwards = control(amazon_sandbox, "POST", f"orders/{shipped['AmazonOrderId']}/status", {"status": "Pending"})

    assert paid.json()["order"]["OrderStatus"] == "Unshipped"
    assert (partly["OrderStatus"], partly["NumberOfItemsShipped"], partly["NumberOfItemsUnshipped"]) == (
        "PartiallyShipped",
        1,
        2,
    )
    assert (done["OrderStatus"], done["NumberOfItemsShipped"]) == ("Shipped", 3)
    assert [line["QuantityShipped"] for line in done["_items"]] == [1, 2]
    assert (amazon_sandbox.mfn_quantity("SKU-1"), amazon_sandbox.mfn_quantity("SKU-2")) == (4, 3)  # cancelled: back
    assert amazon_sandbox.fba_quantity("FBA-1") == 6
    assert too_late.status_code == backwards.status_code == 400
    statuses = {order["AmazonOrderId"]: order["OrderStatus"] for order in amazon_sandbox.orders()}
    assert statuses == {
        shipped["AmazonOrderId"]: "Shipped",
        cancelled["AmazonOrderId"]: "Canceled",
        afn["AmazonOrderId"]: "Canceled",
    }
    changes = [r.json for r in webhook_receiver.wait_for(7) if r.json["NotificationType"] == ORDER_EVENT]
    assert [c["Payload"]["OrderChangeNotification"]["Summary"]["OrderStatus"] for c in changes] == [
        "Unshipped",
        "PartiallyShipped",
        "Shipped",
        "Canceled",
        "Canceled",
    ]
    assert all(amazon_sandbox.notification_violations(change) == [] for change in changes)


def test_an_order_change_can_be_published_again_with_a_new_id(amazon_sandbox, webhook_receiver):
    amazon_sandbox.add_listing("SKU-1", 5)
    order = amazon_sandbox.place_order("SKU-1", 1)
    amazon_sandbox.configure_webhook(webhook_receiver.url, events=[ORDER_EVENT])

    control(amazon_sandbox, "POST", f"orders/{order['AmazonOrderId']}/notify")
    amazon_sandbox.resend_order_change(order["AmazonOrderId"])

    first, second = (request.json for request in webhook_receiver.wait_for(2))
    assert first["Payload"] == second["Payload"]
    assert first["NotificationMetadata"]["NotificationId"] != second["NotificationMetadata"]["NotificationId"]


# --- Orders v0 ----------------------------------------------------------------------------------------------


def test_get_orders_by_last_update_filters_pages_and_names_its_bound(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 20)
    amazon_sandbox.add_listing("FBA-1", fba=True, fulfillable=5)
    ids = [amazon_sandbox.place_order("SKU-1", 1)["AmazonOrderId"] for _ in range(3)]
    afn = amazon_sandbox.place_order("FBA-1", 1, fulfillment_channel="AFN")["AmazonOrderId"]
    amazon_sandbox.cancel_order(ids[0])

    first = get_orders(api, LastUpdatedAfter=an_hour_ago(), FulfillmentChannels="MFN", MaxResultsPerPage=2)
    body = first.json()["payload"]
    second = get_orders(api, NextToken=body["NextToken"]).json()["payload"]

    assert first.status_code == 200
    assert conforms(amazon_sandbox, first) == []
    assert [o["AmazonOrderId"] for o in body["Orders"] + second["Orders"]] == [ids[1], ids[2], ids[0]]  # by update
    assert "NextToken" not in second
    assert body["LastUpdatedBefore"] == second["LastUpdatedBefore"]
    assert first.headers["x-amzn-RateLimit-Limit"] == "0.0167"
    cancelled = get_orders(api, LastUpdatedAfter=an_hour_ago(), OrderStatuses="Canceled").json()["payload"]
    assert [o["AmazonOrderId"] for o in cancelled["Orders"]] == [ids[0]]
    by_purchase = get_orders(api, CreatedAfter=an_hour_ago(), FulfillmentChannels="AFN").json()["payload"]
    assert [o["AmazonOrderId"] for o in by_purchase["Orders"]] == [afn]
    assert "CreatedBefore" in by_purchase
    later = get_orders(api, LastUpdatedAfter=amazon_time(datetime.now(UTC) + timedelta(minutes=1))).json()
    assert later["payload"]["Orders"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Either CreatedAfter or LastUpdatedAfter"),
        ({"CreatedAfter": "2026-01-01T00:00:00Z", "LastUpdatedAfter": "2026-01-01T00:00:00Z"}, "cannot be set"),
        ({"LastUpdatedAfter": "2026-01-01T00:00:00Z", "LastUpdatedBefore": "2099-01-01T00:00:00Z"}, "two minutes"),
        ({"LastUpdatedAfter": "yesterday"}, "not a valid ISO date-time"),
        ({"LastUpdatedAfter": "2026-01-01T00:00:00Z", "OrderStatuses": "Lost"}, "Invalid value(s): Lost"),
        ({"LastUpdatedAfter": "2026-01-01T00:00:00Z", "MaxResultsPerPage": "101"}, "between 1 and 100"),
        ({"LastUpdatedAfter": "2026-01-01T00:00:00Z", "MarketplaceIds": "A1F83G8C2ARO7P"}, "Invalid MarketplaceIds"),
        ({"NextToken": "nope"}, "Invalid NextToken"),
    ],
)
def test_get_orders_refuses_what_amazon_refuses(amazon_sandbox, api, params, message):
    response = get_orders(api, **params)

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["code"] == "InvalidInput"
    assert message in error["message"]


def test_get_order_and_its_items_priced_once_paid_for_and_paged(amazon_sandbox, api):
    for sku in ("SKU-1", "SKU-2", "SKU-3"):
        amazon_sandbox.add_listing(sku, 5, price=4.0)
    order = amazon_sandbox.place_order(items=[{"sku": s, "quantity": 2} for s in ("SKU-1", "SKU-2", "SKU-3")])
    order_id = order["AmazonOrderId"]
    amazon_sandbox.configure(order_items_page_size=2)

    pending = api.request("GET", f"{ORDERS}/{order_id}/orderItems")
    amazon_sandbox.set_order_status(order_id, "Unshipped")
    first = api.request("GET", f"{ORDERS}/{order_id}/orderItems").json()["payload"]
    rest = api.request("GET", f"{ORDERS}/{order_id}/orderItems", params={"NextToken": first["NextToken"]})
    single = api.request("GET", f"{ORDERS}/{order_id}")
    missing = api.request("GET", f"{ORDERS}/111-0000000-0000000/orderItems")

    assert conforms(amazon_sandbox, pending) == []
    assert all("ItemPrice" not in item for item in pending.json()["payload"]["OrderItems"])
    items = first["OrderItems"] + rest.json()["payload"]["OrderItems"]
    assert [(i["SellerSKU"], i["QuantityOrdered"], i["ItemPrice"]["Amount"]) for i in items] == [
        ("SKU-1", 2, "8.00"),
        ("SKU-2", 2, "8.00"),
        ("SKU-3", 2, "8.00"),
    ]
    assert conforms(amazon_sandbox, rest) == []
    assert single.json()["payload"]["OrderStatus"] == "Unshipped"
    assert single.headers["x-amzn-RateLimit-Limit"] == "0.5"
    assert conforms(amazon_sandbox, single) == []
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "NotFound"


def test_get_orders_keeps_its_usage_plan(amazon_sandbox, api):
    amazon_sandbox.configure(freeze_rate_clock=True)
    answers = [get_orders(api, LastUpdatedAfter=an_hour_ago()).status_code for _ in range(21)]

    assert answers == [200] * 20 + [429]
    amazon_sandbox.advance_clock(60)
    assert get_orders(api, LastUpdatedAfter=an_hour_ago()).status_code == 200


# --- AFN offers and product types -----------------------------------------------------------------------


def test_a_default_quantity_converts_an_fba_offer_and_strands_its_units(amazon_sandbox, api):
    amazon_sandbox.add_listing("FBA-1", fba=True, fulfillable=9)
    amazon_sandbox.add_listing("FBA-2", fba=True, fulfillable=3)

    assert api.patch_listing("FBA-1", quantity_patch(4, op="merge")).json()["status"] == "ACCEPTED"
    both = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [
                    {"fulfillment_channel_code": "DEFAULT", "quantity": 2},
                    {"fulfillment_channel_code": "AMAZON_NA"},
                ],
            }
        ],
    }
    api.patch_listing("FBA-2", both)

    converted = amazon_sandbox.listing("FBA-1")
    assert converted["channels"] == ["DEFAULT"]
    assert converted["issues"][0]["code"] == "STRANDED_INVENTORY"
    assert amazon_sandbox.fba_quantity("FBA-1") == 9  # still there, no longer on offer
    with pytest.raises(Exception, match="0 unit"):
        amazon_sandbox.place_order("FBA-1", 1, fulfillment_channel="AFN")
    assert amazon_sandbox.listing("FBA-2")["channels"] == ["DEFAULT", "AMAZON_NA"]  # multiple fulfilment, asked for


def test_a_product_type_other_than_the_listings_is_invalid_in_patches_and_feeds(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 5, product_type="LUGGAGE")

    answer = api.patch_listing("SKU-1", quantity_patch(7, product_type="PRODUCT")).json()
    right = api.patch_listing("SKU-1", quantity_patch(7, product_type="LUGGAGE")).json()

    assert answer["status"] == "INVALID"
    assert answer["issues"][0]["code"] == "4000004"
    assert "LUGGAGE" in answer["issues"][0]["message"]
    assert right["status"] == "ACCEPTED"
    assert amazon_sandbox.mfn_quantity("SKU-1") == 7


# --- a slow Amazon ----------------------------------------------------------------------------------------------


def test_a_slow_operation_is_done_before_its_late_answer(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 5)
    amazon_sandbox.configure(slow_operation="patchListingsItem", slow_operation_ms=600)
    started = time.monotonic()

    with pytest.raises(requests.Timeout):
        api.session.patch(
            api.sandbox.api_url + api.item_path("SKU-1"),
            params={"marketplaceIds": amazon_sandbox.marketplace_id},
            json=quantity_patch(2),
            headers={"x-amz-access-token": api.token},
            timeout=(TIMEOUT, 0.2),
        )

    assert amazon_sandbox.mfn_quantity("SKU-1") == 2
    assert time.monotonic() - started < 0.6


def test_get_feeds_filters_by_creation_time_and_marketplace(amazon_sandbox, api):
    document = api.request("POST", "/feeds/2021-06-30/documents", json={"contentType": "application/json"}).json()
    body = {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": ["ATVPDKIKX0DER"]}
    feed_id = api.request(
        "POST", "/feeds/2021-06-30/feeds", json={**body, "inputFeedDocumentId": document["feedDocumentId"]}
    ).json()["feedId"]
    now = datetime.now(UTC)

    def listed(**params):
        query = {"feedTypes": "JSON_LISTINGS_FEED", **params}
        return [feed["feedId"] for feed in api.request("GET", "/feeds/2021-06-30/feeds", params=query).json()["feeds"]]

    assert listed(createdSince=amazon_time(now - timedelta(minutes=1))) == [feed_id]
    assert listed(createdSince=amazon_time(now + timedelta(minutes=1))) == []
    assert listed(createdUntil=amazon_time(now - timedelta(minutes=1))) == []
    assert listed(marketplaceIds="A1F83G8C2ARO7P") == []
    assert listed(marketplaceIds="ATVPDKIKX0DER") == [feed_id]
