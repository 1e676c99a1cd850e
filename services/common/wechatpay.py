"""The WeChat Pay API v3 protocol, as both money services (orders: payments, refunds, bills; leaders: payouts) use it.

Implemented here on `cryptography` and `httpx` rather than on the `wechatpayv3` package: its async client builds
its own `httpx.AsyncClient` against a host kept in a private attribute (no base URL to point at a stand-in, no
transport to share), does not reject notifications older than five minutes, raises bare `Exception`s, and writes
request headers and decrypted notifications to the logger it is given. What we need is small: sign a request, verify
a response or notification, decrypt a notification's resource, sign the mini-program's JSAPI parameters, parse a
bill. The tests' stand-in of the API checks this module against `wechatpayv3`'s own signing functions.

Protocol facts:
- Request: `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,timestamp=..,serial_no=..,signature=..`,
  the signature RSA-SHA256 (PKCS#1 v1.5) with the merchant key over `METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n`,
  URL being the path with its query string.
- Response and notification: `Wechatpay-Timestamp`, `-Nonce`, `-Signature`, `-Serial`; the signature over
  `TIMESTAMP\\nNONCE\\nBODY\\n` with the platform key named by the serial (platform public key id, or platform
  certificate serial). Older (or newer) than five minutes is refused, so a captured notification cannot be replayed.
- Notification resource: AEAD_AES_256_GCM with the API v3 key (32 bytes), its `nonce` and `associated_data`.
- JSAPI `paySign`: RSA-SHA256 with the merchant key over `appId\\ntimeStamp\\nnonceStr\\npackage\\n`.
- Amounts are integers in fen.

Secrets (the private key, the API v3 key) live only in `MerchantCredentials`, whose repr shows neither; no error
message built here contains them.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, Field, SecretStr

SCHEME = "WECHATPAY2-SHA256-RSA2048"
#: Notifications and responses signed further than this from our clock are refused (WeChat's own rule).
MAX_CLOCK_SKEW_SECONDS = 300
DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"


class WeChatPayError(Exception):
    """A call to WeChat Pay failed: `status` is the HTTP status (0: no answer), `code` WeChat's error code."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class WeChatPaySignatureError(Exception):
    """A notification or response whose signature, serial or timestamp is wrong; the message says which."""


class WeChatPayConfigError(Exception):
    """Credentials that cannot be loaded; the message names the setting, never its value."""


# -- credentials -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MerchantCredentials:
    mchid: str
    appid: str
    serial_no: str  # of the merchant API certificate, sent in every Authorization header
    private_key: rsa.RSAPrivateKey = field(repr=False)
    api_v3_key: bytes = field(repr=False)
    platform_key: rsa.RSAPublicKey = field(repr=False)
    platform_key_id: str  # platform public key id (PUB_KEY_ID_...) or platform certificate serial (hex)


class WeChatPaySettings(BaseModel):
    """The `<SERVICE>_WECHATPAY_*` settings both money services read (a mixin of their `Settings`).

    A secret is given as a value or as a file (a mounted Secret); the file wins when both are set.
    """

    wechatpay_base_url: str = Field(default=DEFAULT_BASE_URL, description="WeChat Pay API base URL")
    wechatpay_mchid: str = Field(default="", max_length=32, description="merchant id (商户号)")
    wechatpay_appid: str = Field(default="", max_length=32, description="the mini-program's app id")
    wechatpay_serial_no: str = Field(default="", max_length=64, description="merchant API certificate serial")
    wechatpay_private_key: SecretStr = Field(default=SecretStr(""), description="merchant private key (PEM)")
    wechatpay_private_key_file: Path | None = Field(default=None, description="file holding the private key")
    wechatpay_api_v3_key: SecretStr = Field(default=SecretStr(""), description="API v3 key (32 characters)")
    wechatpay_api_v3_key_file: Path | None = Field(default=None, description="file holding the API v3 key")
    wechatpay_platform_public_key_file: Path | None = Field(default=None, description="platform public key (PEM)")
    wechatpay_platform_public_key_id: str = Field(default="", max_length=64, description="its id (PUB_KEY_ID_...)")
    wechatpay_platform_certificate_file: Path | None = Field(
        default=None, description="platform certificate (PEM), when no platform public key is used"
    )
    wechatpay_timeout_seconds: float = Field(default=10.0, gt=0, le=60)


