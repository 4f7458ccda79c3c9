"""Shared fixtures: a free loopback port, a throw-away PostgreSQL schema, and real demo shop processes.

``demo_shop("sqlite")`` or ``demo_shop("postgres", faults=["stall"])`` starts a demo shop in its own process
(SQLite in the test's tmp_path, or PostgreSQL in a fresh schema of database ``test`` at 127.0.0.1:5432) and
stops it at teardown; ``api_token=`` and ``stripe_secret=`` configure its checkout API. Without a reachable
PostgreSQL, postgres tests skip locally and fail when ``CI`` is set.
"""

from __future__ import annotations

import os

# Unit tests import Locust in the pytest process itself; patching the standard library for gevent there would
# break pytest-xdist's own threads. Real runs are subprocesses, which support.cli_env() starts without this.
os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import psycopg
import pytest

from shopstorm.demoshop.process import DemoShopProcess

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_DATABASE = "test"


class PostgresSchema(NamedTuple):
    """A store URL for the demo shop and the schema its tables go in; unpacks as ``(store_url, schema)``."""

    store_url: str
    schema: str


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connect_postgres() -> tuple[psycopg.Connection, str]:
    """An autocommit connection to the test database, as ``postgres`` or else as the current user."""
    failures = []
    for user in dict.fromkeys(["postgres", os.environ.get("USER") or os.environ.get("LOGNAME") or ""]):
        conninfo = f"host={PG_HOST} port={PG_PORT} dbname={PG_DATABASE} connect_timeout=3"
        if user:
            conninfo += f" user={user}"
        try:
            return psycopg.connect(conninfo, autocommit=True), user
        except psycopg.Error as error:
            failures.append(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
    raise ConnectionError("; ".join(failures))


@pytest.fixture
def pg_url() -> Iterator[PostgresSchema]:
    """A fresh schema ``t_<hex>`` in database ``test``, dropped (CASCADE) after the test."""
    try:
        conn, user = _connect_postgres()
    except ConnectionError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_HOST}:{PG_PORT} is required in CI: {error}")
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: {error}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            credentials = f"{user}@" if user else ""
            yield PostgresSchema(f"postgresql://{credentials}{PG_HOST}:{PG_PORT}/{PG_DATABASE}", schema)
        finally:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def demo_shop(request: pytest.FixtureRequest, tmp_path) -> Iterator[Callable[..., DemoShopProcess]]:
    """A factory ``demo_shop(store="sqlite" | "postgres", faults=(), api_token=None, stripe_secret=None,
    webshop_answers="reference" | "json")``."""
    started: list[DemoShopProcess] = []

    def start(
        store: str = "sqlite",
        faults: Sequence[str] = (),
        api_token: str | None = None,
        stripe_secret: str | None = None,
        webshop_answers: str = "reference",
    ) -> DemoShopProcess:
        secrets = {"api_token": api_token, "stripe_secret": stripe_secret, "webshop_answers": webshop_answers}
        if store == "sqlite":
            shop = DemoShopProcess(store=f"sqlite:///{tmp_path / f'shop-{len(started)}.db'}", faults=faults, **secrets)
        elif store == "postgres":
            # A second postgres shop in the same test shares the schema (and so the data).
            store_url, schema = request.getfixturevalue("pg_url")
            shop = DemoShopProcess(store=store_url, schema=schema, faults=faults, **secrets)
        else:
            raise ValueError(f"unknown store {store!r}: use 'sqlite' or 'postgres'")
        started.append(shop)
        # Registered after pg_url's own teardown, so it runs first: the shop stops before its schema is dropped.
        request.node.addfinalizer(shop.stop)
        return shop.start()

    yield start
    for shop in started:
        shop.stop()
