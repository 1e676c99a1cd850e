"""The burst's figures from raw answers and from the sale's books: pure functions (no servers), tested on their own.

An answer is what one buyer saw: a status (TIMEOUT when the client gave up, CONNECTION_ERROR when the connection
failed or broke), the problem `code` of a refusal, whether a 5xx came as problem+json, its latency counted from the
moment the buyer was scheduled to press the button (open loop: a server that falls behind shows it), and when it
arrived, counted from the burst's first request.

A 5xx is a clean error when it is problem+json and came no later than the slowest ordinary answer of the same
burst (the buyer waited no longer than others did for "sold out", and can be told to try again); a slower one is a
hang that happened to end. Under a burst every answer waits in queues, so a fixed bound would call every error slow.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

TIMEOUT = -1
CONNECTION_ERROR = 0
SOLD_OUT_CODE = "FLASH_SALE_SOLD_OUT"


class Answer(NamedTuple):
    status: int
    code: str | None
    latency_s: float
    answered_at_s: float
    problem_json: bool = False
    #: The start of a 5xx's body, or the client's error for a broken connection: what went wrong, for the report.
    detail: str | None = None


def percentile_ms(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted seconds, in milliseconds (0.0 for no values)."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, math.ceil(len(ordered) * q) - 1))
    return round(ordered[rank] * 1000, 1)


def latency_summary(latencies_s: Iterable[float]) -> dict[str, float]:
    ordered = sorted(latencies_s)
    return {
        "p50_ms": percentile_ms(ordered, 0.50),
        "p99_ms": percentile_ms(ordered, 0.99),
        "max_ms": round(ordered[-1] * 1000, 1) if ordered else 0.0,
    }


def summarise(answers: Sequence[Answer]) -> dict[str, Any]:
    """Counts by outcome, latency of every answer the clients received, and the sale's moments as buyers saw them."""
    statuses = Counter(a.status for a in answers)
    codes = Counter(a.code for a in answers if a.code is not None)
    answered = [a for a in answers if a.status > 0]
    server_errors = [a for a in answered if a.status >= 500]
    sold = [a.answered_at_s for a in answered if a.status == 201]
    sold_out = [a.answered_at_s for a in answered if a.status == 409 and a.code == SOLD_OUT_CODE]
    slowest_ordinary = max((a.latency_s for a in answered if a.status < 500), default=0.0)
    clean = [a for a in server_errors if a.problem_json and a.latency_s <= slowest_ordinary]
    last_answer = max((a.answered_at_s for a in answers), default=0.0)
    return {
        "buyers": len(answers),
        "created": statuses.get(201, 0),
        "sold_out_answers": len(sold_out),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "codes": dict(sorted(codes.items())),
        "server_errors": len(server_errors),
        "clean_server_errors": len(clean),
        "timeouts": statuses.get(TIMEOUT, 0),
        "connection_errors": statuses.get(CONNECTION_ERROR, 0),
        **latency_summary(a.latency_s for a in answered),
        "server_error_latency": latency_summary(a.latency_s for a in server_errors),
        "server_error_samples": _samples(server_errors),
        "connection_error_samples": _samples(a for a in answers if a.status == CONNECTION_ERROR),
        # Until the last unit's buyer had their order: the moment the sale was over for everyone who won.
        "sold_out_after_ms": round(max(sold) * 1000, 1) if sold else None,
        "first_sold_out_answer_ms": round(min(sold_out) * 1000, 1) if sold_out else None,
        "last_answer_ms": round(last_answer * 1000, 1),
        "answers_per_second": round(len(answered) / last_answer, 1) if last_answer else 0.0,
    }


def _samples(errors: Iterable[Answer], per_status: int = 3) -> dict[str, list[str]]:
    """Up to `per_status` distinct details (a 5xx's body, a broken connection's error) of each status."""
    samples: dict[str, list[str]] = {}
    for a in errors:
        seen = samples.setdefault(str(a.status), [])
        if a.detail is not None and a.detail not in seen and len(seen) < per_status:
            seen.append(a.detail)
    return samples


def sale_problems(
    *,
    stock: int,
    sold: int,
    created: int,
    unanswered: int,
    buyers: int,
    reconciliation: dict[str, Any],
    crashed: bool,
) -> list[str]:
    """What is wrong with a sale after its burst, from the orders database (`sold`: units on orders) and the
    reconciliation report (database against Redis: every reservation ended as one order or one release).

    Every 201 is an order. An order need not be a 201: a buyer without a definite answer (`unanswered`: timed out,
    connection broken, a 5xx such as a worker dying after the commit) may hold one, and finds it by retrying with
    their key. Without a crash the whole stock sells when the buyers are enough; after one, the units of released
    reservations are back on sale once the burst is over."""
    problems = [f"reconciliation: {d}" for d in reconciliation.get("differences", [])]
    if not reconciliation.get("consistent", False) and not problems:
        problems.append("reconciliation: not consistent")
    if sold > stock:
        problems.append(f"oversold: {sold} units on orders of {stock}")
    if reconciliation.get("sold_units") != sold:
        problems.append(f"the report counts {reconciliation.get('sold_units')} units sold, the database {sold}")
    if created > sold:
        problems.append(f"{created} buyers were answered 201 but only {sold} units are on orders")
    if sold > created + unanswered:
        problems.append(f"{sold} units on orders but {created} buyers were answered 201 and {unanswered} unanswered")
    if not crashed and buyers >= stock and sold != stock:
        problems.append(f"{buyers} buyers for {stock} units but {sold} sold")
    redis = reconciliation.get("redis")
    if redis is not None and redis["reserved_total"] - redis["released_total"] != redis["live_reservations"]:
        problems.append(
            f"redis: {redis['reserved_total']} reserved - {redis['released_total']} released "
            f"!= {redis['live_reservations']} live"
        )
    return problems
