"""The checkout-api audit: every confirmed checkout settled once, and the shop's webhooks told the truth about it.

A payment platform answers a confirm at once and settles later, in a background job that creates the order and
sends webhooks. So the audit holds three sources against each other: the ledger (which checkouts the shoppers
created and which confirms the shop acknowledged, and when), the shop's state read back after settlement had time
to finish (each checkout's status and its orders; the product's stock and order count), and the webhook deliveries
shopstorm's receiver verified during the run. A checkout paid through a provider settles only when the provider's
event comes: one the run never sent that event for is counted as awaiting the provider, not held against the shop.
Findings are evidence, as for the other targets (:mod:`shopstorm.audit.findings`); a stuck checkout carries its
age.

Only the shop's word is held against it: a delivery counts when it carries a valid signature made with the run's
secret (which only the shop holds) and is about a checkout this run created. Anything else the receiver got (no
signature or a wrong one, a body over the cap, another checkout's event) is a rejected delivery: anyone on the
machine may have sent it, so it is counted apart, never a finding. A shop that signs wrongly therefore shows as
``order.paid`` events never delivered, and the finding says how many rejected deliveries claimed to be one.

Webhook duplicates that reuse a ``webhook-id`` are deduplicated and counted, never held against the shop (delivery
is at least once), as long as they resend the same event: a *different* event under a ``webhook-id`` already used
is a violation (``one_event_per_webhook_id``), as a receiver deduplicating by id loses it. Two ``order.paid`` events
with *different* ids for one checkout are a violation too: a receiver cannot tell them from two payments.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shopstorm.audit.findings import Finding
from shopstorm.audit.invariants import AuditResult, Resolution
from shopstorm.audit.ledger import Entry

if TYPE_CHECKING:
    from shopstorm.targets.webhook_receiver import Delivery

SETTLED = ("succeeded", "failed")  # a checkout's terminal statuses
PAID_EVENT = "order.paid"


@dataclass(frozen=True)
class CheckoutState:
    """One checkout as read back: its status and amount, when it was confirmed, and the orders made from it."""

    status: str
    amount: int
    order_amounts: tuple[int, ...] = ()
    confirmed_at: float | None = None
    awaits_provider: bool = False  # paid through a provider (Stripe): settles only on the provider's event


@dataclass
class PaymentsState:
    """The shop after the load, as the checkout-api audit reads it."""

    checkouts: dict[str, CheckoutState] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # checkout id → why it could not be read
    stock: tuple[int, int] | None = None  # the product's stock at the seed and now, where the shop shows stock
    product_orders: tuple[int, int] | None = None  # the product's order count at the seed and now


def confirm_times(entries: Iterable[Entry]) -> dict[str, float]:
    """When the shop first acknowledged each checkout's confirm (or its provider event), by checkout id."""
    times: dict[str, float] = {}
    for entry in entries:
        if entry.kind in ("confirm", "provider_event") and entry.outcome == "ok":
            times[entry.entity] = min(entry.at, times.get(entry.entity, entry.at))
    return times


