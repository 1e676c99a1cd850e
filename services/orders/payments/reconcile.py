"""`python -m services.orders.payments.reconcile --date YYYY-MM-DD`: reconcile one business day's provider bills
with our payments and refunds, with the service's own settings (`ORDERS_*`); print the report. Exit 0 when
everything matches, 1 when there are differences (stored and shown by `GET /api/v1/payments/reconciliations/{date}`),
2 with one line on stderr when it could not run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

from services.common.clock import utcnow
from services.common.db import Database
from services.common.wechatpay import WeChatPayConfigError
from services.orders.config import get_settings
from services.orders.db import metadata
from services.orders.payments.exceptions import ReconciliationFailed
from services.orders.payments.reconciliation import reconcile
from services.orders.payments.schemas import ReconciliationRead
from services.orders.wechatpay import WeChatPayProvider, payment_provider_of


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: YYYY-MM-DD") from None


async def _run(bill_date: date) -> ReconciliationRead:
    settings = get_settings()
    provider, _ = payment_provider_of(settings)
    db = Database(settings.resolved_database_url(), metadata)
    try:
        return await reconcile(db, provider, bill_date=bill_date, tz=settings.tz, now=utcnow())
    finally:
        if isinstance(provider, WeChatPayProvider):
            await provider.aclose()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", dest="bill_date", type=_day, required=True, help="business day, YYYY-MM-DD")
    args = parser.parse_args()
    try:
        report = asyncio.run(_run(args.bill_date))
    except (WeChatPayConfigError, ReconciliationFailed) as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # one line for whoever runs it; the traceback is noise here
        print(f"reconcile: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        sys.exit(2)
    print(report.model_dump_json(indent=2))
    sys.exit(1 if report.differences else 0)


if __name__ == "__main__":
    main()
