"""The verifier every service will use for accounts' tokens: what it accepts and, above all, what it refuses."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.accounts.keys.store import public_jwk, thumbprint
from services.common.jwks import INTERNAL_AUDIENCE, InvalidToken, JwksUnavailable, KeySet, jwks_fetcher

NOW = 1_750_000_000


class Key:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.kid = thumbprint(public_jwk(self.private))

    def jwk(self) -> dict[str, str]:
        return {**public_jwk(self.private), "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def sign(self, **overrides: Any) -> str:
        claims: dict[str, Any] = {
            "sub": "u_1",
            "roles": ["customer"],
            "iat": NOW,
            "exp": NOW + 900,
            "iss": "groupbuy-accounts",
            "aud": "groupbuy",
            "sid": "ses_1",
            "jti": "j1",
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})


class Documents:
    """A JWKS source that serves the documents it is given, in turn, and counts the fetches."""

    def __init__(self, *documents: Mapping[str, Any] | Exception) -> None:
        self.documents = list(documents)
        self.fetches = 0

    async def __call__(self) -> Mapping[str, Any]:
        self.fetches += 1
        current = self.documents[min(self.fetches, len(self.documents)) - 1]
        if isinstance(current, Exception):
            raise current
        return current


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key_set(source: Documents, monotonic: Monotonic | None = None, **options: Any) -> KeySet:
    return KeySet(source, clock=lambda: float(NOW), monotonic=monotonic or Monotonic(), **options)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def key() -> Key:
    return Key()


async def refused(keys: KeySet, token: str, **options: Any) -> str:
    with pytest.raises(InvalidToken) as caught:
        await keys.verify(token, **options)
    return caught.value.detail


async def test_a_token_signed_by_a_published_key_verifies(key: Key) -> None:
    verified = await key_set(Documents({"keys": [key.jwk()]})).verify(key.sign())
    assert verified.sub == "u_1" and verified.roles == {"customer"}
    assert verified.session_id == "ses_1" and verified.token_id == "j1" and verified.key_id == key.kid


async def test_a_tampered_token_is_refused(key: Key) -> None:
    header, _, signature = key.sign().split(".")
    forged_payload = b64({"sub": "u_1", "roles": ["ops"], "iat": NOW, "exp": NOW + 900,
                          "iss": "groupbuy-accounts", "aud": "groupbuy"})  # fmt: skip
    assert "Signature" in await refused(
        key_set(Documents({"keys": [key.jwk()]})), f"{header}.{forged_payload}.{signature}"
    )


async def test_a_token_signed_by_an_unpublished_key_is_refused(key: Key) -> None:
    stranger = Key()
    forged = jwt.encode(
        {"sub": "u_1", "iat": NOW, "exp": NOW + 60, "iss": "groupbuy-accounts", "aud": "groupbuy"},
        stranger.private,
        algorithm="EdDSA",
        headers={"kid": key.kid},  # claims to be ours
    )
    await refused(key_set(Documents({"keys": [key.jwk()]})), forged)
    assert "do not know" in await refused(key_set(Documents({"keys": [key.jwk()]})), stranger.sign())


async def test_expired_tokens_are_refused_after_the_leeway(key: Key) -> None:
    keys = key_set(Documents({"keys": [key.jwk()]}))
    await keys.verify(key.sign(iat=NOW - 900, exp=NOW - 4))  # within the 5 s leeway
    assert "expired" in await refused(keys, key.sign(iat=NOW - 900, exp=NOW - 5))


async def test_tokens_from_the_future_or_living_too_long_are_refused(key: Key) -> None:
    keys = key_set(Documents({"keys": [key.jwk()]}), max_lifetime_seconds=3600)
    assert "future" in await refused(keys, key.sign(iat=NOW + 60, exp=NOW + 600))
    assert "longer" in await refused(keys, key.sign(iat=NOW, exp=NOW + 3601))


async def test_an_hs256_token_using_the_public_key_as_secret_is_refused(key: Key) -> None:
    public = key.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    claims = {
        "sub": "u_1",
        "roles": ["ops"],
        "iat": NOW,
        "exp": NOW + 60,
        "iss": "groupbuy-accounts",
        "aud": "groupbuy",
    }
    forged = jwt.encode(claims, public, algorithm="HS256", headers={"kid": key.kid})
    source = Documents({"keys": [key.jwk()]})
    assert "EdDSA" in await refused(key_set(source), forged)
    assert source.fetches == 0  # refused before any key was looked at


async def test_an_unsigned_token_is_refused(key: Key) -> None:
    claims = {
        "sub": "u_1",
        "roles": ["ops"],
        "iat": NOW,
        "exp": NOW + 60,
        "iss": "groupbuy-accounts",
        "aud": "groupbuy",
    }
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'typ': 'JWT', 'kid': key.kid})}.{b64(claims)}."
        await refused(key_set(Documents({"keys": [key.jwk()]})), token)


async def test_audience_separates_people_from_services(key: Key) -> None:
    keys = key_set(Documents({"keys": [key.jwk()]}))
    service_token = key.sign(sub="svc:orders", roles=["service"], aud=INTERNAL_AUDIENCE)
    await refused(keys, service_token)  # not on public routes
    assert (await keys.verify(service_token, audience=INTERNAL_AUDIENCE)).roles == {"service"}
    await refused(keys, key.sign(), audience=INTERNAL_AUDIENCE)  # and a person's token not on internal ones


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "iss", "aud"])
async def test_every_required_claim_must_be_there(key: Key, claim: str) -> None:
    await refused(key_set(Documents({"keys": [key.jwk()]})), key.sign(**{claim: None}))


@pytest.mark.parametrize(
    "claims",
    [{"iss": "someone-else"}, {"roles": "ops"}, {"roles": [1]}, {"sub": "x" * 65}, {"exp": "tomorrow"}],
    ids=["issuer", "roles-not-a-list", "roles-not-strings", "sub-too-long", "exp-not-a-number"],
)
async def test_malformed_claims_are_refused(key: Key, claims: dict[str, Any]) -> None:
    await refused(key_set(Documents({"keys": [key.jwk()]})), key.sign(**claims))


async def test_an_oversized_token_is_refused_before_parsing(key: Key) -> None:
    source = Documents({"keys": [key.jwk()]})
    assert "large" in await refused(key_set(source), key.sign(padding="x" * 5000))
    assert source.fetches == 0


async def test_garbage_is_refused() -> None:
    for token in ("", "abc", "a.b.c", "a.b"):
        await refused(key_set(Documents({"keys": []})), token)


async def test_a_rotated_in_key_is_found_by_refetching_on_its_unknown_kid(key: Key) -> None:
    new = Key()
    source = Documents({"keys": [key.jwk()]}, {"keys": [key.jwk(), new.jwk()]})
    monotonic = Monotonic()
    keys = key_set(source, monotonic, min_refetch_seconds=10)
    await keys.verify(key.sign())
    monotonic.now += 10
    assert (await keys.verify(new.sign())).key_id == new.kid
    await keys.verify(key.sign())  # the old key keeps verifying its tokens
    assert source.fetches == 2


async def test_unknown_kids_cannot_make_it_fetch_more_than_every_few_seconds(key: Key) -> None:
    source = Documents({"keys": [key.jwk()]})
    monotonic = Monotonic()
    keys = key_set(source, monotonic, min_refetch_seconds=10)
    for _ in range(50):
        await refused(keys, Key().sign())
    assert source.fetches == 1
    monotonic.now += 10
    await refused(keys, Key().sign())
    assert source.fetches == 2


async def test_keys_are_refetched_when_the_cache_is_old(key: Key) -> None:
    source = Documents({"keys": [key.jwk()]})
    monotonic = Monotonic()
    keys = key_set(source, monotonic, cache_seconds=300)
    await keys.verify(key.sign())
    monotonic.now += 299
    await keys.verify(key.sign())
    assert source.fetches == 1
    monotonic.now += 1
    await keys.verify(key.sign())
    assert source.fetches == 2


async def test_when_accounts_is_down_the_keys_fetched_before_keep_working(key: Key) -> None:
    source = Documents({"keys": [key.jwk()]}, JwksUnavailable("accounts is down"))
    monotonic = Monotonic()
    keys = key_set(source, monotonic, cache_seconds=300)
    await keys.verify(key.sign())
    monotonic.now += 301
    await keys.verify(key.sign())
    assert source.fetches == 2


async def test_without_any_keys_verification_is_unavailable_not_unauthorised(key: Key) -> None:
    keys = key_set(Documents(JwksUnavailable("accounts is down")))
    with pytest.raises(JwksUnavailable):
        await keys.verify(key.sign())
    with pytest.raises(JwksUnavailable):  # also while the refetch is held back
        await keys.verify(key.sign())


async def test_private_keys_and_foreign_key_types_in_a_jwks_are_ignored(key: Key) -> None:
    leaked = {**key.jwk(), "d": "c2VjcmV0"}
    rsa = {"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"}
    keys = key_set(Documents({"keys": [leaked, rsa]}))
    with pytest.raises(JwksUnavailable):  # nothing usable was published
        await keys.verify(key.sign())


async def test_a_jwks_file_url_works(key: Key, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.jwk()]}))
    keys = KeySet(path.as_uri(), clock=lambda: float(NOW))
    assert (await keys.verify(key.sign())).sub == "u_1"


async def test_a_jwks_http_url_works_and_bad_answers_are_unavailable(key: Key) -> None:
    answers = {
        "/good": httpx.Response(200, json={"keys": [key.jwk()]}),
        "/broken": httpx.Response(500, text="oops"),
        "/html": httpx.Response(200, text="<html>"),
        "/no-keys": httpx.Response(200, json={"hello": "world"}),
    }
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: answers[request.url.path]))
    good = KeySet(jwks_fetcher("http://accounts/good", client=client), clock=lambda: float(NOW))
    assert (await good.verify(key.sign())).sub == "u_1"
    for path in ("/broken", "/html", "/no-keys"):
        fetch = jwks_fetcher(f"http://accounts{path}", client=client)
        with pytest.raises(JwksUnavailable):
            await fetch()
    await client.aclose()


def test_only_http_https_and_file_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="file://"):
        jwks_fetcher("ftp://accounts/jwks.json")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + ".",  # four segments
        lambda t: t.replace(".", "..", 1),
        lambda t: "!" + t,  # a character outside base64url in the header
        lambda t: t[: t.rindex(".") + 1] + "*" + t[t.rindex(".") + 2 :],  # ... in the signature
        lambda t: t[: t.rindex(".")],  # no signature
        lambda t: t[: t.rindex(".") + 1],  # an empty signature
        lambda t: t[:-8],  # a signature shorter than 64 bytes
        lambda t: t + "AAAA",  # ... longer
        lambda t: t[: t.rindex(".") + 1] + "A" * 86,  # 64 bytes, not the signature
    ],
)
async def test_malformed_tokens_are_refused_not_repaired(key: Key, mangle: Any) -> None:
    await refused(key_set(Documents({"keys": [key.jwk()]})), mangle(key.sign()))


async def test_a_token_not_valid_yet_or_with_extensions_we_do_not_know_is_refused(key: Key) -> None:
    keys = key_set(Documents({"keys": [key.jwk()]}))
    assert "not valid yet" in await refused(keys, key.sign(nbf=NOW + 3600))
    claims = {"sub": "u_1", "iat": NOW, "exp": NOW + 900, "iss": "groupbuy-accounts", "aud": "groupbuy"}
    critical = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid, "crit": ["exp"]})
    assert "extensions" in await refused(keys, critical)
