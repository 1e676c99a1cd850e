"""Staff duties: which role may do what. The one table every service checks its staff routes against.

`ops` keeps meaning every operations permission. The narrower roles split the duties, so that a catalogue editor
cannot approve a withdrawal and a finance user cannot change a price. A route that staff call names the permission
it needs (`require_permission(Permission.CATALOGUE_MANAGE)`); a test walks every route and fails for a staff route
that names none. Object-level limits stay in the services: a `manager` holds `LEADERS_READ`, but only for the
leaders assigned to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class StaffRole(StrEnum):
    OPS = "ops"  # every operations permission
    CATALOGUE = "catalogue"  # products, prices, stock, categories, group-buys, flash sales
    FINANCE = "finance"  # withdrawals and payouts, refunds above the automatic limit, reconciliation
    LEADER_ADMIN = "leader_admin"  # leader applications, suspension, levels, managers
    SUPPORT = "support"  # after-sale review, tickets, reading customers' orders and profiles
    MANAGER = "manager"  # the one-to-one manager of the leaders assigned to them


class Permission(StrEnum):
    CATALOGUE_MANAGE = "catalogue.manage"
    ORDERS_READ = "orders.read"  # any customer's orders (support, finance, ops)
    ORDERS_OPERATE = "orders.operate"  # delivery cut-off, marking arrivals for a leader, order reconciliation
    REFUNDS_DECIDE = "refunds.decide"  # refund directly, approve refunds above the leader's and the automatic limit
    AFTERSALES_REVIEW = "aftersales.review"  # review after-sale requests
    TICKETS_HANDLE = "tickets.handle"  # answer and resolve tickets
    LEADERS_READ = "leaders.read"  # any leader's private data (a manager: their own leaders only)
    LEADERS_MANAGE = "leaders.manage"  # approve or reject applications, suspend, levels, assign managers
    COMMISSION_MANAGE = "commission.manage"  # commission rules, a settlement run now
    WITHDRAWALS_DECIDE = "withdrawals.decide"  # approve or reject withdrawals, payouts
    PAYMENTS_RECONCILE = "payments.reconcile"  # bills and reconciliation reports
    POINTS_MANAGE = "points.manage"  # points rules and manual adjustments
    USERS_LOOKUP = "users.lookup"  # a customer's profile, the phone number masked
    USERS_READ = "users.read"  # customers' profiles with their unmasked phone numbers
    STAFF_MANAGE = "staff.manage"  # staff accounts and their roles
    ANALYTICS_READ = "analytics.read"  # leaders' community figures (a manager: their own leaders' only)
    ANALYTICS_PLATFORM = "analytics.platform"  # figures across the whole platform
    CUSTOMERS_TAG = "customers.tag"  # define customer tags and put them on customers
    AUDIT_READ = "audit.read"  # the audit trail of staff actions
    EVENTS_OPERATE = "events.operate"  # outboxes, dead letters and their replay, cross-service reconciliation


ROLE_PERMISSIONS: Mapping[StaffRole, frozenset[Permission]] = {
    StaffRole.OPS: frozenset(Permission),
    StaffRole.CATALOGUE: frozenset({Permission.CATALOGUE_MANAGE, Permission.USERS_LOOKUP}),
    StaffRole.FINANCE: frozenset(
        {
            Permission.ORDERS_READ,
            Permission.REFUNDS_DECIDE,
            Permission.AFTERSALES_REVIEW,
            Permission.LEADERS_READ,
            Permission.COMMISSION_MANAGE,
            Permission.WITHDRAWALS_DECIDE,
            Permission.PAYMENTS_RECONCILE,
            Permission.AUDIT_READ,
            Permission.USERS_LOOKUP,
        }
    ),
    StaffRole.LEADER_ADMIN: frozenset(
        {Permission.LEADERS_READ, Permission.LEADERS_MANAGE, Permission.ANALYTICS_READ, Permission.USERS_LOOKUP}
    ),
    StaffRole.SUPPORT: frozenset(
        {
            Permission.ORDERS_READ,
            Permission.AFTERSALES_REVIEW,
            Permission.TICKETS_HANDLE,
            Permission.USERS_LOOKUP,
            Permission.USERS_READ,
        }
    ),
    StaffRole.MANAGER: frozenset({Permission.LEADERS_READ, Permission.ANALYTICS_READ, Permission.USERS_LOOKUP}),
}

STAFF_ROLES: frozenset[str] = frozenset(StaffRole)


def permissions_of(roles: Iterable[str]) -> frozenset[Permission]:
    """Everything the holder of `roles` may do as staff (nothing for customers, leaders and services)."""
    granted: set[Permission] = set()
    for role in roles:
        if role in STAFF_ROLES:
            granted |= ROLE_PERMISSIONS[StaffRole(role)]
    return frozenset(granted)
