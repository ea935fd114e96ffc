"""Bulk work: stock files previewed and applied all or nothing, rules of many listings, exports."""

import csv
import io
import json
from types import SimpleNamespace

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from alerts.models import Alert
from connectors.models import Kind, OutboundMessage
from connectors.publishing import dedupe_key
from inventory import admin_bulk, exports, imports, selectors, services
from inventory.api.serializers import StockLevelOutput
from inventory.models import (
    ChannelListing,
    ListingStateChange,
    Product,
    StockLevel,
    StockMovement,
    Variant,
)
from reservations import services as reservations
from tests.factories import (
    AlertFactory,
    CategoryFactory,
    ConnectorAccountFactory,
    UserFactory,
    VariantFactory,
    WarehouseFactory,
)

pytestmark = pytest.mark.django_db

Reason = StockMovement.Reason
Source = StockMovement.Source

EXPORT_CSV = "/api/v1/export/stock.csv"
EXPORT_JSON = "/api/v1/export/stock.json"


# --- The world ------------------------------------------------------------------------------------


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def import_url():
    return admin_url(StockLevel, "import")


def on_hand(warehouse, variant):
    return StockLevel.objects.get(warehouse=warehouse, variant=variant).on_hand


def staff(*codenames, username=None):
    user = UserFactory(**({"username": username} if username else {}))
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def main(warehouse):
    return warehouse  # code "main"


@pytest.fixture
def backroom(db):
    return WarehouseFactory(code="backroom")


@pytest.fixture
def shop(main, backroom, receive, channel_with, listing_for):
    """PIPE-A: 10 at main (4 of them held for an order) and 3 in the backroom; PIPE-B: 5 at main; PIPE-C: none."""
    a, b, c = (VariantFactory(sku=sku, product__name=f"Pipe {sku[-1]}") for sku in ("PIPE-A", "PIPE-B", "PIPE-C"))
    receive(main, a, 10)
    receive(main, b, 5)
    receive(backroom, a, 3)
    pos = channel_with(main, code="pos")
    listing_for(pos, a)
    reservations.reserve(channel=pos, order_ref="HOLD-1", lines=[reservations.LineRequest(a, 4)])
    return SimpleNamespace(a=a, b=b, c=c, pos=pos)


def hold(shop, quantity, ref="HOLD-2"):
    reservations.reserve(channel=shop.pos, order_ref=ref, lines=[reservations.LineRequest(shop.a, quantity)])


def upload(client, content, name="count.csv", **form):
    data = content.encode() if isinstance(content, str) else content
    return client.post(import_url(), {"file": SimpleUploadedFile(name, data, content_type="text/csv"), **form})


def apply(client, preview):
    return client.post(import_url(), {"token": preview.context["token"], "apply": "1"})


def template_names(response):
    return [template.name for template in response.templates]


def problems_of(response):
    assert "admin/inventory/bulk/stock_import.html" in template_names(response)
    return [(problem.line, " ".join(problem.errors)) for problem in response.context["problems"]]


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def manual_movements():
    return StockMovement.objects.filter(source=Source.ADMIN)


# --- Stock files: a good file is previewed, then applied in one operation -------------------------


def test_a_count_file_is_previewed_then_applied_in_one_operation(root_client, shop, main, backroom, superuser):
    content = "sku,warehouse,set_on_hand,reference\nPIPE-A,main,12,Aisle 3\nPIPE-B,main,5,\nPIPE-A,backroom,0,\n"

    preview = upload(root_client, content, name="aisle-3.csv")

    assert preview.status_code == 200
    assert "admin/inventory/bulk/stock_import_preview.html" in template_names(preview)
    stock_import = preview.context["stock_import"]
    assert [
        (line.line, line.sku, line.warehouse.code, line.on_hand, line.reserved, line.on_hand_after, line.change)
        for line in stock_import.lines
    ] == [
        (2, "PIPE-A", "main", 10, 4, 12, 2),
        (3, "PIPE-B", "main", 5, 0, 5, 0),
        (4, "PIPE-A", "backroom", 3, 0, 0, -3),
    ]
    assert (stock_import.units_in, stock_import.units_out, len(stock_import.matching)) == (2, 3, 1)
    page = preview.content.decode()
    assert "Apply 2 changes" in page
    assert "1 count matches what is on hand" in page
    assert not manual_movements().exists()  # a preview books nothing

    applied = apply(root_client, preview)

    booked = list(manual_movements().select_related("variant", "warehouse"))
    assert {(m.variant.sku, m.warehouse.code, m.quantity, m.on_hand_after, m.reason, m.reference) for m in booked} == {
        ("PIPE-A", "main", 2, 12, Reason.COUNT, "Aisle 3"),
        ("PIPE-A", "backroom", -3, 0, Reason.COUNT, "aisle-3.csv"),
    }
    assert {m.actor for m in booked} == {superuser}
    (operation_id,) = {m.operation_id for m in booked}
    assert applied.status_code == 302
    assert applied.url == f"{reverse('admin:inventory_stockmovement_changelist')}?operation_id={operation_id}"
    assert root_client.get(applied.url).context["cl"].result_count == 2
    assert (on_hand(main, shop.a), on_hand(main, shop.b), on_hand(backroom, shop.a)) == (12, 5, 0)
    assert not selectors.ledger_mismatches().exists()


