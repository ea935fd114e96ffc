"""Checks request bodies against the partners' OpenAPI documents in ``shared/specs/``.

The specs are data we read, never copies in the project. ``shared/`` is found at
``settings.BASE_DIR.parent / "shared"``, or wherever the environment variable ``STOCKPOOL_SHARED_DIR``
points.

    >>> validate_request("zoho", "POST", "/inventory/v1/salesorders", {"customer_id": "1", "line_items": []})
    []
    >>> validate_request("cin7", "POST", "/ExternalApi/v2/sale/order", {"SaleID": "x"})
    ["'Status' is a required property", "'Lines' is a required property"]

What is validated, operation by operation (everything else: no request schema, nothing to check):

* Zoho (``specs/zoho/*.yml``, OpenAPI 3.0): the ``requestBody`` schema of the operation, with one
  adjustment. ``POST /salesorders`` lists ``salesorder_number`` as required, but Zoho generates it
  unless ``ignore_auto_number_generation=true`` (partner-apis.md A.7), so it is required only then.
* Cin7 (``specs/cin7/cin7-core-community-openapi.yaml``, a community OpenAPI 3.0 conversion whose
  schemas only type fields and require none): ``POST /sale/order`` and ``POST|PUT /stockadjustment``
  are validated against the spec schema *and* a minimal schema of ours with what Cin7 requires
  (SaleID, Status DRAFT|AUTHORISED and Lines with ProductID or SKU and Quantity; EffectiveDate, Status
  DRAFT|COMPLETED and Lines with ProductID or SKU and Quantity). ``POST /sale`` has no request schema in
  the spec at all; ours requires Customer or CustomerID and types the header fields we read.

OpenAPI 3.0 is not JSON Schema: the loaded documents are converted once (``nullable: true`` becomes a
``null`` alternative of ``type``/``enum``; YAML dates and timestamps in examples become strings) and
validated with Draft 4 rules (OpenAPI 3.0's base, where siblings of ``$ref`` are ignored), ``$ref`` into
``#/components/...`` resolved through a ``referencing`` registry holding the whole document.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

if TYPE_CHECKING:
    from connectors.sandbox.base import RequestRecord

ZOHO_SPEC_FILES = {
    "salesorders": "zoho/salesorders.yml",
    "inventoryadjustments": "zoho/inventoryadjustments.yml",
    "items": "zoho/items.yml",
    "itemdetails": "zoho/items.yml",
    "item": "zoho/items.yml",
    "variants": "zoho/items.yml",
    "itemgroups": "zoho/itemgroups.yml",
    "locations": "zoho/locations.yml",
    "settings": "zoho/locations.yml",
    "organizations": "zoho/organizations.yml",
}
CIN7_SPEC_FILE = "cin7/cin7-core-community-openapi.yaml"
ZOHO_PREFIX = "/inventory/v1"
CIN7_PREFIX = "/externalapi/v2"

_LINE_REFERENCE = {"anyOf": [{"required": ["ProductID"]}, {"required": ["SKU"]}]}

#: What Cin7 requires and the community spec does not say (see the module docstring).
CIN7_MINIMAL_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/sale"): {
        "type": "object",
        "anyOf": [{"required": ["Customer"]}, {"required": ["CustomerID"]}],
        "properties": {
            "Customer": {"type": "string", "minLength": 1},
            "CustomerID": {"type": "string", "minLength": 1},
            "Location": {"type": "string"},
            "Contact": {"type": "string"},
            "Phone": {"type": "string"},
            "Email": {"type": "string"},
            "SkipQuote": {"type": "boolean"},
            "TaxRule": {"type": "string"},
            "TaxInclusive": {"type": "boolean"},
            "Terms": {"type": "string"},
            "PriceTier": {"type": "string"},
            "CustomerReference": {"type": "string"},
            "ExternalID": {"type": "string"},
            "SourceChannel": {"type": "string"},
            "SaleOrderDate": {"type": "string"},
            "Note": {"type": "string"},
        },
    },
    ("POST", "/sale/order"): {
        "type": "object",
        "required": ["SaleID", "Status", "Lines"],
        "properties": {
            "SaleID": {"type": "string", "minLength": 1},
            "Status": {"enum": ["DRAFT", "AUTHORISED"]},
            "AutoPickPackShipMode": {"enum": ["NOPICK", "AUTOPICK", "AUTOPICKPACK", "AUTOPICKPACKSHIP"]},
            "Lines": {
                "type": "array",
                "items": {"type": "object", "required": ["Quantity", "Price", "Tax", "Total"], **_LINE_REFERENCE},
            },
        },
    },
    ("POST", "/stockadjustment"): {
        "type": "object",
        "required": ["EffectiveDate", "Status", "Lines"],
        "properties": {
            "Status": {"enum": ["DRAFT", "COMPLETED"]},
            "Lines": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "object", "required": ["Quantity"], **_LINE_REFERENCE},
            },
        },
    },
    ("PUT", "/stockadjustment"): {
        "type": "object",
        "required": ["TaskID", "Status"],
        "properties": {"TaskID": {"type": "string", "minLength": 1}, "Status": {"enum": ["DRAFT", "COMPLETED"]}},
    },
}


def shared_dir() -> Path:
    """``$STOCKPOOL_SHARED_DIR``, else ``settings.BASE_DIR.parent / "shared"``, else the ``shared``
    folder beside the project's checkout."""
    configured = os.environ.get("STOCKPOOL_SHARED_DIR")
    if configured:
        return Path(configured)
    try:
        from django.conf import settings

        return Path(settings.BASE_DIR).parent / "shared"
    except Exception:  # settings not configured: a bare Python process
        return Path(__file__).resolve().parents[3] / "shared"


