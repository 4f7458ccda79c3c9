"""The checkout-api audit's checker on hand-made histories: checkouts ``c0``..``cN``, what the shoppers were told
(the ledger), what the platform holds afterwards (the state) and which webhooks the receiver verified."""

from __future__ import annotations

from shopstorm.audit.ledger import Entry
from shopstorm.audit.settlement import CheckoutState, PaymentsState, check_settlement
from shopstorm.targets.webhook_receiver import Delivery

AMOUNT = 10
NOW = 1000.0


def told(n: int, confirm: str | None = "ok", at: float = 100.0) -> list[Entry]:
    """Checkout ``cN`` created, then confirmed with this outcome (None: never confirmed)."""
    entries = [Entry("created", f"c{n}", f"secret{n}", AMOUNT, "ok", "HTTP 201", at - 1)]
    if confirm is not None:
        entries.append(Entry("confirm", f"c{n}", f"secret{n}", AMOUNT, confirm, "HTTP 200", at))
    return entries


def paid_event(n: int, webhook_id: str | None = None, duplicate: bool = False, error: str | None = None) -> Delivery:
    return Delivery(webhook_id or f"msg_{n}", "order.paid", f"c{n}", f"o{n}", "paid", 101.0, error, duplicate)


def settled(status: str = "succeeded", orders: tuple[int, ...] | None = None, **kwargs) -> CheckoutState:
    default = (AMOUNT,) if status == "succeeded" else ()
    return CheckoutState(status, AMOUNT, default if orders is None else orders, **kwargs)


def verdict(entries, checkouts, deliveries=(), **state) -> dict[str, int]:
    result = check_settlement(entries, PaymentsState(checkouts=checkouts, **state), list(deliveries), now=NOW)
    return {name: len(found) for name, found in result.findings.items() if found}


def test_a_correct_platform_passes():
    entries = told(0) + told(1) + told(2, confirm=None)
    checkouts = {"c0": settled(), "c1": settled(), "c2": settled("open")}
    deliveries = [paid_event(0), paid_event(1), paid_event(1, duplicate=True)]  # a replay is fine
    result = check_settlement(entries, PaymentsState(checkouts, stock=(5, 3), product_orders=(0, 2)), deliveries,
                              now=NOW)  # fmt: skip
    assert result.violations == 0
    assert result.checkouts["webhook_duplicates"] == 1 and result.checkouts["succeeded"] == 2


def test_a_lost_order_paid_and_one_sent_under_two_ids_are_both_order_paid_once():
    entries = told(0) + told(1)
    deliveries = [paid_event(1, "msg_a"), paid_event(1, "msg_b")]
    assert verdict(entries, {"c0": settled(), "c1": settled()}, deliveries) == {"order_paid_once": 2}


def test_a_checkout_stuck_in_confirmed_is_reported_with_its_age():
    result = check_settlement(told(0, at=400.0), PaymentsState({"c0": settled("confirmed")}), [], now=NOW)
    (finding,) = result.findings["confirm_settled"]
    assert finding.observed == "stuck in confirmed for 600.0 s" and finding.magnitude == 600.0
    assert [entry.kind for entry in finding.entries] == ["created", "confirm"]


def test_a_stale_status_breaks_settlement_the_order_count_and_the_events():
    entries = told(0)
    stale = {"c0": settled("confirmed", orders=(AMOUNT,))}
    assert verdict(entries, stale, [paid_event(0)]) == {
        "confirm_settled": 1,
        "one_order_per_checkout": 1,
        "no_event_unsettled": 1,
    }


def test_an_acknowledged_confirm_that_reads_back_open_was_lost():
    assert verdict(told(0), {"c0": settled("open")}) == {"confirm_settled": 1}


def test_a_provider_checkout_whose_event_was_never_sent_awaits_the_provider():
    state = {"c0": settled("confirmed", awaits_provider=True)}
    result = check_settlement(told(0), PaymentsState(state), [], now=NOW)
    assert result.violations == 0 and result.checkouts["awaiting_provider"] == 1
    sent = [*told(0), Entry("provider_event", "c0", "evt_1", AMOUNT, "ok", "HTTP 200", 101.0)]
    assert verdict(sent, state) == {"confirm_settled": 1}  # the event was accepted: now it is stuck


def test_bad_signatures_unreadable_checkouts_and_lost_stock_are_found():
    deliveries = [paid_event(0), paid_event(9, error="no matching signature")]
    findings = verdict(told(0) + told(1), {"c0": settled()}, deliveries, unreadable={"c1": "HTTP 500"},
                       stock=(5, 3), product_orders=(0, 1))  # fmt: skip
    assert findings == {"signatures_valid": 1, "state_readable": 1, "stock_conserved": 1}


def test_without_a_receiver_the_webhook_invariants_are_left_out():
    result = check_settlement(told(0), PaymentsState({"c0": settled()}), None, now=NOW)
    names = [row["invariant"] for row in result.as_dict()["invariants"]]
    assert names == ["confirm_settled", "one_order_per_checkout", "state_readable"]
