from __future__ import annotations

from services.common.errors import Conflict, NotFound


class ProductNotFound(NotFound):
    code = "PRODUCT_NOT_FOUND"
    title = "No such product"


class SkuNotFound(NotFound):
    code = "SKU_NOT_FOUND"
    title = "No such SKU of this product"


class SkuNameTaken(Conflict):
    code = "SKU_NAME_TAKEN"
    title = "The product already has a SKU of this name"


class ProductArchived(Conflict):
    code = "PRODUCT_ARCHIVED"
    title = "An archived product cannot change any more"