def test_an_adjustment_file_with_reasons_and_notes_books_signed_changes(root_client, shop, main):
    content = (
        "sku,warehouse,delta,reason,reference,note\n"
        "PIPE-A,main,-2,damage,,dropped a box\n"
        "PIPE-B,main,+4,Return,RMA-7,\n"
        "PIPE-C,main,6,,,first delivery\n"
    )

    preview = upload(root_client, content, reason="receipt", reference="Delivery 88")
    assert [(line.change, line.reason) for line in preview.context["stock_import"].lines] == [
        (-2, Reason.DAMAGE),
        (4, Reason.RETURN),
        (6, Reason.RECEIPT),
    ]
    apply(root_client, preview)

    booked = manual_movements().order_by("id")
    assert [(m.variant.sku, m.quantity, m.reason, m.reference, m.note) for m in booked] == [
        ("PIPE-A", -2, Reason.DAMAGE, "Delivery 88", "dropped a box"),
        ("PIPE-B", 4, Reason.RETURN, "RMA-7", ""),
        ("PIPE-C", 6, Reason.RECEIPT, "Delivery 88", "first delivery"),
    ]
    assert len({m.operation_id for m in booked}) == 1
    assert (on_hand(main, shop.a), on_hand(main, shop.b), on_hand(main, shop.c)) == (8, 9, 6)


def test_rows_without_a_reason_are_counts_or_adjustments(root_client, shop):
    preview = upload(root_client, "sku,warehouse,set_on_hand,delta\nPIPE-A,main,11,\nPIPE-B,main,,1\n")

    assert [line.reason for line in preview.context["stock_import"].lines] == [Reason.COUNT, Reason.ADJUSTMENT]


def test_excel_files_semicolons_a_bom_and_windows_1252_are_read(root_client, shop, main):
    bom_semicolons = "\ufeffSKU;Warehouse;Counted;Product\r\nPIPE-A;MAIN;9;Pipe A\r\n\r\nPIPE-B;main;7;Pipe B\r\n"
    excel_hint = "sep=;\nsku;warehouse;delta;note\nPIPE-B;main;1;Café\n"

    first = upload(root_client, bom_semicolons.encode("utf-8"))
    second = upload(root_client, excel_hint.encode("cp1252"))

    lines = first.context["stock_import"].lines
    assert [(line.line, line.warehouse.code, line.set_on_hand) for line in lines] == [(2, "main", 9), (4, "main", 7)]
    assert first.context["stock_import"].file.ignored_columns == ("Product",)
    assert "Ignored column: Product" in first.content.decode()
    (line,) = second.context["stock_import"].lines
    assert (line.line, line.delta, line.note) == (3, 1, "Café")
    assert second.context["stock_import"].file.encoding == "cp1252"


def test_rows_without_a_figure_are_skipped_and_listed(root_client, shop):
    content = "sku,warehouse,product,set_on_hand\nPIPE-A,main,Pipe A,\nGONE,main,Old pipe,\nPIPE-B,main,Pipe B,3\n"

    preview = upload(root_client, content)

    stock_import = preview.context["stock_import"]
    assert [line.sku for line in stock_import.lines] == ["PIPE-B"]
    assert stock_import.skipped == (2, 3)
    assert "Skipped, no count or change given: lines 2, 3." in preview.content.decode()


def test_a_count_sheet_lists_a_warehouses_skus_and_reads_back(root_client, shop, main):
    response = root_client.get(admin_url(StockLevel, "count_sheet"), {"warehouse": "main"})

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"] == 'attachment; filename="count-sheet-main.csv"'
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == list(imports.COUNT_SHEET_COLUMNS)
    assert [row[:2] for row in rows[1:]] == [["PIPE-A", "main"], ["PIPE-B", "main"]]
    rows[2][3] = "2"  # PIPE-B counted; PIPE-A not

    out = io.StringIO()
    csv.writer(out).writerows(rows)
    preview = upload(root_client, "\ufeff" + out.getvalue())

    assert [(line.sku, line.on_hand_after) for line in preview.context["stock_import"].lines] == [("PIPE-B", 2)]
    assert root_client.get(admin_url(StockLevel, "count_sheet"), {"warehouse": "attic"}).status_code == 404


# --- Stock files: any bad row refuses the whole file, every bad row named by its line -------------


