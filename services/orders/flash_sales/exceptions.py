from __future__ import annotations

from services.common.errors import Conflict, NotFound


class FlashSaleNotFound(NotFound):
    code = "FLASH_SALE_NOT_FOUND"
    title = "No such flash sale"


class FlashSaleSoldOut(Conflict):
    code = "FLASH_SALE_SOLD_OUT"
    title = "The flash sale is sold out"


class FlashSaleLimitReached(Conflict):
    code = "FLASH_SALE_LIMIT_REACHED"
    title = "You already bought as many as this flash sale allows per person"


class FlashSaleNotActive(Conflict):
    code = "FLASH_SALE_NOT_ACTIVE"
    title = "The flash sale is not running now"


class NotEnoughProductStock(Conflict):
    code = "OUT_OF_STOCK"
    title = "The product does not have that much stock to set aside"
