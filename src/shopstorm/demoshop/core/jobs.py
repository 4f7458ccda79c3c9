"""The demo shop's durable job queue: a ``jobs`` table in the store and one worker task per shop process.

A job is a row (kind, JSON payload) that :func:`enqueue` inserts inside the transaction whose work it continues,
so the job exists exactly when that work committed. The worker claims one due job at a time in a short
transaction: on PostgreSQL with ``SELECT ... FOR UPDATE SKIP LOCKED``, so several shop processes on one schema
share the queue, on SQLite under the store's write lock. Claiming leases the job: it counts the attempt and moves
``run_at`` past the lease, so the job of a worker that died becomes due again. The worker then runs the job's
handler and marks the job done in one transaction, fenced by the attempt number, so a job's effects commit only
with its completion and only for the claim that still holds it. A handler that raises rolls its effects back;
the job is retried with exponential backoff and kept as ``failed`` after :data:`MAX_ATTEMPTS`. When idle, the
worker polls every 50 ms, or wakes at once when this process enqueues (:meth:`JobQueue.wake`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, ColumnElement, Float, Index, String, Table, Text, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.core.store import Store, metadata

QUEUED = "queued"
DONE = "done"
FAILED = "failed"
MAX_ATTEMPTS = 20
POLL_S = 0.05
LEASE_S = 60.0
_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 30.0
_ERROR_PAUSE_S = 1.0

logger = logging.getLogger("shopstorm.demoshop")

jobs = Table(
    "jobs",
    metadata,
    Column("id", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String, nullable=False),
    Column("attempts", BigInteger, nullable=False),
    Column("run_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("worker", String, nullable=True),  # host:pid of the worker that claimed it last
    Column("last_error", Text, nullable=True),
    Index("jobs_due", "state", "run_at"),
)

JobHandler = Callable[[AsyncConnection, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    kind: str
    payload: dict[str, Any]
    attempt: int


class LeaseLostError(RuntimeError):
    """The job was claimed again by another worker while this one ran it; its effects are rolled back."""


async def enqueue(conn: AsyncConnection, kind: str, payload: dict[str, Any]) -> str:
    """Insert a job, due now, inside the caller's transaction; its id. Wake the worker after the commit."""
    job_id = uuid.uuid4().hex
    now = time.time()
    await conn.execute(
        insert(jobs).values(
            id=job_id,
            kind=kind,
            payload=json.dumps(payload, separators=(",", ":")),
            state=QUEUED,
            attempts=0,
            run_at=now,
            created_at=now,
        )
    )
    return job_id


def backoff(attempt: int) -> float:
    """Seconds before the retry of a job whose ``attempt``-th run raised: 0.5, 1, 2, 4, ... up to 30."""
    return min(_FIRST_BACKOFF_S * 2 ** (attempt - 1), _MAX_BACKOFF_S)


class JobQueue:
    """The worker of one shop process: claims due jobs one at a time and runs the handler of their kind."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, JobHandler],
        delay_s: float = 0.0,
        after_job: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.handlers = dict(handlers)
        self.delay_s = delay_s  # the slow-worker fault's pause before every job
        self.after_job = after_job  # called after a job's transaction committed, e.g. to wake the webhook sender
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A job was committed by this process: claim it now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and run due jobs until cancelled; a store error pauses the worker, never ends it."""
        while True:
            try:
                job = await self._claim()
            except Exception as error:
                logger.error("job worker cannot claim a job: %r", error)
                await asyncio.sleep(_ERROR_PAUSE_S)
                continue
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_S)
                self._wake.clear()
                continue
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            await self._run(job)

    async def _claim(self) -> ClaimedJob | None:
        now = time.time()
        due = (jobs.c.state == QUEUED) & (jobs.c.run_at <= now)
        async with self.store.read() as conn:  # a cheap look first: idle polls never take the write lock
            if await conn.scalar(select(jobs.c.id).where(due).limit(1)) is None:
                return None
        async with self.store.write() as conn:
            row = (
                await conn.execute(
                    select(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts)
                    .where(due)
                    .order_by(jobs.c.run_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return None
            attempt = int(row.attempts) + 1
            await conn.execute(
                update(jobs)
                .where(jobs.c.id == row.id)
                .values(attempts=attempt, run_at=now + LEASE_S, worker=self.worker_name)
            )
        return ClaimedJob(str(row.id), str(row.kind), json.loads(row.payload), attempt)

    async def _run(self, job: ClaimedJob) -> None:
        held = (jobs.c.id == job.id) & (jobs.c.attempts == job.attempt) & (jobs.c.state == QUEUED)
        try:
            async with self.store.write() as conn:
                await self.handlers[job.kind](conn, job.payload)
                finished = await conn.execute(update(jobs).where(held).values(state=DONE, last_error=None))
                if finished.rowcount != 1:
                    raise LeaseLostError(f"job {job.id} was claimed again while it ran")
        except Exception as error:
            logger.warning("job %s (%s) attempt %d failed: %r", job.id, job.kind, job.attempt, error)
            await self._retry_later(job, held, error)
            return
        self.after_job()

    async def _retry_later(self, job: ClaimedJob, held: ColumnElement[bool], error: Exception) -> None:
        retry = {"state": FAILED} if job.attempt >= MAX_ATTEMPTS else {"run_at": time.time() + backoff(job.attempt)}
        try:
            async with self.store.write() as conn:
                await conn.execute(update(jobs).where(held).values(last_error=repr(error)[:2000], **retry))
        except Exception as store_error:  # the lease runs out instead, and the job is claimed again then
            logger.error("job %s: cannot schedule its retry: %r", job.id, store_error)
