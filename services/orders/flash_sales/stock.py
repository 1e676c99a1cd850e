"""Who gets flash-sale stock: one atomic decision per buyer, in the database or in Redis.

Embedded (no `ORDERS_REDIS_URL`): the database decides, inside the order's transaction: the buyer's quota row
(unique per sale and user) and a guarded `UPDATE flash_sales SET remaining = remaining - q WHERE remaining >= q`.

Redis (`ORDERS_REDIS_URL` set): one Lua script checks the window, the buyer's limit and the stock and records the
buyer and a reservation token, atomically. The database then runs the same guarded statements as a mirror (so it
never oversells even if Redis was wrong) and writes the order. A reservation ends in exactly one of two ways: its order
row commits (it stays until the order is cancelled), or it is released (order insert failed, transaction rolled back,
order cancelled or expired). Release is idempotent by token, so the compensation paths may overlap safely.

Both modes keep an in-process sold-out flag: once a sale answered sold out, further buyers are told so from memory
for `ORDERS_FLASH_SOLD_OUT_TTL_SECONDS` without touching the database or Redis. The flag is cleared at once when this
process returns a unit; other processes see returned units when their flag expires.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.errors import DomainError
from services.common.txn import AfterTransaction
from services.orders.flash_sales import repository
from services.orders.flash_sales.exceptions import (
    FlashSaleLimitReached,
    FlashSaleNotActive,
    FlashSaleNotFound,
    FlashSaleSoldOut,
)
from services.orders.flash_sales.models import FlashSale

if TYPE_CHECKING:
    from services.orders.flash_sales.fastpath import FlashBatcher

log = logging.getLogger("services.orders.flash")

RESERVED = 1
SOLD_OUT = -1
LIMIT_REACHED = -2
NOT_ACTIVE = -3
NOT_LOADED = -4

# KEYS: meta, buyers, reservations. ARGV: user, quantity, now (ms), token.
_RESERVE = """
local m = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'starts', 'ends')
if not m[1] then return -4 end
local now = tonumber(ARGV[3])
if now < tonumber(m[3]) or now >= tonumber(m[4]) then return -3 end
local qty = tonumber(ARGV[2])
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if bought + qty > tonumber(m[2]) then return -2 end
if tonumber(m[1]) < qty then return -1 end
redis.call('HINCRBY', KEYS[1], 'remaining', -qty)
redis.call('HINCRBY', KEYS[1], 'reserved', 1)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
redis.call('HSET', KEYS[3], ARGV[4], qty .. ':' .. ARGV[1])
return 1
"""

# The same decision for a whole batch, in arrival order, in one call (one round trip and one script run for many
# buyers: what makes the Redis path scale with load). KEYS: meta, buyers, reservations. ARGV: now (ms), then
# user/quantity/token triples. Returns one outcome per buyer, or {-4} when the sale is not loaded.
_RESERVE_MANY = """
local m = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'starts', 'ends')
if not m[1] then return {-4} end
local now = tonumber(ARGV[1])
local remaining = tonumber(m[1])
local limit = tonumber(m[2])
local open = now >= tonumber(m[3]) and now < tonumber(m[4])
local out = {}
local reserved = 0
for i = 2, #ARGV, 3 do
  local user, qty, token = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  if not open then
    out[#out + 1] = -3
  else
    local bought = tonumber(redis.call('HGET', KEYS[2], user) or '0')
    if bought + qty > limit then
      out[#out + 1] = -2
    elseif remaining < qty then
      out[#out + 1] = -1
    else
      remaining = remaining - qty
      reserved = reserved + 1
      redis.call('HINCRBY', KEYS[2], user, qty)
      redis.call('HSET', KEYS[3], token, qty .. ':' .. user)
      out[#out + 1] = 1
    end
  end
end
if reserved > 0 then
  redis.call('HSET', KEYS[1], 'remaining', remaining)
  redis.call('HINCRBY', KEYS[1], 'reserved', reserved)
end
return out
"""

# KEYS: meta. ARGV: starts, ends (ms). A sale ended early by ops; nothing to do if Redis does not hold the sale
# (it is loaded from the database, new window included, when next needed).
_SET_WINDOW = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'starts', ARGV[1], 'ends', ARGV[2])
return 1
"""

# KEYS: meta, buyers, reservations. ARGV: token. Returns 1 if this call released it, 0 if it was already gone.
_RELEASE = """
local v = redis.call('HGET', KEYS[3], ARGV[1])
if not v then return 0 end
local sep = string.find(v, ':', 1, true)
local qty = tonumber(string.sub(v, 1, sep - 1))
local user = string.sub(v, sep + 1)
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'remaining', qty)
redis.call('HINCRBY', KEYS[1], 'released', 1)
if redis.call('HINCRBY', KEYS[2], user, -qty) <= 0 then redis.call('HDEL', KEYS[2], user) end
return 1
"""

# KEYS: meta, buyers, reservations. ARGV: tokens. Returns how many of them this call released.
_RELEASE_MANY = """
local released = 0
for i = 1, #ARGV do
  local v = redis.call('HGET', KEYS[3], ARGV[i])
  if v then
    local sep = string.find(v, ':', 1, true)
    local qty = tonumber(string.sub(v, 1, sep - 1))
    local user = string.sub(v, sep + 1)
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('HINCRBY', KEYS[1], 'remaining', qty)
    redis.call('HINCRBY', KEYS[1], 'released', 1)
    if redis.call('HINCRBY', KEYS[2], user, -qty) <= 0 then redis.call('HDEL', KEYS[2], user) end
    released = released + 1
  end
end
return released
"""

# KEYS: meta, buyers, reservations. ARGV: remaining, limit, starts, ends, stock, n_buyers, then buyer/qty pairs,
# then token/value pairs. Loads a sale once (from the database); a sale already loaded is left alone.
_LOAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n_buyers = tonumber(ARGV[6])
local i = 7
for _ = 1, n_buyers do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local n_res = 0
while i <= #ARGV do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  n_res = n_res + 1
  i = i + 2
end
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'limit', ARGV[2], 'starts', ARGV[3], 'ends', ARGV[4],
  'stock', ARGV[5], 'reserved', n_res, 'released', 0)
return 1
"""


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


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def new_token() -> str:
    """A reservation token that carries its creation time (ms, hex) before the dot, so the recovery step can tell
    a reservation whose order is still being written from one whose process died before the commit."""
    return f"{int(time.time() * 1000):x}.{uuid.uuid4().hex[:20]}"


def token_made_ms(token: str) -> int:
    """When the token was made (ms since the epoch); 0 for tokens of the older format (no time inside)."""
    head, dot, _ = token.partition(".")
    if not dot:
        return 0
    try:
        return int(head, 16)
    except ValueError:
        return 0


class RedisFlashStock:
    """The Redis side: keys carry a `{sale:<id>}` hash tag so one sale's keys live on one Redis Cluster slot."""

    def __init__(self, client: Redis, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._reserve_many = client.register_script(_RESERVE_MANY)
        self._release = client.register_script(_RELEASE)
        self._release_many = client.register_script(_RELEASE_MANY)
        self._load = client.register_script(_LOAD)
        self._set_window = client.register_script(_SET_WINDOW)

    def keys(self, sale_id: int) -> list[str]:
        tag = f"{self.prefix}:flash:{{sale:{sale_id}}}"
        return [f"{tag}:meta", f"{tag}:buyers", f"{tag}:reservations"]

    async def reserve(self, *, sale_id: int, user_id: str, quantity: int, now: datetime, token: str) -> int:
        return int(await self._reserve(keys=self.keys(sale_id), args=[user_id, quantity, _ms(now), token]))

    async def reserve_many(self, *, sale_id: int, purchases: Sequence[Any], now: datetime) -> list[int]:
        """`purchases` have `user_id`, `quantity` and `token`; one outcome per purchase (or [NOT_LOADED])."""
        args: list[Any] = [_ms(now)]
        for p in purchases:
            args += [p.user_id, p.quantity, p.token]
        return [int(x) for x in await self._reserve_many(keys=self.keys(sale_id), args=args)]

    async def release_many(self, *, sale_id: int, tokens: Sequence[str]) -> int:
        return int(await self._release_many(keys=self.keys(sale_id), args=list(tokens)))

    async def reservation_tokens(self, sale_id: int, *, made_from_ms: int, made_before_ms: int) -> list[str]:
        """Tokens made in [made_from_ms, made_before_ms) (tokens without a time count as made at 0).

        HSCAN in pages, not HKEYS: a big sale holds a reservation per order, and one reply with all of them would
        hold up Redis and then this event loop while it is decoded."""
        found: list[str] = []
        async for raw, _ in self.client.hscan_iter(self.keys(sale_id)[2], count=1000):
            token = raw.decode() if isinstance(raw, bytes) else raw
            if made_from_ms <= token_made_ms(token) < made_before_ms:
                found.append(token)
        return found

    async def release(self, *, sale_id: int, token: str) -> bool:
        return int(await self._release(keys=self.keys(sale_id), args=[token])) == 1

    async def load(
        self,
        terms: SaleTerms,
        *,
        remaining: int,
        buyers: dict[str, int],
        reservations: dict[str, tuple[str, int]],
    ) -> bool:
        args: list[Any] = [
            remaining,
            terms.per_user_limit,
            _ms(terms.starts_at),
            _ms(terms.ends_at),
            terms.stock,
            len(buyers),
        ]
        for user, units in buyers.items():
            args += [user, units]
        for token, (user, units) in reservations.items():
            args += [token, f"{units}:{user}"]
        return int(await self._load(keys=self.keys(terms.id), args=args)) == 1

    async def set_window(self, terms: SaleTerms) -> None:
        await self._set_window(keys=self.keys(terms.id)[:1], args=[_ms(terms.starts_at), _ms(terms.ends_at)])

    async def forget(self, sale_id: int) -> None:
        """Drop a closed sale's keys (its buyers and reservations can be many; the database has the counts)."""
        await self.client.delete(*self.keys(sale_id))

    async def snapshot(self, sale_id: int) -> dict[str, Any] | None:
        meta_key, buyers_key, res_key = self.keys(sale_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(meta_key)
            pipe.hgetall(buyers_key)
            pipe.hgetall(res_key)
            meta, buyers, reservations = await pipe.execute()
        if not meta:
            return None

        def text(value: bytes | str) -> str:
            return value.decode() if isinstance(value, bytes) else value

        meta = {text(k): int(text(v)) for k, v in meta.items()}
        parsed: dict[str, tuple[str, int]] = {}
        for token, value in reservations.items():
            units, _, user = text(value).partition(":")
            parsed[text(token)] = (user, int(units))
        return {
            "remaining": meta["remaining"],
            "reserved": meta.get("reserved", 0),
            "released": meta.get("released", 0),
            "buyers": {text(k): int(text(v)) for k, v in buyers.items()},
            "reservations": parsed,
        }


class FlashRuntime:
    """Per-process flash-sale state: cached sale terms, sold-out flags, and the Redis stock when configured."""

    def __init__(self, *, redis: RedisFlashStock | None, sold_out_ttl_seconds: float, after: AfterTransaction) -> None:
        self.redis = redis
        self.sold_out_ttl = sold_out_ttl_seconds
        #: The app's one after-transaction registry (`app.state.after_transaction`).
        self.after = after
        self._sold_out: dict[int, float] = {}
        self._terms: dict[int, SaleTerms] = {}
        #: Per sale, reservations made before this moment (ms) were already checked by this process's recovery.
        self.recovery_checked_before_ms: dict[int, int] = {}
        self.batcher: FlashBatcher | None = None

    # -- sold-out flags -------------------------------------------------------------------------------------------
    def has_sold_out(self) -> bool:
        """Whether any sale is flagged (expired flags included): the cheap first test of `soldout.SoldOutShortcut`."""
        return bool(self._sold_out)

    def known_sold_out(self, sale_id: int) -> bool:
        marked = self._sold_out.get(sale_id)
        if marked is None:
            return False
        if time.monotonic() - marked >= self.sold_out_ttl:
            del self._sold_out[sale_id]
            return False
        return True

    def mark_sold_out(self, sale_id: int) -> None:
        if self.sold_out_ttl > 0:
            self._sold_out[sale_id] = time.monotonic()

    def clear_sold_out(self, sale_id: int) -> None:
        self._sold_out.pop(sale_id, None)

    # -- terms ---------------------------------------------------------------------------------------------------
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

    # -- the decision --------------------------------------------------------------------------------------------
    async def decide(
        self, session: AsyncSession, *, terms: SaleTerms, user_id: str, quantity: int, now: datetime
    ) -> str | None:
        """Give `quantity` units of the sale to `user_id` or raise why not. Returns the Redis reservation token.

        The one place where stock is won: a later pass can batch the buyers of one event-loop tick through here.
        On success the database side (quota row and guarded stock update) is done in `session`; if that
        transaction does not commit, the Redis reservation is released.
        """
        if not terms.is_open(now):
            raise FlashSaleNotActive(f"Flash sale {terms.id} runs from {terms.starts_at} to {terms.ends_at}")
        token: str | None = None
        if self.redis is not None:
            token = new_token()
            outcome = await self.redis.reserve(
                sale_id=terms.id, user_id=user_id, quantity=quantity, now=now, token=token
            )
            if outcome == NOT_LOADED:
                await self._load(session, terms)
                outcome = await self.redis.reserve(
                    sale_id=terms.id, user_id=user_id, quantity=quantity, now=now, token=token
                )
            self._raise_refusal(terms, outcome)
        try:
            if not await repository.take_buyer_quota(
                session, sale_id=terms.id, user_id=user_id, quantity=quantity, limit=terms.per_user_limit
            ):
                raise FlashSaleLimitReached(f"At most {terms.per_user_limit} per person")
            if not await repository.take_sale_stock(session, sale_id=terms.id, quantity=quantity, now=now):
                if not await repository.sale_is_open(session, terms.id, now):
                    self.drop_terms(terms.id)  # ended early by ops: the cached window was stale
                    raise FlashSaleNotActive()
                if quantity == 1 or not await repository.sale_remaining(session, terms.id):
                    self.mark_sold_out(terms.id)
                raise FlashSaleSoldOut()
        except BaseException:
            if token is not None:
                await self.release_now(terms.id, token)
            raise
        if token is not None:
            self.release_on_rollback(session, terms.id, token)
        return token

    def _raise_refusal(self, terms: SaleTerms, outcome: int) -> None:
        if outcome == RESERVED:
            return
        raise self.refusal(terms, outcome)

    def refusal(self, terms: SaleTerms, outcome: int) -> DomainError:
        """The error for a refusing script outcome (and the sold-out flag when it says sold out)."""
        if outcome == SOLD_OUT:
            self.mark_sold_out(terms.id)
            return FlashSaleSoldOut()
        if outcome == LIMIT_REACHED:
            return FlashSaleLimitReached(f"At most {terms.per_user_limit} per person")
        if outcome == NOT_ACTIVE:
            return FlashSaleNotActive()
        raise RuntimeError(f"unexpected flash-sale script outcome {outcome}")

    async def load_sale(self, session: AsyncSession, terms: SaleTerms) -> None:
        await self._load(session, terms)

    async def _load(self, session: AsyncSession, terms: SaleTerms) -> None:
        assert self.redis is not None
        remaining = await repository.sale_remaining(session, terms.id)
        if remaining is None:
            raise FlashSaleNotFound()
        await self.redis.load(
            terms,
            remaining=remaining,
            buyers=await repository.buyer_quantities(session, terms.id),
            reservations=await repository.live_reservations(session, terms.id),
        )

    # -- returning units -----------------------------------------------------------------------------------------
    async def release_now(self, sale_id: int, token: str) -> None:
        assert self.redis is not None
        if await self.redis.release(sale_id=sale_id, token=token):
            self.clear_sold_out(sale_id)

    async def release_many(self, sale_id: int, tokens: Sequence[str]) -> None:
        assert self.redis is not None
        if await self.redis.release_many(sale_id=sale_id, tokens=tokens):
            self.clear_sold_out(sale_id)

    async def ended(self, terms: SaleTerms) -> None:
        """Ops ended the sale early (committed): Redis refuses from now on, whichever process asks it; processes
        that cached the old window are refused by Redis or by the guarded stock update on the sale's row."""
        self._terms[terms.id] = terms
        self.clear_sold_out(terms.id)  # "not running" is the answer now, not "sold out"
        if self.redis is not None:
            await self.redis.set_window(terms)

    async def forget(self, sale_id: int) -> None:
        """A closed sale: nothing of it is kept in this process or in Redis (other processes' cached terms say the
        window has passed, which is all they are asked)."""
        self.drop_terms(sale_id)
        self.clear_sold_out(sale_id)
        if self.redis is not None:
            await self.redis.forget(sale_id)

    def release_on_rollback(self, session: AsyncSession, sale_id: int, token: str) -> None:
        self.after.register(session, rolled_back=lambda: self.release_now(sale_id, token))

    def release_on_commit(self, session: AsyncSession, sale_id: int, token: str | None) -> None:
        """After a cancellation commits (the database got its units back), give the Redis reservation back too."""
        self.clear_sold_out(sale_id)
        if self.redis is not None and token is not None:
            self.after.register(session, committed=lambda: self.release_now(sale_id, token))

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.client.aclose()
