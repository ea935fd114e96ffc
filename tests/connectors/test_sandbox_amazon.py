"""The Amazon SP-API sandbox speaks partner-apis.md section C over real HTTP."""

import gzip
import http.client
import json
import urllib.parse

import pytest
import requests

from connectors.sandbox.amazon import FBA_EVENT, MFN_EVENT, AmazonSandbox
from connectors.sandbox.contracts import load_contract
from tests.connectors.sandboxes_amazon import amazon_sandbox_fixture  # noqa: F401 - registers amazon_sandbox

TIMEOUT = 5
QUOTA = {
    "errors": [
        {"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource.", "details": ""}
    ]
}


class Api:
    """A minimal SP-API client for the tests: an LWA token minted directly, the access-token header."""

    def __init__(self, sandbox, token=None):
        self.sandbox = sandbox
        self.token = token or sandbox.issue_access_token()
        self.session = requests.Session()

    def request(self, method, path, params=None, json=None, headers=None):
        sent = {"x-amz-access-token": self.token, **(headers or {})}
        return self.session.request(
            method, self.sandbox.api_url + path, params=params, json=json, headers=sent, timeout=TIMEOUT
        )

    def item_path(self, sku):
        return f"/listings/2021-08-01/items/{self.sandbox.seller_id}/{urllib.parse.quote(sku, safe='')}"

    def get_listing(self, sku, **params):
        params.setdefault("marketplaceIds", self.sandbox.marketplace_id)
        return self.request("GET", self.item_path(sku), params=params)

    def patch_listing(self, sku, body, **params):
        params.setdefault("marketplaceIds", self.sandbox.marketplace_id)
        return self.request("PATCH", self.item_path(sku), params=params, json=body)

    def summaries(self, **params):
        query = {
            "granularityType": "Marketplace",
            "granularityId": self.sandbox.marketplace_id,
            "marketplaceIds": self.sandbox.marketplace_id,
            **params,
        }
        return self.request("GET", "/fba/inventory/v1/summaries", params=query)


@pytest.fixture
def api(amazon_sandbox):
    return Api(amazon_sandbox)


def quantity_patch(quantity, op="replace", product_type="PRODUCT", **entry):
    return {
        "productType": product_type,
        "patches": [
            {
                "op": op,
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity, **entry}],
            }
        ],
    }


def control(sandbox, method, path, body=None):
    return requests.request(method, sandbox.url + "/_sandbox/" + path, json=body, timeout=TIMEOUT)


def lwa(sandbox, **overrides):
    form = {
        "grant_type": "refresh_token",
        "refresh_token": sandbox.refresh_token,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        **overrides,
    }
    return requests.post(
        sandbox.lwa_url,
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        timeout=TIMEOUT,
    )


def conforms(sandbox, response):
    """How an answer of the sandbox breaks what the contract says Amazon answers (empty: it does not)."""
    path = urllib.parse.urlsplit(response.url).path
    return sandbox.contract.response_violations(response.request.method, path, response.json())


# --- LWA and the access token ----------------------------------------------------------------------------


def test_lwa_refresh_grant_returns_a_working_token(amazon_sandbox):
    amazon_sandbox.add_listing("SKU-1", 3)

    response = lwa(amazon_sandbox)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"] == amazon_sandbox.refresh_token
    assert body["access_token"].startswith("Atza|")
    assert Api(amazon_sandbox, body["access_token"]).get_listing("SKU-1").status_code == 200


def test_lwa_errors(amazon_sandbox):
    bad_grant = lwa(amazon_sandbox, refresh_token="Atzr|nope")
    assert bad_grant.status_code == 400
    assert bad_grant.json()["error"] == "invalid_grant"
    assert bad_grant.json()["error_description"]

    bad_client = lwa(amazon_sandbox, client_secret="wrong")
    assert bad_client.status_code == 401
    assert bad_client.json()["error"] == "invalid_client"

    assert lwa(amazon_sandbox, grant_type="password").json()["error"] == "unsupported_grant_type"
    assert lwa(amazon_sandbox, refresh_token="").json()["error"] == "invalid_request"

    amazon_sandbox.revoke_tokens(refresh_token=True)
    assert lwa(amazon_sandbox).json()["error"] == "invalid_grant"


def test_lwa_accepts_query_parameters_and_grantless_tokens_do_not_open_the_apis(amazon_sandbox):
    amazon_sandbox.add_listing("SKU-1", 3)
    params = {
        "grant_type": "client_credentials",
        "scope": "sellingpartnerapi::notifications",
        "client_id": amazon_sandbox.client_id,
        "client_secret": amazon_sandbox.client_secret,
    }

    response = requests.post(amazon_sandbox.lwa_url, params=params, timeout=TIMEOUT)

    assert response.status_code == 200
    grantless = response.json()["access_token"]
    assert Api(amazon_sandbox, grantless).get_listing("SKU-1").status_code == 403


@pytest.mark.parametrize(
    ("headers", "details"),
    [
        ({}, ""),
        ({"x-amz-access-token": "Atza|made-up"}, "The access token you provided is revoked, malformed or invalid."),
    ],
)
def test_missing_or_unknown_token_is_403_unauthorized(amazon_sandbox, headers, details):
    amazon_sandbox.add_listing("SKU-1", 3)

    response = requests.get(
        f"{amazon_sandbox.api_url}/listings/2021-08-01/items/{amazon_sandbox.seller_id}/SKU-1",
        params={"marketplaceIds": amazon_sandbox.marketplace_id},
        headers=headers,
        timeout=TIMEOUT,
    )

    assert response.status_code == 403
    assert response.json() == {
        "errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.", "details": details}]
    }
    assert response.headers["x-amzn-RequestId"]
    assert "x-amzn-RateLimit-Limit" not in response.headers


