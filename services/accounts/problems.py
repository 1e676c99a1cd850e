"""Problem responses that tell the caller when to come back: a `DomainError` raised with `retry_after_seconds`
(WeChat's rate limit, a locked staff account) also gets the `Retry-After` header (RFC 9110)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from services.common.errors import DomainError, problem_response


async def _domain_error_with_retry_after(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    retry_after = exc.extra.get("retry_after_seconds")
    headers = {"Retry-After": str(retry_after)} if isinstance(retry_after, int) and retry_after > 0 else None
    return problem_response(exc.status, exc.code, exc.title, exc.detail, headers=headers, **exc.extra)


def install_retry_after(app: FastAPI) -> None:
    """Replaces the shared `DomainError` handler with one that renders the same body plus the header."""
    app.add_exception_handler(DomainError, _domain_error_with_retry_after)
