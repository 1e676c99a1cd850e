"""No log line carries a token, a phone number, a secret or an SQL parameter: a full flow (sign-in and refresh, a
phone number, an application to lead, an order, its payment and refund, a failing insert holding a phone number)
runs with every service at LOG_LEVEL=DEBUG and the database statement log on, and every record is searched as the
services' JSON formatter writes it (message, extra fields, traceback)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from starlette.requests import Request

from services.common.migrate import SERVICES
from services.common.observability import JsonFormatter
from services.common.settings import development_service_secret
from services.common.testing import bearer
from services.leaders.profiles.models import LeaderApplication
from tests.conftest import AppFactory
from tests.e2e.conftest import Wiring, approved_leader, ok, pay

APPLICANT_PHONE = "13977771111"
FAILED_INSERT_PHONE = "13966662222"
ADDRESS = "88 Quiet Lane"


@pytest.fixture
async def service_apps(make_app: AppFactory) -> dict[str, FastAPI]:
    # Every service as an operator debugging it would run it.
    return {service: await make_app(service, log_level="DEBUG", log_json=True) for service in SERVICES}


@pytest.fixture
def statement_log() -> Iterator[None]:
    """The database statement log (off by default) turned on, as an operator chasing a problem would."""
    logger = logging.getLogger("sqlalchemy.engine")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(level)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def failing_insert(request: Request) -> None:
    """A second pending application of one applicant: the unique index refuses it (a 500 the handler logs)."""
    row = {
        "applicant_id": "applicant-twice",
        "pending_key": "applicant-twice",
        "name": "Dup",
        "phone": FAILED_INSERT_PHONE,
        "pickup_name": "Dup",
        "pickup_address": ADDRESS,
        "pickup_community": "Dup",
        "status": "pending",
        "created_at": request.app.state.clock(),
    }
    async with request.app.state.db.transaction() as session:
        await session.exec(insert(LeaderApplication).values(**row))
        await session.exec(insert(LeaderApplication).values(**row))


async def test_a_full_flow_at_debug_logs_no_token_phone_secret_or_sql_parameter(
    e2e: httpx.AsyncClient,
    wiring: Wiring,
    statement_log: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    apps = wiring.apps
    caplog.set_level(logging.DEBUG)
    pair = ok(await e2e.post("/api/v1/auth/wechat", json={"code": "hygiene-code"}))
    renewed = ok(await e2e.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}))
    me = auth(renewed["access_token"])
    wechat_phone = ok(await e2e.post("/api/v1/me/phone", json={"code": "phone-code"}, headers=me))["phone"]
    applied = ok(
        await e2e.post(
            "/api/v1/leader-applications",
            json={
                "name": "Qian Hui",
                "phone": APPLICANT_PHONE,
                "pickup_point": {"name": "Home", "address": ADDRESS, "community": "Quiet"},
            },
            headers=me,
        ),
        201,
    )
    assert applied["phone"] == APPLICANT_PHONE

    shop = await approved_leader(e2e, "leader-hygiene")
    ops = bearer("s_ops", ["ops"])
    product = ok(
        await e2e.post("/api/v1/products", json={"name": "Pears", "price_fen": 1500, "stock": 9}, headers=ops), 201
    )
    order = ok(
        await e2e.post(
            "/api/v1/orders",
            json={"leader_id": shop, "lines": [{"product_id": product["id"], "quantity": 2}]},
            headers=me | {"Idempotency-Key": "hygiene-order"},
        ),
        201,
    )
    await pay(e2e, apps["orders"], order, "tx-hygiene")
    await wiring.deliver()
    refund = {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "changed my mind"}
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/refunds", json=refund, headers=me), 201)
    await wiring.deliver()

    leaders = apps["leaders"]
    leaders.add_api_route("/test/failing-insert", failing_insert, methods=["POST"])
    transport = httpx.ASGITransport(app=leaders, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://leaders") as direct:
        failed = await direct.post("/test/failing-insert")
    assert failed.status_code == 500 and failed.json()["code"] == "INTERNAL_ERROR"

    # Every record as the services write it (their JSON formatter: message, extras and traceback).
    formatter = JsonFormatter("test")
    everything = logged = "\n".join(formatter.format(record) for record in caplog.records)
    # The checks below are live: the flow was logged, statements included, and the failing insert's error too.
    assert '"path":"/api/v1/orders"' in logged
    assert "INSERT INTO leader_applications" in logged
    assert "SQL parameters hidden" in logged
    failure = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert failure and "IntegrityError" in formatter.format(failure[-1])

    secrets = {
        "access token": pair["access_token"],
        "refreshed access token": renewed["access_token"],
        "refresh token": pair["refresh_token"],
        "new refresh token": renewed["refresh_token"],
        "token signature": renewed["access_token"].rsplit(".", 1)[-1],
        "applicant's phone": APPLICANT_PHONE,
        "phone from WeChat": wechat_phone,
        "phone of the failed insert": FAILED_INSERT_PHONE,
        "address (an SQL parameter)": ADDRESS,
        "payment secret": apps["orders"].state.settings.payment_secret,
        **{f"{s} service secret": development_service_secret(s) for s in SERVICES},
    }
    leaked = {name: value for name, value in secrets.items() if value and value in everything}
    assert not leaked, leaked
    assert "Bearer " not in everything
