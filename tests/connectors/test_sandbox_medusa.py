"""The Medusa v2 sandbox speaks partner-apis.md section D over real HTTP."""

import base64
import hashlib
import hmac
import json
import re
import time

import pytest
import requests

from connectors.sandbox.contracts import load_contract
from connectors.sandbox.medusa import (
    SIGNATURE_HEADER,
    MedusaSandbox,
    decode_jwt,
    encode_jwt,
    verify_signature,
)
from tests.connectors.sandboxes_medusa import medusa_sandbox  # noqa: F401

TIMEOUT = 5
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
CONTRACT = load_contract("medusa")


class Api:
    """A minimal Medusa admin client for the tests: a bearer from emailpass, or a secret key."""

    def __init__(self, sandbox, authorization=None):
        self.sandbox = sandbox
        self.session = requests.Session()
        if authorization is None:
            authorization = f"Bearer {login(sandbox).json()['token']}"
        self.session.headers["Authorization"] = authorization

    def get(self, path, **params):
        return self.session.get(self.sandbox.api_url + path, params=params, timeout=TIMEOUT)

    def post(self, path, body=None):
        return self.session.post(self.sandbox.api_url + path, json=body, timeout=TIMEOUT)

    def delete(self, path):
        return self.session.delete(self.sandbox.api_url + path, timeout=TIMEOUT)


def login(sandbox, email=None, password=None):
    body = {"email": email or sandbox.email, "password": password or sandbox.password}
    return requests.post(sandbox.url + "/auth/user/emailpass", json=body, timeout=TIMEOUT)


def basic(secret_key):
    return "Basic " + base64.b64encode(f"{secret_key}:".encode()).decode()


def control(sandbox, method, path, body=None):
    return requests.request(method, sandbox.url + "/_sandbox/" + path, json=body, timeout=TIMEOUT)


@pytest.fixture
def sandbox(medusa_sandbox):  # noqa: F811 - the fixture imported above
    return medusa_sandbox


@pytest.fixture
def api(sandbox):
    return Api(sandbox)


def item_id(sandbox, sku):
    return sandbox.inventory_item(sku)["id"]


def expected_signature(secret, header, raw_body):
    parts = dict(part.split("=", 1) for part in header.split(","))
    digest = hmac.new(secret.encode(), f"{parts['t']}.".encode() + raw_body, hashlib.sha256).hexdigest()
    return int(parts["t"]), parts["v1"], digest


# --- auth ----------------------------------------------------------------------------------------------------


def test_emailpass_returns_a_jwt_that_works_as_bearer(sandbox):
    response = login(sandbox)

    assert response.status_code == 200
    token = response.json()["token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    claims = decode_jwt(token, sandbox.jwt_secret)
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims["actor_type"] == "user"
    assert claims["actor_id"].startswith("user_")
    assert claims["app_metadata"] == {"user_id": claims["actor_id"]}
    assert claims["exp"] - claims["iat"] == 86400
    assert decode_jwt(token, "another-secret") is None
    listed = requests.get(
        sandbox.api_url + "/admin/inventory-items", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert listed.status_code == 200
    assert listed.json() == {"inventory_items": [], "count": 0, "offset": 0, "limit": 20}


def test_wrong_password_is_401_unauthorized(sandbox):
    wrong = login(sandbox, password="nope")
    unknown = login(sandbox, email="someone@example.com")

    assert (wrong.status_code, wrong.json()) == (401, {"type": "unauthorized", "message": "Invalid email or password"})
    assert unknown.status_code == 401


@pytest.mark.parametrize("form", ["base64", "raw"])
def test_secret_key_works_as_basic_in_both_forms(sandbox, form):
    key = sandbox.secret_key
    authorization = basic(key) if form == "base64" else f"Basic {key}"

    response = Api(sandbox, authorization).get("/admin/stock-locations")

    assert key.startswith("sk_")
    assert len(key) == 3 + 64
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Bearer " + encode_jwt({"actor_type": "user", "exp": 4102444800}, "wrong-secret")},
        {"Authorization": basic("sk_" + "0" * 64)},
        {"Authorization": basic("pk_" + "0" * 64)},
        {"Authorization": "Token whatever"},
        {"x-medusa-access-token": "SECRET_KEY"},  # the v1 header the spec still names
    ],
    ids=["none", "garbage-bearer", "foreign-signature", "unknown-key", "publishable-key", "other-scheme", "v1-header"],
)
def test_bad_or_missing_auth_is_401_with_the_middleware_body(sandbox, headers):
    headers = {k: v.replace("SECRET_KEY", sandbox.secret_key) for k, v in headers.items()}

    response = requests.get(sandbox.api_url + "/admin/inventory-items", headers=headers, timeout=TIMEOUT)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_jwts_expire_with_the_clock_on_demand_and_refresh(sandbox):
    sandbox.configure(token_lifetime=60)
    api = Api(sandbox)
    assert api.get("/admin/inventory-items").status_code == 200
    refreshed = api.post("/auth/token/refresh")
    assert refreshed.status_code == 200

    sandbox.advance_clock(61)

    assert api.get("/admin/inventory-items").json() == {"message": "Unauthorized"}
    assert api.post("/auth/token/refresh").status_code == 401
    fresh = Api(sandbox)
    assert fresh.get("/admin/inventory-items").status_code == 200
    assert control(sandbox, "POST", "tokens/expire").json()["expired"] == 3
    assert fresh.get("/admin/inventory-items").status_code == 401


