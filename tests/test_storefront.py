"""The storefront target (saleor profile) against the demo shop's pages in Saleor's markup: the funnel mix runs
with CSRF enforced, the funnel adds up, shoppers stay unique across processes, basic auth works both ways, and a
page that lost its CSRF field fails its step with a message that names it."""

from __future__ import annotations

import pytest
import requests

from support import ChaosProxy, journeys_by_name, read_summary, run_cli

FAST = ["--think-time", "0.05-0.2", "--user-speed", "1000", "--seed-items", "20"]
JOURNEYS = {"just_visiting", "search", "bail_on_cart", "buy", "register"}


def storefront_run(url: str, out, *extra: str, timeout: float = 120):
    result = run_cli("run", "storefront", "--host", url, *extra, "--out", str(out), timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def test_the_shop_refuses_a_post_without_its_csrf_token(demo_shop):
    """So that the driver's successful signups below are real: the shop does enforce CSRF."""
    shop = demo_shop("sqlite")
    session = requests.Session()
    assert session.get(f"{shop.url}/account/signup/", timeout=5).status_code == 200  # sets the csrftoken cookie
    refused = session.post(f"{shop.url}/account/signup/", data={"email": "a@example.test", "password": "x" * 12})
    assert refused.status_code == 403 and "CSRF verification failed" in refused.text


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_funnel_mix_runs_without_unexpected_failures_and_the_funnel_adds_up(demo_shop, tmp_path, store):
    shop = demo_shop(store)
    out = tmp_path / "out"
    result = storefront_run(shop.url, out, "-u", "10", "-r", "10", "-t", "12s", *FAST, "--audit")
    assert result.returncode == 0, result.stdout[-3000:]
    summary = read_summary(out)
    audit = {row["invariant"]: row for row in summary["audit"]["invariants"]}
    assert summary["audit"]["verdict"] == "pass", summary["audit"]
    assert audit["stock_conserved"]["checked"] == 20  # every seeded product, re-read from its page
    assert audit["paid_order_charged_once"]["checked"] >= summary["audit"]["checkouts"]["acknowledged"] > 0
    assert "credit_conserved" not in audit  # a storefront's shoppers pay by card, not from credit
    journeys = journeys_by_name(summary)
    # just_visiting is 3 in 100 of a visitor's journeys: a slow machine may finish none in 12 s
    assert {"register", "buy"} <= set(journeys) <= JOURNEYS, set(journeys)
    for name, row in journeys.items():
        assert row["failed"] == 0, (name, row["failure_reasons"])
    assert summary["totals"]["failures"] == 0, summary["failures"]
    funnel = {row["step"]: row["journeys"] for row in summary["funnel"]}
    assert list(funnel) == ["visit", "product", "cart", "checkout", "paid"]
    # Journeys still running when the time is up have reached early steps but are not counted as journeys yet:
    # the funnel may run ahead of the finished journeys by at most the 10 shoppers.
    browsing = sum(journeys[name]["count"] for name in ("just_visiting", "search", "bail_on_cart", "buy"))
    assert browsing <= funnel["product"] <= funnel["visit"] <= browsing + 10
    carts = journeys["bail_on_cart"]["count"] + journeys["buy"]["count"]
    assert carts <= funnel["cart"] <= carts + 10
    assert funnel["paid"] == journeys["buy"]["count"] > 0  # "paid" is the buy journey's last step
    assert funnel["paid"] <= funnel["checkout"] <= funnel["paid"] + 10
    names = {row["name"] for row in summary["requests"]}
    saleor_names = {"/products/category/[slug]/", "/products/[slug]/", "/products/[slug]/add/", "/order/[token]/",
                    "/order/[token]/payment/", "/order/[token]/payment/[method]/"}  # fmt: skip
    assert saleor_names <= names, names
    assert "Funnel (journeys reaching each step)" in result.stdout


@pytest.mark.parametrize(
    ("fault", "invariant"),
    [("double-charge", "paid_order_charged_once"), ("error-after-commit", "paid_order_confirmed")],
)
def test_the_audit_catches_a_storefront_that_charges_twice_or_errs_after_taking_the_money(
    demo_shop, tmp_path, fault, invariant
):
    shop = demo_shop("sqlite", faults=[fault])
    out = tmp_path / "out"
    result = storefront_run(shop.url, out, "-u", "6", "-r", "6", "-t", "6s", *FAST, "--journey", "buy", "--audit")
    assert result.returncode == 3, result.stdout[-3000:]
    audit = read_summary(out)["audit"]
    violated = {row["invariant"]: row for row in audit["invariants"] if not row["holds"]}
    assert set(violated) == {invariant}, violated
    worst = violated[invariant]["worst"]
    assert worst["entity"].startswith("order ") and worst["ledger"], worst  # the shopper's side of it, as evidence
    assert violated[invariant]["count"] >= 5
    assert f"FAIL {invariant}" in result.stdout


def test_two_processes_200_shoppers_never_collide_on_an_email(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    result = storefront_run(shop.url, out, "-u", "200", "-r", "50", "-t", "60s", "--processes", "2",
                            "--user-speed", "4", "--seed-items", "30", timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    summary = read_summary(out)
    register = journeys_by_name(summary).get("register")
    assert register, (summary["journeys"], summary["generators"], result.stdout[-3000:], result.stderr[-3000:])
    assert register["count"] >= 40  # the returning fifth of 200 shoppers signed up
    assert not [reason for reason in register["failure_reasons"] if "already exists" in reason], register


def test_basic_auth_with_credentials_runs_and_without_is_exit_4(demo_shop, tmp_path):
    from shopstorm.demoshop.process import DemoShopProcess

    shop = DemoShopProcess(store=f"sqlite:///{tmp_path / 'auth.db'}", basic_auth="shopper:s3cret-pass")
    with shop:
        refused = storefront_run(shop.url, tmp_path / "refused", "-t", "5s", *FAST)
        assert refused.returncode == 4, refused.stderr
        assert "credentials" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        out = tmp_path / "out"
        credentials = {"BASIC_AUTH_USER": "shopper", "BASIC_AUTH_PASS": "s3cret-pass"}  # the Saleor workshop's names
        result = run_cli("run", "storefront", "--host", shop.url, "-u", "4", "-r", "4", "-t", "6s", *FAST,
                         "--out", str(out), env=credentials)  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:]
        assert read_summary(out)["totals"]["failures"] == 0
        assert "s3cret-pass" not in (out / "summary.json").read_text()  # secrets never reach the summary


def test_a_page_without_its_csrf_field_fails_the_step_with_a_named_message(demo_shop, tmp_path):
    shop = demo_shop("sqlite")

    def broken_signup_page(method: str, path: str) -> str:
        return "strip-csrf" if method == "GET" and path.startswith("/account/signup/") else "pass"

    out = tmp_path / "out"
    with ChaosProxy(shop.url, broken_signup_page) as proxy:
        result = storefront_run(proxy.url, out, "-u", "10", "-r", "10", "-t", "6s", *FAST)
    assert result.returncode == 0
    register = journeys_by_name(read_summary(out))["register"]
    reason = (
        'page /account/signup/: form form[action$="/account/signup/"] has no CSRF token '
        "(csrfmiddlewaretoken, authenticity_token, _token)"
    )
    assert register["failure_reasons"].get(reason, 0) == register["count"] > 0, register
