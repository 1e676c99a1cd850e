"""The migration that scopes stored Idempotency-Keys by their concrete target moves each key of a route with an id in
its path to the path its stored answer names, so a retry sent across the upgrade still replays its own answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import text

from services.common import migrate
from services.common.db import create_engine
from services.common.testing import drop_database, prepare_database

BEFORE = "927ffa800006"


def _rows(url: str, statement: str, params: list[dict[str, object]] | None = None) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                if params is not None:
                    await conn.execute(text(statement), params)
                    return []
                return [tuple(row) for row in (await conn.execute(text(statement))).all()]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_template_scoped_keys_move_to_the_target_their_answer_names(tmp_path: Path) -> None:
    url = prepare_database("orders_rescope", tmp_path)
    try:
        migrate.upgrade("orders", url, revision=BEFORE)
        now = datetime(2026, 12, 1, tzinfo=UTC)
        keys = [
            ("c1", "POST /api/v1/flash-sales/{sale_id}/orders", "k1", {"id": 5, "flash_sale_id": 7}),
            ("c2", "POST /api/v1/flash-sales/{sale_id}/orders", "k1", {"id": 6, "flash_sale_id": 8}),
            ("c1", "POST /api/v1/orders/{order_id}/refunds", "k2", {"id": 1, "order_id": 42}),
            ("c1", "POST /api/v1/orders", "k3", {"id": 9}),
            ("c1", "POST /api/v1/orders/{order_id}/after-sales", "k4", None),
        ]
        _rows(
            url,
            "INSERT INTO idempotency_keys (user_id, route, key, request_hash, status_code, response_body, created_at) "
            "VALUES (:user, :route, :key, 'h', :status, :body, :now)",
            [
                {
                    "user": user,
                    "route": route,
                    "key": key,
                    "status": None if body is None else 201,
                    "body": None if body is None else orjson.dumps(body),
                    "now": now,
                }
                for user, route, key, body in keys
            ],
        )
        migrate.upgrade("orders", url)
        found = set(_rows(url, "SELECT user_id, route, key FROM idempotency_keys"))
        assert found == {
            ("c1", "POST /api/v1/flash-sales/7/orders", "k1"),
            ("c2", "POST /api/v1/flash-sales/8/orders", "k1"),
            ("c1", "POST /api/v1/orders/42/refunds", "k2"),
            ("c1", "POST /api/v1/orders", "k3"),
        }
    finally:
        drop_database(url)
