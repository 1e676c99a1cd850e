"""Exports: CSV that opens in a spreadsheet — UTF-8 with a BOM (Excel reads the encoding from it), a header row, and
a yuan column beside every fen column, written from the integer (never through a float), cells that could run as
formulas neutralised — and PNG pictures; each with a download file name and declared in the OpenAPI document with
its media type, so a generated client fetches it as text or bytes, not JSON. One way for every service."""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import APIRouter, Response

from services.common.errors import DomainError, problem_docs

F = TypeVar("F", bound=Callable[..., Any])


class ExportFormat(StrEnum):
    """`?format=`: the JSON document, or the same table as CSV."""

    JSON = "json"
    CSV = "csv"


BOM = "\ufeff"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
PNG_MEDIA_TYPE = "image/png"
#: OpenAPI `content` entries, so generated clients know these responses are text and bytes, not JSON.
CSV_CONTENT: dict[str, Any] = {"text/csv": {"schema": {"type": "string"}}}
PNG_CONTENT: dict[str, Any] = {PNG_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]+")
# A cell starting with one of these is run as a formula by spreadsheets; user-supplied text never should be.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # a negative amount is data, not a formula


def yuan(fen: int) -> str:
    """`-1234` → `"-12.34"`: integer arithmetic only."""
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{cents:02d}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return _cell(";".join(str(v) for v in value))
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return str(value)


def header_with_yuan(columns: Sequence[str]) -> list[str]:
    header: list[str] = []
    for column in columns:
        header.append(column)
        if column.endswith("_fen"):
            header.append(column.removesuffix("_fen") + "_yuan")
    return header


def csv_row(values: Sequence[Any]) -> str:
    """One CSV line (CRLF) of cells as `csv_text` writes them."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([_cell(v) for v in values])
    return buffer.getvalue()


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header_with_yuan(columns))
    for row in rows:
        cells: list[str] = []
        for column in columns:
            value = row[column]
            cells.append(_cell(value))
            if column.endswith("_fen"):
                cells.append(yuan(value) if isinstance(value, int) else "")
        writer.writerow(cells)
    return BOM + buffer.getvalue()


def safe_filename(*parts: str) -> str:
    return "-".join(_UNSAFE_FILENAME.sub("_", part) for part in parts if part)


def csv_response(filename: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Response:
    return Response(
        content=csv_text(columns, rows).encode("utf-8"),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def png_response(filename: str, image: bytes) -> Response:
    return Response(
        content=image,
        media_type=PNG_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}.png"'},
    )


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
    """Register `GET path` (JSON, or CSV with `?format=csv`) and its twin `GET path.csv`, whose only response is CSV.

    The twin exists for generated clients: a client generated from OpenAPI parses a response by the first media type
    the operation declares, so an operation that answers JSON or CSV by a query parameter is parsed as JSON either
    way; the twin declares only `text/csv`, so its generated method returns the text. The twin is registered first:
    a path ending in a parameter (`/{pickup_date}`) would otherwise take `2026-12-08.csv` as its value and refuse it.
    The endpoint takes its query model (with a `format` field) as the `query` argument.
    """

    def register(endpoint: F) -> F:
        @functools.wraps(endpoint)
        async def as_csv(*args: Any, **kwargs: Any) -> Any:
            kwargs["query"] = kwargs["query"].model_copy(update={"format": ExportFormat.CSV})
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
        return endpoint

    return register
