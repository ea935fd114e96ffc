"""The Cin7 Core sandbox speaks partner-apis.md section B over real HTTP."""

import base64
import re
import threading
import time

import pytest
import requests

from connectors.sandbox import Cin7Sandbox

TIMEOUT = 5
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$")


class Api:
    """A minimal Cin7 client for the tests: the two auth headers on every call."""

    def __init__(self, sandbox, application_key=None):
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.headers.update(
            {
                "api-auth-accountid": sandbox.account_id,
                "api-auth-applicationkey": application_key or sandbox.application_key,
            }
        )

    def get(self, path, **params):
        return self.session.get(self.sandbox.api_url + path, params=params, timeout=TIMEOUT)

    def post(self, path, body):
        return self.session.post(self.sandbox.api_url + path, json=body, timeout=TIMEOUT)

    def put(self, path, body):
        return self.session.put(self.sandbox.api_url + path, json=body, timeout=TIMEOUT)

    def delete(self, path, **params):
        return self.session.delete(self.sandbox.api_url + path, params=params, timeout=TIMEOUT)


@pytest.fixture
def api(cin7_sandbox):
    return Api(cin7_sandbox)


def control(sandbox, method, path, body=None):
    return requests.request(method, sandbox.url + "/_sandbox/" + path, json=body, timeout=TIMEOUT)


def new_sale(api, **extra):
    body = {"Customer": api.sandbox.customer_name, "SkipQuote": True, "Location": "Main Warehouse", **extra}
    response = api.post("/sale", body)
    assert response.status_code == 200, response.text
    return response.json()


def order(api, sale_id, sku, quantity, status="AUTHORISED", price=10.0, **extra):
    line = {"SKU": sku, "Quantity": quantity, "Price": price, "Tax": 0, "Total": round(quantity * price, 2)}
    return api.post("/sale/order", {"SaleID": sale_id, "Status": status, "Lines": [line], **extra})


def row(sandbox, sku, location="Main Warehouse"):
    availability = sandbox.availability(sku, location)
    return availability["OnHand"], availability["Allocated"], availability["Available"]


# --- auth and paths ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"api-auth-accountid": "x"}, {"api-auth-accountid": None, "api-auth-applicationkey": "wrong"}],
)
def test_bad_credentials_are_403(cin7_sandbox, headers):
    headers = {k: (cin7_sandbox.account_id if v is None else v) for k, v in headers.items()}

    response = requests.get(cin7_sandbox.api_url + "/product", headers=headers, timeout=TIMEOUT)

    assert response.status_code == 403
    assert response.json() == {"ErrorCode": 403, "Exception": "Method authentication failed"}


def test_paths_and_parameters_are_case_insensitive(cin7_sandbox, api):
    cin7_sandbox.seed(items=3)

    lower = api.session.get(cin7_sandbox.url + "/externalapi/v2/product", params={"limit": 2}, timeout=TIMEOUT)
    mixed = api.session.get(cin7_sandbox.url + "/ExternalAPI/v2/Product", params={"Limit": 2}, timeout=TIMEOUT)
    plural = api.get("/Products")
    wrong_method = api.session.patch(cin7_sandbox.api_url + "/product", json={}, timeout=TIMEOUT)

    assert lower.json() == mixed.json()
    assert len(lower.json()["Products"]) == 2
    assert plural.status_code == 404
    assert plural.json()["ErrorCode"] == 404
    assert wrong_method.status_code == 405


# --- reads ---------------------------------------------------------------------------------------------------


def test_products_paginate_with_total_and_cap_the_limit(cin7_sandbox, api):
    created = cin7_sandbox.seed(items=250)

    pages = [api.get("/product", Page=page, Limit=100).json() for page in (1, 2, 3)]
    capped = api.get("/product", Limit=5000).json()

    assert [p["Total"] for p in pages] == [250, 250, 250]
    assert [p["Page"] for p in pages] == [1, 2, 3]
    assert [len(p["Products"]) for p in pages] == [100, 100, 50]
    assert [p["ID"] for page in pages for p in page["Products"]] == [c["ID"] for c in created]
    assert len(capped["Products"]) == 250
    assert api.get("/product", Page=0).status_code == 400
    product = pages[0]["Products"][0]
    for field in ("ID", "SKU", "Name", "Category", "Brand", "Type", "UOM", "Barcode", "PriceTier1", "AverageCost",
                  "Status", "LastModifiedOn", "Sellable", "CreatedDate"):  # fmt: skip
        assert field in product, field
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", product["ID"])
    assert DATE.match(product["LastModifiedOn"])


