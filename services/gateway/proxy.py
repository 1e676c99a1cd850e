"""The reverse proxy: a pure ASGI handler, no framework in the request path.

Per request it only walks the header list once each way, checks the bearer token when there is one (a dict
lookup once the token has been verified), builds the upstream URL from the raw path and query string, and streams
bodies through. Everything that can be decided once (header sets, URLs, error bodies) is
decided in `__init__`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from random import getrandbits as _random_bits
from time import perf_counter
from typing import Any
from urllib.parse import quote

import orjson
from starlette.types import Message, Receive, Scope, Send

from services.common.body_limit import declared_length, too_large_body
from services.common.errors import PROBLEM_MEDIA_TYPE, problem_bytes
from services.common.metrics import UPSTREAM_SECONDS
from services.gateway.ratelimit import RateLimiter
from services.gateway.tokens import TokenCheck
from services.gateway.upstream import (
    Body,
    RawHeaders,
    UpstreamBroken,
    UpstreamClient,
    UpstreamError,
    UpstreamPool,
    UpstreamTimedOut,
    UpstreamUnreachable,
)

log = logging.getLogger("services.gateway.proxy")

# RFC 9110 §7.6.1: connection-specific headers, valid for one hop only. Any `Proxy-*` header is dropped as well.
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Also re-derived by the gateway rather than passed on: `host` (the upstream's own host is sent, the caller's
# goes in X-Forwarded-Host), `expect` (the gateway's server already answered `100-continue`), the forwarding
# headers (extended below) and the request id (validated).
_REQUEST_SKIP = HOP_BY_HOP | {
    b"host",
    b"expect",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-request-id",
}
# The gateway's server writes its own `date` and `server`; passing the upstream's on would duplicate them.
_RESPONSE_SKIP = HOP_BY_HOP | {b"date", b"server"}
_CONNECTION_KEEP = frozenset({b"keep-alive", b"close"})
_SCHEMES = {"http": b"http", "https": b"https"}

# A caller's request id is kept when it is short and printable, so it can go into logs as is (the same rule as
# services.common.observability, so the gateway and the services keep the same ids).
_VALID_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")

# Responses up to this size (declared by Content-Length) are read whole and sent in one ASGI message: one write
# instead of a chunk plus an end-of-body message. Larger or unsized responses stream.
_BUFFER_LIMIT = 64 * 1024

# error -> (status, code, title, what the detail says about the service)
_PROBLEMS: dict[type[UpstreamError], tuple[int, str, str, str]] = {
    UpstreamUnreachable: (503, "SERVICE_UNAVAILABLE", "A service this request needs is unavailable", "is unavailable"),
    UpstreamTimedOut: (
        504,
        "UPSTREAM_TIMEOUT",
        "A service this request needs did not answer in time",
        "did not answer in time",
    ),
    UpstreamBroken: (
        502,
        "BAD_GATEWAY",
        "A service this request needs sent no valid response",
        "sent no valid response",
    ),
}


_RATE_LIMITED_BODY = problem_bytes(
    429, "RATE_LIMITED", "Too many requests", "Too many requests of this kind; try again after Retry-After seconds"
)


class ClientDisconnected(Exception):
    """The caller went away while we were reading its request body."""


class BodyTooLarge(Exception):
    """The request body went past the gateway's limit while it was being read."""


@dataclass(frozen=True, slots=True)
class _Target:
    name: str
    client: UpstreamClient
    problems: dict[type[UpstreamError], tuple[int, bytes]]
    #: The latency histogram's child per status, resolved once (looking labels up per request costs a lock).
    histograms: dict[int, Any] = field(default_factory=dict)

    def observe(self, status: int, seconds: float) -> None:
        histogram = self.histograms.get(status)
        if histogram is None:
            histogram = self.histograms[status] = UPSTREAM_SECONDS.labels(self.name, str(status))
        histogram.observe(seconds)


def _service_problems(service: str) -> dict[type[UpstreamError], tuple[int, bytes]]:
    problems = {}
    for error, (status, code, title, what) in _PROBLEMS.items():
        body = orjson.loads(problem_bytes(status, code, title, f"The {service} service {what}"))
        body["service"] = service
        problems[error] = (status, orjson.dumps(body))
    return problems


