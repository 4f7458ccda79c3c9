"""Creating items and users, and the ``batch_init`` seeding the webshop benchmark runs before a load.

``batch_init`` upserts entities with the well-known ids ``"0"`` .. ``"n-1"``: it sets them to exactly the
given stock, price or credit whether or not they already exist, so a benchmark can re-seed the same shop.
Seeded orders each belong to a random seeded user and hold two random lines of seeded items (one line of
quantity 2 when both picks are the same item), unpaid.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, insert

from shopstorm.demoshop.core.store import Store, items, order_lines, orders, users

# Rows per ``IN (...)`` when clearing seeded orders' lines; below every backend's bound-parameter limit.
_DELETE_CHUNK = 5000


async def create_item(store: Store, price: int) -> str:
    """Create an item with no stock and return its id."""
    item_id = uuid.uuid4().hex
    async with store.write() as conn:
        await conn.execute(insert(items).values(id=item_id, stock=0, price=price))
    return item_id


async def create_user(store: Store) -> str:
    """Create a user with no credit and return its id."""
    user_id = uuid.uuid4().hex
    async with store.write() as conn:
        await conn.execute(insert(users).values(id=user_id, credit=0))
    return user_id


async def seed_items(store: Store, count: int, stock: int, price: int) -> list[str]:
    """Upsert items ``"0"`` .. ``str(count - 1)`` to exactly this stock and price."""
    item_ids = [str(index) for index in range(count)]
    # Rows go in sorted id order, the order checkouts lock items in, so a re-seed cannot deadlock with them.
    rows = [{"id": item_id, "stock": stock, "price": price} for item_id in sorted(item_ids)]
    async with store.write() as conn:
        await conn.execute(store.upsert(items), rows)
    return item_ids


async def seed_users(store: Store, count: int, credit: int) -> list[str]:
    """Upsert users ``"0"`` .. ``str(count - 1)`` to exactly this credit."""
    user_ids = [str(index) for index in range(count)]
    async with store.write() as conn:
        await conn.execute(store.upsert(users), [{"id": user_id, "credit": credit} for user_id in sorted(user_ids)])
    return user_ids


async def seed_orders(store: Store, count: int, item_count: int, user_count: int, item_price: int) -> list[str]:
    """Upsert unpaid orders ``"0"`` .. ``str(count - 1)``, each two random item lines for a random user."""
    rng = random.Random()
    order_ids = [str(index) for index in range(count)]
    order_rows = []
    line_rows = []
    for order_id in order_ids:
        picks = [str(rng.randrange(item_count)) for _ in range(2)]
        for item_id in sorted(set(picks)):
            quantity = picks.count(item_id)
            line_rows.append(
                {
                    "order_id": order_id,
                    "item_id": item_id,
                    "quantity": quantity,
                    "cost": quantity * item_price,
                }
            )
        order_rows.append(
            {
                "id": order_id,
                "user_id": str(rng.randrange(user_count)),
                "paid": False,
                "total_cost": len(picks) * item_price,
            }
        )
    async with store.write() as conn:
        for chunk in _chunks(order_ids):
            await conn.execute(delete(order_lines).where(order_lines.c.order_id.in_(chunk)))
        await conn.execute(store.upsert(orders), order_rows)
        await conn.execute(insert(order_lines), line_rows)
    return order_ids


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[start : start + _DELETE_CHUNK] for start in range(0, len(values), _DELETE_CHUNK)]
