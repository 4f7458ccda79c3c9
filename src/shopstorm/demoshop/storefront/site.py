"""The storefront: a server-rendered shop with the markup, URL shapes and steps of Saleor's 2018 Django storefront
(mirumee/saleor at dc945297: ``templates/``, ``saleor/*/urls.py``), over the webshop API's store.

Its products are the webshop's items (:mod:`catalog`), so seeding ``/stock/batch_init`` stocks the storefront
too; a fresh shop shows a starter catalogue, as a Saleor after ``populatedb`` does. Shirts have sizes: their page
has Saleor's JS variant picker (JSON variants and a ``data-action`` URL) instead of the ``#product-form``. Add to
cart answers an AJAX post with JSON and a form post with a redirect to the cart, as Saleor's
``product_add_to_cart`` does. Logging in or signing up rotates the ``csrftoken`` cookie (Django's
``rotate_token``). This module maps the browsing, cart and account pages to handlers; the checkout, payment and order
confirmation pages are :mod:`checkout`, the audit's JSON reads are :mod:`audit_api`. Every GET sets the CSRF
cookie and every POST is CSRF-checked, because routes are built by :mod:`csrf`. The HTML is a contract a load
tool parses (class names, ``data-*`` attributes, form ids): change a template only with it.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from shopstorm.demoshop.core.faults import FaultSwitches
from shopstorm.demoshop.core.store import Store
from shopstorm.demoshop.storefront import accounts, sessions
from shopstorm.demoshop.storefront.audit_api import StorefrontApi
from shopstorm.demoshop.storefront.catalog import (
    CATEGORIES,
    Catalog,
    Product,
    category_name,
    category_of_path,
    category_path,
)
from shopstorm.demoshop.storefront.checkout import CheckoutPages
from shopstorm.demoshop.storefront.csrf import Form, form_route, page_route, rotate_token
from shopstorm.demoshop.storefront.pages import Pages, redirect

# One add-to-cart may add at most this many units.
MAX_QUANTITY = 1000
_MAX_QUERY_LENGTH = 100
_CATEGORY_LINKS = [{"path": category_path(slug), "name": category_name(slug)} for slug in CATEGORIES]


class Storefront:
    """Handlers of the storefront over one store (its pages, add to cart, accounts, checkout and order pages)."""

    def __init__(self, store: Store, faults: FaultSwitches | None = None) -> None:
        self.store = store
        self.catalog = Catalog(store)
        self.pages = Pages(categories=_CATEGORY_LINKS)
        self.checkout = CheckoutPages(store, self.catalog, self.pages, faults or FaultSwitches())
        self.api = StorefrontApi(store)

    def routes(self) -> list[BaseRoute]:
        return [
            page_route("/", self.home),
            page_route("/products/category/{key}/", self.category),
            page_route("/search/", self.search),
            page_route("/products/{key}/", self.product),
            form_route("/products/{key}/add/", self.add_to_cart),
            page_route("/cart/", self.cart),
            page_route("/account/signup/", self.signup_page),
            form_route("/account/signup/", self.sign_up),
            page_route("/account/login/", self.login_page),
            form_route("/account/login/", self.log_in),
            *self.checkout.routes(),
            *self.api.routes(),
        ]

    # --- browsing ----------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        await self.catalog.stock_starter_catalogue()
        featured = await self.catalog.featured()
        return self.pages.render(request, "home.html", products=featured)

    async def category(self, request: Request) -> Response:
        key = request.path_params["key"]
        slug = category_of_path(key)
        if slug is None:
            return self.pages.not_found(request, f"category {key!r}")
        products = await self.catalog.in_category(slug)
        return self.pages.render(request, "product_list.html", heading=category_name(slug), products=products)

    async def search(self, request: Request) -> Response:
        text = request.query_params.get("q", "").strip()[:_MAX_QUERY_LENGTH]
        products = await self.catalog.search(text)
        heading = f"Search results for “{text}”" if text else "All products"
        return self.pages.render(request, "product_list.html", heading=heading, products=products, query=text)

    async def product(self, request: Request) -> Response:
        key = request.path_params["key"]
        product = await self.catalog.by_path_key(key)
        if product is None:
            return self.pages.not_found(request, f"product {key!r}")
        return self._product_page(request, product, errors=[])

    def _product_page(self, request: Request, product: Product, errors: list[str]) -> Response:
        picker = {
            "variantAttributes": [{"pk": 1, "name": "Size", "values": [{"pk": 1, "name": "M"}]}],
            "variants": [{"id": product.item_id, "availability": product.stock > 0,
                          "price": {"gross": product.price, "currency": "USD"}, "attributes": {"1": "1"}}],
        }  # fmt: skip
        return self.pages.render(request, "product.html", product=product, picker=json.dumps(picker), errors=errors)

    # --- cart --------------------------------------------------------------------------------------------

    async def add_to_cart(self, request: Request, form: Form) -> Response:
        """Add ``quantity`` units of the ``variant`` to the session's cart; stock is not checked until payment.
        An AJAX post (the variant picker's) is answered with JSON, a form post with a redirect to the cart."""
        ajax = request.headers.get("x-requested-with") == "XMLHttpRequest"
        key = request.path_params["key"]
        product = await self.catalog.by_path_key(key)
        if product is None:
            return JSONResponse({"error": f"product {key!r} not found"}, status_code=404)
        raw = form.get("quantity", "").strip()
        errors = []
        if not (raw.isascii() and raw.isdigit() and len(raw) < 10) or not 1 <= int(raw) <= MAX_QUANTITY:
            errors.append(f"Quantity: Ensure this value is an integer from 1 to {MAX_QUANTITY}.")
        if form.get("variant", product.item_id) != product.item_id:
            errors.append("Variant: Select a valid choice. That choice is not one of the available choices.")
        if errors:
            if ajax:
                return JSONResponse({"error": errors[0]}, status_code=400)
            return self._product_page(request, product, errors)
        session_id, units = await sessions.add_to_cart(
            self.store, sessions.session_id_of(request), product.item_id, int(raw)
        )
        response: Response = JSONResponse({"cart_count": units}) if ajax else redirect("/cart/")
        sessions.set_session_cookie(response, session_id)
        return response

    async def cart(self, request: Request) -> Response:
        session_id = sessions.session_id_of(request)
        lines = []
        if session_id is not None:
            async with self.store.read() as conn:
                lines = await sessions.cart(conn, self.catalog, session_id)
        total = sum(line.cost for line in lines)
        return self.pages.render(request, "cart.html", lines=lines, total=total)

    # --- accounts ----------------------------------------------------------------------------------------

    async def signup_page(self, request: Request) -> Response:
        return self.pages.render(request, "signup.html", email="", errors=[])

    async def sign_up(self, request: Request, form: Form) -> Response:
        email = accounts.normalize_email(form.get("email", ""))
        password = form.get("password", "")
        errors = accounts.signup_errors(email, password)
        if not errors and not await accounts.sign_up(self.store, email, password):
            errors = [accounts.DUPLICATE_EMAIL]
        if errors:
            return self.pages.render(request, "signup.html", email=email, errors=errors)
        return await self._logged_in(request, email)

    async def login_page(self, request: Request) -> Response:
        return self.pages.render(request, "login.html", username="", errors=[])

    async def log_in(self, request: Request, form: Form) -> Response:
        email = accounts.normalize_email(form.get("username", ""))
        password = form.get("password", "")
        if not email or not password:
            errors = ["Email and password: This field is required."]
        elif not await accounts.authenticate(self.store, email, password):
            errors = [accounts.BAD_LOGIN]
        else:
            return await self._logged_in(request, email)
        return self.pages.render(request, "login.html", username=email, errors=errors)

    async def _logged_in(self, request: Request, email: str) -> Response:
        session_id = await sessions.log_in(self.store, sessions.session_id_of(request), email)
        response = redirect("/")
        sessions.set_session_cookie(response, session_id)
        rotate_token(response)
        return response
