"""Checkout of an order: take every line's stock and charge the user the order's total, all or nothing.

The correct checkout runs in one transaction: lock the order row, refuse a paid or empty order, take each
line's stock with a conditional ``UPDATE`` in sorted item-id order (so concurrent checkouts cannot deadlock),
charge the user with a conditional ``UPDATE``, mark the order paid. Any refusal raises inside the transaction,
which rolls everything back, so stock and credit never go negative and a second checkout of a paid order
charges nothing. The faults bend exactly one step each: ``lost-update`` replaces it with a stale
read-pause-write, ``double-charge`` skips the paid check, ``no-rollback`` commits the stock already taken
when the credit runs short, ``ack-before-commit`` rolls back every would-be success but still answers 200,
``error-after-commit`` answers 500 after every committed success.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.core.balances import take_stock
from shopstorm.demoshop.core.errors import ApiError, not_found
from shopstorm.demoshop.core.faults import FaultSwitches, lost_update_pause
from shopstorm.demoshop.core.store import Store, items, order_lines, orders, users
from shopstorm.demoshop.webshop.orders import lock_order, refuse_paid


async def checkout(store: Store, faults: FaultSwitches, order_id: str) -> dict[str, Any]:
    """Check out an order and return the webshop API's success body, or raise the refusal."""
    if faults.lost_update:
        total_cost = await _checkout_from_stale_read(store, faults, order_id)
    else:
        async with store.write(discard=faults.ack_before_commit) as conn:
            outcome = await _settle(conn, faults, order_id)
        if isinstance(outcome, ApiError):
            raise outcome
        total_cost = outcome
    if faults.error_after_commit:
        raise ApiError(500, "internal error")
    return {"order_id": order_id, "paid": True, "total_cost": total_cost}


async def _settle(conn: AsyncConnection, faults: FaultSwitches, order_id: str) -> int | ApiError:
    """The checkout's writes inside one transaction; returns the total charged, or a refusal to commit."""
    order = await lock_order(conn, order_id)
    if order.paid and not faults.double_charge:
        raise refuse_paid(order_id)
    lines = await _lines(conn, order_id)
    short = await take_stock(conn, lines)
    if short is not None:
        raise _out_of_stock(short)
    total_cost = int(order.total_cost)
    charged = await conn.execute(
        update(users)
        .where(users.c.id == order.user_id, users.c.credit >= total_cost)
        .values(credit=users.c.credit - total_cost)
    )
    if charged.rowcount != 1:
        refusal = _insufficient_credit(order.user_id, total_cost)
        if faults.no_rollback:
            return refusal  # the bug: the stock taken above is committed with the refusal
        raise refusal
    await conn.execute(update(orders).where(orders.c.id == order_id).values(paid=True))
    return total_cost


async def _checkout_from_stale_read(store: Store, faults: FaultSwitches, order_id: str) -> int:
    """``lost-update``: decide on a read, pause holding nothing, then write absolute values from it."""
    async with store.read() as conn:
        order = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
        if order is None:
            raise not_found("order", order_id)
        lines = await _lines(conn, order_id)
        item_ids = [item_id for item_id, _ in lines]
        stock_read = dict((await conn.execute(select(items.c.id, items.c.stock).where(items.c.id.in_(item_ids)))).all())
        credit_read = await conn.scalar(select(users.c.credit).where(users.c.id == order.user_id))
    if order.paid and not faults.double_charge:
        raise refuse_paid(order_id)
    for item_id, quantity in lines:
        if stock_read.get(item_id, 0) < quantity:
            raise _out_of_stock(item_id)
    total_cost = int(order.total_cost)
    if credit_read is None or credit_read < total_cost:
        raise _insufficient_credit(order.user_id, total_cost)
    await asyncio.sleep(lost_update_pause())
    async with store.write(discard=faults.ack_before_commit) as conn:
        for item_id, quantity in lines:
            stock_left = int(stock_read[item_id]) - quantity
            await conn.execute(update(items).where(items.c.id == item_id).values(stock=stock_left))
        credit_left = int(credit_read) - total_cost
        await conn.execute(update(users).where(users.c.id == order.user_id).values(credit=credit_left))
        await conn.execute(update(orders).where(orders.c.id == order_id).values(paid=True))
    return total_cost


async def _lines(conn: AsyncConnection, order_id: str) -> list[tuple[str, int]]:
    """The order's ``(item_id, quantity)`` lines in item-id order; refuses an empty order."""
    result = await conn.execute(
        select(order_lines.c.item_id, order_lines.c.quantity)
        .where(order_lines.c.order_id == order_id)
        .order_by(order_lines.c.item_id)
    )
    lines = [(str(item_id), int(quantity)) for item_id, quantity in result]
    if not lines:
        raise ApiError(400, f"Order: {order_id} has no items", reason="empty_order")
    return lines


def _out_of_stock(item_id: str) -> ApiError:
    return ApiError(400, f"Out of stock on item_id: {item_id}", reason="out_of_stock")


def _insufficient_credit(user_id: str, total_cost: int) -> ApiError:
    return ApiError(400, "User out of credit", reason="insufficient_credit")
