"""Every table of the orders service, imported in one place so the metadata (and Alembic) sees them all."""

from services.orders.db import metadata
from services.orders.products.models import Product

__all__ = ["Product", "metadata"]
