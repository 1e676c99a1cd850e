"""What `ENVIRONMENT=production` refuses in every process: settings that let someone mint or forge an identity.

Each process checks at start-up (in `create_app`) and refuses to start with a message naming every wrong setting:
- `AUTH_JWKS_URL` that is not `https://` or `file://`: whoever can change the published keys on their way can sign
  any token, `ops` included, so the keys must come over an authenticated channel (or from a mounted file);
- `<SERVICE>_SERVICE_SECRET` unset, the development secret, or short: it proves the service's identity to accounts;
- the process's own development settings (accounts: dev login, the fake WeChat provider, development keys and
  client secrets; orders: the default payment secret).
"""

from __future__ import annotations

from collections.abc import Iterable

from services.common.settings import PlatformSettings, ServiceSettings, development_service_secret

MIN_SECRET_LENGTH = 32


class ProductionSettingsError(RuntimeError):
    """Settings that must not be used in production; the message names each one."""


def platform_problems(settings: PlatformSettings) -> list[str]:
    """The shared settings every verifier of tokens must get right."""
    if settings.auth_jwks_url.startswith(("https://", "file://")):
        return []
    return [
        "AUTH_JWKS_URL must be an https:// (or file://) URL: whoever can change the keys on their way to this "
        "process can sign any token"
    ]


def service_identity_problems(settings: ServiceSettings) -> list[str]:
    """The secret a service proves itself to accounts with."""
    name = f"{settings.service_name.upper()}_SERVICE_SECRET"
    secret = settings.service_secret.get_secret_value() if settings.service_secret is not None else None
    if secret is None:
        return [f"{name} must be set: without it the service presents the development secret"]
    if secret == development_service_secret(settings.service_name):
        return [f"{name} is the development secret"]
    if len(secret) < MIN_SECRET_LENGTH:
        return [f"{name} must be at least {MIN_SECRET_LENGTH} characters"]
    return []


def ensure_production_ready(process: str, settings: PlatformSettings, problems: Iterable[str] = ()) -> None:
    """Raise `ProductionSettingsError` naming every unsafe setting, when `ENVIRONMENT=production`."""
    if not settings.production:
        return
    found = list(problems)
    if found:
        raise ProductionSettingsError(
            f"ENVIRONMENT=production refuses to start the {process} service:\n- " + "\n- ".join(found)
        )


def ensure_service_production_ready(process: str, settings: ServiceSettings, extra: Iterable[str] = ()) -> None:
    """The checks of a service that verifies tokens and has an identity of its own (leaders, orders, points)."""
    if settings.production:
        ensure_production_ready(
            process, settings, [*platform_problems(settings), *service_identity_problems(settings), *extra]
        )