def test_every_bad_row_is_reported_by_line_and_nothing_is_applied(root_client, shop):
    content = (
        "sku,warehouse,set_on_hand,delta\n"
        "PIPE-B,main,6,\n"  # 2: good
        "NOPE,main,1,\n"  # 3
        "PIPE-B,attic,1,\n"  # 4
        "PIPE-A,backroom,-1,\n"  # 5
        "PIPE-A,main,,-7\n"  # 6: 10 - 7 = 3, below the 4 reserved
        "PIPE-C,main,,2.5\n"  # 7
        "PIPE-B,main,,1\n"  # 8: the level of line 2 again
        "PIPE-C,backroom,4,2\n"  # 9
    )

    response = upload(root_client, content)

    assert response.status_code == 200
    problems = problems_of(response)
    assert [line for line, _ in problems] == [3, 4, 5, 6, 7, 8, 9]
    for (_, message), expected in zip(
        problems,
        [
            "Unknown SKU 'NOPE'",
            "Unknown warehouse 'attic'",
            "must not be negative",
            "below the 4 units reserved",
            "'2.5' is not a whole number",
            "also on line 2",
            "not both",
        ],
        strict=True,
    ):
        assert expected in message
    page = response.content.decode()
    assert "Nothing was changed: 7 rows of count.csv are wrong" in page
    assert "token" not in response.context
    assert not manual_movements().exists()


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        ("NOPE,main,1,", "Unknown SKU 'NOPE'."),
        ("PIPE-B,attic,1,", "Unknown warehouse 'attic'."),
        (",main,1,", "The SKU is missing."),
        ("PIPE-A,backroom,-4,", "The counted quantity must not be negative (got -4)."),
        ("PIPE-A,main,3,", "On hand would become 3, below the 4 units reserved."),
        ("PIPE-A,main,,-7", "On hand would become 3, below the 4 units reserved."),
        ("PIPE-A,backroom,,-4", "On hand would go from 3 to -1; it cannot go below zero."),
        ("PIPE-A,backroom,three,", "The counted quantity 'three' is not a whole number."),
        ("PIPE-A,backroom,,1.0", "The change '1.0' is not a whole number."),
        ("PIPE-A,backroom,,0", "A change of zero books nothing; leave the row out."),
        ("PIPE-A,backroom,,1000000001", "The change must be at most 1,000,000,000 either way."),
        ("PIPE-B,main,,1", "PIPE-B at main is also on line 2; give each level once (add the counts up)."),
        ("PIPE-A,backroom,2,2", "Give a counted quantity (set_on_hand) or a change (delta), not both."),
        ("PIPE-A,backroom,2,,sale", "Unknown reason 'sale'; use one of receipt, count, adjustment, damage, return."),
        ("PIPE-A,backroom,2,,,x", "The row has 1 more field(s) than the header names."),
    ],
    ids=[
        "unknown_sku",
        "unknown_warehouse",
        "missing_sku",
        "negative_count",
        "count_below_reserved",
        "delta_below_reserved",
        "delta_below_zero",
        "count_not_integer",
        "delta_not_integer",
        "zero_change",
        "huge_change",
        "duplicate_level",
        "count_and_change",
        "reason_not_manual",
        "extra_field",
    ],
)
def test_one_bad_row_refuses_the_whole_file(root_client, shop, main, bad_row, expected):
    content = f"sku,warehouse,set_on_hand,delta,reason\nPIPE-B,main,7,,\n{bad_row}\n"

    response = upload(root_client, content)

    assert problems_of(response) == [(3, expected)]
    assert not manual_movements().exists()
    assert on_hand(main, shop.b) == 5


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("sku,warehouse,reason\nPIPE-A,main,count\n", "needs a set_on_hand column"),
        ("sku,set_on_hand\nPIPE-A,3\n", "no warehouse column"),
        ("PIPE-A,main,3\nPIPE-B,main,4\n", "The first line must name the columns"),
        ("sku,warehouse,count,counted\nPIPE-A,main,3,3\n", "both give set_on_hand"),
        ("sku,warehouse,set_on_hand\n", "a header but no rows"),
        ("sku,warehouse,set_on_hand\nPIPE-A,main,\n", "there is nothing to apply"),
        ("\n \n", "The file is empty."),
        ('sku,warehouse,set_on_hand,note\nPIPE-A,main,3,"unclosed\n', "Line 2: the file is not valid CSV"),
        (b"PK\x03\x04\x00\x00workbook", "not a CSV text file"),
    ],
    ids=[
        "no_figure_column",
        "no_warehouse_column",
        "no_header",
        "column_twice",
        "no_rows",
        "no_figures",
        "empty",
        "bad_csv",
        "xlsx",
    ],
)
def test_a_file_that_cannot_be_used_is_refused_whole(root_client, shop, content, expected):
    response = upload(root_client, content)

    assert response.status_code == 200
    assert expected in " ".join(response.context["adminform"].form.errors["file"])
    assert not manual_movements().exists()


def test_an_oversized_file_is_refused_before_it_is_read(root_client, shop, monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 64)
    content = "sku,warehouse,set_on_hand\n" + "PIPE-B,main,7\n" * 5  # 96 bytes

    response = upload(root_client, content)

    assert "the most accepted is 64" in " ".join(response.context["adminform"].form.errors["file"])
    with pytest.raises(imports.StockFileError, match="the most accepted is 64"):
        imports.read_stock_file(content.encode())
    assert not manual_movements().exists()


