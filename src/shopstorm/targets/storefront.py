"""The ``storefront`` target: a server-rendered shop with CSRF-protected forms (Django, Rails, Laravel shops;
the Saleor storefront workshop), driven page by page like a person with a browser.

Seeding discovers the catalogue by crawling: home → category pages → product pages (item id, price and stock from
the product page). Where the shop also offers the webshop API's ``batch_init`` (the demo shop does), it first stocks
``--seed-items`` products through it. Optional HTTP basic auth (``--basic-auth user:pass``) is sent on every
request. Seeding and the audit's reads go through :class:`~shopstorm.targets.admin_http.AdminSession`, with its
timeouts and ``--max-body``, as every target's do.

With ``--audit``, every order placed and every payment is written to the ledger with what the shopper was shown
(``ok`` only when the confirmation page said paid). After the load the audit re-reads the seeded product pages
for their stock and each order through the shop's order-state endpoint (:attr:`StorefrontTarget.order_state_path`;
the demo shop's ``/storefront/api/orders/<token>``), so it can prove stock conserved per product, every paid
order charged exactly once, and no order paid without its shopper being shown the confirmation.

See docs/targets/storefront.md for the selectors and field names, and how to point it at your shop.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import gevent

from shopstorm.audit.ledger import LEDGER, STOPPED
from shopstorm.audit.state import Baseline, ItemState, OrderState, ShopState
from shopstorm.errors import TargetUnreachable, UsageError
from shopstorm.replies import JourneyFailed, Reply
from shopstorm.settings import Settings
from shopstorm.targets.admin_http import AdminSession, whole_number
from shopstorm.targets.base import Target
from shopstorm.targets.pages import Browser, Page, path_templates
from shopstorm.targets.webshop_paths import STOCK_BATCH_INIT

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
    item_id: str = "[data-item-id]"  # the product page's element carrying the shop's id of the product
    price: str = ".price[data-price]"
    stock: str = ".stock[data-stock]"
    add_to_cart: str = "#add-to-cart"
    signup_form: str = "#signup"
    login_form: str = "#login"
    address_form: str = "#shipping-address"
    method_form: str = "#shipping-method"
    summary_form: str = "#summary"
    payment_form: str = "#payment"
    order_token: str = ".order-token"  # the payment page's element whose text is the order's id
    order_total: str = ".order-total[data-total]"
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
        confirmation page. ``on_step`` is told when the checkout starts (for the funnel). The order placed and
        what its payment showed the shopper go to the ledger."""
        page = self.browser.get("/checkout/", step="checkout")
        on_step("checkout")
        form = page.form(self.css.address_form)
        page = self.browser.submit(form, {k: v for k, v in address.items() if k in form.fields}, step="address")
        page = self.browser.submit(page.form(self.css.method_form), step="shipping method")
        page = self.browser.submit(page.form(self.css.summary_form), step="summary")
        token = " ".join(page.one(self.css.order_token, "order number").text_content().split())
        total = _number(page, self.css.order_total, "data-total") or 0
        email = address.get("email", "")
        LEDGER.record("order", token, email, total, "ok", "placed")
        shown: tuple[str, str] = ("unknown", STOPPED)
        try:
            page = self.browser.submit(page.form(self.css.payment_form), step="payment")
            self._no_form_errors(page, "payment")
            confirmation = page.one(self.css.confirmation, "order confirmation")
            if confirmation.get("data-status") != "paid":
                shown = ("refused", f"confirmation page says {confirmation.get('data-status')}")
                raise JourneyFailed(f"payment: the confirmation page says {confirmation.get('data-status')!r}")
            shown = ("ok", "confirmation shown: paid")
            return page
        except JourneyFailed as failed:
            if shown[1] == STOPPED:
                shown = _payment_outcome(failed.reply, str(failed))
            raise
        finally:
            LEDGER.record("checkout", token, email, total, *shown)

    def _no_form_errors(self, page: Page, step: str) -> None:
        errors = [" ".join(e.text_content().split()) for e in page.all(self.css.form_errors)]
        if errors:
            raise JourneyFailed(f"{step} refused: {errors[0][:120]}")


