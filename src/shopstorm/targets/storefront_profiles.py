"""Storefront profiles: where the storefront target finds things on a shop's pages and which URLs its steps use.

A profile is every selector, form-finding rule and step URL of one family of shops. ``saleor`` is the Django
storefront of Saleor as of early 2018 (commit dc945297 of mirumee/saleor: ``templates/product/details.html``,
``templates/checkout/*.html``, ``templates/order/payment.html``, ``templates/order/payment/default.html``,
``templates/order/details.html``, ``saleor/*/urls.py``); ``generic`` is shopstorm's earlier markup with ids on
every form (``#signup``, ``#add-to-cart``, ``#payment`` …) and a JSON endpoint for order state. Any field can be
overridden from the settings file's ``[storefront]`` table (``--storefront-profile`` picks the base); a key that
is not a field is a usage error naming the known ones.

A form selector is a CSS selector; ``form[action$="/account/login/"]`` finds a form with no id by its ``action``
URL, as Saleor's login and signup forms need.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from lxml.cssselect import CSSSelector, SelectorError

from shopstorm.errors import UsageError


@dataclass(frozen=True)
class Profile:
    """Selectors and step URLs of one storefront; empty text means "this shop has none"."""

    # browsing
    category_link: str
    product_link: str
    item_id: str  # the product page's element carrying the shop's id of the product (data-item-id)
    price: str  # … carrying its price (data-price)
    stock: str  # … carrying its stock (data-stock)
    add_to_cart: str  # the product page's add-to-cart form
    add_to_cart_ajax: bool  # the form is sent by the page's script (JSON answer), not as a form
    variant_picker: str  # or, for products with variants, the element with data-action and JSON variants
    # accounts
    signup_form: str
    login_form: str
    # checkout steps, in order
    address_form: str
    method_form: str
    summary_form: str
    payment_method_form: str  # chooses a payment method before the gateway's form; empty: none
    payment_form: str
    # what the shopper is shown
    order_token: str  # element whose text is the order's id; empty: take it from the URL (order_token_url)
    order_token_url: str  # regular expression with one group: the token in the payment page's URL
    order_total: str  # element whose data-total is the order's total; empty: not shown
    confirmation: str  # the element every page after payment shows
    paid_marker: str  # present on a paid order's confirmation; empty: not used
    unpaid_marker: str  # present on an unpaid order's confirmation (a "Pay for order" link); empty: not used
    form_errors: str
    # the order's details page, for the audit
    order_line: str  # one line of the order: a product link and "x <quantity>" (or data-item, data-quantity)
    order_payments: str  # the list of charges, each [data-amount]; empty or absent: payments not shown
    # step URLs
    signup_url: str = "/account/signup/"
    login_url: str = "/account/login/"
    cart_url: str = "/cart/"
    checkout_url: str = "/checkout/"
    search_url: str = "/search/?q={term}"
    order_url: str = ""  # the order's details page, for the audit: /order/{token}/
    order_state_path: str = ""  # the order's state as JSON, for the audit; empty: the shop has none
    stock_batch_init: bool = False  # the shop offers the webshop API's /stock/batch_init/ for seeding


SALEOR = Profile(
    category_link="nav.navigation a.nav-link",
    product_link=".product-list a.link--clean",
    item_id="[data-item-id]",
    price="[data-price]",
    stock="[data-stock]",
    add_to_cart="form#product-form",
    add_to_cart_ajax=False,
    variant_picker="#variant-picker",
    signup_form='form[action$="/account/signup/"]',
    login_form='form[action$="/account/login/"]',
    address_form="form.checkout__shipping",
    method_form="form[method=post]:not([action])",  # the page's one form posting to itself
    summary_form="form[method=post]:not([action])",
    payment_method_form="form.payment-method-form",
    payment_form="form#payment-form",
    order_token="",
    order_token_url=r"/order/([^/]+)/payment/",
    order_total=".order-details__total .float-right",  # data-total where shown, else its text
    confirmation=".order-details",
    paid_marker="",
    unpaid_marker='.order-details a[href$="/payment/"]',
    form_errors=".errorlist li, .alert-danger, .form-error",
    order_line=".order-details__product",
    order_payments=".order-details__payments",
    order_url="/order/{token}/",
)

GENERIC = Profile(
    category_link="a.category",
    product_link="a.product",
    item_id="[data-item-id]",
    price=".price[data-price]",
    stock=".stock[data-stock]",
    add_to_cart="#add-to-cart",
    add_to_cart_ajax=True,
    variant_picker="",
    signup_form="#signup",
    login_form="#login",
    address_form="#shipping-address",
    method_form="#shipping-method",
    summary_form="#summary",
    payment_method_form="",
    payment_form="#payment",
    order_token=".order-token",
    order_token_url="",
    order_total=".order-total[data-total]",
    confirmation=".order-confirmation",
    paid_marker=".order-confirmation[data-status=paid]",
    unpaid_marker="",
    form_errors=".errorlist li, .error",
    order_line="",
    order_payments="",
    order_state_path="/storefront/api/orders/{token}",
    stock_batch_init=True,
)

PROFILES = {"saleor": SALEOR, "generic": GENERIC}
_URL_FIELDS = ("signup_url", "login_url", "cart_url", "checkout_url", "search_url", "order_url", "order_state_path")


def storefront_profile(name: str, overrides: dict[str, Any]) -> Profile:
    """The profile ``name`` with the settings file's ``[storefront]`` overrides, each checked before the run:
    an unknown key, a selector that does not parse or a URL that is not a path is a usage error."""
    known = {f.name: f for f in dataclasses.fields(Profile)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        field = known.get(key.replace("-", "_"))
        if field is None:
            raise UsageError(f"[storefront] {key!r} is not a storefront setting (known: {', '.join(sorted(known))})")
        changes[field.name] = _checked(field.name, value, field.type)
    return dataclasses.replace(PROFILES[name], **changes)


def _checked(name: str, value: Any, kind: Any) -> Any:
    if "bool" in str(kind):
        if not isinstance(value, bool):
            raise UsageError(f"[storefront] {name} must be true or false, got {value!r}")
        return value
    text = str(value).strip()
    if not text:
        return ""
    if name in _URL_FIELDS:
        if not text.startswith("/"):
            raise UsageError(f"[storefront] {name} must be a path starting with /, got {text!r}")
        try:
            text.format(term="t", token="t")
        except (KeyError, IndexError, ValueError):
            raise UsageError(f"[storefront] {name} may name only {{term}} or {{token}}, got {text!r}") from None
    elif name == "order_token_url":
        try:
            if re.compile(text).groups != 1:
                raise UsageError(f"[storefront] {name} must have exactly one group (the token), got {text!r}")
        except re.error as error:
            raise UsageError(f"[storefront] {name} is not a regular expression: {error}") from None
    else:
        try:
            CSSSelector(text)
        except SelectorError as error:
            raise UsageError(f"[storefront] {name} is not a CSS selector ({text!r}): {error}") from None
    return text
