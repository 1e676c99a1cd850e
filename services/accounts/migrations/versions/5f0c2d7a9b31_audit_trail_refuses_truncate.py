"""audit trail refuses TRUNCATE too (PostgreSQL)

A row trigger does not fire for TRUNCATE, which would empty the trail in one statement: a statement trigger refuses
it as well. SQLite has no TRUNCATE (its `DELETE FROM` without WHERE fires the row triggers already refusing it).

Revision ID: 5f0c2d7a9b31
Revises: ea3be9e60c47
Create Date: 2026-12-07 12:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5f0c2d7a9b31"
down_revision: str | None = "ea3be9e60c47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute(
            "CREATE TRIGGER audit_entries_append_only_truncate BEFORE TRUNCATE ON audit_entries "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only_truncate ON audit_entries")
