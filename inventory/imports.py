"""Stock count and adjustment files: read a CSV, preview every change, apply it all or nothing.

A file has a header naming its columns and one stock level per row: ``sku`` and ``warehouse``
(the warehouse code), then either ``set_on_hand`` (what was counted) or ``delta`` (a signed
change), and optionally ``reason``, ``reference`` and ``note``. Comma, semicolon or tab
delimited (Excel's ``sep=;`` first line is understood), UTF-8 with or without a BOM, or
Windows-1252. Other columns (a product name, say) are ignored and listed as such; a row that
gives neither a count nor a change is skipped and listed, so a count sheet may leave out what
was not counted.

Reading never writes. ``read_stock_file`` checks the file as a whole (size, text, header,
columns, number of rows) and raises StockFileError; ``plan_stock_import`` checks every row
against the catalog and the levels as they are now and collects every bad row by its line
number. ``apply_stock_import`` books the rows through ``inventory.services.apply_stock_changes``
as one operation (the admin source, the clerk as actor): all of them or, if any is refused,
none.

Between the preview and the apply a level may move (a sale, a receipt elsewhere):

- a **count** is what is physically there, so it is applied as counted; the difference is
  worked out under the lock, and the counts whose level moved are reported with the result;
- a **change** was confirmed against the on-hand figure the preview showed, so if that figure
  has moved the whole import is refused with StalePreview and nothing is written: the clerk
  sees the current figures and confirms again.
"""

import csv
import io
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from inventory import services
from inventory.exceptions import DomainError, InvalidInput, StockRuleViolation
from inventory.locking import lock_stock_levels, stock_transaction
from inventory.models import StockLevel, StockMovement, Variant, Warehouse

Reason = StockMovement.Reason

#: The largest file accepted, and the most rows in it (a whole warehouse's count fits).
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000

#: Column names as people write them, and the field each one means.
COLUMN_ALIASES = {
    "sku": "sku",
    "warehouse": "warehouse",
    "warehouse_code": "warehouse",
    "set_on_hand": "set_on_hand",
    "counted": "set_on_hand",
    "count": "set_on_hand",
    "counted_quantity": "set_on_hand",
    "delta": "delta",
    "change": "delta",
    "change_by": "delta",
    "reason": "reason",
    "reference": "reference",
    "note": "note",
    "notes": "note",
}
COLUMNS = ("sku", "warehouse", "set_on_hand", "delta", "reason", "reference", "note")
DELIMITERS = (",", ";", "\t")
ENCODINGS = ("utf-8-sig", "cp1252")

REFERENCE_MAX_LENGTH = StockMovement._meta.get_field("reference").max_length
NOTE_MAX_LENGTH = 2000

#: Lookups per query when resolving SKUs and levels (well inside every database's parameter limit).
_QUERY_CHUNK = 2000
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")


class StockFileError(InvalidInput):
    """The file as a whole cannot be used (too large, not text, no header, a column missing); nothing was changed."""

    code = "invalid_stock_file"


@dataclass(frozen=True)
class RowProblem:
    """A bad row: its line in the file and everything wrong with it."""

    line: int
    sku: str
    warehouse: str
    errors: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"line": self.line, "sku": self.sku, "warehouse": self.warehouse, "errors": list(self.errors)}


class StockImportRefused(InvalidInput):
    """Rows of the file are wrong; ``problems`` (and ``details``) name each by line. Nothing was changed."""

    code = "stock_import_refused"

    def __init__(self, problems: list[RowProblem]):
        self.problems = problems
        first = problems[0]
        more = f" ({len(problems) - 1} more bad rows; see details.)" if len(problems) > 1 else ""
        super().__init__(
            f"Nothing was changed. Line {first.line}: {' '.join(first.errors)}{more}",
            details=[problem.as_dict() for problem in problems],
        )


class StalePreview(DomainError):
    """Levels changed by the file moved since its preview; nothing was changed. ``details`` names them."""

    code = "stale_preview"
    http_status = 409


@dataclass(frozen=True)
class RawRow:
    line: int
    values: dict[str, str]
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class StockFile:
    """A decoded CSV file: its rows by line number, not yet checked against the database."""

    name: str
    text: str
    encoding: str
    delimiter: str
    columns: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    rows: tuple[RawRow, ...]

    @property
    def encoding_name(self) -> str:
        return {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}.get(self.encoding, self.encoding)

    @property
    def delimiter_name(self) -> str:
        return {",": "comma", ";": "semicolon", "\t": "tab"}.get(self.delimiter, repr(self.delimiter))


