"""Input at and past its bounds, through the gateway: each of these was a 500 (or passed validation and crashed
later) and is now a 422, or a 401 for a signature, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from services.common.pagination import encode_cursor
from services.common.testing import bearer
from services.common.types import MAX_FEN, MAX_POINTS, MAX_UNITS, AwareDatetime, Day, Fen, Points, PositiveQuantity
from services.common.wechatpay import MerchantCredentials, WeChatPaySignatureError, verify_signed
from tests.wechatpay_stub import new_rsa_key

CUSTOMER = bearer("bounds-customer", ["customer"])
OPS = bearer("bounds-ops", ["ops"])
LEADER = bearer("bounds-leader", ["leader"])


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


@pytest.mark.parametrize(
    "key",
    [
        [2**63],  # past a BIGINT: PostgreSQL refused the query
        [-(2**63) - 1],
        [10**30],
        ["a\x00b"],  # NUL: PostgreSQL cannot compare it
        [1.5],
        [True],
        [[1]],
        [],
        [1, 2, 3, 4, 5],
    ],
)
async def test_a_cursor_we_did_not_issue_is_refused(e2e: httpx.AsyncClient, key: list[Any]) -> None:
    # Made by hand: the server's encoder refuses integers past 64 bits itself.
    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
    response = await e2e.get("/api/v1/orders", params={"cursor": cursor}, headers=CUSTOMER)
    _problem(response, 422, "INVALID_CURSOR")


@pytest.mark.parametrize("cursor", ["!!!", "a" * 513, "a b", "%00"])
async def test_a_cursor_that_is_not_url_safe_base64_is_refused(e2e: httpx.AsyncClient, cursor: str) -> None:
    response = await e2e.get("/api/v1/orders", params={"cursor": cursor}, headers=CUSTOMER)
    _problem(response, 422, "VALIDATION_ERROR")


async def test_a_cursor_holding_an_instant_out_of_range_is_refused(e2e: httpx.AsyncClient) -> None:
    # Year 1 east of UTC cannot be moved to UTC (an OverflowError).
    cursor = encode_cursor(["0001-01-01T00:00:00+14:00", "someone"])
    response = await e2e.get("/api/v1/referrals/me/invitees", params={"cursor": cursor}, headers=CUSTOMER)
    _problem(response, 422, "INVALID_CURSOR")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/orders", {"created_from": "0001-01-01T00:00:00+14:00"}),
        ("/api/v1/orders", {"created_to": "9999-12-31T23:59:59-12:00"}),
        ("/api/v1/orders", {"pickup_date": "0001-01-01"}),
        ("/api/v1/after-sales", {"to": "9999-12-31"}),  # the day after is past what a date holds
        ("/api/v1/tickets", {"from": "0001-01-01"}),
        ("/api/v1/delivery-batches", {"pickup_date": "9999-12-31"}),
    ],
)
async def test_dates_out_of_range_in_filters_are_refused(
    e2e: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await e2e.get(path, params=params, headers=OPS)
    body = _problem(response, 422, "VALIDATION_ERROR")
    assert "between 1900-01-01 and 2999-12-31" in str(body["errors"])


async def test_dates_out_of_range_in_bodies_are_refused(e2e: httpx.AsyncClient) -> None:
    group_buy = {
        "title": "Far future",
        "starts_at": "2026-03-01T08:00:00+08:00",
        "ends_at": "9999-12-31T23:59:59+08:00",
        "pickup_date": "9999-12-31",
        "pickup_starts": "09:00",
        "pickup_ends": "18:00",
        "regions": ["上海市"],
        "items": [],
    }
    body = _problem(await e2e.post("/api/v1/group-buys", json=group_buy, headers=OPS), 422, "VALIDATION_ERROR")
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "ends_at"), ("body", "pickup_date")}
    me = await e2e.patch("/api/v1/me", json={"birthday": "0001-01-01"}, headers=CUSTOMER)
    assert me.status_code in (404, 422), me.text  # 404: no such user yet; never a 500


@pytest.mark.parametrize("code", ["１２３４５６", "١٢٣٤٥٦", "۱۲۳۴۵۶", "12345６", "12345", "1234567", "12 456"])
async def test_a_pickup_code_is_six_ascii_digits(e2e: httpx.AsyncClient, code: str) -> None:
    # Full-width and Arabic-Indic digits match `\d`: they passed validation and failed further on.
    response = await e2e.post("/api/v1/orders/1/pickup", json={"pickup_code": code}, headers=LEADER)
    body = _problem(response, 422, "VALIDATION_ERROR")
    assert body["errors"][0]["loc"] == ["body", "pickup_code"]


@pytest.mark.parametrize("hhmm", ["０９:00", "0٩:00", "9:00"])
async def test_a_pickup_time_is_ascii_digits(e2e: httpx.AsyncClient, hhmm: str) -> None:
    response = await e2e.post("/api/v1/group-buys", json={"pickup_starts": hhmm}, headers=OPS)
    body = _problem(response, 422, "VALIDATION_ERROR")
    assert ["body", "pickup_starts"] in [e["loc"] for e in body["errors"]]


@pytest.mark.parametrize("signature", ["é" * 64, "签名", "\x7f" * 64])
async def test_a_payment_notification_signed_with_non_ascii_is_a_401(e2e: httpx.AsyncClient, signature: str) -> None:
    # compare_digest on str raises TypeError for anything but ASCII: this was a 500 with no login.
    response = await e2e.post(
        "/api/v1/payments/notify",
        content=b'{"order_id": 1, "transaction_id": "t", "amount_fen": 1}',
        headers={b"X-Payment-Signature": signature.encode("utf-8"), b"Content-Type": b"application/json"},
    )
    _problem(response, 401, "INVALID_SIGNATURE")


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b'{"name": "\xc3"}', b"\x00"])
async def test_a_body_that_is_not_utf8_json_is_a_422(e2e: httpx.AsyncClient, body: bytes) -> None:
    response = await e2e.post("/api/v1/categories", content=body, headers={**OPS, "Content-Type": "application/json"})
    problem = _problem(response, 422, "VALIDATION_ERROR")
    assert problem["errors"][0]["loc"] == ["body"] or problem["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(("kind", "largest"), [(Fen, MAX_FEN), (Points, MAX_POINTS), (PositiveQuantity, MAX_UNITS)])
def test_amounts_stop_where_their_sums_still_fit_64_bits(kind: Any, largest: int) -> None:
    adapter = TypeAdapter(kind)
    assert adapter.validate_python(largest) == largest
    with pytest.raises(ValidationError):
        adapter.validate_python(largest + 1)
    # The most a 200-line order can add up to stays inside a BIGINT.
    assert 200 * MAX_UNITS * MAX_FEN < 2**63


@pytest.mark.parametrize("value", ["1899-12-31", "3000-01-01", "0001-01-01", "9999-12-31"])
def test_a_day_is_between_1900_and_2999(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Day).validate_python(value)
    assert str(TypeAdapter(Day).validate_python("2999-12-31")) == "2999-12-31"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_an_instant_is_between_1900_and_2999(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(AwareDatetime).validate_python(value)


@pytest.mark.parametrize(
    "header",
    [
        {"wechatpay-timestamp": "１７００００００００"},
        {"wechatpay-timestamp": "²"},
        {"wechatpay-timestamp": "1" * 5000},  # int() refuses more than 4300 digits
        {"wechatpay-signature": "签名"},
        {"wechatpay-signature": "not base64!"},
    ],
)
def test_a_wechat_pay_signature_with_odd_headers_is_refused_as_a_bad_signature(header: dict[str, str]) -> None:
    key = new_rsa_key()
    credentials = MerchantCredentials(
        mchid="1900000001",
        appid="wx-app",
        serial_no="SERIAL",
        private_key=key,
        api_v3_key=b"k" * 32,
        platform_key=key.public_key(),
        platform_key_id="PUB_KEY_ID_1",
    )
    now = 1_700_000_000
    headers = {
        "wechatpay-serial": "PUB_KEY_ID_1",
        "wechatpay-timestamp": str(now),
        "wechatpay-nonce": "nonce",
        "wechatpay-signature": "c2lnbmF0dXJl",
    } | header
    with pytest.raises(WeChatPaySignatureError):
        verify_signed(credentials, headers, b"{}", now_timestamp=now)
