"""Products and checkouts of the checkout API: their tables, their JSON objects, and a checkout's way to payment.

Products are a name and one one-time price, made and shown as Polar's (``prices``, server/polar/product/); a
demo-only ``stock``, when one was given, is what settlement takes from. A checkout is created with the
organization token through ``POST /v1/checkouts/`` for the first of its ``products`` at that product's price, and
is then reached by its client secret (``polar_c_`` + random), like Polar's client checkout API. It moves open ->
confirmed -> succeeded | failed. Only an open checkout can be updated or confirmed, and both lock its row first
(``SELECT ... FOR UPDATE`` on PostgreSQL, the store's write lock on SQLite), so of two concurrent confirms one
wins and the other is refused: a checkout is never charged twice. Every checkout's processor is ``stripe``, as on
Polar. Confirming a free checkout enqueues its ``settle`` job in the same transaction (:mod:`settlement` runs it);
a paid one needs a Stripe confirmation token and waits for Stripe's ``charge.succeeded`` (:mod:`stripe_events`); a
failed charge returns it to open.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ColumnElement, Float, Row, String, Table, Text, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.core.errors import TypedApiError, field_error, resource_not_found
from shopstorm.demoshop.core.jobs import enqueue
from shopstorm.demoshop.core.store import Store, metadata

SETTLE_JOB = "settle"
CURRENCY = "usd"
CLIENT_SECRET_PREFIX = "polar_c_"
PAYMENT_PROCESSOR = "stripe"  # Polar's only processor (server/polar/checkout/service.py)
# The customer fields a client may set on an open checkout (PATCH, or the body of confirm).
CUSTOMER_FIELDS = ("customer_email", "customer_name", "customer_billing_address")


# A checkout's statuses: open -> confirmed -> succeeded | failed.
OPEN = "open"
CONFIRMED = "confirmed"
SUCCEEDED = "succeeded"
FAILED = "failed"


checkout_products = Table(
    "checkout_products",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("price_amount", BigInteger, nullable=False),
    Column("stock", BigInteger, nullable=True),  # None: not counted, as on Polar
    Column("created_at", Float, nullable=False),
)
checkouts = Table(
    "checkouts",
    metadata,
    Column("id", String, primary_key=True),
    Column("client_secret", String, nullable=False, unique=True),
    Column("status", String, nullable=False),
    Column("product_id", String, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String, nullable=False),
    Column("customer_email", String, nullable=True),
    Column("customer_name", String, nullable=True),
    Column("customer_billing_address", Text, nullable=True),  # JSON object
    Column("payment_processor", String, nullable=False),
    Column("order_id", String, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("confirmed_at", Float, nullable=True),
)


def iso_time(timestamp: float | None) -> str | None:
    """An epoch timestamp as the checkout API shows it: ISO 8601 in UTC, ``2025-01-31T12:00:00.123456+00:00``."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


def product_object(row: Row[Any]) -> dict[str, Any]:
    """A product as Polar shows it (one-time, one fixed price), with the demo's ``stock`` when it counts one."""
    product = {
        "id": row.id,
        "name": row.name,
        "is_recurring": False,
        "is_archived": False,
        "prices": [
            {
                "id": row.id,  # one price per product: its id is the product's
                "product_id": row.id,
                "amount_type": "fixed",
                "price_amount": int(row.price_amount),
                "price_currency": CURRENCY,
                "is_archived": False,
            }
        ],
    }
    if row.stock is not None:
        product["stock"] = int(row.stock)
    return product


def checkout_object(row: Row[Any]) -> dict[str, Any]:
    """A checkout as the API answers it and as ``checkout.updated`` webhooks carry it."""
    address = row.customer_billing_address
    return {
        "id": row.id,
        "client_secret": row.client_secret,
        "status": row.status,
        "product_id": row.product_id,
        "amount": int(row.amount),
        "currency": row.currency,
        "customer_email": row.customer_email,
        "customer_name": row.customer_name,
        "customer_billing_address": None if address is None else json.loads(address),
        "payment_processor": row.payment_processor,
        "order_id": row.order_id,
        "created_at": iso_time(row.created_at),
        "confirmed_at": iso_time(row.confirmed_at),
    }


def not_open(row: Row[Any]) -> TypedApiError:
    return TypedApiError(403, "NotOpenCheckout", f"checkout {row.id} is {row.status}, not open")


