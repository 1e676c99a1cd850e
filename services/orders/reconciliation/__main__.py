"""`python -m services.orders.reconciliation --from ISO --to ISO`: print the report; exit 1 on any loss or duplicate."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from services.common.auth import ServiceTokens
from services.common.db import Database
from services.orders.clients import HttpEffectsSource, UpstreamClients
from services.orders.config import get_settings
from services.orders.models import metadata
from services.orders.reconciliation.schemas import OrderEffectsReport
from services.orders.reconciliation.service import reconcile


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs a UTC offset, e.g. 2026-12-01T00:00:00+08:00")
    return moment


async def _run(since: datetime, until: datetime) -> OrderEffectsReport:
    settings = get_settings()
    db = Database(settings.resolved_database_url(), metadata)
    tokens = ServiceTokens.from_settings(settings, "orders")
    upstream = UpstreamClients(timeout_seconds=max(settings.upstream_timeout_seconds, 10), tokens=tokens)
    effects = HttpEffectsSource(upstream, leaders_url=settings.leaders_url, points_url=settings.points_url)
    try:
        async with db.reading() as session:
            return await reconcile(session, since=since, until=until, effects=effects)
    finally:
        await upstream.aclose()
        await tokens.aclose()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="since", type=_instant, required=True)
    parser.add_argument("--to", dest="until", type=_instant, required=True)
    args = parser.parse_args()
    report = asyncio.run(_run(args.since, args.until))
    print(report.model_dump_json(by_alias=True, indent=2))
    sys.exit(1 if report.lost or report.duplicated or report.mismatched else 0)


if __name__ == "__main__":
    main()
