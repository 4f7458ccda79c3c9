"""The checkout-api target's calls outside the load: the seed's product and webhook endpoint before it, and after
it the audit's reads of checkouts, orders and stock, with the wait for settlement they need.

Built on :class:`~shopstorm.targets.admin_http.AdminSession` with the platform's bearer token: seeding stops at the
first failure with one line (exit code 4); reading state never stops, a checkout that cannot be read is marked
unreadable with the reason.

Settlement runs in the shop's background jobs, and its webhooks are sent after it commits, so the audit cannot read
the state right after the load. It reads every created checkout again (AUDIT_POLL_S apart, for at most
``--settle-timeout``) until each has nothing more to wait for: it succeeded (and its ``order.paid`` arrived, when
webhooks are received) or failed, or it cannot move on: never confirmed, or waiting for a provider event nobody
sent. A confirm or provider event the run cut off may still commit, so such a checkout is watched while open for
QUIET_S first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import gevent

from shopstorm.audit.deliveries import Delivery
from shopstorm.audit.ledger import Entry
from shopstorm.audit.settlement import PAID_EVENT, SETTLED, CheckoutState, PaymentsState, confirm_times
from shopstorm.replies import MAX_BODY
from shopstorm.targets.admin_http import AdminSession, whole_number
from shopstorm.targets.base import read_until_steady

CHECKOUTS = "/v1/checkouts/"  # where checkouts are created, with the organization token
CLIENT_CHECKOUTS = "/v1/checkouts/client/"  # a checkout by its client secret; older Polar also created here
AUDIT_POLL_S = 0.5
QUIET_S = 3.0  # how long an open checkout whose confirm got no answer is watched for that confirm committing late

Received = Callable[[], list[Delivery]]  # the webhooks the receiver got so far


class CheckoutApiReader(AdminSession):
    """Seeding and state reads against the checkout API."""

    def __init__(self, base_url: str, api_token: str, max_body: int = MAX_BODY, plays_provider: bool = False) -> None:
        super().__init__(headers={"Authorization": f"Bearer {api_token}"}, max_body=max_body)
        self.base_url = base_url
        # Whether this run posts the provider's events (the inbound_payment journey): only then does a paid
        # checkout wait for shopstorm; otherwise the provider (Stripe) pays it, and a stuck one is the shop's.
        self.plays_provider = plays_provider

    def _url(self, path: str) -> str:
        return self.base_url + path

    # --- seeding ---------------------------------------------------------------------------------------------

    def seed_product(self, product_id: str | None, price: int = 0) -> tuple[str, int | None]:
        """A product the load buys: the one given, read, else a one-time product made with Polar's ``prices``: a
        fixed price of ``price`` cents, free by default (its checkouts settle without a card). Returns (its id,
        its stock; None when the shop does not count stock, as Polar does not)."""
        if product_id:
            reply = self.send("GET", self._url(f"/v1/products/{product_id}"), "/v1/products/[id]")
        else:
            one_price = {"amount_type": "fixed", "price_amount": price, "price_currency": "usd"}
            product = {"name": "shopstorm load-test product" + (" (paid)" if price else ""), "prices": [one_price]}
            reply = self.send("POST", self._url("/v1/products/"), "/v1/products/", json=product)
        seeded_id = self.field(reply, "id", "products")
        stock_now = reply.body.get("stock") if isinstance(reply.body, dict) else None
        return seeded_id, stock_now if isinstance(stock_now, int) else None

    def checkout_api_version(self, chosen: str) -> str:
        """``chosen`` unless it is ``auto``; then ``2024`` when the shop has no ``POST /v1/checkouts/`` (404 or
        405: an older self-hosted Polar that still creates through ``POST /v1/checkouts/client/``), else
        ``current``. The probe's empty body creates nothing: a shop with the route refuses it (422)."""
        if chosen != "auto":
            return chosen
        reply = self.read("POST", self._url(CHECKOUTS), json={})
        if reply.status == 0:
            raise self.unreachable("POST", self._url(CHECKOUTS), reply)
        return "2024" if reply.status in (404, 405) else "current"

    def order_count(self, product_id: str) -> int | None:
        """How many orders the shop holds for the product; None when it cannot be read."""
        reply = self.read("GET", self._url(f"/v1/orders/?product_id={product_id}&limit=1"))
        pagination = reply.body.get("pagination") if isinstance(reply.body, dict) else None
        total = pagination.get("total_count") if isinstance(pagination, dict) else None
        return total if reply.outcome == "ok" and isinstance(total, int) else None

    def register_endpoint(self, url: str, events: Iterable[str], secret: str) -> tuple[str, str]:
        """Register ``url`` for the ``events`` with the shop, offering ``secret``; returns the endpoint's id and the
        secret it signs with: the one in the answer (Polar now makes its own and deprecates the offered one),
        else ``secret``."""
        endpoint = {"url": url, "events": list(events), "secret": secret, "format": "raw"}
        reply = self.send("POST", self._url("/v1/webhooks/endpoints"), "/v1/webhooks/endpoints", json=endpoint)
        answered = reply.body.get("secret") if isinstance(reply.body, dict) else None
        return self.field(reply, "id", "webhooks/endpoints"), answered if isinstance(answered, str) else secret

    def remove_endpoint(self, endpoint_id: str) -> None:
        """Remove a registered endpoint; a failure is left for the shop to live with (the run is over)."""
        self.read("DELETE", self._url(f"/v1/webhooks/endpoints/{endpoint_id}"))

    # --- after the load --------------------------------------------------------------------------------------

    def read_settled(
        self, entries: list[Entry], seed: dict[str, Any], settle_timeout: float, received: Received | None
    ) -> tuple[PaymentsState, list[Delivery] | None]:
        """The state the audit checks, once settlement is over (or ``settle_timeout`` passed), and the webhooks
        received by then (None when none are: ``received`` is None)."""
        secrets = {e.entity: e.related for e in entries if e.kind == "created" and e.outcome == "ok"}
        state = self.wait_for_settlement(entries, secrets, settle_timeout, received)
        self.read_product(state, seed)
        deliveries = received() if received else None
        if deliveries is not None:
            # A webhook is sent after its change commits, so a checkout read before its event arrived is read again:
            # the state and the deliveries the audit compares must be of the same moment.
            stale = [
                cid
                for cid in _paid_checkouts(deliveries) & set(secrets)
                if getattr(state.checkouts.get(cid), "status", None) != "succeeded"
            ]
            self.read_checkouts(state, {cid: secrets[cid] for cid in stale})
        return state, deliveries

    def wait_for_settlement(
        self, entries: list[Entry], secrets: dict[str, str], settle_timeout: float, received: Received | None
    ) -> PaymentsState:
        """Read the checkouts (``secrets``: client secret by checkout id) again and again until none has anything
        more to wait for, or ``settle_timeout`` passed."""
        state = PaymentsState()
        deadline = time.monotonic() + settle_timeout
        told_provider = {e.entity for e in entries if e.kind == "provider_event" and e.outcome == "ok"}
        # A confirm or provider event the run cut off (or that got no answer) may still commit in the shop: an open
        # checkout with one is read again until it has stayed open for the quiet period.
        in_doubt = _payments_in_doubt(entries)
        quiet_until = time.monotonic() + QUIET_S
        pending = sorted(secrets)
        while True:
            self.read_checkouts(state, {cid: secrets[cid] for cid in pending})
            quiet = time.monotonic() >= quiet_until
            paid = _paid_checkouts(received()) if received else None  # once a round: deliveries grow with the run
            pending = [
                cid
                for cid in pending
                if not _settled(state, cid, cid in told_provider, quiet or cid not in in_doubt, paid)
            ]
            if not pending or time.monotonic() >= deadline:
                return state
            gevent.sleep(AUDIT_POLL_S)

    def read_checkouts(self, state: PaymentsState, secrets: dict[str, str]) -> None:
        """Each checkout and its orders into ``state``, or marked unreadable with the reason."""

        def read(checkout_id: str) -> None:
            reply = self.read("GET", self._url(CLIENT_CHECKOUTS + secrets[checkout_id]))
            orders = self.read("GET", self._url(f"/v1/orders/?checkout_id={checkout_id}"))
            state.unreadable.pop(checkout_id, None)
            for answer in (reply, orders):
                if answer.outcome != "ok" or not isinstance(answer.body, dict):
                    state.unreadable[checkout_id] = answer.detail
                    state.checkouts.pop(checkout_id, None)
                    return
            try:
                state.checkouts[checkout_id] = _checkout_state(reply.body, orders.body, self.plays_provider)
            except (KeyError, TypeError, ValueError) as error:
                state.unreadable[checkout_id] = f"unreadable answer: {error}"

        self.map(read, list(secrets))

    def read_product(self, state: PaymentsState, seed: dict[str, Any]) -> None:
        """The product's stock and order count now, beside the seed's. They are two reads: a settlement committing
        between them would look like stock gone without an order, so a reading that does not add up is taken again
        until two in a row agree (at most QUIET_READS): a race settles, a real loss stays."""
        before_stock, before_orders = seed.get("stock"), seed.get("orders")
        if before_stock is None or before_orders is None:
            return
        product_id = str(seed["product_id"])

        def read() -> tuple[int, int] | None:  # (stock, order count), or None when either cannot be read
            reply = self.read("GET", self._url(f"/v1/products/{product_id}"))
            orders = self.order_count(product_id)
            stock = reply.body.get("stock") if isinstance(reply.body, dict) else None
            if reply.outcome != "ok" or not isinstance(stock, int) or orders is None:
                return None
            return stock, orders

        def adds_up(reading: tuple[int, int] | None) -> bool:
            return reading is None or before_stock - reading[0] == reading[1] - before_orders

        reading = read_until_steady(read, done=adds_up)
        if reading is not None:
            state.stock, state.product_orders = (before_stock, reading[0]), (before_orders, reading[1])