class StorefrontTarget(Target):
    name = "storefront"
    description = "server-rendered shop pages and CSRF-protected forms (Saleor/Django style), via --host"
    selectors = Selectors()
    # Where the audit reads an order as JSON: {"paid", "total", "lines": [[item_id, quantity]], "payments":
    # [{"amount"}], "email"}. The demo shop's; a shop of your own needs such an endpoint (or override read_state).
    order_state_path = "/storefront/api/orders/{token}"

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

    def _admin(self) -> AdminSession:
        return AdminSession(auth=self.auth, max_body=self.settings.max_body)

    def _get(self, admin: AdminSession, path: str) -> Page:
        """A page the seed reads: anything but a 200 stops the run (exit 4)."""
        url = urljoin(self.base_url + "/", path.lstrip("/"))
        fetched = admin.fetch("GET", url)
        status = fetched.reply.status
        if status == 0:
            raise admin.unreachable("GET", url, fetched.reply)
        if status == 401:
            raise TargetUnreachable(f"the shop wants credentials: GET {path} answered 401 (use --basic-auth)")
        if status != 200:
            raise TargetUnreachable(f"the shop refused GET {path}: HTTP {status}")
        if fetched.text is None:
            raise TargetUnreachable(f"the shop's GET {path} cannot be read: {fetched.reply.detail}")
        return Page(fetched.url, status, fetched.text)

    def seed(self) -> dict[str, Any]:
        settings, admin = self.settings, self._admin()
        mode = "crawl"
        if settings.seed_mode in ("auto", "batch"):
            stock_url = f"{self.base_url}/{STOCK_BATCH_INIT.service}"
            url = STOCK_BATCH_INIT.url(stock_url, n=settings.seed_items, stock=settings.seed_stock,
                                       price=settings.seed_price)  # fmt: skip
            reply = admin.read("POST", url)
            if reply.status == 0:
                raise admin.unreachable("POST", url, reply)
            stocked = reply.status == 200
            mode = "batch" if stocked else mode
            if not stocked and settings.seed_mode == "batch":
                raise TargetUnreachable("the shop has no /stock/batch_init endpoint (use --seed-mode create)")
        home = self._get(admin, "/")
        category_paths = [urlsplit(link).path for link in home.links(self.selectors.category_link)]
        product_paths = {urlsplit(link).path for link in home.links(self.selectors.product_link)}
        for path in category_paths:
            listed = self._get(admin, path).links(self.selectors.product_link)
            product_paths |= {urlsplit(link).path for link in listed}
        products = []
        for path in sorted(product_paths)[:MAX_PRODUCTS]:
            page = self._get(admin, path)
            name = page.all("h1")
            item_ids = page.all(self.selectors.item_id)
            products.append({
                "path": path,
                "item_id": item_ids[0].get("data-item-id") if item_ids else None,
                "name": " ".join(name[0].text_content().split()) if name else path,
                "price": _number(page, self.selectors.price, "data-price"),
                "stock": _number(page, self.selectors.stock, "data-stock"),
            })  # fmt: skip
        if not products:
            raise TargetUnreachable("the shop shows no products: found no product links on its home or category pages")
        return {"mode": mode, "items": {p["path"]: p["price"] for p in products}, "products": products,
                "categories": category_paths}  # fmt: skip

    def baseline(self) -> Baseline:
        """Stock per product as the seed's crawl read it; no credit accounts; confirmations required."""
        stock = {p["item_id"]: p["stock"] for p in self.seed_data.get("products", []) if _auditable(p)}
        return Baseline(stock=stock, credit_tracked=False, all_items_seeded=False, confirmation_required=True)

    def read_state(self, entries: Iterable[Any]) -> ShopState:
        """Re-read the seeded product pages for their stock, and every order the ledger names."""
        state, admin = ShopState(), self._admin()
        tokens = sorted({entry.entity for entry in entries if entry.kind in ("order", "checkout")})

        def read_product(product: dict[str, Any]) -> None:
            fetched = admin.fetch("GET", urljoin(self.base_url + "/", product["path"].lstrip("/")))
            page = Page(fetched.url, fetched.reply.status, fetched.text or "")
            admin.keep(state, "item", product["item_id"], fetched.reply, lambda _: _product_state(page, self.selectors))

        def read_order(token: str) -> None:
            reply = admin.read("GET", urljoin(self.base_url + "/", self.order_state_path.format(token=token)))
            admin.keep(state, "order", token, reply, _order_state)

        admin.map(read_product, [p for p in self.seed_data.get("products", []) if _auditable(p)])
        admin.map(read_order, tokens)
        return state

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


def _auditable(product: dict[str, Any]) -> bool:
    """A product the audit can follow: the seed read its id and stock."""
    return product.get("item_id") is not None and product.get("stock") is not None


def _product_state(page: Page, css: Selectors) -> ItemState:
    stock, price = _number(page, css.stock, "data-stock"), _number(page, css.price, "data-price")
    if stock is None or price is None:
        raise ValueError(f"page {page.path} shows no stock or price ({css.stock}, {css.price})")
    return ItemState(stock, price)


def _order_state(body: Any) -> OrderState:
    paid = body.get("paid")
    if not isinstance(paid, bool):
        raise ValueError(f"'paid' is not true or false: {paid!r}")
    lines = tuple((str(item_id), int(quantity)) for item_id, quantity in body["lines"])
    payments = tuple(whole_number(payment, "amount") for payment in body["payments"])
    return OrderState(str(body.get("email", "")), paid, lines, whole_number(body, "total"), payments)


def _payment_outcome(reply: Reply | None, problem: str) -> tuple[str, str]:
    """What a failed payment step told the shopper: refused (a 4xx, or the payment page again with its
    reason), unknown (a 5xx, no answer, a page that is not a confirmation)."""
    if reply is None:
        return ("refused", problem[:120]) if "refused" in problem else ("unknown", problem[:120])
    return reply.outcome, reply.detail