@dataclass(frozen=True)
class ImportLine:
    """One good row, as it would be booked, with the level's figures as read for the preview."""

    line: int
    variant: Variant
    warehouse: Warehouse
    reason: str
    set_on_hand: int | None
    delta: int | None
    reference: str
    note: str
    on_hand: int
    reserved: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.warehouse.pk, self.variant.pk)

    @property
    def figure_key(self) -> str:
        return f"{self.warehouse.pk}:{self.variant.pk}"

    @property
    def sku(self) -> str:
        return self.variant.sku

    @property
    def is_count(self) -> bool:
        return self.set_on_hand is not None

    @property
    def on_hand_after(self) -> int:
        return self.set_on_hand if self.is_count else self.on_hand + self.delta

    @property
    def change(self) -> int:
        return self.on_hand_after - self.on_hand

    @property
    def reason_label(self) -> str:
        return Reason(self.reason).label

    def stock_change(self) -> services.StockChange:
        return services.StockChange(
            warehouse=self.warehouse,
            variant=self.variant,
            reason=self.reason,
            delta=self.delta,
            set_on_hand=self.set_on_hand,
            reference=self.reference,
            note=self.note,
        )


@dataclass(frozen=True)
class StockImport:
    """A checked file: the good rows, the bad ones by line, and the lines skipped for having no figure."""

    file: StockFile
    lines: tuple[ImportLine, ...]
    problems: tuple[RowProblem, ...]
    skipped: tuple[int, ...]
    reason: str = ""
    reference: str = ""

    @property
    def is_valid(self) -> bool:
        return not self.problems

    @property
    def changing(self) -> list[ImportLine]:
        return [line for line in self.lines if line.change]

    @property
    def matching(self) -> list[ImportLine]:
        """Counts equal to what is on hand: applied, they book nothing."""
        return [line for line in self.lines if not line.change]

    @property
    def units_in(self) -> int:
        return sum(line.change for line in self.lines if line.change > 0)

    @property
    def units_out(self) -> int:
        return -sum(line.change for line in self.lines if line.change < 0)

    @property
    def figures(self) -> dict[str, int]:
        """On hand per level as the preview showed it, keyed ``"warehouse_id:variant_id"`` (storable as JSON)."""
        return {line.figure_key: line.on_hand for line in self.lines}


@dataclass(frozen=True)
class AppliedImport:
    operation_id: uuid.UUID
    movements: list[StockMovement]
    lines: tuple[ImportLine, ...]
    #: Counts whose level moved after the preview: ``{"line", "sku", "warehouse", "previewed", "on_hand"}``.
    recounted: list[dict] = field(default_factory=list)


# --- Reading the file -----------------------------------------------------------------------------


def read_stock_file(data: bytes, *, name: str = "") -> StockFile:
    """Decode and split ``data`` into rows; raises StockFileError for what makes the whole file unusable."""
    if len(data) > MAX_IMPORT_BYTES:
        raise StockFileError(
            f"The file is {len(data):,} bytes; the most accepted is {MAX_IMPORT_BYTES:,}. Split it into smaller files.",
            details={"size": len(data), "max_size": MAX_IMPORT_BYTES},
        )
    if b"\x00" in data:
        raise StockFileError("This is not a CSV text file (a spreadsheet workbook?). Save it as CSV and upload that.")
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return parse_stock_text(text, name=name, encoding=encoding)
    raise StockFileError("The file is not readable text. Save it as CSV UTF-8 and upload that.")


