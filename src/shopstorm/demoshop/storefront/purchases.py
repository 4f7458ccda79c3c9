"""Storefront orders and their payment: placing an order from a session's cart, and paying it exactly once.

Placing an order (the checkout summary's POST) locks the session row, copies the cart's lines with their current
prices and product names into ``storefront_orders`` / ``storefront_order_lines`` under a random token, and
empties the cart and the checkout data, all in one transaction, so a double submit places one order.
Paying is one transaction too: lock the order row; a paid order is never charged again; a declined card changes
nothing; otherwise take every line's stock with a conditional ``UPDATE`` in item-id order (never below 0, and
in the order the webshop checkout locks items in, so the two cannot deadlock), record one payment row and mark
the order paid. An item short of stock rolls the whole transaction back.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.core.balances import take_stock
from shopstorm.demoshop.core.store import Store, metadata
from shopstorm.demoshop.storefront import sessions
from shopstorm.demoshop.storefront.catalog import Catalog

SHIPPING_PRICES = {"standard": 0, "express": 5}
FULLY_CHARGED = "fully-charged"
NOT_CHARGED = "not-charged"

storefront_orders = Table(
    "storefront_orders",
    metadata,
    Column("token", String, primary_key=True),
    Column("email", String, nullable=False, index=True),
    Column("paid", Boolean, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("shipping_method", String, nullable=False),
    Column("shipping_price", BigInteger, nullable=False),
    Column("address", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("confirmation_shown_at", Float, nullable=True),
)
storefront_order_lines = Table(
    "storefront_order_lines",
    metadata,
    Column("order_token", String, nullable=False),
    Column("item_id", String, nullable=False),
    Column("product_name", String, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    PrimaryKeyConstraint("order_token", "item_id"),
)
storefront_payments = Table(
    "storefront_payments",
    metadata,
    Column("id", String, primary_key=True),
    Column("order_token", String, nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("status", String, nullable=False),
    Column("created_at", Float, nullable=False),
)


class PaymentOutcome(StrEnum):
    """What a payment attempt did; the refusals are the ``data-reason`` the payment page shows."""

    PAID = "paid"
    ALREADY_PAID = "already_paid"
    OUT_OF_STOCK = "out_of_stock"
    DECLINED = "payment_declined"


@dataclass(frozen=True)
class OrderLine:
    item_id: str
    product_name: str
    quantity: int
    unit_price: int

    @property
    def cost(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class PlacedOrder:
    token: str
    email: str
    paid: bool
    total: int
    shipping_method: str
    shipping_price: int
    confirmation_shown: bool
    lines: list[OrderLine]


class _OutOfStock(Exception):
    """Raised inside the payment transaction to roll back the stock already taken."""


async def place_order(store: Store, catalog: Catalog, session_id: str) -> str | None:
    """Turn the session's cart and checkout data into an unpaid order; its token, or None if incomplete."""
    async with store.write() as conn:
        session = await sessions.load(conn, session_id, lock=True)
        if session is None:
            return None
        lines = await sessions.cart(conn, catalog, session_id)
        checkout = session.checkout
        email = session.customer_email or checkout.get("email")
        method = checkout.get("method")
        if not lines or not email or "address" not in checkout or method not in SHIPPING_PRICES:
            return None
        token = uuid.uuid4().hex
        shipping_price = SHIPPING_PRICES[method]
        await conn.execute(
            insert(storefront_orders).values(
                token=token,
                email=email,
                paid=False,
                total=sum(line.cost for line in lines) + shipping_price,
                shipping_method=method,
                shipping_price=shipping_price,
                address=json.dumps(checkout["address"], sort_keys=True),
                created_at=time.time(),
            )
        )
        await conn.execute(
            insert(storefront_order_lines),
            [
                {
                    "order_token": token,
                    "item_id": line.product.item_id,
                    "product_name": line.product.name,
                    "quantity": line.quantity,
                    "unit_price": line.product.price,
                }
                for line in lines
            ],
        )
        await conn.execute(delete(sessions.cart_lines).where(sessions.cart_lines.c.session_id == session_id))
        await sessions.save_checkout(conn, session_id, {})
    return token


