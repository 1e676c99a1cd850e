"""The first operations account, for a fresh installation (staff are otherwise created by `ops` through the API):

    python -m services.accounts.bootstrap --username admin --password-file /run/secrets/admin-password

or with `ACCOUNTS_BOOTSTRAP_ADMIN_USERNAME` and `ACCOUNTS_BOOTSTRAP_ADMIN_PASSWORD_FILE` (or
`ACCOUNTS_BOOTSTRAP_ADMIN_PASSWORD`) set. Idempotent: when the username exists, nothing changes (its password is
not reset), so it can run on every deployment. Run the migrations first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from services.accounts.config import Settings, get_settings
from services.accounts.models import metadata
from services.accounts.staff import repository
from services.accounts.staff import service as staff_service
from services.accounts.staff.exceptions import StaffUsernameTaken
from services.accounts.staff.passwords import PasswordHasher
from services.accounts.staff.schemas import NewPassword, StaffCreate, Username
from services.common.audit import cli_actor
from services.common.clock import utcnow
from services.common.db import Database


class BootstrapError(Exception):
    """What is missing or wrong, in words for the person running the command."""


@dataclass(frozen=True)
class BootstrapResult:
    staff_id: str
    created: bool


async def ensure_admin(
    db: Database, *, username: str, password: str, display_name: str, passwords: PasswordHasher
) -> BootstrapResult:
    """Create an `ops` account with this username unless one exists."""
    async with db.reading() as session:
        existing = await repository.get_by_username(session, username)
    if existing is not None:
        return BootstrapResult(staff_id=existing.id, created=False)
    data = StaffCreate(username=username, display_name=display_name, roles=["ops"], password=password)
    try:
        async with db.transaction() as session:
            created = await staff_service.create_staff(
                session, passwords=passwords, data=data, created_by=cli_actor().id, now=utcnow()
            )
    except StaffUsernameTaken:  # another bootstrap (a second replica's job) was first
        async with db.reading() as session:
            existing = await repository.get_by_username(session, username)
        assert existing is not None
        return BootstrapResult(staff_id=existing.id, created=False)
    return BootstrapResult(staff_id=created.id, created=True)


def _credentials(args: argparse.Namespace, settings: Settings) -> tuple[str, str]:
    username = args.username or settings.bootstrap_admin_username
    if not username:
        raise BootstrapError("Give --username or set ACCOUNTS_BOOTSTRAP_ADMIN_USERNAME")
    password_file: Path | None = args.password_file or settings.bootstrap_admin_password_file
    if password_file is not None:
        try:
            password = password_file.read_text().strip("\r\n")
        except OSError as exc:
            raise BootstrapError(f"Cannot read the password file {password_file}: {exc.strerror}") from exc
    elif settings.bootstrap_admin_password is not None:
        password = settings.bootstrap_admin_password.get_secret_value()
    else:
        raise BootstrapError(
            "Give --password-file or set ACCOUNTS_BOOTSTRAP_ADMIN_PASSWORD_FILE or ACCOUNTS_BOOTSTRAP_ADMIN_PASSWORD"
        )
    try:
        username = TypeAdapter(Username).validate_python(username)
        TypeAdapter(NewPassword).validate_python(password)
    except ValidationError as exc:
        raise BootstrapError(f"Unusable username or password: {exc.errors()[0]['msg']}") from None
    return username, password


async def _run(args: argparse.Namespace, settings: Settings) -> BootstrapResult:
    username, password = _credentials(args, settings)
    db = Database(settings.resolved_database_url(), metadata)
    try:
        return await ensure_admin(
            db, username=username, password=password, display_name=args.display_name, passwords=PasswordHasher()
        )
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--username", default=None)
    parser.add_argument(
        "--password-file", type=Path, default=None, help="A file holding the password (a trailing newline is ignored)"
    )
    parser.add_argument("--display-name", default="Administrator")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(_run(args, settings or get_settings()))
    except BootstrapError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    state = "created" if result.created else "already exists, left unchanged"
    print(f"bootstrap: ops account {result.staff_id} {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
