"""The demo shop's HTML storefront, driven like a browser: CSRF, accounts, cart, checkout, payment, basic auth."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import lxml.html
import pytest
import requests

from shopstorm.demoshop.cli import main
from shopstorm.demoshop.process import DemoShopProcess

STORES = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
ADDRESS = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street_address_1": "12 Analytical Street",
    "city": "London",
    "postal_code": "N1 7AA",
    "country": "GB",
}


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

    def submit(self, path: str, form_id: str, **fields: str) -> requests.Response:
        """GET the page, then POST its form ``form_id`` with the page's CSRF token and these fields."""
        form = self.page(path).get_element_by_id(form_id)
        token = form.xpath('.//input[@name="csrfmiddlewaretoken"]/@value')[0]
        data = {"csrfmiddlewaretoken": token, **fields}
        return self.http.post(self.shop_url + path, data=data, allow_redirects=False, timeout=10)

    def add_to_cart(self, slug: str, quantity: object = 1) -> requests.Response:
        """The product page's AJAX call: form body ``quantity``, token in the ``X-CSRFToken`` header."""
        if "csrftoken" not in self.http.cookies:
            self.get("/")
        headers = {"X-CSRFToken": self.http.cookies["csrftoken"]}
        url = f"{self.shop_url}/products/{slug}/add/"
        return self.http.post(url, data={"quantity": str(quantity)}, headers=headers, timeout=10)

    def place_order(self, email: str = "ada@example.com", method: str = "standard") -> str:
        """Address, shipping method and summary for the current cart; the new order's token."""
        assert self.get("/checkout/").headers["location"] == "/checkout/shipping-address/"
        address = self.submit("/checkout/shipping-address/", "shipping-address", email=email, **ADDRESS)
        assert address.headers["location"] == "/checkout/shipping-method/"
        chosen = self.submit("/checkout/shipping-method/", "shipping-method", method=method)
        assert chosen.headers["location"] == "/checkout/summary/"
        placed = self.submit("/checkout/summary/", "summary")
        assert placed.status_code == 302
        return placed.headers["location"].removeprefix("/checkout/payment/").strip("/")

    def pay(self, token: str, charge_status: str = "fully-charged") -> requests.Response:
        path = f"/checkout/payment/{token}/"
        return self.submit(path, "payment", gateway="dummy", charge_status=charge_status)

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
    return lxml.html.fromstring(response.text).xpath('//ul[@class="errorlist"]/li/text()')


def _refusal(response: requests.Response) -> str:
    assert response.status_code == 200
    return lxml.html.fromstring(response.text).xpath('//p[@class="error"]/@data-reason')[0]


def _stock(shop_url: str, item_id: str = "0") -> int:
    return requests.get(f"{shop_url}/stock/find/{item_id}", timeout=10).json()["stock"]


def _order(shop_url: str, token: str) -> dict:
    return requests.get(f"{shop_url}/storefront/api/orders/{token}", timeout=10).json()


