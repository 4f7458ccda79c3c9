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

:func:`check` folds the ledger into books per entity (each order's story, each holder's balance), then holds them
against the state one family of invariants at a time, in the order of :data:`~shopstorm.audit.findings.INVARIANTS`:
each family is one function that returns its findings and how many entities it checked.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, NamedTuple

from shopstorm.audit.findings import INVARIANTS, Checked, Finding, in_table_order, summarize
from shopstorm.audit.ledger import STOPPED, Entry
from shopstorm.audit.state import Baseline, ItemState, OrderState, ShopState, UserState

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


def check(baseline: Baseline, entries: Iterable[Entry], state: ShopState) -> AuditResult:
    """Hold the state against the seed and the ledger; return every finding with its evidence."""
    books = _fold(baseline, entries)
    stories = _order_stories(books, state)
    spent = _spent(books, stories)
    accounts = _accounts(baseline, books, state, spent)
    balances = [balance for account in accounts for balance in _balances(account, books, baseline.all_items_seeded)]
    read_back = [balance for balance in balances if balance.left is not None]
    families = [
        *(_conserved(account, read_back, spent) for account in accounts),
        _nothing_negative(read_back, spent),
        _no_oversell(read_back, spent),
        _checkout_answers(stories, state),
        _payments(stories),
        _confirmations(baseline, stories, state),
        _readable(baseline, state, stories, balances, spent),
    ]
    audit = in_table_order(families)
    unknowns = {
        "checkout": _unknown_checkouts(stories),
        "stock": _unknown_additions(read_back, "stock"),
        "funds": _unknown_additions(read_back, "funds"),
    }
    unchecked: dict[str, int] = {}
    if not baseline.all_items_seeded:  # products the seed never saw: their starting stock is unknown
        unchecked["items"] = len(set(spent.units_taken) - set(books.initial_stock))
    tally = _checkout_tally(baseline, stories)
    return AuditResult(audit.findings, audit.counts, unknowns, tally, unchecked, list(state.warnings))


def _conserved(account: _Account, read_back: list[_Balance], spent: _Spent) -> Checked:
    """stock_conserved / credit_conserved: every holder's balance is what the seed, the additions and the
    checkouts that took effect leave, for some combination of the unknown additions."""
    balances = [balance for balance in read_back if balance.account is account]
    checked = Checked({account.invariant: len(balances)})
    what = "units" if account.addition == "stock" else "credit"
    for balance in balances:
        if balance.solutions:
            continue
        expected_left = balance.base - balance.spent
        amounts = balance.unknown_additions
        expected = expected_left if not amounts else f"{expected_left}..{expected_left + sum(amounts)}"
        checked.found(
            account.invariant,
            balance.entity,
            expected,
            balance.left,
            abs(expected_left - balance.left),
            spent.evidence(account.holder, balance.holder_id),
            f"{balance.spent} {what} in checkouts that took effect",
        )
    return checked


def _unknown_additions(read_back: list[_Balance], addition: str) -> Resolution:
    """Unknown stock (or funds) additions resolved by the one combination that balances the books, if one."""
    resolution = Resolution()
    for balance in read_back:
        if balance.account.addition != addition:
            continue
        if balance.solutions == 1:
            resolution.happened += balance.happened
            resolution.not_happened += len(balance.unknown_additions) - balance.happened
        elif balance.solutions > 1:
            resolution.undecidable += len(balance.unknown_additions)
    return resolution


def _nothing_negative(read_back: list[_Balance], spent: _Spent) -> Checked:
    """nothing_negative: no item's stock and no user's credit below zero."""
    checked = Checked({"nothing_negative": len(read_back)})
    for balance in read_back:
        if balance.left < 0:
            evidence = spent.evidence(balance.account.holder, balance.holder_id)
            checked.found("nothing_negative", balance.entity, ">= 0", balance.left, -balance.left, evidence)
    return checked


def _no_oversell(read_back: list[_Balance], spent: _Spent) -> Checked:
    """no_oversell: the units in acknowledged checkouts of an item never exceed the units ever in its stock."""
    items = [balance for balance in read_back if balance.account.addition == "stock"]
    checked = Checked({"no_oversell": len(items)})
    for balance in items:
        ever_in_stock = balance.base + sum(balance.unknown_additions)
        sold = spent.units_acknowledged[balance.holder_id]
        if sold > ever_in_stock:
            checked.found(
                "no_oversell",
                f"item {balance.holder_id}",
                f"<= {ever_in_stock}",
                sold,
                sold - ever_in_stock,
                spent.evidence("item", balance.holder_id),
                "units in acknowledged checkouts exceed the units ever in stock",
            )
    return checked


