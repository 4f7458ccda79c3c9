"""The ``storefront`` target: a server-rendered shop with CSRF-protected forms (Django, Rails, Laravel shops;
the Saleor storefront workshop), driven page by page like a person with a browser.

Seeding discovers the catalogue by crawling: home → category pages → product pages (price and stock from the
product page). Where the shop also offers the webshop API's ``batch_init`` (the demo shop does), it first stocks
``--seed-items`` products through it. Optional HTTP basic auth (``--basic-auth user:pass``) is sent on every
request. See docs/targets/storefront.md for the selectors and field names, and how to point it at your shop.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import gevent
import requests

from shopstorm.errors import TargetUnreachable, UsageError
from shopstorm.settings import Settings
from shopstorm.targets.base import JourneyFailed, Target
from shopstorm.targets.pages import Browser, Page, path_templates

MAX_PRODUCTS = 200

NAME_FOR = path_templates(
    [
        (r"/products/[^/]+/add/", "/products/[slug]/add/"),
        (r"/products/[^/]+/", "/products/[slug]/"),
        (r"/category/[^/]+/", "/category/[slug]/"),
        (r"/checkout/payment/[^/]+/", "/checkout/payment/[token]/"),
        (r"/orders/[^/]+/", "/orders/[token]/"),
    ]
)


@dataclass(frozen=True)
class Selectors:
    """Where the journeys find things on the shop's pages; override for your own shop."""

    category_link: str = "a.category"
    product_link: str = "a.product"
    price: str = ".price[data-price]"
    stock: str = ".stock[data-stock]"
    add_to_cart: str = "#add-to-cart"
    signup_form: str = "#signup"
    login_form: str = "#login"
    address_form: str = "#shipping-address"
    method_form: str = "#shipping-method"
    summary_form: str = "#summary"
    payment_form: str = "#payment"
    confirmation: str = ".order-confirmation"
    form_errors: str = ".errorlist li, .error"


def basic_auth_pair(settings: Settings) -> tuple[str, str] | None:
    if not settings.basic_auth:
        return None
    user, sep, password = settings.basic_auth.partition(":")
    if not sep or not user:
        raise UsageError("--basic-auth must be USER:PASSWORD")
    return user, password


class StorefrontShopper:
    """One shopper's ways through the storefront: each method is a journey step on real pages."""

    def __init__(self, browser: Browser, target: StorefrontTarget) -> None:
        self.browser, self.target, self.css = browser, target, target.selectors

    def home(self) -> Page:
        return self.browser.get("/", step="home")

    def category(self, page: Page) -> Page:
        links = page.links(self.css.category_link)
        if not links:
            raise JourneyFailed(f"page {page.path} has no category links ({self.css.category_link})")
        return self.browser.get(urlsplit(random.choice(links)).path, step="category")

    def search(self) -> Page:
        term = random.choice(self.target.search_terms())
        return self.browser.get(f"/search/?q={term}", step="search")

    def product(self, page: Page) -> Page:
        links = page.links(self.css.product_link) or [urljoin(page.url, random.choice(self.target.products()))]
        return self.browser.get(urlsplit(random.choice(links)).path, step="product")

    def add_to_cart(self, product: Page, quantity: int = 1) -> None:
        form = product.form(self.css.add_to_cart)
        self.browser.pause()
        self.browser.ajax(urlsplit(form.action).path, {**form.fields, "quantity": quantity}, step="add to cart")

    def cart(self) -> Page:
        return self.browser.get("/cart/", step="cart")

    def sign_up(self, email: str, password: str) -> None:
        page = self.browser.get("/account/signup/", step="signup page")
        after = self.browser.submit(
            page.form(self.css.signup_form), {"email": email, "password": password}, step="signup"
        )
        self._no_form_errors(after, "signup")

    def log_in(self, email: str, password: str) -> None:
        page = self.browser.get("/account/login/", step="login page")
        after = self.browser.submit(
            page.form(self.css.login_form), {"username": email, "password": password}, step="login"
        )
        self._no_form_errors(after, "login")

    def check_out(self, address: dict[str, str], on_step: Callable[[str], None]) -> Page:
        """Cart → shipping address → shipping method → summary → payment → confirmation; returns the
        confirmation page. ``on_step`` is told when the checkout starts (for the funnel)."""
        page = self.browser.get("/checkout/", step="checkout")
        on_step("checkout")
        form = page.form(self.css.address_form)
        page = self.browser.submit(form, {k: v for k, v in address.items() if k in form.fields}, step="address")
        page = self.browser.submit(page.form(self.css.method_form), step="shipping method")
        page = self.browser.submit(page.form(self.css.summary_form), step="summary")
        page = self.browser.submit(page.form(self.css.payment_form), step="payment")
        self._no_form_errors(page, "payment")
        confirmation = page.one(self.css.confirmation, "order confirmation")
        if confirmation.get("data-status") != "paid":
            raise JourneyFailed(f"payment: the confirmation page says {confirmation.get('data-status')!r}")
        return page

    def _no_form_errors(self, page: Page, step: str) -> None:
        errors = [" ".join(e.text_content().split()) for e in page.all(self.css.form_errors)]
        if errors:
            raise JourneyFailed(f"{step} refused: {errors[0][:120]}")