def test_product_filters(cin7_sandbox, api):
    created = cin7_sandbox.seed(items=20)
    new = cin7_sandbox.add_item(sku="NEW-SKU-1", stock={"Main Warehouse": 3})

    by_id = api.get("/product", ID=created[4]["ID"]).json()["Products"]
    by_sku = api.get("/product", Sku="new-sku").json()["Products"]
    since = api.get("/product", ModifiedSince=new["LastModifiedOn"]).json()

    assert [p["SKU"] for p in by_id] == [created[4]["SKU"]]
    assert [p["SKU"] for p in by_sku] == ["NEW-SKU-1"]
    assert [p["SKU"] for p in since["Products"]] == ["NEW-SKU-1"]
    assert api.get("/product", ModifiedSince="not a date").status_code == 400
    cin7_sandbox.configure(dates_with_z=True)
    assert api.get("/product", ID=new["ID"]).json()["Products"][0]["LastModifiedOn"].endswith("Z")


def test_availability_rows_are_non_zero_sku_by_location(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="A-1", stock={"Main Warehouse": 5, "Retail Store": 2})
    cin7_sandbox.add_item(sku="A-2", stock={"Main Warehouse": 0})
    cin7_sandbox.add_item(sku="A-10", stock={"Retail Store": 1})

    body = api.get("/ref/productavailability").json()
    store = api.get("/ref/productavailability", Location="retail store").json()
    contains = api.get("/ref/productavailability", Sku="A-1").json()

    rows = body["ProductAvailabilityList"]
    assert body["Total"] == 3
    assert [(r["SKU"], r["Location"], r["OnHand"]) for r in rows] == [
        ("A-1", "Main Warehouse", 5),
        ("A-1", "Retail Store", 2),
        ("A-10", "Retail Store", 1),
    ]
    assert set(rows[0]) >= {"ID", "SKU", "Name", "Location", "OnHand", "Allocated", "Available", "OnOrder", "InTransit"}
    assert rows[0]["ID"] == cin7_sandbox.product("A-1")["ID"]
    assert [r["SKU"] for r in store["ProductAvailabilityList"]] == ["A-1", "A-10"]
    assert [r["SKU"] for r in contains["ProductAvailabilityList"]] == ["A-1", "A-1", "A-10"]  # Sku is "contains"
    cin7_sandbox.set_stock("A-1", "Main Warehouse", 0)
    assert api.get("/ref/productavailability").json()["Total"] == 2
    ignored = api.get("/ref/productavailability", ModifiedSince="2099-01-01T00:00:00").json()
    assert ignored["Total"] == 2


def test_locations_customers_and_me(cin7_sandbox, api):
    locations = api.get("/ref/location").json()
    customers = api.get("/customer", Name="stockpool").json()

    assert [loc["Name"] for loc in locations["LocationList"]] == ["Main Warehouse", "Retail Store"]
    assert locations["LocationList"][0]["IsDefault"] is True
    assert [c["ID"] for c in customers["CustomerList"]] == [cin7_sandbox.customer_id]
    assert api.get("/me").json()["Company"]


# --- sales ---------------------------------------------------------------------------------------------------


