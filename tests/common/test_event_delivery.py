"""The outbox relay, the HTTP bus and the consumer endpoint, with stand-in producer and consumer apps.

The producer is an app on the orders schema (it owns an outbox); the consumer an app on the points schema whose
handler writes a row per applied event, so "applied once" is checked in the consumer's database.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.app import build_service_app
from services.common.clock import utcnow
from services.common.events.bus import HttpBus, NatsBus, PublishFailed
from services.common.events.consumer import apply_event
from services.common.events.relay import Relay
from services.common.events.store import Event, Inbox, Outbox
from services.common.events.wiring import ServiceEvents, consume_nats, relay_for
from services.common.testing import StaticServiceTokens, asgi_client, bearer, reset_database, service_bearer
from tests.conftest import service_settings


class _Schema:
    """Only the event tables of a service's schema (they are the same in every service), so these tests do not
    depend on the service's other tables."""

    def __init__(self, source: str) -> None:
        self.metadata = MetaData()
        self.outbox = Outbox(self.metadata, source=source)
        self.inbox = Inbox(self.metadata)


orders_db = _Schema("orders")
points_db = _Schema("points")

ORDER_PAID = "order.paid"
ORDER_REFUNDED = "order.refunded"


async def _applied(app: FastAPI) -> list[str]:
    """Event ids the consumer applied, in the order it applied them (its inbox, by arrival)."""
    t = points_db.inbox.table
    async with app.state.db.engine.connect() as conn:
        rows = (await conn.execute(select(t.c.event_id).order_by(t.c.received_at, t.c.event_id))).all()
    return [r.event_id for r in rows]


