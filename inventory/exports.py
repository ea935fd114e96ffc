"""Exports of stock levels, listings, movements (and other apps' registered kinds: alerts) as CSV or JSON, streamed.

Each kind reads its rows from a queryset (by default its selector's; the admin passes the list
as filtered, the API the filtered stock levels) with ``values_list(...).iterator()``, so memory
stays flat however many rows there are and the cost is a fixed number of queries: one for
stock, movements and alerts, and for listings one more pair per chunk of rows for their channel
availability (the one formula, ``inventory.selectors.listing_availability``).

CSV: a header of the column names, then a row per record; empty cells for nothing, ``true`` or
``false`` for yes and no, ISO 8601 times. Text that a spreadsheet would run as a formula (it
begins with ``=``, ``+``, ``-`` or ``@``) is prefixed with an apostrophe. Files for the admin
begin with a UTF-8 byte-order mark, so that spreadsheets read accents right; the API's do not.

JSON: ``{"export": kind, "exported_at": ..., "results": [{column: value, ...}, ...], "count": n}``,
``count`` last because it is known once every row has been written.
"""

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from inventory import selectors
from inventory.api.serializers import StockLevelOutput, StockMovementOutput
from inventory.models import ChannelListing
from inventory.scoping import listings_with_pool_seen_by, organization_ids

#: Rows fetched per round trip, and rows per chunk of the response.
CHUNK_SIZE = 1000
FORMATS = ("csv", "json")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportKind:
    name: str
    columns: tuple[str, ...]
    rows: Callable[..., Iterator[dict]]
    #: ``rows(queryset, viewer=user)``: some of a row's fields are only its owner's to see.
    per_viewer: bool = False


# --- The kinds ------------------------------------------------------------------------------------

#: The stock list API's fields, in its order.
STOCK_COLUMNS = tuple(StockLevelOutput.Meta.fields)


def stock_rows(levels: QuerySet | None = None) -> Iterator[dict]:
    """Stock levels with what is available; the same fields as the stock list API."""
    levels = selectors.stock_levels() if levels is None else levels
    values = levels.values_list(
        "variant__sku",
        "variant__product__name",
        "variant__name",
        "warehouse__code",
        "on_hand",
        "reserved",
        "variant__low_stock_threshold",
        "updated_at",
    )
    for sku, product, name, warehouse, on_hand, reserved, threshold, updated_at in values.iterator(CHUNK_SIZE):
        yield {
            "sku": sku,
            "product": product,
            "variant_name": name,
            "warehouse": warehouse,
            "on_hand": on_hand,
            "reserved": reserved,
            "available": on_hand - reserved,
            "low_stock_threshold": threshold,
            "updated_at": updated_at,
        }


LISTING_COLUMNS = (
    "channel",
    "sku",
    "product",
    "variant_name",
    "buffer",
    "allocation_percent",
    "max_quantity",
    "enabled",
    "price",
    "pool",
    "channel_available",
    "is_sellable",
    "sellable_changed_at",
    "updated_at",
)
_LISTING_FIELDS = (
    "pk",
    "channel__organization_id",
    "channel__code",
    "variant__sku",
    "variant__product__name",
    "variant__name",
    "buffer",
    "allocation_percent",
    "max_quantity",
    "enabled",
    "price",
    "is_sellable",
    "sellable_changed_at",
    "updated_at",
)


def listing_rows(listings: QuerySet | None = None, *, viewer=None) -> Iterator[dict]:
    """Listings with their exposure rules, their pool and what their channel may sell now.

    ``channel_available`` is empty (null) for an untracked variant without a cap: no limit. For a
    ``viewer``, as the admin shows them: the price only of their own organizations' channels, the pool
    only of listings whose stock is all their organizations' (``inventory.scoping.pools_of``).
    """
    listings = ChannelListing.objects.order_by("channel__code", "variant__sku", "pk") if listings is None else listings
    own = None if viewer is None else organization_ids(viewer)
    for batch in _batches(listings.values_list(*_LISTING_FIELDS).iterator(CHUNK_SIZE), CHUNK_SIZE):
        chunk = ChannelListing.objects.filter(pk__in=[row[0] for row in batch])
        availability = {entry.rules.listing_id: entry for entry in selectors.listing_availability(chunk)}
        pools_shown = (
            None if viewer is None else set(listings_with_pool_seen_by(chunk, viewer).values_list("pk", flat=True))
        )
        for pk, *values in batch:
            row = dict(zip(_LISTING_FIELDS[1:], values, strict=True))
            entry = availability[pk]
            yield {
                "channel": row["channel__code"],
                "sku": row["variant__sku"],
                "product": row["variant__product__name"],
                "variant_name": row["variant__name"],
                "buffer": row["buffer"],
                "allocation_percent": row["allocation_percent"],
                "max_quantity": row["max_quantity"],
                "enabled": row["enabled"],
                "price": row["price"] if own is None or row["channel__organization_id"] in own else None,
                "pool": entry.pool if pools_shown is None or pk in pools_shown else None,
                "channel_available": entry.available,
                "is_sellable": row["is_sellable"],
                "sellable_changed_at": row["sellable_changed_at"],
                "updated_at": row["updated_at"],
            }


