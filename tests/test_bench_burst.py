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
        Answer(CONNECTION_ERROR, None, 0.001, 0.050),
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


def _report(sold: int, *, stock: int = 500, differences: list[str] | None = None) -> dict[str, Any]:
    return {
        "sold_units": sold,
        "consistent": not differences,
        "differences": differences or [],
        "redis": {"reserved_total": sold + 7, "released_total": 7, "live_reservations": sold},
    }


def test_books_of_a_clean_burst() -> None:
    assert (
        sale_problems(stock=500, sold=500, created=500, buyers=10_000, reconciliation=_report(500), crashed=False) == []
    )


def test_books_catch_overselling_and_lost_answers() -> None:
    oversold = sale_problems(
        stock=500, sold=501, created=501, buyers=10_000, reconciliation=_report(501), crashed=False
    )
    assert any("oversold" in p for p in oversold)
    # Without a crash every order was answered 201 and the whole stock sold.
    unanswered = sale_problems(
        stock=500, sold=500, created=499, buyers=10_000, reconciliation=_report(500), crashed=False
    )
    assert unanswered == ["500 units on orders but 499 buyers were answered 201"]
    undersold = sale_problems(
        stock=500, sold=480, created=480, buyers=10_000, reconciliation=_report(480), crashed=False
    )
    assert undersold == ["10000 buyers for 500 units but 480 sold"]


def test_books_after_a_crash() -> None:
    # A worker died after committing some orders but before answering, and its orphans were released: fine.
    assert (
        sale_problems(stock=500, sold=430, created=420, buyers=10_000, reconciliation=_report(430), crashed=True) == []
    )
    # More 201s than orders is wrong even then, and so is any difference between Redis and the database.
    phantom = sale_problems(stock=500, sold=430, created=431, buyers=10_000, reconciliation=_report(430), crashed=True)
    assert phantom == ["431 buyers were answered 201 but only 430 units are on orders"]
    drift = sale_problems(
        stock=500, sold=430, created=430, buyers=10_000, reconciliation=_report(430, differences=["x"]), crashed=True
    )
    assert drift == ["reconciliation: x"]
    leaked = _report(430)
    leaked["redis"]["released_total"] = 6
    assert sale_problems(stock=500, sold=430, created=430, buyers=10_000, reconciliation=leaked, crashed=True) == [
        "redis: 437 reserved - 6 released != 430 live"
    ]


def test_orders_workers_apart_from_the_others() -> None:
    both = ScaledServers.from_environment({"SCALED_WORKERS": "3"})
    assert (both.workers_of("orders"), both.workers_of("points")) == (3, 3)
    apart = ScaledServers.from_environment({"SCALED_WORKERS": "2", "SCALED_ORDERS_WORKERS": "1"})
    assert (apart.workers_of("orders"), apart.workers_of("gateway"), apart.workers_of("leaders")) == (1, 2, 2)
