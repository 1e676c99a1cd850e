"""Accounts signs with the newest key of its directory and publishes every key; rotation never breaks a live token."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi import FastAPI

from services.accounts.keys.store import SigningKeyError, SigningKeyStore, thumbprint, write_key
from services.common.jwks import InvalidToken, KeySet, jwks_fetcher
from services.common.testing import asgi_client
from tests.accounts.conftest import START, Clock, age_key_files, claims, ok, wechat_sign_in


def key_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.pem"))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def remove_keys_except(directory: Path, name: str) -> None:
    for path in key_files(directory):
        if path.name != name:
            path.unlink()


def write_p256_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = generate_private_key(SECP256R1()).private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.write_bytes(pem)


def test_the_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037, appendix A.3.
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


async def test_a_development_key_is_made_on_first_use_and_published(
    accounts_client: httpx.AsyncClient, keys_dir: Path
) -> None:
    assert key_files(keys_dir) == []  # creating the app wrote nothing
    pair = await wechat_sign_in(accounts_client, "code-1")
    (key_file,) = key_files(keys_dir)
    assert key_file.name.startswith("dev-")
    assert (mode_of(key_file), mode_of(keys_dir)) == (0o600, 0o700)  # private keys: the owner only

    document = ok(await accounts_client.get("/.well-known/jwks.json"))
    (published,) = document["keys"]
    assert published["kty"] == "OKP" and published["crv"] == "Ed25519" and published["alg"] == "EdDSA"
    assert "d" not in published  # never the private part
    assert jwt.get_unverified_header(pair["access_token"])["kid"] == published["kid"]


async def test_starting_the_service_makes_the_development_key(accounts_app: FastAPI, keys_dir: Path) -> None:
    async with accounts_app.router.lifespan_context(accounts_app):
        assert [p.name[:4] for p in key_files(keys_dir)] == ["dev-"]


async def test_an_unusable_key_directory_stops_the_start_naming_the_setting(
    accounts_app: FastAPI, keys_dir: Path
) -> None:
    write_p256_key(keys_dir / "2025.pem")
    with pytest.raises(SigningKeyError, match="ACCOUNTS_SIGNING_KEYS_DIR"):
        async with accounts_app.router.lifespan_context(accounts_app):
            pass


def test_two_stores_on_one_empty_directory_make_one_key(keys_dir: Path) -> None:
    first = SigningKeyStore(keys_dir, allow_generate=True)
    second = SigningKeyStore(keys_dir, allow_generate=True)
    assert first.signing_key(START).kid == second.signing_key(START).kid
    assert len(key_files(keys_dir)) == 1


async def test_a_token_verifies_with_the_jwks_fetched_over_http(
    accounts_app: FastAPI, accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    async with asgi_client(accounts_app, base_url="http://accounts") as http:
        keys = KeySet(jwks_fetcher("http://accounts/.well-known/jwks.json", client=http))
        token = await keys.verify(pair["access_token"], now=clock().timestamp())
    assert token.sub == pair["user"]["id"]


async def test_rotation_publishes_a_new_key_first_signs_with_it_later_and_old_tokens_keep_verifying(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI, keys_dir: Path, clock: Clock
) -> None:
    old_pair = await wechat_sign_in(accounts_client, "code-1")
    age_key_files(keys_dir, clock() - timedelta(days=30))
    old_kid = (await claims(accounts_app, old_pair["access_token"])).key_id

    write_key(keys_dir, "dev-29990101T000000Z.pem")  # sorts last: the next signing key
    os.utime(keys_dir / "dev-29990101T000000Z.pem", (clock().timestamp(), clock().timestamp()))
    published = {k["kid"] for k in ok(await accounts_client.get("/.well-known/jwks.json"))["keys"]}
    assert len(published) == 2 and old_kid in published
    (new_kid,) = published - {old_kid}

    # Published at once, but signing only once verifiers have had the time to fetch it.
    soon = await wechat_sign_in(accounts_client, "code-1")
    assert (await claims(accounts_app, soon["access_token"])).key_id == old_kid
    clock.advance(seconds=60)
    later = await wechat_sign_in(accounts_client, "code-1")
    assert (await claims(accounts_app, later["access_token"])).key_id == new_kid
    # A token signed by the old key still verifies while it lives, through accounts itself and any KeySet.
    assert (await claims(accounts_app, soon["access_token"])).key_id == old_kid
    me = await accounts_client.get("/api/v1/me", headers={"Authorization": f"Bearer {soon['access_token']}"})
    assert me.status_code == 200

    # Once its tokens have expired, the old key is removed; what it signed no longer verifies.
    remove_keys_except(keys_dir, "dev-29990101T000000Z.pem")
    with pytest.raises(InvalidToken):
        await claims(accounts_app, soon["access_token"])
    assert (await claims(accounts_app, later["access_token"])).key_id == new_kid


async def test_a_key_that_is_not_ed25519_makes_signing_unavailable_not_a_500(
    accounts_client: httpx.AsyncClient, keys_dir: Path
) -> None:
    write_p256_key(keys_dir / "2025.pem")
    response = await accounts_client.post("/api/v1/auth/wechat", json={"code": "code-1"})
    assert response.status_code == 503 and response.json()["code"] == "SIGNING_KEYS_UNAVAILABLE"
    assert str(keys_dir) not in response.text  # the directory is for the log, not the caller
    jwks = await accounts_client.get("/.well-known/jwks.json")
    assert jwks.status_code == 503