def _checkout_answers(stories: list[_OrderStory], state: ShopState) -> Checked:
    """acknowledged_order_paid, refused_order_unpaid and order_charged_once: what the shop answered each checkout
    agrees with the order it kept."""
    orders_checked = len(state.orders)
    checked = Checked(
        {
            "acknowledged_order_paid": orders_checked,
            "refused_order_unpaid": orders_checked,
            "order_charged_once": len(stories),
        }
    )
    for story in stories:
        order, entity = story.read_back, f"order {story.order_id}"
        if story.acknowledged > 1:
            note = "the shop acknowledged more than one checkout of this order"
            checked.found(
                "order_charged_once", entity, 1, story.acknowledged, story.acknowledged - 1, story.evidence, note
            )
        if order is None:
            continue
        if story.acknowledged and not order.paid:
            checked.found("acknowledged_order_paid", entity, "paid", "unpaid", order.total, story.evidence)
        elif not story.acknowledged and not story.unknown and order.paid:
            note = "every checkout was refused" if story.attempts else "no checkout was ever acknowledged"
            checked.found("refused_order_unpaid", entity, "unpaid", "paid", order.total, story.evidence, note)
    return checked


def _unknown_checkouts(stories: list[_OrderStory]) -> Resolution:
    """An unknown checkout took effect if its order reads back paid, did not if unpaid, and is undecidable when
    the order could not be read."""
    resolution = Resolution()
    for story in stories:
        if story.acknowledged or not story.unknown:
            continue
        if story.read_back is None:
            resolution.undecidable += 1
        elif story.read_back.paid:
            resolution.happened += 1
        else:
            resolution.not_happened += 1
    return resolution


def _payments(stories: list[_OrderStory]) -> Checked:
    """paid_order_charged_once, where the shop shows an order's payments: a paid order was charged once, for its
    total; an unpaid one was not charged at all."""
    shown = [story for story in stories if story.read_back is not None and story.read_back.payments is not None]
    checked = Checked({"paid_order_charged_once": len(shown)} if shown else {})
    for story in shown:
        order = story.read_back
        payments = order.payments or ()
        expected = (order.total,) if order.paid else ()
        if sorted(payments) == list(expected):
            continue
        checked.found(
            "paid_order_charged_once",
            f"order {story.order_id}",
            f"1 payment of {order.total}" if order.paid else "no payment",
            f"{len(payments)} payments: {', '.join(map(str, payments)) or 'none'}",
            abs(sum(payments) - sum(expected)) or 1,
            story.evidence,
            "paid" if order.paid else "unpaid",
        )
    return checked


def _confirmations(baseline: Baseline, stories: list[_OrderStory], state: ShopState) -> Checked:
    """paid_order_confirmed, where the shop must show its shopper a confirmation: an order that reads back paid
    was shown as paid, unless the end of the run cut its payment off."""
    if not baseline.confirmation_required:
        return Checked({})
    checked = Checked({"paid_order_confirmed": len(state.orders)})
    for story in stories:
        if _paid_unconfirmed(story) and not _cut_off(story):
            checked.found(
                "paid_order_confirmed",
                f"order {story.order_id}",
                "shown as paid",
                "never shown as paid",
                story.read_back.total,
                story.evidence,
                "the shop took the payment but its shopper never saw the order confirmed",
            )
    return checked


def _paid_unconfirmed(story: _OrderStory) -> bool:
    """The order reads back paid, yet none of its checkouts was acknowledged to its shopper."""
    return story.read_back is not None and story.read_back.paid and bool(story.attempts) and not story.acknowledged


def _cut_off(story: _OrderStory) -> bool:
    """The run ended mid-payment: the shopper stopped waiting, and no attempt got an answer but a refusal."""
    attempts = story.attempts
    return any(entry.detail == STOPPED for entry in attempts) and all(
        entry.detail == STOPPED or entry.outcome == "refused" for entry in attempts
    )