def parse_stock_text(text: str, *, name: str = "", encoding: str = "utf-8") -> StockFile:
    """Split decoded ``text`` into rows, finding the header and the delimiter."""
    text = text.removeprefix("\ufeff")
    stream = io.StringIO(text, newline="")
    line_number, delimiter = 0, None
    while True:
        physical = stream.readline()
        if not physical:
            raise StockFileError("The file is empty.")
        line_number += 1
        stripped = physical.strip()
        if not stripped:
            continue
        if len(stripped) == 5 and stripped.lower().startswith("sep="):  # Excel's delimiter hint
            delimiter = stripped[4]
            continue
        break
    header_line = line_number
    delimiter, header = _header(physical, delimiter)
    columns, ignored = _columns(header)

    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    rows, previous_end = [], 0
    try:
        for fields in reader:
            start, previous_end = header_line + previous_end + 1, reader.line_num
            if not any(value.strip() for value in fields):
                continue
            if len(rows) == MAX_IMPORT_ROWS:
                raise StockFileError(
                    f"The file has more than {MAX_IMPORT_ROWS:,} rows. Split it into smaller files.",
                    details={"max_rows": MAX_IMPORT_ROWS},
                )
            values = {
                column: value.strip() for column, value in zip(columns, fields, strict=False) if column is not None
            }
            extra = tuple(value for value in fields[len(columns) :] if value.strip())
            rows.append(RawRow(start, values, extra))
    except csv.Error as error:
        line = header_line + previous_end + 1  # where the broken row begins
        raise StockFileError(f"Line {line}: the file is not valid CSV ({error}).", details={"line": line}) from error
    if not rows:
        raise StockFileError("The file has a header but no rows.")
    return StockFile(
        name=name,
        text=text,
        encoding=encoding,
        delimiter=delimiter,
        columns=tuple(column for column in columns if column is not None),
        ignored_columns=ignored,
        rows=tuple(rows),
    )


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _header(line: str, delimiter: str | None) -> tuple[str, list[str]]:
    """The delimiter that makes the most sense of the header line, and the header's names."""
    candidates = [delimiter] if delimiter else DELIMITERS
    best = None
    for candidate in candidates:
        try:
            names = next(csv.reader([line], delimiter=candidate))
        except (csv.Error, StopIteration):
            continue
        known = sum(_normalise(name) in COLUMN_ALIASES for name in names)
        if best is None or known > best[0]:
            best = (known, candidate, names)
    if best is None or "sku" not in {COLUMN_ALIASES.get(_normalise(name)) for name in best[2]}:
        raise StockFileError(
            "The first line must name the columns, for example: sku,warehouse,set_on_hand "
            "(or sku,warehouse,delta,reason).",
        )
    return best[1], best[2]


def _columns(header: list[str]) -> tuple[list[str | None], tuple[str, ...]]:
    columns, ignored, seen = [], [], {}
    for name in header:
        column = COLUMN_ALIASES.get(_normalise(name))
        if column is None:
            if name.strip():
                ignored.append(name.strip())
            columns.append(None)
            continue
        if column in seen:
            raise StockFileError(
                f"The columns {seen[column]!r} and {name.strip()!r} both give {column}; keep one.",
                details={"column": column},
            )
        seen[column] = name.strip()
        columns.append(column)
    missing = [column for column in ("sku", "warehouse") if column not in seen]
    if missing:
        raise StockFileError(f"The file has no {' or '.join(missing)} column.", details={"missing_columns": missing})
    if "set_on_hand" not in seen and "delta" not in seen:
        raise StockFileError(
            "The file needs a set_on_hand column (what was counted) or a delta column (a signed change).",
            details={"missing_columns": ["set_on_hand or delta"]},
        )
    return columns, tuple(ignored)


# --- Checking the rows ----------------------------------------------------------------------------


def plan_stock_import(
    stock_file: StockFile, *, reason: str = "", reference: str = "", warehouses=None, variants=None
) -> StockImport:
    """Check every row of ``stock_file`` against the catalog and the current levels; writes nothing.

    ``reason`` is used for rows without one (else a count for counted rows and an adjustment for
    changes); ``reference`` for rows without one (else the file's name). ``warehouses`` and
    ``variants`` are those the rows may name (all by default; the admin passes those the user may
    adjust stock of: another organization's are as unknown as ones that do not exist).
    """
    if reason and reason not in services.MANUAL_REASONS:
        raise InvalidInput(f"Unknown reason {reason!r}.", details={"field": "reason", "value": reason})
    reference = (reference or stock_file.name)[:REFERENCE_MAX_LENGTH]
    variants = _variants(
        (row.values.get("sku", "") for row in stock_file.rows), Variant.objects.all() if variants is None else variants
    )
    warehouses = _Warehouses(Warehouse.objects.all() if warehouses is None else warehouses)

    parsed, problems, skipped, first_line_of = [], [], [], {}
    for row in stock_file.rows:
        errors, result = _check_row(row, variants, warehouses, reason=reason, reference=reference)
        sku, code = row.values.get("sku", ""), row.values.get("warehouse", "")
        if result is None and not errors:
            skipped.append(row.line)
            continue
        level_name = (sku, warehouses.code_of(code) or code.lower())
        if sku and code and level_name in first_line_of:
            errors.append(
                f"{sku} at {level_name[1]} is also on line {first_line_of[level_name]}; "
                "give each level once (add the counts up)."
            )
        first_line_of.setdefault(level_name, row.line)
        if errors:
            problems.append(RowProblem(row.line, sku, code, tuple(errors)))
        else:
            parsed.append(result)

    figures = _current_figures((item["warehouse"].pk, item["variant"].pk) for item in parsed)
    lines = []
    for item in parsed:
        on_hand, reserved = figures.get((item["warehouse"].pk, item["variant"].pk), (0, 0))
        line = ImportLine(**item, on_hand=on_hand, reserved=reserved)
        problem = _level_problem(line)
        if problem:
            problems.append(RowProblem(line.line, line.sku, line.warehouse.code, (problem,)))
        else:
            lines.append(line)
    problems.sort(key=lambda problem: problem.line)
    return StockImport(
        file=stock_file,
        lines=tuple(lines),
        problems=tuple(problems),
        skipped=tuple(skipped),
        reason=reason,
        reference=reference,
    )


