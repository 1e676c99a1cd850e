from __future__ import annotations

from fastapi import APIRouter, Response

from services.accounts.deps import NowDep
from services.accounts.keys.exceptions import SigningKeysUnavailable
from services.accounts.keys.issuer import IssuerDep
from services.accounts.keys.schemas import KeySetDocument
from services.common.errors import problem_docs
from services.common.jwks import JWKS_PATH

router = APIRouter(tags=["keys"])


@router.get(
    JWKS_PATH,
    response_model=KeySetDocument,
    summary="The public keys that verify every token (JWKS)",
    responses=problem_docs(SigningKeysUnavailable),
)
async def get_jwks(issuer: IssuerDep, now: NowDep, response: Response) -> KeySetDocument:
    """Every key accounts may have signed a live token with; the one signing now is among them."""
    # Short: a verifier that meets an unknown kid refetches anyway, but proxies should not hold a stale set long.
    response.headers["Cache-Control"] = "public, max-age=60"
    return KeySetDocument.model_validate(issuer.jwks(now))
