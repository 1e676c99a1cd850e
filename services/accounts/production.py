"""What `ENVIRONMENT=production` refuses in accounts: anything that lets someone sign in as anyone, or mint tokens
with a key that is not secret. `create_app` raises `ProductionSettingsError` naming every wrong setting at once.
(Accounts signs its own tokens and verifies with its own keys: the checks of the other services,
`services.common.production`, do not apply to it.)"""

from __future__ import annotations

import re
from datetime import datetime

from services.accounts.config import Settings, development_service_secret, secret_hash
from services.accounts.keys.store import SigningKeyError, SigningKeyStore
from services.common.production import ProductionSettingsError

_PLACEHOLDER = re.compile(r"change|example|placeholder|your|secret|dummy|test|todo|xxx|dev", re.IGNORECASE)
_APPID = re.compile(r"^wx[0-9a-zA-Z]{16}$")


__all__ = ["ProductionSettingsError", "ensure_production_ready", "production_problems"]


def production_problems(settings: Settings, keys: SigningKeyStore, *, now: datetime) -> list[str]:
    problems: list[str] = []
    if settings.dev_auth:
        problems.append("ACCOUNTS_DEV_AUTH must be false: dev tokens let anyone sign in as anyone")
    if settings.wechat_provider != "http":
        problems.append("ACCOUNTS_WECHAT_PROVIDER must be `http`: the fake provider accepts any code")
    if not _APPID.match(settings.wechat_appid):
        problems.append("ACCOUNTS_WECHAT_APPID must be the mini-program's app id (wx and 16 letters or digits)")
    secret = settings.wechat_secret.get_secret_value()
    if len(secret) < 32 or _PLACEHOLDER.search(secret):
        problems.append("ACCOUNTS_WECHAT_SECRET must be the mini-program's app secret, not empty or a placeholder")
    try:
        development = [key.name for key in keys.keys(now) if key.development]
    except SigningKeyError as exc:
        problems.append(str(exc))
    else:
        if development:
            problems.append(
                f"ACCOUNTS_SIGNING_KEYS_DIR holds development keys ({', '.join(development)}): anyone who has seen "
                "a development setup may hold them; use keys made for production only"
            )
    defaults = sorted(
        name
        for name, digest in settings.service_clients.items()
        if digest == secret_hash(development_service_secret(name))
    )
    if defaults:
        problems.append(f"ACCOUNTS_SERVICE_CLIENTS still has the development secret of: {', '.join(defaults)}")
    return problems


def ensure_production_ready(settings: Settings, keys: SigningKeyStore, *, now: datetime) -> None:
    problems = production_problems(settings, keys, now=now)
    if problems:
        raise ProductionSettingsError(
            "ENVIRONMENT=production refuses to start the accounts service:\n- " + "\n- ".join(problems)
        )
