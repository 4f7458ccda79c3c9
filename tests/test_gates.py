"""Gates: parsing the threshold language, holding it against a summary, the exit code and the JUnit XML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from shopstorm.errors import ExitCode, UsageError
from shopstorm.gates import (
    Gate,
    evaluate,
    exit_code,
    gates_from_settings_table,
    junit_xml,
    parse_gate,
    parse_gates,
)

JUNIT_XSD = Path(__file__).parent / "junit" / "JUnit.xsd"


def latency(p95: float, *, count: int = 100) -> dict[str, float]:
    return {"count": count, "p50": p95 / 3, "p90": p95 * 0.8, "p95": p95, "p99": p95 * 1.5, "p99.9": p95 * 2,
            "max": p95 * 3, "mean": p95 / 2}  # fmt: skip


def finding(entity: str, expected: Any, observed: Any) -> dict[str, Any]:
    return {"entity": entity, "expected": expected, "observed": observed, "note": "units in checkouts that took effect",
            "ledger": [{"kind": "checkout", "entity": "order 3f2a", "related": "user 7", "amount": 0, "outcome": "ok",
                        "detail": "HTTP 200", "at": 1795314138.237}]}  # fmt: skip


def invariant(name: str, findings: list[dict[str, Any]]) -> dict[str, Any]:
    first, last = (findings[0], findings[-1]) if findings else (None, None)
    return {"invariant": name, "description": f"{name} description", "holds": not findings, "checked": 10,
            "count": len(findings), "first": first, "worst": last, "last": last, "all": findings}  # fmt: skip


def make_summary(*, audit: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A summary.json dict of the shape docs/summary-schema.md describes."""
    return {
        "schema": "shopstorm.summary/1",
        "target": "webshop",
        "mixes": {"WebshopStressShopper": {"weights": {"checkout_one": 30, "browse": 70}, "think_time": [1.0, 3.0]}},
        "interrupted": False,
        "duration_s": 30.0,
        "totals": {"requests": 3000, "failures": 30, "fail_ratio": 0.01, "rps": 100.0, "latency_ms": latency(400)},
        "requests": [
            {
                "method": "POST",
                "name": "/orders/checkout/[order_id]",
                "count": 1100,
                "failures": 22,
                "fail_ratio": 0.02,
                "rps": 36.6,
                "latency_ms": latency(812.3),
            },
            {
                "method": "GET",
                "name": "/orders/checkout/[order_id]/status",
                "count": 900,
                "failures": 0,
                "fail_ratio": 0.0,
                "rps": 30.0,
                "latency_ms": latency(120),
            },
            {
                "method": "GET",
                "name": "/items/[item_id]",
                "count": 1000,
                "failures": 8,
                "fail_ratio": 0.008,
                "rps": 33.3,
                "latency_ms": latency(40),
            },
        ],
        "journeys": [
            {
                "name": "checkout_one",
                "count": 330,
                "ok": 300,
                "failed": 30,
                "per_s": 11.0,
                "latency_ms": latency(1500),
                "failure_reasons": {"checkout: HTTP 500": 30},
            },
            {
                "name": "browse",
                "count": 700,
                "ok": 700,
                "failed": 0,
                "per_s": 23.3,
                "latency_ms": latency(90),
                "failure_reasons": {},
            },
        ],
        "failures": [],
        "audit": audit,
        **extra,
    }


def clean_audit() -> dict[str, Any]:
    return {"verdict": "pass", "violations": 0, "invariants": [invariant("stock_conserved", []),
                                                                invariant("no_oversell", [])]}  # fmt: skip