class RecordingHandlers:
    """Handlers that remember the order of effects and can be told to fail."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.fail = False

    async def handle(self, session: AsyncSession, event: Event) -> None:
        if self.fail:
            raise RuntimeError("consumer is broken")
        self.seen.append(event.id)

    def mapping(self) -> dict[str, Any]:
        return {ORDER_PAID: self.handle, ORDER_REFUNDED: self.handle}


@pytest.fixture
async def producer(database_urls: dict[str, str]) -> AsyncIterator[FastAPI]:
    settings = service_settings("orders", database_urls, events_max_attempts=3)
    app = build_service_app(
        service="orders",
        title="producer",
        settings=settings,
        metadata=orders_db.metadata,
        routers=[],
        events=ServiceEvents(outbox=orders_db.outbox, inbox=orders_db.inbox, handlers={}),
    )
    await reset_database(app.state.db)
    yield app
    await app.state.db.dispose()


@pytest.fixture
def handlers() -> RecordingHandlers:
    return RecordingHandlers()


@pytest.fixture
async def consumer(database_urls: dict[str, str], handlers: RecordingHandlers) -> AsyncIterator[FastAPI]:
    settings = service_settings("points", database_urls)
    app = build_service_app(
        service="points",
        title="consumer",
        settings=settings,
        metadata=points_db.metadata,
        routers=[],
        events=ServiceEvents(outbox=points_db.outbox, inbox=points_db.inbox, handlers=handlers.mapping()),
    )
    await reset_database(app.state.db)
    yield app
    await app.state.db.dispose()


class SwitchableTransport(httpx.AsyncBaseTransport):
    """The consumer's ASGI app, or a refused connection while `down` is set or for the events of the aggregates in
    `down_for` (standing in for a subscriber that is down and that only those events go to)."""

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.down = False
        self.down_for: set[str] = set()
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        body = await request.aread()
        if self.down or (self.down_for and orjson.loads(body).get("aggregate") in self.down_for):
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def link(producer: FastAPI, consumer: FastAPI) -> AsyncIterator[SwitchableTransport]:
    """An HTTP bus from the producer to the consumer, standing in for every subscriber (points, leaders, analytics)."""
    transport = SwitchableTransport(consumer)
    client = httpx.AsyncClient(mounts={"http://points": transport})
    urls = {"points": "http://points", "leaders": "http://points", "analytics": "http://points"}
    producer.state.bus = HttpBus(urls, StaticServiceTokens("orders"), client=client)
    yield transport
    await client.aclose()


async def _record(app: FastAPI, type_: str, aggregate: str) -> Event:
    async with app.state.db.sessionmaker() as session, session.begin():
        return await orders_db.outbox.record(session, type=type_, aggregate=aggregate, data={"n": 1})


async def _record_many(app: FastAPI, type_: str, aggregate: str, count: int) -> list[Event]:
    async with app.state.db.sessionmaker() as session, session.begin():
        return [
            await orders_db.outbox.record(session, type=type_, aggregate=aggregate, data={"n": n}) for n in range(count)
        ]


async def _statuses(app: FastAPI) -> dict[str, str]:
    t = orders_db.outbox.table
    async with app.state.db.engine.connect() as conn:
        return {r.event_id: r.status for r in (await conn.execute(select(t.c.event_id, t.c.status))).all()}


async def _make_due(app: FastAPI) -> None:
    """Skip the backoff wait (the tests check what happens on retry, not how long the wait is)."""
    t = orders_db.outbox.table
    async with app.state.db.engine.begin() as conn:
        await conn.execute(update(t).values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def _relay(app: FastAPI) -> Relay:
    return relay_for(app, ServiceEvents(outbox=orders_db.outbox, inbox=orders_db.inbox, handlers={}))


def _patient_relay(app: FastAPI) -> Relay:
    """A relay whose retries are an hour away: a failed event stays not due for the whole test, however slow."""
    return Relay(
        app.state.db,
        orders_db.outbox.table,
        app.state.bus,
        source="orders",
        base_delay_seconds=3600,
        max_delay_seconds=3600,
    )


async def test_relay_delivers_each_event_once_in_order_per_order(
    producer: FastAPI, consumer: FastAPI, link: SwitchableTransport, handlers: RecordingHandlers
) -> None:
    paid = await _record(producer, ORDER_PAID, "order:1")
    refunded = await _record(producer, ORDER_REFUNDED, "order:1")
    other = await _record(producer, ORDER_PAID, "order:2")

    stats = await _relay(producer).run_once()

    assert stats.delivered == 3
    assert handlers.seen.index(paid.id) < handlers.seen.index(refunded.id)
    assert sorted(handlers.seen) == sorted([paid.id, refunded.id, other.id])
    assert set((await _statuses(producer)).values()) == {"delivered"}
    again = await _relay(producer).run_once()
    assert again.delivered == 0 and len(handlers.seen) == 3


async def test_duplicate_push_is_acknowledged_without_a_second_effect(
    consumer: FastAPI, handlers: RecordingHandlers
) -> None:
    event = Event(id=str(uuid.uuid4()), type=ORDER_PAID, occurred_at=utcnow(), source="orders", data={"n": 1})
    async with asgi_client(consumer) as client:
        headers = service_bearer("orders")
        first = await client.post("/internal/events", json=event.model_dump(mode="json"), headers=headers)
        second = await client.post("/internal/events", json=event.model_dump(mode="json"), headers=headers)
    assert first.status_code == 200 and first.json()["applied"] is True
    assert second.status_code == 200 and second.json()["applied"] is False
    assert handlers.seen == [event.id]
    assert await _applied(consumer) == [event.id]


async def test_internal_event_endpoint_refuses_callers_without_the_service_role(consumer: FastAPI) -> None:
    event = Event(id=str(uuid.uuid4()), type=ORDER_PAID, occurred_at=utcnow(), source="orders", data={})
    async with asgi_client(consumer) as client:
        anonymous = await client.post("/internal/events", json=event.model_dump(mode="json"))
        customer = await client.post(
            "/internal/events", json=event.model_dump(mode="json"), headers=bearer("u1", ["customer"])
        )
    assert anonymous.status_code == 401
    assert customer.status_code == 401  # a person's token is not good for an internal route
    assert await _applied(consumer) == []


@pytest.mark.parametrize(
    ("sender", "source"),
    [
        ("leaders", "orders"),  # another service pushing an order event in orders' name
        ("leaders", "leaders"),  # ... or in its own
        ("orders", "leaders"),  # the owner's token, an envelope that says otherwise
    ],
)
async def test_an_event_is_applied_only_from_the_service_that_owns_its_type(
    consumer: FastAPI, handlers: RecordingHandlers, sender: str, source: str
) -> None:
    event = Event(id=str(uuid.uuid4()), type=ORDER_PAID, occurred_at=utcnow(), source=source, data={})
    async with asgi_client(consumer) as client:
        refused = await client.post(
            "/internal/events", json=event.model_dump(mode="json"), headers=service_bearer(sender)
        )
    assert refused.status_code == 403 and refused.json()["code"] == "EVENT_NOT_OWNED"
    assert handlers.seen == [] and await _applied(consumer) == []


async def test_an_event_type_nobody_owns_is_refused(consumer: FastAPI) -> None:
    event = Event(id=str(uuid.uuid4()), type="made.up", occurred_at=utcnow(), source="orders", data={})
    async with asgi_client(consumer) as client:
        refused = await client.post(
            "/internal/events", json=event.model_dump(mode="json"), headers=service_bearer("orders")
        )
    assert refused.status_code == 403 and refused.json()["code"] == "EVENT_NOT_OWNED"


async def test_a_failing_effect_is_rolled_back_with_its_inbox_row_and_applied_on_retry(
    consumer: FastAPI, handlers: RecordingHandlers
) -> None:
    event = Event(id=str(uuid.uuid4()), type=ORDER_PAID, occurred_at=utcnow(), source="orders", data={})
    handlers.fail = True
    with pytest.raises(RuntimeError):
        await apply_event(consumer.state.db, points_db.inbox, handlers.mapping(), event)
    assert await _applied(consumer) == []
    handlers.fail = False
    assert await apply_event(consumer.state.db, points_db.inbox, handlers.mapping(), event) is True
    assert await _applied(consumer) == [event.id]


async def test_subscriber_that_is_down_receives_everything_once_it_is_back(
    producer: FastAPI, consumer: FastAPI, link: SwitchableTransport, handlers: RecordingHandlers
) -> None:
    events = [await _record(producer, ORDER_PAID, f"order:{n}") for n in range(5)]
    link.down = True
    stats = await _relay(producer).run_once()
    assert stats.delivered == 0 and stats.retried == 5
    assert handlers.seen == []

    link.down = False
    await _make_due(producer)
    stats = await _relay(producer).run_once()
    assert stats.delivered == 5
    assert sorted(handlers.seen) == sorted(e.id for e in events)


async def test_a_failing_event_holds_back_later_events_of_the_same_order_only(
    producer: FastAPI, consumer: FastAPI, link: SwitchableTransport, handlers: RecordingHandlers
) -> None:
    first = await _record(producer, ORDER_PAID, "order:1")
    handlers.fail = True
    await _relay(producer).run_once()  # order:1 paid fails once
    handlers.fail = False
    later_same_order = await _record(producer, ORDER_REFUNDED, "order:1")
    other_order = await _record(producer, ORDER_PAID, "order:2")

    stats = await _relay(producer).run_once()  # order:1 is waiting for its retry; order:2 goes
    assert handlers.seen == [other_order.id]
    assert (stats.delivered, stats.retried, stats.waiting) == (1, 0, 0)  # order:1's events were not even read

    await _make_due(producer)
    await _relay(producer).run_once()
    assert handlers.seen == [other_order.id, first.id, later_same_order.id]


async def test_an_aggregate_waiting_for_its_retry_does_not_hold_back_a_full_batch_of_others(
    producer: FastAPI, consumer: FastAPI, link: SwitchableTransport, handlers: RecordingHandlers
) -> None:
    """More events of one stuck aggregate than a batch holds: the next run still reaches the event after them."""
    relay = _patient_relay(producer)
    assert relay.batch_size < 250
    stuck = await _record_many(producer, ORDER_PAID, "order:A", 250)
    link.down_for = {"order:A"}
    assert (await relay.run_once()).retried == 1

    other = await _record(producer, ORDER_PAID, "order:B")
    stats = await relay.run_once()
    assert handlers.seen == [other.id]
    assert (stats.delivered, stats.retried, stats.waiting) == (1, 0, 0)
    statuses = await _statuses(producer)
    assert all(statuses[e.id] == "pending" for e in stuck)

    link.down_for = set()
    await _make_due(producer)
    while (await relay.run_once()).delivered:
        pass
    assert handlers.seen == [other.id, *(e.id for e in stuck)]


async def test_a_later_event_is_not_sent_while_an_earlier_one_of_its_aggregate_waits_for_its_retry(
    producer: FastAPI, consumer: FastAPI, link: SwitchableTransport, handlers: RecordingHandlers
) -> None:
    relay = _patient_relay(producer)
    first, second = await _record_many(producer, ORDER_PAID, "order:1", 2)
    link.down_for = {"order:1"}
    stats = await relay.run_once()
    assert (stats.delivered, stats.retried, stats.waiting) == (0, 1, 1)  # the second waits behind the first

    link.down_for = set()  # the subscriber is back, but the first event's retry is not due yet
    third = await _record(producer, ORDER_REFUNDED, "order:1")
    for _ in range(2):
        stats = await relay.run_once()
        assert (stats.delivered, stats.retried, stats.waiting) == (0, 0, 0)
    assert handlers.seen == []

    await _make_due(producer)
    stats = await relay.run_once()
    assert stats.delivered == 3
    assert handlers.seen == [first.id, second.id, third.id]


async def test_an_event_without_an_aggregate_is_held_back_only_by_its_own_retry(
    producer: FastAPI, consumer: FastAPI, link: SwitchableTransport, handlers: RecordingHandlers
) -> None:
    relay = _patient_relay(producer)
    failing = await _record(producer, ORDER_PAID, "")
    link.down = True
    assert (await relay.run_once()).retried == 1

    link.down = False
    later = await _record(producer, ORDER_PAID, "")
    stats = await relay.run_once()
    assert (stats.delivered, stats.retried) == (1, 0)
    assert handlers.seen == [later.id]
    assert (await _statuses(producer))[failing.id] == "pending"


async def test_the_held_back_checks_search_the_aggregate_index_of_the_migrated_schema(
    producer: FastAPI, link: SwitchableTransport
) -> None:
    """Each candidate's checks are index searches, not a read of every pending and dead row (SQLite's plan is fixed
    by the schema; PostgreSQL's depends on the table's statistics)."""
    engine = producer.state.db.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL chooses its plan from the table's statistics")
    compiled = _relay(producer).due_query(utcnow()).compile(dialect=engine.dialect)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    async with engine.connect() as conn:
        plan = [row[-1] for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)]
    checks = [step for step in plan if step.split(" ")[1:2] in (["dead"], ["waiting"])]
    assert len(checks) == 2, plan
    assert all("USING INDEX ix_outbox_aggregate_status_next_attempt_at (aggregate=? AND status=?" in s for s in checks)


async def test_dead_letters_appear_after_max_attempts_and_replay_delivers_them(
    producer: FastAPI, consumer: FastAPI, link: SwitchableTransport, handlers: RecordingHandlers
) -> None:
    doomed = await _record(producer, ORDER_PAID, "order:7")
    blocked = await _record(producer, ORDER_REFUNDED, "order:7")
    handlers.fail = True
    for _ in range(3):  # events_max_attempts=3 for this producer
        await _make_due(producer)
        await _relay(producer).run_once()
    assert (await _statuses(producer))[doomed.id] == "dead"
    assert (await _statuses(producer))[blocked.id] == "pending"

    handlers.fail = False
    await _relay(producer).run_once()
    assert handlers.seen == []  # the later event of the same order waits behind the dead letter

    ops = bearer("ops1", ["ops"])
    async with asgi_client(producer) as client:
        listed = await client.get("/api/v1/events/orders/dead-letters", headers=ops)
        assert listed.status_code == 200
        [item] = listed.json()["items"]
        assert item["event_id"] == doomed.id and item["attempts"] == 3 and "500" in item["last_error"]
        forbidden = await client.get("/api/v1/events/orders/dead-letters", headers=bearer("u1", ["customer"]))
        assert forbidden.status_code == 403

        replayed = await client.post(f"/api/v1/events/orders/dead-letters/{doomed.id}/replay", headers=ops)
        assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
        again = await client.post(f"/api/v1/events/orders/dead-letters/{doomed.id}/replay", headers=ops)
        assert again.status_code == 409 and again.json()["code"] == "EVENT_NOT_DEAD"
        missing = await client.post("/api/v1/events/orders/dead-letters/nope/replay", headers=ops)
        assert missing.status_code == 404 and missing.json()["code"] == "DEAD_LETTER_NOT_FOUND"

    await _relay(producer).run_once()
    assert handlers.seen == [doomed.id, blocked.id]
    async with asgi_client(producer) as client:
        summary = await client.get("/api/v1/events/orders/outbox", headers=ops)
    assert summary.json() == {"pending": 0, "delivered": 2, "dead": 0}


async def test_events_nobody_subscribes_to_are_marked_delivered(producer: FastAPI, link: SwitchableTransport) -> None:
    event = await _record(producer, "nobody.subscribes", "member:u1")
    stats = await _relay(producer).run_once()
    assert stats.delivered == 1 and link.calls == 0
    assert (await _statuses(producer))[event.id] == "delivered"


async def test_http_bus_reports_a_refusing_subscriber_as_a_failed_publish() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(503, text="busy")))
    urls = {"points": "http://points", "leaders": "http://leaders", "analytics": "http://analytics"}
    bus = HttpBus(urls, StaticServiceTokens("orders"), client=client)
    event = Event(id="e1", type=ORDER_PAID, occurred_at=utcnow(), source="orders", data={})
    with pytest.raises(PublishFailed, match="503"):
        await bus.publish(event)
    await client.aclose()


@pytest.mark.postgres
async def test_only_one_relay_works_a_database_at_a_time(
    producer: FastAPI, consumer: FastAPI, link: SwitchableTransport, handlers: RecordingHandlers
) -> None:
    for n in range(40):
        await _record(producer, ORDER_PAID, f"order:{n % 4}")
    # Two relays racing: the advisory lock lets one deliver; each event still reaches the consumer once.
    await asyncio.gather(_relay(producer).run_once(), _relay(producer).run_once())
    await _relay(producer).run_once()
    assert len(handlers.seen) == 40 == len(set(handlers.seen))
    # order.paid goes to three subscribers (all mounted on this consumer here): three pushes per event, never six.
    assert link.calls == 120


async def _until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    """Wait for a consumer running in the background to get somewhere (a deadline, not a pause)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the consumer did not get there in time"
        await asyncio.sleep(0.02)


