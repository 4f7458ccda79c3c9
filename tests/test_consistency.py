"""`shopstorm consistency` and `run --audit` against real demo shops: the correct shop passes every time, and
each fault is caught by the invariant it breaks — or, for an error after commit, resolved, not blamed."""

from __future__ import annotations

import pytest
import requests

from support import QUICK_LOAD, ChaosProxy, read_summary, run_cli


def consistency(shop_url: str, out, *extra: str, env: dict[str, str] | None = None):
    result = run_cli("consistency", "webshop", "--host", shop_url, "--out", str(out), *extra, timeout=180, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result, read_summary(out)


# The fault tests need concurrency and contention, not the benchmark's full size: 300 shoppers racing for 30 units
# catch every fault as the default 1000 for 100 do (checked), at a third of the cost of the suite's longest runs.
SMALL = ("--users", "300", "--checkouts", "300", "--stock", "30")


def violated(summary: dict) -> dict[str, int]:
    return {row["invariant"]: row["count"] for row in summary["audit"]["invariants"] if not row["holds"]}


@pytest.mark.parametrize("run", range(5))  # five separate runs, each on a fresh shop, spread over the test workers
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_correct_shop_passes_the_benchmark_with_exactly_100_acknowledged(demo_shop, tmp_path, store, run):
    shop = demo_shop(store)
    result, summary = consistency(shop.url, tmp_path / "out")
    assert result.returncode == 0, result.stdout[-2000:]
    audit = summary["audit"]
    assert audit["verdict"] == "pass" and audit["violations"] == 0, violated(summary)
    assert audit["checkouts"] == {"acknowledged": 100, "refused": 900, "unknown": 0}
    assert summary["seed"]["webshop"] == {"mode": "batch", "items": 1, "users": 1000, "orders": 1000}
    assert requests.get(f"{shop.url}/stock/find/0", timeout=5).json()["stock"] == 0  # read apart from the audit
    assert "Audit: PASS: all 8 invariants hold" in result.stdout
    # the seconds of seeding 1000 users are announced, not silent
    assert "seeding the shop (webshop: 1 item of 100 units, 1000 users with credit 1, 1000 orders)…" in result.stdout


@pytest.mark.parametrize(
    ("fault", "extra", "invariants"),
    [
        ("lost-update", [*SMALL], {"stock_conserved", "no_oversell"}),
        # A double charge needs a shopper with money and stock left for the second charge: a double click.
        ("double-charge", [*SMALL, "--double-submit", "0.2", "--credit", "2", "--stock", "600"],
         {"order_charged_once", "credit_conserved", "stock_conserved"}),
        # No rollback needs refusals for lack of credit: every order costs 2, every shopper has 1.
        ("no-rollback", [*SMALL, "--price", "2", "--checkouts", "200"], {"stock_conserved"}),
        ("ack-before-commit", [*SMALL], {"acknowledged_order_paid", "stock_conserved", "credit_conserved"}),
    ],
)  # fmt: skip
def test_each_fault_is_caught_by_the_invariant_it_breaks(demo_shop, tmp_path, fault, extra, invariants):
    shop = demo_shop("sqlite", faults=[fault])
    result, summary = consistency(shop.url, tmp_path / "out", *extra)
    assert result.returncode == 3, result.stdout[-2000:]
    found = violated(summary)
    assert invariants <= set(found), found
    assert all(found[name] > 0 for name in invariants)
    worst = next(row["worst"] for row in summary["audit"]["invariants"] if row["invariant"] in invariants)
    assert worst["ledger"], "a finding carries the ledger entries that prove it"
    assert "Audit: FAIL" in result.stdout


def test_error_after_commit_is_resolved_as_happened_not_reported(demo_shop, tmp_path):
    shop = demo_shop("sqlite", faults=["error-after-commit"])
    result, summary = consistency(shop.url, tmp_path / "out", *SMALL)
    assert result.returncode == 0, result.stdout[-2000:]
    audit = summary["audit"]
    assert audit["violations"] == 0
    assert audit["checkouts"] == {"acknowledged": 0, "refused": 270, "unknown": 30}
    assert audit["unknowns"]["checkout"] == {"happened": 30, "not_happened": 0, "undecidable": 0}
    # The shopper was told nothing useful: those checkouts are failed requests, never successes.
    checkouts = next(r for r in summary["requests"] if r["name"] == "/orders/checkout/[order_id]")
    assert checkouts["failures"] == 30


@pytest.mark.parametrize(("fault", "code", "invariants"), [(None, 0, set()), ("lost-update", 3, {"no_oversell"})])
def test_processes_2_gives_the_same_verdicts(demo_shop, tmp_path, fault, code, invariants):
    shop = demo_shop("sqlite", faults=[fault] if fault else [])
    # The master announces spawning complete without waiting for the workers' reports, as Locust does on a busy
    # machine after its 1 s wait: the run must not take "0 shoppers reported" for "every shopper stopped".
    no_wait = {"LOCUST_WAIT_FOR_WORKERS_REPORT_AFTER_RAMP_UP": "0"}
    result, summary = consistency(shop.url, tmp_path / "out", "--processes", "2", env=no_wait)
    assert result.returncode == code, result.stdout[-2000:]
    generators = summary["generators"]
    assert generators["workers"] == 2 and min(generators["requests_by_worker"]) > 0, generators
    assert summary["audit"]["ledger_entries"] == 1000  # every checkout once, merged from both workers
    assert invariants <= set(violated(summary))
    if fault is None:
        assert summary["audit"]["checkouts"] == {"acknowledged": 100, "refused": 900, "unknown": 0}


@pytest.mark.parametrize(("fault", "code"), [(None, 0), ("no-rollback", 3)])
def test_run_audit_checks_the_stress_mix(demo_shop, tmp_path, fault, code):
    shop = demo_shop("sqlite", faults=[fault] if fault else [])
    out = tmp_path / "out"
    result = run_cli("run", "webshop", "--host", shop.url, *QUICK_LOAD, "--out", str(out), "--audit")
    assert result.returncode == code, result.stdout[-2000:]
    summary = read_summary(out)
    assert summary["audit"]["ledger_entries"] > 100
    if fault is None:
        assert summary["audit"]["violations"] == 0, violated(summary)
    else:  # refused_no_credit journeys leave their stock behind in the catalogue
        assert violated(summary).get("stock_conserved", 0) > 0


def test_unreadable_state_is_reported_never_silently_ok(demo_shop, tmp_path):
    shop = demo_shop("sqlite")

    def garbage_reads(method: str, path: str) -> str:
        if path.startswith("/payment/find_user/"):
            return "garbage"
        return "http-500" if path.startswith("/orders/find/") else "pass"

    with ChaosProxy(shop.url, garbage_reads) as proxy:
        result, summary = consistency(proxy.url, tmp_path / "out", "--users", "50", "--checkouts", "50")
    assert result.returncode == 3
    unreadable = next(row for row in summary["audit"]["invariants"] if row["invariant"] == "state_readable")
    assert unreadable["count"] == 100  # 50 users with garbage, 50 orders answering 500
    reasons = {finding["observed"] for finding in unreadable["all"]}
    assert "HTTP 500" in reasons and any("unreadable answer" in reason for reason in reasons)


def test_demo_with_a_fault_runs_the_workload_that_exposes_it_and_the_audit_catches_it(tmp_path):
    """`demo --fault lost-update` used to run the stress mix without the audit and end `Audit: PASS`-less and green:
    it now races 300 checkouts for 30 units, says so, and the audit catches the fault (exit 3)."""
    out = tmp_path / "out"
    result = run_cli("demo", "--fault", "lost-update", "--out", str(out), timeout=150)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    assert "demo: --fault lost-update shows in webshop: 300 checkouts racing for 30 units" in result.stdout
    summary = read_summary(out)
    assert summary["settings"]["mix"] == "consistency" and summary["audit"]["checkouts"]["acknowledged"] > 0
    assert {"stock_conserved", "no_oversell"} & set(violated(summary))


def test_demo_faults_pick_their_workload_and_a_chosen_target_or_mix_stays_the_users():
    from shopstorm.cli import _demo_workload
    from shopstorm.settings import Settings

    target, workload = _demo_workload(Settings(faults=("no-rollback",)), None)
    assert target == "webshop" and workload["mix"] == "consistency" and workload["seed_price"] == 2
    assert workload["audit"] is True
    assert _demo_workload(Settings(faults=("webhook-dup",)), None) == ("checkout-api", {"audit": True})
    assert _demo_workload(Settings(faults=("double-charge",)), "storefront") == ("storefront", {"audit": True})
    assert _demo_workload(Settings(faults=("lost-update",), mix="stress"), None) == ("webshop", {"audit": True})
    assert _demo_workload(Settings(faults=("stall",)), None) == ("webshop", {})  # latency: the stress mix shows it
    assert _demo_workload(Settings(), "storefront") == ("storefront", {})
