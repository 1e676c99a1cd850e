"""The route table: which service owns a path."""

from __future__ import annotations

import pytest

from services.gateway.routes import SERVICE_PREFIXES, RouteTable


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/leader-applications", "leaders"),
        ("/api/v1/leader-applications/7/approve", "leaders"),
        ("/api/v1/leaders/me", "leaders"),
        ("/api/v1/commission/rules", "leaders"),
        ("/api/v1/withdrawals/3/approve", "leaders"),
        ("/api/v1/products", "orders"),
        ("/api/v1/products/42", "orders"),
        ("/api/v1/orders/9/pickup", "orders"),
        ("/api/v1/payments/notify", "orders"),
        ("/api/v1/flash-sales/1/orders", "orders"),
        ("/api/v1/delivery-batches", "orders"),
        ("/api/v1/points/me/entries", "points"),
        ("/api/v1/referrals/bind", "points"),
        ("/api/v1/auth/wechat", "accounts"),
        ("/api/v1/auth/refresh", "accounts"),
        ("/api/v1/me", "accounts"),
        ("/api/v1/me/export", "accounts"),
        ("/api/v1/users/u_1", "accounts"),
        ("/api/v1/staff/s_1", "accounts"),
        ("/.well-known/jwks.json", "accounts"),
    ],
)
def test_each_public_prefix_routes_to_its_owner(path: str, service: str) -> None:
    assert RouteTable().match(path) == service


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/productsX",
        "/api/v1/products-archive/1",
        "/api/v1/leader",
        "/api/v1",
        "/api/v1/",
        "/api/v2/products",
        "/internal/x",
        "/internal/api/v1/products",
        "/products",
        "/",
        "",
    ],
)
def test_paths_not_on_a_segment_boundary_of_a_prefix_match_nothing(path: str) -> None:
    assert RouteTable().match(path) is None


def test_the_most_specific_prefix_wins() -> None:
    table = RouteTable({"orders": ["/api/v1/orders"], "reports": ["/api/v1/orders/reports"]})
    assert table.match("/api/v1/orders/reports/daily") == "reports"
    assert table.match("/api/v1/orders/reportsX") == "orders"
    assert table.match("/api/v1/orders/1") == "orders"
    # The case the real table will meet: a leaders path under accounts' /api/v1/me.
    me = RouteTable({"accounts": ["/api/v1/me"], "leaders": ["/api/v1/me/community"]})
    assert me.match("/api/v1/me/community") == "leaders" and me.match("/api/v1/me/export") == "accounts"


def test_a_prefix_claimed_twice_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="claimed by"):
        RouteTable({"orders": ["/api/v1/products"], "points": ["/api/v1/products"]})


def test_the_table_lists_every_contract_prefix_once() -> None:
    prefixes = [p for ps in SERVICE_PREFIXES.values() for p in ps]
    assert len(prefixes) == len(set(prefixes))
    assert RouteTable().services == ("accounts", "leaders", "orders", "points")
