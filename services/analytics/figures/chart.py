"""The community chart a leader posts in the group: members (line) and net sales (bars) per day, as a PNG.

Rendered with matplotlib's object API on the Agg canvas (no pyplot, so no global figure state shared between
requests), in a worker thread because drawing takes tens of milliseconds of CPU.
"""

from __future__ import annotations

import io
from datetime import date

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from services.analytics.figures.schemas import CommunityStats
from services.common.exports import yuan

WIDTH_INCHES, HEIGHT_INCHES, DPI = 10.0, 5.6, 100  # 1000 × 560 pixels: sharp on a phone, small to send


def render_community_chart(stats: CommunityStats) -> bytes:
    days: list[date] = [row.date for row in stats.daily]
    members = [row.members_total for row in stats.daily]
    # Bar heights in yuan are for drawing only; every figure shown as text is formatted from integer fen.
    net_sales_yuan = [row.net_sales_fen / 100 for row in stats.daily]

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    members_axis, sales_axis = figure.subplots(2, 1, sharex=True, height_ratios=[1, 1])
    members_axis.plot(days, members, color="#1f77b4", linewidth=2, marker="o" if len(days) <= 31 else None)
    members_axis.set_ylabel("members")
    members_axis.grid(True, alpha=0.3)
    members_axis.set_title(
        f"Community {stats.leader_id}: {stats.date_from.isoformat()} – {stats.date_to.isoformat()}   "
        f"members {stats.members_total} ({stats.net_growth:+d})   net sales ¥{yuan(stats.net_sales_fen)}",
        fontsize=11,
    )
    colours = ["#2ca02c" if value >= 0 else "#d62728" for value in net_sales_yuan]
    sales_axis.bar(days, net_sales_yuan, color=colours, width=0.8)
    sales_axis.set_ylabel("net sales (yuan)")
    sales_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))
    sales_axis.grid(True, axis="y", alpha=0.3)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    sales_axis.xaxis.set_major_locator(locator)
    sales_axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
