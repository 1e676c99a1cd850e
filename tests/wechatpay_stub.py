"""A stand-in for the WeChat Pay API v3, as an ASGI app the tests call in-process (`httpx.ASGITransport`).

It checks every request's `WECHATPAY2-SHA256-RSA2048` signature against the merchant's public key, signs every
answer with the platform key (the `Wechatpay-*` headers), builds notifications as WeChat does (AEAD_AES_256_GCM
with the API v3 key, signed), serves gzip bills in WeChat's format and keeps trades, refunds and transfers in
memory. Keys are generated per test. Signing and verifying here use the `wechatpayv3` package's functions, an
implementation independent of ours (`services.common.wechatpay`), so a mistake in ours is not mirrored here.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from wechatpayv3.utils import rsa_sign, rsa_verify  # type: ignore[import-untyped]

BASE_URL = "http://wechatpay.stub"
MCHID = "1900000109"
APPID = "wx1234567890abcdef"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD2C2DEAD1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092025010700000000000001"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def self_signed_certificate(key: rsa.RSAPrivateKey, serial: int) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA stand-in")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Keys:
    """Generated per test: the merchant's key pair (ours) and the platform's (WeChat's), and the API v3 key."""

    merchant: rsa.RSAPrivateKey = field(default_factory=new_rsa_key)
    platform: rsa.RSAPrivateKey = field(default_factory=new_rsa_key)
    api_v3_key: str = field(default_factory=lambda: secrets.token_hex(16))

    def write(self, directory: Path) -> dict[str, Any]:
        """Key files and the `wechatpay_*` settings that name them (public key mode)."""
        (directory / "apiclient_key.pem").write_text(private_pem(self.merchant))
        (directory / "pub_key.pem").write_text(public_pem(self.platform))
        (directory / "apiv3.key").write_text(self.api_v3_key)
        return {
            "wechatpay_base_url": BASE_URL,
            "wechatpay_mchid": MCHID,
            "wechatpay_appid": APPID,
            "wechatpay_serial_no": MERCHANT_SERIAL,
            "wechatpay_private_key_file": directory / "apiclient_key.pem",
            "wechatpay_api_v3_key_file": directory / "apiv3.key",
            "wechatpay_platform_public_key_file": directory / "pub_key.pem",
            "wechatpay_platform_public_key_id": PUBLIC_KEY_ID,
        }

    def secrets(self) -> list[str]:
        """What must never appear in a log or an answer: the API v3 key and every line of the private key."""
        body = [line for line in private_pem(self.merchant).splitlines() if line and not line.startswith("-----")]
        return [self.api_v3_key, *body]


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _local_date(moment: str) -> date:
    """The business day (Asia/Shanghai) of a time, as WeChat's bills group them."""
    return datetime.fromisoformat(moment).astimezone(ZoneInfo("Asia/Shanghai")).date()


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


class WeChatPayStub:
    def __init__(self, keys: Keys, *, serial: str = PUBLIC_KEY_ID) -> None:
        self.keys = keys
        self.serial = serial
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.bills: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []
        self.refused_signatures = 0
        #: Path prefixes answered with a 500 SYSTEM_ERROR, as many times as the value says.
        self.outages: dict[str, int] = {}
        #: Refund status given when a refund is asked (WeChat: PROCESSING; the outcome comes later).
        self.refund_status_on_create = "PROCESSING"
        #: Transfer state given when a transfer is asked.
        self.transfer_state_on_create = "ACCEPTED"
        #: Bill tampering: extra lines WeChat has and we do not, and amounts WeChat says differently.
        self.extra_bill_trades: list[dict[str, Any]] = []
        self.bill_amount_overrides: dict[str, int] = {}

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self)

    # -- signing ---------------------------------------------------------------------------------------------------

    def signed_headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = uuid.uuid4().hex.upper()
        signature = rsa_sign(self.keys.platform, f"{stamp}\n{nonce}\n{body.decode()}\n")
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": self.serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def encrypt(self, data: dict[str, Any], associated_data: str) -> dict[str, str]:
        nonce = secrets.token_hex(6)
        ciphertext = AESGCM(self.keys.api_v3_key.encode()).encrypt(
            nonce.encode(), orjson.dumps(data), associated_data.encode()
        )
        return {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated_data,
            "original_type": "transaction",
            "nonce": nonce,
        }

    def notification(
        self, event_type: str, resource: dict[str, Any], *, notification_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:  # fmt: skip
        """Headers and body of a notification, as WeChat posts them to the notify URL."""
        body = orjson.dumps(
            {
                "id": notification_id or str(uuid.uuid4()),
                "create_time": _time(datetime.now(UTC)),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功" if event_type.startswith("TRANSACTION") else "退款状态",
                "resource": self.encrypt(resource, "transaction" if event_type.startswith("TRANS") else "refund"),
            }
        )
        return {"Content-Type": "application/json", **self.signed_headers(body, timestamp=timestamp)}, body

    def payment_notification(
        self, out_trade_no: str, *, notification_id: str | None = None, amount_fen: int | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:  # fmt: skip
        trade = self.trades[out_trade_no]
        assert trade["trade_state"] == "SUCCESS", "pay() the trade first"
        return self.notification(
            "TRANSACTION.SUCCESS",
            {
                "mchid": MCHID,
                "appid": APPID,
                "out_trade_no": out_trade_no,
                "transaction_id": trade["transaction_id"],
                "trade_type": "JSAPI",
                "trade_state": "SUCCESS",
                "trade_state_desc": "支付成功",
                "bank_type": "OTHERS",
                "success_time": trade["success_time"],
                "payer": {"openid": trade["openid"]},
                "amount": {
                    "total": amount_fen if amount_fen is not None else trade["amount"],
                    "payer_total": amount_fen if amount_fen is not None else trade["amount"],
                    "currency": "CNY",
                    "payer_currency": "CNY",
                },
            },
            notification_id=notification_id,
            timestamp=timestamp,
        )

    def refund_notification(self, out_refund_no: str) -> tuple[dict[str, str], bytes]:
        refund = self.refunds[out_refund_no]
        return self.notification(
            f"REFUND.{refund['status']}",
            {
                "mchid": MCHID,
                "out_trade_no": refund["out_trade_no"],
                "transaction_id": refund["transaction_id"],
                "out_refund_no": out_refund_no,
                "refund_id": refund["refund_id"],
                "refund_status": refund["status"],
                "success_time": refund.get("success_time"),
                "user_received_account": "支付用户零钱",
                "amount": {"total": refund["total"], "refund": refund["refund"], "payer_total": refund["total"],
                           "payer_refund": refund["refund"]},
            },
        )  # fmt: skip

    def check_pay_sign(self, params: dict[str, str]) -> bool:
        """The JSAPI `paySign` over `appId\\ntimeStamp\\nnonceStr\\npackage\\n`, with the merchant's public key."""
        return bool(
            rsa_verify(
                params["appId"],
                params["timeStamp"],
                f"{params['nonceStr']}\n{params['package']}",
                params["paySign"],
                self.keys.merchant.public_key(),
            )
        )

    # -- what a customer or WeChat does ----------------------------------------------------------------------------

    def pay(self, out_trade_no: str, *, at: datetime | None = None) -> str:
        trade = self.trades[out_trade_no]
        assert trade["trade_state"] == "NOTPAY", f"trade is {trade['trade_state']}"
        trade["trade_state"] = "SUCCESS"
        trade["transaction_id"] = f"4200{secrets.randbelow(10**24):024d}"
        trade["success_time"] = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        return str(trade["transaction_id"])

    def finish_refund(self, out_refund_no: str, status: str = "SUCCESS", *, at: datetime | None = None) -> None:
        refund = self.refunds[out_refund_no]
        refund["status"] = status
        if status == "SUCCESS":
            refund["success_time"] = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")

    def finish_transfer(self, out_bill_no: str, state: str = "SUCCESS", fail_reason: str | None = None) -> None:
        self.transfers[out_bill_no]["state"] = state
        if fail_reason:
            self.transfers[out_bill_no]["fail_reason"] = fail_reason

    # -- the API ---------------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        method: str = scope["method"]
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode()
        url = path + (f"?{query}" if query else "")
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.calls.append((method, path))
        if path == "/v3/billdownload/file":
            if not self._signed_by_merchant(method, url, body, headers):
                await self._answer(send, 401, {"code": "SIGN_ERROR", "message": "签名错误"})
                return
            token = query.removeprefix("token=")
            await self._raw(send, 200, self.bills[token])
            return
        if not self._signed_by_merchant(method, url, body, headers):
            self.refused_signatures += 1
            await self._answer(send, 401, {"code": "SIGN_ERROR", "message": "签名错误"})
            return
        for prefix, remaining in list(self.outages.items()):
            if path.startswith(prefix) and remaining > 0:
                self.outages[prefix] = remaining - 1
                await self._answer(send, 500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
                return
        payload = orjson.loads(body) if body else {}
        status, answer = self._route(method, path, query, payload)
        await self._answer(send, status, answer)

    def _signed_by_merchant(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> bool:
        scheme, _, params = headers.get("authorization", "").partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return False
        fields = dict(part.split("=", 1) for part in params.split(","))
        fields = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
        if fields.get("mchid") != MCHID or fields.get("serial_no") != MERCHANT_SERIAL:
            return False
        if abs(time.time() - int(fields.get("timestamp", "0"))) > 300:
            return False
        # rsa_verify signs `a\nb\nc\n`: with a = "METHOD\nURL" it checks `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`.
        return bool(
            rsa_verify(
                f"{method}\n{url}\n{fields.get('timestamp')}",
                fields.get("nonce_str", ""),
                body.decode(),
                fields.get("signature", ""),
                self.keys.merchant.public_key(),
            )
        )

    def _route(self, method: str, path: str, query: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v3/pay/transactions/jsapi":
            return self._prepay(payload)
        if path.startswith("/v3/pay/transactions/out-trade-no/"):
            out_trade_no = parts[4]
            trade = self.trades.get(out_trade_no)
            if method == "POST" and parts[-1] == "close":
                if trade is None:
                    return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
                if trade["trade_state"] == "SUCCESS":
                    return 400, {"code": "ORDERPAID", "message": "订单已支付"}
                trade["trade_state"] = "CLOSED"
                return 204, None
            if trade is None:
                return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
            return 200, self._trade_answer(out_trade_no)
        if path == "/v3/refund/domestic/refunds" and method == "POST":
            return self._refund(payload)
        if path.startswith("/v3/refund/domestic/refunds/"):
            refund = self.refunds.get(parts[-1])
            if refund is None:
                return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"}
            return 200, self._refund_answer(parts[-1])
        if path == "/v3/bill/tradebill":
            params = dict(p.split("=", 1) for p in query.split("&"))
            return self._bill(date.fromisoformat(params["bill_date"]), params["bill_type"])
        if path == "/v3/fund-app/mch-transfer/transfer-bills" and method == "POST":
            return self._transfer(payload)
        if path.startswith("/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/"):
            transfer = self.transfers.get(parts[-1])
            if transfer is None:
                return 404, {"code": "NOT_FOUND", "message": "记录不存在"}
            return 200, self._transfer_answer(parts[-1])
        return 404, {"code": "NOT_FOUND", "message": path}

    def _prepay(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for name in ("appid", "mchid", "description", "out_trade_no", "notify_url", "amount", "payer"):
            if name not in payload:
                return 400, {"code": "PARAM_ERROR", "message": f"缺少参数 {name}"}
        if payload["appid"] != APPID or payload["mchid"] != MCHID:
            return 400, {"code": "APPID_MCHID_NOT_MATCH", "message": "appid和mch_id不匹配"}
        out_trade_no = payload["out_trade_no"]
        trade = self.trades.get(out_trade_no)
        if trade is not None:
            if trade["trade_state"] == "SUCCESS":
                return 400, {"code": "ORDERPAID", "message": "该订单已支付"}
            if trade["trade_state"] == "CLOSED":
                return 400, {"code": "ORDER_CLOSED", "message": "订单已关闭"}
            if trade["amount"] != payload["amount"]["total"]:
                return 400, {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"}
            return 200, {"prepay_id": trade["prepay_id"]}
        self.trades[out_trade_no] = {
            "prepay_id": f"wx{uuid.uuid4().hex}",
            "amount": payload["amount"]["total"],
            "openid": payload["payer"]["openid"],
            "description": payload["description"],
            "notify_url": payload["notify_url"],
            "time_expire": payload.get("time_expire"),
            "trade_state": "NOTPAY",
            "transaction_id": None,
            "success_time": None,
        }
        return 200, {"prepay_id": self.trades[out_trade_no]["prepay_id"]}

    def _trade_answer(self, out_trade_no: str) -> dict[str, Any]:
        trade = self.trades[out_trade_no]
        answer: dict[str, Any] = {
            "appid": APPID,
            "mchid": MCHID,
            "out_trade_no": out_trade_no,
            "trade_state": trade["trade_state"],
            "trade_state_desc": trade["trade_state"],
            "amount": {"total": trade["amount"], "currency": "CNY"},
        }
        if trade["transaction_id"]:
            answer |= {"transaction_id": trade["transaction_id"], "success_time": trade["success_time"],
                       "payer": {"openid": trade["openid"]}}  # fmt: skip
        return answer

    def _refund(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        out_refund_no = payload["out_refund_no"]
        if out_refund_no in self.refunds:
            return 200, self._refund_answer(out_refund_no)
        trade_no = next(
            (no for no, t in self.trades.items() if t["transaction_id"] == payload.get("transaction_id")), None
        )
        if trade_no is None:
            return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"}
        trade = self.trades[trade_no]
        if payload["amount"]["total"] != trade["amount"] or payload["amount"]["refund"] > trade["amount"]:
            return 400, {"code": "PARAM_ERROR", "message": "退款金额不正确"}
        self.refunds[out_refund_no] = {
            "refund_id": f"5030{secrets.randbelow(10**24):024d}",
            "out_trade_no": trade_no,
            "transaction_id": trade["transaction_id"],
            "refund": payload["amount"]["refund"],
            "total": payload["amount"]["total"],
            "status": self.refund_status_on_create,
            "notify_url": payload.get("notify_url"),
            "success_time": _time(datetime.now(UTC)) if self.refund_status_on_create == "SUCCESS" else None,
        }
        return 200, self._refund_answer(out_refund_no)

    def _refund_answer(self, out_refund_no: str) -> dict[str, Any]:
        refund = self.refunds[out_refund_no]
        return {
            "refund_id": refund["refund_id"],
            "out_refund_no": out_refund_no,
            "transaction_id": refund["transaction_id"],
            "out_trade_no": refund["out_trade_no"],
            "channel": "ORIGINAL",
            "status": refund["status"],
            "success_time": refund.get("success_time"),
            "create_time": _time(datetime.now(UTC)),
            "amount": {"total": refund["total"], "refund": refund["refund"], "currency": "CNY"},
        }

    def _bill(self, bill_date: date, bill_type: str) -> tuple[int, dict[str, Any]]:
        header = [
            "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识",
            "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号",
            "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包",
            "手续费", "费率", "订单金额", "申请退款金额", "费率备注",
        ]  # fmt: skip
        rows: list[list[str]] = []
        if bill_type == "SUCCESS":
            trades = [
                {"out_trade_no": no, **t}
                for no, t in self.trades.items()
                if t["trade_state"] == "SUCCESS" and _local_date(t["success_time"]) == bill_date
            ] + self.extra_bill_trades
            for t in trades:
                amount = self.bill_amount_overrides.get(t["out_trade_no"], t["amount"])
                rows.append(
                    [t["success_time"], APPID, MCHID, "0", "", t["transaction_id"], t["out_trade_no"], t["openid"],
                     "JSAPI", "SUCCESS", "OTHERS", "CNY", _yuan(amount), "0.00", "0", "0", "0.00", "0.00", "", "",
                     t["description"], "", "0.00000", "0.60%", _yuan(amount), "0.00", ""]
                )  # fmt: skip
        else:
            for no, r in self.refunds.items():
                if r["status"] != "SUCCESS" or _local_date(r["success_time"]) != bill_date:
                    continue
                amount = self.bill_amount_overrides.get(no, r["refund"])
                rows.append(
                    [r["success_time"], APPID, MCHID, "0", "", r["transaction_id"], r["out_trade_no"], "o",
                     "JSAPI", "REFUND", "OTHERS", "CNY", "0.00", "0.00", r["refund_id"], no, _yuan(amount), "0.00",
                     "ORIGINAL", "SUCCESS", "", "", "0.00000", "0.60%", "0.00", _yuan(amount), ""]
                )  # fmt: skip
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["`" + cell for cell in row])
        writer.writerow(["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额",
                         "订单总金额", "申请退款总金额"])  # fmt: skip
        writer.writerow(["`" + str(len(rows)), "`0.00", "`0.00", "`0.00", "`0.00000", "`0.00", "`0.00"])
        raw = text.getvalue().encode()
        token = secrets.token_hex(8)
        self.bills[token] = gzip.compress(raw)
        return 200, {
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(raw, usedforsecurity=False).hexdigest(),
            "download_url": f"{BASE_URL}/v3/billdownload/file?token={token}",
        }

    def _transfer(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for name in ("appid", "out_bill_no", "transfer_scene_id", "openid", "transfer_amount", "transfer_remark"):
            if name not in payload:
                return 400, {"code": "PARAM_ERROR", "message": f"缺少参数 {name}"}
        out_bill_no = payload["out_bill_no"]
        existing = self.transfers.get(out_bill_no)
        if existing is not None:
            if existing["amount"] != payload["transfer_amount"]:
                return 400, {"code": "PARAM_ERROR", "message": "商户单号重复"}
            return 200, self._transfer_answer(out_bill_no)
        self.transfers[out_bill_no] = {
            "transfer_bill_no": f"1330{secrets.randbelow(10**24):024d}",
            "amount": payload["transfer_amount"],
            "openid": payload["openid"],
            "state": self.transfer_state_on_create,
            "scene": payload["transfer_scene_id"],
            "report_infos": payload.get("transfer_scene_report_infos", []),
        }
        return 200, self._transfer_answer(out_bill_no)

    def _transfer_answer(self, out_bill_no: str) -> dict[str, Any]:
        transfer = self.transfers[out_bill_no]
        answer = {
            "out_bill_no": out_bill_no,
            "transfer_bill_no": transfer["transfer_bill_no"],
            "create_time": _time(datetime.now(UTC)),
            "state": transfer["state"],
            "transfer_amount": transfer["amount"],
            "openid": transfer["openid"],
        }
        if transfer["state"] == "WAIT_USER_CONFIRM":
            answer["package_info"] = f"package-{out_bill_no}"
        if transfer.get("fail_reason"):
            answer["fail_reason"] = transfer["fail_reason"]
        return answer

    # -- answering -------------------------------------------------------------------------------------------------

    async def _answer(self, send: Send, status: int, payload: dict[str, Any] | None) -> None:
        body = orjson.dumps(payload) if payload is not None else b""
        headers = [(b"content-type", b"application/json")] if payload is not None else []
        if 200 <= status < 300:
            headers += [(k.lower().encode(), v.encode()) for k, v in self.signed_headers(body).items()]
        headers.append((b"request-id", uuid.uuid4().hex.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _raw(self, send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/octet-stream")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
