"""The first operations account of a fresh installation: a command that can run on every deployment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.accounts.bootstrap import ensure_admin, main
from services.accounts.config import Settings
from services.accounts.models import metadata
from services.accounts.staff.passwords import fast_test_hasher
from services.common.db import Database
from services.common.testing import reset_database
from tests.accounts.conftest import ADMIN_PASSWORD, ok, staff_sign_in
from tests.conftest import service_settings


async def test_the_admin_is_created_once_and_can_sign_in_as_ops(
    accounts_app: FastAPI, accounts_client: httpx.AsyncClient
) -> None:
    db = accounts_app.state.db
    hasher = fast_test_hasher()
    first = await ensure_admin(db, username="admin", password=ADMIN_PASSWORD, display_name="Admin", passwords=hasher)
    again = await ensure_admin(db, username="admin", password="another password", display_name="X", passwords=hasher)
    assert first.created and not again.created and first.staff_id == again.staff_id
    pair = ok(await staff_sign_in(accounts_client, "admin", ADMIN_PASSWORD))  # the first password still holds
    assert pair["user"]["roles"] == ["ops"]


@pytest.fixture
def empty_accounts_settings(database_urls: dict[str, str], tmp_path: Path) -> Settings:
    settings: Settings = service_settings("accounts", database_urls, signing_keys_dir=tmp_path / "keys")

    async def empty() -> None:
        db = Database(settings.resolved_database_url(), metadata)
        await reset_database(db)
        await db.dispose()

    asyncio.run(empty())
    return settings


def test_the_command_reads_the_password_file_and_is_idempotent(
    empty_accounts_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    argv = ["--username", "Admin", "--password-file", str(password_file)]
    assert main(argv, empty_accounts_settings) == 0
    assert "created" in capsys.readouterr().out
    assert main(argv, empty_accounts_settings) == 0
    assert "already exists" in capsys.readouterr().out


def test_the_command_takes_its_input_from_the_environment_settings(
    empty_accounts_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = empty_accounts_settings.model_copy(
        update={"bootstrap_admin_username": "root", "bootstrap_admin_password": SecretStr(ADMIN_PASSWORD)}
    )
    assert main([], settings) == 0
    assert "created" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--username"),
        (["--username", "admin"], "--password-file"),
        (["--username", "admin", "--password-file", "/nonexistent/file"], "Cannot read"),
        (["--username", "a", "--password-file", "{short}"], "Unusable"),
    ],
)
def test_the_command_says_what_is_missing(
    empty_accounts_settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    short = tmp_path / "short"
    short.write_text("short")
    argv = [arg.replace("{short}", str(short)) for arg in argv]
    assert main(argv, empty_accounts_settings) == 2
    assert message in capsys.readouterr().err
