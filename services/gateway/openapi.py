"""One OpenAPI 3.1 document for the whole API, merged from the services' own documents.

Each service document is fetched through the same upstream clients as proxied traffic and cached. Only the paths
the route table sends to that service are kept, so `/healthz`, `/readyz` and `/internal/...` never show. A
service that cannot be fetched is left out and listed under `x-missing-services`; it is fetched again on the next
request for the document, so it appears as soon as it is up.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from services.common.errors import PROBLEM_MEDIA_TYPE
from services.gateway.ratelimit import RuleTable
from services.gateway.routes import RouteTable
from services.gateway.upstream import UpstreamError, UpstreamPool

log = logging.getLogger("services.gateway.openapi")

BEARER_SCHEME = "bearerAuth"
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_REF_SECTIONS = ("schemas", "responses", "parameters", "examples", "requestBodies", "headers", "links", "callbacks")
_NOT_WORD = re.compile(r"[^A-Za-z0-9]+")

Document = dict[str, Any]


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    """A copy of `node` with every reference in `renames` replaced; strings cover `$ref` and discriminator maps."""
    if isinstance(node, dict):
        return {key: _rewrite_refs(value, renames) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(value, renames) for value in node]
    if isinstance(node, str) and renames:
        return renames.get(node, node)
    return node


def _refs_in(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                _refs_in(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs_in(value, found)


def _ref(section: str, name: str) -> str:
    return f"#/components/{section}/{name}"


def _take_components(source: str, doc: Document, merged: dict[str, dict[str, Any]]) -> Document:
    """Add `doc`'s components to `merged` and return `doc` with its references rewritten.

    The same name with the same definition is shared. The same name with a different definition is a conflict:
    the newcomer is renamed `<Source><Name>`. Renaming one definition can make another that refers to it differ
    too, hence the loop until nothing new is renamed.
    """
    theirs: dict[str, dict[str, Any]] = {
        section: definitions
        for section, definitions in (doc.get("components") or {}).items()
        if section in _REF_SECTIONS and isinstance(definitions, dict)
    }
    renames: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for section, definitions in theirs.items():
            taken = (
                set(merged.get(section, {}))
                | set(definitions)
                | {new.rsplit("/", 1)[1] for old, new in renames.items() if old.startswith(_ref(section, ""))}
            )
            for name, definition in definitions.items():
                ref = _ref(section, name)
                existing = merged.get(section, {}).get(name)
                if ref in renames or existing is None or existing == _rewrite_refs(definition, renames):
                    continue
                base = source[:1].upper() + source[1:] + name
                new_name, n = base, 2
                while new_name in taken:
                    new_name, n = f"{base}{n}", n + 1
                taken.add(new_name)
                renames[ref] = _ref(section, new_name)
                changed = True
                log.warning(
                    "OpenAPI component conflict: %s %r of %s differs from the one already merged; renamed %r",
                    section,
                    name,
                    source,
                    new_name,
                )

    rewritten: Document = _rewrite_refs(doc, renames)
    for section, definitions in (rewritten.get("components") or {}).items():
        if section not in _REF_SECTIONS or not isinstance(definitions, dict):
            continue
        target = merged.setdefault(section, {})
        for name, definition in definitions.items():
            final = renames.get(_ref(section, name), _ref(section, name)).rsplit("/", 1)[1]
            if final != name and isinstance(definition, dict) and "title" in definition:
                # Client generators name models by title: a renamed schema keeping the old title would collide
                # with the one it was renamed away from (and one of the two would be dropped).
                definition = {**definition, "title": final}
            target.setdefault(final, definition)
    return rewritten


def _operations(source: str, path: str, item: Mapping[str, Any], operation_ids: set[str]) -> dict[str, Any]:
    """The path item with unique, service-prefixed operation ids and the one gateway security scheme."""
    result = dict(item)
    for method, operation in item.items():
        if method not in _HTTP_METHODS or not isinstance(operation, dict):
            continue
        operation = dict(operation)
        op_id = operation.get("operationId") or f"{method}_{_NOT_WORD.sub('_', path).strip('_')}"
        if not op_id.startswith(source + "-"):
            op_id = f"{source}-{op_id}"
        if op_id in operation_ids:
            n = 2
            while f"{op_id}_{n}" in operation_ids:
                n += 1
            log.error("Duplicate OpenAPI operation id %r (%s %s); renamed %r", op_id, method, path, f"{op_id}_{n}")
            op_id = f"{op_id}_{n}"
        operation_ids.add(op_id)
        operation["operationId"] = op_id
        # Every service verifies the same gateway-issued JWT, so whatever scheme name a service used becomes one.
        if operation.get("security"):
            operation["security"] = [{BEARER_SCHEME: []}]
        result[method] = operation
    return result


_RETRY_AFTER = {
    "description": "Whole seconds (at least 1) after which the next request is admitted",
    "schema": {"type": "integer", "minimum": 1},
}
_INLINE_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        key: {"type": "integer" if key == "status" else "string"}
        for key in ("type", "title", "status", "detail", "code")
    },
}


def _document_rate_limits(
    path: str, item: dict[str, Any], table: RuleTable, components: Mapping[str, Mapping[str, Any]]
) -> None:
    """Add the gateway's 429 to each operation of `item` it rate-limits (the path template's `{id}` segments match
    the limits' `*`)."""
    schema = {"$ref": _ref("schemas", "Problem")} if "Problem" in components.get("schemas", {}) else _INLINE_PROBLEM
    for method, operation in item.items():
        if method not in _HTTP_METHODS or not isinstance(operation, dict):
            continue
        if table.match(method.upper(), path) is None:
            continue
        responses = dict(operation.get("responses") or {})
        responses["429"] = {
            "description": "Problem codes: RATE_LIMITED (the gateway: too many requests from this user or address)",
            "headers": {"Retry-After": _RETRY_AFTER},
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        item[method] = {**operation, "responses": responses}


def _prune(paths: Mapping[str, Any], components: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Only the components the kept paths use, directly or through other components (no internal leftovers)."""
    wanted: set[str] = set()
    _refs_in(paths, wanted)
    seen: set[str] = set()
    while wanted - seen:
        ref = (wanted - seen).pop()
        seen.add(ref)
        parts = ref.split("/")
        if len(parts) == 4 and parts[:2] == ["#", "components"]:
            _refs_in(components.get(parts[2], {}).get(parts[3]), wanted)
    kept: dict[str, dict[str, Any]] = {}
    for section, definitions in components.items():
        chosen = {name: d for name, d in definitions.items() if _ref(section, name) in seen}
        if chosen:
            kept[section] = dict(sorted(chosen.items()))
    return kept


def merge_documents(
    *,
    gateway_doc: Mapping[str, Any],
    service_docs: Mapping[str, Mapping[str, Any]],
    routes: RouteTable,
    missing: Iterable[str],
    title: str,
    version: str,
    rate_limited: RuleTable | None = None,
) -> Document:
    """The public document: the gateway's own paths, then each service's public paths, in service name order, with
    the gateway's 429 on the operations it rate-limits (`rate_limited`)."""
    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}
    tags: dict[str, Any] = {}
    operation_ids: set[str] = set()

    sources = [("gateway", gateway_doc), *sorted(service_docs.items())]
    for source, raw_doc in sources:
        doc = _take_components(source, dict(raw_doc), components)
        for path, item in (doc.get("paths") or {}).items():
            # What the route table sends to this source, and nothing else (the JWKS lives outside /api/v1/).
            if source != "gateway" and routes.match(path) != source:
                continue
            if path in paths:
                log.error("OpenAPI path %s is documented by more than one source; keeping the first", path)
                continue
            paths[path] = _operations(source, path, item, operation_ids)
            if rate_limited is not None and source != "gateway":
                _document_rate_limits(path, paths[path], rate_limited, components)
        for tag in doc.get("tags") or []:
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)

    merged_components: dict[str, Any] = dict(_prune(paths, components))
    merged_components["securitySchemes"] = {
        BEARER_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from POST /api/v1/auth/wechat, /api/v1/auth/staff or /api/v1/auth/refresh "
            "(or /api/v1/auth/dev-token in development), signed by the accounts service",
        }
    }
    document: Document = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": merged_components,
        "x-missing-services": sorted(missing),
    }
    if tags:
        document["tags"] = list(tags.values())
    return document