def test_tokens_expire_with_the_clock_and_on_demand(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 3)
    assert api.get_listing("SKU-1").status_code == 200

    amazon_sandbox.advance_clock(3601)
    expired = api.get_listing("SKU-1")
    assert expired.status_code == 403
    assert expired.json()["errors"][0]["details"] == "The access token you provided has expired."

    fresh = Api(amazon_sandbox)
    assert fresh.get_listing("SKU-1").status_code == 200
    assert control(amazon_sandbox, "POST", "tokens/expire").json()["expired"] == 2
    assert fresh.get_listing("SKU-1").status_code == 403


# --- Listings Items ---------------------------------------------------------------------------------------


def test_get_listing_default_is_summaries_and_included_data_adds_the_rest(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7, name="Canvas Tote", product_type="LUGGAGE", price=18)

    default = api.get_listing("SKU-1").json()
    assert set(default) == {"sku", "summaries"}
    summary = default["summaries"][0]
    assert summary["marketplaceId"] == "ATVPDKIKX0DER"
    assert summary["productType"] == "LUGGAGE"
    assert summary["itemName"] == "Canvas Tote"
    assert summary["status"] == ["BUYABLE", "DISCOVERABLE"]

    response = api.get_listing("SKU-1", includedData="summaries,attributes,issues,offers,fulfillmentAvailability")
    item = response.json()
    assert item["attributes"]["fulfillment_availability"] == [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}]
    assert item["fulfillmentAvailability"] == [{"fulfillmentChannelCode": "DEFAULT", "quantity": 7}]
    assert item["issues"] == []
    assert item["offers"][0]["price"] == {"currencyCode": "USD", "amount": "18.00"}
    assert conforms(amazon_sandbox, response) == []
    assert response.headers["x-amzn-RateLimit-Limit"] == "5.0"
    assert response.headers["x-amzn-RequestId"]


def test_get_listing_errors(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)

    missing = api.get_listing("NOPE")
    assert missing.status_code == 404
    assert missing.json()["errors"][0] == {
        "code": "NOT_FOUND",
        "message": "SKU 'NOPE' not found in marketplace ATVPDKIKX0DER",
        "details": "",
    }
    no_marketplace = api.request("GET", api.item_path("SKU-1"))
    assert no_marketplace.status_code == 400
    assert no_marketplace.json()["errors"][0]["code"] == "InvalidInput"
    assert api.get_listing("SKU-1", includedData="everything").status_code == 400
    other_seller = api.request(
        "GET", "/listings/2021-08-01/items/AOTHERSELLER/SKU-1", params={"marketplaceIds": "ATVPDKIKX0DER"}
    )
    assert other_seller.status_code == 403
    assert api.request("GET", "/listings/2021-08-01/nothing").status_code == 404
    assert api.request("POST", api.item_path("SKU-1"), params={"marketplaceIds": "ATVPDKIKX0DER"}).status_code == 405


def test_patch_quantity_is_accepted_and_applied(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)

    response = api.patch_listing("SKU-1", quantity_patch(12))

    assert response.status_code == 200
    body = response.json()
    assert body["sku"] == "SKU-1"
    assert body["status"] == "ACCEPTED"
    assert body["issues"] == []
    assert len(body["submissionId"]) == 32
    assert conforms(amazon_sandbox, response) == []
    assert response.headers["x-amzn-RateLimit-Limit"] == "5.0"
    assert amazon_sandbox.mfn_quantity("SKU-1") == 12
    item = api.get_listing("SKU-1", includedData="fulfillmentAvailability").json()
    assert item["fulfillmentAvailability"] == [{"fulfillmentChannelCode": "DEFAULT", "quantity": 12}]
    assert amazon_sandbox.spec_violations() == []


def test_merge_keeps_the_other_fulfillment_fields_and_delete_removes_the_attribute(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)
    api.patch_listing("SKU-1", quantity_patch(5, restock_date="2026-12-01", lead_time_to_ship_max_days=3))

    api.patch_listing("SKU-1", quantity_patch(9, op="merge"))

    assert amazon_sandbox.listing("SKU-1")["attributes"]["fulfillment_availability"] == [
        {
            "fulfillment_channel_code": "DEFAULT",
            "quantity": 9,
            "restock_date": "2026-12-01",
            "lead_time_to_ship_max_days": 3,
        }
    ]
    delete = {"productType": "PRODUCT", "patches": [{"op": "delete", "path": "/attributes/fulfillment_availability"}]}
    assert api.patch_listing("SKU-1", delete).json()["status"] == "ACCEPTED"
    assert amazon_sandbox.mfn_quantity("SKU-1") is None


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"productType": "PRODUCT"}, "'patches' is a required property"),
        ({"productType": "PRODUCT", "patches": []}, "patches: [] should be non-empty"),
        (
            {"productType": "PRODUCT", "patches": [{"op": "upsert", "path": "/attributes/fulfillment_availability"}]},
            "patches/0/op: 'upsert' is not one of",
        ),
        ({"patches": [{"op": "replace", "path": "/attributes/x", "value": [{}]}]}, "'productType' is a required"),
    ],
)
def test_patch_body_breaking_the_model_is_400_naming_the_schema_error(amazon_sandbox, api, body, named):
    amazon_sandbox.add_listing("SKU-1", 7)

    response = api.patch_listing("SKU-1", body)

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidInput"
    assert error["message"] == "Request has missing or invalid parameters and cannot be parsed."
    assert named in error["details"]
    assert amazon_sandbox.mfn_quantity("SKU-1") == 7
    (record, reasons), *_ = amazon_sandbox.spec_violations()
    assert record.method == "PATCH"
    assert any(named in reason for reason in reasons)


