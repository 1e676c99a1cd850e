"""A leader buying at their own pickup point earns no commission on it, unless LEADERS_COMMISSION_ON_OWN_ORDERS."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.common.events.contract import ORDER_PAID, ORDER_REFUNDED
from services.common.testing import asgi_client
from tests.conftest import AppFactory
from tests.leaders.conftest import SERVICE, Orders, make_leader
from tests.leaders.test_commission import balance, deliver, entries, rule
from tests.leaders.test_statements import statement, this_month

MILK = 12


async def test_a_leader_buying_at_their_own_pickup_point_earns_nothing_and_the_line_says_why(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    await make_leader(leaders_client, "l1")
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    own = orders.paid("l1", [(MILK, 10, 50_000)], customer_id="l1")
    neighbour = orders.paid("l1", [(MILK, 10, 50_000)], customer_id="c1")
    await deliver(leaders_app, ORDER_PAID, own)
    await deliver(leaders_app, ORDER_PAID, neighbour)
    assert (await balance(leaders_client))["pending_fen"] == 5_000  # the neighbour's order only
    by_order = {e["order_id"]: e for e in await entries(leaders_client) if e["kind"] == "accrual"}
    assert by_order[own.order_id]["amount_fen"] == 0 and by_order[neighbour.order_id]["amount_fen"] == 5_000
    lines = {line["order_id"]: line for line in (await statement(leaders_client, this_month()))["lines"]["items"]}
    assert lines[own.order_id]["rule"] == "excluded:own_order" and lines[own.order_id]["base_fen"] == 50_000
    assert lines[neighbour.order_id]["rule"] == "default:percentage:1000bp"

    # A refund of the own order reverses the 0 it earned, and nothing else.
    refund = orders.refunded(own, [(0, 10)])
    await deliver(leaders_app, ORDER_REFUNDED, refund)
    after = await balance(leaders_client)
    assert (after["pending_fen"], after["reversed_fen"]) == (5_000, 0)

    # Reconciliation finds every effect orders expects: one accrual per paid line, one reversal per refunded line.
    counted = await leaders_client.post(
        "/internal/reconciliation/commission", json={"order_ids": [own.order_id]}, headers=SERVICE
    )
    assert counted.status_code == 200, counted.text
    own_line = own.lines[0].line_id
    assert counted.json()["orders"][str(own.order_id)] == {
        "accruals": {str(own_line): 1},
        "reversals": {f"{refund.refund_id}:{own_line}": 1},
    }


async def test_with_the_setting_on_a_leader_earns_on_their_own_orders(make_app: AppFactory, orders: Orders) -> None:
    app = await make_app("leaders", commission_on_own_orders=True)
    async with asgi_client(app) as client:
        await make_leader(client, "l1")
        await rule(client, scope="default", mode="percentage", rate_bp=1000)
        await deliver(app, ORDER_PAID, orders.paid("l1", [(MILK, 10, 50_000)], customer_id="l1"))
        assert (await balance(client))["pending_fen"] == 5_000


async def test_buying_at_another_leaders_pickup_point_earns_that_leader_commission(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    await make_leader(leaders_client, "l1")
    await make_leader(leaders_client, "l2")
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    await deliver(leaders_app, ORDER_PAID, orders.paid("l2", [(MILK, 10, 50_000)], customer_id="l1"))
    assert (await balance(leaders_client, "l2"))["pending_fen"] == 5_000
