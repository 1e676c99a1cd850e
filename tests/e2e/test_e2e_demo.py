"""The demo loader's own rules (the launcher test runs it against the real system): steps whose endpoints are not
offered are skipped with the reason, a failing step does not stop the others, and nothing is created twice."""

from __future__ import annotations

from typing import Any

import httpx

from services.demo import DEMO_PRODUCTS, DemoContext, DemoStep, offered_operations, run_steps, seed_products


def context(handler: httpx.MockTransport) -> DemoContext:
    client = httpx.Client(transport=handler, base_url="http://gateway.test")
    return DemoContext(client=client)


def test_operations_match_whatever_the_path_parameters_are_called() -> None:
    document: dict[str, Any] = {"paths": {"/api/v1/leaders/{leader_id}/members": {"post": {}, "parameters": []}}}
    assert offered_operations(document) == {"POST /api/v1/leaders/{}/members"}


def test_a_step_the_api_does_not_offer_is_skipped_and_a_failing_step_does_not_stop_the_next() -> None:
    def boom(ctx: DemoContext) -> str:
        return str(ctx.client.get("/x").json()["missing"])

    steps = [
        DemoStep("future", ("POST /api/v1/not-yet",), lambda ctx: "never"),
        DemoStep("broken", ("GET /x",), boom),
        DemoStep("fine", ("GET /x",), lambda ctx: "ok"),
    ]
    ctx = context(httpx.MockTransport(lambda request: httpx.Response(200, json={})))
    results = run_steps(ctx, steps, {"GET /x"})
    assert [(r.name, r.outcome) for r in results] == [("future", "skipped"), ("broken", "failed"), ("fine", "done")]
    assert "POST /api/v1/not-yet" in results[0].detail


def test_products_that_exist_are_not_created_again() -> None:
    created: list[dict[str, object]] = []
    names = [DEMO_PRODUCTS[0]["name"]]  # one exists already, on the second page

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/dev-token":  # the demo's tokens come from accounts' dev login
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 3600})
        if request.method == "GET":
            if request.url.params.get("cursor") == "page-2":
                return httpx.Response(200, json={"items": [{"name": n} for n in names], "next_cursor": None})
            return httpx.Response(200, json={"items": [{"name": "other"}], "next_cursor": "page-2"})
        assert request.headers["Idempotency-Key"].startswith("demo-product-")
        assert request.headers["Authorization"].startswith("Bearer ")
        created.append(httpx.Response(200, content=request.content).json())
        return httpx.Response(201, json={"id": len(created)})

    detail = seed_products(context(httpx.MockTransport(api)))
    assert [p["name"] for p in created] == [p["name"] for p in DEMO_PRODUCTS[1:]]
    assert detail == f"{len(DEMO_PRODUCTS)} products ({len(DEMO_PRODUCTS) - 1} created)"
