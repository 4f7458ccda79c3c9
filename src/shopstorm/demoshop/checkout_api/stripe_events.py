"""Inbound payment provider events, Stripe-style: ``POST /v1/integrations/stripe/webhook``.

The intake verifies the ``Stripe-Signature`` header over the raw body with the shop's Stripe webhook secret, as
stripe-python does; a missing or bad signature, one whose timestamp is more than five minutes away from now in
either direction (stripe-python only refuses old ones), or a shop started without a secret, is refused with 400
before anything is stored. A verified event is recorded by its id, and its job is enqueued in the same
transaction; an id seen before answers 200 and does nothing, so a provider's redelivery is harmless. As Polar's
Stripe integration (server/polar/integrations/stripe/tasks.py, payment.py) does, the job finds the checkout by the
object's ``metadata.checkout_id``: ``charge.succeeded`` settles a confirmed checkout whose amount matches,
``charge.failed`` and ``payment_intent.payment_failed`` return it to open; any other event is ignored.
stripe-python takes ~200 ms to import, so a shop that has a Stripe secret imports it in a thread once it serves
(:func:`load_stripe`), not on start.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Column, Float, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.checkout_api.checkouts import CONFIRMED, checkouts, lock_checkout
from shopstorm.demoshop.checkout_api.settlement import Settlement
from shopstorm.demoshop.core.errors import TypedApiError
from shopstorm.demoshop.core.jobs import enqueue
from shopstorm.demoshop.core.json_input import parse_json
from shopstorm.demoshop.core.store import Store, metadata

STRIPE_EVENT_JOB = "stripe_event"
CHARGE_SUCCEEDED = "charge.succeeded"
CHARGE_FAILED = "charge.failed"
PAYMENT_FAILED = "payment_intent.payment_failed"
SIGNATURE_TOLERANCE_S = 300

stripe_events = Table(
    "stripe_events",
    metadata,
    Column("id", String, primary_key=True),
    Column("type", String, nullable=False),
    Column("payload", Text, nullable=False),
    Column("received_at", Float, nullable=False),
)


def load_stripe() -> None:
    """Import stripe-python ahead of the first event (call it in a thread: the import takes ~200 ms)."""
    import stripe  # noqa: F401


def verified_event(raw_body: bytes, signature_header: str | None, secret: str | None) -> dict[str, Any]:
    """The event in a request whose signature verifies; raise a 400 otherwise."""
    if not secret:
        raise _invalid_signature("the shop has no Stripe webhook secret configured")
    import stripe

    try:
        stripe.WebhookSignature.verify_header(raw_body, signature_header, secret, tolerance=SIGNATURE_TOLERANCE_S)
    except stripe.SignatureVerificationError as error:
        raise _invalid_signature(str(error)) from None
    except UnicodeDecodeError:
        raise _invalid_signature("the body is not UTF-8") from None
    signed_at = _signed_at(signature_header or "")
    if abs(time.time() - signed_at) > SIGNATURE_TOLERANCE_S:
        raise _invalid_signature(f"Timestamp outside the tolerance zone ({signed_at})")
    try:
        event = parse_json(raw_body)
    except ValueError:
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise TypedApiError(400, "InvalidPayload", "the event is not a JSON object with a string id and type")
    return event


async def record_event(store: Store, event: dict[str, Any]) -> bool:
    """Record a verified event and enqueue its job; False if its id was recorded before (nothing is done)."""
    async with store.write() as conn:
        recorded = await conn.execute(
            store.insert_if_new(stripe_events).values(
                id=event["id"], type=event["type"], payload=json.dumps(event), received_at=time.time()
            )
        )
        if recorded.first() is None:
            return False
        if event["type"] in (CHARGE_SUCCEEDED, CHARGE_FAILED, PAYMENT_FAILED):
            await enqueue(conn, STRIPE_EVENT_JOB, {"event_id": event["id"]})
    return True


class StripeEventJobs:
    """Runs the ``stripe_event`` job: what a recorded charge or payment intent event does to its checkout."""

    def __init__(self, settlement: Settlement) -> None:
        self.settlement = settlement

    async def run(self, conn: AsyncConnection, payload: dict[str, Any]) -> None:
        recorded = await conn.scalar(select(stripe_events.c.payload).where(stripe_events.c.id == payload["event_id"]))
        event = json.loads(recorded)
        charge = _object_at(event, "data", "object")
        checkout_id = _object_at(charge, "metadata").get("checkout_id")
        if not isinstance(checkout_id, str):
            return
        checkout = await lock_checkout(conn, checkouts.c.id == checkout_id)
        if checkout is None or checkout.status != CONFIRMED:
            return
        if event["type"] == CHARGE_SUCCEEDED and charge.get("amount") == int(checkout.amount):
            await self.settlement.settle(conn, checkout)
        elif event["type"] in (CHARGE_FAILED, PAYMENT_FAILED):
            await self.settlement.reopen(conn, checkout)


def _object_at(value: Any, *keys: str) -> dict[str, Any]:
    """The JSON object at ``value[key][key]...``, or an empty one if any step is missing or not an object."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def _signed_at(signature_header: str) -> int:
    """The ``t=`` timestamp of a header that verified, read as stripe-python reads it (the first ``t``)."""
    for item in signature_header.split(","):
        key, _, value = item.partition("=")
        if key == "t":
            return int(value)
    raise _invalid_signature("Unable to extract timestamp and signatures from header")


def _invalid_signature(detail: str) -> TypedApiError:
    return TypedApiError(400, "InvalidSignature", detail)
