"""One error tree for every service, rendered as RFC 9457 problem details.

Services raise a `DomainError` subclass; the handlers installed by `install_error_handlers` turn it, and every
framework error (validation, unknown route, wrong method, unexpected exception), into the same
`application/problem+json` shape with a stable machine `code`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://groupbuy.dev/problems/"

log = logging.getLogger("services.errors")


class Problem(BaseModel):
    """RFC 9457 problem details with a stable machine-readable `code`."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    code: str
    instance: str | None = None


class DomainError(Exception):
    """Base of every error a service raises on purpose. Subclasses set `status` and `code`.

    Raising one rolls the transaction back, unless the subclass sets `keeps_writes`: a refusal whose writes are part
    of the answer (a wrong pickup code counts towards the lock) is committed, then rendered like any other. Only the
    request's session dependency and `Database.transaction()` honour the flag (both in `services.common.db`);
    savepoints (`begin_nested`) and anything else that catches the error roll back as usual.
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    title: ClassVar[str] = "Bad request"
    keeps_writes: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class Unauthorized(DomainError):
    status = 401
    code = "UNAUTHORIZED"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    code = "FORBIDDEN"
    title = "Not allowed"


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"
    title = "Conflict with the current state"


class InvalidInput(DomainError):
    status = 422
    code = "VALIDATION_ERROR"
    title = "Invalid input"

    @classmethod
    def of(cls, exc: ValidationError, what: str, *, loc: tuple[str, ...]) -> InvalidInput:
        """The same problem as a request FastAPI validated, for input a service parses itself (a body read only
        once its signature holds): `errors` names every field, under `loc`."""
        errors = [{**err, "loc": [*loc, *err["loc"]]} for err in _clean_validation_errors(exc.errors())]
        first = errors[0]
        return cls(f"{what}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}", errors=errors)


class ServiceUnavailable(DomainError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    title = "A service this request needs is unavailable"


class UpstreamTimeout(DomainError):
    status = 504
    code = "UPSTREAM_TIMEOUT"
    title = "A service this request needs did not answer in time"


def problem_response(
    status: int,
    code: str,
    title: str | None = None,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.lower().replace("_", "-"),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or title or HTTPStatus(status).phrase,
        "code": code,
    }
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_bytes(status: int, code: str, title: str, detail: str | None = None) -> bytes:
    """The body of a problem response, for pure ASGI code (the gateway) that writes bytes itself."""
    return orjson.dumps(
        {
            "type": PROBLEM_TYPE_BASE + code.lower().replace("_", "-"),
            "title": title,
            "status": status,
            "detail": detail or title,
            "code": code,
        }
    )


def _request_id(request: Request) -> str | None:
    rid = request.scope.get("request_id")
    return rid if isinstance(rid, str) else None


async def _domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    # RFC 9110: a 401 names the scheme that would be accepted.
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem_response(exc.status, exc.code, exc.title, exc.detail, headers=headers, **exc.extra)


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


#: What FastAPI raises (a 400) for a body it cannot even decode, such as bytes that are not UTF-8.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        # The same answer as for a body that is not JSON (FastAPI's 422 `json_invalid`): one documented status,
        # 422 VALIDATION_ERROR, for every body that cannot be read, whatever the reason.
        errors = [{"loc": ["body"], "msg": "The body is not UTF-8 JSON", "type": "json_invalid"}]
        return problem_response(
            422, "VALIDATION_ERROR", "Invalid input", "body: The body is not UTF-8 JSON", errors=errors
        )
    code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = exc.headers
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route matches {request.url.path}"
    elif exc.status_code == 405:
        # The router names only the first route it matched by path; a resource with GET and POST on two routes
        # must still say both (RFC 9110 `Allow`).
        headers = {**(exc.headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return problem_response(exc.status_code, code, detail=detail, headers=headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _clean_validation_errors(errors: Iterable[Any]) -> list[dict[str, Any]]:
    # Pydantic may put exception objects in `ctx`; keep only what serialises and helps the caller.
    cleaned = []
    for err in errors:
        cleaned.append(
            {
                "loc": list(err.get("loc", ())),
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return cleaned


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_validation_errors(exc.errors())
    first = errors[0] if errors else None
    detail = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}" if first else "The request is not valid"
    return problem_response(422, "VALIDATION_ERROR", "Invalid input", detail, errors=errors)


async def _unexpected_error_handler(request: Request, exc: Exception) -> Response:
    # The stack trace goes to the log with the request id, never to the caller.
    log.exception("unhandled error", extra={"request_id": _request_id(request), "path": request.url.path})
    return problem_response(
        500,
        "INTERNAL_ERROR",
        "Internal error",
        "Something went wrong on our side; quote the request id when reporting it.",
        request_id=_request_id(request),
    )


async def error_response(request: Request, exc: Exception) -> Response:
    """The answer to an error raised outside FastAPI's exception handling (an ASGI layer in front of the app),
    rendered by the same handlers as inside it."""
    if isinstance(exc, DomainError):
        return await _domain_error_handler(request, exc)
    return await _unexpected_error_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(Exception, _unexpected_error_handler)


def problem_docs(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each status it can answer with, and the codes behind it."""
    by_status: dict[int, list[str]] = {}
    documented: tuple[type[DomainError], ...] = (InvalidInput, *errors)
    for err in documented:
        by_status.setdefault(err.status, [])
        if err.code not in by_status[err.status]:
            by_status[err.status].append(err.code)
    return {
        status: {
            "model": Problem,
            "description": "Problem codes: " + ", ".join(codes),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, codes in sorted(by_status.items())
    }
