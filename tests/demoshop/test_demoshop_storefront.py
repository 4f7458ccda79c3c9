"""The demo shop's HTML storefront, driven like a browser: Saleor's 2018 markup and URLs, CSRF (Referer over HTTPS,
rotation at login), accounts, cart and variant picker, checkout with per-country addresses, payment, basic auth."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import lxml.html
import pytest
import requests
from lxml.cssselect import CSSSelector

from shopstorm.demoshop.cli import main
from shopstorm.demoshop.process import DemoShopProcess

SIGNUP_FORM, LOGIN_FORM = 'form[action$="/account/signup/"]', 'form[action$="/account/login/"]'  # no ids
UNNAMED_FORM = "form[method=post]:not([action])"  # Saleor's shipping-method and summary forms
STORES = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
ADDRESS = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street_address_1": "12 Analytical Street",
    "city": "London",
    "postal_code": "N1 7AA",
    "country": "GB",
}
US_ADDRESS = {**ADDRESS, "city": "Springfield", "postal_code": "62701", "country": "US", "country_area": "IL"}


class Shopper:
    """One browser: keeps its cookies and submits each form with the CSRF token of the page that holds it."""

    def __init__(self, shop_url: str) -> None:
        self.shop_url = shop_url
        self.http = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.shop_url + path, allow_redirects=False, timeout=10)

    def page(self, path: str) -> lxml.html.HtmlElement:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return lxml.html.fromstring(response.text)

    def submit(self, path: str, form: str, **fields: str) -> requests.Response:
        """GET the page, then POST its form (a CSS selector) with the page's CSRF token and these fields."""
        found = CSSSelector(form)(self.page(path))[0]
        token = found.xpath('.//input[@name="csrfmiddlewaretoken"]/@value')[0]
        data = {"csrfmiddlewaretoken": token, **fields}
        action = found.get("action") or path
        return self.http.post(self.shop_url + action, data=data, allow_redirects=False, timeout=10)

    def add_to_cart(self, item_id: str, quantity: object = 1) -> requests.Response:
        """The variant picker's AJAX call: ``variant`` and ``quantity``, the token in the ``X-CSRFToken`` header."""
        if "csrftoken" not in self.http.cookies:
            self.get("/")
        headers = {"X-CSRFToken": self.http.cookies["csrftoken"], "X-Requested-With": "XMLHttpRequest"}
        url = f"{self.shop_url}/products/product-{item_id}/add/"
        data = {"variant": item_id, "quantity": str(quantity)}
        return self.http.post(url, data=data, headers=headers, timeout=10)

    def place_order(self, email: str = "ada@example.com", method: str = "standard") -> str:
        """Address, shipping method and summary for the current cart; the new order's token."""
        assert self.get("/checkout/").headers["location"] == "/checkout/shipping-address/"
        address = self.submit("/checkout/shipping-address/", "form.checkout__shipping", email=email, **ADDRESS)
        assert address.headers["location"] == "/checkout/shipping-method/"
        chosen = self.submit("/checkout/shipping-method/", UNNAMED_FORM, method=method)
        assert chosen.headers["location"] == "/checkout/summary/"
        placed = self.submit("/checkout/summary/", UNNAMED_FORM)
        assert placed.status_code == 302
        return placed.headers["location"].removeprefix("/order/").removesuffix("/payment/")

    def pay(self, token: str, status: str = "confirmed") -> requests.Response:
        """Saleor's two payment forms: the payment method, then the dummy gateway's ``#payment-form``."""
        chosen = self.submit(f"/order/{token}/payment/", "form.payment-method-form", method="default")
        assert chosen.headers["location"] == f"/order/{token}/payment/default/"
        return self.submit(chosen.headers["location"], "form#payment-form", status=status)

    def resubmit(self, path: str, **fields: str) -> requests.Response:
        """POST a form that is already on screen (a double click): the token is the CSRF cookie's."""
        data = {"csrfmiddlewaretoken": self.http.cookies["csrftoken"], **fields}
        return self.http.post(self.shop_url + path, data=data, allow_redirects=False, timeout=10)

    def second_tab(self) -> Shopper:
        """The same browser in another tab: same cookies, its own connection."""
        tab = Shopper(self.shop_url)
        tab.http.cookies.update(self.http.cookies)
        return tab


def _errors(response: requests.Response) -> list[str]:
    return CSSSelector(".alert-danger p")(lxml.html.fromstring(response.text))


def _refusal(response: requests.Response) -> str:
    assert response.status_code == 200
    return CSSSelector(".alert-danger")(lxml.html.fromstring(response.text))[0].get("data-reason")


