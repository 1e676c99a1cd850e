"""What can go wrong talking to WeChat, each with a stable code; none of them is a 500."""

from __future__ import annotations

from typing import Any, ClassVar

from services.common.errors import Conflict, DomainError, Forbidden, ServiceUnavailable, Unauthorized


class WeChatCodeInvalid(Unauthorized):
    code = "WECHAT_CODE_INVALID"
    title = "WeChat does not know this code"


class WeChatCodeUsed(Conflict):
    code = "WECHAT_CODE_USED"
    title = "This WeChat code was used already; get a new one"


class WeChatRateLimited(DomainError):
    status = 429
    code = "WECHAT_RATE_LIMITED"
    title = "WeChat asks us to slow down; try again shortly"
    default_retry_after: ClassVar[int] = 60

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        extra.setdefault("retry_after_seconds", self.default_retry_after)
        super().__init__(detail, **extra)


class WeChatUserBlocked(Forbidden):
    code = "WECHAT_USER_BLOCKED"
    title = "WeChat refuses to sign this user in (high-risk account)"


class WeChatUnavailable(ServiceUnavailable):
    code = "WECHAT_UNAVAILABLE"
    title = "WeChat could not be asked; try again later"
