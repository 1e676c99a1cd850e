"""The audit trail of staff actions: the one way a service records who changed what, from which value to which.

A staff route's service function calls `record(...)` in the transaction of the action itself, so the entry exists if
and only if the action committed. The entry travels through the service's outbox as `audit.recorded`; the accounts
service keeps the trail (`services/accounts/audit/`), append-only, and staff holding `audit.read` query it.
Accounts records its own staff actions directly, with the same payload (`entry`).

`before` and `after` hold only the values the action is about (a price, a status, a rule), converted to JSON here,
so the trail never depends on a service's models. They hold ids, amounts, statuses and rules, never free text such
as a reason: a reason may name a person, and the trail cannot be anonymised when that person is erased, so it stays
with the row it explains (the leader's history, the ledger entry, the order log), which the trail names by id.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal, current_caller
from services.common.db import Database
from services.common.events.contract import AUDIT_RECORDED, AuditRecorded
from services.common.events.store import Outbox
from services.common.permissions import STAFF_ROLES

#: Prefix of the actor of a command run by hand (`groupbuy settle`...): `cli:<os user>`.
CLI_ACTOR_PREFIX = "cli:"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a staff member's user id and the duties they acted with, or the CLI's operator."""

    id: str
    roles: tuple[str, ...] = ()


def cli_actor() -> Actor:
    """The person running a command by hand, named by their operating-system account."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container running as an unnamed uid)
        user = "unknown"
    return Actor(id=CLI_ACTOR_PREFIX + user)


def _actor(actor: Principal | Actor | str) -> Actor:
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, str):
        # Most service functions are handed the caller's id only: the request's caller, when it is that same
        # person, says which duties they acted with.
        caller = current_caller()
        if caller is None or caller.sub != actor:
            return Actor(id=actor)
        actor = caller
    # Only the staff duties: a staff member may also hold `customer`, which says nothing about this action.
    return Actor(id=actor.sub, roles=tuple(sorted(actor.roles & STAFF_ROLES)))


def _values(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    converted = to_jsonable_python(dict(values))
    assert isinstance(converted, dict)
    return converted


def entry(
    *,
    service: str,
    actor: Principal | Actor | str,
    action: str,
    target: tuple[str, str | int],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    at: datetime,
) -> AuditRecorded:
    """The audit payload of one action (see `record`)."""
    who = _actor(actor)
    target_type, target_id = target
    return AuditRecorded(
        service=service,
        actor=who.id,
        actor_roles=list(who.roles),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=_values(before),
        after=_values(after),
        at=at,
    )


async def record(
    session: AsyncSession,
    outbox: Outbox,
    *,
    actor: Principal | Actor | str,
    action: str,
    target: tuple[str, str | int],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    at: datetime,
) -> None:
    """Record one staff action in the caller's transaction (it reaches the trail only if that commits).

    `actor` is the calling staff member (their `Principal`), their user id where the service function has only
    that (the duties then come from the request's caller), or `cli_actor()`; `action` is `<resource>.<verb>`
    (`product.updated`); `target` the changed thing's type and id; `before` / `after` the values the action
    changed, None where there was nothing (a creation has no `before`, a run has no single `after`).
    """
    payload = entry(service=outbox.source, actor=actor, action=action, target=target, before=before, after=after, at=at)
    await outbox.record(
        session,
        type=AUDIT_RECORDED,
        aggregate=f"{payload.target_type}:{payload.target_id}"[:100],
        data=payload.model_dump(mode="json"),
    )


async def record_run(
    db: Database,
    outbox: Outbox,
    *,
    actor: Principal | Actor | str,
    action: str,
    target: tuple[str, str | int],
    result: Mapping[str, Any] | BaseModel,
    at: datetime,
) -> None:
    """Record a run that a staff member (or the CLI's operator) started: settlement, cut-off, refunds...

    A run commits many transactions of its own (one per item), so it has no single transaction to share: the entry
    is written once the run has finished, with what it did as `after`. Every effect of the run stays recorded where
    it belongs (ledgers, order logs); the entry says who started it and what came of it.
    """
    values = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    async with db.transaction() as session:
        await record(session, outbox, actor=actor, action=action, target=target, before=None, after=values, at=at)


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values differ, from both sides (an update's entry names what it changed)."""
    keys: Sequence[str] = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}