def test_authorised_order_allocates_and_shipping_lowers_on_hand(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="BREAD", stock={"Main Warehouse": 10})
    sale = new_sale(api, CustomerReference="POS-77", ExternalID="stockpool-sale-77")

    response = order(api, sale["ID"], "BREAD", 3)

    assert response.status_code == 200
    assert response.json()["Status"] == "AUTHORISED"
    assert response.json()["SaleOrderNumber"] == sale["Order"]["SaleOrderNumber"] == "SO-00001"
    assert row(cin7_sandbox, "BREAD") == (10, 3, 7)
    full = api.get("/sale", ID=sale["ID"]).json()
    assert full["Status"] == "ORDERED"
    assert full["Order"]["Lines"][0]["Quantity"] == 3
    listed = api.get("/saleList", ExternalID="stockpool-sale-77").json()
    assert [s["SaleID"] for s in listed["SaleList"]] == [sale["ID"]]
    assert listed["SaleList"][0]["OrderStatus"] == "AUTHORISED"

    fulfilled = control(cin7_sandbox, "POST", f"orders/{sale['ID']}/fulfil").json()["sale"]

    assert fulfilled["Status"] == "SHIPPED"
    assert row(cin7_sandbox, "BREAD") == (7, 0, 7)
    assert cin7_sandbox.orders()[0]["_sandbox"]["fulfilled"] is True


def test_auto_pick_pack_ship_ships_at_once(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="CAKE", stock={"Main Warehouse": 5})
    sale = new_sale(api)

    order(api, sale["ID"], "CAKE", 2, AutoPickPackShipMode="AUTOPICKPACKSHIP")

    assert row(cin7_sandbox, "CAKE") == (3, 0, 3)
    assert api.get("/sale", ID=sale["ID"]).json()["CombinedShippingStatus"] == "SHIPPED"


def test_over_quantity_is_backordered(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="PIE", stock={"Main Warehouse": 2})
    sale = new_sale(api)

    line = order(api, sale["ID"], "PIE", 5).json()["Lines"][0]

    assert line["BackorderQuantity"] == 3
    assert row(cin7_sandbox, "PIE") == (2, 2, 0)
    assert api.get("/sale", ID=sale["ID"]).json()["Status"] == "BACKORDERED"


def test_order_needs_an_authorised_quote_or_skip_quote(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="TART", stock={"Main Warehouse": 5})
    sale = new_sale(api, SkipQuote=False)
    assert sale["Status"] == "DRAFT"

    refused = order(api, sale["ID"], "TART", 1)
    quote = api.post(
        "/sale/quote",
        {
            "SaleID": sale["ID"],
            "Status": "AUTHORISED",
            "Lines": [{"SKU": "TART", "Quantity": 1, "Price": 4, "Tax": 0, "Total": 4}],
        },
    )
    accepted = order(api, sale["ID"], "TART", 1)
    again = order(api, sale["ID"], "TART", 1)

    assert refused.status_code == 400
    assert "Quote" in refused.json()["Exception"]
    assert quote.json()["Status"] == "AUTHORISED"
    assert accepted.status_code == 200
    assert again.status_code == 400  # an authorised order cannot be posted again


def test_draft_order_holds_nothing_and_void_releases_the_allocation(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="ROLL", stock={"Main Warehouse": 5})
    draft_sale = new_sale(api)
    order(api, draft_sale["ID"], "ROLL", 2, status="DRAFT")
    assert row(cin7_sandbox, "ROLL") == (5, 0, 5)

    sale = new_sale(api)
    order(api, sale["ID"], "ROLL", 2)
    assert row(cin7_sandbox, "ROLL") == (5, 2, 3)
    voided = api.delete("/sale", ID=sale["ID"], Void="true")

    assert voided.json()["Status"] == "VOIDED"
    assert row(cin7_sandbox, "ROLL") == (5, 0, 5)


def test_sales_lag_until_applied(cin7_sandbox, api):
    cin7_sandbox.configure(apply_sales_immediately=False)
    cin7_sandbox.add_item(sku="BUN", stock={"Main Warehouse": 5})
    sale = new_sale(api)

    order(api, sale["ID"], "BUN", 2)
    assert row(cin7_sandbox, "BUN") == (5, 0, 5)
    assert control(cin7_sandbox, "GET", "orders").json()["orders"][0]["_sandbox"]["pending"] is True

    assert control(cin7_sandbox, "POST", "orders/apply").json() == {"applied": [sale["ID"]]}
    assert row(cin7_sandbox, "BUN") == (5, 2, 3)


