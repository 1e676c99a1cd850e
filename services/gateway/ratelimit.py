"""Rate limits on the routes worth abusing, checked by the gateway before a request is forwarded.

Which routes: sign-in and refresh, placing an order, buying in a flash sale, binding a referral and the payment
notifications (`LIMITED_ROUTES`). Each has a limit per client address and, where the caller is signed in, one per
user (the `sub` of a token the gateway has verified, never one it has not). Limits are strings the `limits` library
parses (`"5/second;30/minute"`: every part must hold); the algorithm is its sliding window counter: two counters
per key, smooth at window edges (a fixed window lets twice the limit through across an edge). A request is checked
against all its limits at once and a refused one counts against none of them.

Storage: `memory://` keeps the counts in the process (each gateway worker counts alone), `redis://…` keeps them in
Redis, shared by every worker and every gateway replica. Both stores are the gateway's own, for cost (figures in
bench/README.md): the library's memory storage sweeps every key for expired ones about once per request
(milliseconds per request with 10,000 buyers' keys), and its Redis storage makes one call per limit, three for a
flash purchase, where `RedisWindows` makes one script call per request. `LocalWindows` implements the library's
storage interface, so its strategies run on it too (a test holds it to them).

If Redis fails, requests pass (the limits protect the services, and a limiter that is down must not take the shop
down with it): the failure is logged, and the limiter is not asked again for a second.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio
from limits import RateLimitItem, parse_many
from limits.aio.storage import SlidingWindowCounterSupport, Storage
from starlette.types import Scope

log = logging.getLogger("services.gateway.ratelimit")

#: Route name -> (method, path patterns, whether it has a per-user limit). A `*` segment matches any one segment.
#: Sign-in, refresh and the notifications carry no bearer token, so they are limited per address only.
LIMITED_ROUTES: Mapping[str, tuple[str, tuple[str, ...], bool]] = {
    "sign_in": ("POST", ("/api/v1/auth/wechat", "/api/v1/auth/staff", "/api/v1/auth/refresh"), False),
    "orders": ("POST", ("/api/v1/orders",), True),
    "flash": ("POST", ("/api/v1/flash-sales/*/orders",), True),
    "referrals": ("POST", ("/api/v1/referrals/bind",), True),
    "notify": ("POST", ("/api/v1/payments/notify", "/api/v1/payments/wechat/notify"), False),
}

#: Keys the memory storage holds at most; past it, the oldest key is forgotten for each new one (its caller starts
#: afresh), so a flood of new addresses costs bounded memory.
MAX_LOCAL_KEYS = 1_000_000
#: How often the memory storage drops the keys whose windows are over.
SWEEP_SECONDS = 10.0
#: After the storage failed, requests pass unchecked for this long (not one timeout per request while Redis is down).
FAILED_STORAGE_PAUSE_SECONDS = 1.0
#: Redis is asked with short timeouts: a slow limiter must not make every limited request slow.
REDIS_TIMEOUT_SECONDS = 0.5


def parse_limits(value: str) -> tuple[RateLimitItem, ...]:
    """`"5/second;30/minute"` -> the limits, every one of which must hold; `""` -> none. Raises ValueError."""
    value = value.strip()
    if not value:
        return ()
    items = tuple(parse_many(value))
    if any(item.amount < 1 for item in items):
        raise ValueError(f"{value!r}: a limit allows at least one request")
    return items


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit of a rule, with what every check of it needs worked out once: the key prefix (the caller's user
    or address is appended), the amount and the window in seconds."""

    item: RateLimitItem
    prefix: str
    amount: int
    expiry: int

    @classmethod
    def of(cls, item: RateLimitItem, rule: str, scope: str) -> Limit:
        prefix = f"{item.namespace}/{rule}/{scope}/{item.amount}/{item.multiples}/{item.GRANULARITY.name}/"
        return cls(item, prefix, item.amount, item.get_expiry())


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    per_user: tuple[RateLimitItem, ...]
    per_address: tuple[RateLimitItem, ...]
    user_limits: tuple[Limit, ...] = ()
    address_limits: tuple[Limit, ...] = ()
    all_limits: tuple[Limit, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_limits", tuple(Limit.of(i, self.name, "user") for i in self.per_user))
        object.__setattr__(self, "address_limits", tuple(Limit.of(i, self.name, "address") for i in self.per_address))
        object.__setattr__(self, "all_limits", self.user_limits + self.address_limits)


class RuleTable:
    """Which rule a request falls under: a dict lookup for the exact paths, a few string tests for `*` patterns,
    and nothing at all for a method no rule names (most requests are GETs)."""

    def __init__(self, rules: Mapping[str, Rule], routes: Mapping[str, tuple[str, tuple[str, ...], bool]]) -> None:
        self._exact: dict[tuple[str, str], Rule] = {}
        # method, the text before the `*`, the text after it, the rule
        self._wild: list[tuple[str, str, str, Rule]] = []
        for name, (method, patterns, _) in routes.items():
            rule = rules.get(name)
            if rule is None or not (rule.per_user or rule.per_address):
                continue
            for pattern in patterns:
                if "*" in pattern:
                    before, _, after = pattern.partition("*")
                    if "*" in after or not before.endswith("/") or not (after == "" or after.startswith("/")):
                        raise ValueError(f"{pattern!r}: at most one `*`, standing for a whole segment")
                    self._wild.append((method, before, after, rule))
                else:
                    self._exact[method, pattern] = rule
        self.methods = frozenset(method for method, _ in self._exact) | {method for method, *_ in self._wild}

    def match(self, method: str, path: str) -> Rule | None:
        if method not in self.methods:
            return None
        rule = self._exact.get((method, path))
        if rule is not None or not self._wild:
            return rule
        for wild_method, before, after, wild_rule in self._wild:
            if wild_method == method and path.startswith(before) and path.endswith(after):
                segment = path[len(before) : len(path) - len(after)]
                if segment and "/" not in segment:  # `*` is one whole, non-empty segment
                    return wild_rule
        return None


def rules_from_settings(settings: object) -> dict[str, Rule]:
    """One rule per limited route, from the `rate_limit_<route>_per_user` / `_per_address` settings (GatewaySettings:
    not named here, as config imports this module)."""
    rules = {}
    for name, (_, _, has_user) in LIMITED_ROUTES.items():
        per_user = parse_limits(getattr(settings, f"rate_limit_{name}_per_user")) if has_user else ()
        rules[name] = Rule(name, per_user, parse_limits(getattr(settings, f"rate_limit_{name}_per_address")))
    return rules


class _Window:
    __slots__ = ("current", "expiry", "index", "previous")

    def __init__(self, index: int, expiry: int) -> None:
        self.index = index
        self.expiry = expiry
        self.previous = 0
        self.current = 0

    def roll(self, index: int) -> None:
        if index == self.index:
            return
        self.previous = self.current if index == self.index + 1 else 0
        self.current = 0
        self.index = index


class LocalWindows(Storage, SlidingWindowCounterSupport):
    """The sliding window counter in the process's memory, for `limits`' `SlidingWindowCounterRateLimiter`.

    Same arithmetic as the library's storages (the previous window's count weighs in proportion to the time it still
    covers), with one object per key rolled forward on use instead of a key per window, and expired keys dropped by
    a sweep every `SWEEP_SECONDS` (never more than once per sweep interval, whatever the traffic). No await inside:
    each call is atomic on the event loop.
    """

    STORAGE_SCHEME = None

    def __init__(self, *, max_keys: int = MAX_LOCAL_KEYS, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._windows: dict[str, _Window] = {}
        self._max_keys = max_keys
        self._clock = clock
        self._next_sweep = clock() + SWEEP_SECONDS

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def _window(self, key: str, expiry: int, now: float) -> _Window:
        if now >= self._next_sweep:
            self._sweep(now)
        index = int(now // expiry)
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._max_keys:
                del self._windows[next(iter(self._windows))]
            window = self._windows[key] = _Window(index, expiry)
        else:
            window.roll(index)
        return window

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_SECONDS
        dead = [key for key, w in self._windows.items() if w.index < int(now // w.expiry) - 1]
        for key in dead:
            del self._windows[key]

    async def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return self.acquire(key, limit, expiry, amount)

    def acquire(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """`acquire_sliding_window_entry` without a coroutine: what the gateway calls per request."""
        if amount > limit:
            return False
        now = self._clock()
        window = self._window(key, expiry, now)
        weighted = window.previous * (expiry - now % expiry) / expiry + window.current
        if math.floor(weighted) + amount > limit:
            return False
        window.current += amount
        return True

    def acquire_all(self, keys: Sequence[str], limits: Sequence[Limit]) -> float | None:
        """One request under every limit (`keys[i]` counting under `limits[i]`): admitted and counted in each
        (None), or refused and counted in none (the seconds until every limit would admit it)."""
        now = self._clock()
        windows = [self._window(key, limit.expiry, now) for key, limit in zip(keys, limits, strict=True)]
        wait: float | None = None
        for window, limit in zip(windows, limits, strict=True):
            expiry = limit.expiry
            left = expiry - now % expiry  # how long the previous window still weighs
            if math.floor(window.previous * left / expiry + window.current) + 1 > limit.amount:
                previous_ttl = left if window.previous else 0.0
                this = sliding_window_wait(
                    limit.amount, expiry, window.previous, previous_ttl, window.current, left + expiry
                )
                wait = this if wait is None else max(wait, this)
        if wait is None:
            for window in windows:
                window.current += 1
        return wait

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = self._clock()
        window = self._window(key, expiry, now)
        into = now % expiry
        previous_ttl = expiry - into if window.previous else 0.0
        return window.previous, previous_ttl, window.current, 2 * expiry - into

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        self._windows.pop(key, None)

    # The fixed-window interface every `limits` storage has; the gateway uses the sliding window only.
    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("LocalWindows serves the sliding window counter only")

    async def get(self, key: str) -> int:
        raise NotImplementedError("LocalWindows serves the sliding window counter only")

    async def get_expiry(self, key: str) -> float:
        raise NotImplementedError("LocalWindows serves the sliding window counter only")

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        count = len(self._windows)
        self._windows.clear()
        return count

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    def __len__(self) -> int:
        return len(self._windows)


# One call per request for all of its limits: each KEYS[i] is a hash (w: window index, p: previous window's count,
# c: current window's count) counting under ARGV[2i-1] requests per ARGV[2i] milliseconds, windows aligned on Redis's
# clock (one clock for every gateway). The same arithmetic as LocalWindows and `limits`' sliding window counter.
# Returns -1 when the request is admitted (counted in every window), else the milliseconds until every limit would
# admit it (counted in none). All keys of a call must live on one server: a single Redis, not a Cluster.
_SLIDING_WINDOWS = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local states = {}
local wait = -1
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i - 1])
  local expiry = tonumber(ARGV[2 * i])
  local index = math.floor(now / expiry)
  local state = redis.call('HMGET', key, 'w', 'p', 'c')
  local w = tonumber(state[1])
  local p, c = 0, 0
  if w == index then
    p, c = tonumber(state[2]) or 0, tonumber(state[3]) or 0
  elseif w == index - 1 then
    p = tonumber(state[3]) or 0
  end
  local left = expiry - (now - index * expiry)
  if math.floor(p * left / expiry) + c + 1 > limit then
    local this
    if c < limit then
      this = math.max(0, left - expiry * (limit - c) / p)
    else
      this = left + expiry * (1 - limit / c)
    end
    wait = math.max(wait, math.floor(this))
  end
  states[i] = {index, p, c, expiry}
end
if wait >= 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  local s = states[i]
  redis.call('HSET', key, 'w', s[1], 'p', s[2], 'c', s[3] + 1)
  redis.call('PEXPIRE', key, 2 * s[4])
end
return -1
"""


class RedisWindows:
    """The sliding window counters in Redis, shared by every gateway process: one script call per request for all of
    its limits. (`limits`' own Redis storage makes one call per limit, three for a flash purchase, and redis-py's
    cost per call is most of the gateway's CPU for a request: bench/README.md.)"""

    def __init__(self, url: str, *, key_prefix: str) -> None:
        self.client = redis.asyncio.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self._script = self.client.register_script(_SLIDING_WINDOWS)
        self._prefix = key_prefix + ":"

    async def acquire_all(self, keys: Sequence[str], limits: Sequence[Limit]) -> float | None:
        """As `LocalWindows.acquire_all`."""
        args: list[int] = []
        for limit in limits:
            args += (limit.amount, limit.expiry * 1000)
        wait_ms = int(await self._script(keys=[self._prefix + key for key in keys], args=args))
        return None if wait_ms < 0 else wait_ms / 1000

    async def aclose(self) -> None:
        await self.client.aclose()


def storage_for(url: str, *, key_prefix: str) -> LocalWindows | RedisWindows:
    """`memory://` -> `LocalWindows`; `redis://`, `rediss://` -> `RedisWindows`."""
    if url == "memory://":
        return LocalWindows()
    if url.startswith(("redis://", "rediss://")):
        return RedisWindows(url, key_prefix=key_prefix)
    raise ValueError(f"{url!r}: a rate limit storage is memory:// or redis://host:port/db")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 192.168.1.5"` -> networks (an address is a network of one). Raises ValueError."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())


def _address_key(address: str) -> str:
    # An IPv6 client usually holds a whole /64: limiting single addresses would give it 2^64 budgets.
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False).network_address) + "/64"
    except ValueError:
        return address


class ClientAddress:
    """The address a request comes from: the socket peer, or, when the peer is a trusted proxy, the nearest address
    in X-Forwarded-For that is not one (so a client cannot choose its address by sending the header itself)."""

    def __init__(self, trusted: Sequence[Network]) -> None:
        self._trusted = tuple(trusted)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def __call__(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self._trusted or not self._is_trusted(peer):
            return _address_key(peer)
        chain = [
            hop.strip()
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")
        ]
        for hop in reversed(chain):
            if hop and not self._is_trusted(hop):
                return _address_key(hop)
        return _address_key(peer)


def sliding_window_wait(
    limit: int, expiry: int, previous: int, previous_ttl: float, current: int, current_ttl: float
) -> float:
    """Seconds until a sliding window counter admits one more request, from its state as the storages report it.

    A request passes while floor(previous x previous_ttl / expiry) + current + 1 <= limit, previous_ttl being how
    long the previous window still weighs (it falls linearly to 0 as the current window ends). With room in the
    current window, only the previous window's weight has to fall; with none, the current window has to become the
    previous one (in current_ttl - expiry seconds) and then fall far enough. (`limits`' own estimate, the time to the
    next change of either count, can be too early: a client that waited it would be refused again.)
    """
    if current < limit:
        if not previous:
            return 0.0
        return max(0.0, previous_ttl - expiry * (limit - current) / previous)
    return max(0.0, current_ttl - expiry) + expiry * (1 - limit / current)


class RateLimiter:
    """Checks a request's rule: its per-user limits (when the caller is signed in) and its per-address limits, all
    in one call to the store. A request refused by any limit counts against none: one greedy user behind a shared
    address costs the others no more than the requests they let through. `check` answers None to let the request
    through, or the whole seconds to wait before the next one would pass (the smallest whole number past the exact
    wait, so at least 1).

    The stores are called with keys whose fixed part was built once per limit, not through `limits`' strategy
    objects: their key building and error wrapping were most of a check's CPU (bench/README.md).
    """

    def __init__(
        self,
        storage: LocalWindows | RedisWindows,
        table: RuleTable,
        address: ClientAddress,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.table = table
        self._local = storage if isinstance(storage, LocalWindows) else None
        self._remote = storage if isinstance(storage, RedisWindows) else None
        self._address = address
        self._clock = clock
        self._paused_until = 0.0

    async def check(self, rule: Rule, subject: str | None, scope: Scope) -> int | None:
        if self._paused_until and self._clock() < self._paused_until:
            return None
        if subject is not None and rule.user_limits:
            limits = rule.all_limits
            keys = [limit.prefix + subject for limit in rule.user_limits]
        else:
            limits = rule.address_limits
            keys = []
        if not limits:
            return None
        if rule.address_limits:
            address = self._address(scope)
            keys += [limit.prefix + address for limit in rule.address_limits]
        try:
            if self._local is not None:
                wait = self._local.acquire_all(keys, limits)
            else:
                assert self._remote is not None
                wait = await self._remote.acquire_all(keys, limits)
        except Exception as exc:  # the storage is down or slow: let requests through, say so once per pause
            self._paused_until = self._clock() + FAILED_STORAGE_PAUSE_SECONDS
            log.warning("rate limit storage failed; requests pass unchecked", extra={"error": repr(exc)})
            return None
        return None if wait is None else math.floor(wait) + 1

    async def aclose(self) -> None:
        if self._remote is not None:
            await self._remote.aclose()
