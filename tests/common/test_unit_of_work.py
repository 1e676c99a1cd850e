"""One unit of work: a request or a job step commits when it ends normally and rolls back when it raises, except
for a refusal that says it keeps its writes (`DomainError.keeps_writes`), which is committed and still answered."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from sqlmodel import col, select

from services.common.db import Database, SessionDep
from services.common.errors import Conflict
from services.common.testing import asgi_client
from services.orders.products.models import Product


class KeptRefusal(Conflict):
    code = "KEPT_REFUSAL"
    keeps_writes = True


class PlainRefusal(Conflict):
    code = "PLAIN_REFUSAL"


REFUSALS: dict[str, type[Conflict]] = {"kept": KeptRefusal, "plain": PlainRefusal}


def _refusing_router() -> APIRouter:
    router = APIRouter()

    @router.post("/test/refusals/{kind}")
    async def refuse(kind: str, session: SessionDep) -> None:
        session.add(Product(name=f"written before a {kind} refusal", price_fen=1, stock=1))
        await session.flush()
        raise REFUSALS[kind]()

    return router


async def _product_names(db: Database) -> list[str]:
    async with db.reading() as session:
        return list((await session.exec(select(Product.name).order_by(col(Product.id)))).all())


async def test_a_refusal_that_keeps_its_writes_is_committed_and_still_answered_as_a_problem(
    orders_app: FastAPI,
) -> None:
    orders_app.include_router(_refusing_router())
    async with asgi_client(orders_app) as client:
        kept = await client.post("/test/refusals/kept")
        plain = await client.post("/test/refusals/plain")
    assert kept.status_code == 409 and kept.json()["code"] == "KEPT_REFUSAL"
    assert plain.status_code == 409 and plain.json()["code"] == "PLAIN_REFUSAL"
    assert await _product_names(orders_app.state.db) == ["written before a kept refusal"]


async def test_a_job_transaction_commits_before_a_refusal_that_keeps_its_writes_and_rolls_back_otherwise(
    orders_app: FastAPI,
) -> None:
    db: Database = orders_app.state.db
    errors: list[tuple[str, type[Exception]]] = [*REFUSALS.items(), ("failure", RuntimeError)]
    for kind, refusal in errors:
        with pytest.raises(refusal):
            async with db.transaction() as session:
                session.add(Product(name=f"written before a {kind} error", price_fen=1, stock=1))
                await session.flush()
                raise refusal()
    assert await _product_names(db) == ["written before a kept error"]