def test_revoked_and_added_secret_keys(sandbox):
    added = control(sandbox, "POST", "keys").json()["secret_key"]
    assert Api(sandbox, basic(added)).get("/admin/stock-locations").status_code == 200

    control(sandbox, "POST", "keys/revoke", {"token": sandbox.secret_key})

    assert Api(sandbox, basic(sandbox.secret_key)).get("/admin/stock-locations").status_code == 401
    assert Api(sandbox, basic(added)).get("/admin/stock-locations").status_code == 200


# --- inventory items -----------------------------------------------------------------------------------------


def test_pagination_walks_every_item_once(sandbox, api):
    sandbox.seed(items=25)

    pages = [api.get("/admin/inventory-items", limit=10, offset=offset).json() for offset in (0, 10, 20)]
    default = api.get("/admin/inventory-items").json()

    assert [len(page["inventory_items"]) for page in pages] == [10, 10, 5]
    assert {(page["count"], page["limit"]) for page in pages} == {(25, 10)}
    assert [page["offset"] for page in pages] == [0, 10, 20]
    ids = [item["id"] for page in pages for item in page["inventory_items"]]
    assert len(set(ids)) == 25
    assert all(i.startswith("iitem_") and ULID.match(i.split("_", 1)[1]) for i in ids)
    assert (len(default["inventory_items"]), default["limit"]) == (20, 20)
    bad = api.get("/admin/inventory-items", limit="lots")
    assert (bad.status_code, bad.json()["type"]) == (400, "invalid_data")


def test_sku_filter_takes_a_string_or_an_array_and_levels_are_expanded(sandbox, api):
    skus = [entry["sku"] for entry in sandbox.seed(items=5)]

    one = api.get("/admin/inventory-items", sku=skus[0]).json()
    repeated = api.get("/admin/inventory-items", sku=skus[1:3]).json()  # sku=A&sku=B
    bracketed = api.session.get(
        sandbox.api_url + "/admin/inventory-items",
        params={"sku[]": [skus[3], skus[4]]},
        timeout=TIMEOUT,
    ).json()

    assert [item["sku"] for item in one["inventory_items"]] == [skus[0]]
    assert {item["sku"] for item in repeated["inventory_items"]} == set(skus[1:3])
    assert {item["sku"] for item in bracketed["inventory_items"]} == set(skus[3:])
    item = one["inventory_items"][0]
    levels = item["location_levels"]
    assert {level["location_id"] for level in levels} == set(sandbox.location_ids.values())
    for level in levels:
        assert level["id"].startswith("ilev_")
        assert level["inventory_item_id"] == item["id"]
        assert level["available_quantity"] == level["stocked_quantity"] - level["reserved_quantity"]
        assert level["incoming_quantity"] == 0
    assert item["stocked_quantity"] == sum(level["stocked_quantity"] for level in levels)


def test_fields_select_and_expand_location_levels(sandbox, api):
    sandbox.add_inventory_item("F-1", stock={"European Warehouse": 4})

    bare = api.get("/admin/inventory-items", fields="id,sku").json()["inventory_items"][0]
    relation = api.get("/admin/inventory-items", fields="id,sku,*location_levels").json()["inventory_items"][0]
    added = api.get("/admin/inventory-items", fields="+location_levels").json()["inventory_items"][0]
    removed = api.get("/admin/inventory-items", fields="-location_levels").json()["inventory_items"][0]

    assert bare == {"id": bare["id"], "sku": "F-1"}
    assert set(relation) == {"id", "sku", "location_levels"}
    assert relation["location_levels"][0]["stocked_quantity"] == 4
    assert "location_levels" in added
    assert "title" in added
    assert "location_levels" not in removed
    assert "stocked_quantity" in removed


