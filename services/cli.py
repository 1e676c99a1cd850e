"""`groupbuy`: the operations command line.

Every job command runs the same idempotent function the service's periodic job runs, with the service built from
the same settings (environment variables) as the running process, so running one by hand next to the service is
safe: each effect is a guarded update or a unique key. Services are found where `make run` puts them (the
`<SERVICE>_PORT` settings) unless their URLs are set explicitly. Any failure ends with one line saying what went
wrong and a non-zero exit code.

    groupbuy --help
    groupbuy migrate                     # every service's migrations
    groupbuy settle                      # commission whose freeze has passed becomes available
    groupbuy cutoff                      # batch paid orders for delivery now
    groupbuy reconcile --from 2026-12-01T00:00:00+08:00 --to 2026-12-02T00:00:00+08:00
    groupbuy seed                        # the demo data `make run` loads, through the gateway
    groupbuy seed --leaders 1000 --orders 1000000   # load-test data, straight into each database
    groupbuy rebuild-analytics           # analytics' read model again from the producers' outboxes
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from fastapi import FastAPI
from pydantic import BaseModel
from rich.console import Console

from services import launcher

T = TypeVar("T")

cli = typer.Typer(
    name="groupbuy",
    help="Operate the community group-buying backend: migrations, periodic jobs by hand, reconciliation, events.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class Failed(Exception):
    """A command that cannot go on: its message is the one line the operator sees."""


def _point_at_local_services() -> None:
    """The URLs every process would get from `make run` (from the `<SERVICE>_PORT` settings), unless set already."""
    ports = {service: launcher.service_port(service) for service in launcher.SERVICES}
    for name, value in launcher.child_environment(None, ports).items():
        if name.endswith("_URL") and name not in os.environ:
            os.environ[name] = value


def describe(error: BaseException) -> str:
    """One line for an exception: the driver's own message for database errors, never a traceback."""
    cause = getattr(error, "orig", None) or error
    if isinstance(cause, ConnectionRefusedError | OSError) and not str(cause):
        text = type(cause).__name__
    else:
        text = str(cause) or type(cause).__name__
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:297] + "..."


def run(work: Awaitable[T]) -> T:
    """Run a command's coroutine; any failure becomes one red line and exit code 1."""
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Failed as failure:
        err.print(f"[red]error:[/red] {failure}")
        raise typer.Exit(1) from None
    except Exception as error:
        err.print(f"[red]error:[/red] {type(error).__name__}: {describe(error)}")
        raise typer.Exit(1) from None


@asynccontextmanager
async def service_app(service: str) -> AsyncIterator[FastAPI]:
    """The service's app, as its process builds it (settings from the environment), without serving requests or
    starting its background jobs; its connections are closed at the end."""
    _point_at_local_services()
    module = importlib.import_module(f"services.{service}.app")
    app: FastAPI = module.create_app()
    try:
        yield app
    finally:
        await app.state.release_resources(app)


async def run_job(service: str, job: Callable[[FastAPI], Awaitable[T]]) -> T:
    async with service_app(service) as app:
        return await job(app)


def show(result: Any) -> None:
    if isinstance(result, BaseModel):
        out.print_json(result.model_dump_json())
    else:
        out.print(result)


def _job(module: str, function: str) -> Callable[[FastAPI], Awaitable[Any]]:
    job: Callable[[FastAPI], Awaitable[Any]] = getattr(importlib.import_module(module), function)
    return job


def _audited(
    job: Callable[[FastAPI], Awaitable[Any]],
    *,
    action: str,
    target: Callable[[Any, datetime], tuple[str, str]],
    summary: Callable[[Any], Any] = lambda result: result,
) -> Callable[[FastAPI], Awaitable[Any]]:
    """The job, then its entry in the audit trail: run by `cli:<os user>`, with what came of it (the same action
    as the staff route that runs it). The running service's relay delivers the entry."""
    from services.common import audit

    async def audited(app: FastAPI) -> Any:
        result = await job(app)
        outbox = importlib.import_module(f"services.{app.state.service}.db").outbox
        at = app.state.clock()
        await audit.record_run(
            app.state.db, outbox, actor=audit.cli_actor(), action=action, target=target(result, at),
            result=summary(result), at=at,
        )  # fmt: skip
        return result

    return audited


# -- migrations -----------------------------------------------------------------------------------------------------