def test_a_file_with_too_many_rows_is_refused(root_client, shop, monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_ROWS", 2)

    response = upload(root_client, "sku,warehouse,set_on_hand\nPIPE-A,main,10\nPIPE-B,main,5\nPIPE-C,main,1\n")

    assert "more than 2 rows" in " ".join(response.context["adminform"].form.errors["file"])
    assert not manual_movements().exists()


# --- Stock files: what moved between the preview and the apply ------------------------------------


def test_a_change_whose_level_moved_is_refused_until_confirmed_again(root_client, shop, main, receive):
    preview = upload(root_client, "sku,warehouse,delta,reason\nPIPE-B,main,-2,damage\n")
    receive(main, shop.b, 3)  # 5 -> 8 while the clerk looks at the preview

    refused = apply(root_client, preview)

    assert refused.status_code == 200
    assert "admin/inventory/bulk/stock_import_preview.html" in template_names(refused)
    (moved,) = refused.context["stale"].details
    assert (moved["line"], moved["previewed"], moved["on_hand"]) == (2, 5, 8)
    (line,) = refused.context["stock_import"].lines
    assert (line.on_hand, line.on_hand_after) == (8, 6)
    assert "the stock moved since the preview" in refused.content.decode()
    assert not manual_movements().exists()
    assert on_hand(main, shop.b) == 8

    applied = apply(root_client, refused)

    assert applied.status_code == 302
    assert on_hand(main, shop.b) == 6
    assert manual_movements().get().quantity == -2


def test_a_count_whose_level_moved_is_applied_as_counted_and_reported(root_client, shop, main, receive):
    preview = upload(root_client, "sku,warehouse,set_on_hand\nPIPE-B,main,4\n")  # shows 5 -> 4
    receive(main, shop.b, 3)  # 8 on hand now

    applied = apply(root_client, preview)

    assert applied.status_code == 302
    assert on_hand(main, shop.b) == 4
    assert manual_movements().get().quantity == -4
    (warning,) = [text for text in messages_of(applied) if "moved after the preview" in text]
    assert "line 2: PIPE-B at main was 5, then 8" in warning


def test_a_count_left_below_what_was_reserved_meanwhile_is_refused_by_line(root_client, shop, main):
    preview = upload(root_client, "sku,warehouse,set_on_hand\nPIPE-B,main,1\nPIPE-A,main,5\n")  # 4 reserved: fine
    hold(shop, 2)  # 6 reserved now

    refused = apply(root_client, preview)

    assert problems_of(refused) == [(3, "On hand would become 5, below the 6 units reserved.")]
    assert not manual_movements().exists()
    assert on_hand(main, shop.b) == 5


def test_a_refusal_under_the_lock_names_the_line_and_writes_nothing(shop, main):
    stock_import = imports.plan_stock_import(
        imports.read_stock_file(b"sku,warehouse,set_on_hand\nPIPE-B,main,1\nPIPE-A,main,5\n", name="x.csv")
    )
    hold(shop, 2)  # after the plan was checked

    with pytest.raises(imports.StockImportRefused) as refused:
        imports.apply_stock_import(stock_import, previewed=stock_import.figures, actor=None)

    assert [problem.as_dict() for problem in refused.value.problems] == [
        {
            "line": 3,
            "sku": "PIPE-A",
            "warehouse": "main",
            "errors": ["On hand would become 5, below the 6 units reserved."],
        }
    ]
    assert on_hand(main, shop.b) == 5
    assert not manual_movements().exists()


def test_applying_the_same_preview_twice_books_it_once(root_client, shop, main):
    preview = upload(root_client, "sku,warehouse,delta\nPIPE-B,main,2\n")

    first = apply(root_client, preview)
    second = apply(root_client, preview)

    assert first.status_code == 302
    assert (second.status_code, second.url) == (302, import_url())
    assert "applied already or has expired" in " ".join(messages_of(second))
    assert on_hand(main, shop.b) == 7
    assert manual_movements().count() == 1


def test_another_users_preview_cannot_be_applied(client, root_client, shop, main):
    preview = upload(root_client, "sku,warehouse,delta\nPIPE-B,main,2\n")
    other = staff("view_stocklevel", "adjust_stock", username="other-clerk")
    client.force_login(other)

    response = apply(client, preview)

    assert response.status_code == 302
    assert on_hand(main, shop.b) == 5


# --- Stock files: who may ----------------------------------------------------------------------------


def test_importing_needs_the_adjust_stock_permission(client, shop, main):
    clerk = staff("view_stocklevel", "view_variant", "view_warehouse", username="clerk")
    client.force_login(clerk)
    content = "sku,warehouse,delta\nPIPE-B,main,2\n"

    assert client.get(import_url()).status_code == 403
    assert upload(client, content).status_code == 403
    assert client.post(import_url(), {"token": "0" * 32}).status_code == 403
    assert client.get(admin_url(StockLevel, "count_sheet")).status_code == 403
    changelist = client.get(admin_url(StockLevel, "changelist"))
    assert changelist.status_code == 200
    assert import_url() not in changelist.content.decode()

    clerk.user_permissions.add(Permission.objects.get(codename="adjust_stock"))
    clerk = type(clerk).objects.get(pk=clerk.pk)  # forget the cached permissions
    client.force_login(clerk)
    assert import_url() in client.get(admin_url(StockLevel, "changelist")).content.decode()
    applied = apply(client, upload(client, content))

    assert applied.status_code == 302
    assert manual_movements().get().actor == clerk
    assert on_hand(main, shop.b) == 7


# --- Rules of many listings ------------------------------------------------------------------------


@pytest.fixture
def marketplace(shop, main, channel_with, listing_for):
    """An Amazon channel over main listing PIPE-A and PIPE-B, its publishing account, and a POS listing of PIPE-B."""
    channel = channel_with(main, code="amazon-us", kind="marketplace")
    ConnectorAccountFactory(
        kind=Kind.AMAZON_SP_API,
        warehouse=None,
        channel=channel,
        settings={"seller_id": "A2SELLER", "marketplace_id": "ATVPDKIKX0DER"},
    )
    amazon_a, amazon_b = listing_for(channel, shop.a), listing_for(channel, shop.b)
    pos_b = listing_for(shop.pos, shop.b)
    services.refresh_listings(listing_ids=[amazon_a.pk, amazon_b.pk, pos_b.pk], cause=ListingStateChange.Cause.RULES)
    return SimpleNamespace(channel=channel, a=amazon_a, b=amazon_b, pos_b=pos_b)


def change_rules(client, listings, **form):
    data = {"action": "change_listing_rules", "_selected_action": [listing.pk for listing in listings], **form}
    return client.post(admin_url(ChannelListing, "changelist"), data)


def rules_of(listing):
    listing.refresh_from_db()
    return (listing.buffer, listing.allocation_percent, listing.max_quantity, listing.enabled)


def published(listing):
    return OutboundMessage.objects.get(dedupe_key=dedupe_key(listing.pk)).payload["quantity"]


def test_bulk_rules_ask_for_the_rules_first(root_client, marketplace):
    response = change_rules(root_client, [marketplace.a, marketplace.b], index=0)

    assert response.status_code == 200
    assert "admin/inventory/bulk/listing_rules.html" in template_names(response)
    assert [listing.pk for listing, _ in response.context["listings"]] == [marketplace.a.pk, marketplace.b.pk]
    assert rules_of(marketplace.a) == (0, 100, None, True)


def test_bulk_rules_apply_to_every_selected_listing_and_republish(root_client, marketplace, superuser):
    assert (published(marketplace.a), published(marketplace.b)) == (6, 5)

    response = change_rules(
        root_client, [marketplace.a, marketplace.b], apply="1", buffer="1", allocation_percent="50", max_quantity="2"
    )

    assert response.status_code == 302
    assert rules_of(marketplace.a) == rules_of(marketplace.b) == (1, 50, 2, True)
    assert rules_of(marketplace.pos_b) == (0, 100, None, True)  # not selected
    assert (published(marketplace.a), published(marketplace.b)) == (2, 2)  # min(2, (6 - 1) * 50%), min(2, 4 * 50%)
    assert "Set buffer 1, allocation 50%, cap 2 on 2 listing(s)." in messages_of(response)
    logged = LogEntry.objects.filter(object_id__in=[str(marketplace.a.pk), str(marketplace.b.pk)], user=superuser)
    assert logged.count() == 2
    assert logged.first().get_change_message() == "Changed buffer, allocation percent and max quantity."


def test_disabling_many_listings_records_each_transition(root_client, marketplace):
    response = change_rules(root_client, [marketplace.a, marketplace.b, marketplace.pos_b], apply="1", enabled="off")

    assert response.status_code == 302
    for listing in (marketplace.a, marketplace.b, marketplace.pos_b):
        listing.refresh_from_db()
        assert (listing.enabled, listing.is_sellable) == (False, False)
        latest = listing.state_changes.first()
        assert (latest.sellable, latest.available, latest.cause) == (False, 0, ListingStateChange.Cause.RULES)
    assert (published(marketplace.a), published(marketplace.b)) == (0, 0)
    assert "3 became unsellable." in " ".join(messages_of(response))


def test_bulk_rules_remove_caps_and_leave_listings_that_already_match(root_client, marketplace):
    services.update_listing_rules(marketplace.a, max_quantity=1)

    response = change_rules(root_client, [marketplace.a, marketplace.b], apply="1", clear_cap="on")

    assert response.status_code == 302
    assert rules_of(marketplace.a)[2] is None
    assert published(marketplace.a) == 6
    assert "Set no cap on 1 listing(s). 1 already had these rules." in messages_of(response)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"allocation_percent": "101"}, "allocation_percent"),
        ({"allocation_percent": "-1"}, "allocation_percent"),
        ({"buffer": "-1"}, "buffer"),
        ({"buffer": "two"}, "buffer"),
        ({"max_quantity": "-5"}, "max_quantity"),
        ({"max_quantity": "3", "clear_cap": "on"}, "max_quantity"),
        ({"enabled": "maybe"}, "enabled"),
        ({}, "__all__"),
    ],
    ids=[
        "percent_101",
        "percent_negative",
        "buffer_negative",
        "buffer_text",
        "cap_negative",
        "cap_and_no_cap",
        "enabled",
        "nothing",
    ],
)
def test_an_invalid_bulk_value_changes_nothing(root_client, marketplace, form, field):
    before = {
        listing.pk: ChannelListing.objects.get(pk=listing.pk).updated_at for listing in (marketplace.a, marketplace.b)
    }
    states = ListingStateChange.objects.count()

    response = change_rules(root_client, [marketplace.a, marketplace.b], apply="1", **form)

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert rules_of(marketplace.a) == rules_of(marketplace.b) == (0, 100, None, True)
    assert {pk: ChannelListing.objects.get(pk=pk).updated_at for pk in before} == before
    assert ListingStateChange.objects.count() == states