def new_request_id() -> bytes:
    # 128 random bits as 32 hex digits, the shape of uuid4().hex. From the Mersenne Twister, not os.urandom: a
    # request id must be unique, not unguessable, and a syscall per request shows in the profile.
    return b"%032x" % _random_bits(128)


def _connection_tokens(values: list[bytes]) -> frozenset[bytes]:
    tokens = {token.strip().lower() for value in values for token in value.split(b",")}
    return frozenset(tokens - _CONNECTION_KEEP - {b""})


def forward_request_headers(scope: Scope) -> tuple[RawHeaders, bytes, bool, bytes | None]:
    """End-to-end headers of the request plus X-Forwarded-* and X-Request-Id, that request id, whether the headers
    carry a Content-Length, and the Authorization header's value (None without one).

    The ASGI server hands over lower-case names as bytes; they stay bytes all the way to the upstream's socket.
    """
    headers: RawHeaders = []
    connection: list[bytes] = []
    host = forwarded_for = request_id = b""
    authorization: bytes | None = None
    has_length = False
    for name, value in scope["headers"]:
        if name in _REQUEST_SKIP or name.startswith(b"proxy-"):
            if name == b"connection":
                connection.append(value)
            elif name == b"host":
                host = value
            elif name == b"x-forwarded-for":
                forwarded_for = value if not forwarded_for else forwarded_for + b", " + value
            elif name == b"x-request-id" and _VALID_REQUEST_ID.fullmatch(value):
                request_id = value
            continue
        if name == b"content-length":
            has_length = True
        elif name == b"authorization":
            # Two Authorization headers: refused (an empty value is no bearer token), whatever each says.
            authorization = b"" if authorization is not None else value
        headers.append((name, value))
    if connection and (named := _connection_tokens(connection)):
        headers = [(n, v) for n, v in headers if n not in named]
        has_length = has_length and b"content-length" not in named

    client = scope.get("client")
    peer = client[0].encode("latin-1") if client else b"unknown"
    headers.append((b"x-forwarded-for", forwarded_for + b", " + peer if forwarded_for else peer))
    headers.append((b"x-forwarded-proto", _SCHEMES.get(scope.get("scheme", "http"), b"http")))
    if host:
        headers.append((b"x-forwarded-host", host))
    request_id = request_id or new_request_id()
    headers.append((b"x-request-id", request_id))
    return headers, request_id, has_length, authorization


def forward_response_headers(
    raw_headers: tuple[tuple[bytes, bytes], ...], request_id: bytes
) -> list[tuple[bytes, bytes]]:
    """End-to-end headers of the response, names lower-cased as ASGI requires, with X-Request-Id."""
    headers: list[tuple[bytes, bytes]] = []
    connection: list[bytes] = []
    has_request_id = False
    for raw_name, value in raw_headers:
        name = raw_name.lower()
        if name in _RESPONSE_SKIP or name.startswith(b"proxy-"):
            if name == b"connection":
                connection.append(value)
            continue
        if name == b"x-request-id":
            has_request_id = True
        headers.append((name, value))
    if connection and (named := _connection_tokens(connection)):
        headers = [(n, v) for n, v in headers if n not in named]
    if not has_request_id:
        headers.append((b"x-request-id", request_id))
    return headers