@cli.command()
def migrate(service: Annotated[str, typer.Argument(help="a service, or 'all'")] = "all") -> None:
    """Apply migrations (each service's own database and history)."""
    from services.common import migrate as migrations

    targets = migrations.SERVICES if service == "all" else (service,)
    if service != "all" and service not in migrations.SERVICES:
        err.print(f"[red]error:[/red] unknown service {service!r}; one of: {', '.join(migrations.SERVICES)}, all")
        raise typer.Exit(2)
    for target in targets:
        try:
            migrations.upgrade(target)
        except Exception as error:
            err.print(f"[red]error:[/red] {target}: {type(error).__name__}: {describe(error)}")
            raise typer.Exit(1) from None
        out.print(f"{target}: migrated")


# -- periodic jobs, by hand ----------------------------------------------------------------------------------------


@cli.command()
def settle() -> None:
    """Make commission whose freeze has passed available (leaders' settlement job)."""
    job = _job("services.leaders.commission.jobs", "settlement_job")
    audited = _audited(job, action="commission.settled", target=lambda r, _: ("settlement", r.cutoff.isoformat()))
    show(run(run_job("leaders", audited)))


@cli.command("evaluate-levels")
def evaluate_levels() -> None:
    """Promote and demote leaders by their figures (leaders' level evaluation)."""
    job = _job("services.leaders.levels.jobs", "level_evaluation_job")
    audited = _audited(
        job, action="level.evaluated", target=lambda _, at: ("level_evaluation", at.isoformat()),
        summary=lambda r: r.model_dump(exclude={"changes"}),
    )  # fmt: skip
    show(run(run_job("leaders", audited)))


@cli.command("cancel-expired")
def cancel_expired() -> None:
    """Cancel orders whose payment time ran out, returning their stock and points once."""
    cancelled = run(run_job("orders", _job("services.orders.orders.jobs", "payment_timeout_job")))
    out.print(f"cancelled {cancelled} unpaid orders")


@cli.command()
def cutoff() -> None:
    """Batch paid orders per leader for delivery, as the daily cut-off does."""
    from services.orders.delivery.jobs import cutoff_summary

    job = _job("services.orders.delivery.jobs", "delivery_cutoff_job")
    audited = _audited(
        job, action="delivery.cutoff_run", target=lambda r, _: ("pickup_date", r.pickup_date.isoformat()),
        summary=cutoff_summary,
    )  # fmt: skip
    show(run(run_job("orders", audited)))


@cli.command("send-refunds")
def send_refunds() -> None:
    """Send pending refunds to the payment provider."""
    job = _job("services.orders.payments.jobs", "refund_sender_job")
    audited = _audited(job, action="refunds.sent", target=lambda _, at: ("refund_run", at.isoformat()))
    show(run(run_job("orders", audited)))


@cli.command("close-flash-sales")
def close_flash_sales() -> None:
    """Give the unsold units of ended flash sales back to their products."""
    closed = run(run_job("orders", _job("services.orders.flash_sales.jobs", "close_job")))
    out.print(f"closed {closed} flash sales")


@cli.command("expire-points")
def expire_points() -> None:
    """Expire points whose lots passed their date, and release holds never committed."""
    expired = run(run_job("points", _job("services.points.ledger.jobs", "expiry_job")))
    released = run(run_job("points", _job("services.points.holds.jobs", "expired_holds_job")))
    out.print(f"expired {expired} points; released {released} expired holds")


# -- checks --------------------------------------------------------------------------------------------------------


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date-time") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{value!r} needs a UTC offset, e.g. 2026-12-01T00:00:00+08:00")
    return moment


@cli.command()
def reconcile(
    since: Annotated[str, typer.Option("--from", help="start, ISO with offset")],
    until: Annotated[str, typer.Option("--to", help="end, ISO with offset")],
) -> None:
    """Check that every order effect reached leaders and points once, and that every commission or points effect
    they hold has its order; exit 1 on any loss, duplicate, mismatch or orphaned effect."""
    from services.orders.reconciliation.service import reconcile as reconcile_effects

    start, end = _instant(since), _instant(until)

    async def check(app: FastAPI) -> Any:
        # The same questions the ops route asks: the consumers answer for their own books, over HTTP (this command
        # already needs them up for what they applied per order, so reading their databases would add nothing).
        async with app.state.db.reading() as session:
            return await reconcile_effects(
                session, since=start, until=end, effects=app.state.effects, receiving=app.state.receiving
            )

    report = run(run_job("orders", check))
    show(report)
    if report.lost or report.duplicated or report.mismatched or report.orphaned:
        raise typer.Exit(1)


# -- data ----------------------------------------------------------------------------------------------------------


