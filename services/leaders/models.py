"""Every table of the leaders service, imported in one place so the metadata (and Alembic) sees them all."""

from services.leaders.db import metadata

__all__ = ["metadata"]
