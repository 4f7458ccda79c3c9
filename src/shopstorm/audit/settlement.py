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

:func:`check_settlement` holds each family of invariants with one function that returns its findings and how many
checkouts (or webhook-ids) it checked, and puts them together in the order of
:data:`~shopstorm.audit.findings.INVARIANTS`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from shopstorm.audit.deliveries import Delivery
from shopstorm.audit.findings import Checked, in_table_order
from shopstorm.audit.invariants import AuditResult, Resolution
from shopstorm.audit.ledger import Entry

SETTLED = ("succeeded", "failed")  # a checkout's terminal statuses
PAID_EVENT = "order.paid"
PAYMENT_FAILED = "payment_failed"  # the ledger kind of a payment a shopper saw fail: its checkout is open again


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
    evidence = _checkout_entries(entries)
    created = [cid for cid, seen in evidence.items() if any(e.kind == "created" for e in seen)]
    stories = _checkout_stories(created, evidence, state)
    settling = [story for story in stories if not story.awaiting_provider]
    received = _received(deliveries, set(created)) if deliveries is not None else None
    families = [_stock_conserved(state), _confirm_settled(settling, now), _one_order_per_checkout(settling)]
    if received is not None:
        families += [_paid_events(settling, received), _one_event_per_webhook_id(received, evidence)]
    families.append(_readable(created, evidence, state))
    audit = in_table_order(families)
    findings = {name: audit.findings[name] for name in audit.counts}
    tally = {"webhook_duplicates": received.duplicates} if received is not None and received.by_webhook_id else {}
    tally.update(_checkout_tally(stories))
    return AuditResult(findings, audit.counts, {"confirm": _unknown_confirms(stories)}, tally)


class _CheckoutStory(NamedTuple):
    """One checkout this run created and read back: what the shoppers were told about it, and its state."""

    checkout_id: str
    seen: list[Entry]  # its created, confirm, provider_event and payment_failed entries
    read_back: CheckoutState
    acknowledged_at: float | None  # when the shop first acknowledged its confirm (or provider event)
    awaiting_provider: bool  # the run ended before its provider's event was sent: not the shop's doing


def _checkout_entries(entries: Iterable[Entry]) -> dict[str, list[Entry]]:
    """Each checkout's created, confirm, provider_event and payment_failed entries, by checkout id in the order
    first met."""
    evidence: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.kind in ("created", "confirm", "provider_event", PAYMENT_FAILED):
            evidence[entry.entity].append(entry)
    return evidence


def _checkout_stories(
    created: list[str], evidence: dict[str, list[Entry]], state: PaymentsState
) -> list[_CheckoutStory]:
    """Every created checkout that reads back, in the order they were created."""
    acknowledged = confirm_times(entry for checkout_id in created for entry in evidence[checkout_id])
    stories = []
    for checkout_id in created:
        checkout = state.checkouts.get(checkout_id)
        if checkout is None:
            continue
        seen = evidence[checkout_id]
        provider_told = any(e.kind == "provider_event" and e.outcome == "ok" for e in seen)
        awaiting = checkout.awaits_provider and checkout.status == "confirmed" and not provider_told
        stories.append(_CheckoutStory(checkout_id, seen, checkout, acknowledged.get(checkout_id), awaiting))
    return stories


@dataclass
class _Received:
    """The webhook deliveries that count as the shop's word, folded by checkout and by webhook-id."""

    paid_events: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # distinct webhook ids
    claimed_paid: Counter[str] = field(default_factory=Counter)  # rejected deliveries that said order.paid for it
    by_webhook_id: dict[str, list[Delivery]] = field(default_factory=lambda: defaultdict(list))
    duplicates: int = 0  # valid deliveries of a webhook-id already received


def _received(deliveries: Iterable[Delivery], of_this_run: set[str]) -> _Received:
    """Fold the deliveries; one not signed with the run's secret, or not about a checkout of this run, only
    counts as a rejected claim (anyone on the machine may have sent it)."""
    received = _Received()
    for delivery in deliveries:
        if delivery.rejected_for(of_this_run) is not None:
            received.claimed_paid[delivery.checkout_id or ""] += delivery.event_type == PAID_EVENT
            continue
        received.duplicates += delivery.duplicate
        received.by_webhook_id[delivery.webhook_id].append(delivery)
        if delivery.event_type == PAID_EVENT and delivery.checkout_id:
            received.paid_events[delivery.checkout_id].add(delivery.webhook_id)
    return received


def _stock_conserved(state: PaymentsState) -> Checked:
    """stock_conserved, where the shop shows the product's stock: the units gone are the new orders."""
    if state.stock is None:
        return Checked({})
    checked = Checked({"stock_conserved": 0})
    if state.product_orders is None:
        return checked
    checked.counts["stock_conserved"] = 1
    (stock_before, stock_after), (orders_before, orders_after) = state.stock, state.product_orders
    taken, ordered = stock_before - stock_after, orders_after - orders_before
    if taken != ordered:
        checked.found(
            "stock_conserved",
            "product",
            f"{stock_before - ordered} left ({ordered} orders)",
            stock_after,
            abs(taken - ordered),
            [],
            f"{taken} units gone for {ordered} new orders",
        )
    return checked