def _check_row(row: RawRow, variants, warehouses, *, reason: str, reference: str) -> tuple[list[str], dict | None]:
    """Every error of one row, and the row's booking when there is one (None: no figure given)."""
    values, errors = row.values, []
    counted_text, delta_text = values.get("set_on_hand", ""), values.get("delta", "")
    if row.extra:
        errors.append(f"The row has {len(row.extra)} more field(s) than the header names.")
    elif not counted_text and not delta_text:
        return [], None  # no figure (a line of a count sheet not counted): skipped, not refused
    sku, code = values.get("sku", ""), values.get("warehouse", "")
    variant = variants.get(sku)
    if not sku:
        errors.append("The SKU is missing.")
    elif variant is None:
        errors.append(f"Unknown SKU {sku!r}.")
    warehouse = warehouses.get(code)
    if not code:
        errors.append("The warehouse is missing.")
    elif warehouse is None:
        errors.append(f"Unknown warehouse {code!r}.")

    set_on_hand = delta = None
    if counted_text and delta_text:
        errors.append("Give a counted quantity (set_on_hand) or a change (delta), not both.")
    elif counted_text:
        set_on_hand = _whole_number(counted_text, "The counted quantity", errors)
        if set_on_hand is not None and set_on_hand < 0:
            errors.append(f"The counted quantity must not be negative (got {set_on_hand}).")
        elif set_on_hand is not None and set_on_hand > services.MAX_ON_HAND:
            errors.append(f"The counted quantity must be at most {services.MAX_ON_HAND:,}.")
    elif delta_text:
        delta = _whole_number(delta_text, "The change", errors)
        if delta == 0:
            errors.append("A change of zero books nothing; leave the row out.")
        elif delta is not None and abs(delta) > services.MAX_ON_HAND:
            errors.append(f"The change must be at most {services.MAX_ON_HAND:,} either way.")

    row_reason = _reason(values.get("reason", ""), errors)
    row_reference = values.get("reference", "") or reference
    if len(row_reference) > REFERENCE_MAX_LENGTH:
        errors.append(f"The reference is longer than {REFERENCE_MAX_LENGTH} characters.")
    note = values.get("note", "")
    if len(note) > NOTE_MAX_LENGTH:
        errors.append(f"The note is longer than {NOTE_MAX_LENGTH} characters.")
    if errors:
        return errors, None
    default_reason = reason or (Reason.COUNT if set_on_hand is not None else Reason.ADJUSTMENT)
    return [], {
        "line": row.line,
        "variant": variant,
        "warehouse": warehouse,
        "reason": str(row_reason or default_reason),
        "set_on_hand": set_on_hand,
        "delta": delta,
        "reference": row_reference,
        "note": note,
    }


def _whole_number(text: str, what: str, errors: list[str]) -> int | None:
    if not _WHOLE_NUMBER.fullmatch(text):
        errors.append(f"{what} {text!r} is not a whole number.")
        return None
    return int(text)


_REASONS = {
    **{str(reason.value): str(reason.value) for reason in services.MANUAL_REASONS},
    **{str(reason.label).lower(): str(reason.value) for reason in services.MANUAL_REASONS},
}


def _reason(text: str, errors: list[str]) -> str | None:
    if not text:
        return None
    reason = _REASONS.get(text.strip().lower())
    if reason is None:
        allowed = ", ".join(str(reason.value) for reason in services.MANUAL_REASONS)
        errors.append(f"Unknown reason {text!r}; use one of {allowed}.")
    return reason


def _level_problem(line: ImportLine) -> str | None:
    after = line.on_hand_after
    if after < 0:
        return f"On hand would go from {line.on_hand} to {after}; it cannot go below zero."
    if after < line.reserved:
        return f"On hand would become {after}, below the {line.reserved} units reserved."
    if after > services.MAX_ON_HAND:
        return f"On hand would exceed the maximum of {services.MAX_ON_HAND:,}."
    return None


