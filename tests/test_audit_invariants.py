"""The audit's checker on small, hand-made histories: the course benchmark in miniature, then one real bug at a time.

The miniature shop has one item ``i0`` (price 1), users ``u0``..``u4`` and orders ``o0``..``o4``, order ``oN``
belonging to user ``uN`` and asking for units of ``i0``. Each test writes what the shoppers were told (the
ledger) and what the shop holds afterwards (the state), and reads the verdict of :func:`check`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from shopstorm.audit.findings import INVARIANTS, Finding
from shopstorm.audit.invariants import AuditResult, check
from shopstorm.audit.ledger import STOPPED, Entry
from shopstorm.audit.state import Baseline, ItemState, OrderState, ShopState, UserState
from shopstorm.replies import Outcome

PRICE = 1


def seeded(stock: int = 3, credit: Sequence[int] = (1, 1, 1, 1, 1)) -> Baseline:
    """The seed: ``stock`` units of i0, one user per credit given, and one order per user."""
    return Baseline(
        stock={"i0": stock},
        credit={f"u{n}": units for n, units in enumerate(credit)},
        orders={f"o{n}": f"u{n}" for n in range(len(credit))},
    )


def shop_after(
    stock_left: int,
    credit_left: Sequence[int],
    paid: Collection[int],
    units: Sequence[int] | None = None,
) -> ShopState:
    """The state read back: order ``oN`` asks for ``units[N]`` of i0 (1 by default) and is paid if N is in ``paid``."""
    units = units or [1] * len(credit_left)
    return ShopState(
        items={"i0": ItemState(stock_left, PRICE)},
        users={f"u{n}": UserState(credit) for n, credit in enumerate(credit_left)},
        orders={
            f"o{n}": OrderState(f"u{n}", n in paid, (("i0", units[n]),), units[n] * PRICE) for n in range(len(units))
        },
    )


def checkout(n: int, outcome: Outcome, at: float | None = None) -> Entry:
    detail = {"ok": "HTTP 200", "refused": "HTTP 400 out_of_stock", "unknown": "connection error: timeout"}[outcome]
    return Entry("checkout", f"o{n}", f"u{n}", 0, outcome, detail, float(n) if at is None else at)


def stock_added(units: int, outcome: Outcome, at: float = 0.5) -> Entry:
    return Entry("stock", "i0", "", units, outcome, "", at)


def violated(result: AuditResult) -> dict[str, int]:
    return {name: len(found) for name, found in result.findings.items() if found}


def the_finding(result: AuditResult, invariant: str) -> Finding:
    (finding,) = result.findings[invariant]
    return finding


def summary(result: AuditResult, invariant: str) -> dict[str, Any]:
    (found,) = [row for row in result.as_dict()["invariants"] if row["invariant"] == invariant]
    return found


BENCHMARK_LEDGER = [
    checkout(0, "ok"),
    checkout(1, "ok"),
    checkout(2, "ok"),
    checkout(3, "refused"),
    checkout(4, "refused"),
]


def test_a_correct_history_passes_every_invariant():
    state = shop_after(stock_left=0, credit_left=[0, 0, 0, 1, 1], paid={0, 1, 2})
    result = check(seeded(), BENCHMARK_LEDGER, state)

    assert result.violations == 0
    assert result.checkouts == {"acknowledged": 3, "refused": 2, "unknown": 0}
    report = result.as_dict()
    assert report["verdict"] == "pass"
    # a webshop shows no payments and no confirmation pages, and has no checkout sessions: only these apply to it
    assert [row["invariant"] for row in report["invariants"]] == [
        "stock_conserved", "credit_conserved", "nothing_negative", "no_oversell", "acknowledged_order_paid",
        "refused_order_unpaid", "order_charged_once", "state_readable",
    ]  # fmt: skip
    assert set(INVARIANTS) > {row["invariant"] for row in report["invariants"]}
    assert list(result.checked) == [name for name in INVARIANTS if name in result.checked]
    assert all(row["holds"] and row["checked"] > 0 for row in report["invariants"])
    assert summary(result, "stock_conserved")["checked"] == 1
    assert summary(result, "credit_conserved")["checked"] == 5


def test_lost_update_leaves_stock_too_high_and_oversells():
    """Five shoppers read stock 3 at once and each wrote back 3 - 1: all five were told ok, 2 units remain."""
    ledger = [checkout(n, "ok") for n in range(5)]
    result = check(seeded(), ledger, shop_after(stock_left=2, credit_left=[0] * 5, paid=range(5)))

    assert violated(result) == {"stock_conserved": 1, "no_oversell": 1}
    conserved = the_finding(result, "stock_conserved")
    assert (conserved.entity, conserved.expected, conserved.observed) == ("item i0", -2, 2)
    assert conserved.magnitude == 4
    assert conserved.entries == ledger
    oversold = the_finding(result, "no_oversell")
    assert (oversold.entity, oversold.expected, oversold.observed, oversold.magnitude) == ("item i0", "<= 3", 5, 2)
    assert oversold.entries == ledger


def test_double_charge_is_seen_on_the_order_and_on_the_credit():
    """The shop checked out a paid order again: two ok answers, two units and two credits gone."""
    ledger = [checkout(0, "ok", at=1.0), checkout(0, "ok", at=2.0)]
    state = shop_after(stock_left=1, credit_left=[0, 1, 1, 1, 1], paid={0})
    result = check(seeded(credit=(2, 1, 1, 1, 1)), ledger, state)

    assert violated(result) == {"order_charged_once": 1, "credit_conserved": 1, "stock_conserved": 1}
    charged_once = the_finding(result, "order_charged_once")
    assert (charged_once.entity, charged_once.expected, charged_once.observed) == ("order o0", 1, 2)
    assert charged_once.entries == ledger
    credit = the_finding(result, "credit_conserved")
    assert (credit.entity, credit.expected, credit.observed, credit.magnitude) == ("user u0", 1, 0, 1)
    assert credit.entries == ledger, "the credit finding shows the checkouts that charged the user"
    stock = the_finding(result, "stock_conserved")
    assert (stock.entity, stock.expected, stock.observed) == ("item i0", 2, 1)


def test_refused_checkout_that_keeps_the_stock_breaks_stock_conservation():
    """No rollback: the checkout took the unit, then was refused for credit, and the unit stayed taken."""
    refused = Entry("checkout", "o0", "u0", 0, "refused", "HTTP 400 insufficient_credit", 1.0)
    state = shop_after(stock_left=2, credit_left=[0, 1, 1, 1, 1], paid=())
    result = check(seeded(credit=(0, 1, 1, 1, 1)), [refused], state)

    assert violated(result) == {"stock_conserved": 1}
    finding = the_finding(result, "stock_conserved")
    assert (finding.entity, finding.expected, finding.observed, finding.magnitude) == ("item i0", 3, 2, 1)
    assert "0 units in checkouts that took effect" in finding.note


def test_acknowledged_checkout_that_was_never_committed():
    """Ack before commit: the shopper was told ok, the order reads unpaid, and nothing was taken.

    The acknowledged checkout's unit and credit are also expected gone, so conservation fails for both too.
    """
    ledger = [checkout(0, "ok", at=1.0)]
    result = check(seeded(), ledger, shop_after(stock_left=3, credit_left=[1] * 5, paid=()))

    assert violated(result) == {"acknowledged_order_paid": 1, "stock_conserved": 1, "credit_conserved": 1}
    finding = the_finding(result, "acknowledged_order_paid")
    assert (finding.entity, finding.expected, finding.observed, finding.magnitude) == ("order o0", "paid", "unpaid", 1)
    assert finding.entries == ledger
    stock, credit = the_finding(result, "stock_conserved"), the_finding(result, "credit_conserved")
    assert (stock.entity, stock.expected, stock.observed) == ("item i0", 2, 3)
    assert (credit.entity, credit.expected, credit.observed) == ("user u0", 0, 1)


def test_refused_checkout_whose_order_reads_paid():
    """The shop set the paid flag, then refused for stock and rolled back everything but the flag."""
    ledger = [checkout(0, "refused", at=1.0)]
    result = check(seeded(stock=0), ledger, shop_after(stock_left=0, credit_left=[1] * 5, paid={0}))

    assert violated(result) == {"refused_order_unpaid": 1}
    finding = the_finding(result, "refused_order_unpaid")
    assert (finding.entity, finding.expected, finding.observed, finding.note) == (
        "order o0",
        "unpaid",
        "paid",
        "every checkout was refused",
    )
    assert finding.entries == ledger


def test_credit_below_zero():
    """The shop charged an order without checking the user's credit; the books balance, the credit is -1."""
    ledger = [checkout(0, "ok", at=1.0)]
    result = check(
        seeded(credit=(0, 1, 1, 1, 1)), ledger, shop_after(stock_left=2, credit_left=[-1, 1, 1, 1, 1], paid={0})
    )

    assert violated(result) == {"nothing_negative": 1}
    finding = the_finding(result, "nothing_negative")
    assert (finding.entity, finding.expected, finding.observed, finding.magnitude) == ("user u0", ">= 0", -1, 1)
    assert finding.entries == ledger