def test_bulk_rules_are_all_or_nothing(root_client, marketplace, monkeypatch):
    real = services.update_listing_rules
    calls = []

    def refuse_the_second(listing, **rules):
        calls.append(listing.pk)
        if len(calls) == 2:
            raise services.InvalidQuantity("The partner refuses this listing.")
        return real(listing, **rules)

    monkeypatch.setattr(services, "update_listing_rules", refuse_the_second)

    response = change_rules(root_client, [marketplace.a, marketplace.b], apply="1", buffer="3")

    assert response.status_code == 200
    assert "The partner refuses this listing." in str(response.context["adminform"].form.non_field_errors())
    assert rules_of(marketplace.a) == rules_of(marketplace.b) == (0, 100, None, True)
    assert published(marketplace.a) == 6


def test_bulk_rules_across_the_filtered_list(root_client, marketplace):
    url = f"{admin_url(ChannelListing, 'changelist')}?channel__id__exact={marketplace.channel.pk}"

    response = root_client.post(
        url,
        {
            "action": "change_listing_rules",
            "_selected_action": [marketplace.a.pk],  # the page's ticked rows; select_across takes the whole list
            "select_across": "1",
            "apply": "1",
            "buffer": "2",
        },
    )

    assert response.status_code == 302
    assert (rules_of(marketplace.a)[0], rules_of(marketplace.b)[0], rules_of(marketplace.pos_b)[0]) == (2, 2, 0)


