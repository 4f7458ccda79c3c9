"""Request bodies and query parameters of the checkout API, validated the way Polar's FastAPI answers them.

A body must be a JSON object. Each field is checked for its type and range, every problem is collected, and
one 422 ``RequestValidationError`` lists them all as ``{"loc": ["body", field], "msg", "type"}`` with pydantic's
error types, so a client written against Polar reads them. Unknown fields are ignored. The order list's query
parameters are checked the same way, located at ``["query", name]``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from shopstorm.demoshop.checkout_api.checkouts import CURRENCY, CUSTOMER_FIELDS
from shopstorm.demoshop.checkout_api.orders import MAX_PAGE_SIZE
from shopstorm.demoshop.checkout_api.webhooks import EVENT_TYPES
from shopstorm.demoshop.core.errors import request_validation_error
from shopstorm.demoshop.core.json_input import parse_json
from shopstorm.demoshop.core.store import MAX_BALANCE

MAX_TEXT_LENGTH = 1000
MAX_ID_LENGTH = 200
SPECIAL_USE_TLDS = ("arpa", "example", "invalid", "local", "localhost", "onion", "test")  # RFC 6761, email_validator
EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")  # their null MX (RFC 7505) refuses all email
MIN_SECRET_LENGTH = 32  # Polar's WebhookEndpointCreate.secret
_MISSING = object()


async def json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object; an empty body is ``{}`` when ``optional``. 422 for anything else, including
    JSON that only Python's lenient parser reads (:mod:`~shopstorm.demoshop.core.json_input`)."""
    raw = await request.body()
    if optional and not raw.strip():
        return {}
    try:
        body = parse_json(raw)
    except ValueError as error:
        problem = {"loc": ["body"], "msg": f"JSON decode error: {error}", "type": "json_invalid"}
        raise request_validation_error([problem]) from None
    if not isinstance(body, dict):
        problem = {"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "model_attributes_type"}
        raise request_validation_error([problem])
    return body


class Fields:
    """Reads fields of one body (or query), collecting every problem for one 422."""

    def __init__(self, values: Mapping[str, Any], where: str = "body") -> None:
        self.values = values
        self.where = where
        self.errors: list[dict[str, Any]] = []

    def check(self) -> None:
        """Raise the 422 listing every problem found so far, if any."""
        if self.errors:
            raise request_validation_error(self.errors)

    def has(self, field: str) -> bool:
        return field in self.values

    def problem(self, field: str, message: str, error_type: str) -> None:
        self.errors.append({"loc": [self.where, field], "msg": message, "type": error_type})

    def _get(self, field: str, required: bool) -> Any:
        value = self.values.get(field, _MISSING)
        if value is _MISSING and required:
            self.problem(field, "Field required", "missing")
        return value

    def text(self, field: str, *, required: bool = False, max_length: int = MAX_TEXT_LENGTH) -> str | None:
        """A non-empty string; None when absent or null (unless required)."""
        value = self._get(field, required)
        if value is _MISSING or (value is None and not required):
            return None
        if not isinstance(value, str):
            self.problem(field, "Input should be a valid string", "string_type")
        elif not value.strip():
            self.problem(field, "String should have at least 1 character", "string_too_short")
        elif len(value) > max_length:
            self.problem(field, f"String should have at most {max_length} characters", "string_too_long")
        else:
            return value
        return None

    def email(self, field: str) -> str | None:
        """An email address (``local@domain``) Polar could deliver to; None when absent or null. Polar checks the
        domain's DNS (``EmailStrDNS``, server/polar/kit/email.py); the demo shop refuses what that check refuses
        whatever the network: special-use names (``.test``, ``.invalid``, …) and the example domains."""
        value = self.text(field, max_length=320)
        if value is None:
            return None
        local, at, domain = value.rpartition("@")
        if not at or not local or not domain or any(character.isspace() for character in value):
            self.problem(field, "value is not a valid email address: it needs one @ between two parts", "value_error")
            return None
        reason = undeliverable(domain.lower().rstrip("."))
        if reason:
            self.problem(field, f"{value} is not a valid email address: {reason}", "value_error")
            return None
        return value

    def integer(self, field: str, minimum: int, maximum: int = MAX_BALANCE) -> int | None:
        """A required integer in ``[minimum, maximum]`` (booleans and floats are refused)."""
        value = self._get(field, required=True)
        if value is _MISSING:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(field, "Input should be a valid integer", "int_type")
        elif value < minimum:
            self.problem(field, f"Input should be greater than or equal to {minimum}", "greater_than_equal")
        elif value > maximum:
            self.problem(field, f"Input should be less than or equal to {maximum}", "less_than_equal")
        else:
            return value
        return None

    def choice(self, field: str, choices: tuple[str, ...], default: str) -> str:
        value = self._get(field, required=False)
        if value is _MISSING or value is None:
            return default
        if value not in choices:
            self.problem(field, f"Input should be {' or '.join(repr(choice) for choice in choices)}", "literal_error")
            return default
        return str(value)

    def json_object(self, field: str) -> dict[str, Any] | None:
        value = self._get(field, required=False)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, dict):
            self.problem(field, "Input should be a valid dictionary", "dict_type")
            return None
        return value


