"""Sold-out answers before FastAPI: at 10:00 most buyers of a popular sale arrive after its stock is gone, and the
answer only depends on this process's sold-out flag (`Inventory.known_sold_out`). It is the same 409 problem+json
for everyone, pre-encoded once, sent without reading the token or the body (it reveals nothing but "sold out").
Every other request, purchases included, goes on to the app unchanged.

The layer sits inside `RequestContextMiddleware` (see `install`), so its answers carry `X-Request-Id` and get their
access-log line like any other response.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import PROBLEM_MEDIA_TYPE, problem_bytes
from services.common.metrics import count_flash_sale_outcome
from services.common.types import INT64_MAX
from services.orders.flash_sales.exceptions import FlashSaleSoldOut
from services.orders.inventory.service import Inventory

PREFIX = "/api/v1/flash-sales/"
SUFFIX = "/orders"

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


class SoldOutAnswer:
    def __init__(self, app: ASGIApp, *, inventory: Inventory) -> None:
        self.app = app
        self.inventory = inventory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.inventory.has_sold_out()
            and scope["method"] == "POST"
            and (sale_id := sale_id_of(scope["path"])) is not None
            and self.inventory.known_sold_out(sale_id)
        ):
            count_flash_sale_outcome("sold_out")
            # A fresh headers list each time: the request-id layer outside appends to it.
            await send({"type": "http.response.start", "status": _STATUS, "headers": list(_HEADERS)})
            await send(_BODY)
            return
        await self.app(scope, receive, send)


def install(app: FastAPI, inventory: Inventory) -> None:
    """Add the layer as the innermost user middleware, i.e. inside the request-id/access-log middleware that
    `build_service_app` added (Starlette builds the stack lazily, on the first request)."""
    app.user_middleware.append(Middleware(SoldOutAnswer, inventory=inventory))
