"""`python -m bench` (`make bench`): run every benchmark, then collect their results in bench/results/latest.json.

    python -m bench                 # all of them
    python -m bench gateway_orders  # some, by name

Each benchmark is its own process (it starts servers and load generators of its own) writing its own result file;
this runner only sequences them and gathers the files, so a benchmark can still be run alone with its options.
To add one, append it to BENCHMARKS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

RESULTS = Path(__file__).resolve().parent / "results"
REPO = RESULTS.parents[1]


class Benchmark(NamedTuple):
    name: str
    module: str
    args: tuple[str, ...]
    what: str

    def output(self) -> Path:
        return RESULTS / f"{self.name}.json"


BENCHMARKS = (
    Benchmark(
        "gateway",
        "bench.gateway.bench_gateway",
        (),
        "gateway hop overhead against an in-memory stand-in upstream (the worst case for the gateway)",
    ),
    Benchmark(
        "gateway_orders",
        "bench.gateway.bench_gateway",
        ("--upstream-app", "services.orders.app:create_app", "--seed-product"),
        "GET of one product: via the gateway / direct to the real orders service",
    ),
)


def run(benchmark: Benchmark) -> dict[str, Any]:
    command = [sys.executable, "-m", benchmark.module, *benchmark.args, "--output", str(benchmark.output())]
    print(f"== {benchmark.name}: {benchmark.what}", flush=True)
    started = time.monotonic()
    completed = subprocess.run(command, cwd=REPO, check=False)
    entry: dict[str, Any] = {
        "what": benchmark.what,
        "command": " ".join(command[1:]),
        "seconds": round(time.monotonic() - started, 1),
        "ok": completed.returncode == 0,
    }
    if completed.returncode == 0:
        entry["result"] = json.loads(benchmark.output().read_text())
    return entry


def main(argv: list[str] | None = None) -> int:
    names = [b.name for b in BENCHMARKS]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {names} (default: all)")
    args = parser.parse_args(argv)
    if unknown := set(args.names) - set(names):
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; known: {names}")
    chosen = [b for b in BENCHMARKS if not args.names or b.name in args.names]
    results = {b.name: run(b) for b in chosen}
    report = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "benchmarks": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten {RESULTS / 'latest.json'}")
    for name, entry in results.items():
        summary = f"gateway_over_direct = {entry['result']['gateway_over_direct']}" if entry["ok"] else "FAILED"
        print(f"  {name:16} {summary}")
    return 0 if all(entry["ok"] for entry in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
