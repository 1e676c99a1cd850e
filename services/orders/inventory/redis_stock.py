"""Flash-sale stock in Redis: one Lua script decides a batch of buyers (window, per-buyer limit, stock) and records
each winner's reservation token, atomically. Keys carry a `{sale:<id>}` hash tag so one sale's keys live on one
Redis Cluster slot. A reservation ends as its order (the token is on the order row) or as one release (idempotent by
token), never both.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

from redis.asyncio import Redis


class Outcome(IntEnum):
    """What `reserve_many.lua` answers for one buyer."""

    RESERVED = 1
    SOLD_OUT = -1
    LIMIT_REACHED = -2
    NOT_ACTIVE = -3
    NOT_LOADED = -4


class Reservation(Protocol):
    @property
    def user_id(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def token(self) -> str | None: ...


def _script(name: str) -> str:
    return (Path(__file__).parent / f"{name}.lua").read_text()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def new_token() -> str:
    """A reservation token that carries its creation time (ms, hex) before the dot, so the recovery step can tell
    a reservation whose order is still being written from one whose process died before the commit."""
    return f"{int(time.time() * 1000):x}.{uuid.uuid4().hex[:20]}"


def token_made_ms(token: str) -> int:
    """When the token was made (ms since the epoch)."""
    return int(token.partition(".")[0], 16)


class RedisSaleStock:
    def __init__(self, client: Redis, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._reserve_many = client.register_script(_script("reserve_many"))
        self._release_many = client.register_script(_script("release_many"))
        self._load = client.register_script(_script("load"))
        self._set_window = client.register_script(_script("set_window"))

    def keys(self, sale_id: int) -> list[str]:
        tag = f"{self.prefix}:flash:{{sale:{sale_id}}}"
        return [f"{tag}:meta", f"{tag}:buyers", f"{tag}:reservations"]

    async def reserve_many(self, *, sale_id: int, reservations: Sequence[Reservation], now: datetime) -> list[int]:
        """One outcome per reservation (its token must be set), or [NOT_LOADED]."""
        args: list[Any] = [_ms(now)]
        for r in reservations:
            args += [r.user_id, r.quantity, r.token]
        return [int(x) for x in await self._reserve_many(keys=self.keys(sale_id), args=args)]

    async def release_many(self, *, sale_id: int, tokens: Sequence[str]) -> int:
        return int(await self._release_many(keys=self.keys(sale_id), args=list(tokens)))

    async def reservation_tokens(self, sale_id: int, *, made_from_ms: int, made_before_ms: int) -> list[str]:
        """Tokens made in [made_from_ms, made_before_ms).

        HSCAN in pages, not HKEYS: a big sale holds a reservation per order, and one reply with all of them would
        hold up Redis and then this event loop while it is decoded."""
        found: list[str] = []
        async for raw, _ in self.client.hscan_iter(self.keys(sale_id)[2], count=1000):
            token = raw.decode() if isinstance(raw, bytes) else raw
            if made_from_ms <= token_made_ms(token) < made_before_ms:
                found.append(token)
        return found

    async def load(
        self,
        sale_id: int,
        *,
        remaining: int,
        stock: int,
        per_user_limit: int,
        starts_at: datetime,
        ends_at: datetime,
        buyers: dict[str, int],
        reservations: dict[str, tuple[str, int]],
    ) -> bool:
        args: list[Any] = [remaining, per_user_limit, _ms(starts_at), _ms(ends_at), stock, len(buyers)]
        for user, units in buyers.items():
            args += [user, units]
        for token, (user, units) in reservations.items():
            args += [token, f"{units}:{user}"]
        return int(await self._load(keys=self.keys(sale_id), args=args)) == 1

    async def set_window(self, sale_id: int, *, starts_at: datetime, ends_at: datetime) -> None:
        await self._set_window(keys=self.keys(sale_id)[:1], args=[_ms(starts_at), _ms(ends_at)])

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
