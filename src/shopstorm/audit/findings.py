"""Audit findings as evidence, not booleans (after Jepsen's checkers).

A :class:`Finding` names the invariant, the entity, what was expected and what was observed, and the ledger
entries that prove it. :func:`summarize` turns the findings of one invariant into ``count``, ``first``,
``worst`` and ``last``, so a report can show the shape of a problem without listing ten thousand rows.
A :class:`Checked` is what one family of invariants found and how many entities each was held against;
:func:`in_table_order` puts the families of an audit together in the order of :data:`INVARIANTS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shopstorm.audit.ledger import Entry

MAX_ENTRIES_PER_FINDING = 12

INVARIANTS: dict[str, str] = {
    "stock_conserved": "per item: seeded + added - left = units in checkouts that took effect",
    "credit_conserved": "per user: seeded + funded - left = totals of that user's checkouts that took effect",
    "nothing_negative": "no item's stock and no user's credit below zero",
    "no_oversell": "per item: units in acknowledged checkouts ≤ units ever in stock",
    "acknowledged_order_paid": "every checkout the shop acknowledged reads back paid",
    "refused_order_unpaid": "every order whose checkouts were all refused reads back unpaid",
    "order_charged_once": "the shop acknowledged at most one checkout per order",
    "paid_order_charged_once": "every paid order was charged exactly once, for its total; an unpaid one never",
    "paid_order_confirmed": "every order that reads back paid was shown to its shopper as paid",
    "confirm_settled": "every confirm the shop acknowledged ended succeeded or failed in time (stuck: its age)",
    "one_order_per_checkout": "every succeeded checkout has exactly one order, for its amount; any other checkout none",
    "order_paid_once": "every succeeded checkout produced exactly one order.paid webhook (after dedupe by webhook-id)",
    "no_event_unsettled": "no order.paid webhook for a checkout that did not succeed",
    "one_event_per_webhook_id": "every webhook-id the shop signed names one event: resent unchanged, never reused",
    "state_readable": "every seeded or touched item, user and order could be read back",
}


@dataclass
class Finding:
    invariant: str
    entity: str  # "item 0", "user 17", "order 3f2a…"
    expected: Any
    observed: Any
    magnitude: float  # how far off: the worst finding of an invariant is the largest
    entries: list[Entry] = field(default_factory=list)
    note: str = ""

    @property
    def first_seen(self) -> float:
        return min((entry.at for entry in self.entries), default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "expected": self.expected,
            "observed": self.observed,
            "note": self.note,
            "ledger": [
                {
                    "kind": e.kind,
                    "entity": e.entity,
                    "related": e.related,
                    "amount": e.amount,
                    "outcome": e.outcome,
                    "detail": e.detail,
                    "at": round(e.at, 3),
                }
                for e in self.entries[:MAX_ENTRIES_PER_FINDING]
            ],
        }


@dataclass
class Checked:
    """One family of invariants held against the shop: how many entities each invariant was held against, and
    its findings. An invariant that does not apply to the shop has no count."""

    counts: dict[str, int]
    findings: dict[str, list[Finding]] = field(default_factory=dict)

    def found(self, invariant: str, *evidence: Any) -> None:
        """Record a finding of ``invariant``: the entity, expected, observed, magnitude, entries and note."""
        self.findings.setdefault(invariant, []).append(Finding(invariant, *evidence))


def in_table_order(families: Iterable[Checked]) -> Checked:
    """The families' counts and findings together, in the order of :data:`INVARIANTS`; every invariant of the
    table has a list of findings, empty when nothing was found (or when it does not apply)."""
    counts: dict[str, int] = {}
    findings: dict[str, list[Finding]] = {}
    for family in families:
        counts.update(family.counts)
        for invariant, found in family.findings.items():
            findings.setdefault(invariant, []).extend(found)
    return Checked(
        {name: counts[name] for name in INVARIANTS if name in counts},
        {name: findings.get(name, []) for name in INVARIANTS},
    )


def summarize(invariant: str, findings: list[Finding], checked: int) -> dict[str, Any]:
    ordered = sorted(findings, key=lambda f: f.first_seen)
    return {
        "invariant": invariant,
        "description": INVARIANTS[invariant],
        "holds": not findings,
        "checked": checked,
        "count": len(findings),
        "first": ordered[0].as_dict() if ordered else None,
        "worst": max(findings, key=lambda f: f.magnitude).as_dict() if findings else None,
        "last": ordered[-1].as_dict() if ordered else None,
        "all": [f.as_dict() for f in ordered[:100]],
    }
