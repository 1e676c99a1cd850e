"""Alembic environment of the accounts service (its own scripts, its own version table)."""

from services.accounts.models import metadata
from services.common.migrate import run_env

run_env(metadata)