def _read_secret(value: SecretStr, path: Path | None, name: str) -> bytes:
    if path is not None:
        try:
            return path.read_bytes().strip()
        except OSError as exc:
            raise WeChatPayConfigError(f"{name}_FILE cannot be read ({exc.strerror})") from None
    return value.get_secret_value().strip().encode()


def load_credentials(settings: WeChatPaySettings, *, prefix: str) -> MerchantCredentials:
    """The merchant credentials from settings; `WeChatPayConfigError` names the first setting that is wrong."""
    name = f"{prefix}_WECHATPAY"
    for setting, value in (
        ("MCHID", settings.wechatpay_mchid),
        ("APPID", settings.wechatpay_appid),
        ("SERIAL_NO", settings.wechatpay_serial_no),
    ):
        if not value:
            raise WeChatPayConfigError(f"{name}_{setting} is not set")
    pem = _read_secret(settings.wechatpay_private_key, settings.wechatpay_private_key_file, f"{name}_PRIVATE_KEY")
    if not pem:
        raise WeChatPayConfigError(f"{name}_PRIVATE_KEY or {name}_PRIVATE_KEY_FILE is not set")
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise WeChatPayConfigError(f"{name}_PRIVATE_KEY is not a PEM private key without a password") from None
    if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size < 2048:
        raise WeChatPayConfigError(f"{name}_PRIVATE_KEY must be an RSA key of at least 2048 bits")
    api_v3_key = _read_secret(settings.wechatpay_api_v3_key, settings.wechatpay_api_v3_key_file, f"{name}_API_V3_KEY")
    if len(api_v3_key) != 32:
        raise WeChatPayConfigError(f"{name}_API_V3_KEY must be the 32-character API v3 key")
    platform_key, key_id = _platform_key(settings, name)
    return MerchantCredentials(
        mchid=settings.wechatpay_mchid,
        appid=settings.wechatpay_appid,
        serial_no=settings.wechatpay_serial_no,
        private_key=private_key,
        api_v3_key=api_v3_key,
        platform_key=platform_key,
        platform_key_id=key_id,
    )


def _platform_key(settings: WeChatPaySettings, name: str) -> tuple[rsa.RSAPublicKey, str]:
    if settings.wechatpay_platform_public_key_file is not None:
        if not settings.wechatpay_platform_public_key_id:
            raise WeChatPayConfigError(f"{name}_PLATFORM_PUBLIC_KEY_ID is not set")
        pem = _read_secret(SecretStr(""), settings.wechatpay_platform_public_key_file, f"{name}_PLATFORM_PUBLIC_KEY")
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            raise WeChatPayConfigError(f"{name}_PLATFORM_PUBLIC_KEY_FILE is not a PEM public key") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise WeChatPayConfigError(f"{name}_PLATFORM_PUBLIC_KEY_FILE must hold an RSA key")
        return key, settings.wechatpay_platform_public_key_id
    if settings.wechatpay_platform_certificate_file is not None:
        pem = _read_secret(SecretStr(""), settings.wechatpay_platform_certificate_file, f"{name}_PLATFORM_CERTIFICATE")
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise WeChatPayConfigError(f"{name}_PLATFORM_CERTIFICATE_FILE is not a PEM certificate") from None
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WeChatPayConfigError(f"{name}_PLATFORM_CERTIFICATE_FILE must hold an RSA key")
        return key, certificate_serial(certificate)
    raise WeChatPayConfigError(f"{name}_PLATFORM_PUBLIC_KEY_FILE or {name}_PLATFORM_CERTIFICATE_FILE is not set")


