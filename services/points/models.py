"""Every table of the points service, imported in one place so the metadata (and Alembic) sees them all."""

from services.points.db import metadata

__all__ = ["metadata"]
