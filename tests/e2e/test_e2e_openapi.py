"""The merged OpenAPI document, as operations tools and mini-programs consume it: valid, complete, and good
enough to generate working clients from (Python with openapi-python-client, TypeScript with openapi-typescript)."""

from __future__ import annotations

import collections
import enum
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

from services.gateway.app import GatewayApp
from services.gateway.routes import RouteTable
from tests.e2e.conftest import GATEWAY_BASE_URL

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
GENERATED_PACKAGE = "gb_e2e_client"


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


@pytest.fixture
async def document(e2e: httpx.AsyncClient) -> dict[str, Any]:
    response = await e2e.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


async def test_the_merged_document_is_valid_openapi_with_unique_operation_ids(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")
    ids = collections.Counter(op["operationId"] for _, _, op in operations(document))
    assert [op_id for op_id, count in ids.items() if count > 1] == []
    pattern = r"(gateway|accounts|leaders|orders|points|analytics)-[a-z0-9_]+"
    assert all(re.fullmatch(pattern, op_id) for op_id in ids), sorted(ids)


async def test_every_public_operation_of_every_service_is_in_the_merged_document(
    document: dict[str, Any], service_apps: dict[str, FastAPI]
) -> None:
    assert not document.get("x-missing-services")
    routes = RouteTable()
    merged = {(path, method) for path, method, _ in operations(document)}
    for service, app in service_apps.items():
        own = {(path, method) for path, method, _ in operations(app.openapi()) if routes.match(path) == service}
        assert own <= merged, f"{service}: missing {sorted(own - merged)}"
    assert ("/api/v1/products", "post") in merged
    # What the gateway does not route never shows up: internal and health endpoints stay private.
    assert [path for path in document["paths"] if not path.startswith("/api/v1/")] == ["/.well-known/jwks.json"]


async def test_component_schemas_have_distinct_titles_so_generated_models_do_not_collide(
    document: dict[str, Any],
) -> None:
    titles = collections.Counter(
        schema.get("title", name) for name, schema in document["components"]["schemas"].items()
    )
    assert sorted(title for title, count in titles.items() if count > 1) == []


def generate_python_client(document: dict[str, Any], where: Path) -> None:
    spec = where / "openapi.json"
    spec.write_text(json.dumps(document))
    config = where / "config.json"
    config.write_text(json.dumps({"package_name_override": GENERATED_PACKAGE, "project_name_override": "gb-e2e"}))
    # The generator formats its output with ruff, looked up on PATH: use the one next to this interpreter.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec), "--meta", "none",
               "--output-path", str(where / GENERATED_PACKAGE), "--config", str(config)]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == GENERATED_PACKAGE or n.startswith(GENERATED_PACKAGE + ".")]:
            del sys.modules[name]


async def test_a_generated_python_client_creates_and_reads_a_product_through_the_gateway(
    document: dict[str, Any], e2e_gateway: GatewayApp, importable: Path
) -> None:
    generate_python_client(document, importable)

    def module(name: str) -> Any:
        return importlib.import_module(f"{GENERATED_PACKAGE}.{name}")

    client_module, models = module("client"), module("models")
    transport = {"transport": httpx.ASGITransport(app=e2e_gateway)}

    anonymous = client_module.Client(base_url=GATEWAY_BASE_URL, httpx_args=transport)
    token = await module("api.auth.accounts_issue_dev_token").asyncio(
        client=anonymous, body=models.DevTokenRequest(sub="gen-ops", roles=[models.PersonRole.CATALOGUE])
    )
    as_ops = client_module.AuthenticatedClient(
        base_url=GATEWAY_BASE_URL, token=token.access_token, httpx_args=transport
    )
    created = await module("api.products.orders_create_product").asyncio_detailed(
        client=as_ops,
        body=models.ProductCreate(name="有机小白菜 500g", price_fen=590, stock=40),
        idempotency_key="generated-client-1",
    )
    assert created.status_code == 201, created.content
    product = created.parsed
    assert isinstance(product, models.ProductRead)
    assert (product.name, product.price_fen, product.stock) == ("有机小白菜 500g", 590, 40)

    read = await module("api.products.orders_get_product").asyncio(client=as_ops, product_id=product.id)
    assert isinstance(read, models.ProductRead)
    assert (read.id, read.name) == (product.id, product.name)

    missing = await module("api.products.orders_get_product").asyncio_detailed(client=as_ops, product_id=10**9)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Problem)  # the documented error shape is what comes back


