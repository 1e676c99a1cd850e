"""Every list endpoint behind the gateway refuses query parameters it does not know (422 naming the parameter),
rather than ignoring a filter and answering with everything; so does every other operation."""

from __future__ import annotations

import re
from typing import Any

import httpx

from services.common.testing import bearer
from tests.e2e.test_e2e_openapi import operations

UNKNOWN = "created_fromx"


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def is_list(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    """A GET answering an array, or a page of items."""
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return False
    schema = _schema(document, schema)
    return schema.get("type") == "array" or "items" in schema.get("properties", {})


def concrete(path: str) -> str:
    """A path with every parameter filled in (ids of 1, a date, a period): the 422 comes before any lookup."""
    fills = {"period": "2026-03", "pickup_date": "2026-03-10"}
    return re.sub(r"\{([^}]+)\}", lambda m: fills.get(m.group(1), "1"), path)


async def test_every_list_endpoint_refuses_an_unknown_query_parameter(e2e: httpx.AsyncClient) -> None:
    document = (await e2e.get("/openapi.json")).json()
    lists = [path for path, method, op in operations(document) if method == "get" and is_list(document, op)]
    assert len(lists) > 20, lists  # the walk found the lists of every service
    accepted = []
    for path in lists:
        response = await e2e.get(
            concrete(path), params={UNKNOWN: "1"}, headers=bearer("e2e-everyone", ["ops", "customer", "leader"])
        )
        problem = response.json() if response.headers.get("content-type", "").endswith("json") else {}
        if response.status_code != 422 or UNKNOWN not in str(problem):
            accepted.append((path, response.status_code))
    assert accepted == [], "\n".join(f"{p} {s}" for p, s in accepted)


async def test_every_operation_refuses_an_unknown_query_parameter(e2e: httpx.AsyncClient) -> None:
    """Not only lists: every operation of every service (`services.common.query_names`), before it reads the token
    or the body."""
    document = (await e2e.get("/openapi.json")).json()
    ops = [(path, method) for path, method, _ in operations(document)]
    assert len(ops) > 100, ops
    accepted = []
    for path, method in ops:
        response = await e2e.request(method.upper(), concrete(path), params={UNKNOWN: "1"})
        problem = response.json() if response.headers.get("content-type", "").endswith("json") else {}
        if response.status_code != 422 or problem.get("errors") != [
            {"loc": ["query", UNKNOWN], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
        ]:
            accepted.append((method, path, response.status_code))
    assert accepted == [], "\n".join(f"{m} {p} {s}" for m, p, s in accepted)
