"""Our contract files (``connectors/sandbox/contracts``) against the partners' official specs in
``../shared/specs`` (or ``$STOCKPOOL_SHARED_DIR/specs``), when they are beside the checkout; CI has them.

For every partner: each operation of our contract exists in the official spec; every property we type exists
there with a compatible type (an integer is a number) and our enum values are among the official ones where
it has an enum; every key the official spec requires, we require too. Amazon's notifications are compared with
the official notification schemas, and the official listings-feed example must pass our feed schemas. What we
knowingly do otherwise is in ``DEVIATIONS`` with its reason; a deviation that no longer occurs fails the test
too, so the list stays true.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

from connectors.sandbox.contracts import DEFAULT_VARIANT, Contract, Route, load_contract


def _specs_dir() -> Path:
    configured = os.environ.get("STOCKPOOL_SHARED_DIR")
    return Path(configured) / "specs" if configured else Path(settings.BASE_DIR).parent / "shared" / "specs"


SPECS_DIR = _specs_dir()
FEED_EXAMPLE = "listings-feed-schema-v2.example.json"
ZOD = "Medusa's zod validator accepts it (validators.ts); the 2.0.0 OpenAPI omits it"
NEWER_BATCH = "POST /admin/inventory-items/{id}/location-levels/batch [newer_batch_api]"

#: (partner, what the comparison reports) -> why our contract says otherwise.
DEVIATIONS = {
    ("zoho", "POST /salesorders: salesorder_number is required by the official spec"): (
        "Zoho numbers the order itself unless ignore_auto_number_generation=true (partner-apis.md A.7); our "
        "ignore_auto_number_generation variant requires it"
    ),
    ("cin7", "POST /sale: the official spec has no request schema"): (
        "the community conversion gives POST /sale no body; ours requires a customer, as Cin7 does (B.6)"
    ),
    ("cin7", "POST /sale/creditnote: the official spec has no request schema"): (
        "the community conversion gives POST /sale/creditnote no body; ours follows its Sale Credit Note Model"
    ),
    ("medusa", "POST /admin/inventory-items: location_levels is not in the official spec"): ZOD,
    ("medusa", "POST /admin/inventory-items/{id}/location-levels/batch: force is not in the official spec"): ZOD,
    ("medusa", f"{NEWER_BATCH}: force is not in the official spec"): ZOD,
    ("medusa", f"{NEWER_BATCH}: update[].id is not in the official spec"): (
        "releases after 2.0.0 apply update entries, which may name the level (the newer_batch_api switch)"
    ),
    ("medusa", f"{NEWER_BATCH}: update[].location_id is not in the official spec"): (
        "releases after 2.0.0 apply update entries, which must name their location (the newer_batch_api switch)"
    ),
    ("medusa", "POST /admin/inventory-items/location-levels/batch: not an operation of the official spec"): (
        "the cross-item batch of releases after 2.0.0, which the sandbox serves only with newer_batch_api"
    ),
    ("medusa", "order event: nothing official to compare it with"): (
        "Medusa has no outbound webhooks (partner-apis.md D.7): the order event is our subscriber recipe's own body "
        "(integrations/medusa), built from the order and return reads whose answers are checked above"
    ),
    ("amazon", "PUT /feed-documents/{feedDocumentId}: not an operation of the official spec"): (
        "the presigned S3 upload of a feed document: its body is the JSON_LISTINGS_FEED document, held to the "
        "official example below"
    ),
}

JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


# -- the official documents ---------------------------------------------------------------------------------


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        if path.suffix == ".json":
            return json.load(handle)
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


def _documents(partner: str) -> list[Any]:
    return [
        _load(path) for path in sorted((SPECS_DIR / partner).iterdir()) if path.suffix in {".json", ".yml", ".yaml"}
    ]


def _comparable(template: str) -> str:
    """``/Sale?ID={ID}`` -> ``/sale``, ``/items/{sellerId}`` -> ``/items/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", template.split("?", 1)[0]).lower()


