"""Our contracts with the partners: what the sandboxes hold our clients' requests to, as JSON Schema (draft 7)
files of our own in this folder, written from the partners' documented facts (their published specs and
partner-apis.md). They are part of the project, so a sandbox checks requests the same way on any checkout.

One folder per partner. Its ``index.json`` names, for each operation the sandbox checks, the schema of the
request body (``requests``, keyed ``"METHOD /path/{param}"`` relative to ``base_path``); Amazon's also names
the answers its tests hold the sandbox to (``responses``) and the documents it reads or sends (``documents``:
the listings feed, notifications). A schema is named by file, optionally with a ``#/json/pointer`` into it,
or as named variants with a ``default``: a variant applies when the sandbox says so (Zoho's
``ignore_auto_number_generation=true``, Medusa's ``newer_batch_api``). Files refer to one another with
relative ``$ref``. ``case_insensitive_paths`` (Cin7) matches paths regardless of case.

    >>> load_contract("zoho").request_violations("POST", "/inventory/v1/salesorders", {"line_items": []})
    ["'customer_id' is a required property"]

A contract that is missing, unreadable, not JSON, not a valid schema, or whose ``$ref`` leads nowhere raises
:class:`ContractError` when it is loaded, so a sandbox refuses to start instead of accepting anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT7

CONTRACTS_DIR = Path(__file__).resolve().parent
INDEX_FILE = "index.json"
DEFAULT_VARIANT = "default"
_BASE_URI = "https://stockpool.invalid/contracts/"


class ContractError(Exception):
    """A partner's contract cannot be loaded: its sandbox cannot check requests, so it must not run."""


@dataclass(frozen=True)
class Route:
    """One operation of a contract: ``method`` and path ``template`` with the schema of each variant."""

    method: str
    template: str
    pattern: re.Pattern[str]
    schemas: Mapping[str, str]

    @property
    def specificity(self) -> tuple[int, int]:
        """Templates with fewer parameters, then shorter ones, win (``.../batch`` over ``.../{location_id}``)."""
        return self.template.count("{"), len(self.template)


def describe(error: jsonschema.ValidationError) -> str:
    """``line_items/0/quantity: '2' is not of type 'number'``: where, then what."""
    location = "/".join(str(part) for part in error.absolute_path)
    return f"{location}: {error.message}" if location else error.message


