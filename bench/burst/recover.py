"""The flash-sale recovery step run by hand, as `groupbuy` runs jobs: the orders app built from the environment of the
running stack, `release_orphan_reservations` called once with a grace of `--grace` seconds. Prints how many
reservations it released.

    python -m bench.burst.recover --grace 5

The job inside the orders processes waits 120 s before it calls a reservation without an order an orphan (far
longer than any purchase); the burst benchmark has its load finished and every client answered or timed out, so a
few seconds are enough and the run stays short.
"""

from __future__ import annotations

import argparse
import asyncio

from fastapi import FastAPI

from services.cli import run_job
from services.orders.flash_sales.recovery import release_orphan_reservations


async def recover(grace_seconds: float) -> int:
    async def job(app: FastAPI) -> int:
        return await release_orphan_reservations(
            app.state.db, app.state.flash, now=app.state.clock(), grace_seconds=grace_seconds
        )

    return await run_job("orders", job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grace", type=float, default=5.0, help="seconds after which a reservation is an orphan")
    args = parser.parse_args()
    print(asyncio.run(recover(args.grace)))


if __name__ == "__main__":
    main()
