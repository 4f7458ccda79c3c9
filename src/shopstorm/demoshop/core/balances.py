"""Atomic changes to one stored counter: an item's stock or a user's credit.

A correct change is one conditional ``UPDATE items SET stock = stock + :delta WHERE id = :id AND
stock + :delta >= 0`` in a single transaction, so concurrent changes never lose each other and a counter
never goes negative; a refusal changes nothing. Under the ``lost-update`` fault the change reads the counter,
pauses with no transaction held, then writes back an absolute value computed from that stale read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.core.errors import ApiError, not_found
from shopstorm.demoshop.core.faults import FaultSwitches, lost_update_pause
from shopstorm.demoshop.core.store import MAX_BALANCE, Store, items, users


@dataclass(frozen=True)
class Counter:
    """A counter column of a table keyed by ``id``, named as the shop's errors name it."""

    table: Table
    column: Column[int]
    kind: str
    quantity: str


STOCK = Counter(items, items.c.stock, "item", "stock")
CREDIT = Counter(users, users.c.credit, "user", "credit")


async def take_stock(conn: AsyncConnection, lines: Iterable[tuple[str, int]]) -> str | None:
    """Inside the caller's transaction, take each line's units if that much is in stock; the id of the first item
    short of stock, or None when every line was taken. The caller rolls back on a shortfall."""
    for item_id, quantity in lines:
        taken = await conn.execute(
            update(items).where(items.c.id == item_id, items.c.stock >= quantity).values(stock=items.c.stock - quantity)
        )
        if taken.rowcount != 1:
            return item_id
    return None


async def change_counter(store: Store, faults: FaultSwitches, counter: Counter, entity_id: str, delta: int) -> int:
    """Add ``delta`` (negative to take) to one counter and return its new value, or raise a 4xx."""
    if faults.lost_update:
        return await _change_from_stale_read(store, counter, entity_id, delta)
    key = counter.table.c.id
    changed = counter.column + delta
    async with store.write() as conn:
        result = await conn.execute(
            update(counter.table)
            .where(key == entity_id, changed >= 0, changed <= MAX_BALANCE)
            .values({counter.column.name: changed})
            .returning(counter.column)
        )
        new_value = result.scalar_one_or_none()
        if new_value is not None:
            return int(new_value)
        current = await conn.scalar(select(counter.column).where(key == entity_id))
    if current is None:
        raise not_found(counter.kind, entity_id)
    raise _refusal(counter, entity_id, int(current), delta)


async def _change_from_stale_read(store: Store, counter: Counter, entity_id: str, delta: int) -> int:
    key = counter.table.c.id
    async with store.read() as conn:
        current = await conn.scalar(select(counter.column).where(key == entity_id))
    if current is None:
        raise not_found(counter.kind, entity_id)
    new_value = int(current) + delta
    if not 0 <= new_value <= MAX_BALANCE:
        raise _refusal(counter, entity_id, int(current), delta)
    await asyncio.sleep(lost_update_pause())
    async with store.write() as conn:
        await conn.execute(update(counter.table).where(key == entity_id).values({counter.column.name: new_value}))
    return new_value


def _refusal(counter: Counter, entity_id: str, current: int, delta: int) -> ApiError:
    if delta < 0:  # the reference implementation's words
        return ApiError(
            400, f"{counter.kind.capitalize()}: {entity_id} {counter.quantity} cannot get reduced below zero!"
        )
    return ApiError(400, f"{counter.quantity} of {counter.kind} {entity_id!r} would exceed {MAX_BALANCE}")
