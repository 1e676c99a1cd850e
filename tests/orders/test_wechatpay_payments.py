"""WeChat Pay end to end against the stand-in API: prepay, notifications (real, forged, stale, replayed), a payment
whose notification was lost, closing cancelled orders, refunds and their notifications, bills."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from services.common import migrate
from services.common.testing import asgi_client, bearer
from services.common.wechatpay import load_credentials
from services.orders.payment_provider import ProviderError
from services.orders.payments import jobs as payment_jobs
from services.orders.wechatpay import WeChatPayProvider
from tests.conftest import AppFactory
from tests.orders.conftest import (
    build_orders_app,
    create_product,
    customer,
    expire_order,
    get_order,
    new_order,
    outbox_events,
    product_stock,
)
from tests.wechatpay_stub import BASE_URL, Keys, WeChatPayStub

NOTIFY_URL = "https://shop.example/api/v1/payments/wechat/notify"
FINANCE = bearer("fin1", ["finance"])
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class FixedPayers:
    async def openid_of(self, user_id: str) -> str:
        return f"o-{user_id}"


@dataclass
class WeChat:
    app: FastAPI
    client: httpx.AsyncClient
    stub: WeChatPayStub
    keys: Keys

    async def pay_order(self, order: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(f"/api/v1/orders/{order['id']}/payment", headers=customer())
        assert response.status_code == 200, response.text
        params: dict[str, Any] = response.json()
        return params

    async def notify(self, headers: dict[str, str], body: bytes) -> httpx.Response:
        return await self.client.post("/api/v1/payments/wechat/notify", content=body, headers=headers)

    async def paid_and_notified(self, order: dict[str, Any], *, at: datetime | None = None) -> str:
        params = await self.pay_order(order)
        transaction_id = self.stub.pay(params["out_trade_no"], at=at)
        answer = await self.notify(*self.stub.payment_notification(params["out_trade_no"]))
        assert answer.status_code == 204, answer.text
        return transaction_id


async def wechat_orders_app(make_app: AppFactory, tmp_path: Path, keys: Keys, stub: WeChatPayStub) -> FastAPI:
    app = await build_orders_app(
        make_app, payment_provider="wechat", wechatpay_notify_url=NOTIFY_URL, **keys.write(tmp_path)
    )
    configured: WeChatPayProvider = app.state.payment_provider
    assert isinstance(configured, WeChatPayProvider)
    # The provider create_app built from the settings, reaching the stand-in instead of WeChat's host.
    provider = WeChatPayProvider(
        load_credentials(app.state.settings, prefix="ORDERS"),
        notify_url=NOTIFY_URL,
        base_url=BASE_URL,
        transport=stub.transport(),
    )
    app.state.payment_provider = app.state.refund_provider = provider
    app.state.payers = FixedPayers()
    return app


@pytest.fixture
async def wechat(make_app: AppFactory, tmp_path: Path) -> AsyncIterator[WeChat]:
    keys = Keys()
    stub = WeChatPayStub(keys)
    app = await wechat_orders_app(make_app, tmp_path, keys, stub)
    async with asgi_client(app) as client:
        yield WeChat(app, client, stub, keys)
    await app.state.payment_provider.aclose()


async def test_paying_an_order_gives_signed_jsapi_parameters_and_reuses_the_prepay(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client, price_fen=1250)
    order = await new_order(wechat.client, [(eggs, 2)])
    first = await wechat.pay_order(order)
    assert first["package"] == f"prepay_id={first['prepay_id']}" and first["signType"] == "RSA"
    assert first["appId"] == "wx1234567890abcdef" and first["timeStamp"].isdigit() and first["nonceStr"]
    assert wechat.stub.check_pay_sign(first)
    [trade] = wechat.stub.trades.values()
    assert trade["amount"] == 2500 and trade["openid"] == "o-c1" and trade["notify_url"] == NOTIFY_URL
    assert trade["time_expire"] is not None  # WeChat refuses payment once our payment time is over

    again = await wechat.pay_order(order)
    assert again["prepay_id"] == first["prepay_id"] and again["out_trade_no"] == first["out_trade_no"]
    assert wechat.stub.check_pay_sign(again)
    assert len(wechat.stub.trades) == 1
    someone_else = await wechat.client.post(f"/api/v1/orders/{order['id']}/payment", headers=customer("c2"))
    assert someone_else.status_code == 404


async def test_a_verified_notification_marks_the_order_paid_once(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    transaction_id = await wechat.paid_and_notified(order)
    paid = await get_order(wechat.client, order)
    assert paid["status"] == "paid" and len(paid["pickup_code"]) == 6
    [event] = await outbox_events(wechat.app, "order.paid")
    assert event["data"]["paid_fen"] == 1000
    notes = (await wechat.client.get("/api/v1/payments/notifications", headers=FINANCE)).json()["items"]
    assert [(n["outcome"], n["transaction_id"], n["deliveries"]) for n in notes] == [("paid", transaction_id, 1)]
    payments = (await wechat.client.get("/api/v1/payments", headers=bearer("ops1", ["ops"]))).json()["items"]
    assert [(p["transaction_id"], p["status"], p["source"]) for p in payments] == [
        (transaction_id, "captured", "provider")
    ]


async def test_a_replayed_notification_has_no_second_effect(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    params = await wechat.pay_order(order)
    wechat.stub.pay(params["out_trade_no"])
    headers, body = wechat.stub.payment_notification(params["out_trade_no"])
    assert (await wechat.notify(headers, body)).status_code == 204
    assert (await wechat.notify(headers, body)).status_code == 204
    # WeChat's retry of the same payment under a new notification id is applied once too.
    assert (await wechat.notify(*wechat.stub.payment_notification(params["out_trade_no"]))).status_code == 204
    assert len(await outbox_events(wechat.app, "order.paid")) == 1
    notes = (await wechat.client.get("/api/v1/payments/notifications", headers=FINANCE)).json()["items"]
    assert sorted((n["outcome"], n["deliveries"]) for n in notes) == [("duplicate", 1), ("paid", 2)]


@pytest.mark.parametrize("forgery", ["other key", "stale", "wrong serial", "tampered body", "no headers"])
async def test_a_forged_notification_is_refused_and_changes_nothing(wechat: WeChat, forgery: str) -> None:
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    params = await wechat.pay_order(order)
    wechat.stub.pay(params["out_trade_no"])
    if forgery == "other key":
        headers, body = WeChatPayStub(Keys(api_v3_key=wechat.keys.api_v3_key)).notification(
            "TRANSACTION.SUCCESS", {"out_trade_no": params["out_trade_no"]}
        )
    elif forgery == "stale":
        headers, body = wechat.stub.payment_notification(params["out_trade_no"], timestamp=int(time.time()) - 301)
    elif forgery == "wrong serial":
        impostor = WeChatPayStub(wechat.keys, serial="PUB_KEY_ID_NOT_OURS")
        impostor.trades = wechat.stub.trades
        headers, body = impostor.payment_notification(params["out_trade_no"])
    elif forgery == "tampered body":
        headers, body = wechat.stub.payment_notification(params["out_trade_no"])
        body = body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
    else:
        _, body = wechat.stub.payment_notification(params["out_trade_no"])
        headers = {"Content-Type": "application/json"}
    answer = await wechat.notify(headers, body)
    assert answer.status_code == 401
    assert answer.json() == {"code": "FAIL", "message": "signature verification failed"}
    assert (await get_order(wechat.client, order))["status"] == "pending_payment"
    assert (await wechat.client.get("/api/v1/payments/notifications", headers=FINANCE)).json()["items"] == []
    assert await outbox_events(wechat.app, "order.paid") == []


async def test_a_wrong_amount_or_unknown_order_is_answered_and_recorded(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    params = await wechat.pay_order(order)
    wechat.stub.trades[params["out_trade_no"]]["amount"] = 999  # WeChat charged another amount than we asked
    wechat.stub.pay(params["out_trade_no"])
    wrong = await wechat.notify(*wechat.stub.payment_notification(params["out_trade_no"]))
    assert wrong.status_code == 204  # WeChat must not keep sending it; the money goes back
    assert (await get_order(wechat.client, order))["status"] == "pending_payment"
    unknown = wechat.stub.notification(
        "TRANSACTION.SUCCESS",
        {"out_trade_no": "GB999T1", "transaction_id": "4200000000", "trade_state": "SUCCESS", "amount": {"total": 5}},
    )
    assert (await wechat.notify(*unknown)).status_code == 204
    notes = (await wechat.client.get("/api/v1/payments/notifications", headers=FINANCE)).json()["items"]
    assert sorted(n["outcome"] for n in notes) == ["amount_mismatch", "unknown_order"]
    result = await payment_jobs.refund_sender_job(wechat.app)
    assert result.payments_refunded == 1
    [refund] = wechat.stub.refunds.values()
    assert refund["refund"] == 999 and refund["total"] == 999


async def test_a_paid_order_whose_notification_was_lost_is_not_cancelled(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client, stock=5)
    order = await new_order(wechat.client, [(eggs, 2)])
    params = await wechat.pay_order(order)
    transaction_id = wechat.stub.pay(params["out_trade_no"])  # ...and WeChat's notification never arrives
    await expire_order(wechat.app, order["id"])
    assert await payment_jobs.payment_timeout_job(wechat.app) == 0
    paid = await get_order(wechat.client, order)
    assert paid["status"] == "paid"
    assert await product_stock(wechat.client, eggs) == 3
    [event] = await outbox_events(wechat.app, "order.paid")
    assert event["data"]["order_id"] == order["id"]
    assert ("GET", f"/v3/pay/transactions/out-trade-no/{params['out_trade_no']}") in wechat.stub.calls
    assert wechat.stub.trades[params["out_trade_no"]]["trade_state"] == "SUCCESS"
    # The notification arriving after all changes nothing.
    assert (await wechat.notify(*wechat.stub.payment_notification(params["out_trade_no"]))).status_code == 204
    payments = (await wechat.client.get("/api/v1/payments", headers=bearer("ops1", ["ops"]))).json()["items"]
    assert [p["transaction_id"] for p in payments] == [transaction_id]


async def test_the_timeout_waits_while_the_provider_cannot_be_asked(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    params = await wechat.pay_order(order)
    await expire_order(wechat.app, order["id"])
    wechat.stub.outages["/v3/pay/transactions/out-trade-no/"] = 1
    assert await payment_jobs.payment_timeout_job(wechat.app) == 0
    assert (await get_order(wechat.client, order))["status"] == "pending_payment"
    assert await payment_jobs.payment_timeout_job(wechat.app) == 1
    assert (await get_order(wechat.client, order))["status"] == "cancelled"
    assert wechat.stub.trades[params["out_trade_no"]]["trade_state"] == "CLOSED"


async def test_a_cancelled_order_is_closed_at_wechat_and_a_late_payment_is_refunded(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client, stock=5)
    closed_order = await new_order(wechat.client, [(eggs, 1)])
    closed = await wechat.pay_order(closed_order)
    assert (
        await wechat.client.post(f"/api/v1/orders/{closed_order['id']}/cancel", headers=customer())
    ).status_code == 200
    wechat.stub.outages["/v3/pay/transactions/out-trade-no/"] = 1  # the first close fails and is retried
    assert await payment_jobs.close_trades_job(wechat.app) == 0
    assert await payment_jobs.close_trades_job(wechat.app) == 1
    assert wechat.stub.trades[closed["out_trade_no"]]["trade_state"] == "CLOSED"
    again = await wechat.client.post(f"/api/v1/orders/{closed_order['id']}/payment", headers=customer())
    assert again.status_code == 409 and again.json()["code"] == "ORDER_NOT_PAYABLE"

    # Paid in the moment between the cancel and the close: the money is recorded and given back.
    late_order = await new_order(wechat.client, [(eggs, 1)])
    late = await wechat.pay_order(late_order)
    assert (
        await wechat.client.post(f"/api/v1/orders/{late_order['id']}/cancel", headers=customer())
    ).status_code == 200
    wechat.stub.pay(late["out_trade_no"])
    assert (await wechat.notify(*wechat.stub.payment_notification(late["out_trade_no"]))).status_code == 204
    assert (await get_order(wechat.client, late_order))["status"] == "cancelled"
    assert await product_stock(wechat.client, eggs) == 5
    assert await payment_jobs.close_trades_job(wechat.app) == 0  # paid: nothing to close
    assert (await payment_jobs.refund_sender_job(wechat.app)).payments_refunded == 1
    [refund] = wechat.stub.refunds.values()
    assert refund["out_trade_no"] == late["out_trade_no"] and refund["refund"] == 1000


async def test_a_refund_goes_through_wechat_and_its_notification_completes_it(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client, price_fen=500)
    order = await new_order(wechat.client, [(eggs, 3)])
    transaction_id = await wechat.paid_and_notified(order)
    line_id = (await get_order(wechat.client, order))["lines"][0]["id"]
    body = {"lines": [{"line_id": line_id, "quantity": 1}], "reason": "bruised"}
    made = await wechat.client.post(f"/api/v1/orders/{order['id']}/refunds", json=body, headers=customer())
    assert made.status_code == 201, made.text
    assert (await payment_jobs.refund_sender_job(wechat.app)).refunds_sent == 1
    assert (await payment_jobs.refund_sender_job(wechat.app)).refunds_sent == 0  # asked once
    out_refund_no = f"refund-{made.json()['id']}"
    sent = wechat.stub.refunds[out_refund_no]
    assert sent["transaction_id"] == transaction_id and sent["refund"] == 500 and sent["total"] == 1500
    listed = (await wechat.client.get("/api/v1/payments/refunds", headers=FINANCE)).json()["items"]
    assert [(r["out_refund_no"], r["status"]) for r in listed] == [(out_refund_no, "processing")]

    wechat.stub.finish_refund(out_refund_no)
    headers, raw = wechat.stub.refund_notification(out_refund_no)
    assert (await wechat.notify(headers, raw)).status_code == 204
    assert (await wechat.notify(headers, raw)).status_code == 204  # replay
    listed = (await wechat.client.get("/api/v1/payments/refunds", headers=FINANCE)).json()["items"]
    assert [(r["status"], r["provider_refund_id"]) for r in listed] == [("succeeded", sent["refund_id"])]
    refunds = (await wechat.client.get(f"/api/v1/orders/{order['id']}/refunds", headers=customer())).json()
    assert [r["provider_status"] for r in refunds] == ["sent"]


async def test_a_refund_whose_notification_is_lost_is_asked_about(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    await wechat.paid_and_notified(order)
    line_id = (await get_order(wechat.client, order))["lines"][0]["id"]
    body = {"lines": [{"line_id": line_id, "quantity": 1}], "reason": "late"}
    made = await wechat.client.post(f"/api/v1/orders/{order['id']}/refunds", json=body, headers=customer())
    now = datetime.now(UTC)
    await payment_jobs.send_pending_refunds(wechat.app.state.db, wechat.app.state.refund_provider, now=now)
    wechat.stub.finish_refund(f"refund-{made.json()['id']}")
    later = now + payment_jobs.REFUND_QUERY_AFTER + timedelta(seconds=1)
    await payment_jobs.send_pending_refunds(wechat.app.state.db, wechat.app.state.refund_provider, now=later)
    listed = (await wechat.client.get("/api/v1/payments/refunds", headers=FINANCE)).json()["items"]
    assert [r["status"] for r in listed] == ["succeeded"]


async def test_a_refund_that_keeps_failing_is_parked_for_staff_and_can_be_retried(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    await wechat.paid_and_notified(order)
    line_id = (await get_order(wechat.client, order))["lines"][0]["id"]
    body = {"lines": [{"line_id": line_id, "quantity": 1}], "reason": "late"}
    made = await wechat.client.post(f"/api/v1/orders/{order['id']}/refunds", json=body, headers=customer())
    wechat.stub.outages["/v3/refund/"] = 100
    db, provider = wechat.app.state.db, wechat.app.state.refund_provider
    now = datetime.now(UTC)
    for attempt in range(3):
        result = await payment_jobs.send_pending_refunds(db, provider, now=now, max_attempts=3)
        assert result.failures == 1, attempt
        waiting = await payment_jobs.send_pending_refunds(db, provider, now=now, max_attempts=3)
        assert waiting.failures == 0  # backing off: not asked again at once
        now += timedelta(hours=2)
    [parked] = (await wechat.client.get("/api/v1/payments/refunds?status=failed", headers=FINANCE)).json()["items"]
    assert parked["attempts"] == 3 and "500" in parked["last_error"] and "SYSTEM_ERROR" in parked["last_error"]
    refunds = (await wechat.client.get(f"/api/v1/orders/{order['id']}/refunds", headers=customer())).json()
    assert [r["provider_status"] for r in refunds] == ["failed"]
    assert (await payment_jobs.send_pending_refunds(db, provider, now=now)).failures == 0  # parked: left alone

    not_staff = await wechat.client.post(f"/api/v1/payments/refunds/{parked['id']}/retry", headers=customer())
    assert not_staff.status_code == 403
    wechat.stub.outages.clear()
    retried = await wechat.client.post(f"/api/v1/payments/refunds/{parked['id']}/retry", headers=FINANCE)
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    twice = await wechat.client.post(f"/api/v1/payments/refunds/{parked['id']}/retry", headers=FINANCE)
    assert twice.status_code == 409 and twice.json()["code"] == "REFUND_NOT_PARKED"
    assert (await payment_jobs.send_pending_refunds(db, provider, now=now)).refunds_sent == 1
    assert f"refund-{made.json()['id']}" in wechat.stub.refunds


async def test_the_daily_reconciliation_reports_a_missing_and_a_mismatched_line(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client, price_fen=800, stock=20)
    first = await new_order(wechat.client, [(eggs, 1)])
    second = await new_order(wechat.client, [(eggs, 2)])
    # Both payments and the stranger's trade at one moment, so they share a bill day even across midnight in Shanghai
    # (the bill and our payments are dated by the provider's success time).
    now = datetime.now(UTC)
    await wechat.paid_and_notified(first, at=now)
    await wechat.paid_and_notified(second, at=now)
    second_no = next(no for no, t in wechat.stub.trades.items() if t["amount"] == 1600)
    wechat.stub.bill_amount_overrides[second_no] = 1599
    wechat.stub.extra_bill_trades.append(
        {"out_trade_no": "GB424242T1", "transaction_id": "4200000000000000000000000042", "amount": 300,
         "openid": "o-x", "description": "?", "success_time": now.isoformat(timespec="seconds")}
    )  # fmt: skip
    today = now.astimezone(SHANGHAI).date()
    missing = await wechat.client.get(f"/api/v1/payments/reconciliations/{today}", headers=FINANCE)
    assert missing.status_code == 404 and missing.json()["code"] == "RECONCILIATION_NOT_FOUND"
    ran = await wechat.client.post(f"/api/v1/payments/reconciliations/{today}", headers=FINANCE)
    assert ran.status_code == 200, ran.text
    report = (await wechat.client.get(f"/api/v1/payments/reconciliations/{today}", headers=FINANCE)).json()
    assert report["status"] == "differences" and report["trade_lines"] == 3 and report["our_payments"] == 2
    assert sorted((d["kind"], d["reference"], d["our_fen"], d["provider_fen"]) for d in report["differences"]) == [
        ("amount_mismatch", second_no, 1600, 1599),
        ("missing_on_our_side", "GB424242T1", None, 300),
    ]
    catalogue = await wechat.client.get(f"/api/v1/payments/reconciliations/{today}", headers=bearer("k", ["catalogue"]))
    assert catalogue.status_code == 403


async def test_a_reconciled_day_with_refunds_matches(wechat: WeChat) -> None:
    wechat.stub.refund_status_on_create = "SUCCESS"
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    await wechat.paid_and_notified(order)
    line_id = (await get_order(wechat.client, order))["lines"][0]["id"]
    body = {"lines": [{"line_id": line_id, "quantity": 1}], "reason": "x"}
    await wechat.client.post(f"/api/v1/orders/{order['id']}/refunds", json=body, headers=customer())
    await payment_jobs.refund_sender_job(wechat.app)
    today = datetime.now(SHANGHAI).date()
    report = (await wechat.client.post(f"/api/v1/payments/reconciliations/{today}", headers=FINANCE)).json()
    assert report["status"] == "matched", report
    assert report["refund_lines"] == report["our_refunds"] == 1 and report["differences"] == []


async def test_bills_that_cannot_be_fetched_give_one_clear_problem(wechat: WeChat) -> None:
    wechat.stub.outages["/v3/bill/"] = 1
    today = datetime.now(SHANGHAI).date()
    failed = await wechat.client.post(f"/api/v1/payments/reconciliations/{today}", headers=FINANCE)
    assert failed.status_code == 503 and failed.json()["code"] == "RECONCILIATION_FAILED"
    assert "SYSTEM_ERROR" in failed.json()["detail"]


async def test_a_provider_outage_while_paying_is_a_503_and_a_retry_works(wechat: WeChat) -> None:
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    wechat.stub.outages["/v3/pay/transactions/jsapi"] = 1
    failed = await wechat.client.post(f"/api/v1/orders/{order['id']}/payment", headers=customer())
    assert failed.status_code == 503 and failed.json()["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert (await wechat.pay_order(order))["prepay_id"]


async def test_an_answer_not_signed_by_wechat_is_not_believed(wechat: WeChat) -> None:
    impostor = WeChatPayStub(Keys(merchant=wechat.keys.merchant, api_v3_key=wechat.keys.api_v3_key))
    provider = WeChatPayProvider(
        wechat.app.state.payment_provider.credentials, notify_url=NOTIFY_URL, base_url=BASE_URL,
        transport=impostor.transport(),
    )  # fmt: skip
    with pytest.raises(ProviderError, match="not signed"):
        await provider.create_prepay(
            out_trade_no="GB1T1", description="eggs", amount_fen=100, payer_openid="o-1",
            expires_at=datetime.now(UTC) + timedelta(minutes=15),
        )  # fmt: skip
    await provider.aclose()


async def test_no_secret_reaches_the_logs_or_an_answer(
    wechat: WeChat, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[str] = []
    eggs = await create_product(wechat.client)
    order = await new_order(wechat.client, [(eggs, 1)])
    answers.append(str(await wechat.pay_order(order)))
    await wechat.paid_and_notified(order)
    forged = WeChatPayStub(Keys()).notification("TRANSACTION.SUCCESS", {"out_trade_no": "x"})
    answers.append((await wechat.notify(*forged)).text)
    wechat.stub.outages["/v3/refund/"] = 5
    line_id = (await get_order(wechat.client, order))["lines"][0]["id"]
    body = {"lines": [{"line_id": line_id, "quantity": 1}], "reason": "x"}
    await wechat.client.post(f"/api/v1/orders/{order['id']}/refunds", json=body, headers=customer())
    answers.append(str(await payment_jobs.refund_sender_job(wechat.app)))
    answers.append((await wechat.client.get("/api/v1/payments/refunds", headers=FINANCE)).text)
    today = datetime.now(SHANGHAI).date()
    answers.append((await wechat.client.post(f"/api/v1/payments/reconciliations/{today}", headers=FINANCE)).text)
    answers.append(repr(wechat.app.state.payment_provider.credentials))
    answers.append(repr(wechat.app.state.settings))
    captured = capfd.readouterr()
    text = caplog.text + captured.out + captured.err + "\n".join(answers)
    assert "refund failed; retried later" in caplog.text  # the logs were captured
    for secret in wechat.keys.secrets():
        assert secret not in text


def test_the_reconcile_command_fails_with_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ORDERS_PAYMENT_PROVIDER": "wechat",
           "ORDERS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "services.orders.payments.reconcile", "--date", "2026-01-02"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ORDERS_WECHATPAY_MCHID" in lines[0], done.stderr
    bad_date = subprocess.run(
        [sys.executable, "-m", "services.orders.payments.reconcile", "--date", "yesterday"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr


def test_the_reconcile_command_reads_the_service_settings_and_stores_the_report(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    migrate.upgrade("orders", url)
    env = {"PATH": "/usr/bin:/bin", "ORDERS_PAYMENT_PROVIDER": "fake", "ORDERS_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "services.orders.payments.reconcile", "--date", "2026-01-02"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["bill_date"], report["status"], report["provider"]) == ("2026-01-02", "matched", "fake")