async def pay(store: Store, token: str, charge_status: str, charge_twice: bool = False) -> PaymentOutcome | None:
    """Pay an order with the dummy gateway; None for an unknown order. ``charge_twice`` is the ``double-charge``
    fault: the gateway call is retried without an idempotency key, so the card is charged twice."""
    try:
        async with store.write() as conn:
            of_token = storefront_orders.c.token == token
            order = (await conn.execute(select(storefront_orders).where(of_token).with_for_update())).first()
            if order is None:
                return None
            if order.paid:
                return PaymentOutcome.ALREADY_PAID
            if charge_status != FULLY_CHARGED:
                return PaymentOutcome.DECLINED
            if await take_stock(conn, [(line.item_id, line.quantity) for line in await _lines(conn, token)]):
                raise _OutOfStock
            charge = {"order_token": token, "amount": int(order.total), "status": charge_status}
            charges = 2 if charge_twice else 1
            await conn.execute(
                insert(storefront_payments),
                [{**charge, "id": uuid.uuid4().hex, "created_at": time.time()} for _ in range(charges)],
            )
            await conn.execute(update(storefront_orders).where(of_token).values(paid=True))
    except _OutOfStock:
        return PaymentOutcome.OUT_OF_STOCK
    return PaymentOutcome.PAID


async def find_order(store: Store, token: str) -> PlacedOrder | None:
    async with store.read() as conn:
        order = (await conn.execute(select(storefront_orders).where(storefront_orders.c.token == token))).first()
        if order is None:
            return None
        return PlacedOrder(
            token=order.token,
            email=order.email,
            paid=bool(order.paid),
            total=int(order.total),
            shipping_method=order.shipping_method,
            shipping_price=int(order.shipping_price),
            confirmation_shown=order.confirmation_shown_at is not None,
            lines=await _lines(conn, token),
        )


async def record_confirmation_shown(store: Store, token: str) -> None:
    """Remember when a paid order's confirmation was first shown."""
    async with store.write() as conn:
        await conn.execute(
            update(storefront_orders)
            .where(
                storefront_orders.c.token == token,
                storefront_orders.c.paid.is_(True),
                storefront_orders.c.confirmation_shown_at.is_(None),
            )
            .values(confirmation_shown_at=time.time())
        )


async def order_audit(store: Store, token: str) -> dict[str, Any] | None:
    """An order as the audit reads it: paid flag, total, lines, every payment, whether its confirmation showed."""
    order = await find_order(store, token)
    if order is None:
        return None
    async with store.read() as conn:
        payments = await conn.execute(
            select(storefront_payments.c.amount, storefront_payments.c.status)
            .where(storefront_payments.c.order_token == token)
            .order_by(storefront_payments.c.created_at)
        )
        return {
            "token": order.token,
            "email": order.email,
            "paid": order.paid,
            "total": order.total,
            "lines": [[line.item_id, line.quantity] for line in order.lines],
            "payments": [{"amount": int(amount), "status": status} for amount, status in payments],
            "confirmation_shown": order.confirmation_shown,
        }


async def orders_of(conn: AsyncConnection, email: str) -> list[str]:
    """Tokens of every order placed with this email, oldest first."""
    result = await conn.execute(
        select(storefront_orders.c.token)
        .where(storefront_orders.c.email == email)
        .order_by(storefront_orders.c.created_at, storefront_orders.c.token)
    )
    return [str(token) for token in result.scalars()]


async def _lines(conn: AsyncConnection, token: str) -> list[OrderLine]:
    result = await conn.execute(
        select(storefront_order_lines)
        .where(storefront_order_lines.c.order_token == token)
        .order_by(storefront_order_lines.c.item_id)
    )
    return [OrderLine(row.item_id, row.product_name, int(row.quantity), int(row.unit_price)) for row in result]