def _stock(shop_url: str, item_id: str = "0") -> int:
    return requests.get(f"{shop_url}/stock/find/{item_id}", timeout=10).json()["stock"]


def _order(shop_url: str, token: str) -> dict:
    return requests.get(f"{shop_url}/storefront/api/orders/{token}", timeout=10).json()


def _hrefs(page: lxml.html.HtmlElement, selector: str) -> list[str]:
    return [a.get("href") for a in CSSSelector(selector)(page)]


PRODUCT_LINK = ".product-list a.link--clean"


def test_a_fresh_shop_shows_a_starter_catalogue_as_populatedb_would(demo_shop) -> None:
    shopper = Shopper(demo_shop("sqlite").url)
    assert len(_hrefs(shopper.page("/search/?q="), PRODUCT_LINK)) == 0  # nothing until the home page is seen
    assert len(_hrefs(shopper.page("/"), PRODUCT_LINK)) == 8
    products = _hrefs(shopper.page("/search/?q="), PRODUCT_LINK)
    assert sorted(products) == sorted(f"/products/product-{i}/" for i in range(20))
    assert shopper.page("/products/product-3/").xpath("//@data-stock") == ["1000"]


def test_catalog_shows_every_seeded_item_as_a_product_in_saleors_markup(demo_shop) -> None:
    shop = demo_shop("sqlite")
    assert requests.post(f"{shop.url}/stock/batch_init/50/1000/10").status_code == 200
    shopper = Shopper(shop.url)

    home = shopper.page("/")
    categories = _hrefs(home, "nav.navigation a.nav-link")
    numbered = enumerate(("shoes", "shirts", "hats", "bags", "socks"), start=1)
    assert categories == [f"/products/category/{slug}-{n}/" for n, slug in numbered]
    assert _hrefs(home, PRODUCT_LINK)
    listed = [_hrefs(shopper.page(path), PRODUCT_LINK) for path in categories]
    assert sorted(href for hrefs in listed for href in hrefs) == sorted(f"/products/product-{i}/" for i in range(50))
    assert [len(hrefs) for hrefs in listed] == [10] * 5
    assert shopper.get("/products/category/cheese-1/").status_code == 404
    assert shopper.get("/products/category/shoes-2/").status_code == 404

    assert len(_hrefs(shopper.page("/search/?q="), PRODUCT_LINK)) == 50
    names = CSSSelector(".product-list-item-name")(shopper.page("/search/?q=pRoDuCt 4"))
    assert [name.text for name in names] == ["Product 4", *[f"Product 4{i}" for i in range(10)]]
    assert len(_hrefs(shopper.page("/search/?q=SHOES"), PRODUCT_LINK)) == 10

    product = shopper.page("/products/product-7/")  # item 7 is a pair of shoes: one variant, the #product-form
    assert CSSSelector("h1.product__info__name")(product)[0].text == "Product 7"
    assert product.xpath("//@data-item-id") == ["7"]
    assert product.xpath("//@data-price") == ["10"]
    assert product.xpath("//@data-stock") == ["1000"]
    form = CSSSelector("form#product-form")(product)[0]
    assert form.get("action") == "/products/product-7/add/"
    assert form.xpath('.//input[@name="variant"]/@value') == ["7"]
    assert shopper.get("/products/product-999/").status_code == 404

    with sqlite3.connect(shop.store.removeprefix("sqlite:///")) as conn:
        conn.execute("INSERT INTO products VALUES ('7', 'Red Sneaker', 'red-sneaker', 'shoes')")
    renamed = shopper.page("/products/red-sneaker-7/")
    assert CSSSelector("h1.product__info__name")(renamed)[0].text == "Red Sneaker"
    assert _hrefs(shopper.page("/search/?q=sneak"), PRODUCT_LINK) == ["/products/red-sneaker-7/"]


def test_a_product_with_variants_has_saleors_variant_picker_instead_of_a_form(demo_shop) -> None:
    shop_url = demo_shop("sqlite").url
    requests.post(f"{shop_url}/stock/batch_init/5/5/4")
    shopper = Shopper(shop_url)
    shirts = _hrefs(shopper.page("/products/category/shirts-2/"), PRODUCT_LINK)
    assert shirts == ["/products/product-3/"]  # the shirt among items 0 to 4
    page = shopper.page(shirts[0])
    assert not CSSSelector("form#product-form")(page)
    picker = CSSSelector("#variant-picker")(page)[0]
    assert picker.get("data-action") == "/products/product-3/add/"
    variants = json.loads(picker.get("data-variant-picker-data"))["variants"]
    assert [(v["id"], v["availability"]) for v in variants] == [("3", True)]
    assert page.xpath('//input[@name="csrfmiddlewaretoken"]/@value') == [shopper.http.cookies["csrftoken"]]
    assert shopper.add_to_cart("3", 2).json() == {"cart_count": 2}


