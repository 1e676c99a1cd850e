from __future__ import annotations

from services.common.errors import NotFound


class ProductNotFound(NotFound):
    code = "PRODUCT_NOT_FOUND"
    title = "No such product"