def _checkout_tally(baseline: Baseline, stories: list[_OrderStory]) -> dict[str, int]:
    """How the run's checkouts ended for their shoppers: orders acknowledged, refused (every checkout) and
    unknown, and the paid orders whose payment the end of the run cut off (counted apart, not held against the
    shop)."""
    tally: dict[str, int] = {}
    if stories:
        tally["acknowledged"] = sum(story.acknowledged > 0 for story in stories)
        tally["refused"] = sum(
            bool(story.attempts) and not story.acknowledged and not story.unknown for story in stories
        )
        tally["unknown"] = sum(not story.acknowledged and story.unknown > 0 for story in stories)
    if baseline.confirmation_required:
        cut_off = sum(_paid_unconfirmed(story) and _cut_off(story) for story in stories)
        if cut_off:
            tally["cut_off"] = cut_off
    return tally


def _readable(
    baseline: Baseline, state: ShopState, stories: list[_OrderStory], balances: list[_Balance], spent: _Spent
) -> Checked:
    """state_readable: every entity the audit needs was read back; one the state neither holds nor lists as
    unreadable is missing, never passed unchecked."""
    checked = Checked({})
    for (kind, entity), reason in sorted(state.unreadable.items()):
        checked.found(
            "state_readable", f"{kind} {entity}", "readable", reason, 1, spent.entries.get((kind, entity), [])
        )
    for story in stories:
        needed = story.attempts or story.order_id in baseline.orders
        if story.read_back is None and ("order", story.order_id) not in state.unreadable and needed:
            checked.found("state_readable", f"order {story.order_id}", "readable", MISSING, 1, story.evidence)
    for balance in balances:
        if balance.left is None and (balance.account.holder, balance.holder_id) not in state.unreadable:
            evidence = spent.evidence(balance.account.holder, balance.holder_id)
            checked.found("state_readable", balance.entity, "readable", MISSING, 1, evidence)
    read_back = sum(balance.left is not None for balance in balances) + len(state.orders)
    checked.counts["state_readable"] = read_back + len(checked.findings.get("state_readable", []))
    return checked


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
    """One pass over the ledger: what was seeded or created, added, checked out, and each entity's entries."""
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


class _OrderStory(NamedTuple):
    """One order the run knows of: its checkouts as the ledger tells them, and the order as read back."""

    order_id: str
    attempts: list[Entry]  # its checkouts, whatever their outcome
    acknowledged: int  # checkouts the shop acknowledged
    unknown: int  # checkouts whose outcome the shopper never learnt
    evidence: list[Entry]
    read_back: OrderState | None  # None: not in the state (unreadable or missing)
    took_effect: bool  # one checkout was acknowledged, or one is unknown and the order reads back paid


def _order_stories(books: _Books, state: ShopState) -> list[_OrderStory]:
    """Every order the seed or the ledger knows of, in the order the books met them."""
    stories = []
    for order_id in books.order_user:
        attempts = books.checkouts.get(order_id, [])
        acknowledged = sum(1 for entry in attempts if entry.outcome == "ok")
        unknown = sum(1 for entry in attempts if entry.outcome == "unknown")
        evidence = books.evidence["order", order_id]
        order = state.orders.get(order_id)
        took_effect = acknowledged > 0 or (unknown > 0 and order is not None and order.paid)
        stories.append(_OrderStory(order_id, attempts, acknowledged, unknown, evidence, order, took_effect))
    return stories


@dataclass
class _Spent:
    """What the checkouts that took effect took out of the shop, and the ledger entries that show it."""

    entries: dict[tuple[str, str], list[Entry]]  # each entity's own entries in the books
    units_taken: Counter[str] = field(default_factory=Counter)  # per item
    units_acknowledged: Counter[str] = field(default_factory=Counter)  # per item, in acknowledged checkouts only
    credit_charged: Counter[str] = field(default_factory=Counter)  # per user
    # ("item", id) → checkouts that took units of it; ("user", id) → checkouts that charged them
    proof: dict[tuple[str, str], list[Entry]] = field(default_factory=lambda: defaultdict(list))
    attempts: dict[tuple[str, str], list[Entry]] = field(default_factory=lambda: defaultdict(list))  # no effect

    def evidence(self, holder: str, holder_id: str) -> list[Entry]:
        """What shows an item's stock or a user's credit: its own entries, the checkouts that took effect, and
        as many that did not as leave the evidence at most ``EVIDENCE_PER_ENTITY`` checkouts long."""
        key = (holder, holder_id)
        evidence = self.entries.get(key, []) + self.proof.get(key, [])
        return evidence + self.attempts.get(key, [])[: max(0, EVIDENCE_PER_ENTITY - len(evidence))]