def test_stock_below_zero_is_also_an_oversell():
    ledger = [checkout(0, "ok", at=1.0)]
    result = check(seeded(stock=0), ledger, shop_after(stock_left=-1, credit_left=[0, 1, 1, 1, 1], paid={0}))

    assert violated(result) == {"nothing_negative": 1, "no_oversell": 1}
    finding = the_finding(result, "nothing_negative")
    assert (finding.entity, finding.observed, finding.entries) == ("item i0", -1, ledger)


def test_an_unreadable_entity_is_a_finding_never_a_pass():
    state = shop_after(stock_left=0, credit_left=[0, 0, 0, 1, 1], paid={0, 1, 2})
    del state.users["u3"]
    state.unreadable["user", "u3"] = "HTTP 500"
    result = check(seeded(), BENCHMARK_LEDGER, state)

    assert violated(result) == {"state_readable": 1}
    finding = the_finding(result, "state_readable")
    assert (finding.entity, finding.expected, finding.observed) == ("user u3", "readable", "HTTP 500")
    assert summary(result, "credit_conserved")["checked"] == 4


def test_an_entity_missing_from_the_state_is_unreadable_too():
    """A state that simply lacks a seeded user or a checked-out order must not pass those entities unchecked."""
    state = shop_after(stock_left=0, credit_left=[0, 0, 0, 1, 1], paid={0, 1, 2})
    del state.users["u3"]
    del state.orders["o1"]
    result = check(seeded(), BENCHMARK_LEDGER, state)

    found = {finding.entity: finding for finding in result.findings["state_readable"]}
    assert set(found) == {"user u3", "order o1"}
    assert found["order o1"].observed == "missing from the state read back"
    assert found["order o1"].entries == [BENCHMARK_LEDGER[1]]


