"""Request dependencies for what `create_app` put on `app.state` (tests replace these objects with fakes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.common.app import from_app_state
from services.common.db import Database
from services.common.txn import AfterTransaction
from services.orders.clients import LeaderDirectory, PointsClient
from services.orders.config import Settings
from services.orders.inventory.service import Inventory
from services.orders.payment_provider import PayerDirectory, PaymentProvider, RefundProvider

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
DatabaseDep = Annotated[Database, Depends(from_app_state("db"))]
LeadersDep = Annotated[LeaderDirectory, Depends(from_app_state("leaders"))]
PointsDep = Annotated[PointsClient, Depends(from_app_state("points"))]
InventoryDep = Annotated[Inventory, Depends(from_app_state("inventory"))]
AfterDep = Annotated[AfterTransaction, Depends(from_app_state("after_transaction"))]
RefundProviderDep = Annotated[RefundProvider, Depends(from_app_state("refund_provider"))]
PaymentProviderDep = Annotated[PaymentProvider, Depends(from_app_state("payment_provider"))]
PayersDep = Annotated[PayerDirectory, Depends(from_app_state("payers"))]
