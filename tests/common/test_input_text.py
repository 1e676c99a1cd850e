"""Text with NUL or another control character is refused with 422 wherever a caller can send text: every string
field of every request body and every string query or path parameter of every operation in the merged OpenAPI
document, so PostgreSQL never sees it (it cannot store NUL: a 500) and SQLite never stores it silently."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter, ValidationError

from services.common.testing import bearer
from services.common.text import Line, Text
from tests.e2e.test_e2e_openapi import operations

NUL = "a\x00b"
NOTIFY = "/api/v1/payments/notify"
#: Someone holding every role, so each request gets past authorization to validation.
EVERYONE = bearer("input-everyone", ["ops", "customer", "leader"])


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _variants(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(document, schema)
    if "anyOf" in schema or "oneOf" in schema:
        return [v for s in schema.get("anyOf", schema.get("oneOf", [])) for v in _variants(document, s)]
    return [schema]


def string_fields(
    document: dict[str, Any], schema: dict[str, Any], loc: tuple[str | int, ...] = (), depth: int = 0
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(location, body) pairs: a body holding NUL text at `location`, for every string the schema lets a caller
    send (object properties, array items, map values), down to a few levels."""
    if depth > 4:
        return
    for variant in _variants(document, schema):
        kind = variant.get("type")
        if kind == "string":
            yield loc, NUL
        elif kind == "array" and "items" in variant:
            for inner, value in string_fields(document, variant["items"], (*loc, 0), depth + 1):
                yield inner, [value]
        elif kind == "object" or "properties" in variant:
            for name, prop in variant.get("properties", {}).items():
                for inner, value in string_fields(document, prop, (*loc, name), depth + 1):
                    yield inner, {name: value}
            extra = variant.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                for inner, value in string_fields(document, extra, (*loc, "k"), depth + 1):
                    yield inner, {"k": value}


def _is_string(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    return any(v.get("type") == "string" for v in _variants(document, schema))


def concrete(path: str, nul_in: str | None = None) -> str:
    fills = {"period": "2026-03", "pickup_date": "2026-03-10"}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return quote(NUL, safe="") if name == nul_in else fills.get(name, "1")

    return re.sub(r"\{([^}]+)\}", fill, path)


def _probes(document: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any], tuple[str | int, ...]]]:
    """(method, url, where, request kwargs, expected error location) for every place text goes in."""
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] in ("query", "path") and _is_string(document, parameter.get("schema", {})):
                name = parameter["name"]
                if parameter["in"] == "query":
                    yield method, concrete(path), f"query {name}", {"params": {name: NUL}}, ("query", name)
                else:
                    yield method, concrete(path, name), f"path {name}", {}, ("path", name)
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is not None:
            for loc, body in string_fields(document, content["schema"]):
                where = "body " + ".".join(str(p) for p in loc)
                yield method, concrete(path), where, {"json": body}, ("body", *loc)


async def test_nul_in_any_text_a_caller_sends_is_a_422_naming_the_field(
    e2e: httpx.AsyncClient, service_apps: dict[str, FastAPI]
) -> None:
    document = (await e2e.get("/openapi.json")).json()
    payment_secret = service_apps["orders"].state.settings.payment_secret.encode()
    probes = list(_probes(document))
    assert len(probes) > 100  # the walk reached every service's bodies and queries
    accepted = []
    for method, url, where, kwargs, loc in probes:
        key = hashlib.sha256(f"{method} {url} {where}".encode()).hexdigest()
        headers = {**EVERYONE, "Idempotency-Key": key}
        if url == NOTIFY:
            # Read only once its signature holds: sign it, so what is checked is the text inside.
            raw = json.dumps(kwargs.pop("json")).encode()
            headers["X-Payment-Signature"] = hmac.new(payment_secret, raw, hashlib.sha256).hexdigest()
            kwargs = {"content": raw, **kwargs}
            headers["Content-Type"] = "application/json"
        response = await e2e.request(method.upper(), url, headers=headers, **kwargs)
        problem = response.json() if response.headers.get("content-type", "").endswith("json") else {}
        named = any(tuple(e.get("loc", ())) == loc for e in problem.get("errors", []))
        if where.startswith("path"):
            # A path that names nothing that can exist is a 404 before validation; never a 500.
            good = response.status_code == 404 or (response.status_code == 422 and named)
        else:
            good = response.status_code == 422 and named
        if not good:
            accepted.append(f"{method.upper()} {url} {where}: {response.status_code} {response.text[:200]}")
    assert accepted == [], f"{len(accepted)} of {len(probes)}\n" + "\n".join(accepted)


CONTROLS = ["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\r", "\n", "\t"]


def _accepts(kind: Any, value: str) -> bool:
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("control", CONTROLS)
def test_a_line_refuses_every_control_character(control: str) -> None:
    assert not _accepts(Line, f"a{control}b")
    assert _accepts(Line, "上海市 浦东新区 (A-1)")


@pytest.mark.parametrize("control", CONTROLS)
def test_free_text_allows_line_feeds_and_tabs_only(control: str) -> None:
    assert _accepts(Text, f"a{control}b") is (control in "\n\t")


def test_lone_surrogates_which_no_database_encodes_are_refused() -> None:
    assert not _accepts(Line, "a\ud800b")
    assert not _accepts(Text, "a\udfffb")
