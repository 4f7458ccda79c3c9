"""Comparing two runs' summaries: refusing incomparable runs, finding regressions, loading files cleanly."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shopstorm.errors import UsageError
from shopstorm.report.compare import compare, load_summary, parse_max_regression, render


def latency(p50: float, p95: float, p99: float) -> dict[str, float]:
    return {"count": 1000, "p50": p50, "p90": p95 * 0.9, "p95": p95, "p99": p99, "p99.9": p99 * 1.2,
            "max": p99 * 2, "mean": p50 * 1.1}  # fmt: skip


def make_summary(started_at: str = "2026-11-22T02:10:00+00:00") -> dict[str, Any]:
    """A summary.json dict of the shape docs/summary-schema.md describes."""
    return {
        "schema": "shopstorm.summary/1",
        "shopstorm_version": "0.1.0",
        "target": "webshop",
        "mixes": {"WebshopStressShopper": {"weights": {"checkout_one": 30, "browse": 70}, "think_time": [1.0, 3.0]}},
        "started_at": started_at,
        "duration_s": 30.0,
        "interrupted": False,
        "totals": {"requests": 2000, "failures": 0, "fail_ratio": 0.0, "rps": 66.7, "latency_ms": latency(5, 40, 90)},
        "requests": [
            {
                "method": "POST",
                "name": "/orders/checkout/[order_id]",
                "count": 1000,
                "failures": 0,
                "fail_ratio": 0.0,
                "rps": 33.3,
                "latency_ms": latency(10, 80, 120),
            },
            {
                "method": "GET",
                "name": "/items/[item_id]",
                "count": 1000,
                "failures": 0,
                "fail_ratio": 0.0,
                "rps": 33.3,
                "latency_ms": latency(2, 8, 12),
            },
        ],
        "journeys": [
            {
                "name": "checkout_one",
                "count": 300,
                "ok": 300,
                "failed": 0,
                "per_s": 10.0,
                "latency_ms": latency(400, 900, 1200),
                "failure_reasons": {},
            },
        ],
        "failures": [],
        "audit": None,
    }


@pytest.fixture
def base() -> dict[str, Any]:
    return make_summary()


@pytest.fixture
def new() -> dict[str, Any]:
    return make_summary("2026-11-23T02:10:00+00:00")


def test_identical_runs_have_no_regression(base: dict[str, Any], new: dict[str, Any]) -> None:
    comparison = compare(base, new, max_regression=0.10)
    assert [(row.kind, row.name) for row in comparison.rows] == [
        ("request", "POST /orders/checkout/[order_id]"),
        ("request", "GET /items/[item_id]"),
        ("journey", "checkout_one"),
    ]
    assert [c.metric for c in comparison.rows[0].changes] == ["p50", "p95", "p99", "per_s"]
    assert comparison.regressions == []
    assert comparison.exit_code == 0
    assert comparison.added == comparison.removed == []
    assert render(comparison).endswith("No regression beyond 10%.")


def test_latency_up_beyond_the_limit_is_a_regression(base: dict[str, Any], new: dict[str, Any]) -> None:
    new["requests"][0]["latency_ms"]["p95"] = 100.0  # 80 → 100: +25%
    new["requests"][0]["latency_ms"]["p99"] = 126.0  # 120 → 126: +5%, within the limit
    new["journeys"][0]["latency_ms"]["p50"] = 300.0  # faster is never a regression
    comparison = compare(base, new, max_regression=0.10)
    assert [str(r) for r in comparison.regressions] == [
        "request POST /orders/checkout/[order_id]: p95 80.0 ms → 100.0 ms (+25.0%)"
    ]
    assert comparison.exit_code == 1
    assert compare(base, new, max_regression=0.30).exit_code == 0
    table = render(comparison)
    assert "80.0 → 100.0 +25% !" in table
    assert "120.0 → 126.0 +5%" in table and "+5% !" not in table
    assert "1 regression beyond 10%:" in table


def test_throughput_down_beyond_the_limit_is_a_regression(base: dict[str, Any], new: dict[str, Any]) -> None:
    new["journeys"][0]["per_s"] = 8.0  # 10 → 8: -20%
    new["requests"][1]["rps"] = 50.0  # up: fine
    comparison = compare(base, new, max_regression=0.10)
    assert [(r.kind, r.name, r.change.metric, r.change.relative) for r in comparison.regressions] == [
        ("journey", "checkout_one", "per_s", pytest.approx(-0.2))
    ]
    assert comparison.exit_code == 1


def test_rows_in_one_run_only_are_listed_not_counted(base: dict[str, Any], new: dict[str, Any]) -> None:
    removed = new["requests"].pop(1)
    added = dict(removed, name="/items/[item_id]/reviews", latency_ms=latency(500, 900, 1000))
    new["requests"].append(added)
    comparison = compare(base, new, max_regression=0.10)
    assert comparison.added == [("request", "GET /items/[item_id]/reviews")]
    assert comparison.removed == [("request", "GET /items/[item_id]")]
    assert comparison.exit_code == 0
    table = render(comparison)
    assert "Only in the new run:\n  request GET /items/[item_id]/reviews" in table
    assert "Only in the base run:\n  request GET /items/[item_id]" in table


def test_a_zero_base_is_not_a_ratio(base: dict[str, Any], new: dict[str, Any]) -> None:
    base["journeys"][0]["latency_ms"]["p99"] = 0.0
    comparison = compare(base, new, max_regression=0.10)
    [p99] = [c for c in comparison.rows[2].changes if c.metric == "p99"]
    assert p99.relative is None and not p99.regression


def test_runs_of_different_targets_or_weights_are_refused(base: dict[str, Any], new: dict[str, Any]) -> None:
    other_target = dict(new, target="storefront")
    with pytest.raises(UsageError, match=r"target differs \(webshop → storefront\).*--allow-different") as raised:
        compare(base, other_target, max_regression=0.10)
    assert raised.value.exit_code == 2
    other_weights = copy.deepcopy(new)
    other_weights["mixes"]["WebshopStressShopper"]["weights"]["checkout_one"] = 50
    weights_differ = r"journey weights of mix WebshopStressShopper differ \(checkout_one 30 → 50\)"
    with pytest.raises(UsageError, match=weights_differ):
        compare(base, other_weights, max_regression=0.10)
    other_mix = dict(new, mixes={"StorefrontShopper": {"weights": {"browse": 1}}})
    with pytest.raises(UsageError, match=r"mixes differ \(WebshopStressShopper → StorefrontShopper\)"):
        compare(base, other_mix, max_regression=0.10)


def test_allow_different_compares_anyway_and_says_so(base: dict[str, Any], new: dict[str, Any]) -> None:
    new = dict(new, target="storefront", interrupted=True)
    comparison = compare(base, new, max_regression=0.10, allow_different=True)
    assert comparison.notes == [
        "target differs (webshop → storefront) (compared anyway)",
        "the new run was interrupted",
    ]
    assert "Note: target differs" in render(comparison)


def test_as_dict_is_json(base: dict[str, Any], new: dict[str, Any]) -> None:
    new["requests"][0]["latency_ms"]["p50"] = 20.0
    data = json.loads(json.dumps(compare(base, new, max_regression=0.1).as_dict()))
    assert data["exit_code"] == 1
    assert data["regressions"] == [
        {"kind": "request", "name": "POST /orders/checkout/[order_id]", "metric": "p50", "base": 10.0, "new": 20.0,
         "relative": 1.0, "regression": True}
    ]  # fmt: skip
    assert len(data["rows"]) == 3 and data["max_regression"] == 0.1


def test_load_summary(tmp_path: Path, base: dict[str, Any]) -> None:
    (tmp_path / "summary.json").write_text(json.dumps(base))
    assert load_summary(tmp_path / "summary.json") == base
    assert load_summary(tmp_path) == base  # a run's output folder works too


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no summary at"),
        ("{not json", "is not JSON: Expecting property name enclosed in double quotes at line 1"),
        ("[1, 2]", "is not a shopstorm summary (no schema; expected shopstorm.summary/…)"),
        ('{"target": "webshop"}', "is not a shopstorm summary (no schema;"),
        ('{"schema": "k6.summary/1"}', "is not a shopstorm summary (schema 'k6.summary/1';"),
    ],
)
def test_load_summary_refuses_cleanly(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "summary.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as raised:
        load_summary(path)
    assert message in str(raised.value) and str(path) in str(raised.value)
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(("text", "ratio"), [("10%", 0.10), ("2.5 %", 0.025), ("0.1", 0.1), ("0", 0.0), ("150%", 1.5)])
def test_parse_max_regression(text: str, ratio: float) -> None:
    assert parse_max_regression(text) == pytest.approx(ratio)


@pytest.mark.parametrize("text", ["ten", "10x", "-5%", "", "10", "1"])
def test_parse_max_regression_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="bad --max-regression"):
        parse_max_regression(text)


def test_a_percent_written_without_its_sign_is_refused_with_the_fix_not_read_as_a_thousand_percent() -> None:
    with pytest.raises(UsageError, match=r"a plain number is a ratio \(1000%\); write 10% for a percent"):
        parse_max_regression("10")


def test_summary_json_is_written_with_the_mode_of_every_other_output(tmp_path):
    from shopstorm.report.summary import write

    path = write({"schema": 1}, str(tmp_path / "out"))
    neighbour = tmp_path / "out" / "junit.xml"
    neighbour.write_text("<x/>")
    assert path.stat().st_mode & 0o777 == neighbour.stat().st_mode & 0o777  # not a temporary file's 0600
