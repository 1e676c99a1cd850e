"""Request ids and structured JSON logs.

`RequestContextMiddleware` is pure ASGI (a `BaseHTTPMiddleware` costs a task and a queue per request): it takes
`X-Request-Id` from the caller or makes one, echoes it, keeps it in `scope["request_id"]` and a context variable so
every log line of the request carries it, and logs one access line per request.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.metrics import REQUEST_SECONDS

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_log = logging.getLogger("services.access")

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json:
        formatter: logging.Formatter = JsonFormatter(service)
        formatter.converter = time.gmtime
    else:
        # For a person reading several processes' lines in one terminal (`make run`): who said it comes first.
        formatter = logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our own clients log what matters (failures, with the service named); httpx's line per request between
    # services, and per periodic job run, would drown the access log.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    # The SQLite driver logs every statement with its parameters at DEBUG (phone numbers, token hashes), around
    # the engine's `hide_parameters`: LOG_LEVEL=DEBUG must not turn that on. SQLAlchemy's own statement log
    # (`sqlalchemy.engine`, off unless asked for) never shows parameters: every engine hides them.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))


def _new_request_id() -> str:
    return uuid.uuid4().hex


def _valid_request_id(value: bytes) -> str | None:
    if 0 < len(value) <= 128 and all(0x21 <= b <= 0x7E for b in value):
        return value.decode()
    return None


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestContextMiddleware:
    """Request id, the access-log line and the request-duration metric of every request."""

    def __init__(self, app: ASGIApp, *, service: str, log_requests: bool = True) -> None:
        self.app = app
        self.service = service
        self.log_requests = log_requests
        # The histogram's child per (method, route, status), resolved once: a labels() lookup takes a lock.
        self._histograms: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = _valid_request_id(value)
                break
        rid = rid or _new_request_id()
        scope["request_id"] = rid
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            # The router leaves the matched route in the scope; answers given before routing (or no route at all)
            # share one label, so an attacker's random paths cannot create series.
            route = scope.get("route")
            template = getattr(route, "path", None) or scope.get("metrics_route") or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"  # any token is a valid method
            series = (method, template, status)
            histogram = self._histograms.get(series)
            if histogram is None:
                histogram = self._histograms[series] = REQUEST_SECONDS.labels(
                    self.service, method, template, str(status)
                )
            histogram.observe(elapsed)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)