def enums_outside_components(node: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Where the document spells out an enum in place instead of referring to a named schema."""
    if isinstance(node, dict):
        if "enum" in node and not (len(path) == 3 and path[:2] == ("components", "schemas")):
            yield "/".join(path)
        for key, value in node.items():
            yield from enums_outside_components(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from enums_outside_components(value, (*path, str(index)))


async def test_each_state_machine_is_one_named_enum_in_the_document_and_in_a_generated_client(
    document: dict[str, Any], service_apps: dict[str, FastAPI], importable: Path
) -> None:
    assert list(enums_outside_components(document)) == []
    schemas = document["components"]["schemas"]
    for service, app in service_apps.items():
        for name, own in app.openapi()["components"]["schemas"].items():
            if "enum" in own:
                # Unique or identical across services: the gateway never renames an enum to settle a conflict.
                assert service.capitalize() + name not in schemas, name
                assert schemas.get(name, own)["enum"] == own["enum"], name
    order_status = {"$ref": "#/components/schemas/OrderStatus"}
    assert schemas["OrderRead"]["properties"]["status"] == order_status
    [status_filter] = [p for p in document["paths"]["/api/v1/orders"]["get"]["parameters"] if p["name"] == "status"]
    assert order_status in status_filter["schema"]["anyOf"]

    generate_python_client(document, importable)
    models = importlib.import_module(f"{GENERATED_PACKAGE}.models")
    enums = {name: cls for name, cls in vars(models).items() if isinstance(cls, type) and issubclass(cls, enum.Enum)}
    # No class per use site (`OrdersListOrdersStatusType0`, `OrderReadStatus`), and no state machine twice under
    # two names.
    assert [name for name in enums if re.search(r"Type\d+$", name)] == []
    values = collections.Counter(frozenset(member.value for member in cls) for cls in enums.values())
    assert [sorted(v) for v, count in values.items() if count > 1] == []
    order_statuses = {"pending_payment", "paid", "ready_for_pickup", "picked_up", "cancelled"}
    assert {member.value for member in models.OrderStatus} == order_statuses
    assert [name for name, cls in enums.items() if {m.value for m in cls} == order_statuses] == ["OrderStatus"]
    # The class a list of orders is filtered with is the class an order carries.
    list_orders = importlib.import_module(f"{GENERATED_PACKAGE}.api.orders.orders_list_orders")
    assert list_orders.OrderStatus is models.OrderStatus
    for name in ("LeaderStatus", "LeaderApplicationStatus", "WithdrawalStatus", "CommissionEntryKind",
                 "PaymentStatus", "DeliveryBatchStatus", "RefundProviderStatus", "PointsEntryKind"):  # fmt: skip
        assert name in enums, name


def test_the_document_converts_to_typescript_types(tmp_path: Path, document_file: Path) -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npm (npx) is not installed: cannot run openapi-typescript")
    out = tmp_path / "api.d.ts"
    command = [npx, "--yes", "openapi-typescript@7", str(document_file), "--output", str(out)]
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    try:
        result = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npx did not finish within 240 s (registry unreachable?)")
    output = result.stdout + result.stderr
    if result.returncode != 0 and re.search(r"ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|E503|network", output):
        pytest.skip(f"the npm registry is not reachable: {output[-300:]}")
    assert result.returncode == 0, output
    types = out.read_text()
    assert '"/api/v1/products/{product_id}"' in types
    assert "ProductRead" in types


@pytest.fixture
async def document_file(document: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    return path
