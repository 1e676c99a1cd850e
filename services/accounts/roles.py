"""The roles accounts puts in tokens.

People: every WeChat user is a `customer`; a user whom leaders reports as an active leader is also a `leader`.
Staff hold the duties they were given (`services.common.permissions.StaffRole`): `ops` means every operations
permission; the others split them. `service` is only ever given to service identities (audience
`groupbuy-internal`), never to a person.
"""

from __future__ import annotations

from enum import StrEnum

from services.common.permissions import StaffRole

__all__ = ["CUSTOMER", "LEADER", "OPS", "PERSON_ROLES", "SERVICE", "STAFF_ROLES", "PersonRole", "StaffRole"]

CUSTOMER = "customer"
LEADER = "leader"
OPS = "ops"
SERVICE = "service"


class PersonRole(StrEnum):
    """A role a person's token may carry (the development login names any of them, never `service`)."""

    CUSTOMER = "customer"
    LEADER = "leader"
    OPS = "ops"
    CATALOGUE = "catalogue"
    FINANCE = "finance"
    LEADER_ADMIN = "leader_admin"
    SUPPORT = "support"
    MANAGER = "manager"


STAFF_ROLES: frozenset[str] = frozenset(StaffRole)
PERSON_ROLES: frozenset[str] = frozenset(PersonRole)
