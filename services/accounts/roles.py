"""The roles accounts puts in tokens.

People: every WeChat user is a `customer`; a user whom leaders reports as an active leader is also a `leader`.
Staff hold the duties they were given: `ops` means every operations permission; the others split them.
`service` is only ever given to service identities (audience `groupbuy-internal`), never to a person.
"""

from __future__ import annotations

from typing import Literal, get_args

CUSTOMER = "customer"
LEADER = "leader"
OPS = "ops"
SUPPORT = "support"
SERVICE = "service"

StaffRole = Literal["ops", "catalogue", "finance", "leader_admin", "support", "manager"]
#: catalogue: products and prices; finance: withdrawals, payouts, refunds above the automatic limit;
#: leader_admin: leader applications and status; support: customers' questions (reads personal data);
#: manager: the one-to-one manager of the leaders assigned to them.
STAFF_ROLES: frozenset[str] = frozenset(get_args(StaffRole))
PersonRole = Literal["customer", "leader", "ops", "catalogue", "finance", "leader_admin", "support", "manager"]
PERSON_ROLES: frozenset[str] = frozenset(get_args(PersonRole))