def test_patch_with_a_bad_quantity_is_invalid_with_an_issue_and_changes_nothing(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)

    response = api.patch_listing("SKU-1", quantity_patch(-3))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "INVALID"
    assert body["issues"][0]["severity"] == "ERROR"
    assert body["issues"][0]["attributeNames"] == ["fulfillment_availability"]
    assert conforms(amazon_sandbox, response) == []
    assert amazon_sandbox.mfn_quantity("SKU-1") == 7
    bad_path = {"productType": "PRODUCT", "patches": [{"op": "replace", "path": "/summaries", "value": [{}]}]}
    assert api.patch_listing("SKU-1", bad_path).json()["status"] == "INVALID"


def test_patch_of_an_unknown_sku_follows_the_switch(amazon_sandbox, api):
    not_found = api.patch_listing("GHOST", quantity_patch(4))
    assert not_found.status_code == 404
    assert not_found.json()["errors"][0]["code"] == "NOT_FOUND"

    amazon_sandbox.configure(unknown_sku="invalid")
    invalid = api.patch_listing("GHOST", quantity_patch(4))
    assert invalid.status_code == 200
    assert invalid.json()["status"] == "INVALID"
    assert invalid.json()["issues"][0]["code"] == "NOT_FOUND"

    amazon_sandbox.configure(unknown_sku="accepted")
    accepted = api.patch_listing("GHOST", quantity_patch(4))
    assert accepted.json()["status"] == "ACCEPTED"
    ghost = amazon_sandbox.listing("GHOST")
    assert ghost["quantity"] == 4
    assert ghost["asin"] is None
    assert ghost["status"] == []


def test_validation_preview_and_delayed_application(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)

    preview = api.patch_listing(
        "SKU-1", quantity_patch(1), mode="VALIDATION_PREVIEW", includedData="identifiers,issues"
    )
    assert preview.json()["status"] == "VALID"
    assert preview.json()["identifiers"][0]["asin"].startswith("B0")
    assert amazon_sandbox.mfn_quantity("SKU-1") == 7

    amazon_sandbox.configure(apply_patches_immediately=False)
    assert api.patch_listing("SKU-1", quantity_patch(2)).json()["status"] == "ACCEPTED"
    assert amazon_sandbox.mfn_quantity("SKU-1") == 7
    applied = control(amazon_sandbox, "POST", "submissions/apply").json()["applied"]
    assert len(applied) == 1
    assert amazon_sandbox.mfn_quantity("SKU-1") == 2


def test_put_delete_and_search_listings(amazon_sandbox, api):
    amazon_sandbox.seed(listings=25)
    body = {
        "productType": "PRODUCT",
        "requirements": "LISTING_OFFER_ONLY",
        "attributes": {
            "item_name": [{"value": "New thing", "language_tag": "en_US", "marketplace_id": "ATVPDKIKX0DER"}],
            "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 6}],
        },
    }
    put = api.request("PUT", api.item_path("NEW-1"), params={"marketplaceIds": "ATVPDKIKX0DER"}, json=body)
    assert put.json()["status"] == "ACCEPTED"
    assert amazon_sandbox.listing("NEW-1")["quantity"] == 6
    assert amazon_sandbox.listing("NEW-1")["itemName"] == "New thing"

    delete = api.request("DELETE", api.item_path("NEW-1"), params={"marketplaceIds": "ATVPDKIKX0DER"})
    assert delete.json()["status"] == "ACCEPTED"
    assert api.get_listing("NEW-1").status_code == 404

    seen, token = [], None
    while True:
        params = {"marketplaceIds": "ATVPDKIKX0DER", "pageSize": 10, "sortBy": "sku", "sortOrder": "ASC"}
        if token:
            params["pageToken"] = token
        response = api.request("GET", f"/listings/2021-08-01/items/{amazon_sandbox.seller_id}", params=params)
        page = response.json()
        assert page["numberOfResults"] == 25
        assert conforms(amazon_sandbox, response) == []
        seen += [item["sku"] for item in page["items"]]
        token = page.get("pagination", {}).get("nextToken")
        if not token:
            break
    assert seen == sorted(listing["sku"] for listing in amazon_sandbox.listings())
    one = api.request(
        "GET",
        f"/listings/2021-08-01/items/{amazon_sandbox.seller_id}",
        params={"marketplaceIds": "ATVPDKIKX0DER", "identifiers": seen[3], "identifiersType": "SKU"},
    ).json()
    assert [item["sku"] for item in one["items"]] == [seen[3]]


# --- FBA Inventory --------------------------------------------------------------------------------------


