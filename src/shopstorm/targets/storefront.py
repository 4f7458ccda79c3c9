"""The ``storefront`` target: a server-rendered shop with CSRF-protected forms (Django, Rails, Laravel shops;
the Saleor storefront workshop), driven page by page like a person with a browser.

What it looks for on the pages and which URLs its steps use come from a profile
(:mod:`~shopstorm.targets.storefront_profiles`: ``--storefront-profile saleor|generic`` and the settings file's
``[storefront]`` table). Seeding discovers the catalogue by crawling: home → category pages → product pages (item
id, price and stock from the product page where it shows them). Only a profile whose shop offers the webshop API's
``batch_init`` (``generic``) first stocks ``--seed-items`` products through it; a Saleor shop's catalogue is what it
is. Optional HTTP basic auth (``--basic-auth user:pass``) is sent on every
request. Seeding and the audit's reads go through :class:`~shopstorm.targets.admin_http.AdminSession`, with its
timeouts and ``--max-body``, as every target's do.

With ``--audit``, every order placed and every payment is written to the ledger with what the shopper was shown
(``ok`` only when the confirmation page said paid). After the load the audit re-reads the seeded product pages
for their stock and each order, through the profile's order-state JSON endpoint where the shop has one, else from
the order's details page a shopper sees (:mod:`~shopstorm.targets.storefront_orders`), so it can prove stock
conserved per product, every paid order charged exactly once, and no order paid without its shopper being shown
the confirmation.

See docs/targets/storefront.md for the selectors and field names, and how to point it at your shop.
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Callable, Iterable
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
from shopstorm.targets.storefront_orders import order_page_state
from shopstorm.targets.storefront_profiles import Profile, storefront_profile
from shopstorm.targets.webshop_paths import STOCK_BATCH_INIT

MAX_PRODUCTS = 200

# Statistics names: Saleor's URL shapes (saleor/product/urls.py, saleor/order/urls.py) and the generic ones.
NAME_FOR = path_templates(
    [
        (r"/products/category/[^/]+/", "/products/category/[slug]/"),
        (r"/products/[^/]+/add/", "/products/[slug]/add/"),
        (r"/products/[^/]+/", "/products/[slug]/"),
        (r"/category/[^/]+/", "/category/[slug]/"),
        (r"/checkout/payment/[^/]+/", "/checkout/payment/[token]/"),
        (r"/orders/[^/]+/", "/orders/[token]/"),
        (r"/order/[^/]+/payment/[^/]+/", "/order/[token]/payment/[method]/"),
        (r"/order/[^/]+/payment/", "/order/[token]/payment/"),
        (r"/order/[^/]+/checkout-success/", "/order/[token]/checkout-success/"),
        (r"/order/[^/]+/", "/order/[token]/"),
    ]
)


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
        self.browser, self.target, self.css = browser, target, target.profile

    def home(self) -> Page:
        return self.browser.get("/", step="home")

    def category(self, page: Page) -> Page:
        links = page.links(self.css.category_link)
        if not links:
            raise JourneyFailed(f"page {page.path} has no category links ({self.css.category_link})")
        return self.browser.get(urlsplit(random.choice(links)).path, step="category")

    def search(self) -> Page:
        term = random.choice(self.target.search_terms())
        return self.browser.get(self.css.search_url.format(term=term), step="search")

    def product(self, page: Page) -> Page:
        links = page.links(self.css.product_link) or [urljoin(page.url, random.choice(self.target.products()))]
        return self.browser.get(urlsplit(random.choice(links)).path, step="product")

    def add_to_cart(self, product: Page, quantity: int = 1) -> None:
        """The product's add-to-cart form, or for a product with variants the variant picker's AJAX post of an
        available variant (Saleor's ``VariantPicker.js``: ``variant`` and ``quantity`` to its ``data-action``)."""
        picker = product.all(self.css.variant_picker) if self.css.variant_picker else []
        if picker and not product.all(self.css.add_to_cart):
            action, variant = _picked_variant(product, picker[0], self.css.variant_picker)
            self.browser.pause()
            self.browser.ajax(action, {"variant": variant, "quantity": quantity}, step="add to cart",
                              referer=product.path)  # fmt: skip
            return
        form = product.form(self.css.add_to_cart)
        if self.css.add_to_cart_ajax:
            self.browser.pause()
            self.browser.ajax(urlsplit(form.action).path, {**form.fields, "quantity": quantity}, step="add to cart",
                              referer=product.path)  # fmt: skip
            return
        self._no_form_errors(self.browser.submit(form, {"quantity": quantity}, step="add to cart"), "add to cart")

    def cart(self) -> Page:
        return self.browser.get(self.css.cart_url, step="cart")

    def sign_up(self, email: str, password: str) -> None:
        page = self.browser.get(self.css.signup_url, step="signup page")
        after = self.browser.submit(
            page.form(self.css.signup_form), {"email": email, "password": password}, step="signup"
        )
        self._no_form_errors(after, "signup")

    def log_in(self, email: str, password: str) -> None:
        page = self.browser.get(self.css.login_url, step="login page")
        after = self.browser.submit(
            page.form(self.css.login_form), {"username": email, "password": password}, step="login"
        )
        self._no_form_errors(after, "login")

    def check_out(self, address: dict[str, str], on_step: Callable[[str], None]) -> Page:
        """Cart → shipping address → shipping method → summary → (payment method →) payment → confirmation;
        returns the confirmation page. ``on_step`` is told when the checkout starts (for the funnel). The order
        placed and what its payment showed the shopper go to the ledger."""
        page = self.browser.get(self.css.checkout_url, step="checkout")
        on_step("checkout")
        form = page.form(self.css.address_form)
        page = self.browser.submit(form, {k: v for k, v in address.items() if k in form.fields}, step="address")
        self._no_form_errors(page, "address")
        page = self.browser.submit(page.form(self.css.method_form), step="shipping method")
        page = self.browser.submit(page.form(self.css.summary_form), step="summary")
        token = self._order_token(page)
        total = _number(page, self.css.order_total, "data-total") if self.css.order_total else None
        email = address.get("email", "")
        LEDGER.record("order", token, email, total or 0, "ok", "placed")
        shown: tuple[str, str] = ("unknown", STOPPED)
        try:
            if self.css.payment_method_form:
                page = self.browser.submit(page.form(self.css.payment_method_form), step="payment method")
                self._no_form_errors(page, "payment method")
            page = self.browser.submit(page.form(self.css.payment_form), step="payment")
            self._no_form_errors(page, "payment")
            shown = self._confirmation_shown(page)
            return page
        except JourneyFailed as failed:
            if shown[1] == STOPPED:
                shown = _payment_outcome(failed.reply, str(failed))
            raise
        finally:
            LEDGER.record("checkout", token, email, total or 0, *shown)

    def _order_token(self, page: Page) -> str:
        """The order's id: an element's text, or (Saleor) the ``/order/<token>/payment/`` URL it was sent to."""
        if self.css.order_token:
            return " ".join(page.one(self.css.order_token, "order number").text_content().split())
        found = re.search(self.css.order_token_url, page.path)
        if not found:
            raise JourneyFailed(
                f"summary: the page after it, {page.path}, has no order token ({self.css.order_token_url})"
            )
        return found.group(1)

    def _confirmation_shown(self, page: Page) -> tuple[str, str]:
        """("ok", …) when the page after payment is a confirmation that says paid; else a JourneyFailed."""
        page.one(self.css.confirmation, "order confirmation")
        if self.css.paid_marker and not page.all(self.css.paid_marker):
            raise JourneyFailed(
                f"payment: the confirmation page {page.path} does not say paid ({self.css.paid_marker})"
            )
        if self.css.unpaid_marker and page.all(self.css.unpaid_marker):
            raise JourneyFailed(
                f"payment: the confirmation page {page.path} still asks for payment ({self.css.unpaid_marker})"
            )
        return ("ok", "confirmation shown: paid")

    def _no_form_errors(self, page: Page, step: str) -> None:
        errors = [" ".join(e.text_content().split()) for e in page.all(self.css.form_errors)]
        if errors:
            raise JourneyFailed(f"{step} refused: {errors[0][:120]}")


def _picked_variant(page: Page, picker: Any, selector: str) -> tuple[str, str]:
    """An available variant's id from the variant picker's JSON (``data-variant-picker-data``, Saleor's
    ``get_variant_picker_data``) and where to post it (``data-action``)."""
    action = picker.get("data-action")
    try:
        variants = json.loads(picker.get("data-variant-picker-data") or "")["variants"]
        available = [str(v["id"]) for v in variants if v.get("availability", True)]
    except (ValueError, KeyError, TypeError):
        raise JourneyFailed(f"page {page.path}: variant picker {selector} has no readable variants JSON") from None
    if not action or not available:
        raise JourneyFailed(f"page {page.path}: variant picker {selector} has no data-action or no available variant")
    return urlsplit(urljoin(page.url, action)).path, random.choice(available)


class StorefrontTarget(Target):
    name = "storefront"
    description = "server-rendered shop pages and CSRF-protected forms (Saleor/Django style), via --host"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if not settings.host:
            raise UsageError("the storefront target needs --host URL")
        if settings.urls:
            raise UsageError("the storefront target takes --host, not --urls")
        self.auth = basic_auth_pair(settings)
        self.profile: Profile = storefront_profile(settings.storefront_profile, settings.storefront)
        if settings.seed_mode == "batch" and not self.profile.stock_batch_init:
            raise UsageError(
                f"the {settings.storefront_profile} storefront profile has no /stock/batch_init endpoint: its "
                "catalogue is crawled as it is (use --seed-mode auto, or stock_batch_init = true in [storefront])"
            )

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
        if settings.seed_mode in ("auto", "batch") and self.profile.stock_batch_init:
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
        css = self.profile
        home = self._get(admin, "/")
        category_paths = list(dict.fromkeys(urlsplit(link).path for link in home.links(css.category_link)))
        product_paths = {urlsplit(link).path for link in home.links(css.product_link)}
        for path in category_paths:
            listed = self._get(admin, path).links(css.product_link)
            product_paths |= {urlsplit(link).path for link in listed}
        products = []
        for path in sorted(product_paths)[:MAX_PRODUCTS]:
            page = self._get(admin, path)
            name = page.all("h1")
            item_ids = page.all(css.item_id)
            products.append({
                "path": path,
                "item_id": item_ids[0].get("data-item-id") if item_ids else None,
                "name": " ".join(name[0].text_content().split()) if name else path,
                "price": _number(page, css.price, "data-price"),
                "stock": _number(page, css.stock, "data-stock"),
            })  # fmt: skip
        if not products:
            raise TargetUnreachable(
                f"the shop shows no products: found no product links ({css.product_link}) on its home page or its "
                f"{len(category_paths)} category pages ({css.category_link}); see --storefront-profile and [storefront]"
            )
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
            admin.keep(state, "item", product["item_id"], fetched.reply, lambda _: _product_state(page, self.profile))

        def read_order(token: str) -> None:
            reply = admin.read("GET", urljoin(self.base_url + "/", self.profile.order_state_path.format(token=token)))
            admin.keep(state, "order", token, reply, _order_state)

        def read_order_page(token: str) -> None:
            fetched = admin.fetch("GET", urljoin(self.base_url + "/", self.profile.order_url.format(token=token)))
            page = Page(fetched.url, fetched.reply.status, fetched.text or "")
            admin.keep(state, "order", token, fetched.reply, lambda _: order_page_state(page, self.profile))

        admin.map(read_product, [p for p in self.seed_data.get("products", []) if _auditable(p)])
        state.warnings.append(f"orders read from {self.order_source()}")
        if self.profile.order_state_path:
            admin.map(read_order, tokens)
        elif self.profile.order_url:
            admin.map(read_order_page, tokens)
            shown = [order for order in state.orders.values() if order.payments is not None]
            if state.orders and not shown:
                state.warnings.append("paid_order_charged_once not checked: the order pages show no charges")
        else:
            for token in tokens:  # never passed unchecked: the audit reports each order unreadable
                state.unreadable["order", token] = "not checked: the storefront profile has no way to read an order"
        return state

    def order_source(self) -> str:
        """Where the audit reads orders from, for the summary's audit warnings."""
        if self.profile.order_state_path:
            return f"the shop's order-state endpoint {self.profile.order_state_path}"
        if self.profile.order_url:
            return f"the order details pages {self.profile.order_url} a shopper sees"
        return "nowhere: the storefront profile has neither order_state_path nor order_url"

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


def _product_state(page: Page, css: Profile) -> ItemState:
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
