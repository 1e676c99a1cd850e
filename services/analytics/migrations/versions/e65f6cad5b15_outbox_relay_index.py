"""outbox: an index for the relay's held-back checks

The relay's batch query leaves out events whose aggregate has a dead event or one waiting for its retry. Those
checks look up an aggregate's events by status (and due time); without this index each run read every pending and
dead row, so a stuck backlog made every batch slow.

Revision ID: e65f6cad5b15
Revises: 77835dba21b3
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e65f6cad5b15"
down_revision: str | None = "77835dba21b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_aggregate_status_next_attempt_at", ["aggregate", "status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_aggregate_status_next_attempt_at")
