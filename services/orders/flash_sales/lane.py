"""The purchase lane: flash-sale purchases answered in front of FastAPI, with the route's own pieces.

At 10:00 the purchase is nearly every request this process serves, and FastAPI's per-request work (routing through
the included routers, solving dependencies, the exception and exit-stack layers) costs about as much as deciding
the purchase. The lane answers `POST /api/v1/flash-sales/{id}/orders` before all that, in two ways:

- Sold out: once this process knows the sale is sold out (`Inventory.known_sold_out`), the same 409 problem+json
  for everyone, pre-encoded once, sent without reading the token or the body (it reveals nothing but "sold out").
- A purchase the route would accept as far as the request goes (no query string, a small JSON body that
  `FlashOrderCreate` accepts, a bearer token of a customer, a well-formed Idempotency-Key): the route's own pieces
  in the route's order: `authenticate` and the route's `BearerAuth` rule, the key's scope (`scope_of`), then
  `router.purchase`, the function the route calls. Refusals from there on (sold out, limit, not active, an
  unknown leader) are rendered by the app's error handlers (`error_response`).

Anything else, including every request the route would refuse before buying (no or a bad token, another role, a
missing or malformed key, a body that does not validate, a query parameter), goes on to the app unchanged (the
body already read is handed on), so FastAPI gives each refusal its one answer and the OpenAPI document stays the
route's. The lane sits inside `RequestContextMiddleware` (see `install`): its answers carry `X-Request-Id` and get
their access-log line and request metric, labelled with the route's template.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.auth import InvalidToken, TokenVerifier, authenticate
from services.common.errors import PROBLEM_MEDIA_TYPE, DomainError, error_response, problem_bytes
from services.common.idempotency import KEY_MAX_LENGTH, IdempotencyContext, idempotency_table, scope_of
from services.common.metrics import count_flash_sale_outcome
from services.common.types import INT64_MAX
from services.orders.flash_sales import router
from services.orders.flash_sales.exceptions import FlashSaleSoldOut
from services.orders.flash_sales.schemas import FlashOrderCreate
from services.orders.inventory.service import Inventory

PREFIX = "/api/v1/flash-sales/"
SUFFIX = "/orders"
#: The label of the lane's answers in the request metrics: the route's template, as FastAPI's answers have it.
ROUTE = PREFIX + "{sale_id}" + SUFFIX
#: A purchase body is a leader id and a quantity; a larger one goes to the app, which refuses or parses it.
MAX_BODY_BYTES = 1024

#: The same body `install_error_handlers` renders for `FlashSaleSoldOut()` (a test compares the two).
BODY = problem_bytes(FlashSaleSoldOut.status, FlashSaleSoldOut.code, FlashSaleSoldOut.title)
_STATUS = FlashSaleSoldOut.status
_HEADERS = ((b"content-length", str(len(BODY)).encode()), (b"content-type", PROBLEM_MEDIA_TYPE.encode()))
_BODY: Message = {"type": "http.response.body", "body": BODY, "more_body": False}


def sale_id_of(path: str) -> int | None:
    """The sale id of a purchase path, or None for any other path (or an id the route would refuse)."""
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    middle = path[len(PREFIX) : -len(SUFFIX)]
    if not (0 < len(middle) <= 19 and middle.isascii() and middle.isdigit()):
        return None
    sale_id = int(middle)
    return sale_id if 1 <= sale_id <= INT64_MAX else None


def _well_formed_key(key: str | None) -> bool:
    """The route's rule for the header (`KEY_PATTERN`): 1 to 200 visible ASCII characters."""
    return key is not None and 0 < len(key) <= KEY_MAX_LENGTH and all(0x21 <= ord(c) <= 0x7E for c in key)


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";", 1)[0].strip().lower() == "application/json"


class PurchaseLane:
    def __init__(self, app: ASGIApp, *, inventory: Inventory) -> None:
        self.app = app
        self.inventory = inventory
        self.buyers = router.BUYERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or (sale_id := sale_id_of(scope["path"])) is None:
            await self.app(scope, receive, send)
            return
        scope["metrics_route"] = ROUTE
        if self.inventory.has_sold_out() and self.inventory.known_sold_out(sale_id):
            count_flash_sale_outcome("sold_out")
            # A fresh headers list each time: the request-id layer outside appends to it.
            await send({"type": "http.response.start", "status": _STATUS, "headers": list(_HEADERS)})
            await send(_BODY)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if (
            scope["query_string"]
            or not _is_json(headers.get("content-type"))
            or not (length is not None and length.isdigit() and int(length) <= MAX_BODY_BYTES)
            or not _well_formed_key(headers.get("idempotency-key"))
            or len(headers.getlist("idempotency-key")) != 1
            or len(headers.getlist("authorization")) != 1
        ):
            await self.app(scope, receive, send)
            return
        body, disconnected = await _read_body(receive)
        if disconnected:
            return
        data = self._admitted_body(body)
        user = await self._admitted_buyer(scope, headers) if data is not None else None
        if data is None or user is None:
            await self.app(scope, _replaying(body, receive), send)
            return
        idempotency = IdempotencyContext(
            user_id=user,
            route=scope_of("POST", f"{PREFIX}{sale_id}{SUFFIX}"),
            key=headers["idempotency-key"],
            table=idempotency_table(scope["app"].state.db.metadata),
        )
        request = Request(scope)
        try:
            response = await router.purchase(scope["app"].state, sale_id, data, idempotency)
        except Exception as exc:  # the app's handlers render it, as they would inside FastAPI
            response = await error_response(request, exc)
        await response(scope, receive, send)

    @staticmethod
    def _admitted_body(body: bytes) -> FlashOrderCreate | None:
        """The body as the route would read it (JSON decoded, then validated), or None to let the route refuse."""
        try:
            return FlashOrderCreate.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            return None

    async def _admitted_buyer(self, scope: Scope, headers: Headers) -> str | None:
        """The buyer's id when the route's rule admits the caller, else None to let the route refuse."""
        verifier: TokenVerifier = scope["app"].state.token_verifier
        try:
            return self.buyers.admit(await authenticate(headers, verifier=verifier)).sub
        except (InvalidToken, DomainError):
            return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body (the server stops it at its Content-Length), and whether the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body the lane already read, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def install(app: FastAPI, inventory: Inventory) -> None:
    """Add the lane as the innermost user middleware, i.e. inside the request-id/access-log middleware that
    `build_service_app` added (Starlette builds the stack lazily, on the first request)."""
    app.user_middleware.append(Middleware(PurchaseLane, inventory=inventory))