def test_q_and_location_filters_and_unknown_query_parameters(sandbox, api):
    sandbox.add_inventory_item("EU-ONLY", title="Brass Lamp", stock={"European Warehouse": 2})
    sandbox.add_inventory_item("US-ONLY", title="Oak Stool", stock={"US Warehouse": 3})
    us = sandbox.location_ids["US Warehouse"]

    by_text = api.get("/admin/inventory-items", q="brass").json()
    by_location = api.session.get(
        sandbox.api_url + "/admin/inventory-items",
        params={"location_levels[location_id]": us},
        timeout=TIMEOUT,
    ).json()
    bare_location = api.get("/admin/inventory-items", location_id=us)

    assert [item["sku"] for item in by_text["inventory_items"]] == ["EU-ONLY"]
    assert [item["sku"] for item in by_location["inventory_items"]] == ["US-ONLY"]
    assert bare_location.status_code == 400
    assert bare_location.json() == {
        "type": "invalid_data",
        "message": "Invalid request: Unrecognized fields: 'location_id'",
    }


def test_get_one_item_and_not_found(sandbox, api):
    created = sandbox.add_inventory_item("ONE-1", stock={"US Warehouse": 1})

    found = api.get(f"/admin/inventory-items/{created['id']}")
    missing = api.get("/admin/inventory-items/iitem_nope")
    no_route = api.get("/admin/nothing-here")

    assert found.json()["inventory_item"]["sku"] == "ONE-1"
    assert missing.status_code == 404
    assert missing.json() == {"type": "not_found", "message": "Inventory item with id: iitem_nope was not found"}
    assert (no_route.status_code, no_route.json()["type"]) == (404, "not_found")


# --- location levels -----------------------------------------------------------------------------------------


def test_setting_an_absolute_stocked_quantity(sandbox, api):
    sandbox.add_inventory_item("SET-1", stock={"European Warehouse": 10, "US Warehouse": 1})
    sandbox.place_order([{"sku": "SET-1", "quantity": 2}])
    eu = sandbox.location_ids["European Warehouse"]
    iid = item_id(sandbox, "SET-1")

    response = api.post(f"/admin/inventory-items/{iid}/location-levels/{eu}", {"stocked_quantity": 25})
    again = api.post(f"/admin/inventory-items/{iid}/location-levels/{eu}", {"stocked_quantity": 25})

    assert response.status_code == 200
    item = response.json()["inventory_item"]
    level = next(level for level in item["location_levels"] if level["location_id"] == eu)
    assert (level["stocked_quantity"], level["reserved_quantity"], level["available_quantity"]) == (25, 2, 23)
    assert item["stocked_quantity"] == 26
    assert again.status_code == 200  # absolute: repeating it changes nothing
    assert sandbox.stock("SET-1", "European Warehouse") == 25
    changes = [c for c in sandbox.adjustments() if c["source"] == "api"]
    assert [c["before"]["stocked_quantity"] for c in changes] == [10, 25]
    assert {c["after"]["stocked_quantity"] for c in changes} == {25}
    incoming = api.post(f"/admin/inventory-items/{iid}/location-levels/{eu}", {"incoming_quantity": 5}).json()
    assert incoming["inventory_item"]["location_levels"][0]["incoming_quantity"] == 5
    assert incoming["inventory_item"]["location_levels"][0]["stocked_quantity"] == 25


def test_updating_a_level_that_does_not_exist_is_404(sandbox, api):
    sandbox.add_inventory_item("NOLEVEL", stock={"European Warehouse": 1})
    us = sandbox.location_ids["US Warehouse"]

    response = api.post(f"/admin/inventory-items/{item_id(sandbox, 'NOLEVEL')}/location-levels/{us}", {})

    assert response.status_code == 404
    assert response.json()["type"] == "not_found"


def test_creating_a_level(sandbox, api):
    sandbox.add_inventory_item("NEW-LVL", stock={"European Warehouse": 1})
    us = sandbox.location_ids["US Warehouse"]
    path = f"/admin/inventory-items/{item_id(sandbox, 'NEW-LVL')}/location-levels"

    created = api.post(path, {"location_id": us, "stocked_quantity": 7})
    duplicate = api.post(path, {"location_id": us})
    unknown = api.post(path, {"location_id": "sloc_nope"})
    listed = api.get(path, location_id=us).json()

    assert created.status_code == 200
    levels = {level["location_id"]: level for level in created.json()["inventory_item"]["location_levels"]}
    assert levels[us]["stocked_quantity"] == 7
    assert (duplicate.status_code, duplicate.json()["type"]) == (400, "invalid_data")
    assert "already exists" in duplicate.json()["message"]
    assert (unknown.status_code, unknown.json()["type"]) == (404, "not_found")
    assert [level["location_id"] for level in listed["inventory_levels"]] == [us]
    assert (listed["count"], listed["limit"]) == (1, 50)


