"""Per-process flash-sale state: the cached terms of each sale, the batcher, and the stock they draw on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.errors import DomainError
from services.orders.flash_sales import repository
from services.orders.flash_sales.exceptions import (
    FlashSaleLimitReached,
    FlashSaleNotActive,
    FlashSaleNotFound,
    FlashSaleSoldOut,
)
from services.orders.inventory.models import FlashSale
from services.orders.inventory.redis_stock import Outcome
from services.orders.inventory.service import Inventory


@dataclass(frozen=True, slots=True)
class SaleTerms:
    """What a buyer's request needs to know about a sale, cached per process. Only the end can change (ops ending a
    sale early), and the authorities re-check it: the Redis script and the guarded updates on the sale's row."""

    id: int
    product_id: int
    product_name: str
    price_fen: int
    stock: int
    per_user_limit: int
    starts_at: datetime
    ends_at: datetime

    @classmethod
    def of(cls, sale: FlashSale) -> SaleTerms:
        assert sale.id is not None
        return cls(
            id=sale.id,
            product_id=sale.product_id,
            product_name=sale.product_name,
            price_fen=sale.price_fen,
            stock=sale.stock,
            per_user_limit=sale.per_user_limit,
            starts_at=sale.starts_at,
            ends_at=sale.ends_at,
        )

    def is_open(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


class FlashRuntime:
    def __init__(self, *, inventory: Inventory) -> None:
        self.inventory = inventory
        self._terms: dict[int, SaleTerms] = {}
        #: Per sale, reservations made before this moment (ms) were already checked by this process's recovery.
        self.recovery_checked_before_ms: dict[int, int] = {}
        #: Made on the first purchase (`service.buy`), when the app's database exists.

    def drop_terms(self, sale_id: int) -> None:
        self._terms.pop(sale_id, None)

    def cached_terms(self, sale_id: int) -> SaleTerms | None:
        return self._terms.get(sale_id)

    async def terms(self, session: AsyncSession, sale_id: int) -> SaleTerms:
        cached = self._terms.get(sale_id)
        if cached is not None:
            return cached
        sale = await repository.get_sale(session, sale_id)
        if sale is None:
            raise FlashSaleNotFound(f"Flash sale {sale_id} does not exist")
        terms = SaleTerms.of(sale)
        self._terms[sale_id] = terms
        return terms

    def refusal(self, terms: SaleTerms, outcome: int) -> DomainError:
        """The error for a refusing Redis outcome (and the sold-out flag when it says sold out)."""
        if outcome == Outcome.SOLD_OUT:
            self.inventory.mark_sold_out(terms.id)
            return FlashSaleSoldOut()
        if outcome == Outcome.LIMIT_REACHED:
            return FlashSaleLimitReached(f"At most {terms.per_user_limit} per person")
        if outcome == Outcome.NOT_ACTIVE:
            return FlashSaleNotActive()
        raise RuntimeError(f"unexpected flash-sale script outcome {outcome}")

    async def ended(self, terms: SaleTerms) -> None:
        """Ops ended the sale early (committed): Redis refuses from now on, whichever process asks it; processes
        that cached the old window are refused by Redis or by the guarded stock update on the sale's row."""
        self._terms[terms.id] = terms
        self.inventory.clear_sold_out(terms.id)  # "not running" is the answer now, not "sold out"
        if self.inventory.redis is not None:
            await self.inventory.redis.set_window(terms.id, starts_at=terms.starts_at, ends_at=terms.ends_at)

    async def forget(self, sale_id: int) -> None:
        """A closed sale: nothing of it is kept in this process or in Redis (other processes' cached terms say the
        window has passed, which is all they are asked)."""
        self.drop_terms(sale_id)
        self.inventory.clear_sold_out(sale_id)
        if self.inventory.redis is not None:
            await self.inventory.redis.forget(sale_id)