@pytest.mark.nats
async def test_nats_bus_delivers_to_a_durable_consumer_once_even_when_published_twice(
    producer: FastAPI, consumer: FastAPI, handlers: RecordingHandlers
) -> None:
    suffix = uuid.uuid4().hex[:8]
    stream, prefix = f"TEST_EVENTS_{suffix}", f"test{suffix}."
    url = os.environ["TEST_NATS_URL"]
    consumer.state.settings = consumer.state.settings.model_copy(update={"events_nats_url": url})
    bus = NatsBus(url, stream=stream, subject_prefix=prefix)
    producer.state.bus = bus
    paid = await _record(producer, ORDER_PAID, "order:1")
    refunded = await _record(producer, ORDER_REFUNDED, "order:1")
    await _relay(producer).run_once()
    # A relay that crashed before marking delivered publishes again: the stream drops the duplicate id,
    # and the inbox would ignore it anyway.
    t = orders_db.outbox.table
    async with producer.state.db.engine.begin() as conn:
        await conn.execute(update(t).values(status="pending"))
    await _relay(producer).run_once()
    # The consumer applies the stream's events one at a time, in order: once it reached an event published after
    # the republish, a stored duplicate would already have been applied.
    last = Event(id=str(uuid.uuid4()), type=ORDER_PAID, occurred_at=utcnow(), source="orders", data={})
    await bus.publish(last)

    task = asyncio.create_task(
        consume_nats(
            consumer,
            service=f"points{suffix}",
            inbox=points_db.inbox,
            handlers=handlers.mapping(),
            stream=stream,
            subject_prefix=prefix,
        )
    )
    try:
        await _until(lambda: last.id in handlers.seen)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        js = await bus._jetstream()
        await js.delete_stream(stream)
        await bus.aclose()
    assert handlers.seen == [paid.id, refunded.id, last.id]