def test_deleting_a_level_is_refused_while_reserved(sandbox, api):
    sandbox.add_inventory_item("DEL-1", stock={"European Warehouse": 5, "US Warehouse": 5})
    sandbox.place_order([{"sku": "DEL-1", "quantity": 1}], location="European Warehouse")
    eu, us = sandbox.location_ids["European Warehouse"], sandbox.location_ids["US Warehouse"]
    iid = item_id(sandbox, "DEL-1")

    refused = api.delete(f"/admin/inventory-items/{iid}/location-levels/{eu}")
    deleted = api.delete(f"/admin/inventory-items/{iid}/location-levels/{us}")

    assert (refused.status_code, refused.json()["type"]) == (400, "not_allowed")
    assert deleted.status_code == 200
    assert deleted.json()["object"] == "inventory-level"
    assert deleted.json()["deleted"] is True
    assert [lvl["location_id"] for lvl in deleted.json()["parent"]["location_levels"]] == [eu]


@pytest.mark.parametrize(
    ("suffix", "body", "expected"),
    [
        ("/{eu}", {"stocked_quantity": "ten"}, "stocked_quantity: 'ten' is not of type 'number'"),
        ("/{eu}", {"stocked_quantity": -1}, "stocked_quantity: -1 is less than the minimum of 0"),
        ("/{eu}", {"stocked_quantity": 1, "quantity": 1}, "'quantity' was unexpected"),
        ("", {"stocked_quantity": 1}, "'location_id' is a required property"),
    ],
    ids=["string-quantity", "negative", "unknown-field", "missing-location"],
)
def test_invalid_bodies_are_400_invalid_data_naming_the_schema_error(sandbox, api, suffix, body, expected):
    sandbox.add_inventory_item("BAD-1", stock={"European Warehouse": 3})
    eu = sandbox.location_ids["European Warehouse"]
    path = f"/admin/inventory-items/{item_id(sandbox, 'BAD-1')}/location-levels" + suffix.format(eu=eu)

    response = api.post(path, body)

    assert response.status_code == 400
    assert response.json()["type"] == "invalid_data"
    assert response.json()["message"].startswith("Invalid request: ")
    assert expected in response.json()["message"]
    assert sandbox.stock("BAD-1", "European Warehouse") == 3
    violations = sandbox.spec_violations()
    assert len(violations) == 1
    assert any(expected in error for error in violations[0][1])
    over_http = control(sandbox, "GET", "spec-violations").json()["violations"]
    assert over_http[0]["request"]["path"] == path


def test_the_contract_and_switching_validation_off(sandbox, api):
    path = "/admin/inventory-items/iitem_1/location-levels/sloc_1"
    assert sandbox.contract.request_violations("POST", path, {"stocked_quantity": 5}) == []
    assert sandbox.contract.request_violations("POST", path, {"stocked_quantity": True}) == [
        "stocked_quantity: True is not of type 'number'"
    ]
    assert sandbox.contract.request_violations("GET", "/admin/inventory-items", None) == []
    sandbox.add_inventory_item("OFF-1", stock={"European Warehouse": 3})
    eu = sandbox.location_ids["European Warehouse"]
    iid = item_id(sandbox, "OFF-1")
    sandbox.configure(validate_requests=False)

    lenient = api.post(f"/admin/inventory-items/{iid}/location-levels/{eu}", {"stocked_quantity": 4, "note": "x"})
    still_guarded = api.post(f"/admin/inventory-items/{iid}/location-levels/{eu}", {"stocked_quantity": "ten"})

    assert lenient.status_code == 200
    assert still_guarded.status_code == 400
    assert sandbox.stock("OFF-1", eu) == 4
    assert len(sandbox.spec_violations()) == 2  # the log still tells


def test_per_item_batch_applies_create_and_delete_but_ignores_update_as_2_0_does(sandbox, api):
    sandbox.add_inventory_item("BATCH-1", stock={"European Warehouse": 5})
    eu, us = sandbox.location_ids["European Warehouse"], sandbox.location_ids["US Warehouse"]
    path = f"/admin/inventory-items/{item_id(sandbox, 'BATCH-1')}/location-levels/batch"

    response = api.post(
        path, {"create": [{"location_id": us, "stocked_quantity": 9}], "update": [{"stocked_quantity": 1}]}
    )
    failing = api.post(path, {"delete": [us], "create": [{"location_id": "sloc_nope"}]})

    assert (response.status_code, response.json()) == (200, {"inventory_item": {}})
    assert sandbox.stock("BATCH-1", us) == 9
    assert sandbox.stock("BATCH-1", eu) == 5  # the update was ignored
    assert failing.status_code == 404
    assert sandbox.stock("BATCH-1", us) == 9  # all or nothing
    assert api.post("/admin/inventory-items/location-levels/batch", {"update": []}).status_code == 404