def test_catalog_shows_every_seeded_item_as_a_product(demo_shop) -> None:
    shop = demo_shop("sqlite")
    assert requests.post(f"{shop.url}/stock/batch_init/50/1000/10").status_code == 200
    shopper = Shopper(shop.url)

    home = shopper.page("/")
    categories = home.xpath('//a[@class="category"]/@href')
    assert categories == [f"/category/{slug}/" for slug in ("shoes", "shirts", "hats", "bags", "socks")]
    assert home.xpath('//a[@class="product"]/@href')
    listed = [shopper.page(path).xpath('//a[@class="product"]/@href') for path in categories]
    assert sorted(href for hrefs in listed for href in hrefs) == sorted(f"/products/item-{i}/" for i in range(50))
    assert [len(hrefs) for hrefs in listed] == [10] * 5
    assert shopper.get("/category/cheese/").status_code == 404

    assert len(shopper.page("/search/?q=").xpath('//a[@class="product"]')) == 50
    assert shopper.page("/search/?q=pRoDuCt 4").xpath('//a[@class="product"]/text()') == [
        "Product 4",
        *[f"Product 4{i}" for i in range(10)],
    ]
    assert len(shopper.page("/search/?q=SHOES").xpath('//a[@class="product"]')) == 10

    product = shopper.page("/products/item-7/")
    assert product.xpath('//h1[@class="product-name"]/text()') == ["Product 7"]
    assert product.xpath('//span[@class="price"]/@data-price') == ["10"]
    assert product.xpath('//span[@class="stock"]/@data-stock') == ["1000"]
    assert product.get_element_by_id("add-to-cart").get("action") == "/products/item-7/add/"
    assert shopper.get("/products/item-999/").status_code == 404

    with sqlite3.connect(shop.store.removeprefix("sqlite:///")) as conn:
        conn.execute("INSERT INTO products VALUES ('7', 'Red Sneaker', 'red-sneaker', 'shoes')")
    assert shopper.page("/products/red-sneaker/").xpath('//h1[@class="product-name"]/text()') == ["Red Sneaker"]
    assert shopper.page("/search/?q=sneak").xpath('//a[@class="product"]/@href') == ["/products/red-sneaker/"]


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

    signed_up = shopper.submit("/account/signup/", "signup", **account)
    assert (signed_up.status_code, signed_up.headers["location"]) == (302, "/")
    customer = requests.get(f"{shop_url}/storefront/api/customers/GRACE@example.com").json()
    assert customer == {"email": "grace@example.com", "orders": []}

    other = Shopper(shop_url)
    duplicate = other.submit("/account/signup/", "signup", email="grace@EXAMPLE.com", password="another one")
    assert duplicate.status_code == 200
    assert '<ul class="errorlist"><li>A user with this email already exists.</li></ul>' in duplicate.text
    assert _errors(other.submit("/account/signup/", "signup", email="not-an-email", password="long enough"))
    assert _errors(other.submit("/account/signup/", "signup", email="ok@example.com", password="short"))
    assert _errors(other.submit("/account/signup/", "signup", password="long enough"))

    bad_login = other.submit("/account/login/", "login", username="grace@example.com", password="wrong password")
    assert bad_login.status_code == 200 and _errors(bad_login)
    logged_in = other.submit("/account/login/", "login", username="grace@example.com", password="correct horse")
    assert (logged_in.status_code, logged_in.headers["location"]) == (302, "/")


def test_add_to_cart_is_ajax_with_the_csrf_header(demo_shop) -> None:
    shop_url = demo_shop("sqlite").url
    requests.post(f"{shop_url}/stock/batch_init/3/5/4")
    shopper = Shopper(shop_url)

    assert shopper.add_to_cart("item-1", 2).json() == {"cart_count": 2}
    assert shopper.add_to_cart("item-1", 1).json() == {"cart_count": 3}
    assert shopper.add_to_cart("item-2", 9).json() == {"cart_count": 12}  # stock is only taken at payment
    for bad_quantity in (0, -1, "two", ""):
        refused = shopper.add_to_cart("item-1", bad_quantity)
        assert refused.status_code == 400 and "error" in refused.json()
    assert shopper.add_to_cart("item-9", 1).status_code == 404
    no_header = shopper.http.post(f"{shop_url}/products/item-1/add/", data={"quantity": "1"})
    assert no_header.status_code == 403

    cart = shopper.page("/cart/")
    lines = [(row.get("data-slug"), row.get("data-quantity")) for row in cart.xpath('//tr[@class="line"]')]
    assert lines == [("item-1", "3"), ("item-2", "9")]
    assert cart.xpath('//span[@class="cart-total"]/@data-total') == ["48"]
    assert cart.get_element_by_id("checkout").get("href") == "/checkout/"
    assert Shopper(shop_url).get("/checkout/").headers["location"] == "/cart/"