def test_bulk_rules_need_the_change_exposure_rules_permission(client, marketplace):
    user = staff("view_channellisting", "change_channellisting", username="lister")
    client.force_login(user)

    page = client.get(admin_url(ChannelListing, "changelist"))
    response = change_rules(client, [marketplace.a], apply="1", buffer="4")

    assert "change_listing_rules" not in page.content.decode()
    assert "admin/inventory/bulk/listing_rules.html" not in template_names(response)
    assert rules_of(marketplace.a) == (0, 100, None, True)


# --- Exports through the API ------------------------------------------------------------------------


def api_client(*codenames):
    client = APIClient()
    client.force_authenticate(staff(*codenames))
    return client


@pytest.fixture
def exporter(db):
    return api_client("export_data")


def csv_rows(response):
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def json_body(response):
    return json.loads(b"".join(response.streaming_content))


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    return body["error"]


def test_stock_csv_has_a_header_and_a_row_per_level(exporter, shop):
    response = exporter.get(EXPORT_CSV)

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="stock-')
    rows = csv_rows(response)
    assert rows[0] == list(exports.STOCK_COLUMNS)
    assert [row[:8] for row in rows[1:]] == [
        ["PIPE-A", "Pipe A", "Default", "backroom", "3", "0", "3", "5"],
        ["PIPE-A", "Pipe A", "Default", "main", "10", "4", "6", "5"],
        ["PIPE-B", "Pipe B", "Default", "main", "5", "0", "5", "5"],
    ]


def test_stock_json_has_the_stock_lists_fields(exporter, shop):
    listed = api_client("view_stocklevel").get("/api/v1/stock/").json()["results"]

    response = exporter.get(EXPORT_JSON)

    assert response["Content-Type"] == "application/json"
    body = json_body(response)
    assert list(body) == ["export", "exported_at", "results", "count"]
    assert (body["export"], body["count"], len(body["results"])) == ("stock", 3, 3)
    assert set(body["results"][0]) == set(StockLevelOutput.Meta.fields)

    def without_time(rows):
        return [{k: v for k, v in row.items() if k != "updated_at"} for row in rows]

    assert without_time(body["results"]) == without_time(listed)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"sku": "PIPE-B"}, [("PIPE-B", "main")]),
        ({"sku": ["PIPE-B", "PIPE-A"], "warehouse": "main"}, [("PIPE-A", "main"), ("PIPE-B", "main")]),
        ({"warehouse": "backroom"}, [("PIPE-A", "backroom")]),
        ({"below_threshold": "true"}, [("PIPE-A", "backroom"), ("PIPE-B", "main")]),
        ({"below_threshold": "false"}, [("PIPE-A", "main")]),
        ({"sku": "NOPE"}, []),
    ],
)
def test_stock_exports_filter(exporter, shop, query, expected):
    as_csv = csv_rows(exporter.get(EXPORT_CSV, query))
    as_json = json_body(exporter.get(EXPORT_JSON, query))

    assert [(row[0], row[3]) for row in as_csv[1:]] == expected
    assert [(row["sku"], row["warehouse"]) for row in as_json["results"]] == expected