def test_unknown_checkout_of_an_order_that_reads_paid_took_effect():
    ledger = [
        checkout(0, "ok"),
        checkout(1, "ok"),
        checkout(2, "unknown"),
        checkout(3, "refused"),
        checkout(4, "refused"),
    ]
    result = check(seeded(), ledger, shop_after(stock_left=0, credit_left=[0, 0, 0, 1, 1], paid={0, 1, 2}))

    assert result.violations == 0
    assert result.unknowns["checkout"].as_dict() == {"happened": 1, "not_happened": 0, "undecidable": 0}
    assert result.checkouts == {"acknowledged": 2, "refused": 2, "unknown": 1}


def test_unknown_checkout_that_took_effect_must_balance_the_books():
    """Resolved as happened, the unknown checkout's unit is expected gone: a paid order with stock untouched fails."""
    ledger = [
        checkout(0, "ok"),
        checkout(1, "ok"),
        checkout(2, "unknown"),
        checkout(3, "refused"),
        checkout(4, "refused"),
    ]
    result = check(seeded(), ledger, shop_after(stock_left=1, credit_left=[0, 0, 0, 1, 1], paid={0, 1, 2}))

    assert violated(result) == {"stock_conserved": 1}
    finding = the_finding(result, "stock_conserved")
    assert (finding.entity, finding.expected, finding.observed) == ("item i0", 0, 1)


def test_unknown_checkout_of_an_order_that_reads_unpaid_did_not_happen():
    ledger = [
        checkout(0, "ok"),
        checkout(1, "ok"),
        checkout(2, "unknown"),
        checkout(3, "refused"),
        checkout(4, "refused"),
    ]
    result = check(seeded(), ledger, shop_after(stock_left=1, credit_left=[0, 0, 1, 1, 1], paid={0, 1}))

    assert result.violations == 0
    assert result.unknowns["checkout"].as_dict() == {"happened": 0, "not_happened": 1, "undecidable": 0}