class Contract:
    """One partner's contract, loaded and checked whole (see the module docstring)."""

    def __init__(self, partner: str, directory: Path) -> None:
        self.partner = partner
        self.directory = directory / partner
        index = self._read(self.directory / INDEX_FILE)
        self.base_path = str(index.get("base_path", "")).rstrip("/")
        self.case_insensitive = bool(index.get("case_insensitive_paths", False))
        self.requests = self._routes(index.get("requests", {}))
        self.responses = self._routes(index.get("responses", {}))
        self.documents: dict[str, str] = dict(index.get("documents", {}))
        self.registry = self._registry()
        references = {ref for route in self.requests + self.responses for ref in route.schemas.values()}
        references |= set(self.documents.values())
        self._validators = {reference: self._validator(reference) for reference in sorted(references)}

    # -- loading --------------------------------------------------------------------------------------------

    def _read(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ContractError(f"cannot read {path}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise ContractError(f"{path} is not JSON: {exc}") from exc

    def _routes(self, operations: Mapping[str, Any]) -> list[Route]:
        routes = []
        for key, schemas in operations.items():
            method, _, template = key.partition(" ")
            variants = schemas if isinstance(schemas, dict) else {DEFAULT_VARIANT: schemas}
            if not template.startswith("/") or DEFAULT_VARIANT not in variants:
                raise ContractError(f"{key!r} in {self.directory / INDEX_FILE} needs a path and a default schema")
            pattern = "".join(
                "[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", template)
            )
            flags = re.IGNORECASE if self.case_insensitive else 0
            routes.append(Route(method.upper(), template, re.compile(f"^{pattern}$", flags), variants))
        return sorted(routes, key=lambda route: route.specificity)

    def _registry(self) -> Registry:
        """Every schema file of the partner, each checked against draft 7."""
        registry: Registry = Registry()
        for path in sorted(self.directory.rglob("*.json")):
            if path.name == INDEX_FILE:
                continue
            contents = self._read(path)
            try:
                jsonschema.Draft7Validator.check_schema(contents)
            except jsonschema.SchemaError as exc:
                raise ContractError(f"{path} is not a valid JSON Schema: {exc.message}") from exc
            resource = Resource.from_contents(contents, default_specification=DRAFT7)
            registry = registry.with_resource(self._uri(path.relative_to(self.directory).as_posix()), resource)
        registry = registry.crawl()
        for uri in list(registry):
            for reference in _references(registry.contents(uri)):
                self._resolve(registry, reference, base=uri)
        return registry

    def _uri(self, reference: str) -> str:
        return f"{_BASE_URI}{self.partner}/{reference}"

    def _resolve(self, registry: Registry, reference: str, base: str) -> None:
        try:
            registry.resolver(base_uri=base).lookup(reference)
        except Unresolvable as exc:
            where = self.directory / base.removeprefix(self._uri(""))
            raise ContractError(f"{reference!r} in {where} leads nowhere") from exc

    def _validator(self, reference: str) -> jsonschema.Draft7Validator:
        self._resolve(self.registry, reference, base=self._uri(INDEX_FILE))
        return jsonschema.Draft7Validator({"$ref": self._uri(reference)}, registry=self.registry)

    def lookup(self, schema: str) -> Any:
        """A schema the index names as ``referencing`` resolves it: its ``contents`` and the ``resolver`` of the
        ``$ref`` in it (to walk the schema, not to validate with it)."""
        return self.registry.resolver(base_uri=self._uri(INDEX_FILE)).lookup(schema)

    # -- lookups --------------------------------------------------------------------------------------------

    def relative_path(self, path: str) -> str:
        """The path without its query and the contract's ``base_path``: ``/inventory/v1/salesorders?x=1`` ->
        ``/salesorders``."""
        path = path.split("?", 1)[0]
        base = self.base_path.lower() if self.case_insensitive else self.base_path
        if base and (path.lower() if self.case_insensitive else path).startswith(base + "/"):
            path = path[len(base) :]
        return "/" + path.strip("/")

    def _schema(self, routes: list[Route], method: str, path: str, variant: str | None) -> str | None:
        relative = self.relative_path(path)
        for route in routes:  # the most specific first
            if route.method == method.upper() and route.pattern.match(relative):
                return route.schemas.get(variant or DEFAULT_VARIANT, route.schemas[DEFAULT_VARIANT])
        return None

    def request_schema(self, method: str, path: str, variant: str | None = None) -> str | None:
        """The schema a request body of ``method path`` must satisfy, or None: nothing to check."""
        return self._schema(self.requests, method, path, variant)

    def response_schema(self, method: str, path: str) -> str | None:
        return self._schema(self.responses, method, path, None)

    # -- checks ---------------------------------------------------------------------------------------------

    def violations(self, schema: str | None, instance: Any) -> list[str]:
        """Every reason ``instance`` breaks ``schema`` (empty: it conforms, or there is no schema)."""
        if schema is None:
            return []
        errors = self._validators[schema].iter_errors(instance)
        messages: list[str] = []
        for error in sorted(errors, key=lambda e: ([str(part) for part in e.absolute_path], e.message)):
            if (text := describe(error)) not in messages:
                messages.append(text)
        return messages

    def first_violation(self, schema: str | None, instance: Any) -> str | None:
        """The most relevant reason ``instance`` breaks ``schema`` (what a partner answers with), or None."""
        if schema is None:
            return None
        error = jsonschema.exceptions.best_match(self._validators[schema].iter_errors(instance))
        return describe(error) if error is not None else None

    def request_violations(self, method: str, path: str, body: Any, variant: str | None = None) -> list[str]:
        return self.violations(self.request_schema(method, path, variant), body)

    def first_request_violation(self, method: str, path: str, body: Any, variant: str | None = None) -> str | None:
        return self.first_violation(self.request_schema(method, path, variant), body)

    def response_violations(self, method: str, path: str, body: Any) -> list[str]:
        return self.violations(self.response_schema(method, path), body)

    def document_violations(self, name: str, document: Any) -> list[str]:
        return self.violations(self.documents[name], document)

    def first_document_violation(self, name: str, document: Any) -> str | None:
        return self.first_violation(self.documents[name], document)


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


@lru_cache(maxsize=16)
def _cached_contract(partner: str, directory: str) -> Contract:
    return Contract(partner, Path(directory))


def load_contract(partner: str, directory: Path = CONTRACTS_DIR) -> Contract:
    """``partner``'s contract from ``directory`` (this folder by default), loaded once per process."""
    return _cached_contract(partner, str(directory))
