"""Idempotency keys are scoped by their concrete target (method and path with its ids), not by the route template.
(The flows through the orders service: tests/orders/test_idempotency_scope.py.)"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from services.common.idempotency import SCOPE_LENGTH, target_scope


def _request(template: str, path: str, method: str = "POST") -> Request:
    route = Route(template, endpoint=lambda request: None, methods=[method])
    _, child = route.matches({"type": "http", "method": method, "path": path})
    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b"", **child}
    scope["route"] = route  # what the router records for the dependency to read
    return Request(scope)


def test_the_scope_is_the_concrete_path_with_canonical_numbers() -> None:
    assert target_scope(_request("/api/v1/flash-sales/{sale_id}/orders", "/api/v1/flash-sales/7/orders")) == (
        "POST /api/v1/flash-sales/7/orders"
    )
    assert target_scope(_request("/api/v1/flash-sales/{sale_id}/orders", "/api/v1/flash-sales/007/orders")) == (
        "POST /api/v1/flash-sales/7/orders"
    )
    assert target_scope(_request("/api/v1/leaders/{leader_id}/withdrawals", "/api/v1/leaders/L-1/withdrawals")) == (
        "POST /api/v1/leaders/L-1/withdrawals"
    )


def test_a_scope_longer_than_its_column_ends_with_a_hash_of_the_whole() -> None:
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    scopes = [target_scope(_request("/api/v1/things/{name}", f"/api/v1/things/{name}")) for name in (long_a, long_b)]
    assert all(len(s) == SCOPE_LENGTH for s in scopes)
    assert scopes[0] != scopes[1]
