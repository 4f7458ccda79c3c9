"""Sends the checkout API's webhook deliveries, signed as Standard Webhooks, at least once, with retries.

One sender task per shop process, apart from the job worker, claims due deliveries from ``webhook_deliveries``
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so shop processes on one schema share them; the write lock on SQLite) and
sends up to :data:`CONCURRENCY` at once with one ``httpx.AsyncClient``. Claiming leases a delivery past the request
timeout, so the delivery of a sender that died is sent again: webhooks are at least once. Every attempt carries the
delivery's own ``webhook-id``, the attempt's ``webhook-timestamp`` and a ``webhook-signature`` over
``id.timestamp.body`` keyed as Polar keys it: ``StandardWebhook(base64(secret.encode()))``, the UTF-8 bytes of the
endpoint's whole secret string (server/polar/webhook/tasks.py), not the base64 after ``whsec_``. A 2xx answer
delivers it; anything else is retried after 0.5, 1, 2, 4, ... s, and after :data:`MAX_ATTEMPTS` the delivery is kept
as failed. When idle, the sender polls every 50 ms, or wakes at once when this process's job worker committed a job
(:meth:`WebhookSender.wake`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from shopstorm.demoshop.checkout_api.webhooks import (
    CANCELLED,
    DELIVERED,
    FAILED,
    PENDING,
    webhook_deliveries,
    webhook_endpoints,
)
from shopstorm.demoshop.core.store import Store

CONCURRENCY = 16
TIMEOUT_S = 5.0
MAX_ATTEMPTS = 8
POLL_S = 0.05
LEASE_S = 30.0
_FIRST_BACKOFF_S = 0.5
_ERROR_PAUSE_S = 1.0

logger = logging.getLogger("shopstorm.demoshop")


@dataclass(frozen=True)
class ClaimedDelivery:
    id: str
    attempt: int
    body: str
    url: str
    secret: str


def backoff(attempt: int) -> float:
    """Seconds before the next attempt after the ``attempt``-th failed: 0.5, 1, 2, 4, ..."""
    return _FIRST_BACKOFF_S * 2 ** (attempt - 1)


def signed_headers(delivery_id: str, secret: str, body: str, timestamp: int) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, signed as Polar signs them."""
    signature = Webhook(base64.b64encode(secret.encode()).decode()).sign(
        delivery_id, datetime.fromtimestamp(timestamp, UTC), body
    )
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


class WebhookSender:
    """The delivery task of one shop process."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Deliveries may have been committed by this process: look for them now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send due deliveries until cancelled; in-flight requests are cancelled with it."""
        in_flight: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            try:
                while True:
                    claimed = await self._claim_safely(CONCURRENCY - len(in_flight))
                    for delivery in claimed:
                        task = asyncio.create_task(self._deliver(client, delivery))
                        in_flight.add(task)
                        task.add_done_callback(self._finished(in_flight))
                    if not claimed:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), POLL_S)
                        self._wake.clear()
            finally:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)

    def _finished(self, in_flight: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        def forget(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            self._wake.set()  # a sending slot is free

        return forget

    async def _claim_safely(self, free_slots: int) -> list[ClaimedDelivery]:
        if free_slots <= 0:
            return []
        try:
            return await self._claim(free_slots)
        except Exception as error:
            logger.error("webhook sender cannot claim deliveries: %r", error)
            await asyncio.sleep(_ERROR_PAUSE_S)
            return []

    async def _claim(self, limit: int) -> list[ClaimedDelivery]:
        now = time.time()
        due = (webhook_deliveries.c.state == PENDING) & (webhook_deliveries.c.next_attempt_at <= now)
        async with self.store.read() as conn:  # a cheap look first: idle polls never take the write lock
            if await conn.scalar(select(webhook_deliveries.c.id).where(due).limit(1)) is None:
                return []
        async with self.store.write() as conn:
            rows = (
                await conn.execute(
                    select(
                        webhook_deliveries.c.id,
                        webhook_deliveries.c.endpoint_id,
                        webhook_deliveries.c.attempts,
                        webhook_deliveries.c.body,
                    )
                    .where(due)
                    .order_by(webhook_deliveries.c.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return []
            endpoint_ids = {row.endpoint_id for row in rows}
            endpoints = {
                endpoint.id: endpoint
                for endpoint in await conn.execute(
                    select(webhook_endpoints.c.id, webhook_endpoints.c.url, webhook_endpoints.c.secret).where(
                        webhook_endpoints.c.id.in_(endpoint_ids)
                    )
                )
            }
            claimed = [row for row in rows if row.endpoint_id in endpoints]
            orphans = [row.id for row in rows if row.endpoint_id not in endpoints]
            if orphans:  # the endpoint was deleted after the claim's first look
                await conn.execute(
                    update(webhook_deliveries).where(webhook_deliveries.c.id.in_(orphans)).values(state=CANCELLED)
                )
            if claimed:
                await conn.execute(
                    update(webhook_deliveries)
                    .where(webhook_deliveries.c.id.in_([row.id for row in claimed]))
                    .values(attempts=webhook_deliveries.c.attempts + 1, next_attempt_at=now + LEASE_S)
                )
        return [
            ClaimedDelivery(
                id=row.id,
                attempt=int(row.attempts) + 1,
                body=row.body,
                url=endpoints[row.endpoint_id].url,
                secret=endpoints[row.endpoint_id].secret,
            )
            for row in claimed
        ]

    async def _deliver(self, client: httpx.AsyncClient, delivery: ClaimedDelivery) -> None:
        status: int | None = None
        error: str | None = None
        try:
            headers = signed_headers(delivery.id, delivery.secret, delivery.body, int(time.time()))
            response = await client.post(delivery.url, content=delivery.body.encode(), headers=headers)
            status = response.status_code
        except Exception as failure:  # connection refused, timeout, bad URL: all are a failed attempt
            error = repr(failure)[:2000]
        delivered = status is not None and 200 <= status < 300
        if delivered:
            outcome = {"state": DELIVERED, "delivered_at": time.time()}
        elif delivery.attempt >= MAX_ATTEMPTS:
            outcome = {"state": FAILED}
        else:
            outcome = {"next_attempt_at": time.time() + backoff(delivery.attempt)}
        held = (
            (webhook_deliveries.c.id == delivery.id)
            & (webhook_deliveries.c.attempts == delivery.attempt)
            & (webhook_deliveries.c.state == PENDING)
        )
        try:
            async with self.store.write() as conn:
                await conn.execute(
                    update(webhook_deliveries).where(held).values(last_status=status, last_error=error, **outcome)
                )
        except Exception as store_error:  # the lease runs out instead, and the delivery is sent again then
            logger.error("webhook delivery %s: cannot record its attempt: %r", delivery.id, store_error)
