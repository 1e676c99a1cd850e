"""A scripted week of two communities (Mon 3 – Fri 7 March 2025, Shanghai time; "today" is Friday noon).

Leader l1 (manager m1): u1, u2, u3 join on Monday, u4 on Tuesday; u2 leaves on Wednesday; u3 leaves and rejoins
on Thursday; u5's first order (Thursday 00:30 local, still Wednesday in UTC) reaches analytics before u5's join
(Thursday 09:00). Leader l2 (manager m2): u9. Orders, refunds, a pickup, sign-ins and referrals as below; the
expected figures are worked out by hand in the tests, next to each assertion.
"""

from __future__ import annotations

from tests.analytics.conftest import Feed, local

APPLES, MILK, EGGS = 1, 2, 3


async def scripted_week(feed: Feed) -> None:
    await feed.leader_updated("l1", manager_id="m1", at=local(2025, 3, 1))
    await feed.leader_updated("l2", manager_id="m2", at=local(2025, 3, 1))

    # Monday 3 March
    await feed.join("l1", "u1", local(2025, 3, 3, 9))
    await feed.join("l1", "u2", local(2025, 3, 3, 9, 30))
    await feed.join("l1", "u3", local(2025, 3, 3, 10))
    await feed.join("l2", "u9", local(2025, 3, 3, 10))
    await feed.signed_in("u1", local(2025, 3, 3, 8, 15))
    order_101 = await feed.paid(
        101, "l1", "u1", [(APPLES, "Apples", 2, 2000), (MILK, "Milk", 1, 1000)], local(2025, 3, 3, 20), points_used=100
    )
    await feed.paid(102, "l1", "u2", [(APPLES, "Apples", 1, 1000)], local(2025, 3, 3, 21))

    # Tuesday 4 March
    await feed.join("l1", "u4", local(2025, 3, 4, 11))
    order_103 = await feed.paid(103, "l1", "u1", [(MILK, "Milk", 2, 2000)], local(2025, 3, 4, 12))
    await feed.paid(201, "l2", "u9", [(APPLES, "Apples", 5, 5000)], local(2025, 3, 4, 12, 30))
    await feed.signed_in("u2", local(2025, 3, 4, 8, 45))
    await feed.signed_in("u1", local(2025, 3, 4, 21, 10))
    await feed.picked_up(order_101, local(2025, 3, 4, 18))
    await feed.referral("u1", "u6", local(2025, 3, 4, 13))
    await feed.referral("u9", "u7", local(2025, 3, 4, 14))

    # Wednesday 5 March
    await feed.leave("l1", "u2", local(2025, 3, 5, 10))
    await feed.refunded(order_101, [(APPLES, 1, 1000)], local(2025, 3, 5, 15), picked_up=True)

    # Thursday 6 March: u5's order is published before u5's join
    await feed.paid(104, "l1", "u5", [(EGGS, "Eggs", 1, 1500)], local(2025, 3, 6, 0, 30))
    await feed.join("l1", "u5", local(2025, 3, 6, 9))
    await feed.leave("l1", "u3", local(2025, 3, 6, 10))
    await feed.join("l1", "u3", local(2025, 3, 6, 14))
    await feed.refunded(order_103, [(MILK, 1, 1000)], local(2025, 3, 6, 16))

    # Friday 7 March, before noon
    await feed.paid(105, "l1", "u1", [(APPLES, "Apples", 1, 1000)], local(2025, 3, 7, 9))
    await feed.signed_in("u4", local(2025, 3, 7, 9, 5))