@cli.command()
def seed(
    leaders: Annotated[int, typer.Option(min=0, help="load-test leaders (0: the demo data instead)")] = 0,
    members: Annotated[
        int | None, typer.Option(min=0, help="customers in their communities (default 20 per leader)")
    ] = None,
    orders: Annotated[int, typer.Option(min=0, help="picked-up orders over the last 30 days")] = 0,
    analytics: Annotated[bool, typer.Option(help="rebuild analytics' read model from the seeded events")] = True,
    gateway: Annotated[str | None, typer.Option(help="for the demo data; default: where `make run` serves")] = None,
) -> None:
    """Demo data through the gateway (what `make run` loads), or with --leaders/--orders load-test data written
    straight into each service's database (refuses to seed twice)."""
    if leaders == 0:
        if orders or members:
            raise typer.BadParameter("load-test data needs --leaders")
        _seed_demo(gateway)
        return
    from services import seed as seeding

    plan = seeding.SeedPlan(leaders=leaders, members=leaders * 20 if members is None else members, orders=orders,
                            analytics=analytics)  # fmt: skip
    if plan.orders and not plan.members:
        raise typer.BadParameter("orders need members to place them (--members)")
    _point_at_local_services()
    report = run(_seed_with_progress(seeding, plan))
    spent = sum(report.seconds.values())
    out.print(
        f"seeded {report.leaders} leaders, {report.members} members, {report.orders} orders "
        f"({report.orders_per_second:,.0f} orders/s), {report.commission_entries} commission and "
        f"{report.points_entries} points entries, {report.analytics_events} events into analytics, in {spent:.1f} s "
        f"({', '.join(f'{stage} {seconds:.1f} s' for stage, seconds in report.seconds.items())})"
    )


async def _seed_with_progress(seeding: Any, plan: Any) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=out) as progress:
        task = progress.add_task("orders", total=plan.orders, rate="")
        started = time.perf_counter()

        def advance(count: int) -> None:
            done = progress.tasks[task].completed + count
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=count, rate=f"{rate:,.0f} orders/s")

        def stage(name: str) -> None:
            progress.console.print(f"seeding {name}...")

        try:
            return await seeding.seed_load(plan, progress=advance, stage=stage)
        except seeding.AlreadySeeded as refused:
            raise Failed(str(refused)) from None


def _seed_demo(gateway: str | None) -> None:
    import httpx

    from services.demo import DemoContext, StepFailed, format_report
    from services.demo import seed as load_demo
    from services.gateway.config import GatewaySettings

    url = gateway or f"http://127.0.0.1:{GatewaySettings().port}"
    try:
        with httpx.Client(base_url=url, timeout=10.0) as client:
            results = load_demo(DemoContext(client=client))
    except (httpx.HTTPError, StepFailed) as error:
        err.print(f"[red]error:[/red] the gateway at {url} did not load the demo data: {describe(error)}")
        raise typer.Exit(1) from None
    for line in format_report(results):
        out.print(line)
    if any(result.outcome == "failed" for result in results):
        raise typer.Exit(1)


@cli.command("rebuild-analytics")
def rebuild_analytics(
    from_databases: Annotated[
        bool, typer.Option("--from-databases", help="read the outboxes from the producers' databases, not their APIs")
    ] = False,
) -> None:
    """Empty analytics' read model and replay every event the producers published (analytics' own rebuild)."""
    _point_at_local_services()
    if from_databases:
        from services.seed import rebuild_analytics_from_databases

        read = run(rebuild_analytics_from_databases())
        out.print(f"analytics rebuilt: {read} events read")
        return
    from services.analytics.config import get_settings
    from services.analytics.rebuild import _main as rebuild_through_apis

    stats = run(rebuild_through_apis(get_settings()))
    sources = ", ".join(f"{name} {count}" for name, count in stats.by_source.items())
    out.print(
        f"analytics rebuilt: {stats.read} events read ({sources}), {stats.applied} applied, {stats.seconds:.1f} s"
    )


# -- events --------------------------------------------------------------------------------------------------------


@cli.command()
def relay(service: Annotated[str, typer.Argument(help="whose outbox to deliver")]) -> None:
    """Deliver one service's outbox as its own process (run the service with EVENTS_RELAY_IN_PROCESS=false)."""
    from services.common.events import relay as relay_module

    _point_at_local_services()
    try:
        relay_module.main([service])
    except SystemExit as exit_:
        raise typer.Exit(int(exit_.code or 0)) from None


# -- running --------------------------------------------------------------------------------------------------------


@cli.command("run")
def run_system() -> None:
    """Start every service and the gateway (what `make run` runs, after migrating)."""
    raise typer.Exit(launcher.main([]))


def main() -> None:
    # A terminal's Ctrl-C while a job runs stops it between its transactions: each item commits on its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cli(prog_name="groupbuy")


if __name__ == "__main__":
    main()
