"""Monthly commission statements (what leaders look at most): sales, totals, opening and closing balances, lines.

A month is a calendar month in the business time zone. Sales are net sales as docs/metrics.md defines them: paid in
the month (by payment date) minus refunded in the month (by refund date), whenever the refunded order was paid.
Every ledger query is a range scan of `ix_commission_entries_leader_id_created_at_id` (lines are sought by keyset
on (created_at, id), so page 100 costs what page 1 does), plus primary-key lookups of the accruals and reversals
the lines refer to; the sales are range scans of the sales indexes by (leader, date).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.clock import local_date
from services.common.db import Database
from services.common.exports import BOM, csv_row, yuan
from services.common.pagination import InvalidCursor, PageParams, encode_cursor
from services.leaders.commission import service
from services.leaders.commission.exceptions import InvalidPeriod
from services.leaders.commission.models import (
    CommissionAccrual,
    CommissionEntry,
    CommissionEntryKind,
    CommissionReversal,
    CommissionRuleMode,
)
from services.leaders.commission.schemas import Statement, StatementBalances, StatementLine, StatementLines
from services.leaders.profiles.access import ensure_reads_leader
from services.leaders.sales import repository as sales_repository

_PERIOD = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
_ZERO = StatementBalances(pending_fen=0, available_fen=0, in_withdrawal_fen=0, withdrawn_fen=0)


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    start: datetime  # local midnight of the first day, aware
    end: datetime  # local midnight of the first day of the next month


def parse_period(period: str, tz: ZoneInfo) -> Period:
    match = _PERIOD.match(period)
    if match is None or not 2000 <= int(match.group(1)) <= 9998:
        raise InvalidPeriod(f"{period!r} is not a month written YYYY-MM")
    year, month = int(match.group(1)), int(match.group(2))
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return Period(
        label=period,
        start=datetime(first.year, first.month, 1, tzinfo=tz),
        end=datetime(following.year, following.month, 1, tzinfo=tz),
    )


# --- queries -----------------------------------------------------------------------------------------------------


async def _balances_before(session: AsyncSession, leader_id: str, moment: datetime) -> StatementBalances:
    entry = CommissionEntry
    row = (
        await session.exec(
            select(
                entry.pending_after_fen,
                entry.available_after_fen,
                entry.in_withdrawal_after_fen,
                entry.withdrawn_after_fen,
            )
            .where(entry.leader_id == leader_id, col(entry.created_at) < moment)
            .order_by(col(entry.created_at).desc(), col(entry.id).desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return _ZERO
    return StatementBalances(pending_fen=row[0], available_fen=row[1], in_withdrawal_fen=row[2], withdrawn_fen=row[3])


async def _totals(session: AsyncSession, leader_id: str, period: Period) -> dict[str, int]:
    entry = CommissionEntry
    rows = await session.exec(
        select(entry.kind, func.sum(entry.amount_fen))
        .where(entry.leader_id == leader_id, col(entry.created_at) >= period.start, col(entry.created_at) < period.end)
        .group_by(col(entry.kind))
    )
    return {kind: int(amount or 0) for kind, amount in rows.all()}


async def _lines(
    session: AsyncSession, leader_id: str, period: Period, *, after: tuple[datetime, int] | None, limit: int
) -> Sequence[Any]:
    entry, accrual, reversal = CommissionEntry, CommissionAccrual, CommissionReversal
    query = (
        select(entry, accrual, reversal.quantity)
        .outerjoin(accrual, col(accrual.id) == col(entry.accrual_id))
        .outerjoin(
            reversal, and_(col(reversal.refund_id) == col(entry.refund_id), col(reversal.line_id) == col(entry.line_id))
        )
        .where(entry.leader_id == leader_id, col(entry.created_at) >= period.start, col(entry.created_at) < period.end)
        .order_by(col(entry.created_at), col(entry.id))
        .limit(limit)
    )
    if after is not None:
        at, entry_id = after
        query = query.where(
            or_(col(entry.created_at) > at, and_(col(entry.created_at) == at, col(entry.id) > entry_id))
        )
    return (await session.exec(query)).all()


# --- assembling --------------------------------------------------------------------------------------------------


def _rule_label(accrual: CommissionAccrual | None) -> str | None:
    if accrual is None:
        return None
    if accrual.excluded is not None:
        return f"excluded:{accrual.excluded}"
    if accrual.mode is None:
        return "none"
    value = (
        f"{accrual.rate_bp}bp" if accrual.mode == CommissionRuleMode.PERCENTAGE else f"{accrual.per_item_fen}fen/item"
    )
    return f"{accrual.rule_scope}:{accrual.mode}:{value}"


def _line(row: Any, tz: ZoneInfo) -> StatementLine:
    entry, accrual, reversed_quantity = row
    quantity = (
        reversed_quantity if entry.kind == CommissionEntryKind.REVERSAL else (accrual.quantity if accrual else None)
    )
    return StatementLine(
        entry_id=entry.id,
        at=entry.created_at,
        date=local_date(entry.created_at, tz).isoformat(),
        kind=entry.kind,
        order_id=entry.order_id,
        line_id=entry.line_id,
        refund_id=entry.refund_id,
        withdrawal_id=entry.withdrawal_id,
        product_id=accrual.product_id if accrual else None,
        quantity=quantity,
        base_fen=accrual.base_fen if accrual else None,
        rule=_rule_label(accrual),
        amount_fen=entry.amount_fen,
        state=accrual.state if accrual else None,
    )


def _decode_after(page: PageParams) -> tuple[datetime, int] | None:
    if page.after is None:
        return None
    try:
        at_text, entry_id = page.after
        at = datetime.fromisoformat(at_text)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(entry_id, int) or at.tzinfo is None:
        raise InvalidCursor()
    return at, entry_id


async def _require_account(session: AsyncSession, user: Principal, leader_id: str) -> None:
    await ensure_reads_leader(session, user, leader_id)
    await service.account_of(session, leader_id)


async def get_statement(
    session: AsyncSession, *, user: Principal, leader_id: str, period: str, tz: ZoneInfo, page: PageParams
) -> Statement:
    await _require_account(session, user, leader_id)
    month = parse_period(period, tz)
    totals = await _totals(session, leader_id, month)
    sales = await sales_repository.sales_of(session, leader_id, start=month.start, end=month.end)
    rows = await _lines(session, leader_id, month, after=_decode_after(page), limit=page.limit + 1)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    next_cursor = encode_cursor([rows[-1][0].created_at.isoformat(), rows[-1][0].id]) if more and rows else None
    return Statement(
        leader_id=leader_id,
        period=month.label,
        timezone=str(tz),
        gmv_fen=sales.gmv_fen,
        refunds_fen=sales.refunds_fen,
        net_sales_fen=sales.net_sales_fen,
        accrued_fen=totals.get(CommissionEntryKind.ACCRUAL, 0),
        reversed_fen=-totals.get(CommissionEntryKind.REVERSAL, 0),
        settled_fen=totals.get(CommissionEntryKind.SETTLEMENT, 0),
        withdrawn_fen=totals.get(CommissionEntryKind.WITHDRAWAL_PAID, 0),
        opening=await _balances_before(session, leader_id, month.start),
        closing=await _balances_before(session, leader_id, month.end),
        lines=StatementLines(items=[_line(r, tz) for r in rows], next_cursor=next_cursor),
    )


# --- CSV -----------------------------------------------------------------------------------------------------------


def _yuan(fen: int | None) -> str:
    return "" if fen is None else yuan(fen)


_CSV_COLUMNS = [
    "date", "entry_id", "kind", "order_id", "line_id", "refund_id", "withdrawal_id", "product_id", "quantity",
    "base_fen", "base_yuan", "rule", "amount_fen", "amount_yuan", "state",
]  # fmt: skip


async def statement_csv(db: Database, *, statement: Statement, tz: ZoneInfo, chunk: int = 1000) -> AsyncIterator[bytes]:
    """The statement as CSV for Excel: UTF-8 with a BOM, CRLF lines, a summary block, then every line of the month.

    The body is streamed after the request's session has closed, so it reads the lines in keyset chunks, each with
    a read session of its own (`csv_lines`), like a job that owns its transactions.
    """
    month = parse_period(statement.period, tz)
    yield _csv_head(statement)
    after: tuple[datetime, int] | None = None  # from the first line
    while True:
        async with db.reading() as session:
            text, after = await csv_lines(
                session, leader_id=statement.leader_id, month=month, tz=tz, after=after, limit=chunk
            )
        if text:
            yield text
        if after is None:
            break


def _csv_head(statement: Statement) -> bytes:
    summary: list[tuple[str, int]] = [
        ("gmv", statement.gmv_fen),
        ("refunds", statement.refunds_fen),
        ("net_sales", statement.net_sales_fen),
        ("accrued", statement.accrued_fen),
        ("reversed", statement.reversed_fen),
        ("settled", statement.settled_fen),
        ("withdrawn", statement.withdrawn_fen),
        ("opening_available", statement.opening.available_fen),
        ("opening_pending", statement.opening.pending_fen),
        ("closing_available", statement.closing.available_fen),
        ("closing_pending", statement.closing.pending_fen),
    ]
    head = BOM + csv_row(["leader_id", statement.leader_id, "period", statement.period, "timezone", statement.timezone])
    head += csv_row(["item", "fen", "yuan"])
    head += "".join(csv_row([name, fen, _yuan(fen)]) for name, fen in summary)
    head += "\r\n" + csv_row(_CSV_COLUMNS)
    return head.encode("utf-8")


async def csv_lines(
    session: AsyncSession,
    *,
    leader_id: str,
    month: Period,
    tz: ZoneInfo,
    after: tuple[datetime, int] | None,
    limit: int,
) -> tuple[bytes, tuple[datetime, int] | None]:
    """Up to `limit` statement lines after the keyset position `after`, as CSV rows, and the position to go on
    from (None when these were the last)."""
    rows = await _lines(session, leader_id, month, after=after, limit=limit)
    text = ""
    for row in rows:
        line = _line(row, tz)
        text += csv_row(
            [
                line.date,
                line.entry_id,
                line.kind,
                line.order_id,
                line.line_id,
                line.refund_id,
                line.withdrawal_id,
                line.product_id,
                line.quantity,
                line.base_fen,
                _yuan(line.base_fen),
                line.rule,
                line.amount_fen,
                _yuan(line.amount_fen),
                line.state,
            ]
        )
    following = (rows[-1][0].created_at, rows[-1][0].id) if len(rows) == limit else None
    return text.encode("utf-8"), following