async def _request_body(receive: Receive, limit: int) -> Body:
    """The request body: bytes when it came in one message (the usual case), else a stream. Either way, more than
    `limit` bytes raises `BodyTooLarge` (for a stream, while it is being forwarded: the upstream request is then
    aborted and never sees a complete body)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    first: bytes = message.get("body", b"")
    if len(first) > limit:
        raise BodyTooLarge
    if not message.get("more_body", False):
        return first or None
    return _rest_of_body(first, receive, limit)


async def _rest_of_body(first: bytes, receive: Receive, limit: int) -> AsyncIterator[bytes]:
    if first:
        yield first
    total = len(first)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # Raising aborts the upstream request instead of letting it see a short body as complete.
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class ReverseProxy:
    """Forwards a request to the service the route table chose, and its response back."""

    def __init__(
        self,
        upstreams: UpstreamPool,
        tokens: TokenCheck,
        *,
        max_body_bytes: int,
        max_anonymous_body_bytes: int,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._upstreams = upstreams
        self._tokens = tokens
        self._limiter = limiter
        self._rules = limiter.table if limiter is not None else None
        self._problems = {service: _service_problems(service) for service in upstreams.base_urls}
        self._targets: dict[str, _Target] = {}
        self._max_body = max_body_bytes
        self._max_anonymous_body = max_anonymous_body_bytes
        self._too_large = {limit: too_large_body(limit) for limit in (max_body_bytes, max_anonymous_body_bytes)}

    def start(self) -> None:
        """Bind each service to its client; called once the pool has started."""
        self._targets = {
            service: _Target(service, self._upstreams.client(service), self._problems[service])
            for service in self._upstreams.base_urls
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send, service: str) -> None:
        target = self._targets.get(service)
        if target is None:
            raise RuntimeError("The gateway proxy is not started (run its lifespan)")
        headers, request_id, has_length, authorization = forward_request_headers(scope)
        subject: str | None = None
        if authorization is None:
            # No credentials: payment notifications and sign-in, what anyone on the internet can reach.
            limit = self._max_anonymous_body
        else:
            checked = await self._tokens.check(authorization)
            if not isinstance(checked, str):
                await self._send_refusal(send, checked, request_id)
                return
            subject = checked
            limit = self._max_body
        # One rule lookup per request (nothing more for a method no rule names), one limiter call when it matches;
        # after the token check, so that the per-user limit counts verified callers only.
        if self._rules is not None and (rule := self._rules.match(scope["method"], scope["path"])) is not None:
            assert self._limiter is not None
            retry_after = await self._limiter.check(rule, subject, scope)
            if retry_after is not None:
                await self._send_rate_limited(send, request_id, retry_after)
                return
        length = declared_length(scope)
        if length is not None and length > limit:
            # Refused before a byte of the body is read: a caller cannot make the gateway buffer or forward it.
            await self._send_too_large(send, request_id, limit)
            return
        try:
            body = await _request_body(receive, limit)
        except ClientDisconnected:
            return
        except BodyTooLarge:
            await self._send_too_large(send, request_id, limit)
            return
        # The request target exactly as the caller sent it: the upstream routes on it, so it is never re-quoted.
        path = scope.get("raw_path") or quote(scope["path"]).encode("latin-1")
        query = scope["query_string"]
        request_target = path + b"?" + query if query else path

        started = perf_counter()
        try:
            reply = await target.client.send(scope["method"], request_target, headers, body, has_length=has_length)
        except UpstreamError as exc:
            target.observe(target.problems[type(exc)][0], perf_counter() - started)
            await self._send_problem(send, target, exc, request_id)
            return
        except ClientDisconnected:
            return
        except BodyTooLarge:
            await self._send_too_large(send, request_id, limit)
            return

        target.observe(reply.status, perf_counter() - started)
        try:
            start: Message = {
                "type": "http.response.start",
                "status": reply.status,
                "headers": forward_response_headers(reply.raw_headers, request_id),
            }
            length = reply.content_length
            if length is not None and length <= _BUFFER_LIMIT:
                try:
                    content = await reply.read()
                except UpstreamError as exc:
                    await self._send_problem(send, target, exc, request_id)
                    return
                await send(start)
                await send({"type": "http.response.body", "body": content})
                return

            await send(start)
            try:
                async for chunk in reply.iter_chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except UpstreamError as exc:
                # Too late for a problem response: returning without the final message makes the server close
                # the connection, so the caller sees a truncated body rather than a complete-looking one.
                log.warning(
                    "upstream failed mid-response",
                    extra={"service": target.name, "request_id": request_id.decode(), "error": repr(exc)},
                )
                return
            await send({"type": "http.response.body", "body": b""})
        finally:
            reply.close()

    async def _send_too_large(self, send: Send, request_id: bytes, limit: int) -> None:
        body = self._too_large[limit]
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id),
                    (b"connection", b"close"),  # the rest of the body is never read: the connection cannot be reused
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _send_rate_limited(self, send: Send, request_id: bytes, retry_after: int) -> None:
        body = _RATE_LIMITED_BODY
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode()),
                    (b"x-request-id", request_id),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _send_refusal(self, send: Send, refused: tuple[int, bytes], request_id: bytes) -> None:
        status, body = refused
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _send_problem(self, send: Send, target: _Target, exc: UpstreamError, request_id: bytes) -> None:
        status, body = target.problems[type(exc)]
        log.warning(
            "upstream request failed",
            extra={"service": target.name, "status": status, "request_id": request_id.decode(), "error": repr(exc)},
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
