"""Orders before checkout: creating one, reading it back, and adding or removing its item lines.

An order has one line per item. Adding an item grows that line's quantity and the order's ``total_cost`` by
quantity x the item's price at that moment; the line remembers what it cost, so removing it takes exactly
that back off the total. Every change locks the order row first (``SELECT ... FOR UPDATE`` on PostgreSQL,
the store's write lock on SQLite), which also serialises it against a checkout of the same order.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.core.errors import ApiError, not_found
from shopstorm.demoshop.core.store import MAX_BALANCE, Store, items, order_lines, orders, users


async def create_order(store: Store, user_id: str) -> str:
    """Create an empty, unpaid order for an existing user and return its id."""
    order_id = uuid.uuid4().hex
    async with store.write() as conn:
        if await conn.scalar(select(users.c.id).where(users.c.id == user_id)) is None:
            raise not_found("user", user_id)
        await conn.execute(insert(orders).values(id=order_id, user_id=user_id, paid=False, total_cost=0))
    return order_id


async def find_order(store: Store, order_id: str) -> dict[str, Any]:
    """The order as the webshop API shows it: paid flag, ``[item_id, quantity]`` lines, user, total."""
    async with store.read() as conn:
        order = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
        if order is None:
            raise not_found("order", order_id)
        lines = await conn.execute(
            select(order_lines.c.item_id, order_lines.c.quantity)
            .where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.item_id)
        )
        return {
            "order_id": order.id,
            "paid": bool(order.paid),
            "items": [[line.item_id, int(line.quantity)] for line in lines],
            "user_id": order.user_id,
            "total_cost": int(order.total_cost),
        }


async def lock_order(conn: AsyncConnection, order_id: str) -> Row[Any]:
    """Read an order inside a write transaction, locking its row on PostgreSQL; 404 if unknown."""
    order = (await conn.execute(select(orders).where(orders.c.id == order_id).with_for_update())).first()
    if order is None:
        raise not_found("order", order_id)
    return order


def refuse_paid(order_id: str) -> ApiError:
    return ApiError(400, f"Order: {order_id} is already paid", reason="already_paid")


async def add_line(store: Store, order_id: str, item_id: str, quantity: int) -> int:
    """Add ``quantity`` of an item to an unpaid order; return the order's new total cost."""
    async with store.write() as conn:
        order = await lock_order(conn, order_id)
        if order.paid:
            raise refuse_paid(order_id)
        price = await conn.scalar(select(items.c.price).where(items.c.id == item_id))
        if price is None:
            raise not_found("item", item_id)
        cost = quantity * int(price)
        total_cost = int(order.total_cost) + cost
        if total_cost > MAX_BALANCE:
            raise ApiError(400, f"total cost of order {order_id!r} would exceed {MAX_BALANCE}")
        await conn.execute(
            store.increment_line(),
            {"order_id": order_id, "item_id": item_id, "quantity": quantity, "cost": cost},
        )
        await conn.execute(update(orders).where(orders.c.id == order_id).values(total_cost=total_cost))
    return total_cost


async def remove_line(store: Store, order_id: str, item_id: str) -> int:
    """Remove an item's whole line from an unpaid order; return the order's new total cost."""
    async with store.write() as conn:
        order = await lock_order(conn, order_id)
        if order.paid:
            raise refuse_paid(order_id)
        line_of_item = (order_lines.c.order_id == order_id) & (order_lines.c.item_id == item_id)
        cost = await conn.scalar(select(order_lines.c.cost).where(line_of_item))
        if cost is None:
            raise ApiError(400, f"Item: {item_id} is not in order: {order_id}")
        total_cost = int(order.total_cost) - int(cost)
        await conn.execute(delete(order_lines).where(line_of_item))
        await conn.execute(update(orders).where(orders.c.id == order_id).values(total_cost=total_cost))
    return total_cost
