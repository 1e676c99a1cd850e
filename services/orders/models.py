"""Every table of the orders service, imported in one place so the metadata (and Alembic) sees them all."""

from services.orders.aftersales.models import AfterSaleDecision, AfterSaleLine, AfterSaleRequest
from services.orders.categories.models import Category
from services.orders.db import metadata
from services.orders.delivery.models import DeliveryBatch, DeliveryBatchItem, DeliveryShortage, DeliveryShortageRefund
from services.orders.inventory.models import FlashSale, FlashSalePurchase
from services.orders.orders.models import Order, OrderLine, OrderLog, Refund, RefundLine
from services.orders.payments.models import Payment
from services.orders.products.group_buy_models import (
    GroupBuy,
    GroupBuyItem,
    GroupBuyOutcome,
    GroupBuyQuota,
    GroupBuyRegion,
)
from services.orders.products.models import PriceChange, Product, ProductNameGram, ProductSku
from services.orders.tickets.models import Ticket, TicketHistory, TicketReply

__all__ = [
    "AfterSaleDecision",
    "AfterSaleLine",
    "AfterSaleRequest",
    "Category",
    "DeliveryBatch",
    "DeliveryBatchItem",
    "DeliveryShortage",
    "DeliveryShortageRefund",
    "FlashSale",
    "FlashSalePurchase",
    "GroupBuy",
    "GroupBuyItem",
    "GroupBuyOutcome",
    "GroupBuyQuota",
    "GroupBuyRegion",
    "Order",
    "OrderLine",
    "OrderLog",
    "Payment",
    "PriceChange",
    "Product",
    "ProductNameGram",
    "ProductSku",
    "Refund",
    "RefundLine",
    "Ticket",
    "TicketHistory",
    "TicketReply",
    "metadata",
]