def test_summaries_pages_of_fifty_with_next_token(amazon_sandbox, api):
    amazon_sandbox.seed(listings=0, fba=120)

    pages, token = [], None
    while True:
        response = api.summaries(details="true", **({"nextToken": token} if token else {}))
        assert response.status_code == 200
        assert response.headers["x-amzn-RateLimit-Limit"] == "2.0"
        body = response.json()
        assert conforms(amazon_sandbox, response) == []
        pages.append(body["payload"]["inventorySummaries"])
        token = body.get("pagination", {}).get("nextToken")
        amazon_sandbox.advance_clock(1)  # keep within the 2/s bucket
        if not token:
            break

    assert [len(page) for page in pages] == [50, 50, 20]
    skus = [row["sellerSku"] for page in pages for row in page]
    assert skus == sorted(skus)
    assert len(set(skus)) == 120
    row = pages[0][0]
    details = row["inventoryDetails"]
    assert row["totalQuantity"] == (
        details["fulfillableQuantity"]
        + details["inboundWorkingQuantity"]
        + details["inboundShippedQuantity"]
        + details["inboundReceivingQuantity"]
        + details["reservedQuantity"]["totalReservedQuantity"]
        + details["unfulfillableQuantity"]["totalUnfulfillableQuantity"]
        + details["researchingQuantity"]["totalResearchingQuantity"]
    )
    assert row["fnSku"].startswith("X00")
    assert "inventoryDetails" not in api.summaries().json()["payload"]["inventorySummaries"][0]


def test_next_token_expires_30_seconds_after_it_was_issued(amazon_sandbox, api):
    amazon_sandbox.seed(listings=0, fba=60)
    token = api.summaries().json()["pagination"]["nextToken"]

    amazon_sandbox.advance_clock(29)
    assert api.summaries(nextToken=token).status_code == 200

    token = api.summaries().json()["pagination"]["nextToken"]
    amazon_sandbox.advance_clock(31)
    expired = api.summaries(nextToken=token)
    assert expired.status_code == 400
    assert expired.json() == {
        "errors": [{"code": "InvalidInput", "message": "Next token is invalid or expired", "details": ""}]
    }


def test_summaries_filters_and_parameter_checks(amazon_sandbox, api):
    amazon_sandbox.seed(listings=0, fba=5)
    skus = [row["sellerSku"] for row in amazon_sandbox.fba_inventory()]
    amazon_sandbox.advance_clock(60)
    since = amazon_sandbox.now()
    amazon_sandbox.advance_clock(1)
    amazon_sandbox.set_fba_quantity(skus[2], 99)
    amazon_sandbox.advance_clock(1)

    changed = api.summaries(startDateTime=since.isoformat().replace("+00:00", "Z"), sellerSkus=skus[0])
    assert [row["sellerSku"] for row in changed.json()["payload"]["inventorySummaries"]] == [skus[2]]
    amazon_sandbox.advance_clock(1)
    chosen = api.summaries(sellerSkus=f"{skus[0]},{skus[4]}")
    assert [row["sellerSku"] for row in chosen.json()["payload"]["inventorySummaries"]] == [skus[0], skus[4]]
    amazon_sandbox.advance_clock(1)
    assert api.summaries(granularityId="A2EUQ1WTGCTBG2").status_code == 400
    amazon_sandbox.advance_clock(1)
    assert api.summaries(marketplaceIds="ATVPDKIKX0DER,A2EUQ1WTGCTBG2").status_code == 400
    amazon_sandbox.advance_clock(1)
    assert api.summaries(startDateTime="yesterday").status_code == 400


def test_sandbox_only_fba_operations_seed_inventory(amazon_sandbox, api):
    created = api.request(
        "POST",
        "/fba/inventory/v1/items",
        json={"sellerSku": "FBA-1", "marketplaceId": "ATVPDKIKX0DER", "productName": "Thing"},
    )
    assert created.status_code == 200
    body = {"inventoryItems": [{"sellerSku": "FBA-1", "marketplaceId": "ATVPDKIKX0DER", "quantity": 8}]}
    headers = {"x-amzn-idempotency-token": "once"}
    assert api.request("POST", "/fba/inventory/v1/items/inventory", json=body, headers=headers).status_code == 200
    assert api.request("POST", "/fba/inventory/v1/items/inventory", json=body, headers=headers).status_code == 200
    assert amazon_sandbox.fba_quantity("FBA-1") == 8
    assert api.request("POST", "/fba/inventory/v1/items/inventory", json=body).status_code == 400
    assert api.request("POST", "/fba/inventory/v1/items", json={"sellerSku": "X"}).status_code == 400
    assert amazon_sandbox.spec_violations()[0][1] == [
        "'marketplaceId' is a required property",
        "'productName' is a required property",
    ]


# --- Rate limits ---------------------------------------------------------------------------------------------


def test_sixth_rapid_patch_is_429_quota_exceeded(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)
    amazon_sandbox.configure(freeze_rate_clock=True)

    responses = [api.patch_listing("SKU-1", quantity_patch(n)) for n in range(6)]

    assert [r.status_code for r in responses] == [200, 200, 200, 200, 200, 429]
    throttled = responses[-1]
    assert throttled.json() == QUOTA
    assert throttled.headers["x-amzn-RateLimit-Limit"] == "5.0"
    assert throttled.headers["x-amzn-RequestId"]
    assert amazon_sandbox.mfn_quantity("SKU-1") == 4
    assert amazon_sandbox.logged_requests()[-1].fault == "rate_limited"
    amazon_sandbox.advance_clock(0.2)
    assert api.patch_listing("SKU-1", quantity_patch(9)).status_code == 200


