"""`PaymentProvider` on WeChat Pay API v3 (JSAPI payments of the mini-program, refunds, trade and refund bills).

The protocol itself (signing, verification, decryption, bill format) is `services.common.wechatpay`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

from services.common.wechatpay import (
    MerchantCredentials,
    WeChatPayClient,
    WeChatPayError,
    WeChatPaySignatureError,
    bill_digest,
    jsapi_parameters,
    load_credentials,
    new_nonce,
    open_notification,
    parse_bill,
    yuan_to_fen,
)
from services.orders.config import Settings
from services.orders.payment_provider import (
    BillLine,
    FakePaymentProvider,
    JsapiParameters,
    NotificationRejected,
    PaymentNotice,
    PaymentProvider,
    ProviderError,
    RefundNotice,
    RefundReceipt,
    RefundState,
    Trade,
    TradeState,
)

#: WeChat keeps a prepay id valid for two hours.
PREPAY_VALIDITY_SECONDS = 2 * 3600


def _time(value: Any) -> datetime | None:
    """WeChat's RFC 3339 times (`2024-01-02T10:00:00+08:00`), as aware datetimes."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class WeChatPayProvider:
    name = "wechat"

    def __init__(
        self,
        credentials: MerchantCredentials,
        *,
        notify_url: str,
        base_url: str,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.notify_url = notify_url
        self.client = WeChatPayClient(
            credentials, base_url=base_url, timeout_seconds=timeout_seconds, transport=transport
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _call(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None, *, signed_answer: bool = True
    ) -> dict[str, Any]:
        try:
            return (await self.client.request(method, path, payload, signed_answer=signed_answer)).json()
        except WeChatPayError as exc:
            raise ProviderError(str(exc)) from None

    async def create_prepay(
        self, *, out_trade_no: str, description: str, amount_fen: int, payer_openid: str, expires_at: datetime
    ) -> str:
        answer = await self._call(
            "POST",
            "/v3/pay/transactions/jsapi",
            {
                "appid": self.credentials.appid,
                "mchid": self.credentials.mchid,
                "description": description,
                "out_trade_no": out_trade_no,
                # WeChat itself refuses payment after our payment timeout, so few payments can arrive late.
                "time_expire": _rfc3339(expires_at),
                "notify_url": self.notify_url,
                "amount": {"total": amount_fen, "currency": "CNY"},
                "payer": {"openid": payer_openid},
            },
        )
        prepay_id = answer.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise ProviderError("WeChat Pay answered the prepay without a prepay_id")
        return prepay_id

    def jsapi_parameters(self, prepay_id: str) -> JsapiParameters:
        return JsapiParameters(
            **jsapi_parameters(self.credentials, prepay_id, timestamp=int(time.time()), nonce=new_nonce())
        )

    async def query_trade(self, out_trade_no: str) -> Trade:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}?mchid={quote(self.credentials.mchid)}"
        try:
            answer = (await self.client.request("GET", path)).json()
        except WeChatPayError as exc:
            if exc.status == 404 and exc.code == "ORDER_NOT_EXIST":
                return Trade(TradeState.NOT_FOUND)
            raise ProviderError(str(exc)) from None
        try:
            state = TradeState(str(answer.get("trade_state")))
        except ValueError:
            raise ProviderError(f"WeChat Pay answered an unknown trade_state {answer.get('trade_state')!r}") from None
        amount = answer.get("amount") or {}
        return Trade(
            state=state,
            transaction_id=answer.get("transaction_id") or None,
            amount_fen=amount.get("total") if isinstance(amount.get("total"), int) else None,
            paid_at=_time(answer.get("success_time")),
        )

    async def close_trade(self, out_trade_no: str) -> None:
        await self._call(
            "POST", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}/close", {"mchid": self.credentials.mchid}
        )

    async def refund(self, *, transaction_id: str, amount_fen: int, total_fen: int, refund_key: str) -> RefundReceipt:
        answer = await self._call(
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "transaction_id": transaction_id,
                "out_refund_no": refund_key,
                "notify_url": self.notify_url,
                "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"},
            },
        )
        return self._receipt(answer)

    async def query_refund(self, refund_key: str) -> RefundReceipt:
        return self._receipt(await self._call("GET", f"/v3/refund/domestic/refunds/{quote(refund_key)}"))

    @staticmethod
    def _receipt(answer: Mapping[str, Any]) -> RefundReceipt:
        try:
            state = RefundState(str(answer.get("status")))
        except ValueError:
            raise ProviderError(f"WeChat Pay answered an unknown refund status {answer.get('status')!r}") from None
        return RefundReceipt(str(answer.get("refund_id") or ""), state, _time(answer.get("success_time")))

    def open_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> PaymentNotice | RefundNotice | None:
        try:
            notice = open_notification(self.credentials, headers, body, now_timestamp=now.timestamp())
        except WeChatPaySignatureError as exc:
            raise NotificationRejected(str(exc)) from None
        data = notice.resource
        amount: dict[str, Any] = data["amount"] if isinstance(data.get("amount"), dict) else {}
        if notice.event_type.startswith("TRANSACTION."):
            return PaymentNotice(
                notification_id=notice.id,
                event_type=notice.event_type,
                out_trade_no=str(data.get("out_trade_no") or ""),
                trade_state=str(data.get("trade_state") or ""),
                transaction_id=str(data.get("transaction_id") or ""),
                amount_fen=int(amount.get("total") or 0),
                paid_at=_time(data.get("success_time")),
            )
        if notice.event_type.startswith("REFUND."):
            try:
                state = RefundState(str(data.get("refund_status")))
            except ValueError:
                state = RefundState.ABNORMAL
            return RefundNotice(
                notification_id=notice.id,
                event_type=notice.event_type,
                out_refund_no=str(data.get("out_refund_no") or ""),
                refund_id=str(data.get("refund_id") or ""),
                state=state,
                amount_fen=int(amount.get("refund") or 0),
                succeeded_at=_time(data.get("success_time")),
            )
        return None

    async def bill(self, bill_date: date, kind: Literal["trade", "refund"]) -> list[BillLine]:
        bill_type = "SUCCESS" if kind == "trade" else "REFUND"
        answer = await self._call(
            "GET", f"/v3/bill/tradebill?bill_date={bill_date.isoformat()}&bill_type={bill_type}&tar_type=GZIP"
        )
        url = answer.get("download_url")
        if not isinstance(url, str) or not url:
            raise ProviderError("WeChat Pay answered the bill without a download_url")
        # The file itself is not signed; its SHA1 came in the signed answer above.
        try:
            content = (await self.client.request("GET", url, signed_answer=False)).body
        except WeChatPayError as exc:
            raise ProviderError(str(exc)) from None
        if str(answer.get("hash_type", "SHA1")).upper() == "SHA1" and bill_digest(content) != answer.get("hash_value"):
            raise ProviderError("the downloaded bill does not match its hash_value")
        lines: list[BillLine] = []
        for row in parse_bill(content):
            try:
                if kind == "trade":
                    if row.get("交易状态") != "SUCCESS":
                        continue
                    lines.append(BillLine(row["商户订单号"], row["微信订单号"], yuan_to_fen(row["订单金额"])))
                else:
                    if row.get("退款状态") != "SUCCESS":
                        continue
                    lines.append(BillLine(row["商户退款单号"], row["微信退款单号"], yuan_to_fen(row["申请退款金额"])))
            except (KeyError, ValueError) as exc:
                raise ProviderError(f"the {kind} bill has a line we cannot read: {exc}") from None
        return lines


def payment_provider_of(settings: Settings) -> tuple[PaymentProvider, bool]:
    """The provider `ORDERS_PAYMENT_PROVIDER` names; True when it is the real one (its customers' openids come from
    the accounts service). Broken WeChat credentials stop the start, naming the setting."""
    if settings.payment_provider == "wechat":
        return (
            WeChatPayProvider(
                load_credentials(settings, prefix="ORDERS"),
                notify_url=settings.wechatpay_notify_url,
                base_url=settings.wechatpay_base_url,
                timeout_seconds=settings.wechatpay_timeout_seconds,
            ),
            True,
        )
    return FakePaymentProvider(), False