def broken_audit() -> dict[str, Any]:
    oversold = [finding("item 0", 0, 99), finding("item 3 <&>", "0..2", -4)]
    return {"verdict": "fail", "violations": 2, "invariants": [invariant("stock_conserved", []),
                                                                invariant("no_oversell", oversold)]}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "kind", "selector", "metric", "op", "threshold"),
    [
        ("checkout p95<800ms", "request", "checkout", "p95", "<", 800),
        ("checkout p95 < 800ms", "request", "checkout", "p95", "<", 800),
        ("Checkout P95<0.8S", "request", "Checkout", "p95", "<", 800),
        (
            "POST /orders/checkout/[order_id] p99.9<=2s",
            "request",
            "POST /orders/checkout/[order_id]",
            "p99.9",
            "<=",
            2000,
        ),
        ("journey:checkout p99<2s", "journey", "checkout", "p99", "<", 2000),
        ("journey:checkout fail_ratio<=5%", "journey", "checkout", "fail_ratio", "<=", 0.05),
        ("checkout req/s>=30", "request", "checkout", "rps", ">=", 30),
        ("fail_ratio<1%", "total", "", "fail_ratio", "<", 0.01),
        ("fail_ratio<0.01", "total", "", "fail_ratio", "<", 0.01),
        ("req/s>200", "total", "", "rps", ">", 200),
        ("RPS > 200", "total", "", "rps", ">", 200),
        ("p95<500", "total", "", "p95", "<", 500),
        ("max!=0", "total", "", "max", "!=", 0),
        ("audit.violations==0", "audit", "", "violations", "==", 0),
        ("violations==0", "audit", "", "violations", "==", 0),
        ("audit.No_Oversell == 0", "audit", "", "no_oversell", "==", 0),
        ("dropped==0", "load", "", "dropped", "==", 0),
    ],
)
def test_parse_gate_forms(text: str, kind: str, selector: str, metric: str, op: str, threshold: float) -> None:
    gate = parse_gate(text)
    assert (gate.selector_kind, gate.selector, gate.metric, gate.op) == (kind, selector, metric, op)
    assert gate.threshold == pytest.approx(threshold)
    assert gate.text == text
    assert gate.kind == ("audit" if kind == "audit" else "performance")


