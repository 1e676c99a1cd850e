"""A stand-in for WeChat's API that answers like the real endpoints, error codes included (errmsg texts as WeChat
words them), served by a real uvicorn on a free loopback port so timeouts and connection errors are real too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import Body, FastAPI, Query
from starlette.responses import PlainTextResponse, Response

from services.common.testing import free_port

APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
PHONE = "13800001234"

ERRORS: dict[str, dict[str, Any]] = {
    "invalid": {"errcode": 40029, "errmsg": "invalid code, rid: 6566c6a3-1b2c3d4e"},
    "used": {"errcode": 40163, "errmsg": "code been used, rid: 6566c6a3-1b2c3d4f"},
    "limited": {"errcode": 45011, "errmsg": "api minute-quota reach limit  mustslower  retry next minute"},
    "busy": {"errcode": -1, "errmsg": "system error"},
    "risky": {"errcode": 40226, "errmsg": "invalid user, rid: 6566c6a3-1b2c3d50"},
}


class WeChatStub:
    def __init__(self) -> None:
        self.token_requests = 0
        self.valid_tokens: set[str] = set()
        self.token_expires_in = 7200
        self.release = asyncio.Event()  # lets a deliberately slow answer finish when the test ends

    def expire_tokens(self) -> None:
        """WeChat invalidated every access token (another process fetched a new one, say)."""
        self.valid_tokens.clear()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/sns/jscode2session", response_model=None)
        async def jscode2session(
            appid: str = Query(), secret: str = Query(), js_code: str = Query(), grant_type: str = Query()
        ) -> dict[str, Any] | Response:
            if appid != APPID or secret != SECRET:
                return {"errcode": 40125, "errmsg": "invalid appsecret, rid: 6566c6a3-1b2c3d51"}
            if grant_type != "authorization_code":
                return {"errcode": 40002, "errmsg": "invalid grant_type"}
            if js_code in ERRORS:
                return ERRORS[js_code]
            if js_code == "html":
                return PlainTextResponse("<html><body>502 Bad Gateway</body></html>")
            if js_code == "http502":
                return Response(status_code=502)
            if js_code == "slow":
                await self.release.wait()
                return {"errcode": -1, "errmsg": "too late"}
            if js_code == "no-openid":
                return {"session_key": SESSION_KEY}
            if js_code.startswith("union-"):
                return {"openid": "o-" + js_code, "session_key": SESSION_KEY, "unionid": "un-" + js_code}
            return {"openid": "o-" + js_code, "session_key": SESSION_KEY}

        @app.get("/cgi-bin/token")
        async def token(grant_type: str = Query(), appid: str = Query(), secret: str = Query()) -> dict[str, Any]:
            if grant_type != "client_credential" or appid != APPID or secret != SECRET:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            self.token_requests += 1
            access_token = f"ACCESS-TOKEN-{self.token_requests}"
            self.valid_tokens.add(access_token)
            return {"access_token": access_token, "expires_in": self.token_expires_in}

        @app.post("/wxa/business/getuserphonenumber")
        async def phone_number(access_token: str = Query(), body: dict[str, Any] = Body()) -> dict[str, Any]:
            if access_token not in self.valid_tokens:
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            code = body.get("code")
            if code in ERRORS:
                return ERRORS[code]
            return {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": PHONE,
                    "purePhoneNumber": PHONE,
                    "countryCode": "86",
                    "watermark": {"timestamp": 1637744274, "appid": APPID},
                },
            }

        return app


@asynccontextmanager
async def running_stub() -> AsyncIterator[tuple[WeChatStub, str]]:
    stub = WeChatStub()
    port = free_port()
    # No log config and no access log: the stub must not touch the logging the tests inspect.
    config = uvicorn.Config(stub.app(), host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(1000):  # until it listens (or died trying)
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "the WeChat stub did not start"
    try:
        yield stub, f"http://127.0.0.1:{port}"
    finally:
        stub.release.set()
        server.should_exit = True
        await task
