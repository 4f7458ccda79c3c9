"""Orders of the checkout API: the table settlement writes a paid order to, and the paginated list audits read.

An order is created only by settlement, one per settled checkout unless a fault says otherwise, and records the
checkout's amount and customer email at that moment. ``GET /v1/orders/`` lists orders by checkout or by product
(or all of them), oldest first, Polar-style: ``{"items": [...], "pagination": {"total_count", "max_page"}}``.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from sqlalchemy import BigInteger, Column, Float, Row, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.checkout_api.checkouts import iso_time
from shopstorm.demoshop.core.store import Store, metadata

PAID = "paid"
MAX_PAGE_SIZE = 100

checkout_orders = Table(
    "checkout_orders",
    metadata,
    Column("id", String, primary_key=True),
    Column("checkout_id", String, nullable=False, index=True),
    Column("product_id", String, nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("customer_email", String, nullable=True),
    Column("status", String, nullable=False),
    Column("created_at", Float, nullable=False),
)


def order_object(row: Row[Any]) -> dict[str, Any]:
    """An order as the API lists it and as ``order.created`` / ``order.paid`` webhooks carry it."""
    return {
        "id": row.id,
        "checkout_id": row.checkout_id,
        "product_id": row.product_id,
        "amount": int(row.amount),
        "customer_email": row.customer_email,
        "status": row.status,
        "created_at": iso_time(row.created_at),
    }


async def create_paid_order(conn: AsyncConnection, checkout: Row[Any]) -> dict[str, Any]:
    """Insert the paid order of a checkout inside the caller's transaction; its object."""
    order_id = str(uuid.uuid4())
    await conn.execute(
        insert(checkout_orders).values(
            id=order_id,
            checkout_id=checkout.id,
            product_id=checkout.product_id,
            amount=int(checkout.amount),
            customer_email=checkout.customer_email,
            status=PAID,
            created_at=time.time(),
        )
    )
    row = (await conn.execute(select(checkout_orders).where(checkout_orders.c.id == order_id))).one()
    return order_object(row)


async def list_orders(
    store: Store, checkout_id: str | None, product_id: str | None, page: int, limit: int
) -> dict[str, Any]:
    """One page of the orders matching the filters given, oldest first, with the total count."""
    filters = []
    if checkout_id is not None:
        filters.append(checkout_orders.c.checkout_id == checkout_id)
    if product_id is not None:
        filters.append(checkout_orders.c.product_id == product_id)
    async with store.read() as conn:
        total_count = int(await conn.scalar(select(func.count()).select_from(checkout_orders).where(*filters)) or 0)
        rows = await conn.execute(
            select(checkout_orders)
            .where(*filters)
            .order_by(checkout_orders.c.created_at, checkout_orders.c.id)
            .offset((page - 1) * limit)
            .limit(limit)
        )
        items = [order_object(row) for row in rows]
    return {"items": items, "pagination": {"total_count": total_count, "max_page": math.ceil(total_count / limit)}}
