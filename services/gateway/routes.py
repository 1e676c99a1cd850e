"""Which service owns which public path: the one routing table of the gateway.

To route a new resource, add its prefix to the owning service below (and, for a new service, its URL to
`GatewaySettings.upstream_urls`). Prefixes match whole path segments: `/api/v1/products` owns
`/api/v1/products` and `/api/v1/products/42`, never `/api/v1/productsX`. The longest matching prefix wins, so a
service may own a path under another's prefix (`/api/v1/me/community` under accounts' `/api/v1/me`).

A `*` segment matches any one segment, for a resource nested under another service's: analytics owns
`/api/v1/leaders/*/community` (`/api/v1/leaders/l1/community/stats`) while leaders own the rest of
`/api/v1/leaders`. At the same length an exact prefix beats one with `*`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SERVICE_PREFIXES: Mapping[str, tuple[str, ...]] = {
    "accounts": (
        "/api/v1/auth",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/staff",
        "/api/v1/audit-log",
        "/api/v1/events/accounts",
        "/.well-known/jwks.json",
    ),
    "leaders": (
        "/api/v1/leader-applications",
        "/api/v1/leaders",
        "/api/v1/commission",
        "/api/v1/withdrawals",
        "/api/v1/events/leaders",
        "/api/v1/pickup-points",
        "/api/v1/me/community",
    ),
    "orders": (
        "/api/v1/products",
        "/api/v1/orders",
        "/api/v1/payments",
        "/api/v1/flash-sales",
        "/api/v1/delivery-batches",
        "/api/v1/events/orders",
        "/api/v1/reconciliation",
        "/api/v1/after-sales",
        "/api/v1/shortages",
        "/api/v1/tickets",
        "/api/v1/dev",  # development shortcuts (paying an order); each answers 404 unless turned on
        "/api/v1/categories",
        "/api/v1/group-buys",
        "/api/v1/procurement",
    ),
    "points": (
        "/api/v1/points",
        "/api/v1/referrals",
        "/api/v1/events/points",
    ),
    "analytics": (
        "/api/v1/leaders/*/community",
        "/api/v1/leaders/*/dashboard",
        "/api/v1/analytics",
        "/api/v1/customer-tags",
        "/api/v1/customers/*/tags",
        "/api/v1/events/analytics",
    ),
}

WILDCARD = "*"


class RouteTable:
    """Prefix → service lookup that costs one `split` and a dict lookup per prefix depth in use (plus, at the depths
    of `*` prefixes, one lookup per wildcard shape)."""

    def __init__(self, service_prefixes: Mapping[str, Iterable[str]] = SERVICE_PREFIXES) -> None:
        self._owner: dict[str, str] = {}
        # depth -> wildcard positions -> prefix with those segments blanked -> service
        self._wild: dict[int, dict[tuple[int, ...], dict[str, str]]] = {}
        for service, prefixes in service_prefixes.items():
            for prefix in prefixes:
                if not prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
                    raise ValueError(f"Route prefix {prefix!r} must start with '/' and not end with one")
                if prefix in self._owner:
                    raise ValueError(f"Route prefix {prefix!r} is claimed by {self._owner[prefix]} and {service}")
                self._owner[prefix] = service
                parts = prefix.split("/")
                stars = tuple(i for i, part in enumerate(parts) if part == WILDCARD)
                if stars:
                    if stars[0] < 2 or stars[-1] == len(parts) - 1:
                        raise ValueError(f"Route prefix {prefix!r} may not start or end with a '*' segment")
                    self._wild.setdefault(len(parts), {}).setdefault(stars, {})["/".join(parts)] = service
        # Number of '/'-separated parts of each prefix ("/api/v1/products" -> 4), longest first, so the most
        # specific prefix wins if one is ever nested in another.
        self._depths = sorted({prefix.count("/") + 1 for prefix in self._owner}, reverse=True)
        self._max_split = self._depths[0] if self._depths else 0
        self.services: tuple[str, ...] = tuple(sorted(set(self._owner.values())))

    def match(self, path: str) -> str | None:
        """The service owning `path`, or None when no prefix matches on a segment boundary."""
        parts = path.split("/", self._max_split)
        for depth in self._depths:
            if len(parts) < depth:
                continue
            if (service := self._owner.get("/".join(parts[:depth]))) is not None:
                return service
            for stars, owners in self._wild.get(depth, {}).items():
                shape = parts[:depth]
                if any(not shape[i] for i in stars):
                    continue  # '*' stands for one whole, non-empty segment
                for i in stars:
                    shape[i] = WILDCARD
                if (service := owners.get("/".join(shape))) is not None:
                    return service
        return None

    def prefixes(self, service: str) -> list[str]:
        return sorted(p for p, s in self._owner.items() if s == service)