def test_signup_and_login_need_the_csrf_token(demo_shop) -> None:
    shop_url = demo_shop("sqlite").url
    shopper = Shopper(shop_url)
    signup_page = shopper.get("/account/signup/")
    token = shopper.http.cookies["csrftoken"]
    assert len(token) >= 32
    assert f'name="csrfmiddlewaretoken" value="{token}"' in signup_page.text
    assert shopper.get("/").cookies.get("csrftoken") == token  # kept once set
    signup_url = f"{shop_url}/account/signup/"
    account = {"email": "Grace@Example.com", "password": "correct horse"}

    refused = [
        shopper.http.post(signup_url, data=account),
        shopper.http.post(signup_url, data={**account, "csrfmiddlewaretoken": "x" * 32}),
        requests.post(signup_url, data={**account, "csrfmiddlewaretoken": token}),  # no cookie
    ]
    assert [response.status_code for response in refused] == [403, 403, 403]
    assert all("CSRF verification failed" in response.text for response in refused)
    assert requests.get(f"{shop_url}/storefront/api/customers/grace@example.com").status_code == 404

    signed_up = shopper.submit("/account/signup/", SIGNUP_FORM, **account)
    assert (signed_up.status_code, signed_up.headers["location"]) == (302, "/")
    customer = requests.get(f"{shop_url}/storefront/api/customers/GRACE@example.com").json()
    assert customer == {"email": "grace@example.com", "orders": []}

    other = Shopper(shop_url)
    duplicate = other.submit("/account/signup/", SIGNUP_FORM, email="grace@EXAMPLE.com", password="another one")
    assert duplicate.status_code == 200
    assert [error.text for error in _errors(duplicate)] == ["A user with this email already exists."]
    assert _errors(other.submit("/account/signup/", SIGNUP_FORM, email="not-an-email", password="long enough"))
    assert _errors(other.submit("/account/signup/", SIGNUP_FORM, email="ok@example.com", password="short"))
    assert _errors(other.submit("/account/signup/", SIGNUP_FORM, password="long enough"))

    bad_login = other.submit("/account/login/", LOGIN_FORM, username="grace@example.com", password="wrong password")
    assert bad_login.status_code == 200 and _errors(bad_login)
    stale_token = other.http.cookies["csrftoken"]
    logged_in = other.submit("/account/login/", LOGIN_FORM, username="grace@example.com", password="correct horse")
    assert (logged_in.status_code, logged_in.headers["location"]) == (302, "/")
    # Django's login() rotates the CSRF token: a form rendered before it is refused, a fresh page works
    assert other.http.cookies["csrftoken"] != stale_token
    stale = other.http.post(f"{shop_url}/account/login/", data={"csrfmiddlewaretoken": stale_token}, timeout=10)
    assert stale.status_code == 403
    assert other.get("/account/login/").status_code == 200


def test_a_post_seen_as_https_needs_a_referer_of_the_same_host_as_django_wants(demo_shop) -> None:
    shop_url = demo_shop("sqlite").url
    shopper = Shopper(shop_url)
    shopper.get("/account/signup/")
    host = shop_url.split("//")[1]
    data = {"csrfmiddlewaretoken": shopper.http.cookies["csrftoken"], "email": "x@example.com", "password": "p" * 12}

    def post(**headers: str) -> requests.Response:
        https = {"X-Forwarded-Proto": "https", **headers}
        return shopper.http.post(f"{shop_url}/account/signup/", data=data, headers=https, allow_redirects=False)

    assert "Referer checking failed - no Referer." in post().text
    assert "Referer is insecure" in post(Referer=f"http://{host}/account/signup/").text
    assert "does not match any trusted origins" in post(Referer="https://elsewhere.test/").text
    assert post(Referer=f"https://{host}/account/signup/").status_code == 302