def test_unknown_stock_addition_that_the_books_need_happened():
    ledger = [stock_added(2, "unknown"), *(checkout(n, "ok") for n in range(5))]
    result = check(seeded(), ledger, shop_after(stock_left=0, credit_left=[0] * 5, paid=range(5)))

    assert result.violations == 0
    assert result.unknowns["stock"].as_dict() == {"happened": 1, "not_happened": 0, "undecidable": 0}


def test_unknown_stock_addition_that_the_books_do_not_need_did_not_happen():
    ledger = [stock_added(2, "ok"), stock_added(4, "unknown"), *(checkout(n, "ok") for n in range(5))]
    result = check(seeded(), ledger, shop_after(stock_left=0, credit_left=[0] * 5, paid=range(5)))

    assert result.violations == 0
    assert result.unknowns["stock"].as_dict() == {"happened": 0, "not_happened": 1, "undecidable": 0}


def test_two_equal_unknown_additions_when_one_is_needed_are_undecidable():
    ledger = [
        stock_added(2, "unknown", at=0.1),
        stock_added(2, "unknown", at=0.2),
        *(checkout(n, "ok") for n in range(5)),
    ]
    result = check(seeded(), ledger, shop_after(stock_left=0, credit_left=[0] * 5, paid=range(5)))

    assert result.violations == 0
    assert result.unknowns["stock"].as_dict() == {"happened": 0, "not_happened": 0, "undecidable": 2}


def test_unknown_additions_that_no_combination_balances_break_conservation():
    ledger = [stock_added(2, "unknown"), checkout(0, "ok"), checkout(1, "ok"), checkout(2, "ok")]
    result = check(seeded(), ledger, shop_after(stock_left=1, credit_left=[0, 0, 0, 1, 1], paid={0, 1, 2}))

    assert violated(result) == {"stock_conserved": 1}
    finding = the_finding(result, "stock_conserved")
    assert (finding.expected, finding.observed) == ("0..2", 1)
    assert ledger[0] in finding.entries


def test_unknown_checkout_of_an_unreadable_order_is_undecidable():
    ledger = [
        checkout(0, "ok"),
        checkout(1, "ok"),
        checkout(2, "unknown"),
        checkout(3, "refused"),
        checkout(4, "refused"),
    ]
    state = shop_after(stock_left=1, credit_left=[0, 0, 1, 1, 1], paid={0, 1})
    del state.orders["o2"]
    state.unreadable["order", "o2"] = "connection error: timeout"
    result = check(seeded(), ledger, state)

    assert result.unknowns["checkout"].as_dict() == {"happened": 0, "not_happened": 0, "undecidable": 1}
    assert violated(result) == {"state_readable": 1}
    assert the_finding(result, "state_readable").entries == [ledger[2]]


def test_report_shows_first_worst_and_last_finding_of_an_invariant():
    """Three acknowledged checkouts never committed, at t=30 (1 unit), t=20 (5 units) and t=10 (2 units)."""
    ledger = [checkout(0, "ok", at=30.0), checkout(1, "ok", at=20.0), checkout(2, "ok", at=10.0)]
    state = shop_after(stock_left=20, credit_left=[10, 10, 10], paid=(), units=[1, 5, 2])
    result = check(seeded(stock=20, credit=(10, 10, 10)), ledger, state)

    acknowledged = summary(result, "acknowledged_order_paid")
    assert (acknowledged["holds"], acknowledged["count"], acknowledged["checked"]) == (False, 3, 3)
    assert acknowledged["first"]["entity"] == "order o2"
    assert acknowledged["first"]["ledger"] == [
        {"kind": "checkout", "entity": "o2", "related": "u2", "amount": 0}
        | {"outcome": "ok", "detail": "HTTP 200", "at": 10.0}
    ]
    assert (acknowledged["worst"]["entity"], acknowledged["worst"]["expected"]) == ("order o1", "paid")
    assert acknowledged["last"]["entity"] == "order o0"
    assert [row["entity"] for row in acknowledged["all"]] == ["order o2", "order o1", "order o0"]
    assert result.as_dict()["verdict"] == "fail"


# --- a storefront: card payments instead of credit, a confirmation page, products the seed may not have seen ---


def storefront_seed(stock: int = 3) -> Baseline:
    return Baseline(stock={"i0": stock}, credit_tracked=False, all_items_seeded=False, confirmation_required=True)


