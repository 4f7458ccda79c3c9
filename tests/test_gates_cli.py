"""Gates through the real CLI: every form passes and fails on a real run, the exit code follows (1 for a
performance gate, 3 for the audit), JUnit XML validates against the common JUnit schema, a typo stops the run
before any load, and `shopstorm compare` flags regressions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from support import QUICK_LOAD, read_summary, run_cli

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "junit" / "JUnit.xsd")))

PASSING = [
    "checkout p95<60s",  # bounds a busy machine cannot break: these prove each form passes
    "journey:checkout_one p99<60000ms",
    "fail_ratio<1%",
    "req/s>1",
    "audit.violations==0",
    "dropped==0",
]
FAILING = [
    "checkout p95<0.001ms",
    "journey:checkout_one p99<0.001ms",
    "fail_ratio>=50%",
    "req/s>1000000",
    "dropped>0",
]


def junit_cases(path: Path) -> dict[str, bool]:
    document = etree.parse(str(path))
    assert SCHEMA.validate(document), SCHEMA.error_log
    return {case.get("name"): case.find("failure") is None for case in document.iter("testcase")}


def test_every_gate_form_passes_on_a_healthy_run(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    # the gates come from a [gates] table in the settings file (flags are the other way, used below)
    (tmp_path / "shopstorm.toml").write_text(
        "[gates]\n"
        'checkout = "p95<60s"\n'
        '"journey:checkout_one" = "p99<60000ms"\n'
        'fail_ratio = "<1%"\n'
        '"req/s" = ">1"\n'
        'audit.violations = "==0"\n'
        'dropped = ["==0"]\n'
    )
    out, junit = tmp_path / "out", tmp_path / "junit.xml"
    result = run_cli("run", "webshop", "--host", shop.url, *QUICK_LOAD, "--audit", "--out", str(out),
                     "--junit", str(junit), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    summary = read_summary(out)
    assert {g["text"]: g["passed"] for g in summary["gates"]} == dict.fromkeys(PASSING, True)
    cases = junit_cases(junit)
    assert all(cases.values()) and "stock_conserved" in cases and "audit.violations==0" in cases
    assert len(cases) == len(PASSING) + 8  # a case per gate and per audit invariant


def test_each_failing_gate_form_fails_the_run_with_exit_1(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out, junit = tmp_path / "out", tmp_path / "junit.xml"
    gates = [arg for gate in [*FAILING, "audit.violations==0"] for arg in ("--gate", gate)]
    result = run_cli("run", "webshop", "--host", shop.url, *QUICK_LOAD, "--audit", "--out", str(out),
                     "--junit", str(junit), *gates)  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]
    summary = read_summary(out)
    outcome = {g["text"]: g["passed"] for g in summary["gates"]}
    assert outcome == {**dict.fromkeys(FAILING, False), "audit.violations==0": True}
    assert summary["exit_code"] == 1
    cases = junit_cases(junit)
    assert [name for name, ok in cases.items() if not ok] == FAILING
    assert "FAIL  checkout p95<0.001ms" in result.stdout


def test_an_audit_gate_on_a_faulty_shop_is_exit_3(demo_shop, tmp_path):
    shop = demo_shop("sqlite", faults=["no-rollback"])
    out, junit = tmp_path / "out", tmp_path / "junit.xml"
    gates = ["--gate", "audit.stock_conserved==0", "--gate", "req/s>1000000"]
    result = run_cli("run", "webshop", "--host", shop.url, *QUICK_LOAD, "--audit", "--out", str(out),
                     "--junit", str(junit), *gates)  # fmt: skip
    assert result.returncode == 3, result.stdout[-3000:]  # the audit wins over a failed performance gate
    cases = junit_cases(junit)
    assert cases["audit.stock_conserved==0"] is False and cases["stock_conserved"] is False
    assert cases["credit_conserved"] is True


@pytest.mark.parametrize(
    ("gate", "phrase"),
    [("checkout p95<800xs", "unknown unit 'xs'"), ("checkout p96<800ms", "p96"), ("journey: p95<1s", "journey")],
)
def test_a_gate_typo_stops_the_run_before_any_load(tmp_path, free_port, gate, phrase):
    # Nothing listens on free_port: reaching the shop would be exit 4, so exit 2 proves the gate failed first.
    result = run_cli("run", "webshop", "--host", f"http://127.0.0.1:{free_port}", "-t", "5s", "--gate", gate,
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert phrase in result.stderr and gate in result.stderr and "Traceback" not in result.stderr


def test_compare_flags_regressions_and_refuses_different_runs(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    base = tmp_path / "base"
    assert run_cli("run", "webshop", "--host", shop.url, *QUICK_LOAD, "--out", str(base)).returncode == 0
    summary = read_summary(base)
    same = run_cli("compare", str(base / "summary.json"), str(base / "summary.json"))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "/orders/checkout/[order_id]" in same.stdout

    slower = json.loads(json.dumps(summary))
    for row in slower["requests"]:
        row["latency_ms"]["p95"] *= 2
    (tmp_path / "slower.json").write_text(json.dumps(slower))
    regressed = run_cli("compare", str(base / "summary.json"), str(tmp_path / "slower.json"),
                        "--max-regression", "10%", "--json", str(tmp_path / "cmp.json"))  # fmt: skip
    assert regressed.returncode == 1, regressed.stdout
    assert json.loads((tmp_path / "cmp.json").read_text())["regressions"]

    other = {**summary, "target": "storefront"}
    (tmp_path / "other.json").write_text(json.dumps(other))
    refused = run_cli("compare", str(base / "summary.json"), str(tmp_path / "other.json"))
    assert refused.returncode == 2 and "--allow-different" in refused.stderr
    allowed = run_cli("compare", str(base / "summary.json"), str(tmp_path / "other.json"), "--allow-different")
    assert allowed.returncode == 0
    broken = run_cli("compare", str(base / "summary.json"), str(tmp_path / "missing.json"))
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
