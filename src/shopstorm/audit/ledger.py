"""The ledger: what every shopper was told about every stock- or money-changing action.

Each entry is one call and its outcome as the shopper saw it: ``ok``, ``refused`` or ``unknown`` (timeout, 5xx,
lost connection, unreadable body, or a shopper stopped mid-call). Entries are small tuples, appended on the hot
path; workers ship what they recorded since their last report and the master holds the merged ledger.

Entry kinds (``entity`` / ``related`` / ``amount``):

=========== ============ ========== ===========================================
kind        entity       related    amount
=========== ============ ========== ===========================================
item        item id                 price (a new item starts with stock 0)
stock       item id                 units added
user        user id                 (a new user starts with credit 0)
funds       user id                 credit added
order       order id     user id
line        order id     item id    units added to the order
unline      order id     item id    (the item's whole line removed)
checkout    order id     user id    order total, where the shopper saw it
=========== ============ ========== ===========================================

A storefront's ``checkout`` is the payment form: ``ok`` means the shopper was shown the order's confirmation
page saying it is paid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from shopstorm.replies import JourneyFailed, Outcome, Reply

# The detail of an entry whose call was cut off because the run ended (Locust stopped the shopper mid-call).
STOPPED = "no answer: shopper stopped"
# The detail of an entry made up for a call a lost load process (killed, hung) may have made but never reported.
LOST = "no report: load process lost"


class Entry(NamedTuple):
    kind: str
    entity: str
    related: str
    amount: int
    outcome: Outcome
    detail: str  # the shop's answer in short: "HTTP 400 out_of_stock", "connection error: timeout"
    at: float  # wall-clock seconds, to order entries from several processes

    def as_list(self) -> list:
        return list(self)


class Ledger:
    """Append-only record of one process (workers) or of the whole run (master, after merging)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self._shipped = 0
        self.enabled = False  # switched on by the engine when the run is audited

    def record(self, kind: str, entity: str, related: str, amount: int, outcome: Outcome, detail: str) -> None:
        if self.enabled:
            self.entries.append(Entry(kind, entity, related, amount, outcome, detail, time.time()))

    def recorded(self, kind: str, entity: str, related: str, amount: int, send: Callable[[], Reply]) -> Reply:
        """Make one call (``send``) and record what the shopper was told: the reply's outcome, the failed step's
        reply, or unknown (STOPPED) when the shopper was stopped before any answer."""
        reply = None
        try:
            reply = send()
            return reply
        except JourneyFailed as failed:
            reply = failed.reply
            raise
        finally:
            outcome, detail = (reply.outcome, reply.detail) if reply else ("unknown", STOPPED)
            self.record(kind, entity, related, amount, outcome, detail)

    def take_delta(self) -> list[list]:
        """Entries recorded since the last call, as plain lists (for ``report_to_master``)."""
        delta = [entry.as_list() for entry in self.entries[self._shipped :]]
        self._shipped = len(self.entries)
        return delta

    def merge(self, delta: list[list]) -> None:
        self.entries.extend(Entry(*row) for row in delta)

    def clear(self) -> None:
        self.entries = []
        self._shipped = 0


LEDGER = Ledger()
