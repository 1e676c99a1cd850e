"""`GET /internal/users/{user_id}/wechat-openid`: the user's openid in our mini-program, for the services that move
money through WeChat Pay (orders: the payer of an order; leaders: the payee of a payout). Accounts owns WeChat
identities; the others ask here rather than keep copies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from services.accounts.users import repository
from services.accounts.wechat.provider import WeChatDep
from services.common.auth import InvalidToken, Principal, ServiceNotAllowed, require_service
from services.common.db import SessionDep
from services.common.errors import NotFound, problem_docs
from services.common.text import SINGLE_LINE_PATTERN

router = APIRouter(prefix="/internal/users", tags=["internal"])

#: The services that move money through WeChat Pay: orders (the payer of an order), leaders (the payee of a payout).
MoneyService = Annotated[Principal, Depends(require_service("orders", "leaders"))]


class WeChatIdentityNotFound(NotFound):
    code = "WECHAT_IDENTITY_NOT_FOUND"
    title = "The user has never signed in with our mini-program"


class OpenId(BaseModel):
    openid: str


@router.get(
    "/{user_id}/wechat-openid",
    response_model=OpenId,
    summary="A user's openid in our mini-program (services moving money through WeChat Pay)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed, WeChatIdentityNotFound),
)
async def wechat_openid(
    user_id: Annotated[str, Path(min_length=1, max_length=64, pattern=SINGLE_LINE_PATTERN)],
    session: SessionDep,
    caller: MoneyService,
    wechat: WeChatDep,
) -> OpenId:
    openid = await repository.openid_in_app(session, user_id=user_id, appid=wechat.appid)
    if openid is None:
        raise WeChatIdentityNotFound(f"User {user_id} has no identity in mini-program {wechat.appid}")
    return OpenId(openid=openid)