@pytest.mark.parametrize(
    ("text", "points_at"),
    [
        ("checkout p96<800ms", "unknown metric 'p96'"),
        ("checkout p95 800ms", "missing operator"),
        ("checkout p95<eight", "bad number 'eight'"),
        ("checkout p95<8.0.0ms", "bad number '8.0.0'"),
        ("journey: p99<2s", "empty journey name after 'journey:'"),
        ("journey:checkout<2s", "missing metric after 'journey:checkout'"),
        ("checkout p95<800xs", "unknown unit 'xs' (use ms, s or %)"),
        ("fail_ratio<5ms", "unit 'ms' does not fit fail_ratio"),
        ("fail_ratio<1", "fail_ratio 1 would be 100%: write 1% for a percent"),  # not a silent 100 %
        ("journey:checkout fail_ratio<=5", "would be 500%: write 5%"),
        ("count<5%", "unit '%' does not fit count"),
        ("p95=800", "unknown operator '='"),
        ("p95<", "missing value after '<'"),
        ("<800ms", "missing metric before '<'"),
        ("checkout audit.violations==0", "takes no request or journey name"),
        ("audit.stock_conserve==0", "unknown audit metric 'audit.stock_conserve'"),
    ],
)
def test_a_bad_gate_is_a_usage_error_naming_the_bad_token(text: str, points_at: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_gate(text)
    message = str(raised.value)
    assert message.startswith(f"bad gate {text!r}: ")
    assert points_at in message
    assert "\n" not in message
    assert raised.value.exit_code == ExitCode.USAGE == 2


def test_parse_gates_reports_the_first_bad_gate_and_counts_the_rest() -> None:
    assert [g.text for g in parse_gates(["p95<500ms", "fail_ratio<1%"])] == ["p95<500ms", "fail_ratio<1%"]
    with pytest.raises(UsageError, match=r"^bad gate 'p96<1': unknown metric 'p96' .*\(and 1 more bad gate\)$"):
        parse_gates(["p95<500ms", "p96<1", "fail_ratio<5ms"])


def test_gates_from_a_settings_table() -> None:
    # As tomllib reads: [gates] checkout = "p95<800ms"; "journey:checkout" = ["p99<2s", "fail_ratio<5%"];
    # fail_ratio = "<1%"; audit.violations = "==0"
    table = {
        "checkout": "p95<800ms",
        "journey:checkout": ["p99<2s", "fail_ratio<5%"],
        "fail_ratio": "<1%",
        "audit": {"violations": "==0"},
    }
    texts = gates_from_settings_table(table)
    assert texts == [
        "checkout p95<800ms",
        "journey:checkout p99<2s",
        "journey:checkout fail_ratio<5%",
        "fail_ratio<1%",
        "audit.violations==0",
    ]
    assert [g.selector_kind for g in parse_gates(texts)] == ["request", "journey", "journey", "total", "audit"]
    with pytest.raises(UsageError, match="bad \\[gates\\] entry 'checkout'"):
        gates_from_settings_table({"checkout": 800})


def results_for(*texts: str, summary: dict[str, Any] | None = None) -> list[tuple[bool, str]]:
    return [(r.passed, r.observed) for r in evaluate(parse_gates(texts), summary or make_summary())]


def test_a_request_gate_must_hold_for_every_matching_row_and_shows_the_worst() -> None:
    [(passed, observed)] = results_for("checkout p95<800ms")
    assert not passed
    assert observed == "p95 812.3 ms on POST /orders/checkout/[order_id] (1 of 2 matching failed)"
    [(passed, observed)] = results_for("checkout p95<900ms")
    assert passed
    assert observed == "p95 812.3 ms on POST /orders/checkout/[order_id] (all 2 matching)"


def test_request_selectors_match_names_case_insensitively_with_or_without_the_method() -> None:
    assert results_for("post /orders/CHECKOUT p95<100ms", "GET /orders/checkout p95<200ms") == [
        (False, "p95 812.3 ms on POST /orders/checkout/[order_id]"),
        (True, "p95 120.0 ms on GET /orders/checkout/[order_id]/status"),
    ]
    assert results_for("/items/[item_id] fail_ratio<1%", "/items/ req/s>=40") == [
        (True, "fail_ratio 0.80% on GET /items/[item_id]"),
        (False, "rps 33.3/s on GET /items/[item_id]"),
    ]


def test_a_quoted_selector_matches_that_whole_name_only() -> None:
    # the fragment /orders/checkout/[order_id] also matches GET …/[order_id]/status; the quoted name does not
    assert results_for('"/orders/checkout/[order_id]" p95<900ms', '"post /orders/checkout/[order_id]" p95<800ms') == [
        (True, "p95 812.3 ms on POST /orders/checkout/[order_id]"),
        (False, "p95 812.3 ms on POST /orders/checkout/[order_id]"),
    ]
    assert results_for('"/orders/checkout" p95<900ms') == [(False, "no request matched '\"/orders/checkout\"'")]


def test_a_gate_whose_selector_matches_nothing_fails() -> None:
    assert results_for("refund p95<800ms", "journey:refund count>0") == [
        (False, "no request matched 'refund'"),
        (False, "no journey matched 'refund'"),
    ]


def test_journey_gates_read_the_journey_rows() -> None:
    assert results_for("journey:checkout p99<2s", "journey:checkout fail_ratio<5%", "journey:browse rps>20") == [
        (False, "p99 2250.0 ms on checkout_one"),
        (False, "fail_ratio 9.09% on checkout_one"),
        (True, "rps 23.3/s on browse"),
    ]


def test_global_gates_read_the_totals_and_the_load() -> None:
    assert results_for("fail_ratio<1%", "req/s>=100", "p95<0.5s", "count>=3000", "dropped==0") == [
        (False, "fail_ratio 1.00% over all requests"),
        (True, "rps 100.0/s over all requests"),
        (True, "p95 400.0 ms over all requests"),
        (True, "count 3000 over all requests"),
        (True, "dropped 0 arrivals"),
    ]
    assert results_for("dropped==0", summary=make_summary(load={"dropped": 17})) == [(False, "dropped 17 arrivals")]


def test_audit_gates() -> None:
    assert results_for("audit.violations==0", "audit.no_oversell==0") == [
        (False, "no audit in this run"),
        (False, "no audit in this run"),
    ]
    assert results_for("audit.violations==0", "audit.no_oversell==0", summary=make_summary(audit=clean_audit())) == [
        (True, "violations 0"),
        (True, "no_oversell 0"),
    ]
    broken = make_summary(audit=broken_audit())
    assert results_for("violations==0", "audit.no_oversell<=1", "audit.stock_conserved==0", summary=broken) == [
        (False, "violations 2"),
        (False, "no_oversell 2"),
        (True, "stock_conserved 0"),
    ]
    assert results_for("audit.credit_conserved==0", summary=broken) == [
        (False, "invariant 'credit_conserved' was not checked in this run")
    ]


def test_exit_code_three_wins_over_one() -> None:
    summary = make_summary(audit=broken_audit())
    slow, fast, audit = parse_gates(["p95<100ms", "p95<1s", "audit.violations==0"])
    assert exit_code(evaluate([fast], summary), audit_violations=0) == ExitCode.OK
    assert exit_code(evaluate([fast], summary), audit_violations=None) == 0
    assert exit_code(evaluate([slow, fast], summary), audit_violations=0) == 1
    assert exit_code(evaluate([slow, fast], summary), audit_violations=2) == 3
    assert exit_code(evaluate([fast, audit], summary), audit_violations=None) == 3
    assert exit_code(evaluate([slow, audit], summary), audit_violations=None) == 3


def test_results_serialize_to_json() -> None:
    [result] = evaluate([parse_gate("checkout p95<800ms")], make_summary())
    assert json.loads(json.dumps(result.as_dict())) == {
        "text": "checkout p95<800ms", "selector_kind": "request", "selector": "checkout", "metric": "p95",
        "op": "<", "threshold": 800.0, "unit": "ms", "kind": "performance", "passed": False,
        "observed": "p95 812.3 ms on POST /orders/checkout/[order_id] (1 of 2 matching failed)",
    }  # fmt: skip


def validate(xml: str) -> etree._Element:
    schema = etree.XMLSchema(etree.parse(str(JUNIT_XSD)))
    document = etree.fromstring(xml.encode("utf-8"))
    schema.assertValid(document)
    return document


def test_junit_xml_all_passing_is_valid() -> None:
    summary = make_summary(audit=clean_audit())
    results = evaluate(parse_gates(["p95<1s", "journey:checkout p99<3s", "audit.violations==0"]), summary)
    document = validate(junit_xml(results, summary["audit"], duration_s=31.5))
    [suite] = document.findall("testsuite")
    counts = [suite.get(name) for name in ("tests", "failures", "errors", "skipped")]
    assert counts == ["5", "0", "0", "0"]
    assert float(suite.get("time")) == 31.5
    cases = [(case.get("classname"), case.get("name")) for case in suite.iter("testcase")]
    assert cases == [
        ("shopstorm.gates", "p95<1s"),
        ("shopstorm.gates", "journey:checkout p99<3s"),
        ("shopstorm.gates", "audit.violations==0"),
        ("shopstorm.audit", "stock_conserved"),
        ("shopstorm.audit", "no_oversell"),
    ]
    assert not document.findall(".//failure")


def test_junit_xml_failing_gates_and_invariants_are_failures() -> None:
    summary = make_summary(audit=broken_audit())
    summary["requests"][0]["name"] = "/orders/checkout/[order_id]?note=<&\x07>"  # escaped, and no control byte
    results = evaluate(parse_gates(["checkout p95<800ms", "fail_ratio<5%", "audit.violations==0"]), summary)
    document = validate(junit_xml(results, summary["audit"], suite_name="nightly"))
    [suite] = document.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("nightly", "5", "3")
    failures = {case.get("name"): case.find("failure") for case in suite.iter("testcase")}
    assert failures["fail_ratio<5%"] is None and failures["stock_conserved"] is None
    slow = failures["checkout p95<800ms"]
    assert slow.get("type") == "gate"
    assert slow.get("message").startswith(
        "checkout p95<800ms: p95 812.3 ms on POST /orders/checkout/[order_id]?note=<&"
    )
    assert "812.3 ms" in slow.text
    assert failures["audit.violations==0"].get("message") == "audit.violations==0: violations 2"
    oversell = failures["no_oversell"]
    assert oversell.get("type") == "audit"
    assert oversell.get("message") == "no_oversell: 2 finding(s) (no_oversell description)"
    assert "worst: item 3 <&>: expected 0..2, observed -4" in oversell.text
    assert "ledger: checkout order 3f2a related=user 7 amount=0 ok (HTTP 200)" in oversell.text


def test_junit_xml_without_audit_has_only_gates() -> None:
    results = evaluate([parse_gate("p95<1s")], make_summary())
    [suite] = validate(junit_xml(results, None)).findall("testsuite")
    assert [case.get("classname") for case in suite.iter("testcase")] == ["shopstorm.gates"]


def test_gate_is_frozen() -> None:
    gate = parse_gate("p95<1s")
    with pytest.raises(AttributeError):
        gate.threshold = 2.0  # type: ignore[misc]
    assert isinstance(gate, Gate) and str(gate) == "p95<1s"


def test_the_junit_schema_rejects_what_ci_servers_would() -> None:
    # The validation above is only worth something if the schema refuses a broken report.
    xml = junit_xml(evaluate([parse_gate("p95<1s")], make_summary()), None)
    validate(xml)
    for broken in (xml.replace('tests="1"', 'tests="one"'), xml.replace("<properties />", "")):
        with pytest.raises(etree.DocumentInvalid):
            validate(broken)


def test_a_target_supplies_the_gates_of_its_own_suites_environment_from_its_own_request_names():
    """Polar's LOAD_TEST_*_THRESHOLD milliseconds become p95 gates on the checkout-api's own request names (the list
    threshold under Polar's name and shopstorm's old one); another target reads none of them."""
    from shopstorm.targets.checkout_api import NAMES, CheckoutApiTarget
    from shopstorm.targets.webshop import WebshopTarget

    environ = {"LOAD_TEST_CHECKOUT_CONFIRM_THRESHOLD": "3000", "LOAD_TEST_LIST_THRESHOLD": "1000",
               "LOAD_TEST_CHECKOUT_LIST_THRESHOLD": "5"}  # fmt: skip
    gates = parse_gates(CheckoutApiTarget.environment_gates(environ))
    assert [(gate.selector, gate.metric, gate.threshold) for gate in gates] == [
        (f'"POST {NAMES["confirm"]}"', "p95", 3000.0),
        (f'"GET {NAMES["checkout"]}"', "p95", 1000.0),  # Polar's own name wins over the alias
    ]
    assert CheckoutApiTarget.environment_gates({"LOAD_TEST_CHECKOUT_LIST_THRESHOLD": "5"}) == [
        f'"GET {NAMES["checkout"]}" p95<5ms'
    ]
    assert WebshopTarget.environment_gates(environ) == []
    with pytest.raises(UsageError, match=r"\$LOAD_TEST_LIST_THRESHOLD: .* \(milliseconds\)"):
        CheckoutApiTarget.environment_gates({"LOAD_TEST_LIST_THRESHOLD": "fast"})


def test_a_bad_threshold_in_the_environment_is_one_line_and_exit_2_before_any_load(tmp_path):
    from support import run_cli

    env = {"SHOPSTORM_API_TOKEN": "t", "LOAD_TEST_LIST_THRESHOLD": "fast"}
    result = run_cli("run", "checkout-api", "--host", "http://127.0.0.1:9", "-t", "3s", "--out", str(tmp_path),
                     env=env)  # fmt: skip
    assert result.returncode == ExitCode.USAGE, result.stderr[-2000:]
    assert "$LOAD_TEST_LIST_THRESHOLD" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "summary.json").exists()