@pytest.mark.parametrize("url", [EXPORT_CSV, EXPORT_JSON])
def test_exports_need_the_export_permission(url, shop):
    assert_error(APIClient().get(url), 401, "not_authenticated")
    viewer = api_client("view_stocklevel", "view_stockmovement", "adjust_stock")
    assert_error(viewer.get(url), 403, "permission_denied")
    assert_error(viewer.get(url, HTTP_ACCEPT="text/csv"), 403, "permission_denied")


def test_exports_answer_whatever_the_client_accepts(exporter, shop):
    response = exporter.get(EXPORT_CSV, HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert len(csv_rows(response)) == 4


@pytest.fixture
def many_levels(main):
    """2,000 stock levels at main, booked in one operation."""
    product = Product.objects.create(category=CategoryFactory(), name="Bulk")
    variants = Variant.objects.bulk_create(Variant(product=product, sku=f"BULK-{n:05d}") for n in range(2000))
    changes = [
        services.StockChange(main, variant, Reason.RECEIPT, delta=n % 7 + 1) for n, variant in enumerate(variants)
    ]
    services.apply_stock_changes(changes, source=Source.SYSTEM)
    return variants


def test_a_large_export_streams_in_chunks_with_a_fixed_number_of_queries(
    exporter, many_levels, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        response = exporter.get(EXPORT_CSV)
        chunks = list(response.streaming_content)

    assert isinstance(response, StreamingHttpResponse)
    assert len(chunks) > 1
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 2001
    assert rows[1][:5] == ["BULK-00000", "Bulk", "", "main", "1"]

    with django_assert_max_num_queries(6):
        body = json_body(exporter.get(EXPORT_JSON))
    assert body["count"] == len(body["results"]) == 2000


def test_openapi_documents_the_exports_with_their_filters(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    csv_op = schema["paths"]["/api/v1/export/stock.csv"]["get"]
    json_op = schema["paths"]["/api/v1/export/stock.json"]["get"]
    for operation in (csv_op, json_op):
        assert {"sku", "warehouse", "below_threshold"} <= {p["name"] for p in operation["parameters"]}
        assert {"200", "401", "403"} <= set(operation["responses"])
    assert "text/csv" in csv_op["responses"]["200"]["content"]
    assert "application/json" in json_op["responses"]["200"]["content"]


# --- Exports in the admin ---------------------------------------------------------------------------


@pytest.fixture
def alerts(shop, main):
    return [
        AlertFactory(variant=shop.a, warehouse=main, context={"available": 6}),
        AlertFactory(variant=shop.b, kind="low_stock", severity="medium", status=Alert.Status.RESOLVED),
    ]


EXPORTED = [
    (StockLevel, "stock", StockLevel.objects.all),
    (ChannelListing, "listings", ChannelListing.objects.all),
    (StockMovement, "movements", StockMovement.objects.all),
    (Alert, "alerts", Alert.objects.all),
]


@pytest.mark.parametrize(("model", "kind", "everything"), EXPORTED, ids=[kind for _, kind, _ in EXPORTED])
def test_every_list_exports_as_csv_and_json(root_client, marketplace, alerts, model, kind, everything):
    as_csv = root_client.get(admin_url(model, "export", "csv"))
    as_json = root_client.get(admin_url(model, "export", "json"))

    assert isinstance(as_csv, StreamingHttpResponse)
    text = b"".join(as_csv.streaming_content).decode()
    assert text.startswith("\ufeff")  # for spreadsheets
    rows = csv_rows_of(text)
    assert rows[0] == list(exports.KINDS[kind].columns)
    assert len(rows) - 1 == everything().count()
    body = json_body(as_json)
    assert body["export"] == kind
    assert body["count"] == everything().count()
    assert all(list(row) == list(exports.KINDS[kind].columns) for row in body["results"])


def csv_rows_of(text):
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_admin_exports_follow_the_lists_filters_and_search(root_client, shop, main, backroom):
    url = admin_url(StockLevel, "export", "csv")

    by_warehouse = csv_rows_of(
        b"".join(root_client.get(url, {"warehouse__id__exact": backroom.pk}).streaming_content).decode()
    )
    searched = csv_rows_of(b"".join(root_client.get(url, {"q": "PIPE-B"}).streaming_content).decode())
    low = json_body(root_client.get(admin_url(StockLevel, "export", "json"), {"below_threshold": "yes"}))

    assert [(row[0], row[3]) for row in by_warehouse[1:]] == [("PIPE-A", "backroom")]
    assert [(row[0], row[3]) for row in searched[1:]] == [("PIPE-B", "main")]
    assert [(row["sku"], row["warehouse"]) for row in low["results"]] == [("PIPE-A", "backroom"), ("PIPE-B", "main")]
    receipts = json_body(root_client.get(admin_url(StockMovement, "export", "json"), {"reason__exact": "receipt"}))
    assert receipts["count"] == 3


def test_the_changelists_link_their_exports_with_the_current_filters(root_client, shop, backroom):
    page = root_client.get(admin_url(StockLevel, "changelist"), {"warehouse__id__exact": backroom.pk, "p": 1})

    assert page.context["export_links"] == [
        ("Export CSV", f"{admin_url(StockLevel, 'export', 'csv')}?warehouse__id__exact={backroom.pk}"),
        ("Export JSON", f"{admin_url(StockLevel, 'export', 'json')}?warehouse__id__exact={backroom.pk}"),
    ]
    for model in (ChannelListing, StockMovement, Alert):
        assert admin_url(model, "export", "csv") in root_client.get(admin_url(model, "changelist")).content.decode()


def test_export_selected_actions(root_client, marketplace, alerts):
    listings = root_client.post(
        admin_url(ChannelListing, "changelist"),
        {"action": "export_selected_csv", "_selected_action": [marketplace.b.pk], "index": 0},
    )
    chosen = root_client.post(
        admin_url(Alert, "changelist"),
        {"action": "export_selected_json", "_selected_action": [alerts[0].pk], "index": 0},
    )

    rows = csv_rows_of(b"".join(listings.streaming_content).decode())
    assert [dict(zip(rows[0], row, strict=True)) for row in rows[1:]] == [
        {
            "channel": "amazon-us",
            "sku": "PIPE-B",
            "product": "Pipe B",
            "variant_name": "Default",
            "buffer": "0",
            "allocation_percent": "100",
            "max_quantity": "",
            "enabled": "true",
            "price": "",
            "pool": "5",
            "channel_available": "5",
            "is_sellable": "true",
            "sellable_changed_at": rows[1][12],
            "updated_at": rows[1][13],
        }
    ]
    (alert,) = json_body(chosen)["results"]
    assert (alert["sku"], alert["warehouse"], alert["context"], alert["status"]) == (
        "PIPE-A",
        "main",
        {"available": 6},
        "open",
    )


def test_admin_exports_need_the_export_permission(client, shop, alerts):
    viewer = staff("view_stocklevel", "view_stockmovement", "view_channellisting", "view_alert", username="viewer")
    client.force_login(viewer)

    for model in (StockLevel, ChannelListing, StockMovement, Alert):
        page = client.get(admin_url(model, "changelist"))
        assert page.status_code == 200
        assert admin_url(model, "export", "csv") not in page.content.decode()
        assert "export_selected_csv" not in page.content.decode()
        assert client.get(admin_url(model, "export", "csv")).status_code == 403
    refused = client.post(
        admin_url(Alert, "changelist"), {"action": "export_selected_csv", "_selected_action": [alerts[0].pk]}
    )
    assert not isinstance(refused, StreamingHttpResponse)

    exporter = staff("export_data", username="no-viewer")  # may export, may not see the lists
    client.force_login(exporter)
    assert client.get(admin_url(StockLevel, "export", "csv")).status_code == 403
    assert client.get(admin_url(StockLevel, "export", "xlsx")).status_code in (403, 404)


def test_listing_exports_cost_the_same_queries_for_many_rows(
    root_client, main, receive, channel_with, listing_for, django_assert_max_num_queries
):
    channel = channel_with(main)

    def add(n):
        for _ in range(n):
            variant = VariantFactory()
            receive(main, variant, 3)
            listing_for(channel, variant, buffer=1)

    url = admin_url(ChannelListing, "export", "csv")
    add(3)
    b"".join(root_client.get(url).streaming_content)  # warm per-process caches
    with CaptureQueriesContext(connection) as three:
        b"".join(root_client.get(url).streaming_content)
    add(27)

    with django_assert_max_num_queries(len(three)):
        rows = csv_rows_of(b"".join(root_client.get(url).streaming_content).decode())

    assert len(rows) == 31
    assert {row[10] for row in rows[1:]} == {"2"}  # channel_available = 3 - buffer 1


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(root_client, shop, main):
    services.adjust_stock(
        warehouse=main, variant=shop.b, delta=1, reason=Reason.ADJUSTMENT, source=Source.ADMIN, note="=HYPERLINK(1)"
    )

    rows = csv_rows_of(b"".join(root_client.get(admin_url(StockMovement, "export", "csv")).streaming_content).decode())
    body = json_body(root_client.get(admin_url(StockMovement, "export", "json")))

    assert rows[1][exports.MOVEMENT_COLUMNS.index("note")] == "'=HYPERLINK(1)"
    assert rows[1][exports.MOVEMENT_COLUMNS.index("quantity")] == "1"
    assert body["results"][0]["note"] == "=HYPERLINK(1)"


def test_the_bulk_mixins_register_their_actions(rf, superuser):
    from django.contrib import admin as django_admin

    request = rf.get("/")
    request.user = superuser
    actions = {
        model: set(django_admin.site._registry[model].get_actions(request))
        for model in (StockLevel, ChannelListing, StockMovement, Alert)
    }

    assert {"adjust_selected_levels", "export_selected_csv", "export_selected_json"} <= actions[StockLevel]
    assert {"change_listing_rules", "export_selected_csv", "export_selected_json"} <= actions[ChannelListing]
    assert actions[StockMovement] == set()  # the ledger offers no actions
    assert {"acknowledge_selected", "resolve_selected", "export_selected_csv"} <= actions[Alert]
    assert admin_bulk.PREVIEW_TTL_SECONDS >= 3600