def _jsonable(node: Any) -> Any:
    """The document with YAML dates as strings and OpenAPI 3.0 ``nullable`` as JSON Schema."""
    if isinstance(node, dict):
        converted = {key: _jsonable(value) for key, value in node.items()}
        if converted.get("nullable") is True:
            kind = converted.get("type")
            if isinstance(kind, str):
                converted["type"] = [kind, "null"]
            if isinstance(converted.get("enum"), list) and None not in converted["enum"]:
                converted["enum"] = [*converted["enum"], None]
        return converted
    if isinstance(node, list):
        return [_jsonable(value) for value in node]
    if isinstance(node, datetime | date):
        return node.isoformat()
    return node


_load_lock = threading.Lock()


@lru_cache(maxsize=16)
def _load(relative: str, root: str) -> dict[str, Any]:
    path = Path(root) / "specs" / relative
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        return _jsonable(yaml.load(handle, Loader=loader))  # noqa: S506 - a safe loader


def load_spec(relative: str) -> dict[str, Any]:
    """One spec document under ``shared/specs/`` (e.g. ``zoho/salesorders.yml``), converted and cached."""
    with _load_lock:
        return _load(relative, str(shared_dir()))


@dataclass(frozen=True)
class Operation:
    partner: str
    spec_file: str
    method: str
    path: str  # the spec's path template, without the query part Cin7's conversion puts in it
    definition: dict[str, Any]


def normalize_path(partner: str, path: str) -> str:
    """The partner-relative path: ``/inventory/v1/salesorders`` -> ``/salesorders``; Cin7 paths are
    matched case-insensitively, so they are lower-cased (``/ExternalApi/v2/Sale/Order`` -> ``/sale/order``)."""
    path = path.split("?", 1)[0]
    if partner == "cin7":
        path = path.lower()
        if path.startswith(CIN7_PREFIX):
            path = path[len(CIN7_PREFIX) :]
    elif path.startswith(ZOHO_PREFIX):
        path = path[len(ZOHO_PREFIX) :]
    path = "/" + path.strip("/")
    return path


def _template_regex(template: str, case_insensitive: bool) -> re.Pattern[str]:
    pattern = "".join(
        "[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", template) if part
    )
    return re.compile(f"^{pattern}$", re.IGNORECASE if case_insensitive else 0)


def find_operation(partner: str, method: str, path: str) -> Operation | None:
    """The spec operation for ``method path`` (a full request path or a partner-relative one)."""
    method = method.lower()
    relative = normalize_path(partner, path)
    if partner == "zoho":
        first = relative.strip("/").split("/", 1)[0]
        spec_file = ZOHO_SPEC_FILES.get(first)
    elif partner == "cin7":
        spec_file = CIN7_SPEC_FILE
    else:
        raise ValueError(f"unknown partner {partner!r}")
    if spec_file is None:
        return None
    document = load_spec(spec_file)
    candidates = []
    for template, item in document.get("paths", {}).items():
        bare = template.split("?", 1)[0]
        if method in item and _template_regex(bare, partner == "cin7").match(relative):
            # prefer templates without parameters, then the shortest
            candidates.append((bare.count("{"), len(template), bare, item[method]))
    if not candidates:
        return None
    candidates.sort(key=lambda candidate: candidate[:2])
    _, _, bare, definition = candidates[0]
    return Operation(partner, spec_file, method.upper(), bare, definition)


