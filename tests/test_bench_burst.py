"""The flash-sale burst benchmark's pure parts: the figures it reports and the books it checks (the benchmark itself
runs against real servers, never in the suite), and the launcher setting it relies on."""

from __future__ import annotations

from typing import Any

from bench.burst.figures import (
    CONNECTION_ERROR,
    SOLD_OUT_CODE,
    TIMEOUT,
    Answer,
    latency_summary,
    percentile_ms,
    sale_problems,
    summarise,
)
from services.launcher import ScaledServers


def test_percentiles_are_nearest_rank() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms
    assert percentile_ms(values, 0.50) == 50.0
    assert percentile_ms(values, 0.99) == 99.0
    assert percentile_ms([], 0.5) == 0.0
    assert latency_summary([0.003, 0.001, 0.002]) == {"p50_ms": 2.0, "p99_ms": 3.0, "max_ms": 3.0}


def test_summary_counts_outcomes_and_moments() -> None:
    answers = [
        Answer(201, None, 0.010, 0.100),
        Answer(201, None, 0.020, 0.400),
        Answer(409, SOLD_OUT_CODE, 0.005, 0.300, problem_json=True),
        Answer(409, SOLD_OUT_CODE, 0.900, 1.000, problem_json=True),
        # A quick problem+json 502 is a clean error; a slower one than every ordinary answer is not.
        Answer(502, "BAD_GATEWAY", 0.050, 0.600, problem_json=True, detail="orders sent no valid response"),
        Answer(502, "BAD_GATEWAY", 2.000, 2.100, problem_json=True, detail="orders sent no valid response"),
        Answer(500, None, 0.010, 0.200, problem_json=False, detail="Internal Server Error"),
        Answer(TIMEOUT, None, 10.0, 10.5),
        Answer(CONNECTION_ERROR, None, 0.001, 0.050, detail="ServerDisconnectedError"),
    ]
    figures = summarise(answers)
    assert figures["buyers"] == 9
    assert figures["created"] == 2
    assert figures["sold_out_answers"] == 2
    assert figures["server_errors"] == 3
    assert figures["clean_server_errors"] == 1
    assert figures["timeouts"] == 1
    assert figures["connection_errors"] == 1
    assert figures["statuses"] == {"-1": 1, "0": 1, "201": 2, "409": 2, "500": 1, "502": 2}
    assert figures["codes"] == {"BAD_GATEWAY": 2, SOLD_OUT_CODE: 2}
    assert figures["sold_out_after_ms"] == 400.0
    assert figures["first_sold_out_answer_ms"] == 300.0
    assert figures["last_answer_ms"] == 10500.0
    # Latency is of the answers received (7): timeouts and broken connections are counted apart.
    assert figures["max_ms"] == 2000.0
    assert figures["server_error_samples"] == {
        "500": ["Internal Server Error"],
        "502": ["orders sent no valid response"],
    }
    assert figures["connection_error_samples"] == {"0": ["ServerDisconnectedError"]}


def _report(sold: int, *, differences: list[str] | None = None) -> dict[str, Any]:
    return {
        "sold_units": sold,
        "consistent": not differences,
        "differences": differences or [],
        "redis": {"reserved_total": sold + 7, "released_total": 7, "live_reservations": sold},
    }


def _problems(
    sold: int, created: int, *, unanswered: int = 0, crashed: bool = False, report: dict[str, Any] | None = None
) -> list[str]:
    return sale_problems(
        stock=500,
        sold=sold,
        created=created,
        unanswered=unanswered,
        buyers=10_000,
        reconciliation=_report(sold) if report is None else report,
        crashed=crashed,
    )


def test_books_of_a_clean_burst() -> None:
    assert _problems(500, 500) == []


def test_books_catch_overselling_and_lost_answers() -> None:
    assert any("oversold" in p for p in _problems(501, 501))
    # An order without a 201 needs a buyer who got no definite answer (who finds it by retrying with their key).
    assert _problems(500, 499) == ["500 units on orders but 499 buyers were answered 201 and 0 unanswered"]
    assert _problems(500, 497, unanswered=3) == []
    # Without a crash the whole stock sells to 10,000 buyers.
    assert _problems(480, 480) == ["10000 buyers for 500 units but 480 sold"]


def test_books_after_a_crash() -> None:
    # A worker died after committing some orders but before answering, and its orphans were released: fine.
    assert _problems(430, 420, unanswered=10, crashed=True) == []
    # More 201s than orders is wrong even then, and so is any difference between Redis and the database.
    assert _problems(430, 431, crashed=True) == ["431 buyers were answered 201 but only 430 units are on orders"]
    assert _problems(430, 430, crashed=True, report=_report(430, differences=["x"])) == ["reconciliation: x"]
    leaked = _report(430)
    leaked["redis"]["released_total"] = 6
    assert _problems(430, 430, crashed=True, report=leaked) == ["redis: 437 reserved - 6 released != 430 live"]


def test_orders_workers_apart_from_the_others() -> None:
    both = ScaledServers.from_environment({"SCALED_WORKERS": "3"})
    assert (both.workers_of("orders"), both.workers_of("points")) == (3, 3)
    apart = ScaledServers.from_environment({"SCALED_WORKERS": "2", "SCALED_ORDERS_WORKERS": "1"})
    assert (apart.workers_of("orders"), apart.workers_of("gateway"), apart.workers_of("leaders")) == (1, 2, 2)
