"""Monthly statements: totals, opening and closing balances, lines in JSON pages and as an Excel-ready CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from services.common.clock import local_date, utcnow
from services.common.events.contract import ORDER_PAID, ORDER_PICKED_UP, ORDER_REFUNDED
from services.common.exports import yuan
from tests.leaders.conftest import OPS, Orders, leader_headers, make_leader
from tests.leaders.test_commission import deliver, rule, settle
from tests.leaders.test_withdrawals import withdraw

SHANGHAI = ZoneInfo("Asia/Shanghai")


def this_month() -> str:
    return local_date(utcnow(), SHANGHAI).strftime("%Y-%m")


def next_month() -> str:
    today = local_date(utcnow(), SHANGHAI)
    return f"{today.year + today.month // 12:04d}-{today.month % 12 + 1:02d}"


async def statement(client: httpx.AsyncClient, period: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/api/v1/leaders/l1/commission/statements/{period}", params=params, headers=OPS)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
async def month_of_activity(leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders) -> None:
    """Sales of 3,500 yuan at 10%; one line half refunded before settlement; 200 yuan withdrawn and paid."""
    await make_leader(leaders_client, "l1")
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    first = orders.paid("l1", [(1, 10, 200_000)])
    second = orders.paid("l1", [(2, 4, 100_000), (3, 1, 50_000)])
    for order in (first, second):
        await deliver(leaders_app, ORDER_PAID, order)
    await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(second, [(0, 2)]))
    await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(first, days_ago=8))
    await settle(leaders_client)
    requested = await withdraw(leaders_client, 20_000, "w1")
    await leaders_client.post(f"/api/v1/withdrawals/{requested.json()['id']}/approve", headers=OPS)


async def test_statement_totals_and_balances(leaders_client: httpx.AsyncClient, month_of_activity: None) -> None:
    body = await statement(leaders_client, this_month())
    # 3,500 yuan paid this month; 500 of it refunded this month (half of the 1,000-yuan line)
    assert (body["gmv_fen"], body["refunds_fen"], body["net_sales_fen"]) == (350_000, 50_000, 300_000)
    assert body["accrued_fen"] == 35_000  # 20,000 + 10,000 + 5,000
    assert body["reversed_fen"] == 5_000  # half of the 10,000 line
    assert body["settled_fen"] == 20_000
    assert body["withdrawn_fen"] == 20_000
    assert body["opening"] == {"pending_fen": 0, "available_fen": 0, "in_withdrawal_fen": 0, "withdrawn_fen": 0}
    assert body["closing"] == {
        "pending_fen": 10_000,
        "available_fen": 0,
        "in_withdrawal_fen": 0,
        "withdrawn_fen": 20_000,
    }
    kinds = [line["kind"] for line in body["lines"]["items"]]
    assert kinds == ["accrual", "accrual", "accrual", "reversal", "settlement", "withdrawal", "withdrawal_paid"]
    first = body["lines"]["items"][0]
    assert (first["product_id"], first["quantity"], first["base_fen"], first["amount_fen"]) == (1, 10, 200_000, 20_000)
    assert first["rule"] == "default:percentage:1000bp" and first["state"] == "available"
    reversal = body["lines"]["items"][3]
    assert (reversal["quantity"], reversal["amount_fen"], reversal["state"]) == (2, -5_000, "pending")

    following = await statement(leaders_client, next_month())
    assert following["opening"] == body["closing"] == following["closing"]
    assert following["lines"]["items"] == [] and following["accrued_fen"] == 0


async def test_statement_lines_page_with_a_cursor(leaders_client: httpx.AsyncClient, month_of_activity: None) -> None:
    ids: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await statement(leaders_client, this_month(), **params))["lines"]
        ids += [line["entry_id"] for line in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == 7 and ids == sorted(ids)


async def test_statement_csv_opens_in_excel(leaders_client: httpx.AsyncClient, month_of_activity: None) -> None:
    response = await leaders_client.get(
        f"/api/v1/leaders/l1/commission/statements/{this_month()}",
        params={"format": "csv", "limit": 1},
        headers=leader_headers("l1"),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    summary = {row[0]: row[1:] for row in rows[2:13]}
    assert summary["accrued"] == ["35000", "350.00"] and summary["reversed"] == ["5000", "50.00"]
    assert summary["gmv"] == ["350000", "3500.00"] and summary["net_sales"] == ["300000", "3000.00"]
    header_at = next(i for i, row in enumerate(rows) if row and row[0] == "date")
    lines = rows[header_at + 1 :]
    assert len(lines) == 7  # every line of the month, whatever `limit` says
    header = rows[header_at]
    first = dict(zip(header, lines[0], strict=True))
    assert (first["amount_fen"], first["amount_yuan"], first["base_yuan"]) == ("20000", "200.00", "2000.00")
    # The `.csv` twin answers the same file; the document declares it as text only, so a generated client gets text.
    twin = await leaders_client.get(
        f"/api/v1/leaders/l1/commission/statements/{this_month()}.csv", headers=leader_headers("l1")
    )
    assert twin.status_code == 200 and twin.content == raw
    document = (await leaders_client.get("/openapi.json")).json()
    twin_doc = document["paths"]["/api/v1/leaders/{leader_id}/commission/statements/{period}.csv"]["get"]
    assert list(twin_doc["responses"]["200"]["content"]) == ["text/csv"]
    reversal = dict(zip(header, lines[3], strict=True))
    assert reversal["amount_yuan"] == "-50.00"


@pytest.mark.parametrize(
    ("fen", "text"), [(0, "0.00"), (1, "0.01"), (-1, "-0.01"), (20_000, "200.00"), (-12_345, "-123.45")]
)
def test_yuan_is_formatted_without_floats(fen: int, text: str) -> None:
    assert yuan(fen) == text


@pytest.mark.parametrize("period", ["2025-13", "2025-00", "25-01", "2025-1", "1999-12"])
async def test_a_bad_period_is_422(leaders_client: httpx.AsyncClient, period: str) -> None:
    await make_leader(leaders_client, "l1")
    response = await leaders_client.get(f"/api/v1/leaders/l1/commission/statements/{period}", headers=OPS)
    assert response.status_code == 422


async def test_a_leader_cannot_read_another_leaders_statement(
    leaders_client: httpx.AsyncClient, month_of_activity: None
) -> None:
    await make_leader(leaders_client, "l2")
    path = f"/api/v1/leaders/l1/commission/statements/{this_month()}"
    assert (await leaders_client.get(path, headers=leader_headers("l2"))).status_code == 403
    assert (await leaders_client.get(path, params={"format": "csv"}, headers=leader_headers("l2"))).status_code == 403
    missing = await leaders_client.get("/api/v1/leaders/nobody/commission/statements/2025-01", headers=OPS)
    assert missing.status_code == 404


async def test_sales_are_paid_by_payment_month_and_refunds_by_refund_month(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    """A refund in November of an October order lowers November's net sales and leaves October's as they were."""
    await make_leader(leaders_client, "l1")
    october = orders.paid("l1", [(1, 4, 80_000)], paid_at=datetime(2026, 10, 31, 23, 30, tzinfo=SHANGHAI))
    november = orders.paid("l1", [(2, 1, 30_000)], paid_at=datetime(2026, 11, 1, 0, 10, tzinfo=SHANGHAI))
    await deliver(leaders_app, ORDER_PAID, october)
    await deliver(leaders_app, ORDER_PAID, november)
    refund = orders.refunded(october, [(0, 1)]).model_copy(
        update={"refunded_at": datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)}
    )
    await deliver(leaders_app, ORDER_REFUNDED, refund)

    def sales(body: dict[str, Any]) -> tuple[int, int, int]:
        return body["gmv_fen"], body["refunds_fen"], body["net_sales_fen"]

    assert sales(await statement(leaders_client, "2026-10")) == (80_000, 0, 80_000)
    assert sales(await statement(leaders_client, "2026-11")) == (30_000, 20_000, 10_000)
    assert sales(await statement(leaders_client, "2026-12")) == (0, 0, 0)
