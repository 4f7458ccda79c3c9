"""`shopstorm run webshop` against a real demo shop: every journey runs, refusals count as success, and the
three ways of reaching the services (gateway, urls.json on one port, urls.json on three processes) all work."""

from __future__ import annotations

import json

import pytest

from support import QUICK_LOAD, journeys_by_name, read_summary, run_cli

STRESS_JOURNEYS = {
    "admin_restock",
    "checkout_one",
    "checkout_two",
    "regret_and_checkout",
    "refused_out_of_stock",
    "refused_no_credit",
}


def assert_clean_stress_run(summary: dict) -> None:
    journeys = journeys_by_name(summary)
    assert set(journeys) == STRESS_JOURNEYS
    for name, row in journeys.items():
        assert row["count"] > 0, f"{name} never ran"
        assert row["failed"] == 0, f"{name} failed: {row['failure_reasons']}"
        assert row["ok"] == row["count"]
    assert summary["totals"]["failures"] == 0, summary["failures"]
    checkouts = next(r for r in summary["requests"] if r["name"] == "/orders/checkout/[order_id]")
    refusals = journeys["refused_out_of_stock"]["count"] + journeys["refused_no_credit"]["count"]
    # Every journey but admin_restock checks out once; the refused ones are successes of their journeys.
    assert checkouts["count"] == sum(row["count"] for name, row in journeys.items() if name != "admin_restock")
    assert checkouts["failures"] == 0 and refusals > 0


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_stress_mix_runs_every_journey_without_unexpected_failures(demo_shop, tmp_path, store):
    shop = demo_shop(store)
    out = tmp_path / "out"
    result = run_cli("run", "webshop", "--host", shop.url, *QUICK_LOAD, "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = read_summary(out)
    assert summary["schema"] == "shopstorm.summary/1"
    assert summary["target"] == "webshop" and summary["exit_code"] == 0
    assert_clean_stress_run(summary)
    # Journeys are timed apart from requests: they never appear among the request rows.
    assert not {row["name"] for row in summary["requests"]} & STRESS_JOURNEYS
    assert "/orders/checkout/[order_id]" in result.stdout and "refused_no_credit" in result.stdout


def test_urls_file_on_one_port(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    urls = tmp_path / "urls.json"
    urls.write_text(json.dumps({f"{s.upper()}_URL": f"{shop.url}/{p}" for s, p in
                                [("order", "orders"), ("payment", "payment"), ("stock", "stock")]}))  # fmt: skip
    out = tmp_path / "out"
    result = run_cli("run", "webshop", "--urls", str(urls), *QUICK_LOAD, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert_clean_stress_run(read_summary(out))


@pytest.mark.postgres
def test_urls_file_on_three_service_processes(demo_shop, tmp_path):
    """Three shop processes on three ports over one PostgreSQL schema: three services, one store."""
    orders, payment, stock = demo_shop("postgres"), demo_shop("postgres"), demo_shop("postgres")
    assert len({orders.url, payment.url, stock.url}) == 3
    urls = tmp_path / "urls.json"
    urls.write_text(json.dumps({
        "ORDER_URL": f"{orders.url}/orders", "PAYMENT_URL": f"{payment.url}/payment", "STOCK_URL": f"{stock.url}/stock",
    }))  # fmt: skip
    out = tmp_path / "out"
    result = run_cli("run", "webshop", "--urls", str(urls), *QUICK_LOAD, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert_clean_stress_run(read_summary(out))


def test_processes_2_counts_requests_from_both_workers(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    result = run_cli("run", "webshop", "--host", shop.url, *QUICK_LOAD, "--out", str(out), "--processes", "2")
    assert result.returncode == 0, result.stderr
    summary = read_summary(out)
    generators = summary["generators"]
    assert generators["workers"] == 2
    assert all(count > 0 for count in generators["requests_by_worker"]), generators
    assert sum(generators["requests_by_worker"]) == summary["totals"]["requests"]
    assert_clean_stress_run(summary)


def test_journey_selection_and_weights(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    result = run_cli(
        "run", "webshop", "--host", shop.url, *QUICK_LOAD, "--out", str(out),
        "--journey", "checkout_one", "--journey", "refused_no_credit", "--weight", "refused_no_credit=3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = read_summary(out)
    assert set(journeys_by_name(summary)) == {"checkout_one", "refused_no_credit"}
    assert summary["mixes"]["WebshopStressShopper"]["weights"] == {"checkout_one": 30, "refused_no_credit": 3}


def test_demo_command_runs_out_of_the_box(tmp_path):
    out = tmp_path / "out"
    result = run_cli("demo", "-t", "5s", "-u", "5", "--think-time", "0.1-0.3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("demo shop: http://127.0.0.1:")
    summary = read_summary(out)
    assert summary["totals"]["requests"] > 0 and summary["totals"]["failures"] == 0
