"""Every route of a service app refuses query parameters it does not declare (`services.common.query_names`), with
the 422 a query model with `extra="forbid"` gives; declared names, whatever declares them, keep working."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from sqlalchemy import MetaData

from services.common.app import build_service_app
from services.common.query_names import any_query_parameter
from services.common.settings import ServiceSettings
from services.common.testing import asgi_client
from tests.conftest import service_settings


class Filters(BaseModel):
    """Pydantic's default, `extra="ignore"`: without the app's rule an unknown name would pass unnoticed."""

    model_config = ConfigDict(populate_by_name=True)

    status: str | None = None
    date_from: str | None = Field(default=None, alias="from")
    kind: str | None = Field(default=None, validation_alias=AliasChoices("kind", "type"))


class Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


async def page_size(size: int = 10) -> int:
    return size


async def region(region: Annotated[str | None, Query(alias="region-code")] = None) -> str | None:
    return region


calls: list[str] = []

router = APIRouter(prefix="/things")


@router.post("", status_code=201)
async def create_thing() -> dict[str, str]:
    calls.append("create")
    return {"created": "yes"}


@router.get("")
async def list_things(
    size: Annotated[int, Depends(page_size)],
    tag: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies the default
    sort: Annotated[str, Query(alias="sort-by")] = "id",
) -> dict[str, Any]:
    return {"size": size, "tag": tag, "sort": sort}


@router.get("/filtered")
async def filtered(filters: Annotated[Filters, Query()]) -> dict[str, Any]:
    return filters.model_dump()


@router.get("/free")
async def free(query: Annotated[Anything, Query()]) -> dict[str, Any]:
    return query.model_dump()


@router.get("/raw", dependencies=[Depends(any_query_parameter)])
async def raw() -> dict[str, str]:
    return {"raw": "yes"}


inner = APIRouter(prefix="/inner")


@inner.get("/{item_id}")
async def inner_item(item_id: int, verbose: bool = False) -> dict[str, Any]:
    return {"item_id": item_id, "verbose": verbose}


outer = APIRouter(prefix="/outer")
# Names an inclusion's dependencies declare are the route's too.
outer.include_router(inner, dependencies=[Depends(region)])


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/q.db")
    app = build_service_app(
        service="demo", title="demo", settings=settings, metadata=MetaData(), routers=[router, outer]
    )
    calls.clear()
    async with asgi_client(app) as c:
        yield c
    await app.state.db.dispose()


def assert_refused(response: httpx.Response, *names: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["errors"] == [
        {"loc": ["query", name], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"} for name in names
    ]
    assert body["detail"] == f"query.{names[0]}: Extra inputs are not permitted"


async def test_a_route_without_query_parameters_refuses_any_before_it_runs(client: httpx.AsyncClient) -> None:
    assert_refused(await client.post("/things?quantity=5"), "quantity")
    assert calls == []
    assert (await client.post("/things")).status_code == 201
    assert calls == ["create"]


async def test_declared_names_pass_and_each_unknown_one_is_named_once(client: httpx.AsyncClient) -> None:
    response = await client.get("/things?size=3&sort-by=name&tag=a&tag=b")
    assert response.status_code == 200, response.text
    # Repeated known names are read as before.
    assert response.json() == {"size": 3, "tag": ["a", "b"], "sort": "name"}
    # The Python name of an aliased parameter is not one of its names.
    assert_refused(await client.get("/things?sort=name"), "sort")
    assert_refused(await client.get("/things?size=3&x=1&y=&x=2&"), "x", "y")
    assert_refused(await client.get("/things?flag"), "flag")


async def test_the_fields_of_a_query_model_are_its_names(client: httpx.AsyncClient) -> None:
    response = await client.get("/things/filtered?status=open&from=2026-12-01&type=a")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "open", "date_from": "2026-12-01", "kind": "a"}
    # populate_by_name: FastAPI reads the field name too, so it is not refused.
    assert (await client.get("/things/filtered?date_from=2026-12-01&kind=b")).json()["kind"] == "b"
    assert_refused(await client.get("/things/filtered?statuss=open"), "statuss")


async def test_routes_that_take_any_name_say_so(client: httpx.AsyncClient) -> None:
    response = await client.get("/things/free?anything=1&else=2")
    assert response.status_code == 200 and response.json() == {"anything": "1", "else": "2"}
    assert (await client.get("/things/raw?anything=1")).status_code == 200


async def test_included_routers_are_covered_with_their_inclusion_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/outer/inner/7?verbose=true&region-code=sh")
    assert response.status_code == 200 and response.json() == {"item_id": 7, "verbose": True}
    assert_refused(await client.get("/outer/inner/7?verbos=true"), "verbos")


async def test_health_and_metrics_take_no_parameters_and_the_document_any(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status_code == 200, path
        assert_refused(await client.get(path + "?verbose=1"), "verbose")
    # Not an operation: a browser's cache-busting parameter on the document does no harm.
    assert (await client.get("/openapi.json?v=2")).status_code == 200


async def test_a_route_added_after_the_app_was_built_is_covered(tmp_path: Path) -> None:
    settings = ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/q.db")
    app: FastAPI = build_service_app(service="demo", title="demo", settings=settings, metadata=MetaData(), routers=[])

    @app.get("/late")
    async def late(n: int = 0) -> int:
        return n

    async with asgi_client(app) as c:
        assert (await c.get("/late?n=2")).json() == 2
        assert_refused(await c.get("/late?m=2"), "m")
    await app.state.db.dispose()


@pytest.mark.parametrize("service", ["accounts", "leaders", "orders", "points", "analytics"])
def test_every_documented_query_parameter_is_accepted(service: str, tmp_path: Path) -> None:
    """The names read from each route's declaration cover what its OpenAPI entry documents, so no documented
    parameter is refused (a declaration style the reading does not know would show here)."""
    module = __import__(f"services.{service}.app", fromlist=["create_app"])
    app: FastAPI = module.create_app(service_settings(service, {service: f"sqlite+aiosqlite:///{tmp_path}/s.db"}))
    document = app.openapi()
    checked = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        accepted = app.state.query_names.of(route)
        for method in route.methods or ():
            operation = document["paths"][context.path][method.lower()]
            documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            assert accepted is not None and documented <= accepted, (method, context.path, documented, accepted)
            checked += 1
    assert checked > 20
