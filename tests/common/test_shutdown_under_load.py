"""SIGTERM in the middle of a stream of orders: nothing answered is lost, nothing hangs, the process ends in time.

The system runs as `make run` runs it (the launcher, every service a process of its own, relays inside them). A
client streams orders straight at the orders service, each with its own Idempotency-Key, on fresh connections as
clients behind a load balancer arrive; mid-stream the orders process gets SIGTERM. Then:

- every order answered 2xx is in the database, with its `order.placed` event in the outbox;
- every other request was refused cleanly (connection refused while the port is closed, 503, or a connection the
  kernel had accepted on the closing port closed unread), never a 500, a hang or a half answer; no order exists that
  no client was told of, and a retry with the same key afterwards yields exactly one order;
- the relay finished its batch: every outbox row is delivered or still pending for the next start (none lost,
  none parked), and the restarted relay delivers the pending ones;
- the process exited within the bound: the requests in flight and the jobs' current runs, not the grace period.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_e2e_launcher import Launched, dev_token, is_gone, launch  # noqa: F401 - `launch` is a fixture

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads child processes from /proc")

WORKERS = 4
#: The orders process must be gone this long after SIGTERM: in-flight requests are milliseconds, and the jobs'
#: grace period (ORDERS_SHUTDOWN_GRACE_SECONDS, 10 s) is only for a run that overruns.
EXIT_BOUND_SECONDS = 10.0


@dataclass
class Outcomes:
    ok: dict[str, int] = field(default_factory=dict)  # idempotency key -> order id
    refused: list[str] = field(default_factory=list)  # no connection: the port was closed
    unavailable: list[str] = field(default_factory=list)  # 503 while stopping
    #: Connections the kernel accepted while the port was closing, closed unread (never a request half done).
    dropped: list[str] = field(default_factory=list)
    other: list[tuple[str, int, str]] = field(default_factory=list)


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def wait_for(check: Any, what: str, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.1)


def rows(database: Path, statement: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(statement).fetchall()


async def stream_orders(url: str, token: str, body: dict[str, Any], outcomes: Outcomes, stop: asyncio.Event) -> None:
    # No keep-alive: each order on a connection of its own, so a stopped server is seen as a refused connection.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not stop.is_set():
                key = uuid.uuid4().hex
                try:
                    answer = await client.post(
                        "/api/v1/orders", json=body, headers=auth(token, **{"Idempotency-Key": key})
                    )
                except httpx.ConnectError:
                    outcomes.refused.append(key)
                    await asyncio.sleep(0.01)  # the port is closed: do not spin
                    continue
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    outcomes.dropped.append(key)
                    continue
                if answer.status_code == 201:
                    outcomes.ok[key] = answer.json()["id"]
                elif answer.status_code == 503:
                    outcomes.unavailable.append(key)
                else:
                    outcomes.other.append((key, answer.status_code, answer.text[:200]))

        await asyncio.gather(*(worker() for _ in range(WORKERS)))


def test_sigterm_during_a_stream_of_orders_loses_nothing(launch: Any, tmp_path: Path) -> None:  # noqa: F811
    # One buyer streams hundreds of unpaid orders: the per-customer caps on unpaid orders would refuse them.
    caps = {"ORDERS_MAX_UNPAID_ORDERS_PER_CUSTOMER": "1000", "ORDERS_MAX_UNPAID_UNITS_PER_CUSTOMER": "1000000"}
    launched: Launched = launch("--migrate", "--no-demo", settings=caps)
    # Five processes starting on a busy machine take longer than the launcher tests' bound.
    wait_for(lambda: "Gateway ready:" in launched.output() or launched.process.poll() is not None, "start", 120)
    assert launched.process.poll() is None, launched.output()[-3000:]
    orders_pid = launched.children()["orders"]
    gateway = launched.gateway
    ops = dev_token(gateway, "shutdown-ops", "ops")
    applicant = dev_token(gateway, "shutdown-leader", "customer")
    buyer = dev_token(gateway, "shutdown-buyer", "customer")
    with httpx.Client(base_url=gateway, timeout=10) as api:
        point = {"name": "Gate 1", "address": "1 Road", "community": "Garden"}
        applied = api.post(
            "/api/v1/leader-applications",
            headers=auth(applicant),
            json={"name": "Li Na", "phone": "13800001111", "pickup_point": point},
        )
        assert applied.status_code == 201, applied.text
        approved = api.post(f"/api/v1/leader-applications/{applied.json()['id']}/approve", headers=auth(ops))
        assert approved.status_code == 200, approved.text
        product = api.post(
            "/api/v1/products", headers=auth(ops), json={"name": "Rice", "price_fen": 100, "stock": 10**6}
        )
        assert product.status_code == 201, product.text
    body = {"leader_id": "shutdown-leader", "lines": [{"product_id": product.json()["id"], "quantity": 1}]}
    orders_url = f"http://127.0.0.1:{launched.ports['orders']}"
    database = tmp_path / "var" / "orders.db"
    outcomes = Outcomes()

    async def scenario() -> float:
        stop = asyncio.Event()
        client = asyncio.create_task(stream_orders(orders_url, buyer, body, outcomes, stop))
        # Mid-stream: once orders are flowing (and the relay has events to deliver).
        deadline = time.monotonic() + 120
        while len(outcomes.ok) < 40:
            assert not client.done(), client
            assert outcomes.other == [], outcomes.other[:5]  # refused before SIGTERM: the stream would never flow
            assert time.monotonic() < deadline, "orders did not flow"
            await asyncio.sleep(0.01)
        os.kill(orders_pid, signal.SIGTERM)
        signalled = time.monotonic()
        while not is_gone(orders_pid):
            assert time.monotonic() - signalled < 60, "orders did not stop"
            await asyncio.sleep(0.01)
        exited_after = time.monotonic() - signalled
        # Keep streaming while the port is closed, so refusals are seen, then stop.
        while not outcomes.refused:
            assert time.monotonic() - signalled < 60, "no request was refused after the stop"
            await asyncio.sleep(0.01)
        stop.set()
        await client
        return exited_after

    exited_after = asyncio.run(scenario())
    assert exited_after < EXIT_BOUND_SECONDS, exited_after
    assert outcomes.other == [], outcomes.other[:5]  # no 500, no other error: answered, refused or unavailable

    # Every order answered 2xx is there, with its event in the outbox.
    stored = {row[0] for row in rows(database, "SELECT id FROM orders")}
    assert set(outcomes.ok.values()) <= stored
    placed = {
        int(aggregate.split(":")[1])
        for (aggregate,) in rows(database, "SELECT aggregate FROM outbox WHERE type = 'order.placed'")
    }
    assert stored <= placed
    # A dropped connection is one the kernel had accepted for the closing port: the server never read its request.
    assert len(stored) == len(outcomes.ok), "an order was made without its client hearing of it"
    # The relay finished its batch: nothing parked or lost mid-delivery.
    assert {status for (status,) in rows(database, "SELECT DISTINCT status FROM outbox")} <= {"pending", "delivered"}

    # The launcher starts orders again; a retry with the same key of every unanswered request makes one order each.
    wait_for(lambda: launched.children().get("orders") not in (None, orders_pid), "orders restarted")
    unanswered = outcomes.refused + outcomes.unavailable + outcomes.dropped
    unanswered_at_first = list(unanswered)

    def retried_all() -> bool:
        try:
            with httpx.Client(base_url=orders_url, timeout=10) as client:
                for key in unanswered[:]:
                    answer = client.post("/api/v1/orders", json=body, headers=auth(buyer, **{"Idempotency-Key": key}))
                    assert answer.status_code == 201, answer.text
                    outcomes.ok[key] = answer.json()["id"]
                    unanswered.remove(key)
        except httpx.TransportError:
            return False
        return True

    wait_for(retried_all, "retries answered")
    assert len(set(outcomes.ok.values())) == len(outcomes.ok)  # one order per key
    assert rows(database, "SELECT count(*) FROM orders") == [(len(outcomes.ok),)]
    # The restarted relay delivers what waited.
    wait_for(
        lambda: rows(database, "SELECT count(*) FROM outbox WHERE status != 'delivered'") == [(0,)],
        "pending events delivered",
    )
    # uvicorn ends a graceful stop by re-raising the signal it caught: the launcher sees -15, and restarted it.
    assert "orders exited with code -15" in launched.output()
    print(  # with -s: what the stream saw
        f"answered {len(outcomes.ok) - len(unanswered_at_first)} before the stop, refused {len(outcomes.refused)}, "
        f"503 {len(outcomes.unavailable)}, dropped {len(outcomes.dropped)}; exited {exited_after:.2f} s after SIGTERM"
    )