def request_schema(partner: str, method: str, path: str, query: Mapping[str, str] | None = None) -> dict | None:
    """The JSON Schema a request body must satisfy, or None when there is nothing to check."""
    method = method.upper()
    relative = normalize_path(partner, path)
    operation = find_operation(partner, method, path)
    spec_schema = None
    if operation is not None:
        content = (operation.definition.get("requestBody") or {}).get("content") or {}
        media = content.get("application/json") or next(iter(content.values()), None)
        if media and isinstance(media.get("schema"), dict):
            schema = media["schema"]
            uri = _document_uri(operation.spec_file)
            name = _ref_name(schema)
            auto_numbered = str((query or {}).get("ignore_auto_number_generation", "")).lower() != "true"
            if partner == "zoho" and method == "POST" and relative == "/salesorders" and name and auto_numbered:
                component = dict(load_spec(operation.spec_file)["components"]["schemas"][name])
                component["required"] = [f for f in component.get("required", []) if f != "salesorder_number"]
                schema = component
            spec_schema = _with_base(schema, uri)
    minimal = CIN7_MINIMAL_SCHEMAS.get((method, relative)) if partner == "cin7" else None
    parts = [schema for schema in (spec_schema, minimal) if schema is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"allOf": parts}


def _ref_name(schema: dict) -> str | None:
    ref = schema.get("$ref", "")
    prefix = "#/components/schemas/"
    return ref.split(prefix, 1)[1] if prefix in ref else None


def _document_uri(spec_file: str) -> str:
    return f"https://stockpool.invalid/specs/{spec_file}"


def _with_base(schema: dict, uri: str) -> dict:
    """A copy of a component schema whose local ``#/components/...`` refs point into its document."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    uri + value
                    if key == "$ref" and isinstance(value, str) and value.startswith("#")
                    else rewrite(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(value) for value in node]
        return node

    return rewrite(schema)


@lru_cache(maxsize=4)
def _cached_registry(partner: str, root: str) -> Registry:
    """Every spec document of ``partner`` as a resource, so refs between and within them resolve."""
    files = set(ZOHO_SPEC_FILES.values()) if partner == "zoho" else {CIN7_SPEC_FILE}
    registry: Registry = Registry()
    for spec_file in sorted(files):
        with _load_lock:
            contents = _load(spec_file, root)
        registry = registry.with_resource(
            _document_uri(spec_file), Resource.from_contents(contents, default_specification=DRAFT4)
        )
    return registry


def _error_path(error: jsonschema.ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path)


def _describe(error: jsonschema.ValidationError) -> str:
    location = _error_path(error)
    return f"{location}: {error.message}" if location else error.message


def validate_request(
    partner: str, method: str, path: str, body: Any, query: Mapping[str, str] | None = None
) -> list[str]:
    """Reasons ``body`` does not conform to the request schema of ``method path`` (empty: conforms or
    nothing to check). ``path`` may be the full request path (``/inventory/v1/salesorders``) or
    partner-relative; ``query`` matters for Zoho's ``ignore_auto_number_generation``."""
    schema = request_schema(partner, method, path, query)
    if schema is None:
        return []
    registry = _cached_registry(partner, str(shared_dir()))
    validator = jsonschema.Draft4Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(body), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    messages = []
    for error in errors:
        # allOf/anyOf wrappers report the inner errors as context; show the precise ones
        leaves = error.context if error.validator in {"allOf"} and error.context else [error]
        for leaf in leaves:
            text = _describe(leaf)
            if text not in messages:
                messages.append(text)
    return messages


def first_violation(
    partner: str, method: str, path: str, body: Any, query: Mapping[str, str] | None = None
) -> str | None:
    """The most relevant reason ``body`` does not conform, or None (what the sandboxes answer with)."""
    schema = request_schema(partner, method, path, query)
    if schema is None:
        return None
    registry = _cached_registry(partner, str(shared_dir()))
    validator = jsonschema.Draft4Validator(schema, registry=registry)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    return _describe(error) if error is not None else None


def validate_record(record: RequestRecord) -> list[str]:
    """:func:`validate_request` for one entry of a sandbox's request log (only bodies of POST/PUT/PATCH
    requests are checked; a body that was not JSON is reported as such)."""
    if record.method not in {"POST", "PUT", "PATCH"}:
        return []
    if record.partner == "zoho" and normalize_path("zoho", record.path).startswith("/oauth"):
        return []
    if record.body is None:
        schema = request_schema(record.partner, record.method, record.path, record.query)
        if schema is None:
            return []
        return ["the body is not a JSON document"] if record.raw_body.strip() else ["the body is missing"]
    return validate_request(record.partner, record.method, record.path, record.body, record.query)


def check_request_log(records: list[RequestRecord]) -> list[tuple[RequestRecord, list[str]]]:
    """The records of a request log that do not conform, each with its reasons."""
    return [(record, errors) for record in records if (errors := validate_record(record))]