def _spent(books: _Books, stories: list[_OrderStory]) -> _Spent:
    """The units and credit the checkouts that took effect took, per item and user, with their evidence."""
    spent = _Spent(books.evidence)
    for story in stories:
        order = story.read_back
        if order is None:
            continue
        # Evidence for the order's user and items: checkouts that took effect, else the attempts that did not
        # (a refused checkout whose stock vanished is exactly what proves a missing rollback).
        kept = spent.proof if story.took_effect else spent.attempts
        for key in (("user", order.user_id), *(("item", item_id) for item_id, _ in order.lines)):
            if story.attempts and len(kept[key]) < EVIDENCE_PER_ENTITY:
                kept[key].extend(story.evidence[-2:])
        if story.took_effect:
            spent.credit_charged[order.user_id] += order.total
            for item_id, quantity in order.lines:
                spent.units_taken[item_id] += quantity
                if story.acknowledged:
                    spent.units_acknowledged[item_id] += quantity
    return spent


@dataclass(frozen=True)
class _Account:
    """A balance the shop keeps per holder, stock per item or credit per user, as conservation holds it."""

    addition: str  # the ledger kind that adds to it: "stock" or "funds"
    holder: str  # "item" or "user"
    seeded: dict[str, int]  # at the seed (0 for a holder created during the load)
    read_back: Mapping[str, ItemState] | Mapping[str, UserState]
    spent: Counter[str]  # taken out by the checkouts that took effect
    invariant: str  # "stock_conserved" or "credit_conserved"

    def left(self, holder_id: str) -> int | None:
        """The balance as read back; None when the holder is not in the state."""
        current = self.read_back.get(holder_id)
        if current is None:
            return None
        return current.stock if isinstance(current, ItemState) else current.credit


def _accounts(baseline: Baseline, books: _Books, state: ShopState, spent: _Spent) -> list[_Account]:
    """Stock per item, and credit per user where the shop keeps credit accounts."""
    accounts = [_Account("stock", "item", books.initial_stock, state.items, spent.units_taken, "stock_conserved")]
    if baseline.credit_tracked:
        accounts.append(
            _Account("funds", "user", books.initial_credit, state.users, spent.credit_charged, "credit_conserved")
        )
    return accounts


class _Balance(NamedTuple):
    """One holder's balance held against the books: what it should be and what it is."""

    account: _Account
    holder_id: str
    left: int | None  # as read back; None: not in the state
    base: int  # seeded plus the acknowledged additions
    unknown_additions: list[int]  # amounts of the additions whose outcome is unknown
    spent: int  # taken out by the checkouts that took effect
    solutions: int  # how many combinations of the unknown additions balance the books: 0, 1 or 2 (several)
    happened: int  # with exactly one solution, how many of the unknown additions took effect

    @property
    def entity(self) -> str:
        return f"{self.account.holder} {self.holder_id}"


def _balances(account: _Account, books: _Books, all_items_seeded: bool) -> list[_Balance]:
    """Every holder the audit needs in this account: the seeded ones, and those the checkouts spent from where
    the seed saw every holder (products it never saw have an unknown starting stock)."""
    kind = account.addition
    in_scope = set(account.spent) if kind == "funds" or all_items_seeded else set()
    balances = []
    for holder_id in sorted(set(account.seeded) | in_scope):
        left = account.left(holder_id)
        if left is None:
            balances.append(_Balance(account, holder_id, None, 0, [], 0, 0, 0))
            continue
        base = account.seeded.get(holder_id, 0) + books.added[kind][holder_id]
        amounts = [entry.amount for entry in books.unknown_adds[kind].get(holder_id, ())]
        gone = account.spent[holder_id]
        solutions, happened = _combinations_reaching(amounts, gone - (base - left))
        balances.append(_Balance(account, holder_id, left, base, amounts, gone, solutions, happened))
    return balances


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