def test_sale_validation(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="SCONE", stock={"Main Warehouse": 5})
    sale = new_sale(api)

    no_customer = api.post("/sale", {"Location": "Main Warehouse"})
    unknown_customer = api.post("/sale", {"Customer": "Nobody"})
    unknown_location = api.post("/sale", {"Customer": cin7_sandbox.customer_name, "Location": "Moon"})
    wrong_total = api.post(
        "/sale/order",
        {
            "SaleID": sale["ID"],
            "Status": "AUTHORISED",
            "Lines": [{"SKU": "SCONE", "Quantity": 2, "Price": 3, "Tax": 0, "Total": 5}],
        },
    )
    string_quantity = api.post(
        "/sale/order",
        {
            "SaleID": sale["ID"],
            "Status": "AUTHORISED",
            "Lines": [{"SKU": "SCONE", "Quantity": "2", "Price": 3, "Tax": 0, "Total": 6}],
        },
    )
    unknown_product = order(api, sale["ID"], "NOPE", 1)

    assert no_customer.status_code == 400
    assert no_customer.json()["Exception"].startswith("Invalid request:")
    assert unknown_customer.status_code == 400
    assert unknown_location.status_code == 400
    assert wrong_total.status_code == 400
    assert "Total" in wrong_total.json()["Exception"]
    assert string_quantity.json() == {
        "ErrorCode": 400,
        "Exception": "Invalid request: Lines/0/Quantity: '2' is not of type 'number'",
    }
    assert unknown_product.status_code == 400
    assert row(cin7_sandbox, "SCONE") == (5, 0, 5)
    assert api.get("/sale", ID="nope").status_code == 400


# --- stock adjustments ---------------------------------------------------------------------------------------


