"""Time the audit's checker on a synthetic but realistic million-entry ledger.

Plays a one-hour run against a correct shop in memory — 2,000 seeded items and 200 created during the load,
100,000 users, 300,000 orders (two thirds seeded), about 600,000 checkouts (ok, refused for stock, credit or an
order already paid, and about 2 % unknown, half of which took effect), stock and funds additions (2 % unknown) —
then injects a few real bug shapes (lost updates, double charges, acknowledged checkouts never committed, a paid
order whose checkout was refused, credit charged below zero, unreadable entities) so that :func:`check` has
violations to find and prove. Only ``check()`` is timed; it runs on one thread, so on one core. On a busy
machine the wall time exceeds the CPU time: compare both. The figures are printed, never asserted.

Run: ``.venv/bin/python bench/audit_speed.py [--entries 1000000] [--seed 7]``
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from dataclasses import dataclass, field

from shopstorm.audit.invariants import check
from shopstorm.audit.ledger import Entry
from shopstorm.audit.state import Baseline, ItemState, OrderState, ShopState, UserState
from shopstorm.replies import Outcome

GOAL_SECONDS = 10.0
RUN_SECONDS = 3600.0
UNKNOWN_RATE = 0.02
SEEDED_STOCK = 100
SEEDED_CREDIT = 100


@dataclass
class Shop:
    """The shop's truth while the run is played; becomes the state read back at the end."""

    stock: dict[str, int]
    price: dict[str, int]
    credit: dict[str, int]
    order_user: dict[str, str]
    order_lines: dict[str, list[tuple[str, int]]]
    paid: dict[str, bool] = field(default_factory=dict)

    def total(self, order_id: str) -> int:
        return sum(self.price[item_id] * quantity for item_id, quantity in self.order_lines[order_id])

    def why_refused(self, order_id: str) -> str | None:
        if self.paid[order_id]:
            return "HTTP 400 already_paid"
        if any(self.stock[item_id] < quantity for item_id, quantity in self.order_lines[order_id]):
            return "HTTP 400 out_of_stock"
        if self.credit[self.order_user[order_id]] < self.total(order_id):
            return "HTTP 400 insufficient_credit"
        return None

    def settle(self, order_id: str) -> None:
        for item_id, quantity in self.order_lines[order_id]:
            self.stock[item_id] -= quantity
        self.credit[self.order_user[order_id]] -= self.total(order_id)
        self.paid[order_id] = True

    def state(self) -> ShopState:
        return ShopState(
            items={item_id: ItemState(units, self.price[item_id]) for item_id, units in self.stock.items()},
            users={user_id: UserState(credit) for user_id, credit in self.credit.items()},
            orders={
                order_id: OrderState(
                    user_id, self.paid[order_id], tuple(self.order_lines[order_id]), self.total(order_id)
                )
                for order_id, user_id in self.order_user.items()
            },
        )


@dataclass
class SyntheticRun:
    baseline: Baseline
    entries: list[Entry]
    state: ShopState
    injected: dict[str, int]


def build(entries_wanted: int, rng: random.Random) -> SyntheticRun:
    scale = entries_wanted / 1_000_000
    seeded_items, new_items = round(2_000 * scale) or 1, round(200 * scale)
    users = round(100_000 * scale) or 1
    seeded_orders, new_orders = round(200_000 * scale) or 1, round(100_000 * scale)
    stock_additions, funds_additions = round(100_000 * scale), round(200_000 * scale)

    item_ids = [f"item-{n}" for n in range(seeded_items + new_items)]
    user_ids = [f"user-{n}" for n in range(users)]
    order_ids = [f"order-{n}" for n in range(seeded_orders + new_orders)]
    shop = Shop(
        stock={item_id: SEEDED_STOCK if n < seeded_items else 0 for n, item_id in enumerate(item_ids)},
        price={item_id: rng.randint(1, 50) for item_id in item_ids},
        credit=dict.fromkeys(user_ids, SEEDED_CREDIT),
        order_user={order_id: rng.choice(user_ids) for order_id in order_ids},
        order_lines={
            order_id: [(item_id, rng.randint(1, 2)) for item_id in rng.sample(item_ids, rng.randint(1, 3))]
            for order_id in order_ids
        },
    )
    shop.paid = dict.fromkeys(order_ids, False)
    baseline = Baseline(
        stock=dict(list(shop.stock.items())[:seeded_items]),
        credit=dict(shop.credit),
        orders={order_id: shop.order_user[order_id] for order_id in order_ids[:seeded_orders]},
    )

    entries: list[Entry] = []
    clock = iter(range(entries_wanted))

    def record(kind: str, entity: str, related: str, amount: int, outcome: Outcome, detail: str) -> None:
        entries.append(
            Entry(kind, entity, related, amount, outcome, detail, next(clock) * RUN_SECONDS / entries_wanted)
        )

    def shopper_told() -> tuple[Outcome, bool]:
        """What the shopper will hear, and whether the shop gets to act at all (an unknown call may not arrive)."""
        if rng.random() < UNKNOWN_RATE:
            return "unknown", rng.random() < 0.5
        return "ok", True

    for item_id in item_ids[seeded_items:]:
        record("item", item_id, "", shop.price[item_id], "ok", "HTTP 201")
    for order_id in order_ids[seeded_orders:]:
        record("order", order_id, shop.order_user[order_id], 0, "ok", "HTTP 201")

    injected_entries = 10  # see inject_bugs: each injected checkout adds one entry
    checkouts = entries_wanted - len(entries) - stock_additions - funds_additions - injected_entries
    calls = ["stock"] * stock_additions + ["funds"] * funds_additions + ["checkout"] * checkouts
    rng.shuffle(calls)
    for call in calls:
        told, acted = shopper_told()
        if call == "stock":
            item_id, units = rng.choice(item_ids), rng.randint(1, 10)
            shop.stock[item_id] += units if acted else 0
            record("stock", item_id, "", units, told, "HTTP 200" if told == "ok" else "connection error: timeout")
        elif call == "funds":
            user_id, credit = rng.choice(user_ids), rng.randint(5, 40)
            shop.credit[user_id] += credit if acted else 0
            record("funds", user_id, "", credit, told, "HTTP 200" if told == "ok" else "HTTP 502")
        else:
            order_id = rng.choice(order_ids)
            refusal = shop.why_refused(order_id)
            if acted and refusal is None:
                shop.settle(order_id)
            outcome: Outcome = told if refusal is None or told == "unknown" else "refused"
            detail = {"ok": "HTTP 200", "refused": refusal, "unknown": "HTTP 500"}[outcome]
            record("checkout", order_id, shop.order_user[order_id], 0, outcome, detail or "")

    injected = inject_bugs(shop, entries, rng)
    state = shop.state()
    for kind, entity in [("item", rng.choice(item_ids)), ("user", rng.choice(user_ids))] + [
        ("order", order_id) for order_id in rng.sample(order_ids, 3)
    ]:
        del {"item": state.items, "user": state.users, "order": state.orders}[kind][entity]
        state.unreadable[kind, entity] = "connection error: timeout"
    injected["unreadable"] = 5
    return SyntheticRun(baseline, entries, state, injected)