class StorefrontTarget(Target):
    name = "storefront"
    description = "server-rendered shop pages and CSRF-protected forms (Saleor/Django style), via --host"
    selectors = Selectors()

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if not settings.host:
            raise UsageError("the storefront target needs --host URL")
        if settings.urls:
            raise UsageError("the storefront target takes --host, not --urls")
        self.auth = basic_auth_pair(settings)

    @property
    def base_url(self) -> str:
        return str(self.settings.host)

    def _admin(self) -> requests.Session:
        session = requests.Session()
        session.auth = self.auth
        return session

    def _get(self, session: requests.Session, path: str) -> Page:
        url = urljoin(self.base_url + "/", path.lstrip("/"))
        try:
            response = session.get(url, timeout=(3.0, 10.0))
        except requests.RequestException as error:
            raise TargetUnreachable(f"cannot reach the shop: GET {url}: {type(error).__name__}") from None
        if response.status_code == 401:
            raise TargetUnreachable(f"the shop wants credentials: GET {path} answered 401 (use --basic-auth)")
        if response.status_code != 200:
            raise TargetUnreachable(f"the shop refused GET {path}: HTTP {response.status_code}")
        return Page(response.url, response.status_code, response.text)

    def seed(self) -> dict[str, Any]:
        settings, session = self.settings, self._admin()
        mode = "crawl"
        if settings.seed_mode in ("auto", "batch"):
            url = f"{self.base_url}/stock/batch_init/{settings.seed_items}/{settings.seed_stock}/{settings.seed_price}"
            try:
                stocked = session.post(url, timeout=(3.0, 10.0)).status_code == 200
            except requests.RequestException as error:
                raise TargetUnreachable(f"cannot reach the shop: POST {url}: {type(error).__name__}") from None
            mode = "batch" if stocked else mode
            if not stocked and settings.seed_mode == "batch":
                raise TargetUnreachable("the shop has no /stock/batch_init endpoint (use --seed-mode create)")
        home = self._get(session, "/")
        category_paths = [urlsplit(link).path for link in home.links(self.selectors.category_link)]
        product_paths = {urlsplit(link).path for link in home.links(self.selectors.product_link)}
        for path in category_paths:
            listed = self._get(session, path).links(self.selectors.product_link)
            product_paths |= {urlsplit(link).path for link in listed}
        products = []
        for path in sorted(product_paths)[:MAX_PRODUCTS]:
            page = self._get(session, path)
            name = page.all("h1")
            products.append({
                "path": path,
                "name": " ".join(name[0].text_content().split()) if name else path,
                "price": _number(page, self.selectors.price, "data-price"),
                "stock": _number(page, self.selectors.stock, "data-stock"),
            })  # fmt: skip
        if not products:
            raise TargetUnreachable("the shop shows no products: found no product links on its home or category pages")
        return {"mode": mode, "items": {p["path"]: p["price"] for p in products}, "products": products,
                "categories": category_paths}  # fmt: skip

    def products(self) -> list[str]:
        return [product["path"] for product in self.seed_data.get("products", [])]

    def search_terms(self) -> list[str]:
        words = {
            word.lower() for p in self.seed_data.get("products", []) for word in p["name"].split() if len(word) > 2
        }
        return sorted(words) or ["a"]

    def shopper(self, http: Any) -> StorefrontShopper:
        if self.auth:
            user, password = self.auth
            http.auth_header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        browser = Browser(http, self.base_url, NAME_FOR, pause=self.form_pause)
        return StorefrontShopper(browser, self)

    def form_pause(self) -> None:
        """A shopper reading and filling a form: 1-3 s, divided by --user-speed."""
        gevent.sleep(random.uniform(1.0, 3.0) / self.settings.user_speed)


def _number(page: Page, selector: str, attribute: str) -> int | None:
    found = page.all(selector)
    try:
        return int(found[0].get(attribute)) if found else None
    except (TypeError, ValueError):
        return None
