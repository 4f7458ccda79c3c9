"""The demo shop's switchable faults: their names, parsing, and the switches handlers consult.

Each fault is a real bug shape that shopstorm's audit must detect. Without any fault the shop is correct.
``lost-update``: checkout (and add/subtract stock, add funds, pay) reads the values, sleeps 5-20 ms with no
transaction held, then writes back absolute values computed from the stale read, so concurrent changes
overwrite each other. ``double-charge``: a paid order can be checked out again and is charged again (a
storefront payment charges the card twice).
``no-rollback``: a checkout refused for insufficient credit keeps the stock it already took.
``ack-before-commit``: every checkout that would succeed answers 200, but its transaction is rolled back.
``error-after-commit``: every checkout (or storefront payment) that succeeds is committed, then answered with a
500.
``stall``: in the first second of every 5 s of wall-clock time, all responses are held until that second ends.
The checkout API's faults bend its background work. ``webhook-drop``: one in every 5 ``order.paid`` events (the
1st, 6th, 11th, ... of the process) is silently dropped when emitted, so it is never delivered.
``webhook-dup``: every ``order.paid`` event is emitted twice, as two deliveries with different webhook ids, like
a settle job retried without idempotency. ``slow-worker``: the job worker sleeps 2 s before every job, so
settlement lags. ``stale-status``: settlement creates the order, takes the stock and emits ``order.created`` and
``order.paid``, but leaves the checkout ``confirmed`` with no order id. ``sandbox-limits`` is not a bug but
Polar's sandbox: the checkout API's rate limits per token (:mod:`~shopstorm.demoshop.checkout_api.rate_limits`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

STALL_PERIOD_S = 5.0
STALL_WINDOW_S = 1.0
LOST_UPDATE_PAUSE_S = (0.005, 0.02)
WEBHOOK_DROP_EVERY = 5
SLOW_WORKER_DELAY_S = 2.0


class Fault(StrEnum):
    """One switchable bug shape, named as on the command line."""

    LOST_UPDATE = "lost-update"
    DOUBLE_CHARGE = "double-charge"
    NO_ROLLBACK = "no-rollback"
    ACK_BEFORE_COMMIT = "ack-before-commit"
    ERROR_AFTER_COMMIT = "error-after-commit"
    STALL = "stall"
    WEBHOOK_DROP = "webhook-drop"
    WEBHOOK_DUP = "webhook-dup"
    SLOW_WORKER = "slow-worker"
    STALE_STATUS = "stale-status"
    SANDBOX_LIMITS = "sandbox-limits"


class UnknownFaultError(ValueError):
    """A fault name that the demo shop does not know."""


def parse_faults(names: Iterable[str]) -> FaultSwitches:
    """Turn fault names from the command line into switches, refusing unknown names."""
    known = {fault.value: fault for fault in Fault}
    active: set[Fault] = set()
    for name in names:
        fault = known.get(name.strip().lower())
        if fault is None:
            raise UnknownFaultError(f"unknown fault {name!r} (known: {', '.join(known)})")
        active.add(fault)
    return FaultSwitches(frozenset(active))


@dataclass(frozen=True)
class FaultSwitches:
    """The set of active faults, with one property per behaviour a handler may switch on."""

    active: frozenset[Fault] = frozenset()

    @property
    def names(self) -> list[str]:
        """Active fault names in declaration order, for the banner and ``/health``."""
        return [fault.value for fault in Fault if fault in self.active]

    @property
    def lost_update(self) -> bool:
        return Fault.LOST_UPDATE in self.active

    @property
    def double_charge(self) -> bool:
        return Fault.DOUBLE_CHARGE in self.active

    @property
    def no_rollback(self) -> bool:
        return Fault.NO_ROLLBACK in self.active

    @property
    def ack_before_commit(self) -> bool:
        return Fault.ACK_BEFORE_COMMIT in self.active

    @property
    def error_after_commit(self) -> bool:
        return Fault.ERROR_AFTER_COMMIT in self.active

    @property
    def stall(self) -> bool:
        return Fault.STALL in self.active

    @property
    def webhook_drop(self) -> bool:
        return Fault.WEBHOOK_DROP in self.active

    @property
    def webhook_dup(self) -> bool:
        return Fault.WEBHOOK_DUP in self.active

    @property
    def sandbox_limits(self) -> bool:
        return Fault.SANDBOX_LIMITS in self.active

    @property
    def slow_worker(self) -> bool:
        return Fault.SLOW_WORKER in self.active

    @property
    def stale_status(self) -> bool:
        return Fault.STALE_STATUS in self.active


def lost_update_pause() -> float:
    """How long a ``lost-update`` read-modify-write sleeps between its read and its write."""
    return random.uniform(*LOST_UPDATE_PAUSE_S)


def stall_remaining(wall_clock: float) -> float:
    """Seconds until the current stall window ends, or 0.0 outside a window (``stall`` fault)."""
    into_period = wall_clock % STALL_PERIOD_S
    if into_period < STALL_WINDOW_S:
        return STALL_WINDOW_S - into_period
    return 0.0
