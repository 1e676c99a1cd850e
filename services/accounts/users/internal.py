"""`GET /internal/users/{user_id}/wechat-openid`: the user's openid in our mini-program, for the services that move
money through WeChat Pay (orders: the payer of an order; leaders: the payee of a payout). Accounts owns WeChat
identities; the others ask here rather than keep copies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from services.accounts.deps import WeChatDep
from services.accounts.users import repository
from services.common.auth import MissingRole
from services.common.db import SessionDep
from services.common.errors import NotFound, problem_docs
from services.common.jwks import INTERNAL_AUDIENCE, InvalidToken, KeySet, VerifiedToken

router = APIRouter(prefix="/internal/users", tags=["internal"])
_bearer = HTTPBearer(auto_error=False, description="A service token from /internal/service-tokens")


class WeChatIdentityNotFound(NotFound):
    code = "WECHAT_IDENTITY_NOT_FOUND"
    title = "The user has never signed in with our mini-program"


class OpenId(BaseModel):
    openid: str


async def service_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> VerifiedToken:
    """A service identity (audience `groupbuy-internal`, role `service`); user tokens are refused."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("A bearer token is required")
    verifier: KeySet = request.app.state.token_verifier
    token = await verifier.verify(
        credentials.credentials, audience=INTERNAL_AUDIENCE, now=request.app.state.clock().timestamp()
    )
    if not token.has("service"):
        raise MissingRole("This action needs the role: service")
    return token


ServiceCaller = Annotated[VerifiedToken, Depends(service_caller)]


@router.get(
    "/{user_id}/wechat-openid",
    response_model=OpenId,
    summary="A user's openid in our mini-program (services moving money through WeChat Pay)",
    responses=problem_docs(InvalidToken, MissingRole, WeChatIdentityNotFound),
)
async def wechat_openid(
    user_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    caller: ServiceCaller,
    wechat: WeChatDep,
) -> OpenId:
    openid = await repository.openid_in_app(session, user_id=user_id, appid=wechat.appid)
    if openid is None:
        raise WeChatIdentityNotFound(f"User {user_id} has no identity in mini-program {wechat.appid}")
    return OpenId(openid=openid)
