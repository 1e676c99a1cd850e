"""Table endpoints: JSON by default, the same table as CSV with `?format=csv`, and a `.csv` twin path whose only
response is `text/csv`.

The twin exists for generated clients: a client generated from OpenAPI parses a response by the first media type
the operation declares, so an operation that answers JSON or CSV by a query parameter is parsed as JSON either way.
The twin declares only `text/csv`, so its generated method returns the text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Response

from services.common.errors import DomainError, problem_docs
from services.common.exports import CSV_CONTENT

F = TypeVar("F", bound=Callable[..., Any])


def table_endpoint(
    router: APIRouter,
    path: str,
    *,
    name: str,
    summary: str,
    response_model: Any,
    errors: Sequence[type[DomainError]],
    description: str,
) -> Callable[[F], F]:
    """Register `GET path` and `GET path.csv`; the endpoint takes its query model as the `query` argument."""

    def register(endpoint: F) -> F:
        router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            name=name,
            summary=summary,
            response_model=response_model,
            responses={
                **problem_docs(*errors),
                200: {"description": description, "content": {"application/json": {}, **CSV_CONTENT}},
            },
        )

        @functools.wraps(endpoint)
        async def as_csv(*args: Any, **kwargs: Any) -> Any:
            kwargs["query"] = kwargs["query"].model_copy(update={"format": "csv"})
            return await endpoint(*args, **kwargs)

        router.add_api_route(
            path + ".csv",
            as_csv,
            methods=["GET"],
            name=name + "_csv",
            summary=summary + " as CSV",
            response_class=Response,
            response_model=None,
            responses={**problem_docs(*errors), 200: {"description": description + " (CSV)", "content": CSV_CONTENT}},
        )
        return endpoint

    return register
