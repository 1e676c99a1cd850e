"""Request body size limits, answered with a 413 problem+json (code `PAYLOAD_TOO_LARGE`).

A request that declares a larger Content-Length is refused before anything is read; a streamed (chunked) body is
counted as it is read, and the read that goes past the limit raises the 413 the error handlers render. FastAPI's
own `max_body_size` is not used: its up-front check answers in plain text, outside our error handlers.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import PROBLEM_MEDIA_TYPE, problem_bytes

STATUS = 413
CODE = "PAYLOAD_TOO_LARGE"
TITLE = "The request body is larger than this endpoint accepts"


def too_large_body(limit: int) -> bytes:
    return problem_bytes(STATUS, CODE, TITLE, f"At most {limit} bytes")


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None without one (chunked) or with one the server will refuse anyway."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) <= 18 else None
    return None


class BodyLimit:
    """Pure ASGI: a body over `max_bytes` gets a 413 problem (up front when declared, its connection closed)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._body = too_large_body(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length <= self.max_bytes:
            # The server delivers no more than the declared length: nothing to count.
            await self.app(scope, receive, send)
            return
        if length is not None:
            await send(
                {
                    "type": "http.response.start",
                    "status": STATUS,
                    "headers": [
                        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                        (b"content-length", str(len(self._body)).encode()),
                        (b"connection", b"close"),  # the body is never read: the connection cannot carry another
                    ],
                }
            )
            await send({"type": "http.response.body", "body": self._body})
            return
        received = 0
        limit = self.max_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(STATUS, f"At most {limit} bytes")
            return message

        await self.app(scope, counting_receive, send)
