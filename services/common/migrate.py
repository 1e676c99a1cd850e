"""Alembic for every service, driven from code: each service has its own scripts and its own version table.

python -m services.common.migrate upgrade orders      # apply (uses ORDERS_DATABASE_URL or the SQLite default)
python -m services.common.migrate check orders        # fail if the models drifted from the migrations
python -m services.common.migrate revision orders -m "add x"   # autogenerate a new revision
python -m services.common.migrate upgrade all
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.settings import ServiceSettings

SERVICES = ("leaders", "orders", "points", "accounts", "analytics")
SERVICES_DIR = Path(__file__).resolve().parents[1]


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def service_settings(service: str) -> ServiceSettings:
    module = importlib.import_module(f"services.{service}.config")
    settings: ServiceSettings = module.get_settings()
    return settings


def alembic_config(service: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url or service_settings(service).resolved_database_url())
    cfg.set_main_option("version_table", version_table(service))
    return cfg


def upgrade(service: str, url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, url), revision)


def check(service: str, url: str | None = None) -> None:
    command.check(alembic_config(service, url))


#: Search structures a migration creates that no model declares (the FTS5 table of SQLite, whose shadow tables
#: share its prefix, and PostgreSQL's trigram index): left out when the models are compared with the database.
UNMANAGED_SEARCH_OBJECTS = ("products_fts", "ix_products_name_trgm")


def _managed(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (reflected and name is not None and name.startswith(UNMANAGED_SEARCH_OBJECTS))


def run_env(metadata: MetaData) -> None:
    """The body of every service's `migrations/env.py`."""
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by alembic_config()"
    table = cfg.get_main_option("version_table")

    def configure(connection: Connection | None) -> None:
        context.configure(
            connection=connection,
            url=None if connection is not None else url,
            target_metadata=metadata,
            version_table=table,
            render_as_batch=url.startswith("sqlite"),  # SQLite can only ALTER through table copies
            compare_type=True,
            include_object=_managed,
        )

    if context.is_offline_mode():
        configure(None)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run_sync(connection: Connection) -> None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool, hide_parameters=True)
        async with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                # WAL is a property of the file: set once here, so the services' read connections (which run on
                # the event loop, see services.common.db) never find the database in rollback-journal mode.
                await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            await conn.run_sync(run_sync)
            await conn.commit()
        await engine.dispose()

    asyncio.run(run_async())


def set_id_columns_64_bit(columns: list[tuple[str, str, bool]], *, wide: bool) -> None:
    """For a migration: make `(table, column, nullable)` id columns BIGINT (`wide`) or INTEGER again, with their
    serial sequences, on PostgreSQL. SQLite's INTEGER is 64-bit already: nothing to do there."""
    if op.get_bind().dialect.name != "postgresql":
        return
    new, old = (sa.BigInteger(), sa.Integer()) if wide else (sa.Integer(), sa.BigInteger())
    sequence_type = "bigint" if wide else "integer"
    for table, column, nullable in columns:
        op.alter_column(table, column, type_=new, existing_type=old, existing_nullable=nullable)
        # A serial column's sequence keeps its own type: as `integer` it would stop at 2^31 - 1 anyway.
        op.execute(
            f"DO $$ DECLARE s text; BEGIN s := pg_get_serial_sequence('{table}', '{column}'); "
            f"IF s IS NOT NULL THEN EXECUTE format('ALTER SEQUENCE %s AS {sequence_type}', s); END IF; END $$"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["upgrade", "check", "revision"])
    parser.add_argument("service", choices=[*SERVICES, "all"])
    parser.add_argument("-m", "--message", default="change")
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    targets = SERVICES if args.service == "all" else (args.service,)
    for service in targets:
        if args.action == "upgrade":
            upgrade(service, args.url)
        elif args.action == "check":
            check(service, args.url)
        else:
            command.revision(alembic_config(service, args.url), message=args.message, autogenerate=True)
        print(f"{service}: {args.action} ok")


if __name__ == "__main__":
    main()
