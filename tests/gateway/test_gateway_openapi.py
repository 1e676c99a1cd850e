"""The merged OpenAPI document."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

from services.gateway.openapi import merge_documents
from services.gateway.ratelimit import LIMITED_ROUTES, RuleTable, rules_from_settings
from services.gateway.routes import RouteTable
from tests.gateway.gateway_standins import CountingTransport, GatewayFactory, RefusingTransport, gateway_settings

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate Operation ID:UserWarning")

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in doc["paths"].values() for method, op in item.items() if method in METHODS]


async def test_the_merged_document_is_valid_openapi_3_1(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": "/"}]
    assert doc["x-missing-services"] == []


async def test_every_public_path_appears_once_and_nothing_else(gateway: httpx.AsyncClient) -> None:
    doc = (await gateway.get("/openapi.json")).json()
    assert set(doc["paths"]) == {
        "/api/v1/auth/{action}",
        "/.well-known/jwks.json",
        "/api/v1/leaders/{leader_id}",
        "/api/v1/leaders/{leader_id}/products",
        "/api/v1/products",
        "/api/v1/products/{product_id}",
        "/api/v1/orders/slow",
        "/api/v1/orders/hop-headers",
        "/api/v1/points/me",
        "/api/v1/points/sign-ins",
        "/api/v1/referrals/me",
    }
    # /api/v1/products/shadow is in the leaders document, but the gateway sends that path to orders.
    assert "/api/v1/products/shadow" not in doc["paths"]


async def test_operation_ids_are_service_prefixed_and_unique(
    gateway: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="services.gateway.openapi"):
        doc = (await gateway.get("/openapi.json")).json()
    ids = [op["operationId"] for op in operations(doc)]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert "orders-create_product" in ids
    assert "accounts-sign_in" in ids
    assert all(i.split("-", 1)[0] in {"accounts", "leaders", "orders", "points"} for i in ids)
    # The points stand-in serves one function under two methods: one keeps the id, the other is made unique.
    sign_ins = doc["paths"]["/api/v1/points/sign-ins"]
    assert {sign_ins["get"]["operationId"], sign_ins["post"]["operationId"]} == {
        "points-sign_in",
        "points-sign_in_2",
    }
    assert "Duplicate OpenAPI operation id 'points-sign_in'" in caplog.text


async def test_conflicting_schemas_are_renamed_and_references_follow(gateway: httpx.AsyncClient) -> None:
    doc = (await gateway.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    # Leaders is merged before orders, so orders' different `Product` is the one renamed.
    assert set(schemas["Product"]["properties"]) == {"product_id", "commission_bp"}
    assert set(schemas["OrdersProduct"]["properties"]) == {"id", "name", "price_fen"}
    get_product = doc["paths"]["/api/v1/products/{product_id}"]["get"]
    ok = get_product["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/OrdersProduct"}
    leader_products = doc["paths"]["/api/v1/leaders/{leader_id}/products"]["get"]
    schema = leader_products["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["items"] == {"$ref": "#/components/schemas/Product"}
    # Identical definitions are shared, not duplicated.
    assert "Problem" in schemas and "OrdersProblem" not in schemas
    assert "HTTPValidationError" in schemas and "OrdersHTTPValidationError" not in schemas


async def test_one_bearer_scheme_on_the_operations_that_required_auth(gateway: httpx.AsyncClient) -> None:
    doc = (await gateway.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"] == {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from POST /api/v1/auth/wechat, /api/v1/auth/staff or /api/v1/auth/refresh "
            "(or /api/v1/auth/dev-token in development), signed by the accounts service",
        }
    }
    secured = {op["operationId"] for op in operations(doc) if op.get("security")}
    assert secured == {"orders-create_product", "leaders-get_leader", "points-get_my_points"}
    assert all(op["security"] == [{"bearerAuth": []}] for op in operations(doc) if op.get("security"))


async def test_a_service_that_is_down_is_listed_missing_and_appears_once_up(
    make_gateway: GatewayFactory, upstream_apps: dict[str, FastAPI]
) -> None:
    points = RefusingTransport(upstream_apps["points"])
    async with make_gateway(transports={"points": points}) as gateway:
        before = await gateway.get("/openapi.json")
        points.up = True
        after = await gateway.get("/openapi.json")
    assert before.status_code == 200
    assert before.json()["x-missing-services"] == ["points"]
    assert "/api/v1/points/me" not in before.json()["paths"]
    assert "/api/v1/products" in before.json()["paths"]
    assert after.json()["x-missing-services"] == []
    assert "/api/v1/points/me" in after.json()["paths"]
    validate(after.json())


async def test_with_every_service_down_the_document_still_answers(make_gateway: GatewayFactory) -> None:
    down = {name: RefusingTransport() for name in ("accounts", "leaders", "orders", "points", "analytics")}
    async with make_gateway(transports=down) as gateway:
        response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["x-missing-services"] == ["accounts", "analytics", "leaders", "orders", "points"]
    assert doc["paths"] == {}
    validate(doc)


async def test_service_documents_are_cached(make_gateway: GatewayFactory, upstream_apps: dict[str, FastAPI]) -> None:
    orders = CountingTransport(upstream_apps["orders"])
    async with make_gateway(transports={"orders": orders}) as gateway:
        first = await gateway.get("/openapi.json")
        second = await gateway.get("/openapi.json")
    assert first.content == second.content
    assert orders.paths == ["/openapi.json"]


def _doc(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _get(op_id: str, ref: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": op_id,
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": ref}}}}},
        }
    }


def test_a_conflict_renames_the_schemas_that_refer_to_the_renamed_one() -> None:
    # Both services have Order -> Line; only Line differs, so orders' Order must be renamed too, or it would
    # point at the leaders' Line.
    leaders = _doc(
        {"/api/v1/leaders/x": _get("leaders-x", "#/components/schemas/Order")},
        {
            "Order": {"type": "object", "properties": {"line": {"$ref": "#/components/schemas/Line"}}},
            "Line": {"type": "object", "properties": {"a": {"type": "integer"}}},
        },
    )
    orders = _doc(
        {"/api/v1/orders/x": _get("orders-x", "#/components/schemas/Order")},
        {
            "Order": {"type": "object", "properties": {"line": {"$ref": "#/components/schemas/Line"}}},
            "Line": {"type": "object", "properties": {"b": {"type": "string"}}},
            "Unused": {"type": "object"},
        },
    )
    merged = merge_documents(
        gateway_doc=_doc({}, {}),
        service_docs={"orders": orders, "leaders": leaders},
        routes=RouteTable(),
        missing=[],
        title="t",
        version="1",
    )
    validate(merged)
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"Order", "Line", "OrdersOrder", "OrdersLine"}  # and `Unused` pruned
    assert schemas["OrdersOrder"]["properties"]["line"] == {"$ref": "#/components/schemas/OrdersLine"}
    assert schemas["Order"]["properties"]["line"] == {"$ref": "#/components/schemas/Line"}
    ref = merged["paths"]["/api/v1/orders/x"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ref["schema"] == {"$ref": "#/components/schemas/OrdersOrder"}


def test_operations_without_ids_or_prefix_get_readable_service_ids() -> None:
    orders = _doc(
        {
            "/api/v1/orders/{id}/cancel": {"post": {"responses": {"204": {"description": "ok"}}}},
            "/api/v1/products": {"get": {"operationId": "list_products", "responses": {"200": {"description": "ok"}}}},
        },
        {},
    )
    merged = merge_documents(
        gateway_doc=_doc({}, {}),
        service_docs={"orders": orders},
        routes=RouteTable(),
        missing=["leaders", "points"],
        title="t",
        version="1",
    )
    ids = sorted(op["operationId"] for op in operations(merged))
    assert ids == ["orders-list_products", "orders-post_api_v1_orders_id_cancel"]
    assert merged["x-missing-services"] == ["leaders", "points"]


def _op(op_id: str, *path_parameters: str) -> dict[str, Any]:
    parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in path_parameters]
    return {"operationId": op_id, "parameters": parameters, "responses": {"201": {"description": "created"}}}


@pytest.mark.parametrize("with_problem_schema", [True, False])
def test_the_rate_limited_operations_document_the_gateways_429(with_problem_schema: bool) -> None:
    problem = {"Problem": {"type": "object", "properties": {"code": {"type": "string"}}}}
    uses_problem = {
        "description": "bad",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    orders = _doc(
        {
            "/api/v1/orders": {"post": _op("create_order"), "get": _op("list_orders")},
            "/api/v1/flash-sales/{sale_id}/orders": {"post": _op("purchase", "sale_id")},
            "/api/v1/flash-sales/{sale_id}/end": {"post": _op("end_sale", "sale_id")},
            "/api/v1/payments/wechat/notify": {"post": _op("wechat_notify")},
            **({"/api/v1/products": {"get": {"responses": {"400": uses_problem}}}} if with_problem_schema else {}),
        },
        problem if with_problem_schema else {},
    )
    merged = merge_documents(
        gateway_doc=_doc({}, {}),
        service_docs={"orders": orders},
        routes=RouteTable(),
        missing=[],
        title="t",
        version="1",
        rate_limited=RuleTable(rules_from_settings(gateway_settings()), LIMITED_ROUTES),
    )
    validate(merged)
    limited = sorted(op["operationId"] for op in operations(merged) if "429" in op["responses"])
    assert limited == ["orders-create_order", "orders-purchase", "orders-wechat_notify"]
    answer = merged["paths"]["/api/v1/orders"]["post"]["responses"]["429"]
    assert answer["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    schema = answer["content"]["application/problem+json"]["schema"]
    assert (schema == {"$ref": "#/components/schemas/Problem"}) is with_problem_schema