def test_rapid_patches_on_the_real_clock_are_throttled_too(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)

    statuses = [api.patch_listing("SKU-1", quantity_patch(n)).status_code for n in range(6)]

    assert statuses == [200, 200, 200, 200, 200, 429]


def test_within_the_rate_nothing_is_throttled(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)
    amazon_sandbox.seed(listings=0, fba=3)
    amazon_sandbox.configure(freeze_rate_clock=True)

    statuses = []
    for _ in range(3):
        statuses += [api.patch_listing("SKU-1", quantity_patch(n)).status_code for n in range(5)]
        statuses += [api.summaries().status_code for _ in range(2)]
        amazon_sandbox.advance_clock(1)

    assert set(statuses) == {200}
    assert api.summaries().status_code == 200
    assert api.summaries().status_code == 200
    assert api.summaries().status_code == 429  # 2/s, burst 2: the operations have separate buckets
    assert api.patch_listing("SKU-1", quantity_patch(1)).status_code == 200


def test_rate_limits_can_be_changed_or_switched_off(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)
    amazon_sandbox.configure(freeze_rate_clock=True)
    control(amazon_sandbox, "POST", "rate-limits", {"getListingsItem": {"rate": 1, "burst": 1}})

    assert api.get_listing("SKU-1").status_code == 200
    second = api.get_listing("SKU-1")
    assert second.status_code == 429
    assert second.headers["x-amzn-RateLimit-Limit"] == "1.0"

    amazon_sandbox.configure(enforce_rate_limits=False)
    assert {api.get_listing("SKU-1").status_code for _ in range(5)} == {200}


# --- Feeds ---------------------------------------------------------------------------------------------------


def upload_feed(api, document):
    sandbox = api.sandbox
    created = api.request(
        "POST", "/feeds/2021-06-30/documents", json={"contentType": "application/json; charset=UTF-8"}
    )
    assert created.status_code == 201
    document_id, url = created.json()["feedDocumentId"], created.json()["url"]
    assert url.startswith(sandbox.url + "/feed-documents/")
    put = requests.put(
        url,
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/json; charset=UTF-8"},
        timeout=TIMEOUT,
    )
    assert put.status_code == 200
    feed = api.request(
        "POST",
        "/feeds/2021-06-30/feeds",
        json={
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": ["ATVPDKIKX0DER"],
            "inputFeedDocumentId": document_id,
        },
    )
    assert feed.status_code == 202
    return feed.json()["feedId"]


def read_report(api, feed):
    document = api.request("GET", f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}").json()
    content = requests.get(document["url"], timeout=TIMEOUT).content
    if document.get("compressionAlgorithm") == "GZIP":
        content = gzip.decompress(content)
    return json.loads(content)


def feed_message(message_id, sku, quantity, **extra):
    return {
        "messageId": message_id,
        "sku": sku,
        "operationType": "PATCH",
        "productType": "PRODUCT",
        "patches": quantity_patch(quantity)["patches"],
        **extra,
    }


def test_listings_feed_end_to_end_with_a_per_sku_error(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 1)
    amazon_sandbox.add_listing("SKU-2", 2)
    amazon_sandbox.add_listing("SKU-3", 3)
    document = {
        "header": {"sellerId": amazon_sandbox.seller_id, "version": "2.0", "issueLocale": "en_US"},
        "messages": [
            feed_message(1, "SKU-1", 10),
            feed_message(2, "GHOST", 5),
            feed_message(3, "SKU-2", -1),
            feed_message(4, "SKU-3", 30),
        ],
    }

    feed_id = upload_feed(api, document)
    statuses = []
    while True:
        feed = api.request("GET", f"/feeds/2021-06-30/feeds/{feed_id}").json()
        statuses.append(feed["processingStatus"])
        if feed["processingStatus"] in {"DONE", "FATAL"}:
            break

    assert statuses == ["IN_QUEUE", "IN_PROGRESS", "DONE"]
    assert feed["feedType"] == "JSON_LISTINGS_FEED"
    assert feed["processingStartTime"]
    assert feed["processingEndTime"]
    report = read_report(api, feed)
    assert report["header"] == {"sellerId": amazon_sandbox.seller_id, "version": "2.0", "feedId": feed_id}
    assert report["summary"] == {
        "errors": 2,
        "warnings": 0,
        "messagesProcessed": 4,
        "messagesAccepted": 2,
        "messagesInvalid": 2,
    }
    by_sku = {issue["sku"]: issue for issue in report["issues"]}
    assert by_sku["GHOST"]["messageId"] == 2
    assert by_sku["GHOST"]["severity"] == "ERROR"
    assert by_sku["GHOST"]["code"] == "NOT_FOUND"
    assert by_sku["SKU-2"]["messageId"] == 3
    assert by_sku["SKU-2"]["attributeName"] == "fulfillment_availability"
    assert [amazon_sandbox.mfn_quantity(sku) for sku in ("SKU-1", "SKU-2", "SKU-3")] == [10, 2, 30]
    assert amazon_sandbox.spec_violations() == []