def _confirm_settled(settling: list[_CheckoutStory], now: float) -> Checked:
    """confirm_settled: an acknowledged confirm ends succeeded or failed; a checkout still confirmed is stuck,
    with its age, and one acknowledged that reads back open lost its confirm, unless its shopper saw the payment
    fail (Polar reopens a checkout whose charge failed): that is tallied, not a finding."""
    checked = Checked({"confirm_settled": 0})
    for story in settling:
        checkout, acked = story.read_back, story.acknowledged_at is not None
        if not acked and checkout.status == "open":
            continue
        checked.counts["confirm_settled"] += 1
        entity = f"checkout {story.checkout_id}"
        if checkout.status == "confirmed":
            age = max(0.0, now - (story.acknowledged_at or checkout.confirmed_at or now))
            checked.found(
                "confirm_settled", entity, "succeeded or failed", f"stuck in confirmed for {age:.1f} s", age, story.seen
            )
        elif acked and checkout.status == "open" and not _payment_failed(story):
            lost = "open: the acknowledged confirm was lost"
            checked.found("confirm_settled", entity, "confirmed, then settled", lost, checkout.amount, story.seen)
    return checked


def _one_order_per_checkout(settling: list[_CheckoutStory]) -> Checked:
    """one_order_per_checkout: a succeeded checkout has exactly one order, for its amount; any other none."""
    checked = Checked({"one_order_per_checkout": len(settling)})
    for story in settling:
        checkout = story.read_back
        expected_orders = (checkout.amount,) if checkout.status == "succeeded" else ()
        if tuple(sorted(checkout.order_amounts)) != expected_orders:
            checked.found(
                "one_order_per_checkout",
                f"checkout {story.checkout_id}",
                f"1 order of {checkout.amount}" if expected_orders else "no order",
                f"{len(checkout.order_amounts)} orders ({checkout.status})",
                abs(len(checkout.order_amounts) - len(expected_orders)) or 1,
                story.seen,
            )
    return checked


def _paid_events(settling: list[_CheckoutStory], received: _Received) -> Checked:
    """order_paid_once and no_event_unsettled: a succeeded checkout produced exactly one order.paid event (after
    dedupe by webhook-id); any other checkout none."""
    checked = Checked({"order_paid_once": 0, "no_event_unsettled": 0})
    for story in settling:
        checkout_id, status = story.checkout_id, story.read_back.status
        paid = len(received.paid_events.get(checkout_id, ()))
        if status == "succeeded":
            checked.counts["order_paid_once"] += 1
            if paid != 1:
                checked.found(
                    "order_paid_once",
                    f"checkout {checkout_id}",
                    f"1 {PAID_EVENT} event",
                    f"{paid} {PAID_EVENT} events with distinct webhook ids",
                    abs(paid - 1),
                    story.seen,
                    _never_delivered(received.claimed_paid[checkout_id]) if paid == 0 else "sent as separate events",
                )
        else:
            checked.counts["no_event_unsettled"] += 1
            if paid:
                checked.found(
                    "no_event_unsettled",
                    f"checkout {checkout_id}",
                    f"no {PAID_EVENT} event",
                    f"{paid} {PAID_EVENT} events while the checkout is {status}",
                    paid,
                    story.seen,
                )
    return checked


def _never_delivered(rejected_claims: int) -> str:
    if not rejected_claims:
        return "never delivered"
    return f"never delivered with a valid signature ({rejected_claims} rejected deliveries claimed to be it)"


def _one_event_per_webhook_id(received: _Received, evidence: dict[str, list[Entry]]) -> Checked:
    """one_event_per_webhook_id: every webhook-id the shop signed names one event, resent unchanged."""
    checked = Checked({"one_event_per_webhook_id": len(received.by_webhook_id)})
    for webhook_id, sent in received.by_webhook_id.items():
        bodies = {delivery.digest for delivery in sent}
        if len(bodies) > 1:
            about = sorted({delivery.checkout_id or "" for delivery in sent})
            checked.found(
                "one_event_per_webhook_id",
                f"webhook-id {webhook_id}",
                "one event, resent unchanged",
                f"{len(bodies)} different events",
                len(bodies) - 1,
                [entry for checkout_id in about for entry in evidence.get(checkout_id, [])],
                ", ".join(sorted({delivery.event_type or "unreadable event" for delivery in sent})),
            )
    return checked


def _readable(created: list[str], evidence: dict[str, list[Entry]], state: PaymentsState) -> Checked:
    """state_readable: every checkout this run created was read back."""
    checked = Checked({})
    for checkout_id in created:
        if checkout_id not in state.checkouts:
            reason = state.unreadable.get(checkout_id, "missing from the state read back")
            checked.found("state_readable", f"checkout {checkout_id}", "readable", reason, 1, evidence[checkout_id])
    read_back = sum(checkout_id in state.checkouts for checkout_id in created)
    checked.counts["state_readable"] = read_back + len(checked.findings.get("state_readable", []))
    return checked


def _unknown_confirms(stories: list[_CheckoutStory]) -> Resolution:
    """A confirm whose outcome is unknown went through if its checkout reads back anything but open."""
    resolution = Resolution()
    for story in stories:
        unknown = any(e.kind == "confirm" and e.outcome == "unknown" for e in story.seen)
        if story.acknowledged_at is None and unknown:
            went_through = story.read_back.status != "open"
            resolution.happened += went_through
            resolution.not_happened += not went_through
    return resolution


def _checkout_tally(stories: list[_CheckoutStory]) -> dict[str, int]:
    """Checkouts confirmed to their shoppers, per status read back, those left awaiting their provider, and those
    whose payment failed (open again)."""
    tally: Counter[str] = Counter()
    for story in stories:
        tally["confirmed"] += story.acknowledged_at is not None
        tally[story.read_back.status] += 1
        if story.awaiting_provider:
            tally["awaiting_provider"] += 1
        if _payment_failed(story) and story.read_back.status == "open":
            tally[PAYMENT_FAILED] += 1
    return dict(tally)


def _payment_failed(story: _CheckoutStory) -> bool:
    """Whether a shopper saw this checkout's payment fail (the settle step found it open again)."""
    return any(entry.kind == PAYMENT_FAILED for entry in story.seen)
