"""What the orders service holds about a person, and how it forgets them.

Export: the person's orders with their lines, state log, payments and refunds, their flash-sale purchases, their
after-sale requests with their decisions, and the tickets they opened with their replies and history. Orders know
people only by id; the free text a person wrote (a refund's reason, an after-sale description and photos, a
ticket's or a reply's text and photos, a decision's reason) and the notes written when they acted are what erasure
(`user.erased`) blanks. Every amount, quantity, id and date stays, so the order and payment
records, and every ledger fed from them, stay exactly as they were.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.privacy import ERASED, PersonalTable, by_column, forget_idempotent_responses, through
from services.orders.aftersales.models import AfterSaleDecision, AfterSaleLine, AfterSaleRequest
from services.orders.db import metadata
from services.orders.inventory.models import FlashSalePurchase
from services.orders.orders.models import Order, OrderLine, OrderLog, Refund, RefundLine
from services.orders.payments.models import Payment
from services.orders.tickets.models import Ticket, TicketHistory, TicketReply


def _refund_lines(user_id: str) -> ColumnElement[bool]:
    orders = select(col(Order.id)).where(col(Order.customer_id) == user_id)
    refunds = select(col(Refund.id)).where(col(Refund.order_id).in_(orders.scalar_subquery()))
    return col(RefundLine.refund_id).in_(refunds.scalar_subquery())


def personal_tables() -> list[PersonalTable]:
    return [
        by_column(Order, "customer_id"),
        through(OrderLine, "order_id", Order, "customer_id"),
        through(OrderLog, "order_id", Order, "customer_id"),
        through(Payment, "order_id", Order, "customer_id"),
        through(Refund, "order_id", Order, "customer_id"),
        (RefundLine.__table__, _refund_lines),  # type: ignore[attr-defined]
        by_column(FlashSalePurchase, "user_id"),
        by_column(AfterSaleRequest, "customer_id"),
        through(AfterSaleLine, "request_id", AfterSaleRequest, "customer_id"),
        through(AfterSaleDecision, "request_id", AfterSaleRequest, "customer_id"),
        by_column(Ticket, "opened_by"),
        through(TicketReply, "ticket_id", Ticket, "opened_by"),
        through(TicketHistory, "ticket_id", Ticket, "opened_by"),
    ]


async def erase_person(session: AsyncSession, *, user_id: str) -> None:
    """Blank what the person wrote; keep every amount."""
    await session.exec(update(Refund).where(col(Refund.requested_by) == user_id).values(reason=ERASED))
    await session.exec(update(OrderLog).where(col(OrderLog.actor) == user_id).values(note=None))
    await session.exec(
        update(AfterSaleRequest).where(col(AfterSaleRequest.customer_id) == user_id).values(description=None, images=[])
    )
    await session.exec(update(AfterSaleDecision).where(col(AfterSaleDecision.actor) == user_id).values(reason=None))
    await session.exec(update(Ticket).where(col(Ticket.opened_by) == user_id).values(text=ERASED, images=[]))
    await session.exec(update(TicketReply).where(col(TicketReply.author) == user_id).values(text=ERASED, images=[]))
    await session.exec(update(TicketHistory).where(col(TicketHistory.actor) == user_id).values(note=None))
    await forget_idempotent_responses(session, metadata, user_id)