def test_stock_adjustment_quantity_is_the_new_on_hand(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="AF308", stock={"Main Warehouse": 1})

    response = api.post(
        "/stockadjustment",
        {
            "EffectiveDate": "2026-11-21T00:00:00",
            "Status": "COMPLETED",
            "Reference": "stockpool-correction-1",
            "Lines": [
                {"SKU": "AF308", "Quantity": 601, "UnitCost": 1, "Location": "Main Warehouse"},
                {"SKU": "AF308", "Quantity": 4, "UnitCost": 1, "Location": "Retail Store"},
            ],
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["Status"] == "COMPLETED"
    assert body["StocktakeNumber"] == "ST-00001"
    existing = body["ExistingStockLines"][0]
    assert (existing["QuantityOnHand"], existing["Adjustment"]) == (601, 600)
    assert [line["Quantity"] for line in body["NewStockLines"]] == [4]
    assert row(cin7_sandbox, "AF308") == (601, 0, 601)
    assert row(cin7_sandbox, "AF308", "Retail Store") == (4, 0, 4)
    assert api.get("/stockadjustment", TaskID=body["TaskID"]).json()["TaskID"] == body["TaskID"]
    assert api.get("/stockadjustmentList", Status="COMPLETED").json()["Total"] == 1
    assert control(cin7_sandbox, "GET", "adjustments").json()["adjustments"][0]["Reference"] == "stockpool-correction-1"


def test_draft_stock_adjustment_applies_when_completed(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="DRAFTY", stock={"Main Warehouse": 8})
    draft = api.post(
        "/stockadjustment",
        {"EffectiveDate": "2026-11-21", "Status": "DRAFT", "Lines": [{"SKU": "DRAFTY", "Quantity": 3}]},
    ).json()
    assert row(cin7_sandbox, "DRAFTY") == (8, 0, 8)

    completed = api.put("/stockadjustment", {"TaskID": draft["TaskID"], "Status": "COMPLETED"})

    assert completed.json()["Status"] == "COMPLETED"
    assert row(cin7_sandbox, "DRAFTY") == (3, 0, 3)


def test_delta_mode_and_missing_task_id(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="DELTA", stock={"Main Warehouse": 8})
    cin7_sandbox.configure(stock_adjustment_mode="delta")

    api.post(
        "/stockadjustment",
        {"EffectiveDate": "2026-11-21", "Status": "COMPLETED", "Lines": [{"SKU": "DELTA", "Quantity": -3}]},
    )
    missing = api.get("/stockadjustment")
    unknown = api.get("/stockadjustment", TaskID="00000000-0000-4000-8000-000000000000")

    assert row(cin7_sandbox, "DELTA") == (5, 0, 5)
    expected = {"ErrorCode": 400, "Exception": "Stock Adjustment with specified TaskID not found"}
    assert (missing.status_code, missing.json()) == (400, expected)
    assert (unknown.status_code, unknown.json()) == (400, expected)


def test_stock_adjustment_contract_violation(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="BAD", stock={"Main Warehouse": 8})

    response = api.post("/stockadjustment", {"Status": "COMPLETED", "Lines": [{"SKU": "BAD", "Quantity": 1}]})

    assert response.status_code == 400
    assert response.json()["Exception"] == "Invalid request: 'EffectiveDate' is a required property"
    assert row(cin7_sandbox, "BAD") == (8, 0, 8)


# --- rate limits and faults ----------------------------------------------------------------------------------


def test_rate_limit_per_application_answers_503_by_default(cin7_sandbox, api):
    cin7_sandbox.configure(rate_per_minute=4)
    other = Api(cin7_sandbox, application_key=cin7_sandbox.add_application())

    statuses = [api.get("/ref/location").status_code for _ in range(6)]

    assert statuses == [200] * 4 + [503] * 2
    assert api.get("/ref/location").json() == {
        "ErrorCode": 503,
        "Exception": "You reached 4 calls per minute API limit",
    }
    assert other.get("/ref/location").status_code == 200  # its own bucket
    cin7_sandbox.configure(throttle_status=429, rate_per_minute=1)
    assert [api.get("/ref/location").status_code for _ in range(2)] == [200, 429]


def test_under_the_limit_nothing_is_throttled(cin7_sandbox, api):
    assert {api.get("/ref/location").status_code for _ in range(50)} == {200}


def test_faults(cin7_sandbox, api):
    cin7_sandbox.configure_faults(error_rate=1.0)
    error = api.get("/product")
    cin7_sandbox.configure_faults(error_rate=0.0, throttle_storm=True)
    storm = api.get("/product")
    cin7_sandbox.configure_faults(throttle_storm=False, malformed_rate=1.0)
    malformed = api.get("/product")
    cin7_sandbox.configure_faults(malformed_rate=0.0, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        api.get("/product")
    cin7_sandbox.configure_faults(drop_rate=0.0, latency_ms=200)
    started = time.monotonic()
    slow = api.get("/product")

    assert (error.status_code, error.json()["ErrorCode"]) == (500, 500)
    assert (storm.status_code, storm.json()["ErrorCode"]) == (503, 503)
    assert malformed.status_code == 200
    with pytest.raises(ValueError):  # noqa: PT011 - json.JSONDecodeError or requests' subclass
        malformed.json()
    assert slow.status_code == 200
    assert time.monotonic() - started >= 0.2
    assert [r.fault for r in cin7_sandbox.logged_requests()] == ["error", "throttle", "malformed", "drop", None]
    faults = control(cin7_sandbox, "POST", "faults", {"error_rate": 2})
    assert faults.status_code == 400


def test_parallel_clients_share_the_server(cin7_sandbox):
    cin7_sandbox.seed(items=50)
    cin7_sandbox.configure(rate_per_minute=10_000)
    statuses = []

    def read():
        client = Api(cin7_sandbox)
        statuses.extend(client.get("/ref/productavailability", Limit=20).status_code for _ in range(5))

    threads = [threading.Thread(target=read) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert statuses == [200] * 150


# --- webhooks and control ------------------------------------------------------------------------------------


def test_stock_webhook_is_a_bare_array_with_basic_auth(cin7_sandbox, webhook_receiver):
    cin7_sandbox.add_item(sku="HOOK", stock={"Main Warehouse": 5})
    cin7_sandbox.configure_webhook(
        webhook_receiver.url,
        auth_type="basicauth",
        username="cin7",
        password="pw",
        headers={"verification-token": "t0k"},
    )

    result = control(cin7_sandbox, "POST", "stock", {"sku": "HOOK", "location": "Main Warehouse", "delta": -2}).json()

    assert result["deliveries"][0]["status"] == 200
    received = webhook_receiver.received[0]
    assert received.headers["authorization"] == "Basic " + base64.b64encode(b"cin7:pw").decode()
    assert received.headers["verification-token"] == "t0k"
    assert "x-amzn-trace-id" in received.headers
    assert isinstance(received.json, list)
    assert received.json[0]["SKU"] == "HOOK"
    assert (received.json[0]["Location"], received.json[0]["Available"]) == ("Main Warehouse", 3)


def test_sale_events_follow_api_sales(cin7_sandbox, api, webhook_receiver):
    cin7_sandbox.add_item(sku="EVT", stock={"Main Warehouse": 5})
    created = api.post(
        "/webhooks",
        {
            "Type": "Sale/OrderAuthorised",
            "ExternalURL": webhook_receiver.url,
            "ExternalAuthorizationType": "bearerauth",
            "ExternalBearerToken": "b3arer",
            "IsActive": True,
        },
    ).json()
    api.post("/webhooks", {"Type": "Stock/AvailableStockLevelChanged", "ExternalURL": webhook_receiver.url})
    assert api.get("/webhooks").json()["Webhooks"][0]["ID"] == created["ID"]
    sale = new_sale(api)

    order(api, sale["ID"], "EVT", 2)

    received = webhook_receiver.wait_for(2)
    by_kind = {"list" if isinstance(r.json, list) else r.json["EventType"]: r for r in received}
    event = by_kind["Sale/OrderAuthorised"]
    assert event.json == {
        "SaleID": sale["ID"],
        "SaleOrderNumber": sale["Order"]["SaleOrderNumber"],
        "EventType": "Sale/OrderAuthorised",
    }
    assert event.headers["authorization"] == "Bearer b3arer"
    assert by_kind["list"].json[0]["Allocated"] == 2
    assert api.delete("/webhooks", ID=created["ID"]).status_code == 200
    assert api.post("/webhooks", {"Type": "Nope/Never", "ExternalURL": webhook_receiver.url}).status_code == 400


def test_control_api_over_http(cin7_sandbox):
    seeded = control(cin7_sandbox, "POST", "seed", {"items": 5, "seed": 3}).json()
    sku = seeded["items"][0]["SKU"]
    control(cin7_sandbox, "POST", "stock", {"sku": sku, "location": "Retail Store", "on_hand": 9})
    read = control(cin7_sandbox, "GET", f"stock?sku={sku}").json()
    config = control(cin7_sandbox, "POST", "config", {"stock_adjustment_mode": "sideways"})
    key = control(cin7_sandbox, "POST", "applications").json()["application_key"]
    state = control(cin7_sandbox, "GET", "").json()

    assert read["stock"]["Retail Store"]["OnHand"] == 9
    assert config.status_code == 400
    assert key in cin7_sandbox.application_keys
    assert state["account_id"] == cin7_sandbox.account_id
    assert state["counts"]["products"] == 5
    assert control(cin7_sandbox, "POST", "clock/advance", {"seconds": 60}).status_code == 200
    assert control(cin7_sandbox, "POST", "reset").json()["counts"]["products"] == 0
    assert Cin7Sandbox().seed(items=5, seed=3) == seeded["items"]


def test_the_contract_checks_cin7_bodies_and_the_request_log(cin7_sandbox, api):
    cin7_sandbox.add_item(sku="SPEC", stock={"Main Warehouse": 5})
    cin7_sandbox.configure(validate_requests=False, strict_totals=False)
    sale = new_sale(api)
    api.post(
        "/sale/order",
        {"SaleID": sale["ID"], "Status": "AUTHORISED", "Lines": [{"SKU": "SPEC", "Quantity": 1, "Price": 2}]},
    )

    violations = cin7_sandbox.spec_violations()

    assert len(violations) == 1
    assert violations[0][0].path == "/ExternalApi/v2/sale/order"
    assert violations[0][1] == ["Lines/0: 'Tax' is a required property", "Lines/0: 'Total' is a required property"]
    contract = cin7_sandbox.contract
    assert contract.request_violations("POST", "/externalapi/v2/Sale", {"CustomerID": cin7_sandbox.customer_id}) == []
    assert contract.request_violations("POST", "/ExternalApi/v2/sale", {"Location": "Main Warehouse"}) != []
    assert contract.request_violations("GET", "/product", None) == []


# --- invoices, credit notes and voids -------------------------------------------------------------------------


def invoice(api, sale_id, **extra):
    return api.post("/sale/invoice", {"SaleID": sale_id, "Status": "AUTHORISED", "InvoiceDate": "2026-12-01", **extra})


def credit_note(api, sale_id, sku, quantity, restock=None, price=10.0, **extra):
    line = {"SKU": sku, "Quantity": quantity, "Price": price, "Tax": 0, "Total": round(quantity * price, 2)}
    body = {
        "SaleID": sale_id,
        "Status": "AUTHORISED",
        "CreditNoteDate": "2026-12-02",
        "Lines": [line],
        "Restock": [{"SKU": sku, "Quantity": quantity if restock is None else restock, "Location": "Main Warehouse"}],
        **extra,
    }
    return api.post("/sale/creditnote", body)


def test_a_credit_note_needs_an_invoice_and_restocks_what_it_credits(cin7_sandbox, api, webhook_receiver):
    cin7_sandbox.add_item(sku="RET", stock={"Main Warehouse": 10})
    sale = new_sale(api)
    order(api, sale["ID"], "RET", 3)
    cin7_sandbox.configure_webhook(webhook_receiver.url)

    assert "Invoice" in credit_note(api, sale["ID"], "RET", 2).json()["Exception"]
    invoiced = invoice(api, sale["ID"])
    assert invoiced.status_code == 200, invoiced.text
    assert [line["Quantity"] for line in invoiced.json()["Invoices"][0]["Lines"]] == [3]  # the order's lines
    assert "exceeds invoiced" in credit_note(api, sale["ID"], "RET", 4).json()["Exception"]
    assert "exceeds credited" in credit_note(api, sale["ID"], "RET", 2, restock=3).json()["Exception"]
    credited = credit_note(api, sale["ID"], "RET", 2, Memo="Stockpool return R-1")

    assert credited.status_code == 200, credited.text
    (note,) = credited.json()["CreditNotes"]
    assert (note["Status"], note["CreditNoteNumber"], note["Memo"]) == (
        "AUTHORISED",
        "CR-00001",
        "Stockpool return R-1",
    )
    assert row(cin7_sandbox, "RET") == (12, 3, 9)  # restocked on hand; the unshipped sale's allocation stays
    listed = api.get("/saleList", ExternalID="").json()["SaleList"][0]
    assert (listed["Status"], listed["CreditNoteStatus"], listed["CreditNoteNumber"]) == (
        "CREDITED",
        "AUTHORISED",
        "CR-00001",
    )
    assert "cannot be changed" in credit_note(api, sale["ID"], "RET", 1).json()["Exception"]  # one per simple sale
    events = [r.json["EventType"] for r in webhook_receiver.wait_for(3) if isinstance(r.json, dict)]
    assert "Sale/CreditNoteAuthorised" in events
    assert api.get("/sale/creditnote", SaleID=sale["ID"]).json()["CreditNotes"] == [note]
    assert not cin7_sandbox.spec_violations()


def test_a_clerks_void_releases_the_allocation_and_sends_the_events(cin7_sandbox, api, webhook_receiver):
    cin7_sandbox.add_item(sku="VOID", stock={"Main Warehouse": 5})
    sale = new_sale(api)
    order(api, sale["ID"], "VOID", 2)
    invoiced = new_sale(api)
    order(api, invoiced["ID"], "VOID", 1)
    invoice(api, invoiced["ID"])
    cin7_sandbox.configure_webhook(webhook_receiver.url)

    voided = control(cin7_sandbox, "POST", f"orders/{sale['ID']}/void").json()["sale"]

    assert voided["Status"] == "VOIDED"
    assert row(cin7_sandbox, "VOID") == (5, 1, 4)
    received = webhook_receiver.wait_for(2)
    assert {"Sale/Voided"} == {r.json["EventType"] for r in received if isinstance(r.json, dict)}
    assert [r.json[0]["Available"] for r in received if isinstance(r.json, list)] == [4]
    refused = control(cin7_sandbox, "POST", f"orders/{invoiced['ID']}/void")
    assert "invoice" in refused.json()["error"]
