"""The storefront: a server-rendered shop (like a Saleor or Django shop) over the webshop API's store.

Its products are the webshop's items (:mod:`catalog`), so seeding ``/stock/batch_init`` stocks the storefront
too. This module maps the browsing, cart and account pages to handlers; the checkout, payment and order
confirmation pages are :mod:`checkout`, the audit's JSON reads are :mod:`audit_api`. Every GET sets the CSRF
cookie and every POST is CSRF-checked, because routes are built by :mod:`csrf`. The HTML is a contract a load
tool parses (class names, ``data-*`` attributes, form ids): change a template only with it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from shopstorm.demoshop.core.faults import FaultSwitches
from shopstorm.demoshop.core.store import Store
from shopstorm.demoshop.storefront import accounts, sessions
from shopstorm.demoshop.storefront.audit_api import StorefrontApi
from shopstorm.demoshop.storefront.catalog import CATEGORIES, Catalog, category_name
from shopstorm.demoshop.storefront.checkout import CheckoutPages
from shopstorm.demoshop.storefront.csrf import Form, form_route, page_route
from shopstorm.demoshop.storefront.pages import Pages, redirect

# One add-to-cart may add at most this many units.
MAX_QUANTITY = 1000
_MAX_QUERY_LENGTH = 100
_CATEGORY_LINKS = [{"slug": slug, "name": category_name(slug)} for slug in CATEGORIES]


class Storefront:
    """Handlers of the storefront over one store; ``routes()`` must come before the webshop API's ``/orders``."""

    def __init__(self, store: Store, faults: FaultSwitches | None = None) -> None:
        self.store = store
        self.catalog = Catalog(store)
        self.pages = Pages()
        self.checkout = CheckoutPages(store, self.catalog, self.pages, faults or FaultSwitches())
        self.api = StorefrontApi(store)

    def routes(self) -> list[BaseRoute]:
        return [
            page_route("/", self.home),
            page_route("/category/{slug}/", self.category),
            page_route("/search/", self.search),
            page_route("/products/{slug}/", self.product),
            form_route("/products/{slug}/add/", self.add_to_cart),
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
        featured = await self.catalog.featured()
        return self.pages.render(request, "home.html", categories=_CATEGORY_LINKS, products=featured)

    async def category(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        if slug not in CATEGORIES:
            return self.pages.not_found(request, f"category {slug!r}")
        products = await self.catalog.in_category(slug)
        return self.pages.render(request, "product_list.html", heading=category_name(slug), products=products)

    async def search(self, request: Request) -> Response:
        text = request.query_params.get("q", "").strip()[:_MAX_QUERY_LENGTH]
        products = await self.catalog.search(text)
        heading = f"Search results for “{text}”" if text else "All products"
        return self.pages.render(request, "product_list.html", heading=heading, products=products, query=text)

    async def product(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        product = await self.catalog.by_slug(slug)
        if product is None:
            return self.pages.not_found(request, f"product {slug!r}")
        return self.pages.render(request, "product.html", product=product)

    # --- cart --------------------------------------------------------------------------------------------

    async def add_to_cart(self, request: Request, form: Form) -> Response:
        """AJAX: add ``quantity`` units to the session's cart; stock is not checked until payment."""
        raw = form.get("quantity", "").strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) < 10) or not 1 <= int(raw) <= MAX_QUANTITY:
            return JSONResponse({"error": f"quantity must be an integer from 1 to {MAX_QUANTITY}"}, status_code=400)
        slug = request.path_params["slug"]
        product = await self.catalog.by_slug(slug)
        if product is None:
            return JSONResponse({"error": f"product {slug!r} not found"}, status_code=404)
        session_id, units = await sessions.add_to_cart(
            self.store, sessions.session_id_of(request), product.item_id, int(raw)
        )
        response = JSONResponse({"cart_count": units})
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
        return response
