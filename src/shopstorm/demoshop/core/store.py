"""The demo shop's store: where it lives, its tables, and the transactions every handler runs in.

A store URL (``sqlite:///path.db`` or ``postgresql://user@host:port/db``) is parsed once into a
:class:`StoreLocation`, mapped to an async driver (aiosqlite, psycopg) and described without its password.
:class:`Store` owns the one engine of the process, creates the schema and tables at start-up (idempotent),
and hands out read connections and write transactions. The storefront's tables are declared on the same
:data:`metadata` by their own modules (``storefront/``: ``catalog``, ``sessions``, ``accounts``, ``purchases``),
and so are the checkout API's (``checkout_api/``: ``checkouts``, ``orders``, ``webhooks``, ``stripe_events``) and
the job queue's (:mod:`jobs`); the app imports them all before the store is prepared. On PostgreSQL, correctness comes
from row locks and conditional updates in the handlers; on SQLite, write transactions are serialised in-process
by one :class:`asyncio.Lock` (WAL mode lets reads run beside them), so concurrent writers never meet SQLITE_BUSY.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.dml import Insert

# Stored counters (stock, credit, quantities, costs) stay below this, far from 64-bit overflow.
MAX_BALANCE = 10**15
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_CONNECT_TIMEOUT_S = 5

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("id", String, primary_key=True),
    Column("stock", BigInteger, nullable=False),
    Column("price", BigInteger, nullable=False),
)
users = Table(
    "users",
    metadata,
    Column("id", String, primary_key=True),
    Column("credit", BigInteger, nullable=False),
)
orders = Table(
    "orders",
    metadata,
    Column("id", String, primary_key=True),
    Column("user_id", String, nullable=False),
    Column("paid", Boolean, nullable=False),
    Column("total_cost", BigInteger, nullable=False),
)
# One line per item of an order; ``cost`` is what the line added to the order's total when it was added.
order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String, nullable=False),
    Column("item_id", String, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=False),
    PrimaryKeyConstraint("order_id", "item_id"),
)


class StoreURLError(ValueError):
    """A store URL or schema name the demo shop cannot use."""


class StoreUnreachableError(RuntimeError):
    """The store could not be reached or prepared at start-up."""


@dataclass(frozen=True)
class StoreLocation:
    """Where the store lives: its kind, the async driver URL, and the PostgreSQL schema."""

    kind: Literal["sqlite", "postgresql"]
    url: URL
    schema: str | None = None

    def describe(self) -> str:
        """A one-line description for the banner; never contains a password."""
        if self.kind == "sqlite":
            return f"sqlite {self.url.database}"
        port = f":{self.url.port}" if self.url.port else ""
        return f"postgresql {self.url.host or 'localhost'}{port}/{self.url.database} schema {self.schema}"


def parse_store_url(raw: str, schema: str | None = None) -> StoreLocation:
    """Parse ``sqlite:///path`` or ``postgresql://...`` into a location with its async driver."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise StoreURLError(f"malformed store URL {_without_password(raw)!r}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise StoreURLError("--schema applies to PostgreSQL stores only")
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise StoreURLError("a SQLite store needs a file path, e.g. sqlite:///shop.db")
        return StoreLocation("sqlite", url.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        if not url.database:
            raise StoreURLError("a PostgreSQL store URL needs a database, e.g. postgresql://host:5432/shop")
        schema = schema or "public"
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StoreURLError(f"invalid schema name {schema!r} (letters, digits and _ only)")
        return StoreLocation("postgresql", url.set(drivername="postgresql+psycopg"), schema)
    raise StoreURLError(
        f"unsupported store URL scheme {url.drivername!r}: use sqlite:///path.db or postgresql://host:port/db"
    )


def _without_password(raw: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", raw)


class Store:
    """The process's one engine, its schema, and the transactions handlers run in."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self._write_lock = asyncio.Lock() if location.kind == "sqlite" else None
        self.engine = self._create_engine(location)

    @staticmethod
    def _create_engine(location: StoreLocation) -> AsyncEngine:
        if location.kind == "sqlite":
            engine = create_async_engine(location.url, poolclass=AsyncAdaptedQueuePool, pool_size=8, max_overflow=8)
            event.listen(engine.sync_engine, "connect", _tune_sqlite_connection)
            return engine
        engine = create_async_engine(
            location.url,
            pool_size=10,
            max_overflow=10,
            connect_args={"connect_timeout": _CONNECT_TIMEOUT_S},
        )
        return engine.execution_options(schema_translate_map={None: location.schema})

    @property
    def is_sqlite(self) -> bool:
        return self.location.kind == "sqlite"

    async def prepare(self) -> None:
        """Create the schema (PostgreSQL) and the tables if missing; raise if the store is unreachable."""
        try:
            async with self.engine.begin() as conn:
                if self.location.kind == "postgresql":
                    await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.location.schema}"'))
                await conn.run_sync(metadata.create_all)
        except (DBAPIError, OSError) as error:
            raise StoreUnreachableError(_first_line(error)) from None

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; never waits for the SQLite write lock."""
        async with self.engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def write(self, *, discard: bool = False) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        ``discard=True`` rolls back even on success; only the ``ack-before-commit`` fault asks for it.
        """
        async with self._write_slot(), self.engine.connect() as conn:
            transaction = await conn.begin()
            try:
                yield conn
            except BaseException:
                await transaction.rollback()
                raise
            if discard:
                await transaction.rollback()
            else:
                await transaction.commit()

    @contextlib.asynccontextmanager
    async def _write_slot(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    def upsert(self, table: Table, values: dict[str, Any] | None = None) -> Insert:
        """An INSERT that overwrites every non-key column when the primary key already exists."""
        dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
        statement = dialect_insert(table)
        if values is not None:
            statement = statement.values(values)
        keys = [column.name for column in table.primary_key.columns]
        overwrite = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
        return statement.on_conflict_do_update(index_elements=keys, set_=overwrite)

    def insert_if_new(self, table: Table) -> Insert:
        """An INSERT that does nothing when the primary key already exists; it returns the key of a row it inserted.

        Its result has a row exactly when it inserted one (psycopg reports no rowcount for an INSERT).
        """
        dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
        keys = list(table.primary_key.columns)
        return dialect_insert(table).on_conflict_do_nothing(index_elements=keys).returning(*keys)

    def increment_line(self) -> Insert:
        """An INSERT of an order line that adds quantity and cost to an existing line of the same item."""
        dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
        statement = dialect_insert(order_lines)
        return statement.on_conflict_do_update(
            index_elements=["order_id", "item_id"],
            set_={
                "quantity": order_lines.c.quantity + statement.excluded.quantity,
                "cost": order_lines.c.cost + statement.excluded.cost,
            },
        )


def _tune_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__