@pytest.mark.parametrize("store", STORES)
def test_checkout_to_a_paid_order_charges_once(demo_shop, store: str) -> None:
    browsing_shop = demo_shop(store)
    # On PostgreSQL a second shop process shares the schema: the session started on one is checked out on the other.
    paying_shop = demo_shop(store) if store == "postgres" else browsing_shop
    requests.post(f"{browsing_shop.url}/stock/batch_init/2/10/7")
    shopper = Shopper(browsing_shop.url)
    signed_up = shopper.submit("/account/signup/", "signup", email="ada@example.com", password="difference engine")
    assert signed_up.status_code == 302
    shopper.add_to_cart("item-0", 3)
    shopper.add_to_cart("item-1", 1)
    shopper.shop_url = paying_shop.url

    shipping = shopper.page("/checkout/shipping-address/").get_element_by_id("shipping-address")
    assert not shipping.xpath('.//input[@name="email"]')  # logged in
    assert {"US", "DE", "GB", "FR", "NL"} <= set(shipping.xpath('.//select[@name="country"]/option/@value'))
    incomplete = shopper.submit("/checkout/shipping-address/", "shipping-address", **{**ADDRESS, "city": ""})
    assert incomplete.status_code == 200 and _errors(incomplete)
    token = shopper.place_order(method="express")
    assert shopper.get("/cart/").text.count('class="line"') == 0

    payment_page = shopper.page(f"/checkout/payment/{token}/")
    assert payment_page.xpath('//span[@class="order-total"]/@data-total') == [str(4 * 7 + 5)]
    assert _refusal(shopper.pay(token, "not-charged")) == "payment_declined"
    assert _stock(paying_shop.url, "0") == 10
    assert _order(paying_shop.url, token)["paid"] is False

    paid = shopper.pay(token)
    assert (paid.status_code, paid.headers["location"]) == (302, f"/orders/{token}/")
    confirmation = shopper.page(f"/orders/{token}/").xpath('//h1[@class="order-confirmation"]')[0]
    assert (confirmation.get("data-order"), confirmation.get("data-status")) == (token, "paid")
    assert confirmation.get("data-total") == "33"
    again = shopper.resubmit(f"/checkout/payment/{token}/", gateway="dummy", charge_status="fully-charged")
    assert (again.status_code, again.headers["location"]) == (302, f"/orders/{token}/")

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
    shopper.add_to_cart("item-0", 1)
    shopper.add_to_cart("item-1", 4)
    token = shopper.place_order()

    assert _refusal(shopper.pay(token)) == "out_of_stock"
    assert (_stock(shop_url, "0"), _stock(shop_url, "1")) == (3, 3)
    order = _order(shop_url, token)
    assert (order["paid"], order["payments"], order["confirmation_shown"]) == (False, [], False)
    unpaid = shopper.page(f"/orders/{token}/").xpath('//h1[@class="order-confirmation"]/@data-status')
    assert unpaid == ["unpaid"]
    assert _order(shop_url, token)["confirmation_shown"] is False


@pytest.mark.parametrize("store", STORES)
def test_twenty_shoppers_paying_twice_for_the_last_ten_units_buy_exactly_ten(demo_shop, store: str) -> None:
    shop_url = demo_shop(store).url
    requests.post(f"{shop_url}/stock/batch_init/1/10/3")
    shoppers = [Shopper(shop_url) for _ in range(20)]
    tokens = []
    for index, shopper in enumerate(shoppers):
        shopper.add_to_cart("item-0", 1)
        tokens.append(shopper.place_order(email=f"buyer{index}@example.com"))
    # Every shopper has the payment page on screen and clicks "Pay" twice, in two tabs, all at once.
    double_submits = []
    for shopper, token in zip(shoppers, tokens, strict=True):
        shopper.page(f"/checkout/payment/{token}/")
        double_submits += [(shopper, token), (shopper.second_tab(), token)]
    start_together = threading.Barrier(len(double_submits))

    def pay(submit: tuple[Shopper, str]) -> str:
        tab, token = submit
        # a fresh connection: on a busy machine the wait may outlast the server's keep-alive (uvicorn's 5 s), and
        # requests does not retry a POST on a connection the server closed meanwhile
        tab.http.close()
        start_together.wait(timeout=30)
        response = tab.resubmit(f"/checkout/payment/{token}/", gateway="dummy", charge_status="fully-charged")
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
