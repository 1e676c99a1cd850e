"""Leader payouts through WeChat's transfer to balance, against the stand-in API: small withdrawals paid without a
finance user, larger ones waiting for one, polling until paid, a failed payout returned, one transfer per
withdrawal however often it is asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import asgi_client
from services.common.wechatpay import load_credentials
from services.leaders.withdrawals.jobs import payouts_job
from services.leaders.withdrawals.wechat import WeChatPayoutProvider, out_bill_no
from tests.conftest import AppFactory
from tests.leaders.conftest import OPS, Orders, leader_headers, make_leader
from tests.leaders.test_commission import balance, entries
from tests.leaders.test_withdrawals import fund, withdraw
from tests.wechatpay_stub import BASE_URL, Keys, WeChatPayStub

AUTO_LIMIT = 5000


@dataclass
class FixedPayees:
    async def openid_of(self, user_id: str) -> str:
        return f"o-{user_id}"


@dataclass
class Payouts:
    app: FastAPI
    client: httpx.AsyncClient
    stub: WeChatPayStub


@pytest.fixture
async def payouts(make_app: AppFactory, tmp_path: Path, orders: Orders) -> AsyncIterator[Payouts]:
    keys = Keys()
    stub = WeChatPayStub(keys)
    app = await make_app("leaders", withdrawal_auto_approve_fen=AUTO_LIMIT, payout_provider="fake",
                         **keys.write(tmp_path))  # fmt: skip
    provider = WeChatPayoutProvider(
        load_credentials(app.state.settings, prefix="LEADERS"),
        FixedPayees(),
        base_url=BASE_URL,
        transfer_scene_id="1005",
        transport=stub.transport(),
    )
    app.state.payout_provider = provider
    async with asgi_client(app) as client:
        await make_leader(client, "l1")
        await fund(client, app, orders, "l1", 20_000)
        yield Payouts(app, client, stub)
    await provider.aclose()


async def test_a_small_withdrawal_is_paid_without_a_finance_user(payouts: Payouts) -> None:
    requested = (await withdraw(payouts.client, AUTO_LIMIT, "k1")).json()
    assert await payouts_job(payouts.app) == 1
    transfer = payouts.stub.transfers[out_bill_no(requested["id"])]
    assert (transfer["amount"], transfer["openid"], transfer["scene"]) == (AUTO_LIMIT, "o-l1", "1005")
    assert {i["info_type"] for i in transfer["report_infos"]} == {"岗位类型", "报酬说明"}
    paying = (await payouts.client.get(f"/api/v1/withdrawals/{requested['id']}", headers=leader_headers("l1"))).json()
    assert (paying["status"], paying["decided_by"], paying["payout_state"]) == ("paying", "auto", "processing")
    assert paying["payout_ref"] == transfer["transfer_bill_no"]

    assert await payouts_job(payouts.app) == 0  # still on its way: asked, not paid twice
    assert len(payouts.stub.transfers) == 1
    payouts.stub.finish_transfer(out_bill_no(requested["id"]))
    assert await payouts_job(payouts.app) == 1
    paid = (await payouts.client.get(f"/api/v1/withdrawals/{requested['id']}", headers=OPS)).json()
    assert paid["status"] == "paid"
    after = await balance(payouts.client)
    assert (after["available_fen"], after["in_withdrawal_fen"], after["withdrawn_fen"]) == (15_000, 0, AUTO_LIMIT)
    assert [e["kind"] for e in await entries(payouts.client)][:2] == ["withdrawal_paid", "withdrawal"]


async def test_a_larger_withdrawal_waits_for_finance(payouts: Payouts) -> None:
    requested = (await withdraw(payouts.client, AUTO_LIMIT + 1, "k1")).json()
    assert await payouts_job(payouts.app) == 0
    assert payouts.stub.transfers == {}
    payouts.stub.transfer_state_on_create = "SUCCESS"
    approved = await payouts.client.post(f"/api/v1/withdrawals/{requested['id']}/approve", headers=OPS)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "paid" and approved.json()["decided_by"] == "ops1"
    assert payouts.stub.transfers[out_bill_no(requested["id"])]["amount"] == AUTO_LIMIT + 1


async def test_a_failed_payout_returns_the_amount_to_available(payouts: Payouts) -> None:
    requested = (await withdraw(payouts.client, 3000, "k1")).json()
    await payouts_job(payouts.app)
    payouts.stub.finish_transfer(out_bill_no(requested["id"]), "FAIL", fail_reason="ACCOUNT_FROZEN")
    assert await payouts_job(payouts.app) == 1
    failed = (await payouts.client.get(f"/api/v1/withdrawals/{requested['id']}", headers=OPS)).json()
    assert failed["status"] == "failed" and "ACCOUNT_FROZEN" in failed["reason"]
    after = await balance(payouts.client)
    assert (after["available_fen"], after["in_withdrawal_fen"], after["withdrawn_fen"]) == (20_000, 0, 0)
    assert [e["kind"] for e in await entries(payouts.client)][:2] == ["withdrawal_returned", "withdrawal"]
    assert await payouts_job(payouts.app) == 0  # returned once


async def test_a_payout_the_leader_must_confirm_shows_its_package(payouts: Payouts) -> None:
    payouts.stub.transfer_state_on_create = "WAIT_USER_CONFIRM"
    requested = (await withdraw(payouts.client, 1000, "k1")).json()
    await payouts_job(payouts.app)
    waiting = (await payouts.client.get(f"/api/v1/withdrawals/{requested['id']}", headers=leader_headers("l1"))).json()
    assert waiting["status"] == "paying" and waiting["payout_state"] == "waiting_for_leader"
    assert waiting["payout_package"] == f"package-{out_bill_no(requested['id'])}"


async def test_asking_twice_for_one_withdrawal_makes_one_transfer(payouts: Payouts) -> None:
    provider: WeChatPayoutProvider = payouts.app.state.payout_provider
    first = await provider.pay(withdrawal_id=77, leader_id="l1", amount_fen=1200)
    second = await provider.pay(withdrawal_id=77, leader_id="l1", amount_fen=1200)
    assert first.reference == second.reference and len(payouts.stub.transfers) == 1


async def test_a_provider_outage_keeps_the_withdrawal_requested(payouts: Payouts) -> None:
    requested = (await withdraw(payouts.client, 1000, "k1")).json()
    payouts.stub.outages["/v3/fund-app/"] = 1
    assert await payouts_job(payouts.app) == 0
    still = (await payouts.client.get(f"/api/v1/withdrawals/{requested['id']}", headers=OPS)).json()
    assert still["status"] == "requested"
    assert await payouts_job(payouts.app) == 1
    assert len(payouts.stub.transfers) == 1
