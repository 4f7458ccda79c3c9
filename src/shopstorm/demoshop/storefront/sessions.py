"""Shopper sessions of the storefront: the ``sessionid`` cookie and what the store keeps under it.

A session is a row of ``storefront_sessions`` (the logged-in customer's email, and the checkout's email,
address and shipping method as JSON) plus its cart, one row of ``cart_lines`` per item. All of it lives in the
store, not in the process, so several shop processes on one PostgreSQL schema serve the same shoppers. A
session row is created on the first write (add to cart, sign up, log in) under a new random id; an id the store
does not know is never adopted, so a client cannot choose its session id. Writes that read the session first
lock its row (``SELECT ... FOR UPDATE`` on PostgreSQL, the store's write lock on SQLite).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from shopstorm.demoshop.core.store import Store, items, metadata
from shopstorm.demoshop.storefront.catalog import Catalog, Product, product_of

COOKIE = "sessionid"
_COOKIE_MAX_AGE_S = 14 * 24 * 3600  # Django's default session age: two weeks
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{32,64}")

storefront_sessions = Table(
    "storefront_sessions",
    metadata,
    Column("id", String, primary_key=True),
    Column("customer_email", String, nullable=True),
    Column("checkout", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
cart_lines = Table(
    "cart_lines",
    metadata,
    Column("session_id", String, nullable=False),
    Column("item_id", String, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    PrimaryKeyConstraint("session_id", "item_id"),
)


@dataclass(frozen=True)
class ShopperSession:
    """A stored session: who is logged in, and what the checkout has collected so far."""

    id: str
    customer_email: str | None
    checkout: dict[str, Any]


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def cost(self) -> int:
        return self.product.price * self.quantity


def session_id_of(request: Request) -> str | None:
    """The session id the client sent, if it is well-formed."""
    session_id = request.cookies.get(COOKIE)
    return session_id if session_id and _SESSION_ID.fullmatch(session_id) else None


def set_session_cookie(response: Response, session_id: str) -> None:
    response.set_cookie(COOKIE, session_id, max_age=_COOKIE_MAX_AGE_S, path="/", httponly=True, samesite="lax")


async def load(conn: AsyncConnection, session_id: str | None, *, lock: bool = False) -> ShopperSession | None:
    """The stored session, or None; ``lock=True`` (inside a write) locks its row until the transaction ends."""
    if session_id is None:
        return None
    query = select(storefront_sessions).where(storefront_sessions.c.id == session_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        return None
    return ShopperSession(row.id, row.customer_email, json.loads(row.checkout))


async def cart(conn: AsyncConnection, catalog: Catalog, session_id: str) -> list[CartLine]:
    """The session's cart lines with their products, in item-id order."""
    query = (
        catalog.select_products()
        .add_columns(cart_lines.c.quantity)
        .join(cart_lines, cart_lines.c.item_id == items.c.id)
        .where(cart_lines.c.session_id == session_id)
        .order_by(items.c.id)
    )
    return [CartLine(product_of(row), int(row.quantity)) for row in await conn.execute(query)]


async def add_to_cart(store: Store, session_id: str | None, item_id: str, quantity: int) -> tuple[str, int]:
    """Add units of an item to the session's cart (creating the session if needed); return its id and unit count."""
    dialect_insert = sqlite.insert if store.is_sqlite else postgresql.insert
    async with store.write() as conn:
        session = await _existing_or_new(conn, session_id)
        add_line = dialect_insert(cart_lines).values(session_id=session.id, item_id=item_id, quantity=quantity)
        await conn.execute(
            add_line.on_conflict_do_update(
                index_elements=["session_id", "item_id"],
                set_={"quantity": cart_lines.c.quantity + add_line.excluded.quantity},
            )
        )
        units = await conn.scalar(select(func.sum(cart_lines.c.quantity)).where(cart_lines.c.session_id == session.id))
    return session.id, int(units or 0)


async def update_checkout(store: Store, session_id: str, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into the checkout data of an existing session."""
    async with store.write() as conn:
        session = await load(conn, session_id, lock=True)
        if session is not None:
            await save_checkout(conn, session_id, {**session.checkout, **changes})


async def save_checkout(conn: AsyncConnection, session_id: str, checkout: dict[str, Any]) -> None:
    await conn.execute(
        update(storefront_sessions)
        .where(storefront_sessions.c.id == session_id)
        .values(checkout=json.dumps(checkout, sort_keys=True))
    )


async def log_in(store: Store, session_id: str | None, email: str) -> str:
    """Mark the session (created if needed) as the customer's; return the session id."""
    async with store.write() as conn:
        session = await _existing_or_new(conn, session_id)
        await conn.execute(
            update(storefront_sessions).where(storefront_sessions.c.id == session.id).values(customer_email=email)
        )
    return session.id


async def _existing_or_new(conn: AsyncConnection, session_id: str | None) -> ShopperSession:
    """The stored session, locked, or a new one under a fresh random id."""
    session = await load(conn, session_id, lock=True)
    if session is not None:
        return session
    session = ShopperSession(secrets.token_urlsafe(32), None, {})
    await conn.execute(
        insert(storefront_sessions).values(id=session.id, customer_email=None, checkout="{}", created_at=time.time())
    )
    return session
