"""A webhook delivery as the audit reads it: one POST the shop made to shopstorm's receiver, with what could be read.

The receiver (:mod:`shopstorm.targets.webhook_receiver`) records them; the checkout-api's invariants
(:mod:`shopstorm.audit.settlement`) hold them against the ledger. Only a delivery signed with the run's secret, for
a checkout of this run, is the shop's word.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

NOT_THIS_RUN = "not a checkout of this run"


class Delivery(NamedTuple):
    """One POST to the receiver, with what could be read of it.

    ``event_type`` is ``""`` and the ids ``None`` when the body says nothing readable. ``rejection`` says why the
    receiver refused it (a signature verdict, or ``"too large"``); ``None`` means it was signed with the run's
    secret. ``duplicate`` is true for a valid delivery whose ``webhook_id`` was already received with a valid
    signature; ``digest`` tells the body of a replay from another event sent under the same id.
    """

    webhook_id: str
    event_type: str
    checkout_id: str | None
    order_id: str | None
    status: str | None
    received_at: float
    rejection: str | None
    duplicate: bool
    digest: str = ""

    @property
    def valid(self) -> bool:
        return self.rejection is None

    def rejected_for(self, checkouts: Collection[str] | None) -> str | None:
        """Why this delivery is not the shop's word about this run: the receiver's refusal, or
        ``"not a checkout of this run"`` when ``checkouts`` (the run's) are given and its checkout is not one of
        them. ``None`` when it counts."""
        if self.rejection is not None:
            return self.rejection
        if checkouts is not None and self.checkout_id not in checkouts:
            return NOT_THIS_RUN
        return None
