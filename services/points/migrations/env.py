"""Alembic environment of the points service (its own scripts, its own version table)."""

from services.common.migrate import run_env
from services.points.models import metadata

run_env(metadata)