def _chunks(items: list, size: int = _QUERY_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _variants(skus: Iterable[str], variants) -> dict[str, Variant]:
    wanted = sorted({sku for sku in skus if sku})
    found = {}
    for chunk in _chunks(wanted):
        found.update({v.sku: v for v in variants.select_related("product").filter(sku__in=chunk)})
    return found


class _Warehouses:
    """Warehouses by code: exact, else case-insensitive when that names exactly one."""

    def __init__(self, warehouses):
        self.by_code = {warehouse.code: warehouse for warehouse in warehouses}
        folded = defaultdict(list)
        for warehouse in self.by_code.values():
            folded[warehouse.code.lower()].append(warehouse)
        self.by_folded = {code: found[0] for code, found in folded.items() if len(found) == 1}

    def get(self, code: str) -> Warehouse | None:
        return self.by_code.get(code) or self.by_folded.get(code.lower())

    def code_of(self, code: str) -> str | None:
        warehouse = self.get(code)
        return warehouse.code if warehouse else None


def _current_figures(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
    """(on_hand, reserved) per (warehouse_id, variant_id) as they are now; absent levels are left out."""
    by_warehouse = defaultdict(set)
    for warehouse_id, variant_id in keys:
        by_warehouse[warehouse_id].add(variant_id)
    figures = {}
    for warehouse_id, variant_ids in by_warehouse.items():
        for chunk in _chunks(sorted(variant_ids)):
            rows = StockLevel.objects.filter(warehouse_id=warehouse_id, variant_id__in=chunk).values_list(
                "warehouse_id", "variant_id", "on_hand", "reserved"
            )
            figures.update({(w, v): (on_hand, reserved) for w, v, on_hand, reserved in rows})
    return figures


# --- Applying -------------------------------------------------------------------------------------


def apply_stock_import(stock_import: StockImport, *, previewed: dict[str, int], actor) -> AppliedImport:
    """Book every line of ``stock_import`` in one operation, or nothing.

    ``previewed`` is ``StockImport.figures`` of the preview the clerk confirmed. Raises
    StockImportRefused (bad rows, by line), StalePreview (a change whose level moved since the
    preview) or LockContention; in each case nothing was written.
    """
    if stock_import.problems:
        raise StockImportRefused(list(stock_import.problems))
    operation_id = uuid.uuid4()
    lines = stock_import.lines
    try:
        movements, recounted = _book(lines, previewed, actor, operation_id)
    except StockRuleViolation as refusal:
        violations = refusal.details if isinstance(refusal.details, list) else []
        problems = [
            RowProblem(lines[v["index"]].line, v["sku"], v["warehouse"], (_sentence(v["reason"]),)) for v in violations
        ]
        if not problems:
            raise
        raise StockImportRefused(problems) from refusal
    return AppliedImport(operation_id=operation_id, movements=movements, lines=lines, recounted=recounted)


def _sentence(text: str) -> str:
    text = text.replace("on_hand", "on hand")
    return f"{text[:1].upper()}{text[1:]}."


@stock_transaction
def _book(lines, previewed: dict[str, int], actor, operation_id: uuid.UUID):
    if not lines:
        return [], []
    levels = lock_stock_levels((line.key for line in lines), create_missing=True)
    moved = [
        {
            "line": line.line,
            "sku": line.sku,
            "warehouse": line.warehouse.code,
            "previewed": previewed.get(line.figure_key, line.on_hand),
            "on_hand": levels[line.key].on_hand,
            "kind": "count" if line.is_count else "change",
        }
        for line in lines
        if levels[line.key].on_hand != previewed.get(line.figure_key, line.on_hand)
    ]
    stale = [item for item in moved if item["kind"] == "change"]
    if stale:
        first = stale[0]
        raise StalePreview(
            f"Nothing was changed: the stock moved since the preview ({first['sku']} at {first['warehouse']} "
            f"was {first['previewed']}, is now {first['on_hand']}). Check the new figures and apply again.",
            details=stale,
        )
    changes = [line.stock_change() for line in lines]
    movements = services.apply_stock_changes(
        changes, source=StockMovement.Source.ADMIN, actor=actor, operation_id=operation_id
    )
    return movements, moved


#: The count sheet's header: the columns read back, plus the product to find the shelf by (ignored on import).
COUNT_SHEET_COLUMNS = ("sku", "warehouse", "product", "set_on_hand", "reason", "reference", "note")


def count_sheet_rows(levels) -> Iterable[list]:
    """Rows of a count sheet for ``levels`` (a StockLevel queryset), the figure to fill in left empty."""
    for sku, code, product, name in levels.values_list(
        "variant__sku", "warehouse__code", "variant__product__name", "variant__name"
    ).iterator(chunk_size=_QUERY_CHUNK):
        yield [sku, code, f"{product} {name}".strip(), "", "", "", ""]