def test_newer_batch_api_serves_the_cross_item_batch(sandbox, api):
    sandbox.configure(newer_batch_api=True)
    a = sandbox.add_inventory_item("X-1", stock={"European Warehouse": 5})
    b = sandbox.add_inventory_item("X-2", stock={"European Warehouse": 6})
    eu, us = sandbox.location_ids["European Warehouse"], sandbox.location_ids["US Warehouse"]

    response = api.post(
        "/admin/inventory-items/location-levels/batch",
        {
            "update": [
                {"inventory_item_id": a["id"], "location_id": eu, "stocked_quantity": 50},
                {"inventory_item_id": b["id"], "location_id": eu, "stocked_quantity": 60},
            ],
            "create": [{"inventory_item_id": b["id"], "location_id": us, "stocked_quantity": 1}],
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert [level["stocked_quantity"] for level in body["updated"]] == [50, 60]
    assert [level["location_id"] for level in body["created"]] == [us]
    assert body["deleted"] == []
    assert (sandbox.stock("X-1", eu), sandbox.stock("X-2", eu)) == (50, 60)


# --- stock locations and products ----------------------------------------------------------------------------


def test_stock_locations(sandbox, api):
    listed = api.get("/admin/stock-locations").json()
    with_channels = api.get("/admin/stock-locations", fields="+sales_channels", q="us wa").json()
    one = api.get(f"/admin/stock-locations/{sandbox.default_location_id}").json()

    assert (listed["count"], listed["offset"], listed["limit"]) == (2, 0, 20)
    assert {loc["name"]: loc["id"] for loc in listed["stock_locations"]} == sandbox.location_ids
    assert all(loc["id"].startswith("sloc_") for loc in listed["stock_locations"])
    assert listed["stock_locations"][0]["address"]["country_code"] == "dk"
    assert [loc["name"] for loc in with_channels["stock_locations"]] == ["US Warehouse"]
    assert with_channels["stock_locations"][0]["sales_channels"][0]["id"] == sandbox.sales_channel_id
    assert one["stock_location"]["name"] == "European Warehouse"


def test_products_map_variant_skus_to_inventory_items(sandbox, api):
    seeded = sandbox.seed(items=3)
    sku = seeded[1]["sku"]

    found = api.session.get(
        sandbox.api_url + "/admin/products",
        params={"variants[sku]": sku, "fields": "+variants.inventory_quantity,*variants.inventory_items"},
        timeout=TIMEOUT,
    ).json()

    assert found["count"] == 1
    variant = found["products"][0]["variants"][0]
    assert (variant["sku"], variant["manage_inventory"], variant["id"]) == (sku, True, seeded[1]["variant_id"])
    assert variant["inventory_items"][0]["inventory_item_id"] == seeded[1]["id"]
    assert variant["inventory_items"][0]["required_quantity"] == 1
    levels = sandbox.inventory_item(sku)["location_levels"]
    assert variant["inventory_quantity"] == sum(level["available_quantity"] for level in levels)
    assert api.get("/admin/products").json()["count"] == 3


# --- orders and the signed order.placed webhook --------------------------------------------------------------


def test_place_order_reserves_and_sends_a_signed_order_placed(sandbox, api, webhook_receiver):
    sandbox.add_inventory_item("ORD-1", stock={"European Warehouse": 10}, price=19.5)
    sandbox.add_inventory_item("ORD-2", stock={"European Warehouse": 4}, price=5)
    control(sandbox, "POST", "webhook", {"url": webhook_receiver.url, "secret": "s3cret"})

    placed = control(
        sandbox,
        "POST",
        "orders",
        {"items": [{"sku": "ORD-1", "quantity": 2}, {"sku": "ORD-2", "quantity": 1, "unit_price": 4.25}]},
    )

    assert placed.status_code == 200, placed.text
    order = placed.json()["order"]
    assert order["id"].startswith("order_")
    assert ULID.match(order["id"].split("_", 1)[1])
    assert placed.json()["deliveries"][0]["status"] == 200
    received = webhook_receiver.wait_for(1)[0]
    header = received.headers[SIGNATURE_HEADER.lower()]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    timestamp, sent, computed = expected_signature("s3cret", header, received.body)
    assert hmac.compare_digest(sent, computed)
    assert abs(time.time() - timestamp) < 30
    assert verify_signature(header, received.body, "s3cret", now=time.time())
    assert not verify_signature(header, received.body, "wrong", now=time.time())
    event = received.json
    assert event["type"] == "order.placed"
    assert event["id"] == f"order.placed:{order['id']}"
    assert not CONTRACT.document_violations("order event", event)
    data = event["data"]
    assert data["id"] == order["id"]
    assert data["display_id"] == 1
    assert data["currency_code"] == "usd"
    assert data["sales_channel_id"] == sandbox.sales_channel_id
    assert data["payment_status"] == "captured"
    assert [(i["variant_sku"], i["quantity"], i["unit_price"]) for i in data["items"]] == [
        ("ORD-1", 2, 19.5),
        ("ORD-2", 1, 4.25),
    ]
    assert data["total"] == 43.25
    assert data["created_at"]

    fetched = api.get(f"/admin/orders/{order['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["order"] == data
    assert not CONTRACT.response_violations("GET", f"/admin/orders/{order['id']}", fetched.json())
    assert [i["variant_sku"] for i in fetched.json()["order"]["items"]] == ["ORD-1", "ORD-2"]
    level = sandbox.level("ORD-1", "European Warehouse")
    assert (level["stocked_quantity"], level["reserved_quantity"], level["available_quantity"]) == (10, 2, 8)
    reservations = api.get("/admin/reservations", inventory_item_id=level["inventory_item_id"]).json()
    assert [r["quantity"] for r in reservations["reservations"]] == [2]
    assert api.get("/admin/orders/order_nope").json()["type"] == "not_found"
    assert api.get("/admin/orders").json()["count"] == 1


def test_orders_are_refused_without_stock_unless_backordered(sandbox):
    sandbox.add_inventory_item("LOW-1", stock={"European Warehouse": 1})

    refused = control(sandbox, "POST", "orders", {"items": [{"sku": "LOW-1", "quantity": 2}]})
    allowed = sandbox.place_order([{"sku": "LOW-1", "quantity": 2}], allow_backorder=True)

    assert refused.status_code == 400
    assert "required inventory" in refused.json()["error"]
    assert allowed["display_id"] == 1
    assert sandbox.level("LOW-1", "European Warehouse")["available_quantity"] == -1


def test_fulfil_cancel_and_resend(sandbox, webhook_receiver):
    sandbox.add_inventory_item("LIFE-1", stock={"US Warehouse": 10})
    sandbox.configure_webhook(webhook_receiver.url)
    first = sandbox.place_order([{"sku": "LIFE-1", "quantity": 3}], location="US Warehouse")
    second = sandbox.place_order([{"sku": "LIFE-1", "quantity": 2}], location="US Warehouse")

    fulfilled = control(sandbox, "POST", f"orders/{first['id']}/fulfil").json()["order"]
    canceled = control(sandbox, "POST", f"orders/{second['id']}/cancel").json()["order"]
    resent = control(sandbox, "POST", f"orders/{first['id']}/resend").json()["deliveries"]

    assert fulfilled["fulfillment_status"] == "fulfilled"
    assert (canceled["status"], canceled["payment_status"]) == ("canceled", "refunded")
    level = sandbox.level("LIFE-1", "US Warehouse")
    assert (level["stocked_quantity"], level["reserved_quantity"]) == (7, 0)
    events = [r.json for r in webhook_receiver.wait_for(5)]
    assert [e["type"] for e in events] == [
        "order.placed",
        "order.placed",
        "order.fulfillment_created",
        "order.canceled",
        "order.placed",
    ]
    assert events[2]["id"] == f"order.fulfillment_created:{fulfilled['fulfillments'][0]['id']}"
    assert events[4] == events[0]  # a retry keeps the event id
    assert len(resent) == 1
    assert all(r.headers[SIGNATURE_HEADER.lower()] for r in webhook_receiver.received)
    assert not [e for e in events if CONTRACT.document_violations("order event", e)]
    assert control(sandbox, "POST", f"orders/{second['id']}/cancel").status_code == 400


def test_canceling_a_fulfilled_order_cancels_its_fulfilment_first(sandbox, webhook_receiver):
    sandbox.add_inventory_item("LIFE-2", stock={"US Warehouse": 10})
    order = sandbox.place_order([{"sku": "LIFE-2", "quantity": 4}], location="US Warehouse", notify=False)
    sandbox.fulfil_order(order["id"], notify=False)
    sandbox.configure_webhook(webhook_receiver.url, events=["order.canceled", "inventory.inventory-level.updated"])

    canceled = sandbox.cancel_order(order["id"])

    level = sandbox.level("LIFE-2", "US Warehouse")
    assert (level["stocked_quantity"], level["reserved_quantity"]) == (10, 0)
    assert canceled["fulfillments"][0]["canceled_at"]
    assert [line["detail"]["fulfilled_quantity"] for line in canceled["items"]] == [0]
    events = [r.json for r in webhook_receiver.wait_for(2)]
    assert [e["type"] for e in events] == ["inventory.inventory-level.updated", "order.canceled"]
    assert events[1]["id"] == f"order.canceled:{order['id']}"
    assert events[1]["data"]["status"] == "canceled"


def test_a_received_return_restocks_its_good_units_and_is_served_to_the_admin_api(sandbox, api, webhook_receiver):
    sandbox.add_inventory_item("RET-1", stock={"US Warehouse": 10}, price=12)
    sandbox.add_inventory_item("RET-2", stock={"US Warehouse": 10}, price=3)
    order = sandbox.place_order(
        [{"sku": "RET-1", "quantity": 3}, {"sku": "RET-2", "quantity": 1}], location="US Warehouse", notify=False
    )
    refused = control(sandbox, "POST", f"orders/{order['id']}/returns", {"items": [{"sku": "RET-1", "quantity": 1}]})
    sandbox.fulfil_order(order["id"], notify=False)
    sandbox.configure_webhook(webhook_receiver.url, secret="s3cret")

    answer = control(
        sandbox,
        "POST",
        f"orders/{order['id']}/returns",
        {"items": [{"sku": "RET-1", "quantity": 1, "damaged_quantity": 1}, {"sku": "RET-2", "quantity": 1}]},
    )

    assert (refused.status_code, "only 0 fulfilled" in refused.json()["error"]) == (400, True)
    assert answer.status_code == 200, answer.text
    returned = answer.json()["return"]
    assert returned["id"].startswith("ret_")
    assert [(i["quantity"], i["received_quantity"], i["damaged_quantity"]) for i in returned["items"]] == [
        (2, 1, 1),
        (1, 1, 0),
    ]
    assert sandbox.stock("RET-1", "US Warehouse") == 8  # 10 - 3 fulfilled + 1 good back; the damaged one is not
    assert sandbox.stock("RET-2", "US Warehouse") == 10
    fetched = api.get(f"/admin/returns/{returned['id']}")
    assert fetched.json() == {"return": returned}
    assert not CONTRACT.response_violations("GET", f"/admin/returns/{returned['id']}", fetched.json())
    assert api.get("/admin/returns", order_id=order["id"]).json()["count"] == 1
    assert api.get("/admin/returns/ret_nope").status_code == 404
    (delivery,) = webhook_receiver.wait_for(1)
    event = delivery.json
    assert (event["id"], event["type"]) == (f"order.return_received:{returned['id']}", "order.return_received")
    assert event["return"] == returned
    assert [line["detail"]["return_received_quantity"] for line in event["data"]["items"]] == [1, 1]
    assert not CONTRACT.document_violations("order event", event)
    again = control(sandbox, "POST", f"orders/{order['id']}/returns", {"items": [{"sku": "RET-1", "quantity": 2}]})
    assert (again.status_code, "only 1 fulfilled and not returned" in again.json()["error"]) == (400, True)
    assert control(sandbox, "POST", f"orders/{order['id']}/cancel").status_code == 400


def test_an_order_awaiting_payment_says_so(sandbox):
    sandbox.add_inventory_item("PAY-1", stock={"US Warehouse": 10})

    order = sandbox.place_order([{"sku": "PAY-1", "quantity": 1}], location="US Warehouse", payment_status="awaiting")
    refused = control(sandbox, "POST", "orders", {"items": [{"sku": "PAY-1"}], "payment_status": "paid"})

    assert order["payment_status"] == "awaiting"
    assert refused.status_code == 400


def test_ids_and_orders_are_deterministic():
    def run():
        with MedusaSandbox(seed=3) as sandbox:
            seeded = sandbox.seed(items=2)
            order = sandbox.place_order([{"sku": seeded[0]["sku"], "quantity": 1}])
            return seeded, order["id"], sandbox.location_ids

    assert run() == run()


def test_clerk_drift_and_the_level_event(sandbox, webhook_receiver):
    sandbox.add_inventory_item("DRIFT-1", stock={"European Warehouse": 8})
    sandbox.configure_webhook(webhook_receiver.url, secret="k", events=["inventory.inventory-level.updated"])

    result = control(
        sandbox, "POST", "stock", {"sku": "DRIFT-1", "location": "European Warehouse", "on_hand": 3}
    ).json()

    assert result["stocked_quantity"] == 3
    received = webhook_receiver.wait_for(1)[0]
    assert received.json["type"] == "inventory.inventory-level.updated"
    assert (received.json["data"]["sku"], received.json["data"]["stocked_quantity"]) == ("DRIFT-1", 3)
    _, sent, computed = expected_signature("k", received.headers[SIGNATURE_HEADER.lower()], received.body)
    assert sent == computed
    assert [c["source"] for c in sandbox.adjustments()] == ["admin"]


def test_api_level_writes_send_level_events_only_when_switched_on(sandbox, api, webhook_receiver):
    sandbox.add_inventory_item("APIHOOK", stock={"European Warehouse": 1})
    sandbox.configure_webhook(webhook_receiver.url, events=["inventory.inventory-level.updated"])
    path = f"/admin/inventory-items/{item_id(sandbox, 'APIHOOK')}/location-levels/{sandbox.default_location_id}"

    assert api.post(path, {"stocked_quantity": 2}).status_code == 200
    sandbox.configure(webhooks_for_api_changes=True, signature_offset=-600)
    assert api.post(path, {"stocked_quantity": 3}).status_code == 200

    received = webhook_receiver.wait_for(1)
    assert [r.json["data"]["stocked_quantity"] for r in received] == [3]
    header, body = received[0].headers[SIGNATURE_HEADER.lower()], received[0].body
    assert not verify_signature(header, body, sandbox.webhook_secret, now=time.time())  # older than 300 s
    assert verify_signature(header, body, sandbox.webhook_secret, now=time.time() - 600)


# --- faults and rate limits ----------------------------------------------------------------------------------


def test_error_fault_answers_a_medusa_shaped_5xx(sandbox, api):
    sandbox.configure_faults(error_rate=1.0, error_status=503)

    response = api.get("/admin/inventory-items")

    assert response.status_code == 503
    assert response.json() == {
        "code": "unknown_error",
        "type": "unknown_error",
        "message": "An unknown error occurred.",
    }


def test_malformed_drop_and_throttle_faults_change_nothing(sandbox, api):
    sandbox.add_inventory_item("FAULT-1", stock={"European Warehouse": 5})
    eu = sandbox.location_ids["European Warehouse"]
    path = f"/admin/inventory-items/{item_id(sandbox, 'FAULT-1')}/location-levels/{eu}"

    sandbox.configure_faults(malformed_rate=1.0)
    malformed = api.get("/admin/inventory-items")
    with pytest.raises(requests.JSONDecodeError):
        malformed.json()
    sandbox.configure_faults(malformed_rate=0.0, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        api.post(path, {"stocked_quantity": 1})
    sandbox.configure_faults(drop_rate=0.0, throttle_storm=True)
    throttled = api.post(path, {"stocked_quantity": 1})

    assert malformed.status_code == 200
    assert throttled.status_code == 429
    assert throttled.json()["message"] == "Too many requests, please try again later."
    assert sandbox.stock("FAULT-1", eu) == 5
    assert control(sandbox, "GET", "").status_code == 200
    assert control(sandbox, "DELETE", "faults").json()["throttle_storm"] is False
    assert [r.fault for r in sandbox.logged_requests(path="location-levels")] == ["drop", "throttle"]


def test_rate_limit_is_off_by_default_and_configurable(sandbox):
    api = Api(sandbox, basic(sandbox.secret_key))
    assert {api.get("/admin/stock-locations").status_code for _ in range(30)} == {200}

    control(sandbox, "POST", "config", {"rate_per_minute": 3})
    statuses = [api.get("/admin/stock-locations") for _ in range(4)]

    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[-1].headers["Retry-After"] == "20"
    assert statuses[-1].json()["type"] == "not_allowed"
    assert sandbox.logged_requests()[-1].fault == "rate_limited"


# --- control API -----------------------------------------------------------------------------------------------


def test_control_api_over_http(sandbox):
    seeded = control(sandbox, "POST", "seed", {"items": 4, "locations": ["European Warehouse", "Pop-up"]}).json()
    sku = seeded["items"][0]["sku"]
    before = sandbox.stock(sku, "Pop-up")
    added = control(sandbox, "POST", "items", {"sku": "CTL-1", "stock": {"US Warehouse": 2}, "price": 3})
    delta = control(sandbox, "POST", "stock", {"sku": sku, "location": "Pop-up", "delta": -1})
    read = control(sandbox, "GET", f"stock?sku={sku}").json()
    config = control(sandbox, "POST", "config", {"token_lifetime": 120, "strict_query": "false"}).json()
    bad = control(sandbox, "POST", "config", {"nope": 1})
    user = control(sandbox, "POST", "users", {"email": "clerk@example.com", "password": "pw"})
    state = control(sandbox, "GET", "").json()

    assert seeded["created"] == 4
    assert added.status_code == 200
    assert added.json()["location_levels"][0]["stocked_quantity"] == 2
    assert delta.json()["stocked_quantity"] == before - 1
    assert set(read["stock"]) == {"European Warehouse", "Pop-up"}
    assert (config["token_lifetime"], config["strict_query"]) == (120, False)
    assert bad.status_code == 400
    assert login(sandbox, "clerk@example.com", "pw").status_code == 200
    assert user.json()["user"]["id"].startswith("user_")
    assert state["secret_key"] == sandbox.secret_key
    assert state["api_url"] == sandbox.url
    assert [loc["name"] for loc in state["locations"]] == ["European Warehouse", "US Warehouse", "Pop-up"]
    assert state["counts"]["inventory_items"] == 5
    assert len(control(sandbox, "GET", "inventory-items").json()["inventory_items"]) == 5
    assert control(sandbox, "GET", "requests").json()["requests"][-1]["path"] == "/auth/user/emailpass"
    assert control(sandbox, "POST", "reset").json()["counts"]["inventory_items"] == 0
    assert control(sandbox, "GET", "no-such-thing").status_code == 404