def certificate_serial(certificate: x509.Certificate) -> str:
    """A certificate's serial as WeChat writes it in `Wechatpay-Serial`: upper-case hex."""
    return format(certificate.serial_number, "X")


# -- signing and verifying -------------------------------------------------------------------------------------------


def rsa_sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    signature = private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def new_nonce() -> str:
    return secrets.token_hex(16).upper()


def authorization(
    credentials: MerchantCredentials, *, method: str, url: str, body: str, timestamp: int, nonce: str
) -> str:
    """The Authorization header of a request to `url` (path and query string, as sent)."""
    signature = rsa_sign(credentials.private_key, f"{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n")
    return (
        f'{SCHEME} mchid="{credentials.mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{credentials.serial_no}"'
    )


def verify_signed(
    credentials: MerchantCredentials, headers: Mapping[str, str], body: bytes, *, now_timestamp: float
) -> None:
    """Check a response's or notification's WeChat signature; `WeChatPaySignatureError` says what is wrong.

    `headers` must look names up case-insensitively (Starlette's and httpx's headers do).
    """
    serial = headers.get("wechatpay-serial") or ""
    timestamp = headers.get("wechatpay-timestamp") or ""
    nonce = headers.get("wechatpay-nonce") or ""
    signature = headers.get("wechatpay-signature") or ""
    if not (serial and timestamp and nonce and signature):
        raise WeChatPaySignatureError("the Wechatpay-Serial/-Timestamp/-Nonce/-Signature headers are missing")
    if serial.upper() != credentials.platform_key_id.upper():
        raise WeChatPaySignatureError("signed with a key we do not know (Wechatpay-Serial)")
    # isascii: str.isdigit() is true for "²" and "١", which int() then refuses or reads as another number; and
    # int() refuses more than 4300 digits. Either would be a 500.
    if (
        not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12)
        or abs(now_timestamp - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS
    ):
        raise WeChatPaySignatureError("the timestamp is more than five minutes away (stale or replayed)")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
        message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
        credentials.platform_key.verify(raw_signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise WeChatPaySignatureError("the signature does not verify") from None


def decrypt_resource(api_v3_key: bytes, resource: Mapping[str, Any]) -> dict[str, Any]:
    """The decrypted `resource` of a notification (AEAD_AES_256_GCM with the API v3 key)."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise WeChatPaySignatureError("the resource is not encrypted with AEAD_AES_256_GCM")
    try:
        plain = AESGCM(api_v3_key).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(str(resource["ciphertext"])),
            str(resource.get("associated_data") or "").encode(),
        )
        data = orjson.loads(plain)
    except (KeyError, ValueError, InvalidTag, orjson.JSONDecodeError):
        raise WeChatPaySignatureError("the resource does not decrypt with our API v3 key") from None
    if not isinstance(data, dict):
        raise WeChatPaySignatureError("the decrypted resource is not an object")
    return data


@dataclass(frozen=True, slots=True)
class VerifiedNotification:
    """A notification whose signature verified and whose resource decrypted."""

    id: str
    event_type: str
    resource: dict[str, Any]


def open_notification(
    credentials: MerchantCredentials, headers: Mapping[str, str], body: bytes, *, now_timestamp: float
) -> VerifiedNotification:
    verify_signed(credentials, headers, body, now_timestamp=now_timestamp)
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WeChatPaySignatureError("the body is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
        raise WeChatPaySignatureError("the body has no resource")
    resource = decrypt_resource(credentials.api_v3_key, envelope["resource"])
    return VerifiedNotification(
        id=str(envelope.get("id") or ""), event_type=str(envelope.get("event_type") or ""), resource=resource
    )


def jsapi_parameters(credentials: MerchantCredentials, prepay_id: str, *, timestamp: int, nonce: str) -> dict[str, str]:
    """What the mini-program passes to `wx.requestPayment`."""
    package = f"prepay_id={prepay_id}"
    pay_sign = rsa_sign(credentials.private_key, f"{credentials.appid}\n{timestamp}\n{nonce}\n{package}\n")
    return {
        "appId": credentials.appid,
        "timeStamp": str(timestamp),
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": pay_sign,
    }


# -- the client ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeChatPayResponse:
    status: int
    body: bytes

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        data = orjson.loads(self.body)
        return data if isinstance(data, dict) else {}


class WeChatPayClient:
    """Signs every request, verifies every 2xx answer (except bill files, which WeChat does not sign) and raises
    `WeChatPayError` for anything else. One pooled `httpx.AsyncClient`, created on first use."""

    def __init__(
        self,
        credentials: MerchantCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_seconds
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def request(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None, *, signed_answer: bool = True
    ) -> WeChatPayResponse:
        """Call `path` (with its query string). The body is sent exactly as it was signed."""
        body = orjson.dumps(payload).decode() if payload is not None else ""
        # A bill's download_url is absolute; what is signed is always the path with its query string.
        url = httpx.URL(path if path.startswith("http") else self.base_url + path)
        headers = {
            "Accept": "application/json",
            "Authorization": authorization(
                self.credentials,
                method=method,
                url=url.raw_path.decode(),
                body=body,
                timestamp=int(self._clock()),
                nonce=new_nonce(),
            ),
            "Wechatpay-Serial": self.credentials.platform_key_id,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http().request(method, url, content=body.encode() or None, headers=headers)
        except httpx.TimeoutException:
            raise WeChatPayError(f"WeChat Pay did not answer {method} {path.split('?')[0]} in time") from None
        except httpx.HTTPError as exc:
            raise WeChatPayError(f"WeChat Pay unreachable: {type(exc).__name__}") from None
        content = response.content
        if not 200 <= response.status_code < 300:
            code = message = ""
            try:
                error = orjson.loads(content)
                code, message = str(error.get("code", "")), str(error.get("message", ""))[:200]
            except (orjson.JSONDecodeError, AttributeError):
                pass
            raise WeChatPayError(
                f"WeChat Pay answered {response.status_code} {code}: {message}".strip(),
                status=response.status_code,
                code=code,
            )
        if signed_answer:
            try:
                verify_signed(self.credentials, response.headers, content, now_timestamp=self._clock())
            except WeChatPaySignatureError as exc:
                raise WeChatPayError(
                    f"WeChat Pay's answer is not signed by it: {exc}", status=response.status_code
                ) from None
        return WeChatPayResponse(response.status_code, content)


# -- bills -----------------------------------------------------------------------------------------------------------


def yuan_to_fen(text: str) -> int:
    """'12.30' → 1230, exactly (a bill writes yuan with two decimals)."""
    try:
        amount = Decimal(text.strip().lstrip("¥"))
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"more than two decimals: {text!r}")
    return int(fen)


def parse_bill(content: bytes) -> list[dict[str, str]]:
    """The lines of a trade or refund bill, as {column title: value}.

    The file is CSV (gzip when asked for GZIP): a header line of column titles, one line per trade with every value
    prefixed with a backtick (so spreadsheets keep long numbers as text), then a totals header (`总交易单数,...`)
    and one totals line, which are not trades.
    """
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    text = content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [title.strip() for title in rows[0]]
    lines: list[dict[str, str]] = []
    for row in rows[1:]:
        if not row or not any(cell.strip() for cell in row):
            continue
        if row[0].strip().startswith("总"):
            break  # the totals footer
        values = [cell.strip().removeprefix("`") for cell in row]
        lines.append(dict(zip(header, values, strict=False)))
    return lines


def bill_digest(content: bytes) -> str:
    """SHA1 (hex) of a bill file as WeChat states it in `hash_value`: of the uncompressed file."""
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    return hashlib.sha1(content, usedforsecurity=False).hexdigest()
