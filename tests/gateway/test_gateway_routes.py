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
        ("/api/v1/leaders/l1/community/stats", "analytics"),
        ("/api/v1/leaders/l1/community/segments/dormant/members.csv", "analytics"),
        ("/api/v1/leaders/l1/community", "analytics"),
        ("/api/v1/leaders/l1/dashboard", "analytics"),
        ("/api/v1/leaders/l1/members", "leaders"),
        ("/api/v1/leaders/l1/communityX", "leaders"),
        ("/api/v1/leaders/community", "leaders"),
        ("/api/v1/leaders//community/stats", "leaders"),
        ("/api/v1/analytics/overview", "analytics"),
        ("/api/v1/customer-tags", "analytics"),
        ("/api/v1/customers/u1/tags/vip", "analytics"),
        ("/api/v1/events/analytics/outbox", "analytics"),
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
    assert RouteTable().services == ("accounts", "analytics", "leaders", "orders", "points")


def test_a_wildcard_segment_claims_one_nested_resource_of_another_services_path() -> None:
    table = RouteTable({"leaders": ["/api/v1/leaders"], "reports": ["/api/v1/leaders/*/reports", "/x/*/y/*/z"]})
    assert table.match("/api/v1/leaders/42/reports") == "reports"
    assert table.match("/api/v1/leaders/42/reports/daily.csv") == "reports"
    assert table.match("/api/v1/leaders/42/orders") == "leaders"
    assert table.match("/api/v1/leaders/42") == "leaders"
    assert table.match("/x/1/y/2/z/3") == "reports"
    assert table.match("/x/1/y/2/w") is None
    # The same length: the exact prefix wins over the wildcard one.
    both = RouteTable({"a": ["/api/v1/leaders/*/stats"], "b": ["/api/v1/leaders/me/stats"]})
    assert (both.match("/api/v1/leaders/me/stats"), both.match("/api/v1/leaders/l7/stats")) == ("b", "a")


@pytest.mark.parametrize("prefix", ["/*/leaders", "/api/v1/leaders/*"])
def test_a_wildcard_may_not_open_or_close_a_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="may not start or end"):
        RouteTable({"x": [prefix]})


def test_the_longest_matching_prefix_wins_whatever_the_order_of_the_table() -> None:
    # /api/v1/me belongs to accounts, /api/v1/me/community to leaders (the caller's community).
    for table in (
        {"accounts": ("/api/v1/me",), "leaders": ("/api/v1/me/community",)},
        {"leaders": ("/api/v1/me/community",), "accounts": ("/api/v1/me",)},
    ):
        routes = RouteTable(table)
        assert routes.match("/api/v1/me/community") == "leaders"
        assert routes.match("/api/v1/me/community/x") == "leaders"
        assert routes.match("/api/v1/me") == "accounts"
        assert routes.match("/api/v1/me/sessions") == "accounts"


def test_the_catalogue_paths_go_to_orders_and_pickup_points_to_leaders() -> None:
    routes = RouteTable()
    for path in ("/api/v1/categories", "/api/v1/group-buys/1", "/api/v1/procurement/2026-03-10/pick-lists"):
        assert routes.match(path) == "orders", path
    for path in ("/api/v1/pickup-points", "/api/v1/me/community"):
        assert routes.match(path) == "leaders", path