def undeliverable(domain: str) -> str | None:
    """Why email_validator's deliverability check refuses ``domain`` without asking DNS, or None."""
    if domain.rsplit(".", 1)[-1] in SPECIAL_USE_TLDS:
        return "The part after the @-sign is a special-use or reserved name that cannot be used with email."
    if domain in EXAMPLE_DOMAINS:
        return f"The domain name {domain} does not accept email."
    return None


def product_fields(body: dict[str, Any]) -> tuple[str, int, int | None]:
    """``(name, price_amount, stock)`` of ``POST /v1/products/``: Polar's ``ProductCreateOneTime`` with one
    ``prices`` entry, a ``fixed`` price (``price_amount`` 0 is free) or the legacy ``free`` type that Polar rewrites
    to a fixed price of 0 (server/polar/product/schemas.py). ``stock`` is the demo shop's own, optional extension:
    Polar's products have none, and a product made without it is never out of stock."""
    fields = Fields(body)
    name = fields.text("name", required=True, max_length=MAX_ID_LENGTH)
    price_amount = _one_price(fields, body.get("prices", _MISSING))
    stock = fields.integer("stock", minimum=0) if fields.has("stock") else None
    fields.check()
    assert name is not None and price_amount is not None
    return name, price_amount, stock


def _one_price(fields: Fields, prices: Any) -> int | None:
    """The amount of the one price in ``prices``; a problem in ``fields`` for anything else."""
    if prices is _MISSING:
        fields.problem("prices", "Field required", "missing")
        return None
    if not isinstance(prices, list) or len(prices) != 1 or not isinstance(prices[0], dict):
        fields.problem("prices", "the demo shop takes exactly one fixed or free price", "list_type")
        return None
    price = Fields(prices[0], where="body")
    amount_type = price.choice("amount_type", ("fixed", "free"), default="")
    if amount_type == "free":
        amount: int | None = 0
    else:
        amount = price.integer("price_amount", minimum=0)
    price.choice("price_currency", (CURRENCY,), default=CURRENCY)
    if not price.has("amount_type"):
        price.problem("amount_type", "Field required", "missing")
    for problem in price.errors:
        fields.errors.append({**problem, "loc": ["body", "prices", 0, *problem["loc"][1:]]})
    return None if price.errors else amount


def new_checkout_fields(body: dict[str, Any]) -> tuple[str, str | None]:
    """``(product_id, customer_email)`` of ``POST /v1/checkouts/``: Polar's ``CheckoutProductsCreate``, whose
    ``products`` list (at least one id) selects its first product."""
    fields = Fields(body)
    products = body.get("products", _MISSING)
    product_id = None
    if products is _MISSING:
        fields.problem("products", "Field required", "missing")
    elif not isinstance(products, list) or not products:
        fields.problem("products", "List should have at least 1 item after validation, not 0", "too_short")
    elif not all(isinstance(p, str) and 0 < len(p) <= MAX_ID_LENGTH for p in products):
        fields.problem("products", "Input should be a valid UUID", "uuid_type")
    elif len(set(products)) != len(products):
        fields.problem("products", "Value error, Product IDs must be unique", "value_error")
    else:
        product_id = products[0]
    customer_email = fields.email("customer_email")
    fields.check()
    assert product_id is not None
    return product_id, customer_email


