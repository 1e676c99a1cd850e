"""Alembic environment of the analytics service (its own scripts, its own version table)."""

from services.analytics import models  # noqa: F401 - registers the tables on the metadata
from services.analytics.db import metadata
from services.common.migrate import run_env

run_env(metadata)