def test_feed_messages_breaking_the_schema_are_reported_one_by_one(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 1)
    document = {
        "header": {"sellerId": amazon_sandbox.seller_id, "version": "2.0"},
        "messages": [
            {"messageId": 1, "sku": "SKU-1", "operationType": "PATCH", "productType": "PRODUCT"},
            feed_message(1, "SKU-1", 4),
            feed_message(1, "SKU-1", 5),
        ],
        "extra": True,
    }
    feed_id = upload_feed(api, document)

    feed = amazon_sandbox.process_feed(feed_id)

    assert feed["processingStatus"] == "DONE"
    issues = feed["_sandbox"]["report"]["issues"]
    assert [issue["code"] for issue in issues] == ["4000003", "4000002"]
    assert "'patches' is a required property" in issues[0]["message"]
    assert amazon_sandbox.mfn_quantity("SKU-1") == 4
    ((record, reasons),) = amazon_sandbox.spec_violations()
    assert record.method == "PUT"
    assert any("'patches' is a required property" in reason for reason in reasons)


def test_feeds_that_cannot_be_processed_are_fatal(amazon_sandbox, api):
    created = api.request("POST", "/feeds/2021-06-30/documents", json={"contentType": "application/json"}).json()
    body = {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": ["ATVPDKIKX0DER"], "inputFeedDocumentId": ""}
    body["inputFeedDocumentId"] = created["feedDocumentId"]
    never_uploaded = api.request("POST", "/feeds/2021-06-30/feeds", json=body).json()["feedId"]
    other_seller = upload_feed(api, {"header": {"sellerId": "AOTHER", "version": "2.0"}, "messages": [{}]})

    assert amazon_sandbox.process_feed(never_uploaded)["processingStatus"] == "FATAL"
    fatal = amazon_sandbox.process_feed(other_seller)
    assert fatal["processingStatus"] == "FATAL"
    assert "sellerId" in read_report(api, fatal)["issues"][0]["message"]
    assert (
        api.request("POST", "/feeds/2021-06-30/feeds", json={**body, "feedType": "POST_PRODUCT_DATA"}).status_code
        == 400
    )
    assert api.request("POST", "/feeds/2021-06-30/feeds", json={**body, "inputFeedDocumentId": "x"}).status_code == 400
    assert api.request("POST", "/feeds/2021-06-30/documents", json={}).status_code == 400


def test_presigned_urls_check_their_signature_and_expire(amazon_sandbox, api):
    created = api.request("POST", "/feeds/2021-06-30/documents", json={"contentType": "application/json"}).json()
    url = created["url"]

    forged = requests.put(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), data=b"{}", timeout=TIMEOUT)
    assert forged.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in forged.content
    amazon_sandbox.advance_clock(301)
    expired = requests.put(url, data=b"{}", timeout=TIMEOUT)
    assert expired.status_code == 403
    assert b"Request has expired" in expired.content


def test_feed_progress_by_the_clock_gzip_reports_listing_and_cancel(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 1)
    amazon_sandbox.configure(feed_advance="clock", feed_step_seconds=10, gzip_reports=True)
    header = {"sellerId": amazon_sandbox.seller_id, "version": "2.0"}
    header["report"] = {"includedData": ["fulfillmentAvailability"], "apiVersion": "2021-08-01"}
    feed_id = upload_feed(api, {"header": header, "messages": [feed_message(1, "SKU-1", 8)]})
    queued = upload_feed(api, {"header": header, "messages": [feed_message(1, "SKU-1", 9)]})
    assert api.request("DELETE", f"/feeds/2021-06-30/feeds/{queued}").status_code == 200

    assert api.request("GET", f"/feeds/2021-06-30/feeds/{feed_id}").json()["processingStatus"] == "IN_QUEUE"
    amazon_sandbox.advance_clock(10)
    assert api.request("GET", f"/feeds/2021-06-30/feeds/{feed_id}").json()["processingStatus"] == "IN_PROGRESS"
    assert amazon_sandbox.mfn_quantity("SKU-1") == 1
    amazon_sandbox.advance_clock(10)
    feed = api.request("GET", f"/feeds/2021-06-30/feeds/{feed_id}").json()
    assert feed["processingStatus"] == "DONE"
    report = read_report(api, feed)
    assert report["items"] == [
        {"sku": "SKU-1", "fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT", "quantity": 8}]}
    ]
    assert report["summary"]["itemSummary"] == {"items": 1, "errors": 0, "warnings": 0}
    listed = api.request("GET", "/feeds/2021-06-30/feeds", params={"feedTypes": "JSON_LISTINGS_FEED"}).json()
    assert {f["feedId"]: f["processingStatus"] for f in listed["feeds"]} == {feed_id: "DONE", queued: "CANCELLED"}
    assert amazon_sandbox.mfn_quantity("SKU-1") == 8


# --- Notifications ---------------------------------------------------------------------------------------------