def _official_operation(documents: list[Any], route: Route) -> tuple[dict, dict] | None:
    for document in documents:
        for template, item in document.get("paths", {}).items():
            operation = item.get(route.method.lower())
            if isinstance(operation, dict) and _comparable(template) == _comparable(route.template):
                return document, operation
    return None


def _request_schema(operation: dict) -> dict | None:
    content = (operation.get("requestBody") or {}).get("content") or {}  # OpenAPI 3
    media = content.get("application/json") or next(iter(content.values()), None)
    if media and "schema" in media:
        return media["schema"]
    bodies = [parameter["schema"] for parameter in operation.get("parameters", []) if parameter.get("in") == "body"]
    return bodies[0] if bodies else None  # Swagger 2


def _response_schema(operation: dict) -> dict | None:
    for status in ("200", "201", "202"):
        answer = operation.get("responses", {}).get(status) or {}
        if "schema" in answer:  # Swagger 2
            return answer["schema"]
        media = (answer.get("content") or {}).get("application/json")  # OpenAPI 3
        if media and "schema" in media:
            return media["schema"]
    return None


def _official(node: dict, document: dict) -> dict:
    """The official node behind its local ``$ref`` chain (``#/components/schemas/x``, ``#/definitions/x``)."""
    while "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _notification_schemas() -> dict[str, dict]:
    """The official notification payload schemas by notification type (an enum names it, or, in schemas such as
    ORDER_CHANGE's that leave the type open, its examples)."""
    schemas = {}
    for document in _documents("amazon"):
        kind = document.get("properties", {}).get("NotificationType", {})
        schemas.update(dict.fromkeys(kind.get("enum") or kind.get("examples", []), document))
    return schemas


# -- the comparison ----------------------------------------------------------------------------------------


