"""Sold-out answers before FastAPI: once this process knows a sale is sold out, a purchase is answered from memory.

Why: at 10:00 most buyers of a popular sale arrive after its stock is gone, so the sold-out answer is the most
frequent response of a flash sale. Through FastAPI it cost about 560 µs of CPU per request (bench/flash, one
worker): route matching, the bearer dependency's JWT decode, reading and validating the body, the
Idempotency-Key dependency, raising `FlashSaleSoldOut` and rendering it through the exception handlers. None of
that changes the answer: the in-process flag (`FlashRuntime.known_sold_out`) decides it alone, exactly as the route
did as its first step. So this pure-ASGI layer answers `POST /api/v1/flash-sales/{id}/orders` with the same 409
problem+json bytes, pre-encoded once, and leaves every other request (and every purchase of a sale not known sold
out) to the app untouched.

It sits inside `RequestContextMiddleware` (see `install`), so the answer still carries `X-Request-Id` and gets its
access-log line like any other response. The request body is not read: the server discards it. The answer does not
depend on who asks, so skipping authentication reveals nothing but "sold out", which the sale's public page says too.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import PROBLEM_MEDIA_TYPE, problem_bytes
from services.orders.flash_sales.exceptions import FlashSaleSoldOut
from services.orders.flash_sales.stock import FlashRuntime

PREFIX = "/api/v1/flash-sales/"
SUFFIX = "/orders"

#: The same body `install_error_handlers` renders for `FlashSaleSoldOut()` (a test compares the two).
BODY = problem_bytes(FlashSaleSoldOut.status, FlashSaleSoldOut.code, FlashSaleSoldOut.title)
_STATUS = FlashSaleSoldOut.status
_HEADERS = ((b"content-length", str(len(BODY)).encode()), (b"content-type", PROBLEM_MEDIA_TYPE.encode()))
_BODY: Message = {"type": "http.response.body", "body": BODY, "more_body": False}


def sale_id_of(path: str) -> int | None:
    """The sale id of a purchase path, or None for any other path."""
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    middle = path[len(PREFIX) : -len(SUFFIX)]
    # The route's own check (an int of 1..INT64_MAX) still applies to anything answered by the app.
    if not (0 < len(middle) <= 19 and middle.isascii() and middle.isdigit()):
        return None
    return int(middle)


class SoldOutShortcut:
    def __init__(self, app: ASGIApp, *, flash: FlashRuntime) -> None:
        self.app = app
        self.flash = flash

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # `has_sold_out` first: while no sale is sold out this costs one attribute read per request.
        if scope["type"] == "http" and self.flash.has_sold_out() and scope["method"] == "POST":
            sale_id = sale_id_of(scope["path"])
            if sale_id is not None and self.flash.known_sold_out(sale_id):
                # A fresh headers list each time: the request-id layer outside appends to it.
                await send({"type": "http.response.start", "status": _STATUS, "headers": list(_HEADERS)})
                await send(_BODY)
                return
        await self.app(scope, receive, send)


def install(app: FastAPI, flash: FlashRuntime) -> None:
    """Add the shortcut as the innermost user middleware, i.e. inside the request-id/access-log middleware that
    `build_service_app` added (Starlette builds the stack lazily, on the first request)."""
    app.user_middleware.append(Middleware(SoldOutShortcut, flash=flash))