def test_seller_central_edits_relay_notifications_with_the_api_key(amazon_sandbox, webhook_receiver):
    amazon_sandbox.add_listing("SKU-1", 7)
    amazon_sandbox.add_listing("FBA-1", fba=True, fulfillable=20)
    amazon_sandbox.configure_webhook(webhook_receiver.url, api_key_name="x-api-key", api_key_value="s3cret")

    mfn = amazon_sandbox.set_mfn_quantity("SKU-1", 3)
    fba = amazon_sandbox.set_fba_quantity("FBA-1", 18, pending_customer_order=2)
    unchanged = amazon_sandbox.set_mfn_quantity("SKU-1", 3)

    received = webhook_receiver.wait_for(2)
    assert len(received) == 2
    assert mfn["deliveries"][0]["ok"]
    assert fba["deliveries"][0]["ok"]
    assert unchanged["deliveries"] == []
    for request in received:
        assert request.method == "POST"
        assert request.headers["x-api-key"] == "s3cret"
        assert request.headers["content-type"] == "application/json"
        assert amazon_sandbox.notification_violations(request.json) == []
    first, second = (request.json for request in received)
    assert first["NotificationType"] == MFN_EVENT
    assert first["Payload"] == {
        "SellerId": amazon_sandbox.seller_id,
        "FulfillmentChannelCode": "DEFAULT",
        "Sku": "SKU-1",
        "Quantity": 3,
    }
    assert first["NotificationMetadata"]["ApplicationId"] == amazon_sandbox.application_id
    assert second["NotificationType"] == FBA_EVENT
    inventory = second["Payload"]["FulfillmentInventoryByMarketplace"][0]
    assert inventory["MarketplaceId"] == "ATVPDKIKX0DER"
    assert inventory["FulfillmentInventory"]["Fulfillable"] == 18
    assert inventory["FulfillmentInventory"]["ReservedQuantityBreakdown"]["PendingCustomerOrder"] == 2
    assert len(amazon_sandbox.notifications()) == 2


def test_api_changes_notify_after_the_response_and_eventbridge_format(amazon_sandbox, api, webhook_receiver):
    amazon_sandbox.add_listing("SKU-1", 7)
    amazon_sandbox.configure_webhook(webhook_receiver.url, format="eventbridge", events=[MFN_EVENT])

    assert api.patch_listing("SKU-1", quantity_patch(11)).status_code == 200

    (received,) = webhook_receiver.wait_for(1)
    event = received.json
    assert event["detail-type"] == MFN_EVENT
    assert event["source"].startswith("aws.partner/sellingpartnerapi.amazon/")
    assert event["detail"]["Payload"]["Quantity"] == 11
    assert received.headers["x-api-key"] == amazon_sandbox.relay_api_key
    assert amazon_sandbox.notification_violations(event) == []

    amazon_sandbox.configure(webhooks_for_api_changes=False)
    api.patch_listing("SKU-1", quantity_patch(12))
    amazon_sandbox.add_listing("FBA-1", fba=True, fulfillable=1)
    control(amazon_sandbox, "POST", "notifications/send", {"type": FBA_EVENT, "sku": "FBA-1"})
    assert len(webhook_receiver.wait_for(2, timeout=0.5)) == 1  # FBA is not among the relayed events


def test_manual_notifications_can_be_switched_off(amazon_sandbox, webhook_receiver):
    amazon_sandbox.add_listing("SKU-1", 7)
    amazon_sandbox.configure_webhook(webhook_receiver.url)
    amazon_sandbox.configure(notify_on_manual_changes=False)

    amazon_sandbox.set_mfn_quantity("SKU-1", 1)
    response = control(amazon_sandbox, "POST", "notifications/send", {"sku": "SKU-1"})

    assert len(response.json()["deliveries"]) == 1
    assert webhook_receiver.wait_for(1)[0].json["Payload"]["Quantity"] == 1


# --- What python-amazon-sp-api sends ---------------------------------------------------------------------------


def test_odd_host_extra_marketplace_params_and_sigv4_headers_are_ignored(amazon_sandbox):
    amazon_sandbox.seed(listings=0, fba=3)
    token = amazon_sandbox.issue_access_token()
    query = urllib.parse.urlencode(
        {
            "details": "true",
            "granularityType": "Marketplace",
            "granularityId": "ATVPDKIKX0DER",
            "MarketplaceId": "ATVPDKIKX0DER",
            "MarketplaceIds": "ATVPDKIKX0DER",
            "marketplace_ids": "ATVPDKIKX0DER",
            "marketplaceIds": "ATVPDKIKX0DER",
        }
    )
    connection = http.client.HTTPConnection("127.0.0.1", amazon_sandbox.server.port, timeout=TIMEOUT)
    try:
        connection.request(
            "GET",
            "/fba/inventory/v1/summaries?" + query,
            headers={
                "host": amazon_sandbox.lwa_host[1:],  # the library drops the first character of http:// hosts
                "user-agent": "python-sp-api-2.1.35",
                "x-amz-access-token": token,
                "x-amz-date": "20261121T120000Z",
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261121/us-east-1/execute-api/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=abc",
                "x-amz-security-token": "IQoJ",
                "content-type": "application/json; charset=utf-8",
            },
        )
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()

    assert response.status == 200
    assert len(body["payload"]["inventorySummaries"]) == 3


# --- Faults, control API, determinism --------------------------------------------------------------------------