def _paid_checkouts(deliveries: Iterable[Delivery]) -> set[str]:
    """The checkouts an ``order.paid`` arrived for."""
    return {d.checkout_id for d in deliveries if d.valid and d.event_type == PAID_EVENT and d.checkout_id}


def _settled(
    state: PaymentsState, checkout_id: str, provider_told: bool, open_is_final: bool, paid: set[str] | None
) -> bool:
    """Nothing more to wait for: the checkout ended (and its order.paid arrived, when ``paid`` says which did),
    or it cannot move on.

    ``open_is_final`` is false while a cut-off confirm or provider event of this checkout may still commit."""
    checkout = state.checkouts.get(checkout_id)
    if checkout is None:
        return False  # unreadable for now: read it again until the deadline
    if checkout.status == "open":
        return open_is_final  # never confirmed, or the confirm was lost
    if checkout.awaits_provider and not provider_told:
        return open_is_final  # no provider event will come, unless one cut off is still being committed
    if checkout.status not in SETTLED:
        return False
    if checkout.status == "succeeded" and paid is not None:
        return checkout_id in paid
    return True


def _payments_in_doubt(entries: Iterable[Entry]) -> set[str]:
    """Checkouts whose confirm or provider event got no answer (cut off by the end of the run, a 5xx, a lost
    connection) and none acknowledged: the shop may still be committing it."""
    unanswered = {e.entity for e in entries if e.kind in ("confirm", "provider_event") and e.outcome == "unknown"}
    return unanswered - set(confirm_times(entries))


def _checkout_state(checkout: dict[str, Any], orders: dict[str, Any], provider_played: bool) -> CheckoutState:
    """What the audit needs of a checkout read back. Whatever its processor (always ``stripe`` on Polar), it
    awaits a provider event only when it is paid and this run plays the provider."""
    confirmed_at = checkout.get("confirmed_at")
    return CheckoutState(
        status=str(checkout["status"]),
        amount=whole_number(checkout, "amount"),
        order_amounts=tuple(whole_number(order, "amount") for order in orders["items"]),
        confirmed_at=_epoch(confirmed_at) if isinstance(confirmed_at, str) else None,
        awaits_provider=provider_played and whole_number(checkout, "amount") > 0,
    )


def _epoch(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
