"""Gateway overhead: throughput of one resource through the gateway ÷ the same resource from the service directly.

    .venv/bin/python -m bench.gateway.bench_gateway                  # stand-in upstream: pure proxy overhead
    .venv/bin/python -m bench.gateway.bench_gateway --upstream-app services.orders.app:create_app --seed-product

The upstream runs as a uvicorn process and the gateway as it ships (`python -m services.gateway`), one worker each
unless --gateway-workers / --upstream-workers say otherwise (the JSON records both), access log off. Load comes
from a separate process (`bench.gateway.loadgen`) on loopback, with fixed concurrency and bounded in requests and
time. Runs are interleaved direct, gateway, direct, gateway...; the figures are medians over the rounds and the
headline is the ratio `gateway_over_direct`, measured in this run (absolute numbers drift on shared machines,
ratios much less). With the stand-in, a POST with a small JSON body (a flash-sale purchase) is measured the same
way: `gateway_over_direct_post`. Results go to bench/results/gateway.json.

The default stand-in answers from memory, so it is the worst case for the gateway: the hop costs more CPU than
the endpoint itself. Against the real orders service (a database read per request) the same hop is a small
share. The CPU time per request of each server is reported too, so the ratio can be explained.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.processes import cpu_seconds, wait_until_serving
from services.common.testing import free_port, jwks_url_for_tests, sign_test_token

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "gateway.json"
STANDIN = "bench.gateway.upstream_app:create_app"
STANDIN_POST_PATH = "/api/v1/flash-sales/1/orders"
STANDIN_POST_BODY = '{"leader_id": "leader-1", "quantity": 1}'
UNREFUSED_LIMIT = "1000000/second"
UVICORN_FLAGS = [
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
]


# The gateway runs as in production (`python -m services.gateway`: uvloop, its own httptools protocol, no access
# log), configured by its GATEWAY_* settings; the upstream is a plain uvicorn process.
GATEWAY_COMMAND = [sys.executable, "-m", "services.gateway"]


def upstream_command(app: str, port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), *UVICORN_FLAGS]  # fmt: skip


def gateway_env(port: int, workers: int) -> dict[str, str]:
    # One customer sends every purchase from one address: limits far above the load keep the rate-limit check on
    # the measured path without ever refusing.
    return {"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port), "GATEWAY_WORKERS": str(workers),
            "GATEWAY_LOG_LEVEL": "WARNING", "GATEWAY_RATE_LIMIT_FLASH_PER_USER": UNREFUSED_LIMIT,
            "GATEWAY_RATE_LIMIT_FLASH_PER_ADDRESS": UNREFUSED_LIMIT}  # fmt: skip


@contextmanager
def servers(
    upstream_app: str, health_path: str, extra_env: dict[str, str], logdir: Path, workers: dict[str, int]
) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], str, str]]:
    upstream_port, gateway_port, unused_port = free_port(), free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    env = {
        **os.environ,
        **extra_env,
        "GATEWAY_ORDERS_URL": upstream_url,
        "GATEWAY_LEADERS_URL": f"http://127.0.0.1:{unused_port}",
        "GATEWAY_POINTS_URL": f"http://127.0.0.1:{unused_port}",
        "GATEWAY_ACCOUNTS_URL": f"http://127.0.0.1:{unused_port}",
        # Both the gateway and a real orders upstream verify with the test key the tokens below are signed with.
        "AUTH_JWKS_URL": jwks_url_for_tests(),
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in (
            ("upstream", upstream_command(upstream_app, upstream_port, workers["upstream"])),
            ("gateway", GATEWAY_COMMAND),
        ):
            env = {**env, **gateway_env(gateway_port, workers["gateway"])} if name == "gateway" else env
            # Server output (a service may log every request) goes to a file: printing it would cost CPU on the
            # machine being measured and bury the results.
            with (logdir / f"{name}.log").open("wb") as log:
                processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        try:
            wait_until_serving(processes[0], upstream_url + health_path)
            wait_until_serving(processes[1], gateway_url + "/healthz")
        except SystemExit:
            for name in ("upstream", "gateway"):
                tail = (logdir / f"{name}.log").read_text(errors="replace").splitlines()[-30:]
                print(f"--- {name} log (end) ---", *tail, sep="\n", file=sys.stderr)
            raise
        yield processes[0], processes[1], upstream_url, gateway_url
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def token(sub: str, role: str) -> str:
    """A bearer token the gateway and the services accept (signed with the test key they verify with)."""
    return sign_test_token(sub, [role], ttl_seconds=3600)


def prepare_orders_database(workdir: Path) -> dict[str, str]:
    """A fresh, migrated SQLite database for a real orders service, unless ORDERS_DATABASE_URL names one."""
    if "ORDERS_DATABASE_URL" in os.environ:
        return {}
    url = f"sqlite+aiosqlite:///{workdir / 'orders.db'}"
    command = [sys.executable, "-m", "services.common.migrate", "upgrade", "orders", "--url", url]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=120)
    return {"ORDERS_DATABASE_URL": url}


def seed_product(upstream_url: str) -> str:
    """Create one product on a real orders service and return its path."""
    ops = token("bench-ops", "ops")
    response = httpx.post(
        upstream_url + "/api/v1/products",
        json={"name": "bench apples 5 kg", "price_fen": 2990, "stock": 1000},
        headers={"Authorization": f"Bearer {ops}"},
        timeout=10,
    )
    response.raise_for_status()
    return f"/api/v1/products/{response.json()['id']}"


def load(url: str, authorization: str, args: argparse.Namespace, post_body: str | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.gateway.loadgen", "--url", url,
               "--header", f"Authorization: {authorization}",
               "--concurrency", str(args.concurrency), "--requests", str(args.requests),
               "--duration", str(args.duration), "--warmup", str(args.warmup)]  # fmt: skip
    if post_body is not None:
        command += ["--method", "POST", "--body", post_body, "--header", "Content-Type: application/json"]
    out = subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=args.duration + 120)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def measure(args: argparse.Namespace, workdir: Path) -> tuple[str, list[dict[str, Any]]]:
    """Start the servers, check the gateway answers like the service, then run the interleaved rounds."""
    extra_env = prepare_orders_database(workdir) if args.seed_product else {}
    # Every request carries a customer token, as real traffic does: the real orders service requires one, and
    # the gateway forwards it like any other header.
    authorization = "Bearer " + token("bench-customer", "customer")
    runs: list[dict[str, Any]] = []
    workers = {"upstream": args.upstream_workers, "gateway": args.gateway_workers}
    with servers(args.upstream_app, args.health_path, extra_env, workdir, workers) as (
        upstream,
        gateway,
        upstream_url,
        gateway_url,
    ):
        path = seed_product(upstream_url) if args.seed_product else args.path
        headers = {"Authorization": authorization}
        direct = httpx.get(upstream_url + path, headers=headers, timeout=10)
        proxied = httpx.get(gateway_url + path, headers=headers, timeout=10)
        if direct.status_code != 200 or proxied.content != direct.content:
            raise SystemExit(f"{path}: the gateway does not return what the service returns ({proxied.status_code})")

        kinds: list[tuple[str, str, str | None]] = [("get", path, None)]
        if args.post_path:
            json_headers = {**headers, "Content-Type": "application/json"}
            post = httpx.post(gateway_url + args.post_path, headers=json_headers, content=args.post_body, timeout=10)
            if post.status_code != 201:
                raise SystemExit(f"POST {args.post_path} through the gateway: {post.status_code} {post.text}")
            kinds.append(("post", args.post_path, args.post_body))

        for round_number in range(1, args.rounds + 1):
            for (kind, kind_path, post_body), (target, base) in itertools.product(
                kinds, (("direct", upstream_url), ("gateway", gateway_url))
            ):
                before = {"upstream": cpu_seconds(upstream.pid), "gateway": cpu_seconds(gateway.pid)}
                result = load(base + kind_path, authorization, args, post_body)
                after = {"upstream": cpu_seconds(upstream.pid), "gateway": cpu_seconds(gateway.pid)}
                for name in ("upstream", "gateway"):
                    b, a = before[name], after[name]
                    total = result["requests"] + args.warmup  # the CPU figures include the warm-up requests
                    result[f"{name}_cpu_us_per_request"] = (
                        round((a - b) / total * 1e6, 1) if a is not None and b is not None else None
                    )
                if result["errors"]:
                    raise SystemExit(f"{target} round {round_number}: {result['errors']} failed requests")
                runs.append({"round": round_number, "kind": kind, "target": target, **result})
                print(f"round {round_number} {kind:4} {target:8} {result['rps']:9.1f} rps", flush=True)
    return path, runs


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Medians of direct and gateway runs of one kind, the ratio of the medians and each round's ratio."""
    if not runs:
        return None

    def median(target: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs if r["target"] == target))

    summary = {
        target: {key: median(target, key) for key in ("rps", "p50_ms", "p99_ms")} for target in ("direct", "gateway")
    }
    direct = [r for r in runs if r["target"] == "direct"]
    gateway = [r for r in runs if r["target"] == "gateway"]
    per_round = [round(g["rps"] / d["rps"], 3) for d, g in zip(direct, gateway, strict=True)]
    # CPU per request of the gateway (in gateway runs) and of the service (in direct runs); None off Linux.
    cpu_samples = {
        "gateway": [r["gateway_cpu_us_per_request"] for r in gateway],
        "upstream": [r["upstream_cpu_us_per_request"] for r in direct],
        "upstream_behind_gateway": [r["upstream_cpu_us_per_request"] for r in gateway],
        "load": [r["load_cpu_us_per_request"] for r in runs],
    }
    return {
        "ratio": round(summary["gateway"]["rps"] / summary["direct"]["rps"], 3),
        "per_round": per_round,
        "median_of_round_ratios": round(statistics.median(per_round), 3),
        "median": summary,
        "cpu_us": {
            name: statistics.median(samples) if None not in samples else None for name, samples in cpu_samples.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-app", default=STANDIN,
                        help="uvicorn factory of the upstream, e.g. services.orders.app:create_app")  # fmt: skip
    parser.add_argument("--post-path", default=None,
                        help=f"also measure this POST (default with the stand-in: {STANDIN_POST_PATH})")  # fmt: skip
    parser.add_argument("--post-body", default=STANDIN_POST_BODY, help="JSON body of the POST")
    parser.add_argument("--no-post", action="store_true", help="GET only")
    parser.add_argument("--path", default="/api/v1/products/1", help="resource to GET (an orders path)")
    parser.add_argument(
        "--seed-product",
        action="store_true",
        help="real orders service: migrate a fresh SQLite database (unless ORDERS_DATABASE_URL is set) "
        "and create the product to read",
    )
    parser.add_argument("--health-path", default="/healthz")
    parser.add_argument("--gateway-workers", type=int, default=1, help="uvicorn workers of the gateway")
    parser.add_argument("--upstream-workers", type=int, default=1, help="uvicorn workers of the upstream")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=20_000, help="per run, upper bound")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run, upper bound")
    parser.add_argument("--warmup", type=int, default=300, help="requests per run before measuring")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.post_path is None and args.upstream_app == STANDIN and not args.no_post:
        args.post_path = STANDIN_POST_PATH
    if args.no_post:
        args.post_path = None
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (the result is a median)")

    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as workdir:
        path, runs = measure(args, Path(workdir))

    summaries = {kind: summarise([r for r in runs if r["kind"] == kind]) for kind in ("get", "post")}
    get = summaries["get"]
    assert get is not None
    summary, per_round, ratio, cpu_us = get["median"], get["per_round"], get["ratio"], get["cpu_us"]
    post = summaries["post"]

    print()
    print(f"upstream: {args.upstream_app}  GET {path}")
    print(f"{'target':10}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for target, figures in summary.items():
        print(f"{target:10}{figures['rps']:>10.1f}{figures['p50_ms']:>10.2f}{figures['p99_ms']:>10.2f}")
    print(f"gateway_over_direct = {ratio}  (per round: {per_round})")
    if None not in cpu_us.values():
        print(
            f"CPU per request (median): gateway {cpu_us['gateway']} us, upstream {cpu_us['upstream']} us, "
            f"load generator {cpu_us['load']} us"
        )
    if post is not None:
        print(f"POST {args.post_path}: direct {post['median']['direct']['rps']} rps, "
              f"gateway {post['median']['gateway']['rps']} rps")  # fmt: skip
        print(f"gateway_over_direct_post = {post['ratio']}  (per round: {post['per_round']}), CPU per request: "
              f"gateway {post['cpu_us']['gateway']} us, upstream {post['cpu_us']['upstream']} us")  # fmt: skip

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "gateway",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "question": "GET of one resource: throughput via the gateway / throughput from the service",
        "gateway_over_direct": ratio,
        "gateway_over_direct_per_round": per_round,
        # Each round's gateway run next to its direct run: less sensitive to load drifting over the whole run.
        "gateway_over_direct_median_of_rounds": get["median_of_round_ratios"],
        "median": summary,
        "median_cpu_us_per_request": cpu_us,
        # The same proxy path serving a POST with a small JSON body (the stand-in's flash-sale purchase).
        "gateway_over_direct_post": post["ratio"] if post else None,
        "post": {"path": args.post_path, "body": args.post_body, **post} if post else None,
        "setup": {
            "upstream_app": args.upstream_app,
            "path": path,
            "servers": {
                "upstream": "uvicorn " + " ".join(UVICORN_FLAGS),
                "gateway": "python -m services.gateway (uvicorn, uvloop, GatewayHttpProtocol, no access log)",
            },
            "workers": {"upstream": args.upstream_workers, "gateway": args.gateway_workers},
            "load": {
                "process": "bench.gateway.loadgen (aiohttp on uvloop, closed loop)",
                "concurrency": args.concurrency,
                "max_requests": args.requests,
                "max_seconds": args.duration,
                "warmup_requests": args.warmup,
            },
            "rounds": args.rounds,
            "order": "interleaved: direct, gateway, direct, gateway, ...",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "runs": runs,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