def storefront_after(stock_left: int, paid: Collection[int], payments: dict[int, tuple[int, ...]] | None = None,
                     orders: int = 5, extra_lines: dict[int, str] | None = None) -> ShopState:  # fmt: skip
    """Order ``oN`` (shopper ``sN@example.test``) holds one unit of i0 (or of another item); paid orders were
    charged their total once unless ``payments`` says otherwise."""
    payments = payments or {}
    extra_lines = extra_lines or {}
    states = {}
    for n in range(orders):
        charged = payments.get(n, (PRICE,) if n in paid else ())
        states[f"o{n}"] = OrderState(f"s{n}@example.test", n in paid, ((extra_lines.get(n, "i0"), 1),), PRICE, charged)
    return ShopState(items={"i0": ItemState(stock_left, PRICE)}, orders=states)


def payment(n: int, outcome: Outcome, detail: str | None = None) -> Entry:
    shown = (
        detail or {"ok": "confirmation shown: paid", "refused": "HTTP 200 out_of_stock", "unknown": "HTTP 500"}[outcome]
    )
    return Entry("checkout", f"o{n}", f"s{n}@example.test", PRICE, outcome, shown, float(n))


def placed(n: int) -> Entry:
    return Entry("order", f"o{n}", f"s{n}@example.test", 0, "ok", "HTTP 200", float(n) - 0.5)


def test_a_correct_storefront_passes_and_has_no_credit_invariant():
    ledger = [placed(n) for n in range(5)] + [payment(n, "ok") for n in range(3)]
    ledger += [payment(3, "refused"), placed(5)]  # orders 4 and 5 were placed and never paid for
    state = storefront_after(stock_left=0, paid={0, 1, 2}, orders=6)
    result = check(storefront_seed(), ledger, state)

    assert result.violations == 0, violated(result)
    names = [row["invariant"] for row in result.as_dict()["invariants"]]
    assert "credit_conserved" not in names
    assert {"paid_order_charged_once", "paid_order_confirmed", "stock_conserved"} <= set(names)
    assert summary(result, "paid_order_charged_once")["checked"] == 6


def test_a_paid_order_charged_twice_or_for_the_wrong_amount_is_found():
    ledger = [placed(n) for n in range(3)] + [payment(n, "ok") for n in range(3)]
    state = storefront_after(stock_left=0, paid={0, 1, 2}, payments={0: (PRICE, PRICE), 1: (PRICE + 4,)}, orders=3)
    result = check(storefront_seed(), ledger, state)

    assert violated(result) == {"paid_order_charged_once": 2}
    twice = result.findings["paid_order_charged_once"][0]
    assert (twice.entity, twice.expected, twice.observed) == ("order o0", "1 payment of 1", "2 payments: 1, 1")
    assert twice.entries  # the ledger entries of the order prove who was told what


def test_an_unpaid_order_with_a_payment_is_found():
    ledger = [placed(0), payment(0, "refused")]
    state = storefront_after(stock_left=3, paid=set(), payments={0: (PRICE,)}, orders=1)
    assert violated(check(storefront_seed(), ledger, state)) == {"paid_order_charged_once": 1}


def test_a_payment_taken_but_answered_with_an_error_is_a_paid_order_never_confirmed():
    ledger = [placed(0), payment(0, "unknown"), placed(1), payment(1, "ok")]
    result = check(storefront_seed(), ledger, storefront_after(stock_left=1, paid={0, 1}, orders=2))

    assert violated(result) == {"paid_order_confirmed": 1}
    finding = the_finding(result, "paid_order_confirmed")
    assert finding.entity == "order o0" and [e.outcome for e in finding.entries] == ["ok", "unknown"]
    assert result.unknowns["checkout"].happened == 1


def test_a_payment_cut_off_by_the_end_of_the_run_is_counted_apart_not_held_against_the_shop():
    ledger = [placed(0), payment(0, "unknown", detail=STOPPED)]
    result = check(storefront_seed(), ledger, storefront_after(stock_left=2, paid={0}, orders=1))

    assert result.violations == 0
    assert result.checkouts["cut_off"] == 1


def test_products_the_seed_never_saw_are_left_unchecked_not_reported_missing():
    ledger = [placed(0), payment(0, "ok"), placed(1), payment(1, "ok")]
    state = storefront_after(stock_left=2, paid={0, 1}, orders=2, extra_lines={1: "i9"})
    result = check(storefront_seed(), ledger, state)

    assert result.violations == 0, violated(result)
    assert result.as_dict()["unchecked"] == {"items": 1}
