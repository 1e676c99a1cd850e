"""idempotency keys scoped by their concrete target (method and path with its ids), not the route template

Revision ID: 5e1d7c2a9b30
Revises: 927ffa800006
Create Date: 2026-12-07 11:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

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
    # Idempotency keys were scoped by route template; they are now scoped by method and concrete path. Each stored
    # answer names its target, so the keys of routes with an id in the path move to their concrete path; a key
    # whose target cannot be read (no stored answer: never committed) is dropped.
    dialect = op.get_bind().dialect.name
    for template, placeholder, field in RESCOPED:
        if dialect == "postgresql":
            target = f"convert_from(response_body, 'UTF8')::jsonb ->> '{field}'"
        else:
            target = f"json_extract(CAST(response_body AS TEXT), '$.{field}')"
        op.execute(
            sa.text(
                f"UPDATE idempotency_keys SET route = replace(route, '{placeholder}', CAST({target} AS TEXT)) "  # noqa: S608 - constants
                f"WHERE route = :template AND response_body IS NOT NULL AND {target} IS NOT NULL"
            ).bindparams(template=template)
        )
        op.execute(sa.text("DELETE FROM idempotency_keys WHERE route = :template").bindparams(template=template))


def downgrade() -> None:
    # Concrete scopes stay: a template-scoped lookup no longer finds them, so retries across a downgrade run afresh.
    pass