def test_faults_answer_sp_api_shapes_and_spare_the_control_api(amazon_sandbox, api):
    amazon_sandbox.add_listing("SKU-1", 7)

    amazon_sandbox.configure_faults(error_rate=1.0, error_status=503)
    unavailable = api.get_listing("SKU-1")
    assert unavailable.status_code == 503
    assert unavailable.json()["errors"][0]["code"] == "ServiceUnavailable"
    assert unavailable.headers["x-amzn-RequestId"]
    assert control(amazon_sandbox, "GET", "").status_code == 200

    amazon_sandbox.configure_faults(error_rate=0, throttle_storm=True)
    storm = api.get_listing("SKU-1")
    assert storm.status_code == 429
    assert storm.json() == QUOTA

    amazon_sandbox.configure_faults(throttle_storm=False, malformed_rate=1.0)
    malformed = api.get_listing("SKU-1")
    assert malformed.status_code == 200
    with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
        malformed.json()

    amazon_sandbox.configure_faults(malformed_rate=0, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        api.get_listing("SKU-1")
    control(amazon_sandbox, "DELETE", "faults")
    assert api.get_listing("SKU-1").status_code == 200
    assert [record.fault for record in amazon_sandbox.logged_requests()] == [
        "error",
        "throttle",
        "malformed",
        "drop",
        None,
    ]


def test_control_api_over_http(amazon_sandbox, webhook_receiver):
    state = control(amazon_sandbox, "GET", "").json()
    assert state["seller_id"] == amazon_sandbox.seller_id
    assert state["marketplace_id"] == "ATVPDKIKX0DER"
    assert state["lwa_url"] == amazon_sandbox.url + "/auth/o2/token"
    assert state["rate_limits"]["patchListingsItem"] == {"rate": 5.0, "burst": 5.0}

    seeded = control(amazon_sandbox, "POST", "seed", {"listings": 3, "fba": 2}).json()
    assert seeded["created"] == 5
    mfn_sku = seeded["listings"][0]["sku"]
    fba_sku = seeded["listings"][3]["sku"]
    assert len(control(amazon_sandbox, "GET", "listings").json()["listings"]) == 5
    assert len(control(amazon_sandbox, "GET", "fba").json()["inventory"]) == 2
    assert control(amazon_sandbox, "POST", "listings", {"sku": "NEW-1", "quantity": 4}).json()["quantity"] == 4

    control(amazon_sandbox, "POST", "webhook", {"url": webhook_receiver.url, "api_key_value": "k"})
    assert control(amazon_sandbox, "POST", "mfn", {"sku": mfn_sku, "quantity": 77}).json()["quantity"] == 77
    fba = control(amazon_sandbox, "POST", "fba", {"sku": fba_sku, "fulfillable": 5, "notify": False}).json()
    assert fba["inventoryDetails"]["fulfillableQuantity"] == 5
    assert control(amazon_sandbox, "POST", "stock", {"sku": fba_sku, "location": "AMAZON_NA", "delta": 2}).ok
    assert control(amazon_sandbox, "GET", f"stock?sku={fba_sku}&location=FBA").json()["on_hand"] == 7
    assert control(amazon_sandbox, "GET", f"stock?sku={mfn_sku}").json()["stock"] == {"DEFAULT": 77}
    assert len(webhook_receiver.wait_for(2)) == 2
    assert [d["event"] for d in control(amazon_sandbox, "GET", "webhook/deliveries").json()["deliveries"]] == [
        MFN_EVENT,
        FBA_EVENT,
    ]

    assert control(amazon_sandbox, "POST", "config", {"next_token_ttl": 5})
    assert control(amazon_sandbox, "GET", "config").json()["next_token_ttl"] == 5.0
    assert control(amazon_sandbox, "POST", "config", {"feed_advance": "sometimes"}).status_code == 400
    assert control(amazon_sandbox, "POST", "config", {"nope": 1}).status_code == 400
    assert control(amazon_sandbox, "POST", "mfn", {"sku": "NOPE", "quantity": 1}).status_code == 400
    assert control(amazon_sandbox, "POST", "clock/advance", {"seconds": 5}).ok
    assert control(amazon_sandbox, "GET", "feeds").json() == {"feeds": []}
    assert control(amazon_sandbox, "GET", "spec-violations").json() == {"violations": []}
    assert len(control(amazon_sandbox, "GET", "notifications").json()["notifications"]) == 2

    control(amazon_sandbox, "POST", "reset")
    assert control(amazon_sandbox, "GET", "").json()["counts"]["listings"] == 0
    assert amazon_sandbox.webhook_config() is None


def test_request_log_and_seeding_are_deterministic(amazon_sandbox, api):
    first, second = AmazonSandbox(), AmazonSandbox()
    assert first.seed(listings=5, fba=5) == second.seed(listings=5, fba=5)
    assert first.listings() == second.listings()
    assert first.fba_inventory() == second.fba_inventory()
    assert AmazonSandbox(seed=1).seed(listings=5) != first.seed(listings=5)

    amazon_sandbox.add_listing("SKU-1", 7)
    api.patch_listing("SKU-1", quantity_patch(3))
    (record,) = amazon_sandbox.logged_requests(method="PATCH")
    assert record.partner == "amazon"
    assert record.query == {"marketplaceIds": "ATVPDKIKX0DER"}
    assert record.body == quantity_patch(3)
    assert record.status == 200
    assert amazon_sandbox.submissions_log()[0]["source"] == "patch"


def test_the_contract_checks_bodies_as_the_official_models_do():
    contract = load_contract("amazon")
    path = "/listings/2021-08-01/items/A1/SKU"

    assert contract.request_violations("PATCH", path, quantity_patch(3)) == []
    assert contract.request_violations("PATCH", path, {"productType": 5, "patches": []}) == [
        "patches: [] should be non-empty",
        "productType: 5 is not of type 'string'",
    ]
    assert contract.request_violations("PUT", path, {"productType": "X"}) == ["'attributes' is a required property"]
    assert contract.request_violations("POST", "/fba/inventory/v1/items/inventory", {"inventoryItems": [{}]}) != []
    assert contract.request_violations("POST", "/feeds/2021-06-30/feeds", {"feedType": "X"}) != []
    assert contract.request_violations("GET", "/fba/inventory/v1/summaries", None) == []
