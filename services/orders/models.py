"""Every table of the orders service, imported in one place so the metadata (and Alembic) sees them all."""

from services.orders.db import metadata
from services.orders.delivery.models import DeliveryBatch, DeliveryBatchItem
from services.orders.inventory.models import FlashSale, FlashSalePurchase
from services.orders.orders.models import Order, OrderLine, OrderLog, Refund, RefundLine
from services.orders.payments.models import Payment
from services.orders.products.models import Product

__all__ = [
    "DeliveryBatch",
    "DeliveryBatchItem",
    "FlashSale",
    "FlashSalePurchase",
    "Order",
    "OrderLine",
    "OrderLog",
    "Payment",
    "Product",
    "Refund",
    "RefundLine",
    "metadata",
]