@pytest.mark.nats
async def test_on_nats_an_event_whose_source_does_not_own_its_type_is_dropped(
    consumer: FastAPI, handlers: RecordingHandlers
) -> None:
    """NATS carries no token: the envelope's source is checked against the owner of the type (and the subjects'
    publish permissions keep a service from publishing another's types at all)."""
    suffix = uuid.uuid4().hex[:8]
    stream, prefix = f"TEST_EVENTS_{suffix}", f"test{suffix}."
    url = os.environ["TEST_NATS_URL"]
    consumer.state.settings = consumer.state.settings.model_copy(update={"events_nats_url": url})
    bus = NatsBus(url, stream=stream, subject_prefix=prefix)
    forged = Event(id=str(uuid.uuid4()), type=ORDER_PAID, occurred_at=utcnow(), source="leaders", data={})
    genuine = Event(id=str(uuid.uuid4()), type=ORDER_PAID, occurred_at=utcnow(), source="orders", data={})
    await bus.publish(forged)
    await bus.publish(genuine)
    task = asyncio.create_task(
        consume_nats(
            consumer,
            service=f"points{suffix}",
            inbox=points_db.inbox,
            handlers=handlers.mapping(),
            stream=stream,
            subject_prefix=prefix,
        )
    )
    try:
        await _until(lambda: bool(handlers.seen))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        js = await bus._jetstream()
        await js.delete_stream(stream)
        await bus.aclose()
    assert handlers.seen == [genuine.id]  # the forged one came first and was dropped, not retried forever


async def test_outbox_row_exists_only_if_the_change_committed(producer: FastAPI) -> None:
    with pytest.raises(RuntimeError):
        async with producer.state.db.sessionmaker() as session, session.begin():
            await orders_db.outbox.record(session, type=ORDER_PAID, aggregate="order:9", data={})
            raise RuntimeError("the order change failed")
    t = orders_db.outbox.table
    async with producer.state.db.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(t))).scalar() == 0
