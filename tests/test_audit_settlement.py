"""The checkout-api audit's checker on hand-made histories: checkouts ``c0``..``cN``, what the shoppers were told
(the ledger), what the platform holds afterwards (the state) and which webhooks the receiver verified."""

from __future__ import annotations

from shopstorm.audit.deliveries import Delivery
from shopstorm.audit.findings import INVARIANTS
from shopstorm.audit.ledger import Entry
from shopstorm.audit.settlement import CheckoutState, PaymentsState, check_settlement

AMOUNT = 10
NOW = 1000.0


def told(n: int, confirm: str | None = "ok", at: float = 100.0) -> list[Entry]:
    """Checkout ``cN`` created, then confirmed with this outcome (None: never confirmed)."""
    entries = [Entry("created", f"c{n}", f"secret{n}", AMOUNT, "ok", "HTTP 201", at - 1)]
    if confirm is not None:
        entries.append(Entry("confirm", f"c{n}", f"secret{n}", AMOUNT, confirm, "HTTP 200", at))
    return entries


def paid_event(
    n: int, webhook_id: str | None = None, duplicate: bool = False, error: str | None = None, body: str = "paid"
) -> Delivery:
    return Delivery(webhook_id or f"msg_{n}", "order.paid", f"c{n}", f"o{n}", "paid", 101.0, error, duplicate, body)


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


def test_unreadable_checkouts_and_lost_stock_are_found():
    findings = verdict(told(0) + told(1), {"c0": settled()}, [paid_event(0)], unreadable={"c1": "HTTP 500"},
                       stock=(5, 3), product_orders=(0, 1))  # fmt: skip
    assert findings == {"state_readable": 1, "stock_conserved": 1}


def test_rejected_deliveries_are_never_the_shops_findings():
    """Forged, unsigned and oversized posts, and a signed event about a checkout this run did not create, are not
    the shop's word about this run: none is a finding, none counts as an event."""
    rejected = [
        paid_event(1, "msg_forged", error="no matching signature"),  # says c1 was paid: c1 is not, and that is fine
        paid_event(0, "msg_0", error="missing headers"),  # reuses a real id with another body: still not the shop's
        Delivery("", "", None, None, None, 101.0, "too large", False),
        paid_event(9, "msg_other"),  # signed, but about a checkout of another client of the shop
    ]
    entries = told(0) + told(1)
    result = check_settlement(entries, PaymentsState({"c0": settled(), "c1": settled("failed")}),
                              [paid_event(0), *rejected], now=NOW)  # fmt: skip
    assert result.violations == 0, {name: found for name, found in result.findings.items() if found}
    assert result.checked["no_event_unsettled"] == 1 and result.checked["one_event_per_webhook_id"] == 1


def test_a_shop_that_signs_wrongly_shows_as_events_never_delivered():
    deliveries = [paid_event(0, error="no matching signature")]
    result = check_settlement(told(0), PaymentsState({"c0": settled()}), deliveries, now=NOW)
    (finding,) = result.findings["order_paid_once"]
    assert finding.observed == "0 order.paid events with distinct webhook ids"
    assert finding.note == "never delivered with a valid signature (1 rejected deliveries claimed to be it)"


def test_a_webhook_id_reused_for_another_event_is_found_and_a_resent_one_is_not():
    resent = [paid_event(0), paid_event(0, duplicate=True)]
    assert verdict(told(0), {"c0": settled()}, resent) == {}
    reused = [paid_event(0, body="paid"), paid_event(0, duplicate=True, body="paid again, other amount")]
    result = check_settlement(told(0), PaymentsState({"c0": settled()}), reused, now=NOW)
    (finding,) = result.findings["one_event_per_webhook_id"]
    assert (finding.entity, finding.observed, finding.magnitude) == ("webhook-id msg_0", "2 different events", 1)
    assert [entry.kind for entry in finding.entries] == ["created", "confirm"]


def test_without_a_receiver_the_webhook_invariants_are_left_out():
    result = check_settlement(told(0), PaymentsState({"c0": settled()}), None, now=NOW)
    names = [row["invariant"] for row in result.as_dict()["invariants"]]
    assert names == ["confirm_settled", "one_order_per_checkout", "state_readable"]
    with_receiver = check_settlement(told(0), PaymentsState({"c0": settled()}), [paid_event(0)], now=NOW)
    assert [row["invariant"] for row in with_receiver.as_dict()["invariants"]] == [
        "confirm_settled",
        "one_order_per_checkout",
        "order_paid_once",
        "no_event_unsettled",
        "one_event_per_webhook_id",
        "state_readable",
    ]


def test_the_invariants_are_reported_in_the_order_of_their_table():
    state = PaymentsState({"c0": settled()}, stock=(5, 4), product_orders=(0, 1))
    result = check_settlement(told(0), state, [paid_event(0)], now=NOW)

    assert result.violations == 0
    assert list(result.checked) == [name for name in INVARIANTS if name in result.checked]
    assert [row["invariant"] for row in result.as_dict()["invariants"]] == [
        "stock_conserved", "confirm_settled", "one_order_per_checkout", "order_paid_once", "no_event_unsettled",
        "one_event_per_webhook_id", "state_readable",
    ]  # fmt: skip
    assert [row["checked"] for row in result.as_dict()["invariants"]] == [1, 1, 1, 1, 0, 1, 1]


def test_a_failed_payment_back_to_open_is_tallied_not_called_a_lost_confirm():
    failed = Entry("payment_failed", "c0", "secret0", AMOUNT, "ok", "open", 102.0)
    result = check_settlement([*told(0), failed, *told(1)], PaymentsState({"c0": settled("open"),
                              "c1": settled("open")}), [], now=NOW)  # fmt: skip
    assert [finding.entity for finding in result.findings["confirm_settled"]] == ["checkout c1"]  # c1: lost
    assert result.checkouts["payment_failed"] == 1 and result.checkouts["open"] == 2


def test_a_stuck_confirm_is_flagged_whatever_the_processor_unless_the_run_owes_its_provider_event():
    """Row 8 of issue 13: against Polar every checkout's processor is stripe; a paid checkout awaits shopstorm's
    provider event only when the run plays the provider (awaits_provider), otherwise a stuck one is flagged."""
    stuck = settled("confirmed", awaits_provider=False)
    result = check_settlement(told(0, at=400.0), PaymentsState({"c0": stuck}), [], now=NOW)
    (finding,) = result.findings["confirm_settled"]
    assert finding.observed == "stuck in confirmed for 600.0 s"
