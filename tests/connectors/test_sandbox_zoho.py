"""The Zoho Inventory sandbox speaks partner-apis.md section A over real HTTP."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from connectors.sandbox import ZohoSandbox
from connectors.sandbox.base import ControlError
from connectors.sandbox.zoho import THROTTLE_MESSAGE, parse_zoho_time, zoho_time

TIMEOUT = 5


class Api:
    """A minimal Zoho client for the tests: org id as a query parameter, a token minted directly."""

    def __init__(self, sandbox, token=None):
        self.sandbox = sandbox
        self.token = token or sandbox.issue_access_token()
        self.session = requests.Session()

    def headers(self):
        return {"Authorization": f"Zoho-oauthtoken {self.token}"}

    def get(self, path, **params):
        params.setdefault("organization_id", self.sandbox.organization_id)
        return self.session.get(self.sandbox.api_url + path, params=params, headers=self.headers(), timeout=TIMEOUT)

    def post(self, path, body, **params):
        params.setdefault("organization_id", self.sandbox.organization_id)
        return self.session.post(
            self.sandbox.api_url + path, params=params, json=body, headers=self.headers(), timeout=TIMEOUT
        )


@pytest.fixture
def api(zoho_sandbox):
    return Api(zoho_sandbox)


def control(sandbox, method, path, body=None):
    response = requests.request(method, sandbox.url + "/_sandbox/" + path, json=body, timeout=TIMEOUT)
    return response


def refresh(sandbox, **overrides):
    params = {
        "refresh_token": sandbox.refresh_token,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "grant_type": "refresh_token",
        **overrides,
    }
    return requests.post(sandbox.url + "/oauth/v2/token", params=params, timeout=TIMEOUT)


def sales_order(sandbox, item_id, quantity=2, **extra):
    return {"customer_id": sandbox.customer_id, "line_items": [{"item_id": item_id, "quantity": quantity}], **extra}


# --- OAuth ---------------------------------------------------------------------------------------------------


def test_refresh_token_grant_returns_a_working_token(zoho_sandbox):
    response = refresh(zoho_sandbox)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["api_domain"] == zoho_sandbox.url
    assert body["access_token"].startswith("1000.")
    items = Api(zoho_sandbox, token=body["access_token"]).get("/items")
    assert items.status_code == 200
    assert items.json()["code"] == 0


def test_refresh_accepts_a_form_body(zoho_sandbox):
    response = requests.post(
        zoho_sandbox.url + "/oauth/v2/token",
        data={
            "refresh_token": zoho_sandbox.refresh_token,
            "client_id": zoho_sandbox.client_id,
            "client_secret": zoho_sandbox.client_secret,
            "grant_type": "refresh_token",
        },
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    assert "access_token" in response.json()


def test_bad_refresh_token_is_http_200_invalid_code_and_bad_client_invalid_client(zoho_sandbox):
    bad_token = refresh(zoho_sandbox, refresh_token="1000.nope.nope")
    bad_client = refresh(zoho_sandbox, client_secret="wrong")

    assert (bad_token.status_code, bad_token.json()) == (200, {"error": "invalid_code"})
    assert (bad_client.status_code, bad_client.json()) == (200, {"error": "invalid_client"})


def test_more_than_ten_tokens_in_ten_minutes_is_access_denied(zoho_sandbox):
    for _ in range(10):
        assert "access_token" in refresh(zoho_sandbox).json()

    denied = refresh(zoho_sandbox)

    assert denied.status_code == 400
    assert denied.json() == {"error": "Access Denied", "error_description": THROTTLE_MESSAGE}
    zoho_sandbox.advance_clock(601)
    assert "access_token" in refresh(zoho_sandbox).json()


def test_revoked_refresh_token_stops_working(zoho_sandbox):
    assert control(zoho_sandbox, "POST", "tokens/revoke", {"refresh_token": True}).status_code == 200

    assert refresh(zoho_sandbox).json() == {"error": "invalid_code"}


# --- API auth and organization -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Zoho-oauthtoken 1000.unknown.token", "Basic abc", "Zoho-oauthtoken "],
)
def test_missing_or_unknown_token_is_401_code_57(zoho_sandbox, header):
    headers = {"Authorization": header} if header else {}
    response = requests.get(
        zoho_sandbox.api_url + "/items",
        params={"organization_id": zoho_sandbox.organization_id},
        headers=headers,
        timeout=TIMEOUT,
    )

    assert response.status_code == 401
    assert response.json() == {"code": 57, "message": "You are not authorized to perform this operation"}


def test_bearer_scheme_is_accepted(zoho_sandbox):
    token = zoho_sandbox.issue_access_token()
    response = requests.get(
        zoho_sandbox.api_url + "/locations",
        params={"organization_id": zoho_sandbox.organization_id},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 200


def test_tokens_expire_with_the_clock_and_on_demand(zoho_sandbox):
    zoho_sandbox.configure(token_lifetime=60)
    first = Api(zoho_sandbox, token=refresh(zoho_sandbox).json()["access_token"])
    assert first.get("/items").status_code == 200

    zoho_sandbox.advance_clock(61)
    assert first.get("/items").status_code == 401

    second = Api(zoho_sandbox)
    assert second.get("/items").status_code == 200
    assert control(zoho_sandbox, "POST", "tokens/expire").json() == {"expired": 2}
    assert second.get("/items").json()["code"] == 57


def test_organization_is_required_and_may_come_as_a_header(zoho_sandbox, api):
    missing = requests.get(zoho_sandbox.api_url + "/items", headers=api.headers(), timeout=TIMEOUT)
    wrong = api.get("/items", organization_id="999")
    by_header = requests.get(
        zoho_sandbox.api_url + "/items",
        headers={**api.headers(), "X-com-zoho-inventory-organizationid": zoho_sandbox.organization_id},
        timeout=TIMEOUT,
    )

    assert (missing.status_code, missing.json()["code"]) == (400, 6024)
    assert (wrong.status_code, wrong.json()["code"]) == (400, 6041)
    assert "999" in wrong.json()["message"]
    assert by_header.status_code == 200


def test_unknown_url_and_wrong_method(api):
    assert api.get("/nothing-here").json() == {"code": 5, "message": "Invalid URL Passed"}
    wrong = api.session.delete(api.sandbox.api_url + "/items", headers=api.headers(), timeout=TIMEOUT)
    assert wrong.status_code == 405
    assert wrong.json()["code"] == 37


# --- items, pagination, filters ------------------------------------------------------------------------------


def test_pagination_walks_every_item_once_and_caps_per_page(zoho_sandbox, api):
    zoho_sandbox.seed(items=450)

    seen = []
    contexts = []
    for page in range(1, 10):
        body = api.get("/items", page=page, per_page=200).json()
        seen += [item["item_id"] for item in body["items"]]
        contexts.append(body["page_context"])
        if not body["page_context"]["has_more_page"]:
            break

    assert len(seen) == len(set(seen)) == 450
    assert [c["has_more_page"] for c in contexts] == [True, True, False]
    assert contexts[0] == {
        "page": 1,
        "per_page": 200,
        "has_more_page": True,
        "report_name": "Items",
        "applied_filter": "Status.All",
        "sort_column": "name",
        "sort_order": "A",
    }
    capped = api.get("/items", per_page=1000).json()
    assert capped["page_context"]["per_page"] == 200
    assert len(capped["items"]) == 200
    assert api.get("/items", page="x").status_code == 400


def test_list_items_carry_the_documented_fields(zoho_sandbox, api):
    zoho_sandbox.seed(items=3)

    item = api.get("/items").json()["items"][0]

    for field in (
        "item_id", "name", "sku", "status", "rate", "purchase_rate", "reorder_level", "upc", "ean",
        "category_id", "category_name", "brand", "created_time", "last_modified_time", "locations",
    ):  # fmt: skip
        assert field in item, field
    assert item["item_id"].isdigit()
    assert len(item["item_id"]) >= 15
    assert "warehouses" not in item
    location = item["locations"][0]
    assert isinstance(location["location_stock_on_hand"], int)
    assert set(location) >= {
        "location_id",
        "location_name",
        "status",
        "is_primary",
        "location_stock_on_hand",
        "location_available_stock",
        "location_actual_available_stock",
    }
    assert parse_zoho_time(item["last_modified_time"]).year == 2025


def test_per_location_stock_strings_and_legacy_warehouses(zoho_sandbox, api):
    created = zoho_sandbox.add_item(sku="W-1", stock={"Head Office": 50, "East Warehouse": 7})
    zoho_sandbox.configure(include_warehouses=True, stock_as_strings=True)

    item = api.get(f"/items/{created['item_id']}").json()["item"]

    assert item["stock_on_hand"] == 57
    assert item["track_inventory"] is True
    head_office = next(loc for loc in item["locations"] if loc["location_name"] == "Head Office")
    assert head_office["location_stock_on_hand"] == "50"
    assert head_office["is_primary"] is True
    warehouse = next(w for w in item["warehouses"] if w["warehouse_name"] == "East Warehouse")
    assert warehouse["warehouse_stock_on_hand"] == "7"
    assert warehouse["warehouse_available_for_sale_stock"] == "7"
    east_only = api.get("/items", location_id=warehouse["warehouse_id"]).json()["items"]
    assert [i["stock_on_hand"] for i in east_only] == [7]


def test_last_modified_time_filter_in_every_documented_format(zoho_sandbox, api):
    zoho_sandbox.seed(items=30)
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    target = api.get("/items", per_page=5).json()["items"][3]
    zoho_sandbox.adjust_stock(target["sku"], "Head Office", 5)

    def changed(since_text):
        response = api.get("/items", last_modified_time=since_text, sort_column="last_modified_time")
        assert response.status_code == 200, response.text
        return [item["sku"] for item in response.json()["items"]]

    india = before.astimezone(datetime.strptime("+0530", "%z").tzinfo)
    assert changed(before.strftime("%Y-%m-%dT%H:%M:%SZ")) == [target["sku"]]
    assert changed(india.strftime("%Y-%m-%dT%H:%M:%S%z")) == [target["sku"]]
    assert changed(india.strftime("%Y-%m-%dT%H:%M:%S+05:30")) == [target["sku"]]
    unencoded = requests.get(
        f"{zoho_sandbox.api_url}/items?organization_id={zoho_sandbox.organization_id}"
        f"&last_modified_time={india.strftime('%Y-%m-%dT%H:%M:%S+0530')}",
        headers=api.headers(),
        timeout=TIMEOUT,
    )
    assert [i["sku"] for i in unencoded.json()["items"]] == [target["sku"]]
    assert len(changed("2025-01-01T00:00:00Z")) == 30
    assert api.get("/items", last_modified_time="yesterday").status_code == 400
    newest = api.get("/items", sort_column="last_modified_time", sort_order="D").json()["items"][0]
    assert newest["sku"] == target["sku"]


def test_item_lookups_locations_and_categories(zoho_sandbox, api):
    created = zoho_sandbox.seed(items=5)
    ids = [created[0]["item_id"], created[2]["item_id"], "1"]

    details = api.get("/itemdetails", item_ids=",".join(ids)).json()["items"]
    missing = api.get("/items/4815000000999999")
    by_sku = api.get("/items", sku=created[1]["sku"]).json()["items"]
    locations = api.get("/locations").json()["locations"]
    categories = api.get("/categories").json()["categories"]

    assert [d["item_id"] for d in details] == ids[:2]
    assert (missing.status_code, missing.json()["code"]) == (404, 1002)
    assert [i["item_id"] for i in by_sku] == [created[1]["item_id"]]
    assert [loc["location_name"] for loc in locations] == ["Head Office", "East Warehouse"]
    assert categories[0]["category_id"] == "-1"
    assert all(c["parent_category_id"] == "-1" for c in categories[1:])
    assert api.get("/organizations").json()["organizations"][0]["organization_id"] == zoho_sandbox.organization_id


def test_seeding_is_deterministic_and_fast():
    first, second = ZohoSandbox(), ZohoSandbox()
    started = time.monotonic()
    created = first.seed(items=10_000)
    elapsed = time.monotonic() - started

    assert elapsed < 2
    assert len({item["sku"] for item in created}) == 10_000
    assert second.seed(items=10_000) == created
    assert first.item(created[-1]["sku"]) == second.item(created[-1]["sku"])


# --- sales orders --------------------------------------------------------------------------------------------


def test_confirmed_sales_order_reduces_stock_at_the_line_location(zoho_sandbox, api):
    item = zoho_sandbox.add_item(sku="TEE-1", stock={"Head Office": 10, "East Warehouse": 4})
    east = zoho_sandbox.location_id("East Warehouse")
    before = item["last_modified_time"]
    zoho_sandbox.advance_clock(2)

    response = api.post(
        "/salesorders",
        {
            "customer_id": zoho_sandbox.customer_id,
            "reference_number": "SP-1001",
            "line_items": [{"item_id": item["item_id"], "quantity": 3, "rate": 12.5, "location_id": east}],
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["code"] == 0
    order = body["salesorder"]
    assert body["sales_order"] == order
    assert order["status"] == "confirmed"
    assert order["shipped_status"] == "fulfilled"
    assert order["salesorder_number"] == "SO-00001"
    assert order["reference_number"] == "SP-1001"
    assert order["total"] == 37.5
    assert order["line_items"][0]["location_id"] == east
    assert zoho_sandbox.stock("TEE-1", "East Warehouse") == 1
    assert zoho_sandbox.stock("TEE-1", "Head Office") == 10
    assert zoho_sandbox.item("TEE-1")["last_modified_time"] > before
    listed = api.get("/salesorders", reference_number="SP-1001").json()
    assert [o["salesorder_id"] for o in listed["salesorders"]] == [order["salesorder_id"]]
    assert api.get(f"/salesorders/{order['salesorder_id']}").json()["salesorder"]["total"] == 37.5


def test_sales_order_lag_commits_first_and_ships_on_apply(zoho_sandbox, api):
    zoho_sandbox.configure(apply_sales_orders_immediately=False)
    item = zoho_sandbox.add_item(sku="MUG-1", stock={"Head Office": 10})

    order = api.post("/salesorders", sales_order(zoho_sandbox, item["item_id"], quantity=4)).json()["salesorder"]

    location = api.get(f"/items/{item['item_id']}").json()["item"]["locations"][0]
    assert order["shipped_status"] == "pending"
    assert location["location_stock_on_hand"] == 10
    assert location["location_actual_available_stock"] == 6
    assert location["location_committed_stock"] == 4
    applied = control(zoho_sandbox, "POST", "orders/apply").json()
    assert applied == {"applied": [order["salesorder_id"]]}
    location = api.get(f"/items/{item['item_id']}").json()["item"]["locations"][0]
    assert (location["location_stock_on_hand"], location["location_committed_stock"]) == (6, 0)
    listed = control(zoho_sandbox, "GET", "orders").json()["orders"]
    assert listed[0]["shipped_status"] == "fulfilled"
    assert listed[0]["_sandbox"]["applied"] is True


def test_draft_orders_wait_for_confirmation_and_void_gives_stock_back(zoho_sandbox, api):
    zoho_sandbox.configure(sales_order_status="draft")
    item = zoho_sandbox.add_item(sku="CAP-1", stock={"Head Office": 5})
    order = api.post("/salesorders", sales_order(zoho_sandbox, item["item_id"])).json()["salesorder"]
    assert order["status"] == "draft"
    assert zoho_sandbox.stock("CAP-1", "Head Office") == 5

    confirmed = api.post(f"/salesorders/{order['salesorder_id']}/status/confirmed", {})
    assert confirmed.json()["code"] == 0
    assert zoho_sandbox.stock("CAP-1", "Head Office") == 3

    voided = api.post(f"/salesorders/{order['salesorder_id']}/status/void", {})
    assert voided.json()["code"] == 0
    assert zoho_sandbox.stock("CAP-1", "Head Office") == 5


def test_sales_order_validation(zoho_sandbox, api):
    item = zoho_sandbox.add_item(sku="SOCK-1", stock={"Head Office": 5})

    no_customer = api.post("/salesorders", {"line_items": [{"item_id": item["item_id"], "quantity": 1}]})
    unknown_item = api.post("/salesorders", sales_order(zoho_sandbox, "4815000000999999"))
    numeric_id = api.post("/salesorders", sales_order(zoho_sandbox, int(item["item_id"])))
    not_json = api.session.post(
        zoho_sandbox.api_url + "/salesorders",
        params={"organization_id": zoho_sandbox.organization_id},
        data="{oops",
        headers={**api.headers(), "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )

    assert no_customer.status_code == 400
    assert "customer_id" in no_customer.json()["message"]
    assert (unknown_item.status_code, unknown_item.json()["code"]) == (400, 1002)
    assert numeric_id.status_code == 400
    assert numeric_id.json()["message"] == (
        f"Invalid request body: line_items/0/item_id: {item['item_id']} is not of type 'string'"
    )
    assert not_json.status_code == 400
    assert zoho_sandbox.stock("SOCK-1", "Head Office") == 5
    assert zoho_sandbox.orders() == []


def test_own_sales_order_numbers_must_be_given_and_unique(zoho_sandbox, api):
    item = zoho_sandbox.add_item(sku="BAG-1", stock={"Head Office": 5})
    body = sales_order(zoho_sandbox, item["item_id"], quantity=1)

    missing = api.post("/salesorders", body, ignore_auto_number_generation="true")
    first = api.post("/salesorders", {**body, "salesorder_number": "WEB-1"}, ignore_auto_number_generation="true")
    again = api.post("/salesorders", {**body, "salesorder_number": "WEB-1"}, ignore_auto_number_generation="true")

    assert missing.status_code == 400
    assert "salesorder_number" in missing.json()["message"]
    assert first.json()["salesorder"]["salesorder_number"] == "WEB-1"
    assert (again.status_code, again.json()["code"]) == (400, 1001)


def test_json_string_form_body_is_accepted(zoho_sandbox, api):
    item = zoho_sandbox.add_item(sku="FORM-1", stock={"Head Office": 5})

    response = api.session.post(
        zoho_sandbox.api_url + "/salesorders",
        params={"organization_id": zoho_sandbox.organization_id},
        data={"JSONString": json.dumps(sales_order(zoho_sandbox, item["item_id"]))},
        headers=api.headers(),
        timeout=TIMEOUT,
    )

    assert response.status_code == 201
    assert zoho_sandbox.stock("FORM-1", "Head Office") == 3


def test_concurrent_sales_orders_are_all_applied(zoho_sandbox):
    item = zoho_sandbox.add_item(sku="RACE-1", stock={"Head Office": 100})
    statuses = []

    def sell():
        client = Api(zoho_sandbox)
        for _ in range(5):
            statuses.append(client.post("/salesorders", sales_order(zoho_sandbox, item["item_id"], 1)).status_code)

    threads = [threading.Thread(target=sell) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert statuses == [201] * 40
    assert zoho_sandbox.stock("RACE-1", "Head Office") == 60
    assert len({o["salesorder_number"] for o in zoho_sandbox.orders()}) == 40


# --- inventory adjustments -----------------------------------------------------------------------------------


def test_inventory_adjustment_applies_a_signed_delta(zoho_sandbox, api):
    item = zoho_sandbox.add_item(sku="LAMP-1", stock={"Head Office": 10})
    head_office = zoho_sandbox.location_id("Head Office")

    response = api.post(
        "/inventoryadjustments",
        {
            "date": "2026-11-21",
            "reason": "Stock sync",
            "reference_number": "REF-IA-1",
            "adjustment_type": "quantity",
            "location_id": head_office,
            "line_items": [{"item_id": item["item_id"], "quantity_adjusted": -3, "location_id": head_office}],
        },
    )

    assert response.status_code == 200
    adjustment = response.json()["inventory_adjustment"]
    assert adjustment["line_items"][0]["quantity_adjusted"] == -3
    assert adjustment["reference_number"] == "REF-IA-1"
    assert zoho_sandbox.stock("LAMP-1", "Head Office") == 7
    assert api.get(f"/inventoryadjustments/{adjustment['inventory_adjustment_id']}").json()["code"] == 0
    assert len(api.get("/inventoryadjustments").json()["inventory_adjustments"]) == 1
    assert control(zoho_sandbox, "GET", "adjustments").json()["adjustments"][0]["reason"] == "Stock sync"


def test_inventory_adjustment_without_required_fields_is_refused(zoho_sandbox, api):
    item = zoho_sandbox.add_item(sku="LAMP-2", stock={"Head Office": 10})

    response = api.post(
        "/inventoryadjustments",
        {"date": "2026-11-21", "adjustment_type": "quantity", "line_items": [{"item_id": item["item_id"]}]},
    )

    assert response.status_code == 400
    assert response.json()["code"] == 4
    assert "required property" in response.json()["message"]
    assert zoho_sandbox.stock("LAMP-2", "Head Office") == 10


# --- rate limits ---------------------------------------------------------------------------------------------


def test_rate_limit_per_organization_answers_429(zoho_sandbox, api):
    zoho_sandbox.configure(rate_per_minute=5)

    statuses = [api.get("/locations").status_code for _ in range(7)]

    assert statuses == [200] * 5 + [429] * 2
    throttled = api.get("/locations")
    assert throttled.json() == {"code": 45, "message": THROTTLE_MESSAGE}
    assert requests.get(zoho_sandbox.url + "/_sandbox/", timeout=TIMEOUT).status_code == 200
    assert refresh(zoho_sandbox).status_code == 200  # the accounts server is not the API's bucket


def test_under_the_default_limit_nothing_is_throttled(zoho_sandbox, api):
    assert {api.get("/locations").status_code for _ in range(60)} == {200}


def test_concurrency_cap_answers_429(zoho_sandbox):
    zoho_sandbox.configure(concurrency_limit=2)
    zoho_sandbox.configure_faults(latency_ms=800)
    statuses = []

    def call():
        statuses.append(Api(zoho_sandbox).get("/locations").status_code)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(statuses) == [200, 200, 429, 429, 429]
    assert {r.fault for r in zoho_sandbox.logged_requests() if r.status == 429} == {"concurrency"}


def test_daily_limit(zoho_sandbox, api):
    zoho_sandbox.configure(daily_limit=3)

    assert [api.get("/locations").status_code for _ in range(4)] == [200, 200, 200, 429]


# --- faults --------------------------------------------------------------------------------------------------


def test_error_fault_answers_a_zoho_shaped_5xx(zoho_sandbox, api):
    zoho_sandbox.configure_faults(error_rate=1.0, error_status=503)

    response = api.get("/items")

    assert response.status_code == 503
    assert response.json() == {"code": 1000, "message": "Internal error"}


def test_malformed_fault_answers_200_with_broken_json(zoho_sandbox, api):
    zoho_sandbox.configure_faults(malformed_rate=1.0)

    response = api.get("/items")

    assert response.status_code == 200
    with pytest.raises(ValueError):  # noqa: PT011 - json.JSONDecodeError or requests' subclass
        response.json()


def test_drop_fault_closes_the_connection_without_an_answer(zoho_sandbox, api):
    item = zoho_sandbox.add_item(sku="DROP-1", stock={"Head Office": 5})
    zoho_sandbox.configure_faults(drop_rate=1.0)

    with pytest.raises(requests.ConnectionError):
        api.post("/salesorders", sales_order(zoho_sandbox, item["item_id"]))

    assert zoho_sandbox.stock("DROP-1", "Head Office") == 5  # faults come before handling
    record = zoho_sandbox.logged_requests(method="POST")[0]
    assert (record.status, record.fault) == (None, "drop")


def test_throttle_storm_and_latency(zoho_sandbox, api):
    zoho_sandbox.configure_faults(throttle_storm=True)
    assert api.get("/items").status_code == 429

    zoho_sandbox.configure_faults(throttle_storm=False, latency_ms=250)
    started = time.monotonic()
    assert api.get("/items").status_code == 200
    assert time.monotonic() - started >= 0.25


def test_seeded_faults_repeat_and_spare_the_control_api(zoho_sandbox, api):
    def run():
        zoho_sandbox.configure_faults(error_rate=0.5, seed=7)
        return [api.get("/locations").status_code for _ in range(12)]

    first = run()
    second = run()

    assert first == second
    assert set(first) == {200, 500}
    assert control(zoho_sandbox, "GET", "").status_code == 200
    assert control(zoho_sandbox, "DELETE", "faults").json()["error_rate"] == 0.0


# --- control API, request log, webhooks ----------------------------------------------------------------------


def test_control_api_over_http(zoho_sandbox):
    seeded = control(zoho_sandbox, "POST", "seed", {"items": 12, "locations": ["Head Office", "Pop-up"]}).json()
    sku = seeded["items"][0]["sku"]
    set_response = control(zoho_sandbox, "POST", "stock", {"sku": sku, "location": "Pop-up", "on_hand": 42})
    delta_response = control(zoho_sandbox, "POST", "stock", {"sku": sku, "location": "Pop-up", "delta": -2})
    read = control(zoho_sandbox, "GET", f"stock?sku={sku}&location=Pop-up").json()
    config = control(zoho_sandbox, "POST", "config", {"rate_per_minute": 30, "stock_as_strings": "true"}).json()
    bad = control(zoho_sandbox, "POST", "config", {"nope": 1})
    state = control(zoho_sandbox, "GET", "").json()

    assert seeded["created"] == 12
    assert set_response.json()["on_hand"] == 42
    assert delta_response.json()["on_hand"] == 40
    assert read == {"sku": sku, "location": "Pop-up", "on_hand": 40}
    assert (config["rate_per_minute"], config["stock_as_strings"]) == (30.0, True)
    assert bad.status_code == 400
    assert state["counts"]["items"] == 12
    assert state["organization_id"] == zoho_sandbox.organization_id
    assert [loc["location_name"] for loc in state["locations"]] == ["Head Office", "East Warehouse", "Pop-up"]
    assert control(zoho_sandbox, "POST", "reset").json()["counts"]["items"] == 0
    assert control(zoho_sandbox, "GET", "no-such-thing").status_code == 404


def test_request_log_records_what_the_client_sent(zoho_sandbox, api):
    item = zoho_sandbox.add_item(sku="LOG-1", stock={"Head Office": 5})
    api.post("/salesorders", sales_order(zoho_sandbox, item["item_id"]), ignore_auto_number_generation="false")

    record = zoho_sandbox.logged_requests(method="POST", path="/salesorders")[0]
    over_http = control(zoho_sandbox, "GET", "requests?method=POST").json()["requests"]

    assert record.status == 201
    assert record.path == "/inventory/v1/salesorders"
    assert record.query["organization_id"] == zoho_sandbox.organization_id
    assert record.headers["authorization"].startswith("Zoho-oauthtoken ")
    assert record.body["line_items"][0]["item_id"] == item["item_id"]
    assert over_http[0]["body"] == record.body
    control(zoho_sandbox, "DELETE", "requests")
    assert zoho_sandbox.logged_requests() == []


def test_clerk_changes_send_the_item_webhook_with_the_shared_secret(zoho_sandbox, webhook_receiver):
    item = zoho_sandbox.add_item(sku="HOOK-1", stock={"Head Office": 8})
    configured = control(
        zoho_sandbox,
        "POST",
        "webhook",
        {"url": webhook_receiver.url, "headers": {"X-Stockpool-Secret": "s3cret"}, "params": {"source": "zoho"}},
    )
    assert configured.json()["webhook"]["url"] == webhook_receiver.url

    result = control(zoho_sandbox, "POST", "stock", {"sku": "HOOK-1", "location": "Head Office", "delta": -3}).json()

    assert result["deliveries"][0]["status"] == 200
    received = webhook_receiver.received[0]
    assert received.method == "POST"
    assert received.headers["x-stockpool-secret"] == "s3cret"
    assert received.headers["content-type"] == "application/json"
    assert received.query == {"source": "zoho"}
    assert received.json["item"]["item_id"] == item["item_id"]
    assert received.json["item"]["locations"][0]["location_stock_on_hand"] == 5
    deliveries = control(zoho_sandbox, "GET", "webhook/deliveries").json()["deliveries"]
    assert [d["ok"] for d in deliveries] == [True]


def test_webhook_failures_are_recorded(zoho_sandbox, webhook_receiver):
    zoho_sandbox.add_item(sku="HOOK-2", stock={"Head Office": 8})
    webhook_receiver.status = 500
    zoho_sandbox.configure_webhook(webhook_receiver.url)

    deliveries = zoho_sandbox.send_stock_webhook("HOOK-2")
    zoho_sandbox.configure_webhook("http://127.0.0.1:9/unreachable")
    unreachable = zoho_sandbox.send_stock_webhook("HOOK-2")

    assert (deliveries[0].status, deliveries[0].ok) == (500, False)
    assert (unreachable[0].status, unreachable[0].ok) == (None, False)
    assert unreachable[0].error


def test_api_changes_send_webhooks_after_the_response_when_switched_on(zoho_sandbox, api, webhook_receiver):
    item = zoho_sandbox.add_item(sku="HOOK-3", stock={"Head Office": 8})
    zoho_sandbox.configure_webhook(webhook_receiver.url)
    api.post("/salesorders", sales_order(zoho_sandbox, item["item_id"]))
    assert webhook_receiver.received == []

    zoho_sandbox.configure(webhooks_for_api_changes=True)
    api.post("/salesorders", sales_order(zoho_sandbox, item["item_id"]))

    received = webhook_receiver.wait_for(1)
    assert received[0].json["item"]["stock_on_hand"] == 4


def test_a_clerks_void_gives_stock_back_and_sends_the_item_and_sales_order_webhooks(
    zoho_sandbox, api, webhook_receiver
):
    item = zoho_sandbox.add_item(sku="VOID-1", stock={"Head Office": 8})
    order = api.post("/salesorders", sales_order(zoho_sandbox, item["item_id"], 3)).json()["salesorder"]
    zoho_sandbox.configure_webhook(webhook_receiver.url, headers={"X-Stockpool-Secret": "s3cret"})

    voided = control(zoho_sandbox, "POST", f"orders/{order['salesorder_id']}/void").json()["salesorder"]

    assert voided["status"] == "void"
    assert zoho_sandbox.stock("VOID-1", "Head Office") == 8
    by_module = {next(iter(r.json)): r.json for r in webhook_receiver.wait_for(2)}
    assert by_module["item"]["item"]["stock_on_hand"] == 8
    assert (
        by_module["salesorder"]["salesorder"]["salesorder_id"],
        by_module["salesorder"]["salesorder"]["status"],
    ) == (
        order["salesorder_id"],
        "void",
    )
    assert control(zoho_sandbox, "POST", f"orders/{order['salesorder_id']}/void").status_code == 400


def test_sales_order_webhooks_follow_api_changes_and_only_the_modules_configured(zoho_sandbox, api, webhook_receiver):
    item = zoho_sandbox.add_item(sku="HOOK-4", stock={"Head Office": 8})
    zoho_sandbox.configure(webhooks_for_api_changes=True)
    zoho_sandbox.configure_webhook(webhook_receiver.url, modules=["salesorder"])

    order = api.post("/salesorders", sales_order(zoho_sandbox, item["item_id"])).json()["salesorder"]
    api.post(f"/salesorders/{order['salesorder_id']}/status/void", {})

    received = webhook_receiver.wait_for(2)
    assert [r.json["salesorder"]["status"] for r in received] == ["confirmed", "void"]
    with pytest.raises(ControlError):
        zoho_sandbox.configure_webhook(webhook_receiver.url, modules=["invoice"])


# --- contract checks -----------------------------------------------------------------------------------------


def test_the_contract_checks_bodies_and_the_request_log(zoho_sandbox, api):
    item = zoho_sandbox.add_item(sku="SPEC-1", stock={"Head Office": 8})
    good = sales_order(zoho_sandbox, item["item_id"])
    bad = {"customer_id": zoho_sandbox.customer_id, "line_items": [{"item_id": item["item_id"], "quantity": "2"}]}
    contract = zoho_sandbox.contract

    assert contract.request_violations("POST", "/inventory/v1/salesorders", good) == []
    assert contract.request_violations("POST", "/salesorders", bad) == [
        "line_items/0/quantity: '2' is not of type 'number'"
    ]
    assert contract.request_violations("POST", "/salesorders", good, variant="ignore_auto_number_generation") == [
        "'salesorder_number' is a required property"
    ]
    assert contract.request_violations("GET", "/items", None) == []
    numbered = api.post("/salesorders", good, ignore_auto_number_generation="true")
    assert numbered.status_code == 400
    assert numbered.json()["message"] == "Invalid request body: 'salesorder_number' is a required property"

    zoho_sandbox.clear_request_log()
    zoho_sandbox.configure(validate_requests=False)
    assert api.post("/salesorders", bad).status_code == 201  # the sandbox let it through ...
    api.post("/salesorders", good)
    violations = zoho_sandbox.spec_violations()  # ... and the log still tells
    assert len(violations) == 1
    assert violations[0][1] == ["line_items/0/quantity: '2' is not of type 'number'"]
    assert zoho_sandbox.record_violations(zoho_sandbox.logged_requests()[1]) == []
    over_http = control(zoho_sandbox, "GET", "spec-violations").json()["violations"]
    assert over_http[0]["errors"] == violations[0][1]


def test_zoho_time_round_trip():
    moment = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

    assert zoho_time(moment) == "2024-05-01T10:00:00+0000"
    assert parse_zoho_time("2024-05-01T15:30:00+0530") == moment
    assert parse_zoho_time("2024-05-01T10:00:00Z") == moment
    assert parse_zoho_time("2024-05-01") == moment.replace(hour=0)


# --- the management command ----------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_run_sandbox_serves_until_terminated():
    root = Path(__file__).resolve().parents[2]
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(root / "manage.py"), "run_sandbox", "zoho", "--port", str(port), "--seed-items", "25"],
        cwd=root,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        state = None
        for _ in range(100):
            try:
                state = requests.get(f"http://127.0.0.1:{port}/_sandbox/", timeout=1).json()
                break
            except requests.ConnectionError:
                if process.poll() is not None:
                    break
                time.sleep(0.1)
        assert state is not None, process.stdout.read() if process.poll() is not None else "no answer"
        assert state["counts"]["items"] == 25
        token = refresh(type("S", (), {**state, "url": f"http://127.0.0.1:{port}"})).json()["access_token"]
        items = requests.get(
            f"http://127.0.0.1:{port}/inventory/v1/items",
            params={"organization_id": state["organization_id"], "per_page": 10},
            headers={"Authorization": f"Zoho-oauthtoken {token}"},
            timeout=TIMEOUT,
        )
        assert len(items.json()["items"]) == 10
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert f"listening on http://127.0.0.1:{port}" in output
    assert state["organization_id"] in output
    assert state["refresh_token"] in output
    assert "Head Office" in output


def test_a_webhook_handler_may_call_the_sandbox_back_while_it_delivers(zoho_sandbox, webhook_receiver, api):
    zoho_sandbox.add_item(sku="BACK-1", stock={"Head Office": 8})
    seen = []
    webhook_receiver.on_receive = lambda received: seen.append(
        api.get(f"/items/{received.json['item']['item_id']}").json()["item"]["stock_on_hand"]
    )
    zoho_sandbox.configure_webhook(webhook_receiver.url)

    started = time.monotonic()
    result = zoho_sandbox.adjust_stock("BACK-1", "Head Office", -1)

    assert time.monotonic() - started < 2
    assert result["deliveries"][0]["status"] == 200
    assert seen == [7]


def test_status_changes_need_no_body(zoho_sandbox, api):
    zoho_sandbox.configure(sales_order_status="draft")
    item = zoho_sandbox.add_item(sku="NOBODY-1", stock={"Head Office": 5})
    order = api.post("/salesorders", sales_order(zoho_sandbox, item["item_id"])).json()["salesorder"]

    response = api.session.post(
        f"{zoho_sandbox.api_url}/salesorders/{order['salesorder_id']}/status/confirmed",
        params={"organization_id": zoho_sandbox.organization_id},
        headers=api.headers(),
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    assert zoho_sandbox.stock("NOBODY-1", "Head Office") == 3