def check_settlement(
    entries: Iterable[Entry],
    state: PaymentsState,
    deliveries: Iterable[Delivery] | None,
    *,
    now: float,
) -> AuditResult:
    """Hold the ledger, the state read back and (when webhooks were received) the deliveries against each other.

    ``deliveries`` is ``None`` when the run received no webhooks: the webhook invariants are then left out.
    """
    evidence: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.kind in ("created", "confirm", "provider_event"):
            evidence[entry.entity].append(entry)
    created = [cid for cid, seen in evidence.items() if any(e.kind == "created" for e in seen)]
    of_this_run = set(created)
    acknowledged = confirm_times(entry for seen in evidence.values() for entry in seen)
    names = ["confirm_settled", "one_order_per_checkout", "state_readable"]
    if deliveries is not None:
        names[2:2] = ["order_paid_once", "no_event_unsettled", "one_event_per_webhook_id"]
    if state.stock is not None:
        names.insert(-1, "stock_conserved")
    findings: dict[str, list[Finding]] = {name: [] for name in names}

    def found(invariant: str, *evidence: Any) -> None:
        findings[invariant].append(Finding(invariant, *evidence))

    checked: Counter[str] = Counter()
    tally: Counter[str] = Counter()
    unknowns = {"confirm": Resolution()}

    paid_events: dict[str, set[str]] = defaultdict(set)  # checkout id → distinct order.paid webhook ids
    claimed_paid: Counter[str] = Counter()  # checkout id → rejected deliveries that said order.paid for it
    by_webhook_id: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries or ():
        if delivery.rejected_for(of_this_run) is not None:
            claimed_paid[delivery.checkout_id or ""] += delivery.event_type == PAID_EVENT
            continue
        tally["webhook_duplicates"] += delivery.duplicate
        by_webhook_id[delivery.webhook_id].append(delivery)
        if delivery.event_type == PAID_EVENT and delivery.checkout_id:
            paid_events[delivery.checkout_id].add(delivery.webhook_id)
    for webhook_id, sent in by_webhook_id.items():
        checked["one_event_per_webhook_id"] += 1
        bodies = {delivery.digest for delivery in sent}
        if len(bodies) > 1:
            about = sorted({delivery.checkout_id or "" for delivery in sent})
            found(
                "one_event_per_webhook_id",
                f"webhook-id {webhook_id}",
                "one event, resent unchanged",
                f"{len(bodies)} different events",
                len(bodies) - 1,
                [entry for checkout_id in about for entry in evidence.get(checkout_id, [])],
                ", ".join(sorted({delivery.event_type or "unreadable event" for delivery in sent})),
            )

    for checkout_id in created:
        seen = evidence[checkout_id]
        checkout = state.checkouts.get(checkout_id)
        if checkout is None:
            reason = state.unreadable.get(checkout_id, "missing from the state read back")
            found("state_readable", f"checkout {checkout_id}", "readable", reason, 1, seen)
            continue
        checked["state_readable"] += 1
        confirms = [e for e in seen if e.kind == "confirm"]
        acked = checkout_id in acknowledged
        if not acked and any(e.outcome == "unknown" for e in confirms):
            went_through = checkout.status != "open"
            unknowns["confirm"].happened += went_through
            unknowns["confirm"].not_happened += not went_through
        tally["confirmed"] += acked
        tally[checkout.status] += 1

        provider_told = any(e.kind == "provider_event" and e.outcome == "ok" for e in seen)
        if checkout.awaits_provider and checkout.status == "confirmed" and not provider_told:
            tally["awaiting_provider"] += 1  # the run ended before its provider event was sent: not the shop's doing
            continue
        # confirm_settled: an acknowledged confirm ends succeeded or failed; a confirmed checkout is stuck.
        if acked or checkout.status != "open":
            checked["confirm_settled"] += 1
            if checkout.status == "confirmed":
                since = acknowledged.get(checkout_id) or checkout.confirmed_at or now
                age = max(0.0, now - since)
                found(
                    "confirm_settled",
                    f"checkout {checkout_id}",
                    "succeeded or failed",
                    f"stuck in confirmed for {age:.1f} s",
                    age,
                    seen,
                )
            elif acked and checkout.status == "open":
                found(
                    "confirm_settled",
                    f"checkout {checkout_id}",
                    "confirmed, then settled",
                    "open: the acknowledged confirm was lost",
                    checkout.amount,
                    seen,
                )

        # one_order_per_checkout: a succeeded checkout has exactly one order for its amount; any other none.
        checked["one_order_per_checkout"] += 1
        expected_orders = (checkout.amount,) if checkout.status == "succeeded" else ()
        if tuple(sorted(checkout.order_amounts)) != expected_orders:
            found(
                "one_order_per_checkout",
                f"checkout {checkout_id}",
                f"1 order of {checkout.amount}" if expected_orders else "no order",
                f"{len(checkout.order_amounts)} orders ({checkout.status})",
                abs(len(checkout.order_amounts) - len(expected_orders)) or 1,
                seen,
            )

        if deliveries is None:
            continue
        paid = len(paid_events.get(checkout_id, ()))
        if checkout.status == "succeeded":
            checked["order_paid_once"] += 1
            if paid != 1:
                found(
                    "order_paid_once",
                    f"checkout {checkout_id}",
                    f"1 {PAID_EVENT} event",
                    f"{paid} {PAID_EVENT} events with distinct webhook ids",
                    abs(paid - 1),
                    seen,
                    _never_delivered(claimed_paid[checkout_id]) if paid == 0 else "sent as separate events",
                )
        else:
            checked["no_event_unsettled"] += 1
            if paid:
                found(
                    "no_event_unsettled",
                    f"checkout {checkout_id}",
                    f"no {PAID_EVENT} event",
                    f"{paid} {PAID_EVENT} events while the checkout is {checkout.status}",
                    paid,
                    seen,
                )

    if state.stock is not None and state.product_orders is not None:
        checked["stock_conserved"] = 1
        (stock_before, stock_after), (orders_before, orders_after) = state.stock, state.product_orders
        taken, ordered = stock_before - stock_after, orders_after - orders_before
        if taken != ordered:
            found(
                "stock_conserved",
                "product",
                f"{stock_before - ordered} left ({ordered} orders)",
                stock_after,
                abs(taken - ordered),
                [],
                f"{taken} units gone for {ordered} new orders",
            )
    counts = {name: checked[name] for name in names}
    counts["state_readable"] += len(findings["state_readable"])
    return AuditResult(findings, counts, unknowns, dict(tally))


def _never_delivered(rejected_claims: int) -> str:
    if not rejected_claims:
        return "never delivered"
    return f"never delivered with a valid signature ({rejected_claims} rejected deliveries claimed to be it)"
