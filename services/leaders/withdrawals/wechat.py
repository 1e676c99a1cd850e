"""`PayoutProvider` on WeChat Pay's transfer to a user's balance (商家转账, `/v3/fund-app/mch-transfer/transfer-bills`).

One transfer bill per withdrawal, `out_bill_no` = `WD<withdrawal id>`: WeChat answers a repeated request with the
same bill, so a retry never pays twice. The bill's state is polled (`query`) until it succeeds or fails; while it
is WAIT_USER_CONFIRM the leader confirms receipt in the mini-program with the bill's `package_info`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from services.common.wechatpay import MerchantCredentials, WeChatPayClient, WeChatPayError
from services.leaders.withdrawals.payout import PayeeDirectory, PayoutError, PayoutResult, PayoutState

_STATES = {
    "ACCEPTED": PayoutState.PROCESSING,
    "PROCESSING": PayoutState.PROCESSING,
    "TRANSFERING": PayoutState.PROCESSING,
    "CANCELING": PayoutState.PROCESSING,
    "WAIT_USER_CONFIRM": PayoutState.WAITING_FOR_LEADER,
    "SUCCESS": PayoutState.SUCCEEDED,
    "FAIL": PayoutState.FAILED,
    "CANCELLED": PayoutState.FAILED,
}


def out_bill_no(withdrawal_id: int) -> str:
    return f"WD{withdrawal_id}"


class WeChatPayoutProvider:
    def __init__(
        self,
        credentials: MerchantCredentials,
        payees: PayeeDirectory,
        *,
        base_url: str,
        transfer_scene_id: str,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.payees = payees
        self.transfer_scene_id = transfer_scene_id
        self.client = WeChatPayClient(
            credentials, base_url=base_url, timeout_seconds=timeout_seconds, transport=transport
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def pay(self, *, withdrawal_id: int, leader_id: str, amount_fen: int) -> PayoutResult:
        openid = await self.payees.openid_of(leader_id)
        payload: dict[str, Any] = {
            "appid": self.credentials.appid,
            "out_bill_no": out_bill_no(withdrawal_id),
            "transfer_scene_id": self.transfer_scene_id,
            "openid": openid,
            "transfer_amount": amount_fen,
            "transfer_remark": "团长佣金提现",
            "user_recv_perception": "劳务报酬",
            # What scene 1005 (佣金报酬) must report; other scenes are configured with their own setting.
            "transfer_scene_report_infos": [
                {"info_type": "岗位类型", "info_content": "社区团长"},
                {"info_type": "报酬说明", "info_content": "社区团购佣金"},
            ],
        }
        try:
            answer = (await self.client.request("POST", "/v3/fund-app/mch-transfer/transfer-bills", payload)).json()
        except WeChatPayError as exc:
            raise PayoutError(str(exc)) from None
        return self._result(answer)

    async def query(self, *, withdrawal_id: int) -> PayoutResult:
        path = f"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{quote(out_bill_no(withdrawal_id))}"
        try:
            answer = (await self.client.request("GET", path)).json()
        except WeChatPayError as exc:
            raise PayoutError(str(exc)) from None
        return self._result(answer)

    @staticmethod
    def _result(answer: dict[str, Any]) -> PayoutResult:
        state = _STATES.get(str(answer.get("state")))
        if state is None:
            raise PayoutError(f"WeChat Pay answered an unknown transfer state {answer.get('state')!r}")
        return PayoutResult(
            reference=str(answer.get("transfer_bill_no") or ""),
            state=state,
            package_info=answer.get("package_info") or None,
            reason=str(answer.get("fail_reason"))[:200] if answer.get("fail_reason") else None,
        )
