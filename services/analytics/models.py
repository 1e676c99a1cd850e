"""The read model: facts kept once per business key, and the daily roll-ups the queries read.

Tables are SQLAlchemy Core: the read model is written with upserts that add to counters
(`INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n`) and read with grouped queries, which Core says directly.

What each query needs decides the keys (docs/metrics.md has the definitions):
- additive figures (joins, leaves, orders, money) per leader and day, per day for the platform, per leader and month
  (the rank), per product and day: a range is a sum over at most one row per day;
- figures that cannot be summed across days (distinct buyers, repeat buyers, cohorts) read one row per
  (leader, day, person) with orders or refunds that day;
- segments read one row per (leader, person) with the membership and all-time order figures.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    false,
)

from services.analytics.db import metadata
from services.common.db import UTCDateTime

ID = String(64)


def _money(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, server_default="0")


def _count(name: str) -> Column[int]:
    return Column(name, Integer, nullable=False, server_default="0")


leaders = Table(
    "leaders",
    metadata,
    Column("leader_id", ID, primary_key=True),
    Column("status", String(16), nullable=True),
    Column("level", String(32), nullable=True),
    Column("manager_id", ID, nullable=True, index=True),
    Column("name", String(50), nullable=True),
    # Open memberships now: members at an earlier date D = members_now − net joins dated after D, which reads only
    # the days after D (rankings and alerts over every leader read the recent days, not the whole history).
    _count("members_now"),
    Column("state_at", UTCDateTime, nullable=True),  # `at` of the last leader.updated/status_changed applied
)

memberships = Table(
    "memberships",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("leader_id", ID, nullable=False),
    Column("customer_id", ID, nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
    Column("joined_on", Date, nullable=False),
    Column("left_at", UTCDateTime, nullable=True),
    Column("left_on", Date, nullable=True),
    UniqueConstraint("leader_id", "customer_id", "joined_at"),
)

community_members = Table(
    "community_members",
    metadata,
    Column("leader_id", ID, primary_key=True),
    Column("customer_id", ID, primary_key=True),
    Column("is_member", Boolean, nullable=False, server_default=false()),
    Column("first_joined_on", Date, nullable=True),
    Column("joined_on", Date, nullable=True),  # of the current (or last) membership
    Column("left_on", Date, nullable=True),  # of the last membership, None while a member
    _count("orders"),
    _money("gmv_fen"),
    _money("refunds_fen"),
    _money("net_sales_fen"),
    Column("first_order_on", Date, nullable=True),
    Column("last_order_on", Date, nullable=True),
    Index("ix_community_members_leader_member_net", "leader_id", "is_member", "net_sales_fen"),
    Index("ix_community_members_customer_id", "customer_id"),
)

_DAILY_FIGURES = (
    "joins",
    "leaves",
    "orders",
    "units",
    "points_used",
    "picked_up",
    "refund_count",
)


def _daily_columns() -> list[Column[int]]:
    return [*(_count(name) for name in _DAILY_FIGURES), _money("gmv_fen"), _money("refunds_fen")]


leader_daily = Table(
    "leader_daily",
    metadata,
    Column("leader_id", ID, primary_key=True),
    Column("day", Date, primary_key=True),
    *_daily_columns(),
    Index("ix_leader_daily_day", "day"),
)

platform_daily = Table(
    "platform_daily",
    metadata,
    Column("day", Date, primary_key=True),
    *_daily_columns(),
)

leader_monthly = Table(
    "leader_monthly",
    metadata,
    Column("leader_id", ID, primary_key=True),
    Column("month", Date, primary_key=True),  # the first day of the month
    _count("joins"),
    _count("leaves"),
    _count("orders"),
    _money("gmv_fen"),
    _money("refunds_fen"),
    _money("net_sales_fen"),
    Index("ix_leader_monthly_month_net", "month", "net_sales_fen"),
)

member_daily = Table(
    "member_daily",
    metadata,
    Column("leader_id", ID, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("customer_id", ID, primary_key=True),
    _count("orders"),
    _money("gmv_fen"),
    _money("refunds_fen"),
    Index("ix_member_daily_day_customer", "day", "customer_id"),
)


def _product_columns() -> list[Column[int]]:
    return [_count("lines"), _count("units"), _count("refunded_units"), _money("gmv_fen"), _money("refunds_fen")]


leader_product_daily = Table(
    "leader_product_daily",
    metadata,
    Column("leader_id", ID, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("product_id", BigInteger, primary_key=True),
    *_product_columns(),
)

product_daily = Table(
    "product_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("product_id", BigInteger, primary_key=True),
    *_product_columns(),
)

products = Table(
    "products",
    metadata,
    Column("product_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("leader_id", ID, nullable=False),
    Column("customer_id", ID, nullable=False),
    Column("flash_sale_id", BigInteger, nullable=True, index=True),
    Column("units", Integer, nullable=False, server_default="0"),
    Column("placed_at", UTCDateTime, nullable=True),
    Column("paid_at", UTCDateTime, nullable=True),
    Column("paid_on", Date, nullable=True),
    Column("paid_hour", SmallInteger, nullable=True),
    _money("paid_fen"),
    _money("refunded_fen"),
    Column("picked_up_at", UTCDateTime, nullable=True),
    Column("cancelled_at", UTCDateTime, nullable=True),
    Index("ix_orders_leader_id_paid_on", "leader_id", "paid_on"),
    Index("ix_orders_paid_on", "paid_on"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("refund_id", BigInteger, primary_key=True, autoincrement=False),
    Column("order_id", BigInteger, nullable=False, index=True),
    Column("leader_id", ID, nullable=False),
    Column("customer_id", ID, nullable=False),
    Column("refunded_at", UTCDateTime, nullable=False),
    Column("refunded_on", Date, nullable=False),
    _money("refund_fen"),
)

flash_sales = Table(
    "flash_sales",
    metadata,
    Column("flash_sale_id", BigInteger, primary_key=True, autoincrement=False),
    Column("product_id", BigInteger, nullable=False),
    Column("product_name", String(100), nullable=True),
    _money("price_fen"),
    Column("stock", BigInteger, nullable=False),
    Column("per_user_limit", Integer, nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("starts_on", Date, nullable=False, index=True),
    Column("ends_at", UTCDateTime, nullable=False),
)

sign_ins = Table(
    "sign_ins",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("hour", SmallInteger, nullable=False),
    Index("ix_sign_ins_day", "day"),
)

referrals = Table(
    "referrals",
    metadata,
    Column("invitee_id", ID, primary_key=True),
    Column("inviter_id", ID, nullable=False, index=True),
    Column("bound_on", Date, nullable=False, index=True),
)

# Tags are analytics' own data (ops put them on customers), not derived from events: a rebuild keeps them.
tags = Table(
    "tags",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(50), nullable=False),
    Column("description", String(200), nullable=True),
    Column("created_by", ID, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

customer_tags = Table(
    "customer_tags",
    metadata,
    Column("customer_id", ID, primary_key=True),
    Column("tag", String(32), primary_key=True),
    Column("tagged_by", ID, nullable=False),
    Column("tagged_at", UTCDateTime, nullable=False),
    Index("ix_customer_tags_tag_customer", "tag", "customer_id"),
)

#: Tables derived from events: emptied and refilled by a rebuild (with the inbox).
DERIVED_TABLES: tuple[Table, ...] = (
    leaders,
    memberships,
    community_members,
    leader_daily,
    platform_daily,
    leader_monthly,
    member_daily,
    leader_product_daily,
    product_daily,
    products,
    orders,
    refunds,
    flash_sales,
    sign_ins,
    referrals,
)