#: The movements API's fields, in its order.
MOVEMENT_COLUMNS = tuple(StockMovementOutput.Meta.fields)


def movement_rows(movements: QuerySet | None = None) -> Iterator[dict]:
    """The ledger (newest first unless the queryset orders it otherwise); the movements API's fields."""
    movements = selectors.stock_movements() if movements is None else movements
    values = movements.values_list(
        "pk",
        "created_at",
        "variant__sku",
        "warehouse__code",
        "quantity",
        "on_hand_after",
        "reason",
        "source",
        f"actor__{get_user_model().USERNAME_FIELD}",
        "reference",
        "note",
        "operation_id",
    )
    for record in values.iterator(CHUNK_SIZE):
        yield dict(zip(MOVEMENT_COLUMNS, record, strict=True))


KINDS = {
    kind.name: kind
    for kind in (
        ExportKind("stock", STOCK_COLUMNS, stock_rows),
        ExportKind("listings", LISTING_COLUMNS, listing_rows, per_viewer=True),
        ExportKind("movements", MOVEMENT_COLUMNS, movement_rows),
    )
}


def register(kind: ExportKind) -> None:
    """Another app's export (alerts registers its own: ``inventory`` imports no other app)."""
    KINDS[kind.name] = kind


# --- Formats --------------------------------------------------------------------------------------


class _Echo:
    """A file-like object that hands back what is written, for csv.writer to format one row at a time."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        return f"'{text}"
    return text


def csv_chunks(columns: Iterable[str], rows: Iterable[dict | list], *, bom: bool = False) -> Iterator[str]:
    """The CSV text of ``rows`` (dicts keyed by ``columns``, or lists in their order), in chunks of rows."""
    columns = list(columns)
    writer = csv.writer(_Echo())
    buffer = ["\ufeff" if bom else "", writer.writerow(columns)]
    for row in rows:
        cells = [row.get(column) for column in columns] if isinstance(row, dict) else row
        buffer.append(writer.writerow([_cell(value) for value in cells]))
        if len(buffer) >= CHUNK_SIZE:
            yield "".join(buffer)
            buffer = []
    yield "".join(buffer)


def json_chunks(kind: str, rows: Iterable[dict], *, exported_at=None) -> Iterator[str]:
    """The JSON document of ``rows``, in chunks of rows."""
    exported_at = exported_at or timezone.now()
    head = json.dumps({"export": kind, "exported_at": exported_at}, cls=DjangoJSONEncoder)
    buffer, count = [head[:-1], ', "results": ['], 0
    for row in rows:
        buffer.append(("," if count else "") + "\n" + json.dumps(row, cls=DjangoJSONEncoder))
        count += 1
        if len(buffer) >= CHUNK_SIZE:
            yield "".join(buffer)
            buffer = []
    buffer.append(f'\n], "count": {count}}}\n')
    yield "".join(buffer)


def filename(kind: str, fmt: str) -> str:
    return f"{kind}-{timezone.localtime():%Y%m%d-%H%M%S}.{fmt}"


def export_response(
    kind: str, fmt: str, queryset: QuerySet | None = None, *, viewer=None, for_spreadsheet: bool = False
):
    """A streamed download of ``kind`` (stock, listings, movements, alerts) as ``fmt`` (csv, json).

    ``queryset`` narrows and orders the rows (default: all, in the kind's own order); ``viewer``, the
    user it is for, leaves out the fields of those rows that are others' (a reseller's listing price);
    ``for_spreadsheet`` starts a CSV with a byte-order mark for Excel.
    """
    export = KINDS[kind]
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}")
    rows = export.rows(queryset, viewer=viewer) if export.per_viewer else export.rows(queryset)
    chunks = csv_chunks(export.columns, rows, bom=for_spreadsheet) if fmt == "csv" else json_chunks(kind, rows)
    return streaming_download(chunks, fmt=fmt, name=filename(kind, fmt))


def streaming_download(chunks: Iterator[str], *, fmt: str, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse((chunk.encode() for chunk in chunks), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
