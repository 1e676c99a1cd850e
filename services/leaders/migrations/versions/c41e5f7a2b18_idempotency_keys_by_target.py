"""idempotency keys scoped by their concrete target: move the stored withdrawal keys

A key used to be scoped by the route template; it is now scoped by the concrete path, so the same key on another
leader's withdrawals is another request. Keys stored under the template move to the path their stored answer names,
so a retry sent across the upgrade still replays.

Revision ID: c41e5f7a2b18
Revises: b8d4f02a1c53
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from services.common.idempotency import rescope_template_keys

revision: str = "c41e5f7a2b18"
down_revision: str | None = "b8d4f02a1c53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    rescope_template_keys(op.get_bind(), [("POST /api/v1/leaders/{leader_id}/withdrawals", "{leader_id}", "leader_id")])


def downgrade() -> None:
    # Concrete scopes stay: a template-scoped lookup no longer finds them, so retries across a downgrade run afresh.
    pass
