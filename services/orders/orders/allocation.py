"""Integer arithmetic for spreading an order-level amount over lines and for partial refunds.

Spreading (largest remainder): line i gets floor(total * w_i / W); the units left over go one each to the lines with
the largest remainders, ties to the earlier line. The shares always sum to `total` exactly, and the result depends only
on the inputs, so it can be recomputed and checked.

Refunds of k of n units of a line are cumulative: after r units refunded, refunding q more gives back
floor(paid * (r + q) / n) - floor(paid * r / n). However a line is refunded in pieces, refunding all n units returns
exactly `paid`, never a fen more or less.
"""

from __future__ import annotations

from collections.abc import Sequence


def spread(total: int, weights: Sequence[int]) -> list[int]:
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("spread needs non-negative amounts")
    weight_sum = sum(weights)
    if not weights:
        return []
    if weight_sum == 0:
        # Nothing to weigh by (free goods): the whole amount goes to the first line, still deterministic.
        return [total] + [0] * (len(weights) - 1)
    shares = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    left = total - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    return shares


def cumulative_share(amount: int, units: int, already: int, now: int) -> int:
    """The part of `amount` (for `units` units) that `now` more units carry after `already` were refunded."""
    if not 0 <= already <= already + now <= units:
        raise ValueError("refund beyond the units bought")
    return amount * (already + now) // units - amount * already // units