def test_add_to_cart_answers_ajax_with_json_and_a_form_with_the_cart(demo_shop) -> None:
    shop_url = demo_shop("sqlite").url
    requests.post(f"{shop_url}/stock/batch_init/3/5/4")
    shopper = Shopper(shop_url)

    assert shopper.add_to_cart("1", 2).json() == {"cart_count": 2}
    assert shopper.add_to_cart("1", 1).json() == {"cart_count": 3}
    assert shopper.add_to_cart("2", 9).json() == {"cart_count": 12}  # stock is only taken at payment
    for bad_quantity in (0, -1, "two", ""):
        refused = shopper.add_to_cart("1", bad_quantity)
        assert refused.status_code == 400 and "error" in refused.json()
    assert shopper.add_to_cart("9", 1).status_code == 404
    no_header = shopper.http.post(f"{shop_url}/products/product-1/add/", data={"variant": "1", "quantity": "1"})
    assert no_header.status_code == 403
    # the #product-form sent as a form: Saleor redirects to the cart
    as_form = shopper.submit("/products/product-0/", "form#product-form", variant="0", quantity="1")
    assert (as_form.status_code, as_form.headers["location"]) == (302, "/cart/")
    wrong_variant = shopper.submit("/products/product-0/", "form#product-form", variant="1", quantity="1")
    assert wrong_variant.status_code == 200 and _errors(wrong_variant)

    cart = shopper.page("/cart/")
    lines = [(row.get("data-item"), row.get("data-quantity")) for row in CSSSelector(".cart__line")(cart)]
    assert lines == [("0", "1"), ("1", "3"), ("2", "9")]
    assert cart.xpath('//p[@class="cart__subtotal"]/span/@data-total') == ["52"]
    assert _hrefs(cart, "a.btn.primary") == ["/checkout/"]
    assert Shopper(shop_url).get("/checkout/").headers["location"] == "/cart/"


@pytest.mark.parametrize("store", STORES)
def test_checkout_to_a_paid_order_charges_once(demo_shop, store: str) -> None:
    browsing_shop = demo_shop(store)
    # On PostgreSQL a second shop process shares the schema: the session started on one is checked out on the other.
    paying_shop = demo_shop(store) if store == "postgres" else browsing_shop
    requests.post(f"{browsing_shop.url}/stock/batch_init/2/10/7")
    shopper = Shopper(browsing_shop.url)
    signed_up = shopper.submit("/account/signup/", SIGNUP_FORM, email="ada@example.com", password="difference engine")
    assert signed_up.status_code == 302
    shopper.add_to_cart("0", 3)
    shopper.add_to_cart("1", 1)
    shopper.shop_url = paying_shop.url

    shipping = CSSSelector("form.checkout__shipping")(shopper.page("/checkout/shipping-address/"))[0]
    assert not shipping.xpath('.//input[@name="email"]')  # logged in
    assert {"US", "DE", "GB", "FR", "NL"} <= set(shipping.xpath('.//select[@name="country"]/option/@value'))
    incomplete = shopper.submit("/checkout/shipping-address/", "form.checkout__shipping", **{**ADDRESS, "city": ""})
    assert incomplete.status_code == 200 and _errors(incomplete)
    no_state = shopper.submit(
        "/checkout/shipping-address/", "form.checkout__shipping", **{**US_ADDRESS, "country_area": ""}
    )
    assert [e.text for e in _errors(no_state)] == ["State or province: This field is required."]
    bad_zip = shopper.submit(
        "/checkout/shipping-address/", "form.checkout__shipping", **{**US_ADDRESS, "postal_code": "N1 7AA"}
    )
    assert [e.text for e in _errors(bad_zip)] == ["Postal code: This value is not valid for the address."]
    token = shopper.place_order(method="express")
    assert shopper.get("/cart/").text.count('class="line"') == 0

    payment_page = shopper.page(f"/order/{token}/payment/")
    assert CSSSelector(".order-details__total [data-total]")(payment_page)[0].get("data-total") == str(4 * 7 + 5)
    assert _refusal(shopper.pay(token, "rejected")) == "payment_declined"
    assert _stock(paying_shop.url, "0") == 10
    assert _order(paying_shop.url, token)["paid"] is False

    paid = shopper.pay(token)
    assert (paid.status_code, paid.headers["location"]) == (302, f"/order/{token}/checkout-success/")
    assert shopper.get(f"/order/{token}/checkout-success/").headers["location"] == f"/order/{token}/"
    details = shopper.page(f"/order/{token}/")
    assert CSSSelector(".order-details h2")(details)[0].text == f"Order {token}: Paid"
    assert not CSSSelector('.order-details a[href$="/payment/"]')(details)  # no "Pay for order" any more
    lines = [
        (row.get("data-item"), row.get("data-quantity")) for row in CSSSelector(".order-details__product")(details)
    ]
    assert lines == [("0", "3"), ("1", "1")]
    assert CSSSelector(".order-details__total [data-total]")(details)[0].get("data-total") == "33"
    assert shopper.get(f"/order/{token}/payment/").headers["location"] == f"/order/{token}/"
    again = shopper.resubmit(f"/order/{token}/payment/default/", status="confirmed")
    assert (again.status_code, again.headers["location"]) == (302, f"/order/{token}/checkout-success/")

    assert _order(browsing_shop.url, token) == {
        "token": token,
        "email": "ada@example.com",
        "paid": True,
        "total": 33,
        "lines": [["0", 3], ["1", 1]],
        "payments": [{"amount": 33, "status": "fully-charged"}],
        "confirmation_shown": True,
    }
    assert (_stock(paying_shop.url, "0"), _stock(paying_shop.url, "1")) == (7, 9)
    customer = requests.get(f"{paying_shop.url}/storefront/api/customers/ada@example.com").json()
    assert customer["orders"] == [token]