def customer_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The customer fields present in a PATCH or confirm body (null clears one), by column name."""
    fields = Fields(body)
    readers = {
        "customer_email": fields.email,
        "customer_name": fields.text,
        "customer_billing_address": fields.json_object,
    }
    changes = {field: readers[field](field) for field in CUSTOMER_FIELDS if fields.has(field)}
    fields.check()
    return changes


def confirm_fields(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The customer changes of a confirm body and its Stripe ``confirmation_token_id`` (Polar's
    ``CheckoutConfirmStripe``)."""
    changes = customer_changes(body)
    fields = Fields(body)
    token = fields.text("confirmation_token_id", max_length=MAX_ID_LENGTH)
    fields.check()
    return changes, token


def endpoint_fields(body: dict[str, Any]) -> tuple[str, list[str], str | None, str]:
    """``(url, events, secret, format)`` of ``POST /v1/webhooks/endpoints``, checked as Polar's
    ``WebhookEndpointCreate`` (server/polar/webhook/schemas.py): an HTTPS URL that is not localhost or a private
    address, and an optional (deprecated) secret of at least 32 characters. One exception: a loopback URL, over
    http or https, is taken, so that a run on this machine receives the demo shop's webhooks."""
    fields = Fields(body)
    url = fields.text("url", required=True, max_length=2000)
    problem = None if url is None else webhook_url_problem(url)
    if problem is not None:
        fields.problem("url", *problem)
    events = body.get("events", _MISSING)
    if events is _MISSING:
        fields.problem("events", "Field required", "missing")
    elif not isinstance(events, list) or not events or any(event not in EVENT_TYPES for event in events):
        choices = ", ".join(EVENT_TYPES)
        fields.problem("events", f"Input should be a non-empty list of event types from {choices}", "list_type")
    secret = fields.text("secret", max_length=200)
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        fields.problem("secret", f"String should have at least {MIN_SECRET_LENGTH} characters", "string_too_short")
    body_format = fields.choice("format", ("raw",), default="raw")
    fields.check()
    assert url is not None and isinstance(events, list)
    return url, events, secret, body_format


def webhook_url_problem(url: str) -> tuple[str, str] | None:
    """(message, error type) of a webhook URL Polar refuses, or None; loopback URLs are the demo shop's exception."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or (address is not None and address.is_loopback):
        return None if parts.scheme in ("http", "https") else ("URL scheme should be 'https'", "url_scheme")
    if parts.scheme != "https" or not host:
        return "URL scheme should be 'https'", "url_scheme"
    if host == "0.0.0.0" or (address is not None and not address.is_global):
        return "Value error, Webhook URLs cannot point to localhost or private IP addresses.", "value_error"
    return None


def order_query(query: Mapping[str, str]) -> tuple[str | None, str | None, int, int]:
    """``(checkout_id, product_id, page, limit)`` of ``GET /v1/orders/``; page from 1, limit up to 100."""
    fields = Fields(query, where="query")
    numbers = {}
    for name, default, maximum in (("page", 1, 10**9), ("limit", MAX_PAGE_SIZE, MAX_PAGE_SIZE)):
        raw = query.get(name)
        if raw is None:
            numbers[name] = default
        elif not raw.isascii() or not raw.isdigit():
            fields.problem(name, "Input should be a valid integer", "int_parsing")
        elif len(raw.lstrip("0")) > len(str(maximum)) or int(raw) > maximum:
            fields.problem(name, f"Input should be less than or equal to {maximum}", "less_than_equal")
        elif int(raw) < 1:
            fields.problem(name, "Input should be greater than or equal to 1", "greater_than_equal")
        else:
            numbers[name] = int(raw)
    fields.check()
    return query.get("checkout_id"), query.get("product_id"), numbers["page"], numbers["limit"]
