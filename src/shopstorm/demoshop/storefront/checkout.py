"""The storefront's checkout: shipping address, shipping method, summary, payment, and the order confirmation.

The steps keep what they collect in the session (:mod:`sessions`); a step reached too early redirects to the
first one still missing (the cart when it is empty). The summary's POST places the order and the payment page
pays it (:mod:`purchases`), so only those two touch orders, stock and payments. Two faults reach the payment:
``double-charge`` charges the card twice (two payment rows), ``error-after-commit`` answers 500 once paid.
The confirmation page records the first time it is shown for a paid order, so an audit can tell a finished
purchase from an abandoned one.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from shopstorm.demoshop.core.errors import ApiError
from shopstorm.demoshop.core.faults import FaultSwitches
from shopstorm.demoshop.core.store import Store
from shopstorm.demoshop.storefront import purchases, sessions
from shopstorm.demoshop.storefront.accounts import INVALID_EMAIL, MAX_FIELD_LENGTH, is_valid_email, normalize_email
from shopstorm.demoshop.storefront.catalog import Catalog
from shopstorm.demoshop.storefront.csrf import Form, form_route, page_route
from shopstorm.demoshop.storefront.pages import Pages, redirect
from shopstorm.demoshop.storefront.purchases import CHARGE_STATUSES, FULLY_CHARGED, SHIPPING_PRICES, PaymentOutcome
from shopstorm.demoshop.storefront.sessions import CartLine, ShopperSession

COUNTRIES = {
    "US": "United States",
    "DE": "Germany",
    "GB": "United Kingdom",
    "FR": "France",
    "NL": "Netherlands",
    "PL": "Poland",
    "ES": "Spain",
    "IT": "Italy",
}
ADDRESS_FIELDS = {
    "first_name": "First name",
    "last_name": "Last name",
    "street_address_1": "Street address",
    "city": "City",
    "postal_code": "Postal code",
    "country": "Country",
}
SHIPPING_METHODS = [
    {"value": "standard", "label": "Standard shipping", "price": SHIPPING_PRICES["standard"]},
    {"value": "express", "label": "Express shipping", "price": SHIPPING_PRICES["express"]},
]
PAYMENT_REFUSALS = {
    PaymentOutcome.OUT_OF_STOCK: "Some items of your order are no longer in stock. Nothing was charged.",
    PaymentOutcome.DECLINED: "Your card was declined. Nothing was charged.",
}
_CART_URL = "/cart/"
_ADDRESS_URL = "/checkout/shipping-address/"
_METHOD_URL = "/checkout/shipping-method/"
_SUMMARY_URL = "/checkout/summary/"
# Checkout steps in order; a step needs every earlier one done.
_ADDRESS, _METHOD, _SUMMARY = range(3)


@dataclass(frozen=True)
class _Checkout:
    session: ShopperSession
    lines: list[CartLine]

    @property
    def logged_in(self) -> bool:
        return self.session.customer_email is not None

    @property
    def has_address(self) -> bool:
        data = self.session.checkout
        return "address" in data and (self.logged_in or bool(data.get("email")))

    @property
    def subtotal(self) -> int:
        return sum(line.cost for line in self.lines)


class CheckoutPages:
    """Handlers of the checkout steps, the payment page and the order confirmation."""

    def __init__(self, store: Store, catalog: Catalog, pages: Pages, faults: FaultSwitches) -> None:
        self.store = store
        self.catalog = catalog
        self.pages = pages
        self.faults = faults

    def routes(self) -> list[BaseRoute]:
        return [
            page_route("/checkout/", self.start),
            page_route(_ADDRESS_URL, self.address_page),
            form_route(_ADDRESS_URL, self.save_address),
            page_route(_METHOD_URL, self.method_page),
            form_route(_METHOD_URL, self.save_method),
            page_route(_SUMMARY_URL, self.summary_page),
            form_route(_SUMMARY_URL, self.place_order),
            page_route("/checkout/payment/{token}/", self.payment_page),
            form_route("/checkout/payment/{token}/", self.pay),
            page_route("/orders/{token}/", self.confirmation),
        ]

    async def start(self, request: Request) -> Response:
        checkout = await self._checkout(request, _ADDRESS)
        return checkout if isinstance(checkout, Response) else redirect(_ADDRESS_URL)

    # --- shipping address --------------------------------------------------------------------------------

    async def address_page(self, request: Request) -> Response:
        checkout = await self._checkout(request, _ADDRESS)
        if isinstance(checkout, Response):
            return checkout
        values = {"email": checkout.session.checkout.get("email", ""), **checkout.session.checkout.get("address", {})}
        return self._address_form(request, checkout, values, errors=[])

    async def save_address(self, request: Request, form: Form) -> Response:
        checkout = await self._checkout(request, _ADDRESS)
        if isinstance(checkout, Response):
            return checkout
        address = {name: form.get(name, "").strip() for name in ADDRESS_FIELDS}
        errors = [f"{label}: This field is required." for name, label in ADDRESS_FIELDS.items() if not address[name]]
        too_long = [label for name, label in ADDRESS_FIELDS.items() if len(address[name]) > MAX_FIELD_LENGTH]
        errors += [f"{label}: Ensure this value has at most {MAX_FIELD_LENGTH} characters." for label in too_long]
        if address["country"] and address["country"] not in COUNTRIES:
            errors.append(f"Country: Select a valid choice. {address['country']} is not one of the available choices.")
        changes: dict[str, object] = {"address": address}
        if not checkout.logged_in:
            email = normalize_email(form.get("email", ""))
            if not email:
                errors.insert(0, "Email: This field is required.")
            elif not is_valid_email(email):
                errors.insert(0, INVALID_EMAIL)
            changes["email"] = email
        if errors:
            return self._address_form(request, checkout, {**address, "email": changes.get("email", "")}, errors)
        await sessions.update_checkout(self.store, checkout.session.id, changes)
        return redirect(_METHOD_URL)

    def _address_form(self, request: Request, checkout: _Checkout, values: dict, errors: list[str]) -> Response:
        return self.pages.render(
            request,
            "shipping_address.html",
            values=values,
            errors=errors,
            logged_in=checkout.logged_in,
            fields=ADDRESS_FIELDS,
            countries=COUNTRIES,
        )

    # --- shipping method ---------------------------------------------------------------------------------

    async def method_page(self, request: Request) -> Response:
        checkout = await self._checkout(request, _METHOD)
        if isinstance(checkout, Response):
            return checkout
        chosen = checkout.session.checkout.get("method", "standard")
        return self.pages.render(request, "shipping_method.html", methods=SHIPPING_METHODS, chosen=chosen, errors=[])

    async def save_method(self, request: Request, form: Form) -> Response:
        checkout = await self._checkout(request, _METHOD)
        if isinstance(checkout, Response):
            return checkout
        method = form.get("method", "")
        if method not in SHIPPING_PRICES:
            errors = ["Select a valid shipping method."]
            return self.pages.render(
                request, "shipping_method.html", methods=SHIPPING_METHODS, chosen="standard", errors=errors
            )
        await sessions.update_checkout(self.store, checkout.session.id, {"method": method})
        return redirect(_SUMMARY_URL)

    # --- summary -----------------------------------------------------------------------------------------

    async def summary_page(self, request: Request) -> Response:
        checkout = await self._checkout(request, _SUMMARY)
        if isinstance(checkout, Response):
            return checkout
        data = checkout.session.checkout
        shipping_price = SHIPPING_PRICES[data["method"]]
        return self.pages.render(
            request,
            "summary.html",
            lines=checkout.lines,
            subtotal=checkout.subtotal,
            method=data["method"],
            shipping_price=shipping_price,
            total=checkout.subtotal + shipping_price,
            email=checkout.session.customer_email or data.get("email", ""),
            address=data["address"],
            countries=COUNTRIES,
        )

    async def place_order(self, request: Request, _form: Form) -> Response:
        checkout = await self._checkout(request, _SUMMARY)
        if isinstance(checkout, Response):
            return checkout
        token = await purchases.place_order(self.store, self.catalog, checkout.session.id)
        # None: a concurrent submit of the same summary placed the order and emptied the cart first.
        return redirect(_CART_URL if token is None else f"/checkout/payment/{token}/")

    # --- payment and confirmation ------------------------------------------------------------------------

    async def payment_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        order = await purchases.find_order(self.store, token)
        if order is None:
            return self.pages.not_found(request, f"order {token!r}")
        if order.paid:
            return redirect(f"/orders/{token}/")
        return self.pages.render(request, "payment.html", order=order, errors=[], reason=None, message=None)

    async def pay(self, request: Request, form: Form) -> Response:
        token = request.path_params["token"]
        charge_status = form.get("charge_status", FULLY_CHARGED)
        errors = []
        if form.get("gateway") != "dummy":
            errors.append("Gateway: Select a valid choice.")
        if charge_status not in CHARGE_STATUSES:
            errors.append("Charge status: Select a valid choice.")
        outcome = None if errors else await purchases.pay(self.store, token, charge_status, self.faults.double_charge)
        if outcome is PaymentOutcome.PAID and self.faults.error_after_commit:
            raise ApiError(500, "internal error")  # error-after-commit: paid, yet the shopper sees an error
        if outcome in (PaymentOutcome.PAID, PaymentOutcome.ALREADY_PAID):
            return redirect(f"/orders/{token}/")
        order = await purchases.find_order(self.store, token)
        if order is None:
            return self.pages.not_found(request, f"order {token!r}")
        reason = None if outcome is None else outcome.value
        message = None if outcome is None else PAYMENT_REFUSALS[outcome]
        return self.pages.render(request, "payment.html", order=order, errors=errors, reason=reason, message=message)

    async def confirmation(self, request: Request) -> Response:
        token = request.path_params["token"]
        order = await purchases.find_order(self.store, token)
        if order is None:
            return self.pages.not_found(request, f"order {token!r}")
        if order.paid and not order.confirmation_shown:
            await purchases.record_confirmation_shown(self.store, token)
        return self.pages.render(request, "order.html", order=order)

    # --- steps -------------------------------------------------------------------------------------------

    async def _checkout(self, request: Request, step: int) -> _Checkout | Response:
        """The session and its cart when ``step`` may be shown, else the redirect to the first missing step."""
        session_id = sessions.session_id_of(request)
        session, lines = None, []
        if session_id is not None:
            async with self.store.read() as conn:
                session = await sessions.load(conn, session_id)
                if session is not None:
                    lines = await sessions.cart(conn, self.catalog, session_id)
        if session is None or not lines:
            return redirect(_CART_URL)
        checkout = _Checkout(session, lines)
        if step >= _METHOD and not checkout.has_address:
            return redirect(_ADDRESS_URL)
        if step >= _SUMMARY and session.checkout.get("method") not in SHIPPING_PRICES:
            return redirect(_METHOD_URL)
        return checkout
