"""Alembic environment of the orders service (its own scripts, its own version table)."""

from services.common.migrate import run_env
from services.orders.models import metadata

run_env(metadata)
