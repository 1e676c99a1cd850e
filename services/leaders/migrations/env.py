"""Alembic environment of the leaders service (its own scripts, its own version table)."""

from services.common.migrate import run_env
from services.leaders.models import metadata

run_env(metadata)
