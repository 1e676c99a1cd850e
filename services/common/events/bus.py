"""The event bus: one small interface, two implementations chosen by settings.

- `HttpBus` (the embedded default): the relay POSTs each event to the `/internal/events` endpoint of every service
  that subscribes to its type, with the producing service's own token (from accounts). No extra server to run.
- `NatsBus` (at scale, `EVENTS_NATS_URL`): the relay publishes to JetStream subject `events.<type>` with the event id
  as `Nats-Msg-Id` (the stream drops a duplicate publish inside its window); each consuming service reads a durable
  consumer with explicit acks (`services.common.events.wiring.consume_nats`).

Either way delivery is at least once; the consumer's inbox makes the effect happen once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx
import orjson

from services.common.auth import TokenSource
from services.common.errors import DomainError
from services.common.events import contract as et
from services.common.events.store import Event
from services.common.settings import ServiceSettings

#: Which service applies which event types. The relay of the producing service pushes an event only to these;
#: `tests/common/test_event_wiring.py` checks this table against each service's `subscriptions.HANDLERS`.
SUBSCRIPTIONS: Mapping[str, frozenset[str]] = {
    "leaders": frozenset({et.ORDER_PAID, et.ORDER_PICKED_UP, et.ORDER_REFUNDED, et.STAFF_UPDATED, et.USER_ERASED}),
    "orders": frozenset({et.USER_ERASED}),
    "points": frozenset({et.ORDER_PAID, et.ORDER_PICKED_UP, et.ORDER_CANCELLED, et.ORDER_REFUNDED, et.USER_ERASED}),
    # Every service's staff actions go to the audit trail accounts keeps.
    "accounts": frozenset({et.LEADER_STATUS_CHANGED, et.AUDIT_RECORDED}),
    # The read model of community figures (docs/metrics.md says which event feeds which figure).
    "analytics": frozenset(
        {
            et.ORDER_PLACED,
            et.ORDER_PAID,
            et.ORDER_PICKED_UP,
            et.ORDER_CANCELLED,
            et.ORDER_REFUNDED,
            et.FLASH_SALE_CREATED,
            et.LEADER_MEMBER_JOINED,
            et.LEADER_MEMBER_LEFT,
            et.LEADER_STATUS_CHANGED,
            et.LEADER_UPDATED,
            et.REFERRAL_BOUND,
            et.POINTS_SIGNED_IN,
            et.USER_ERASED,
        }
    ),
}

STREAM = "EVENTS"
SUBJECT_PREFIX = "events."
INTERNAL_EVENTS_PATH = "/internal/events"


class PublishFailed(Exception):
    """The bus could not take the event; the relay retries it later."""


class EventBus(Protocol):
    async def publish(self, event: Event) -> None:
        """Return once the event is durably accepted (raise `PublishFailed` otherwise)."""

    async def aclose(self) -> None: ...


def subscribers_of(event_type: str) -> list[str]:
    return sorted(service for service, types in SUBSCRIPTIONS.items() if event_type in types)


def subject_of(event: Event, prefix: str = SUBJECT_PREFIX) -> str:
    """The NATS subject of an event: `<prefix><type>`, and for a type every service publishes about itself
    (`audit.recorded`) `<prefix><type>.<source>`, so the server's publish permissions can keep each service to its
    own (`events.audit.recorded.orders` for orders) as they do for owned types."""
    if event.type in et.SELF_OWNED_TYPES:
        return f"{prefix}{event.type}.{event.source}"
    return prefix + event.type


def event_bytes(event: Event) -> bytes:
    return orjson.dumps(event.model_dump(mode="json"))


class HttpBus:
    """Push each event to its subscribers' internal endpoint; accepted when every subscriber answered 2xx.

    A subscriber that already applied the event answers 2xx again (its inbox ignores the duplicate), so retrying the
    whole event after one subscriber failed is safe.
    """

    def __init__(
        self,
        subscriber_urls: Mapping[str, str],
        tokens: TokenSource,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._urls = {service: url.rstrip("/") for service, url in subscriber_urls.items()}
        self._tokens = tokens
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._owns_client = client is None

    async def publish(self, event: Event) -> None:
        subscribers = subscribers_of(event.type)
        if not subscribers:
            return
        body = event_bytes(event)
        try:
            token = await self._tokens.token()
        except DomainError as exc:  # accounts is unreachable or refuses this service's secret
            raise PublishFailed(f"no service token: {exc.detail}") from exc
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for service in subscribers:
            url = self._urls.get(service)
            if url is None:
                raise PublishFailed(f"no URL configured for subscriber {service}")
            try:
                response = await self._client.post(url + INTERNAL_EVENTS_PATH, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise PublishFailed(f"{service}: {type(exc).__name__}: {exc}") from exc
            if response.status_code >= 300:
                raise PublishFailed(f"{service}: HTTP {response.status_code}: {response.text[:300]}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class NatsBus:
    """Publish to JetStream; the stream is created on first use (idempotent)."""

    def __init__(
        self,
        url: str,
        *,
        stream: str = STREAM,
        subject_prefix: str = SUBJECT_PREFIX,
        duplicate_window_seconds: float = 600.0,
    ) -> None:
        self._url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self._window = duplicate_window_seconds
        self._nc: Any = None
        self._js: Any = None

    async def _jetstream(self) -> Any:
        if self._js is None:
            self._nc, self._js = await connect_jetstream(
                self._url, stream=self.stream, subject_prefix=self.subject_prefix, duplicate_window_seconds=self._window
            )
        return self._js

    async def publish(self, event: Event) -> None:
        try:
            js = await self._jetstream()
            await js.publish(
                subject_of(event, self.subject_prefix),
                event_bytes(event),
                stream=self.stream,
                headers={"Nats-Msg-Id": event.id},
            )
        except Exception as exc:  # nats raises many unrelated types; all mean "not accepted"
            raise PublishFailed(f"nats: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._nc is not None:
            await self._nc.drain()
            self._nc = self._js = None


async def connect_jetstream(
    url: str, *, stream: str = STREAM, subject_prefix: str = SUBJECT_PREFIX, duplicate_window_seconds: float = 600.0
) -> tuple[Any, Any]:
    """Connect and make sure the events stream exists."""
    import nats
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=-1)
    js = nc.jetstream()
    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(name=stream, subjects=[subject_prefix + ">"], duplicate_window=duplicate_window_seconds)
        )
    return nc, js


def build_bus(settings: ServiceSettings, *, tokens: TokenSource) -> EventBus:
    """The bus the settings ask for: NATS JetStream when `EVENTS_NATS_URL` is set, else HTTP push with the
    service's own token (`tokens`)."""
    if settings.events_nats_url:
        return NatsBus(
            settings.events_nats_url, stream=settings.events_nats_stream, subject_prefix=settings.events_subject_prefix
        )
    return HttpBus(settings.event_subscriber_urls(), tokens)
