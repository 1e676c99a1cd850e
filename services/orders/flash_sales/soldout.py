"""The flash-sale purchase before FastAPI: sold-out answers from memory, and well-formed purchases straight to the
batcher on PostgreSQL. Everything else (and anything unusual about a purchase) goes to the FastAPI route unchanged.

Why a pure-ASGI layer: measured with `bench/flash/profile_flash.py` (one worker), FastAPI's per-request machinery
(routing, solving the route's dependency tree, the exception handlers) was about 40% of the orders process's CPU
on a purchase and nearly all of it on a sold-out answer, and the flash-sale purchase is the one request of this
system that arrives by the thousand in the same second.

Sold out: at 10:00 most buyers of a popular sale arrive after its stock is gone. The answer only depends on the
in-process flag (`FlashRuntime.known_sold_out`), exactly as the route's first step did, so it is sent as the same
409 problem+json bytes, pre-encoded once, without reading the token or the body (the answer is the same for
everyone: it reveals nothing but "sold out").

Purchase (PostgreSQL only; SQLite keeps the route's per-request transaction): the layer does what the route's
dependencies did, with the same rules, in one function: bearer token through `services.common.auth.decode_token`,
role `customer`, the `Idempotency-Key` header (1-200 visible ASCII characters), the JSON body validated by the
route's own model `FlashOrderCreate`, the sale id within the route's bounds. Whenever one of these is missing or
wrong, or the request looks unusual (a repeated header, another content type), it does not answer: the request goes
on to the FastAPI route with its body replayed, so every error answer stays the one FastAPI gives. A domain error of
the purchase itself is rendered as `install_error_handlers` does; an unexpected exception propagates to the same
server-error handler as before.

The layer sits inside `RequestContextMiddleware` (see `install`), so its answers carry `X-Request-Id` and get their
access-log line like any other response. The OpenAPI document still describes the route (which still serves the
requests the layer passes on).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.auth import InvalidToken, decode_token
from services.common.errors import PROBLEM_MEDIA_TYPE, DomainError, problem_bytes, problem_response
from services.common.idempotency import IdempotencyContext, idempotency_table
from services.common.types import INT64_MAX
from services.orders.flash_sales.exceptions import FlashSaleSoldOut
from services.orders.flash_sales.fastpath import purchase_on_postgres
from services.orders.flash_sales.schemas import FlashOrderCreate
from services.orders.flash_sales.stock import FlashRuntime

PREFIX = "/api/v1/flash-sales/"
SUFFIX = "/orders"
#: The route's path as `services.common.idempotency` names it in stored keys (a test checks the app has it).
ROUTE = "POST /api/v1/flash-sales/{sale_id}/orders"

#: The same body `install_error_handlers` renders for `FlashSaleSoldOut()` (a test compares the two).
BODY = problem_bytes(FlashSaleSoldOut.status, FlashSaleSoldOut.code, FlashSaleSoldOut.title)
_STATUS = FlashSaleSoldOut.status
_HEADERS = ((b"content-length", str(len(BODY)).encode()), (b"content-type", PROBLEM_MEDIA_TYPE.encode()))
_BODY: Message = {"type": "http.response.body", "body": BODY, "more_body": False}
_MAX_BODY = 4096  # a purchase body is about 40 bytes; anything larger is left to the route


def sale_id_of(path: str) -> int | None:
    """The sale id of a purchase path, or None for any other path (or an id the route would refuse)."""
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    middle = path[len(PREFIX) : -len(SUFFIX)]
    if not (0 < len(middle) <= 19 and middle.isascii() and middle.isdigit()):
        return None
    sale_id = int(middle)
    return sale_id if 1 <= sale_id <= INT64_MAX else None


def _valid_key(value: bytes) -> bool:
    # The rules of `services.common.idempotency._KEY_HEADER`: 1-200 characters in \x21-\x7e.
    return 0 < len(value) <= 200 and all(0x21 <= b <= 0x7E for b in value)


def _json_content_type(value: bytes | None) -> bool:
    # FastAPI parses the body as JSON without a content type or with application/json (or +json); the layer only
    # takes the two usual forms and leaves the rest to the route.
    if value is None:
        return True
    media = value.split(b";", 1)[0].strip().lower()
    return media == b"application/json"


class _Pass(Exception):
    """The request is not one the layer answers: hand it to the route."""


class SoldOutShortcut:
    def __init__(self, app: ASGIApp, *, flash: FlashRuntime) -> None:
        self.app = app
        self.flash = flash
        self._db_kind: tuple[object, bool] | None = None

    def _is_sqlite(self, db: Any) -> bool:
        # `Database.is_sqlite` parses the URL on every call (2.4% of a purchase's CPU): remember it per database.
        if self._db_kind is None or self._db_kind[0] is not db:
            self._db_kind = (db, bool(db.is_sqlite))
        return self._db_kind[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        sale_id = sale_id_of(scope["path"])
        if sale_id is None:
            await self.app(scope, receive, send)
            return
        if self.flash.has_sold_out() and self.flash.known_sold_out(sale_id):
            # A fresh headers list each time: the request-id layer outside appends to it.
            await send({"type": "http.response.start", "status": _STATUS, "headers": list(_HEADERS)})
            await send(_BODY)
            return
        state = scope["app"].state
        if self._is_sqlite(state.db):
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        try:
            headers = self._headers(scope)
            # Token and key first: a request without them is answered by the route without reading the body.
            user_id = self._buyer(state, headers)
            key = headers.get(b"idempotency-key")
            if key is None or not _valid_key(key):
                raise _Pass
            if not _json_content_type(headers.get(b"content-type")):
                raise _Pass
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    raise _Pass
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > _MAX_BODY:
                    raise _Pass
            data = FlashOrderCreate.model_validate(orjson.loads(body))
        except (_Pass, InvalidToken, ValueError):  # pydantic's ValidationError and orjson's error are ValueErrors
            await self.app(scope, _replaying(body, more, receive), send)
            return
        idempotency = IdempotencyContext(
            user_id=user_id, route=ROUTE, key=key.decode(), table=idempotency_table(state.db.metadata)
        )
        try:
            response = await purchase_on_postgres(state, sale_id, data, user_id, idempotency)
        except DomainError as exc:
            response = problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
        await response(scope, receive, send)

    @staticmethod
    def _headers(scope: Scope) -> dict[bytes, bytes]:
        wanted = {b"authorization", b"idempotency-key", b"content-type"}
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in wanted:
                if name in found:  # a repeated header: let FastAPI decide which one counts
                    raise _Pass
                found[name] = value
        return found

    @staticmethod
    def _buyer(state: Any, headers: dict[bytes, bytes]) -> str:
        # `HTTPBearer` + `current_user` + `require_roles("customer")`, for a well-formed header only.
        raw = headers.get(b"authorization")
        if raw is None:
            raise _Pass
        scheme, _, credentials = raw.decode("latin-1").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise _Pass
        settings = state.settings
        principal = decode_token(credentials, secret=settings.jwt_secret, algorithm=settings.jwt_algorithm)
        if "customer" not in principal.roles:
            raise _Pass
        return principal.sub


def _replaying(body: bytes, more: bool, receive: Receive) -> Receive:
    """The request's `receive` with the part of the body the layer already read put back in front."""
    pending = [body] if body or not more else []
    if not pending and more:
        return receive

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": more}
        return await receive()

    return replay


def install(app: FastAPI, flash: FlashRuntime) -> None:
    """Add the layer as the innermost user middleware, i.e. inside the request-id/access-log middleware that
    `build_service_app` added (Starlette builds the stack lazily, on the first request)."""
    app.user_middleware.append(Middleware(SoldOutShortcut, flash=flash))
