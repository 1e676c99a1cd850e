from __future__ import annotations

from services.common.errors import Conflict


class PurchaseNotCredited(Conflict):
    code = "PURCHASE_NOT_CREDITED"
    title = "A refund after pickup arrived before the pickup itself was applied"