def inject_bugs(shop: Shop, entries: list[Entry], rng: random.Random) -> dict[str, int]:
    """Real bug shapes, each leaving one ledger entry at a random moment of the run (ten entries in all)."""
    ordered_once = sorted({e.entity for e in entries if e.kind == "checkout" and e.outcome == "ok"})
    untouched = sorted(set(shop.order_user) - {e.entity for e in entries if e.kind == "checkout"})
    picks = iter(rng.sample(untouched, 4))

    def insert(order_id: str, outcome: Outcome, detail: str) -> None:
        at = rng.uniform(0, RUN_SECONDS)
        entries.insert(
            rng.randrange(len(entries)), Entry("checkout", order_id, shop.order_user[order_id], 0, outcome, detail, at)
        )

    for order_id in rng.sample(ordered_once, 3):  # double charge: a paid order checked out and charged again
        shop.settle(order_id)
        insert(order_id, "ok", "HTTP 200")
    for order_id in (next(picks) for _ in range(3)):  # ack before commit: told ok, rolled back
        insert(order_id, "ok", "HTTP 200")
    order_id = next(picks)  # refused, yet the paid flag stuck
    shop.paid[order_id] = True
    insert(order_id, "refused", "HTTP 400 out_of_stock")
    short_of_credit = [
        order_id for order_id in untouched if shop.why_refused(order_id) == "HTTP 400 insufficient_credit"
    ]
    for order_id in rng.sample(short_of_credit, 3):  # charged without a credit check, below zero
        shop.settle(order_id)
        insert(order_id, "ok", "HTTP 200")
    for item_id in rng.sample(sorted(shop.stock), 5):  # lost update: units that reappeared
        shop.stock[item_id] += rng.randint(1, 3)
    return {"double charge": 3, "ack before commit": 3, "refused but paid": 1, "credit below zero": 3, "lost update": 5}


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="ledger entries to build (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the synthetic run")
    args = parser.parse_args()

    started = time.perf_counter()
    run = build(args.entries, random.Random(args.seed))
    built = time.perf_counter() - started
    state = run.state
    entities = len(state.items) + len(state.users) + len(state.orders) + len(state.unreadable)
    print(
        f"synthetic run: {len(run.entries):,} ledger entries; {entities:,} entities ({len(state.items):,} items, "
        f"{len(state.users):,} users, {len(state.orders):,} orders, {len(state.unreadable)} unreadable); "
        f"built in {built:.1f} s"
    )
    print("injected:", ", ".join(f"{count} {bug}" for bug, count in run.injected.items()))

    memory_before = peak_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    result = check(run.baseline, run.entries, run.state)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    print(
        f"audit of {len(run.entries):,} ledger entries: {wall:.1f} s ({len(run.entries) / wall:,.0f} entries/s); "
        f"goal ≤ {GOAL_SECONDS:.0f} s: {wall / GOAL_SECONDS:.2f} of budget"
    )
    print(f"CPU time {cpu:.1f} s; peak RSS {peak_rss_mb():,.0f} MB (ledger and state alone: {memory_before:,.0f} MB)")
    found = ", ".join(f"{name} {len(findings)}" for name, findings in result.findings.items() if findings)
    print(f"verdict: {result.violations} violations ({found})")
    print(
        "unknowns:",
        "; ".join(f"{kind} {resolution.as_dict()}" for kind, resolution in result.unknowns.items()),
        "| checkouts:",
        result.checkouts,
    )


if __name__ == "__main__":
    main()