def test_out_of_stock_payment_changes_nothing(demo_shop) -> None:
    shop_url = demo_shop("sqlite").url
    requests.post(f"{shop_url}/stock/batch_init/2/3/5")
    shopper = Shopper(shop_url)
    shopper.add_to_cart("0", 1)
    shopper.add_to_cart("1", 4)
    token = shopper.place_order()

    assert _refusal(shopper.pay(token)) == "out_of_stock"
    assert (_stock(shop_url, "0"), _stock(shop_url, "1")) == (3, 3)
    order = _order(shop_url, token)
    assert (order["paid"], order["payments"], order["confirmation_shown"]) == (False, [], False)
    unpaid = shopper.page(f"/order/{token}/")
    assert _hrefs(unpaid, '.order-details a[href$="/payment/"]') == [f"/order/{token}/payment/"]
    assert _order(shop_url, token)["confirmation_shown"] is False


@pytest.mark.parametrize("store", STORES)
def test_twenty_shoppers_paying_twice_for_the_last_ten_units_buy_exactly_ten(demo_shop, store: str) -> None:
    shop_url = demo_shop(store).url
    requests.post(f"{shop_url}/stock/batch_init/1/10/3")
    shoppers = [Shopper(shop_url) for _ in range(20)]
    tokens = []
    for index, shopper in enumerate(shoppers):
        shopper.add_to_cart("0", 1)
        tokens.append(shopper.place_order(email=f"buyer{index}@example.com"))
    # Every shopper has the payment page on screen and clicks "Pay" twice, in two tabs, all at once.
    double_submits = []
    for shopper, token in zip(shoppers, tokens, strict=True):
        shopper.page(f"/order/{token}/payment/default/")
        double_submits += [(shopper, token), (shopper.second_tab(), token)]
    start_together = threading.Barrier(len(double_submits))

    def pay(submit: tuple[Shopper, str]) -> str:
        tab, token = submit
        # a fresh connection: on a busy machine the wait may outlast the server's keep-alive (uvicorn's 5 s), and
        # requests does not retry a POST on a connection the server closed meanwhile
        tab.http.close()
        start_together.wait(timeout=30)
        response = tab.resubmit(f"/order/{token}/payment/default/", status="confirmed")
        return "paid" if response.status_code == 302 else _refusal(response)

    with ThreadPoolExecutor(max_workers=len(double_submits)) as pool:
        outcomes = Counter(pool.map(pay, double_submits))

    # Both submits of a winner land on its confirmation; a loser is refused twice.
    assert outcomes == {"paid": 20, "out_of_stock": 20}
    assert _stock(shop_url) == 0
    orders = [_order(shop_url, token) for token in tokens]
    assert sum(order["paid"] for order in orders) == 10
    assert sorted(len(order["payments"]) for order in orders) == [0] * 10 + [1] * 10


def test_basic_auth_guards_every_route_but_health(tmp_path) -> None:
    with DemoShopProcess(store=f"sqlite:///{tmp_path / 'shop.db'}", basic_auth="shop:s3cret:x") as shop:
        assert requests.get(f"{shop.url}/health").status_code == 200
        for path in ("/", "/stock/find/0", "/storefront/api/orders/nope"):
            refused = requests.get(shop.url + path)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"] == 'Basic realm="demo shop"'
        assert requests.get(f"{shop.url}/", auth=("shop", "wrong")).status_code == 401
        assert requests.get(f"{shop.url}/", auth=("shop", "s3cret:x")).status_code == 200
        assert requests.post(f"{shop.url}/stock/batch_init/1/1/1", auth=("shop", "s3cret:x")).status_code == 200


def test_basic_auth_without_a_password_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--basic-auth", "shop"]) == 2
    assert "--basic-auth must be USER:PASS" in capsys.readouterr().err
