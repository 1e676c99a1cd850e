"""In-memory stand-ins for the services the orders service calls (leaders, points)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.orders.clients import Hold, InsufficientPoints, LeaderInfo, PointsUnavailable, points_refusal


@dataclass
class FakeLeaders:
    leaders: dict[str, LeaderInfo] = field(default_factory=dict)
    calls: int = 0

    def add(self, leader_id: str, status: str = "active", region: str | None = "上海市/浦东新区") -> None:
        self.leaders[leader_id] = LeaderInfo(
            leader_id=leader_id,
            status=status,
            level="gold",
            pickup_point={"name": f"Point of {leader_id}"},
            region=region,
        )

    async def get_leader(self, leader_id: str, *, fresh: bool = False) -> LeaderInfo | None:
        self.calls += 1
        return self.leaders.get(leader_id)


@dataclass
class FakePoints:
    """1 point = 1 fen of discount (100 points = 1 yuan), at most half the goods, like the points rules."""

    balances: dict[str, int] = field(default_factory=dict)
    holds: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)
    down: bool = False
    discount_override: int | None = None

    async def hold(self, *, order_id: int, user_id: str, points: int, goods_fen: int) -> Hold:
        if self.down:
            raise PointsUnavailable()
        if order_id in self.holds:
            _, held, discount = self.holds[order_id]
            return Hold(points=held, discount_fen=discount)
        if points > goods_fen // 2:
            raise points_refusal(422, "POINTS_OVER_CAP")("more than half the goods")
        if self.balances.get(user_id, 0) < points:
            raise InsufficientPoints()
        self.balances[user_id] -= points
        discount = points if self.discount_override is None else self.discount_override
        self.holds[order_id] = (user_id, points, discount)
        return Hold(points=points, discount_fen=discount)

    async def waiting_holds(self, *, created_before: datetime, limit: int) -> list[int]:
        return sorted(self.holds)[:limit]

    async def release(self, *, order_id: int) -> None:
        self.released.append(order_id)
        hold = self.holds.pop(order_id, None)
        if hold is not None:
            self.balances[hold[0]] += hold[1]