class OpenAPIAggregator:
    """Fetches, caches and merges the service documents; never fails because a service is down."""

    def __init__(
        self,
        *,
        routes: RouteTable,
        upstreams: UpstreamPool,
        gateway_doc: Callable[[], Mapping[str, Any]],
        title: str,
        version: str,
        fetch_timeout: float,
        cache_seconds: float,
        rate_limited: RuleTable | None = None,
    ) -> None:
        self._routes = routes
        self._rate_limited = rate_limited
        self._upstreams = upstreams
        self._gateway_doc = gateway_doc
        self._title = title
        self._version = version
        self._fetch_timeout = fetch_timeout
        self._cache_seconds = cache_seconds
        self._services = tuple(s for s in upstreams.base_urls if s in routes.services)
        # service -> (fetched at, fetch number, document); the numbers tell whether the merged bytes are current.
        self._fetched: dict[str, tuple[float, int, Document]] = {}
        self._fetches = 0
        self._merged: tuple[tuple[int, ...], bytes] | None = None
        # One refresh at a time: a burst of requests for the document costs one fetch per service, not one each.
        self._lock = asyncio.Lock()

    async def document(self) -> bytes:
        async with self._lock:
            now = time.monotonic()
            due = [
                s for s in self._services if s not in self._fetched or now - self._fetched[s][0] > self._cache_seconds
            ]
            for service, doc in zip(due, await asyncio.gather(*map(self._fetch, due)), strict=True):
                if doc is None:
                    self._fetched.pop(service, None)
                else:
                    self._fetches += 1
                    self._fetched[service] = (now, self._fetches, doc)

            key = tuple(self._fetched[s][1] if s in self._fetched else 0 for s in self._services)
            if self._merged is None or self._merged[0] != key:
                merged = merge_documents(
                    gateway_doc=self._gateway_doc(),
                    service_docs={s: self._fetched[s][2] for s in self._services if s in self._fetched},
                    routes=self._routes,
                    missing=[s for s in self._services if s not in self._fetched],
                    title=self._title,
                    version=self._version,
                    rate_limited=self._rate_limited,
                )
                self._merged = (key, orjson.dumps(merged))
            return self._merged[1]

    async def _fetch(self, service: str) -> Document | None:
        try:
            status, body = await self._upstreams.get(
                service, "/openapi.json", within=self._fetch_timeout, request_id="gateway-openapi"
            )
            doc = orjson.loads(body) if status == 200 else None
        except (UpstreamError, orjson.JSONDecodeError) as exc:
            log.warning("OpenAPI document of %s not available: %r", service, exc)
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
            log.warning("OpenAPI document of %s not available: HTTP %s or not a document", service, status)
            return None
        return doc