@dataclass
class OurNode:
    """One node of our schema with ``$ref`` followed and ``allOf`` parts merged; each property and the items
    keep the resolver their own ``$ref`` need (they may come from different files)."""

    keywords: dict[str, Any] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    properties: dict[str, list[tuple[Any, Any]]] = field(default_factory=dict)
    items: list[tuple[Any, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, schema: Any, resolver: Any) -> "OurNode":
        while isinstance(schema, dict) and "$ref" in schema:
            resolved = resolver.lookup(schema["$ref"])
            schema, resolver = resolved.contents, resolved.resolver
        node = cls()
        if not isinstance(schema, dict):
            return node
        for part in schema.get("allOf", []):
            merged = cls.of(part, resolver)
            node.keywords.update(merged.keywords)
            node.required |= merged.required
            node.items += merged.items
            for name, parts in merged.properties.items():
                node.properties.setdefault(name, []).extend(parts)
        node.keywords.update(
            {key: value for key, value in schema.items() if key not in {"allOf", "properties", "items"}}
        )
        node.required |= set(schema.get("required", []))
        for name, subschema in schema.get("properties", {}).items():
            node.properties.setdefault(name, []).append((subschema, resolver))
        if "items" in schema:
            node.items.append((schema["items"], resolver))
        return node

    def types(self) -> set[str]:
        """The JSON types we allow: ``type``, else those of the ``enum`` or ``const`` values."""
        declared = self.keywords.get("type")
        if declared:
            return {declared} if isinstance(declared, str) else set(declared)
        return {JSON_TYPES.get(type(value), "null") for value in self.values()}

    def values(self) -> list[Any]:
        if "const" in self.keywords:
            return [self.keywords["const"]]
        return list(self.keywords.get("enum", []))


def _official_types(node: dict) -> set[str]:
    declared = node.get("type")
    types = ({declared} if isinstance(declared, str) else set(declared)) if declared else set()
    return types | {"null"} if types and node.get("nullable") is True else types


def _compatible(ours: str, official: set[str]) -> bool:
    return ours in official or (ours == "integer" and "number" in official)


def _compare(schema: Any, resolver: Any, official: dict, document: dict, where: str = "") -> list[str]:
    """How our ``schema`` differs from the ``official`` one, as sentences naming where (``line_items[].rate``)."""
    ours, official = OurNode.of(schema, resolver), _official(official, document)
    place = where or "the body"
    if {"allOf", "anyOf", "oneOf"} & official.keys():
        return [f"{place}: the official spec combines schemas here; compare it by hand"]
    problems = []
    official_types = _official_types(official)
    if official_types:
        if not ours.types():
            problems.append(f"{place} is untyped, the official spec says {sorted(official_types)}")
        problems += [
            f"{place} may be {kind}, the official spec says {sorted(official_types)}"
            for kind in sorted(ours.types())
            if not _compatible(kind, official_types)
        ]
    if "enum" in official and (extra := [value for value in ours.values() if value not in official["enum"]]):
        problems.append(f"{place}: {extra} are not among the official values {official['enum']}")
    prefix = f"{where}." if where else ""
    problems += [
        f"{prefix}{key} is required by the official spec"
        for key in official.get("required", [])
        if key not in ours.required
    ]
    official_properties = official.get("properties", {})
    for name, parts in ours.properties.items():
        for subschema, subresolver in parts:
            if name in official_properties:
                problems += _compare(subschema, subresolver, official_properties[name], document, prefix + name)
            elif subschema not in ({}, True):
                problems.append(f"{prefix}{name} is not in the official spec")
    if isinstance(official.get("items"), dict):
        for subschema, subresolver in ours.items:
            problems += _compare(subschema, subresolver, official["items"], document, f"{where}[]")
    return problems


def _operation_problems(contract: Contract, documents: list[Any]) -> list[str]:
    problems = []
    sections = (("requests", "", _request_schema), ("responses", " (answer)", _response_schema))
    for section, suffix, official_schema in sections:
        for route in getattr(contract, section):
            found = _official_operation(documents, route)
            if found is None:
                problems.append(f"{route.method} {route.template}{suffix}: not an operation of the official spec")
                continue
            document, operation = found
            for variant, schema in route.schemas.items():
                label = f"{route.method} {route.template}{suffix}"
                label += "" if variant == DEFAULT_VARIANT else f" [{variant}]"
                official = official_schema(operation)
                if official is None:
                    problems.append(f"{label}: the official spec has no {section[:-1]} schema")
                    continue
                resolved = contract.lookup(schema)
                problems += [
                    f"{label}: {problem}"
                    for problem in _compare(resolved.contents, resolved.resolver, official, document)
                ]
    return problems


def _document_problems(contract: Contract) -> list[str]:
    """Amazon's notifications against the official payload schemas; its feed schemas against the official
    example, which must pass them."""
    problems = []
    notifications = _notification_schemas() if contract.documents else {}
    for name, schema in contract.documents.items():
        if name in notifications:
            resolved = contract.lookup(schema)
            official = notifications[name]
            problems += [
                f"{name}: {problem}" for problem in _compare(resolved.contents, resolved.resolver, official, official)
            ]
        elif name.startswith("JSON_LISTINGS_FEED"):
            example = _load(SPECS_DIR / contract.partner / FEED_EXAMPLE)
            instances = example["messages"] if name.endswith(" message") else [example]
            for instance in instances:
                problems += [
                    f"{name}: the official example breaks it: {reason}"
                    for reason in contract.document_violations(name, instance)
                ]
        else:
            problems.append(f"{name}: nothing official to compare it with")
    return problems


@pytest.mark.skipif(
    not SPECS_DIR.is_dir(),
    reason=f"the partners' specs are not beside the checkout: no {SPECS_DIR} (STOCKPOOL_SHARED_DIR may say where)",
)
@pytest.mark.parametrize("partner", ["amazon", "cin7", "medusa", "zoho"])
def test_our_contracts_agree_with_the_official_specs(partner):
    contract = load_contract(partner)

    problems = set(_operation_problems(contract, _documents(partner)) + _document_problems(contract))

    allowed = {what for deviation_partner, what in DEVIATIONS if deviation_partner == partner}
    differences = "\n".join(sorted(problems - allowed))
    assert not differences, f"our contract differs from the official spec (fix it or add a deviation):\n{differences}"
    stale = "\n".join(sorted(allowed - problems))
    assert not stale, f"these deviations no longer occur, remove them from DEVIATIONS:\n{stale}"
