"""Reconcile the ledger with the shop's state and check the invariants.

Unknown outcomes are never counted as success. They are resolved against state, where state can tell:

- an unknown checkout took effect if its order reads back paid, and did not if it reads back unpaid;
- unknown stock additions (or credit additions) of one item (user) took effect in whichever combination makes
  the books balance: exactly one combination resolves them, several leave them undecidable, none is a violation
  of conservation.

Checkouts that *took effect* are the acknowledged ones plus the unknown ones resolved as happened; the units and
totals of those orders (as read back) are what stock and credit conservation expect to be gone.

An entity the audit needs (a seeded or touched item or user, a seeded or checked-out order) that the state neither
holds nor lists as unreadable is reported under ``state_readable`` as missing: it is never passed unchecked.

Where the shop shows an order's payments, a paid order must have exactly one, for its total, and an unpaid one none.
Where the baseline says so (a storefront), an order that reads back paid must have been shown to its shopper as
paid; orders whose payment was cut off by the end of the run are counted apart, not held against the shop.
Invariants that do not apply to the shop (credit without accounts, payments it does not show) are left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from shopstorm.audit.findings import INVARIANTS, Finding, summarize
from shopstorm.audit.ledger import STOPPED, Entry
from shopstorm.audit.state import Baseline, OrderState, ShopState

MAX_UNKNOWNS_TO_RESOLVE = 12  # 2^12 combinations per entity; beyond that, unknowns stay undecidable
EVIDENCE_PER_ENTITY = 6  # checkout entries kept as evidence per item or user
MISSING = "missing from the state read back"


@dataclass
class Resolution:
    happened: int = 0
    not_happened: int = 0
    undecidable: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"happened": self.happened, "not_happened": self.not_happened, "undecidable": self.undecidable}


@dataclass
class AuditResult:
    findings: dict[str, list[Finding]]
    checked: dict[str, int]
    unknowns: dict[str, Resolution]
    checkouts: dict[str, int]
    unchecked: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return sum(len(found) for found in self.findings.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": "pass" if self.violations == 0 else "fail",
            "violations": self.violations,
            "invariants": [
                summarize(name, self.findings[name], self.checked[name]) for name in INVARIANTS if name in self.checked
            ],
            "unknowns": {kind: resolution.as_dict() for kind, resolution in self.unknowns.items()},
            "checkouts": dict(self.checkouts),
            "unchecked": dict(self.unchecked),
            "warnings": list(self.warnings),
        }


def interrupted_audit(
    why: str = "the audit was interrupted while it read the shop's state: no invariant was checked",
) -> dict[str, Any]:
    """The audit section of a run whose audit a signal cut short while it read the shop's state: nothing was
    checked (an invariant held against half a reading would blame a correct shop), and the verdict says so."""
    return {
        "verdict": "interrupted",
        "violations": 0,
        "invariants": [],
        "unknowns": {},
        "checkouts": {},
        "unchecked": {},
        "warnings": [why],
    }


@dataclass
class _Books:
    """The ledger folded per entity."""

    initial_stock: dict[str, int]
    initial_credit: dict[str, int]
    order_user: dict[str, str]
    added: dict[str, dict[str, int]] = field(default_factory=lambda: {"stock": Counter(), "funds": Counter()})
    unknown_adds: dict[str, dict[str, list[Entry]]] = field(
        default_factory=lambda: {"stock": defaultdict(list), "funds": defaultdict(list)}
    )
    checkouts: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    evidence: dict[tuple[str, str], list[Entry]] = field(default_factory=lambda: defaultdict(list))


def _fold(baseline: Baseline, entries: Iterable[Entry]) -> _Books:
    books = _Books(dict(baseline.stock), dict(baseline.credit), dict(baseline.orders))
    for entry in entries:
        kind, entity = entry.kind, entry.entity
        if kind in ("item", "stock"):
            books.evidence["item", entity].append(entry)
            if (kind == "item" and entry.outcome == "ok") or kind == "stock":
                books.initial_stock.setdefault(entity, 0)
        elif kind in ("user", "funds"):
            books.evidence["user", entity].append(entry)
            if (kind == "user" and entry.outcome == "ok") or kind == "funds":
                books.initial_credit.setdefault(entity, 0)
        elif kind in ("order", "checkout"):
            books.evidence["order", entity].append(entry)
            books.order_user.setdefault(entity, entry.related)
            if kind == "checkout":
                books.checkouts[entity].append(entry)
        elif kind in ("line", "unline"):
            books.evidence["order", entity].append(entry)
        if kind in ("stock", "funds"):
            if entry.outcome == "ok":
                books.added[kind][entity] += entry.amount
            elif entry.outcome == "unknown":
                books.unknown_adds[kind][entity].append(entry)
    return books


def _combinations_reaching(amounts: list[int], needed: int) -> tuple[int, int]:
    """How many subsets of ``amounts`` sum to ``needed`` (0, 1 or 2 = "several"), and the size of the one subset
    when there is exactly one. Too many unknowns to enumerate: (2, 0) when reachable at all, else (0, 0)."""
    if len(amounts) > MAX_UNKNOWNS_TO_RESOLVE:
        return (2, 0) if 0 <= needed <= sum(amounts) else (0, 0)
    found, size = 0, 0
    for count in range(len(amounts) + 1):
        for subset in combinations(amounts, count):
            if sum(subset) == needed:
                found, size = found + 1, count
                if found > 1:
                    return 2, 0
    return found, size


def check(baseline: Baseline, entries: Iterable[Entry], state: ShopState) -> AuditResult:
    """Hold the state against the seed and the ledger; return every finding with its evidence."""
    books = _fold(baseline, entries)
    findings: dict[str, list[Finding]] = {name: [] for name in INVARIANTS}
    unknowns = {"checkout": Resolution(), "stock": Resolution(), "funds": Resolution()}
    tally = Counter()
    payments_checked = 0

    for (kind, entity), reason in sorted(state.unreadable.items()):
        findings["state_readable"].append(
            Finding("state_readable", f"{kind} {entity}", "readable", reason, 1, books.evidence[kind, entity])
        )

    # Orders: which checkouts took effect, and the order-level invariants.
    taken: Counter[str] = Counter()  # units per item in checkouts that took effect
    acknowledged_units: Counter[str] = Counter()
    charged: Counter[str] = Counter()  # credit per user in checkouts that took effect
    # ("item", id) → checkouts that took units of it; ("user", id) → checkouts that charged them
    order_evidence: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    attempt_evidence: dict[tuple[str, str], list[Entry]] = defaultdict(list)  # checkouts that did not take effect
    for order_id in books.order_user:
        attempts = books.checkouts.get(order_id, [])
        acked = sum(1 for entry in attempts if entry.outcome == "ok")
        unknown = sum(1 for entry in attempts if entry.outcome == "unknown")
        order = state.orders.get(order_id)
        evidence = books.evidence["order", order_id]
        tally["acknowledged"] += acked > 0
        tally["refused"] += bool(attempts) and acked == 0 and unknown == 0
        tally["unknown"] += acked == 0 and unknown > 0
        if acked > 1:
            findings["order_charged_once"].append(
                Finding(
                    "order_charged_once",
                    f"order {order_id}",
                    1,
                    acked,
                    acked - 1,
                    evidence,
                    "the shop acknowledged more than one checkout of this order",
                )
            )
        if order is None:
            unknowns["checkout"].undecidable += acked == 0 and unknown > 0
            if ("order", order_id) not in state.unreadable and (attempts or order_id in baseline.orders):
                findings["state_readable"].append(
                    Finding("state_readable", f"order {order_id}", "readable", MISSING, 1, evidence)
                )
            continue
        if acked:
            took_effect = True
            if not order.paid:
                findings["acknowledged_order_paid"].append(
                    Finding("acknowledged_order_paid", f"order {order_id}", "paid", "unpaid", order.total, evidence)
                )
        elif unknown:
            took_effect = order.paid
            if order.paid:
                unknowns["checkout"].happened += 1
            else:
                unknowns["checkout"].not_happened += 1
        else:
            took_effect = False
            if order.paid:
                note = "every checkout was refused" if attempts else "no checkout was ever acknowledged"
                findings["refused_order_unpaid"].append(
                    Finding("refused_order_unpaid", f"order {order_id}", "unpaid", "paid", order.total, evidence, note)
                )
        if order.payments is not None:
            payments_checked += 1
            _check_payments(order_id, order, evidence, findings)
        if baseline.confirmation_required and order.paid and attempts and not acked:
            cut_off = any(entry.detail == STOPPED for entry in attempts) and all(
                entry.detail == STOPPED or entry.outcome == "refused" for entry in attempts
            )
            if cut_off:  # the run ended mid-payment: the shopper could not be shown anything
                tally["cut_off"] += 1
            else:
                findings["paid_order_confirmed"].append(
                    Finding(
                        "paid_order_confirmed",
                        f"order {order_id}",
                        "shown as paid",
                        "never shown as paid",
                        order.total,
                        evidence,
                        "the shop took the payment but its shopper never saw the order confirmed",
                    )
                )
        # Evidence for the order's user and items: checkouts that took effect, else the attempts that did not
        # (a refused checkout whose stock vanished is exactly what proves a missing rollback).
        kept = order_evidence if took_effect else attempt_evidence
        for key in (("user", order.user_id), *(("item", item_id) for item_id, _ in order.lines)):
            if attempts and len(kept[key]) < EVIDENCE_PER_ENTITY:
                kept[key].extend(evidence[-2:])
        if took_effect:
            charged[order.user_id] += order.total
            for item_id, quantity in order.lines:
                taken[item_id] += quantity
                if acked:
                    acknowledged_units[item_id] += quantity

    # Items and users: conservation, nothing negative, no oversell.
    accounts = [("stock", "item", books.initial_stock, state.items, taken, "stock_conserved")]
    if baseline.credit_tracked:
        accounts.append(("funds", "user", books.initial_credit, state.users, charged, "credit_conserved"))
    unchecked = Counter()
    if not baseline.all_items_seeded:  # products the seed never saw: their starting stock is unknown
        unchecked["items"] = len(set(taken) - set(books.initial_stock))
    checked = Counter()
    for kind, noun, initial, observed_state, expected_gone, invariant in accounts:
        in_scope = set(expected_gone) if kind == "funds" or baseline.all_items_seeded else set()
        for entity in sorted(set(initial) | in_scope):
            current = observed_state.get(entity)
            evidence = books.evidence[noun, entity] + order_evidence.get((noun, entity), [])
            evidence += attempt_evidence.get((noun, entity), [])[: max(0, EVIDENCE_PER_ENTITY - len(evidence))]
            if current is None:
                if (noun, entity) not in state.unreadable:
                    findings["state_readable"].append(
                        Finding("state_readable", f"{noun} {entity}", "readable", MISSING, 1, evidence)
                    )
                continue
            left = current.stock if kind == "stock" else current.credit
            checked[noun] += 1
            if left < 0:
                findings["nothing_negative"].append(
                    Finding("nothing_negative", f"{noun} {entity}", ">= 0", left, -left, evidence)
                )
            base = initial.get(entity, 0) + books.added[kind][entity]
            pending = books.unknown_adds[kind][entity]
            amounts = [entry.amount for entry in pending]
            solutions, happened = _combinations_reaching(amounts, expected_gone[entity] - (base - left))
            if solutions == 0:
                expected_left = base - expected_gone[entity]
                expected = expected_left if not amounts else f"{expected_left}..{expected_left + sum(amounts)}"
                findings[invariant].append(
                    Finding(
                        invariant,
                        f"{noun} {entity}",
                        expected,
                        left,
                        abs(expected_left - left),
                        evidence,
                        f"{expected_gone[entity]} {'units' if kind == 'stock' else 'credit'} in checkouts "
                        f"that took effect",
                    )
                )
            elif solutions == 1:
                unknowns[kind].happened += happened
                unknowns[kind].not_happened += len(amounts) - happened
            else:
                unknowns[kind].undecidable += len(amounts)
            if kind == "stock" and acknowledged_units[entity] > base + sum(amounts):
                findings["no_oversell"].append(
                    Finding(
                        "no_oversell",
                        f"item {entity}",
                        f"<= {base + sum(amounts)}",
                        acknowledged_units[entity],
                        acknowledged_units[entity] - base - sum(amounts),
                        evidence,
                        "units in acknowledged checkouts exceed the units ever in stock",
                    )
                )

    orders_checked = len(state.orders)
    all_checked = checked["item"] + checked["user"] + orders_checked
    counts = {
        "stock_conserved": checked["item"],
        "credit_conserved": checked["user"],
        "nothing_negative": checked["item"] + checked["user"],
        "no_oversell": checked["item"],
        "acknowledged_order_paid": orders_checked,
        "refused_order_unpaid": orders_checked,
        "order_charged_once": len(books.order_user),
        "paid_order_charged_once": payments_checked,
        "paid_order_confirmed": orders_checked,
        "state_readable": all_checked + len(findings["state_readable"]),
    }
    if not baseline.credit_tracked:
        del counts["credit_conserved"]
    if not payments_checked:
        del counts["paid_order_charged_once"]
    if not baseline.confirmation_required:
        del counts["paid_order_confirmed"]
    return AuditResult(findings, counts, unknowns, dict(tally), dict(unchecked), list(state.warnings))


def _check_payments(order_id: str, order: OrderState, evidence: list[Entry], findings: dict[str, list]) -> None:
    """A paid order was charged once, for its total; an unpaid one was not charged at all."""
    expected = (order.total,) if order.paid else ()
    if sorted(order.payments or ()) == list(expected):
        return
    charged = sum(order.payments or ())
    findings["paid_order_charged_once"].append(
        Finding(
            "paid_order_charged_once",
            f"order {order_id}",
            f"1 payment of {order.total}" if order.paid else "no payment",
            f"{len(order.payments or ())} payments: {', '.join(map(str, order.payments or ())) or 'none'}",
            abs(charged - sum(expected)) or 1,
            evidence,
            "paid" if order.paid else "unpaid",
        )
    )