async def create_product(store: Store, name: str, price_amount: int, stock: int | None) -> dict[str, Any]:
    async with store.write() as conn:
        created = await conn.execute(
            insert(checkout_products)
            .values(id=str(uuid.uuid4()), name=name, price_amount=price_amount, stock=stock, created_at=time.time())
            .returning(*checkout_products.c)
        )
        return product_object(created.one())


async def find_product(store: Store, product_id: str) -> dict[str, Any]:
    async with store.read() as conn:
        row = (await conn.execute(select(checkout_products).where(checkout_products.c.id == product_id))).first()
    if row is None:
        raise resource_not_found("product", product_id)
    return product_object(row)


async def create_checkout(store: Store, product_id: str, customer_email: str | None) -> dict[str, Any]:
    """Open a checkout for one unit of a product at its current price; 422 for an unknown product."""
    async with store.write() as conn:
        price = await conn.scalar(select(checkout_products.c.price_amount).where(checkout_products.c.id == product_id))
        if price is None:
            raise field_error("products", "Product does not exist.", "value_error")
        created = await conn.execute(
            insert(checkouts)
            .values(
                id=str(uuid.uuid4()),
                client_secret=CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32),
                status=OPEN,
                product_id=product_id,
                amount=int(price),
                currency=CURRENCY,
                customer_email=customer_email,
                payment_processor=PAYMENT_PROCESSOR,
                created_at=time.time(),
            )
            .returning(*checkouts.c)
        )
        row = created.one()
    return checkout_object(row)


async def find_checkout(store: Store, client_secret: str) -> dict[str, Any]:
    async with store.read() as conn:
        row = (await conn.execute(select(checkouts).where(checkouts.c.client_secret == client_secret))).first()
    if row is None:
        raise resource_not_found("checkout", client_secret)
    return checkout_object(row)


async def update_checkout(store: Store, client_secret: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Set customer fields of an open checkout; 404 if unknown, 403 if no longer open."""
    async with store.write() as conn:
        row = await _lock_open(conn, client_secret)
        if changes:
            row = await _apply(conn, row, changes)
        return checkout_object(row)


async def confirm_checkout(
    store: Store, client_secret: str, changes: dict[str, Any], confirmation_token_id: str | None
) -> dict[str, Any]:
    """Apply ``changes``, then confirm an open checkout that has a customer email. As Polar's: a free checkout
    (amount 0) is settled without the provider, its ``settle`` job enqueued in the same transaction (wake the job
    queue after this returns); a paid one needs a Stripe ``confirmation_token_id`` (422 without) and waits for
    Stripe's ``charge.succeeded`` (:mod:`stripe_events`)."""
    async with store.write() as conn:
        row = await _lock_open(conn, client_secret)
        email = changes.get("customer_email", row.customer_email)
        if not email:
            raise field_error("customer_email", "a customer email is required to confirm a checkout", "missing")
        if row.amount > 0 and not confirmation_token_id:
            raise field_error("confirmation_token_id", "Confirmation token is required.", "missing")
        if row.amount == 0:
            await enqueue(conn, SETTLE_JOB, {"checkout_id": row.id})
        confirmation = {"status": CONFIRMED, "confirmed_at": time.time()}
        return checkout_object(await _apply(conn, row, {**changes, **confirmation}))


async def lock_checkout(conn: AsyncConnection, where: ColumnElement[bool]) -> Row[Any] | None:
    """The checkout matching ``where``, its row locked until the transaction ends; None if there is none."""
    return (await conn.execute(select(checkouts).where(where).with_for_update())).first()


async def change_checkout(conn: AsyncConnection, checkout_id: str, values: dict[str, Any]) -> Row[Any]:
    """Write ``values`` to a checkout locked by this transaction and return its row as it now is."""
    changed = await conn.execute(
        update(checkouts).where(checkouts.c.id == checkout_id).values(values).returning(*checkouts.c)
    )
    return changed.one()


async def _lock_open(conn: AsyncConnection, client_secret: str) -> Row[Any]:
    row = await lock_checkout(conn, checkouts.c.client_secret == client_secret)
    if row is None:
        raise resource_not_found("checkout", client_secret)
    if row.status != OPEN:
        raise not_open(row)
    return row


async def _apply(conn: AsyncConnection, row: Row[Any], changes: dict[str, Any]) -> Row[Any]:
    """Write customer ``changes`` (and status changes) to a locked checkout row; the row as it now is."""
    values = dict(changes)
    if values.get("customer_billing_address") is not None:
        values["customer_billing_address"] = json.dumps(values["customer_billing_address"], sort_keys=True)
    return await change_checkout(conn, row.id, values)
