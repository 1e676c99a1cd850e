"""The close of ended group-buys: each community below a product's minimum (成团) has those orders cancelled or
refunded, one transaction per (group-buy, product, community), safe to repeat and to run in several processes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from fastapi import FastAPI

from services.common.db import Database
from services.orders.config import Settings
from services.orders.group_buys import repository, service
from services.orders.inventory.service import Inventory

log = logging.getLogger("services.orders.group_buys")

CLOSE_INTERVAL_SECONDS = 30.0
CLOSE_BATCH = 20


async def close_group_buys(
    db: Database, *, inventory: Inventory, payment_grace_seconds: int, after_sale_days: int, now: datetime
) -> int:
    """Close the group-buys that ended at least `payment_grace_seconds` ago (by then their unpaid orders are paid
    or cancelled, so the count is final); how many were closed."""
    async with db.reading() as session:
        ids = await repository.ended_unclosed(
            session, ended_before=now - timedelta(seconds=payment_grace_seconds), limit=CLOSE_BATCH
        )
    closed = 0
    for group_buy_id in ids:
        try:
            async with db.reading() as session:
                minimums = await repository.minimums(session, group_buy_id)
                pairs = [
                    (product_id, leader_id)
                    for product_id in sorted(minimums)
                    for leader_id in await repository.communities_of_product(
                        session, group_buy_id=group_buy_id, product_id=product_id
                    )
                ]
            for product_id, leader_id in pairs:
                async with db.transaction() as session:
                    outcome = await service.settle_community(
                        session,
                        group_buy_id=group_buy_id,
                        product_id=product_id,
                        leader_id=leader_id,
                        minimum=minimums[product_id],
                        inventory=inventory,
                        after_sale_days=after_sale_days,
                        now=now,
                    )
                if outcome is not None and not outcome.reached:
                    log.info(
                        "community below the group-buy minimum",
                        extra={"group_buy_id": group_buy_id, "product_id": product_id, "leader_id": leader_id},
                    )
            async with db.transaction() as session:
                if await repository.mark_closed(session, group_buy_id=group_buy_id, now=now):
                    closed += 1
        except Exception:
            log.exception("could not close a group-buy", extra={"group_buy_id": group_buy_id})
    return closed


async def close_job(app: FastAPI) -> int:
    settings: Settings = app.state.settings
    return await close_group_buys(
        app.state.db,
        inventory=app.state.inventory,
        payment_grace_seconds=settings.payment_timeout_seconds,
        after_sale_days=settings.after_sale_days,
        now=app.state.clock(),
    )
