from __future__ import annotations

from fastapi import APIRouter

from services.accounts.deps import NowDep, SettingsDep
from services.accounts.keys.exceptions import SigningKeysUnavailable
from services.accounts.keys.issuer import IssuerDep
from services.accounts.service_identity import service
from services.accounts.service_identity.exceptions import ServiceCredentialsInvalid
from services.accounts.service_identity.schemas import ServiceTokenRequest
from services.accounts.sessions.schemas import AccessToken
from services.common.errors import problem_docs

router = APIRouter(prefix="/internal", tags=["internal"])


@router.post(
    "/service-tokens",
    response_model=AccessToken,
    summary="A token for a service, for its client secret (service-to-service)",
    responses=problem_docs(ServiceCredentialsInvalid, SigningKeysUnavailable),
)
async def issue_service_token(
    body: ServiceTokenRequest, issuer: IssuerDep, settings: SettingsDep, now: NowDep
) -> AccessToken:
    """Role `service`, audience `groupbuy-internal`: accepted by `/internal/*` routes and nothing public."""
    return service.issue_service_token(
        issuer=issuer,
        clients=settings.service_clients,
        service=body.service,
        secret=body.secret,
        now=now,
        ttl_seconds=settings.service_token_ttl_seconds,
    )
