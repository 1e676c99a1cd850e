"""Profile the flash-sale purchase path: one orders process under py-spy while the load generator buys.

    .venv/bin/python -m bench.flash.profile_flash [--db-only] [--soldout] [--seconds 6] [--no-profile] [--tree DIR]
        [--env NAME=VALUE ...]

Needs py-spy (`.venv/bin/pip install -e '.[profile]'`; not for --no-profile). Writes collapsed stacks to
$TMPDIR/flash-profile.txt and prints the functions holding the most samples (self and total). Always prints the CPU
microseconds per purchase of the orders process, its PostgreSQL backends and Redis. `--tree` runs the orders
server from another checkout (e.g. a `git worktree` of an older commit), to compare two versions on one machine.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.flash.bench_flash import (
    REPO,
    Servers,
    create_product,
    create_sale,
    leaders_stub,
    load,
    orders_command,
    redis_prefix,
    server_env,
    throwaway_database,
)
from bench.processes import PidSource, cpu_snapshot, cpu_us_per_request, postgres_backend_pids, redis_server_pid
from services.common.testing import free_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-only", action="store_true", help="no Redis: the database decides")
    parser.add_argument("--soldout", action="store_true", help="profile sold-out answers")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--no-profile", action="store_true", help="only measure (rps, latency, server CPU)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--output", type=Path, default=Path(tempfile.gettempdir()) / "flash-profile.txt")
    parser.add_argument("--tree", type=Path, default=REPO, help="the source tree the orders server runs from")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="an extra setting for the orders server, e.g. EVENTS_RELAY_IN_PROCESS=false (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    py_spy = Path(sys.executable).parent / "py-spy"
    if not args.no_profile and not py_spy.exists():
        parser.error(f"{py_spy} is missing: `.venv/bin/pip install -e '.[profile]'` installs it (or use --no-profile)")
    args.requests, args.duration, args.warmup = 100_000, args.seconds, 200
    with (
        tempfile.TemporaryDirectory() as workdir,
        throwaway_database(args.postgres_url) as db_url,
        redis_prefix(args.redis_url) as prefix,
        leaders_stub() as leaders_url,
    ):
        servers = Servers(Path(workdir), tree=args.tree.resolve())
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            "ORDERS_DATABASE_URL": db_url,
            "ORDERS_LEADERS_URL": leaders_url,
            "ORDERS_LEADER_CACHE_SECONDS": "3600",
            **server_env(leaders_url),
        }
        env |= dict(setting.split("=", 1) for setting in args.env)
        if not args.db_only:
            env |= {"ORDERS_REDIS_URL": args.redis_url, "ORDERS_REDIS_PREFIX": prefix}
        try:
            servers.start("orders", orders_command(port, 1), env, url)
            sale = create_sale(url, create_product(url), 50 if args.soldout else 1_000_000)
            spy_command = [str(py_spy), "record", "--format", "raw",
                           "-o", str(args.output), "--rate", "500", "--pid", str(servers.processes["orders"].pid),
                           "--nonblocking"]  # fmt: skip
            spy = None
            if not args.no_profile:
                spy = subprocess.Popen(spy_command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            orders_pid = servers.processes["orders"].pid
            database = db_url.rsplit("/", 1)[1]
            sources: dict[str, PidSource] = {
                "orders": lambda: [orders_pid],
                "postgres": lambda: postgres_backend_pids(args.postgres_url, database),
            }
            if not args.db_only:
                redis_pid = redis_server_pid(args.redis_url)
                sources["redis"] = lambda: [redis_pid]
            before = cpu_snapshot(sources)
            result = load(f"{url}/api/v1/flash-sales/{sale}/orders", args, prefix="p", post=True,
                          expect="409" if args.soldout else "201")  # fmt: skip
            after = cpu_snapshot(sources)
            if spy is not None:
                spy.send_signal(2)
                spy.wait(timeout=30)
            cpu_us = cpu_us_per_request(before, after, result["sent_including_warmup"])
            print({**{k: result[k] for k in ("rps", "p50_ms", "p99_ms", "statuses")}, "cpu_us_per_request": cpu_us})
        finally:
            servers.stop()
    if args.no_profile:
        return
    self_samples: collections.Counter[str] = collections.Counter()
    total_samples: collections.Counter[str] = collections.Counter()
    all_samples = 0
    for line in args.output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        all_samples += n
        self_samples[frames[-1]] += n
        for frame in set(frames):
            total_samples[frame] += n
    print(f"{all_samples} samples\n-- self --")
    for frame, n in self_samples.most_common(25):
        print(f"{n / all_samples:6.1%}  {frame}")
    print("-- total --")
    for frame, n in total_samples.most_common(45):
        print(f"{n / all_samples:6.1%}  {frame}")


if __name__ == "__main__":
    main()
