"""idempotency keys scoped by their concrete target (method and path with its ids), not the route template

Revision ID: 5e1d7c2a9b30
Revises: 927ffa800006
Create Date: 2026-12-07 11:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

from services.common.idempotency import rescope_template_keys

revision: str = "5e1d7c2a9b30"
down_revision: str | None = "927ffa800006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (route template, its path parameter, the field of the stored answer holding the parameter's value).
RESCOPED = (
    ("POST /api/v1/flash-sales/{sale_id}/orders", "{sale_id}", "flash_sale_id"),
    ("POST /api/v1/orders/{order_id}/refunds", "{order_id}", "order_id"),
    ("POST /api/v1/orders/{order_id}/after-sales", "{order_id}", "order_id"),
)


def upgrade() -> None:
    # Keys were scoped by route template; they are now scoped by method and concrete path. Each stored answer names
    # its target, so the keys of routes with an id in the path move to their concrete path.
    rescope_template_keys(op.get_bind(), RESCOPED)


def downgrade() -> None:
    # Concrete scopes stay: a template-scoped lookup no longer finds them, so retries across a downgrade run afresh.
    pass
