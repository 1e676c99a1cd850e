"""A staff route names the permission it needs; each staff duty passes exactly where its permissions say."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI

from services.common.auth import Principal, require_permission
from services.common.errors import install_error_handlers
from services.common.permissions import ROLE_PERMISSIONS, Permission, StaffRole, permissions_of
from services.common.testing import asgi_client, bearer, verifier_for_tests

CatalogueStaff = Annotated[Principal, Depends(require_permission(Permission.CATALOGUE_MANAGE))]


def app_with_a_catalogue_route() -> FastAPI:
    router = APIRouter()

    @router.post("/prices")
    async def change_price(user: CatalogueStaff) -> dict[str, str]:
        return {"by": user.sub}

    app = FastAPI()
    app.state.token_verifier = verifier_for_tests()
    install_error_handlers(app)
    app.include_router(router)
    return app


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (["catalogue"], 200),
        (["ops"], 200),
        (["finance"], 403),
        (["support", "manager"], 403),
        (["customer", "leader"], 403),
    ],
)
async def test_a_staff_route_lets_through_only_the_duties_holding_its_permission(roles: list[str], status: int) -> None:
    async with asgi_client(app_with_a_catalogue_route()) as client:
        response = await client.post("/prices", headers=bearer("staff-1", roles))
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "MISSING_PERMISSION"


def test_ops_holds_every_permission_and_no_narrow_duty_holds_them_all() -> None:
    assert permissions_of(["ops"]) == frozenset(Permission)
    for role in StaffRole:
        if role is not StaffRole.OPS:
            assert ROLE_PERMISSIONS[role] < frozenset(Permission), role
    # The separations the duties exist for.
    assert Permission.CATALOGUE_MANAGE not in permissions_of(["finance"])
    assert Permission.WITHDRAWALS_DECIDE not in permissions_of(["catalogue"])
    assert permissions_of(["customer", "leader", "service"]) == frozenset()
