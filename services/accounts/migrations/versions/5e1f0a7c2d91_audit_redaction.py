"""audit trail: an entry about an erased person may have its text values erased, once

The append-only triggers now let exactly one UPDATE through: one that sets `redacted_at` where it was empty and
changes nothing but `before`, `after` and `redacted_at`. DELETE, and every other UPDATE, stay refused.

Revision ID: 5e1f0a7c2d91
Revises: ea3be9e60c47
Create Date: 2026-12-07 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "5e1f0a7c2d91"
down_revision: str | None = "ea3be9e60c47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Columns a redaction must leave as they were.
_KEPT = (
    "id",
    "event_id",
    "service",
    "actor",
    "actor_username",
    "action",
    "target_type",
    "target_id",
    "at",
    "recorded_at",
)


def _sqlite_update_trigger(redaction_allowed: bool) -> str:
    refuse = "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END"
    if not redaction_allowed:
        return f"CREATE TRIGGER audit_entries_append_only_update BEFORE UPDATE ON audit_entries {refuse}"
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in (*_KEPT, "actor_roles"))
    redaction = f"OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL AND {unchanged}"
    return f"CREATE TRIGGER audit_entries_append_only_update BEFORE UPDATE ON audit_entries WHEN NOT ({redaction}) {refuse}"


_PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL "
    "AND ({new}, NEW.actor_roles::text) IS NOT DISTINCT FROM ({old}, OLD.actor_roles::text) THEN RETURN NEW; END IF; "
    "RAISE EXCEPTION 'audit_entries is append-only' USING ERRCODE = 'insufficient_privilege'; END $$"
).format(new=", ".join(f"NEW.{c}" for c in _KEPT), old=", ".join(f"OLD.{c}" for c in _KEPT))

_PG_FUNCTION_BEFORE = (
    "CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_entries is append-only' USING ERRCODE = 'insufficient_privilege'; END $$"
)


def upgrade() -> None:
    # Not batch mode: on SQLite a batch would copy the table and lose its triggers; ADD COLUMN keeps them.
    op.add_column(
        "audit_entries", sa.Column("redacted_at", services.common.db.UTCDateTime(timezone=True), nullable=True)
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only_update")
        op.execute(_sqlite_update_trigger(redaction_allowed=True))
    else:
        op.execute(_PG_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only_update")  # it names the column
        op.drop_column("audit_entries", "redacted_at")
        op.execute(_sqlite_update_trigger(redaction_allowed=False))
    else:
        op.execute(_PG_FUNCTION_BEFORE)
        op.drop_column("audit_entries", "redacted_at")
