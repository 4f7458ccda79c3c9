"""Settlement of a confirmed checkout: take one unit of stock, create the paid order, emit the webhooks.

Settling runs inside one job's transaction (:mod:`~shopstorm.demoshop.core.jobs`), from the ``settle`` job a free
checkout's confirm enqueues or from Stripe's ``charge.succeeded`` for a paid one (:mod:`stripe_events`). It locks the
checkout and does nothing unless the checkout is still confirmed, so running it twice settles once. One unit of the
product's stock, where the product counts one, is taken with a conditional ``UPDATE`` (never below 0); without stock
the checkout fails and ``checkout.updated`` is emitted. Otherwise the paid order is created, the checkout succeeds
with its order id, and ``checkout.updated``, ``order.created`` and ``order.paid`` are emitted, all committed
together. A failed charge returns the checkout to open (:meth:`Settlement.reopen`). The ``stale-status`` fault
skips the checkout's own update: the order exists, the checkout stays confirmed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.checkout_api.checkouts import (
    CONFIRMED,
    FAILED,
    OPEN,
    SUCCEEDED,
    change_checkout,
    checkout_object,
    checkout_products,
    checkouts,
    lock_checkout,
)
from shopstorm.demoshop.checkout_api.orders import create_paid_order
from shopstorm.demoshop.checkout_api.webhooks import CHECKOUT_UPDATED, ORDER_CREATED, ORDER_PAID, WebhookEmitter
from shopstorm.demoshop.core.faults import FaultSwitches


class Settlement:
    """Settles and fails checkouts inside the caller's transaction, emitting their webhooks."""

    def __init__(self, faults: FaultSwitches, emitter: WebhookEmitter) -> None:
        self.faults = faults
        self.emitter = emitter

    async def settle_job(self, conn: AsyncConnection, payload: dict[str, Any]) -> None:
        """The ``settle`` job: settle the checkout named in the payload if it is still confirmed."""
        checkout = await lock_checkout(conn, checkouts.c.id == str(payload["checkout_id"]))
        if checkout is not None and checkout.status == CONFIRMED:
            await self.settle(conn, checkout)

    async def settle(self, conn: AsyncConnection, checkout: Row[Any]) -> None:
        """Settle a locked, confirmed checkout: take a unit of stock and create its paid order, or fail it."""
        taken = await conn.execute(
            update(checkout_products)
            .where(
                checkout_products.c.id == checkout.product_id,
                or_(checkout_products.c.stock.is_(None), checkout_products.c.stock >= 1),
            )
            .values(stock=checkout_products.c.stock - 1)
        )
        if taken.rowcount != 1:
            await self.fail(conn, checkout)
            return
        order = await create_paid_order(conn, checkout)
        if not self.faults.stale_status:
            succeeded = await change_checkout(conn, checkout.id, {"status": SUCCEEDED, "order_id": order["id"]})
            await self.emitter.emit(conn, CHECKOUT_UPDATED, checkout_object(succeeded))
        await self.emitter.emit(conn, ORDER_CREATED, order)
        await self.emitter.emit(conn, ORDER_PAID, order)

    async def reopen(self, conn: AsyncConnection, checkout: Row[Any]) -> None:
        """A locked, confirmed checkout whose charge failed goes back to open, as Polar's ``handle_failure`` puts
        it (the customer may try another card), and the subscribers are told."""
        reopened = await change_checkout(conn, checkout.id, {"status": OPEN, "confirmed_at": None})
        await self.emitter.emit(conn, CHECKOUT_UPDATED, checkout_object(reopened))

    async def fail(self, conn: AsyncConnection, checkout: Row[Any]) -> None:
        """Mark a locked, confirmed checkout failed and tell the subscribers."""
        failed = await change_checkout(conn, checkout.id, {"status": FAILED})
        await self.emitter.emit(conn, CHECKOUT_UPDATED, checkout_object(failed))
