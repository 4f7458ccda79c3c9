"""Gates: the threshold language, its verdict, the run's exit code and a JUnit XML report of it.

A gate is a one-line contract such as ``checkout p95<800ms``, ``journey:checkout p99<2s``, ``fail_ratio<1%`` or
``audit.violations==0``. Like k6's thresholds, every gate is parsed into a :class:`Gate` before the load starts, so
a typo ends the run at once with exit code 2 and the offending token named, not after thirty minutes of load.
After the run, :func:`evaluate` holds each gate against summary.json's dict and returns the evidence (the observed
value and where it was seen); :func:`exit_code` turns the results into the run's exit code.
"""

from __future__ import annotations

import math
import operator
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shopstorm.audit.findings import INVARIANTS
from shopstorm.errors import ExitCode, UsageError
from shopstorm.metrics.histograms import PERCENTILES, percentile_key
from shopstorm.redaction import mask_url_credentials

SelectorKind = Literal["request", "journey", "total", "audit", "load"]

LATENCY_METRICS = (*(percentile_key(p) for p in PERCENTILES), "max", "mean")
ROW_METRICS = (*LATENCY_METRICS, "fail_ratio", "count", "rps")
METRIC_ALIASES = {"req/s": "rps"}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
# Each metric's base unit, and how each unit a user may write converts to it.
UNIT_SCALES: dict[str, dict[str, float]] = {
    "ms": {"": 1.0, "ms": 1.0, "s": 1000.0},
    "ratio": {"": 1.0, "%": 0.01},
    "/s": {"": 1.0},
    "": {"": 1.0},
}
JOURNEY_PREFIX = "journey:"
AUDIT_PREFIX = "audit."

_OPERATOR_AT_END = re.compile(r"(?P<op>[<>=!]+)(?P<value>[^<>=!]*)$")
_VALUE = re.compile(r"(?P<number>[-+]?[0-9.]+)?\s*(?P<unit>[a-z%]*)", re.IGNORECASE)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def base_unit(metric: str) -> str:
    if metric in LATENCY_METRICS:
        return "ms"
    return {"fail_ratio": "ratio", "rps": "/s"}.get(metric, "")


@dataclass(frozen=True)
class Gate:
    """One parsed gate. ``threshold`` is in the metric's base ``unit``: ms, a 0..1 ratio, per second, or a count."""

    text: str
    selector_kind: SelectorKind
    selector: str  # request or journey name fragment, or "a whole name" in double quotes, matched ignoring case;
    # "" for total, audit and load gates
    metric: str  # p95, fail_ratio, count, rps, violations, an audit invariant, dropped
    op: str
    threshold: float
    unit: str

    @property
    def kind(self) -> Literal["performance", "audit"]:
        return "audit" if self.selector_kind == "audit" else "performance"

    def __str__(self) -> str:
        return self.text


def parse_gate(text: str) -> Gate:
    """``"checkout p95<800ms"`` → a :class:`Gate`; a malformed gate raises :class:`UsageError` naming the bad token."""

    def bad(reason: str) -> UsageError:
        return UsageError(f"bad gate {text!r}: {reason}")

    found = _OPERATOR_AT_END.search(text)
    if found is None:
        raise bad("missing operator (use <, <=, >, >=, == or !=)")
    op, value = found["op"], found["value"].strip()
    if op not in OPERATORS:
        raise bad(f"unknown operator {op!r} (use <, <=, >, >=, == or !=)")
    left = text[: found.start()].strip()
    if not left:
        raise bad(f"missing metric before {op!r}")
    *rest, metric_token = left.rsplit(None, 1)
    selector = " ".join(rest[0].split()) if rest else ""
    metric = metric_token.lower()
    metric = METRIC_ALIASES.get(metric, metric)

    if metric == "violations" or metric.startswith(AUDIT_PREFIX):
        kind: SelectorKind = "audit"
        metric = metric.removeprefix(AUDIT_PREFIX)
        if metric != "violations" and metric not in INVARIANTS:
            invariants = ", ".join(INVARIANTS)
            raise bad(
                f"unknown audit metric {metric_token!r} (use audit.violations or audit.<invariant>: {invariants})"
            )
    elif metric == "dropped":
        kind = "load"
    elif metric.startswith(JOURNEY_PREFIX) and not selector:
        raise bad(f"missing metric after {metric_token!r} (e.g. 'journey:checkout p99<2s')")
    elif metric not in ROW_METRICS:
        raise bad(f"unknown metric {metric_token!r} (use {', '.join(ROW_METRICS)} or req/s)")
    elif selector.lower().startswith(JOURNEY_PREFIX):
        kind, selector = "journey", selector[len(JOURNEY_PREFIX) :].strip()
        if not selector:
            raise bad(f"empty journey name after {JOURNEY_PREFIX!r}")
    else:
        kind = "request" if selector else "total"
    if selector and kind in ("audit", "load"):
        raise bad(f"{metric_token!r} takes no request or journey name (found {selector!r} before it)")

    if not value:
        raise bad(f"missing value after {op!r}")
    parts = _VALUE.fullmatch(value)
    if parts is None or parts["number"] is None:
        raise bad(f"bad number {value!r}")
    try:
        number = float(parts["number"])
    except ValueError:
        raise bad(f"bad number {parts['number']!r}") from None
    if not math.isfinite(number):
        raise bad(f"number too large {parts['number'][:20]!r}…")
    written_unit, unit = parts["unit"].lower(), base_unit(metric)
    if written_unit not in ("", "ms", "s", "%"):
        raise bad(f"unknown unit {parts['unit']!r} (use ms, s or %)")
    scales = UNIT_SCALES[unit]
    if written_unit not in scales:
        fits = "".join(f"{u!r} or " for u in scales if u)
        raise bad(f"unit {parts['unit']!r} does not fit {metric} (use {fits}a plain number)")
    if unit == "ratio" and written_unit == "" and number >= 1:  # a percent written without its sign
        plain = parts["number"]
        raise bad(f"{metric} {plain} would be {number * 100:g}%: write {plain}% for a percent, or a ratio below 1 "
                  "(0.01 is 1%)")  # fmt: skip
    return Gate(text.strip(), kind, selector, metric, op, number * scales[written_unit], unit)


def parse_gates(texts: Iterable[str]) -> list[Gate]:
    """Parse every gate; if any is bad, raise the first one's error (saying how many others are bad too)."""
    gates, errors = [], []
    for text in texts:
        try:
            gates.append(parse_gate(text))
        except UsageError as error:
            errors.append(error)
    if errors:
        more = f" (and {len(errors) - 1} more bad gate{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
        raise UsageError(f"{errors[0]}{more}")
    return gates


def gates_from_settings_table(table: Mapping[str, Any]) -> list[str]:
    """A ``[gates]`` table → gate texts: ``checkout = "p95<800ms"`` → ``"checkout p95<800ms"``.

    A list value gives one gate per item. A dotted key (``audit.violations = "==0"``) arrives from TOML as a
    nested table and is joined back with dots.
    """
    texts = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            texts += gates_from_settings_table({f"{key}.{inner}": v for inner, v in value.items()})
            continue
        for condition in value if isinstance(value, list) else [value]:
            if not isinstance(condition, str):
                raise UsageError(f"bad [gates] entry {key!r}: {condition!r} is not a string like 'p95<800ms'")
            condition = condition.strip()
            texts.append(f"{key}{condition}" if condition[:1] in ("<", ">", "=", "!") else f"{key} {condition}")
    return texts


def gates_setting(value: Any) -> tuple[Gate, ...]:
    """The ``gates`` setting from flags (a list), an environment variable (``;``-separated) or the settings file (a
    list or a ``[gates]`` table), parsed: a typo fails before any load (ValueError, as every setting's parser)."""
    try:
        if isinstance(value, Mapping):
            texts = gates_from_settings_table(value)
        elif isinstance(value, list | tuple):
            texts = [gate.text if isinstance(gate, Gate) else str(gate) for gate in value]
        else:
            texts = [part for part in str(value).split(";") if part.strip()]
        return tuple(parse_gates(texts))
    except UsageError as error:
        raise ValueError(str(error)) from None


@dataclass
class GateResult:
    gate: Gate
    passed: bool
    observed: str  # what was seen and where, e.g. "p95 812.3 ms on POST /orders/checkout/[order_id]"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.gate), "kind": self.gate.kind, "passed": self.passed, "observed": self.observed}


def _format(metric: str, value: float) -> str:
    unit = base_unit(metric)
    if unit == "ms":
        return f"{metric} {value:.1f} ms"
    if unit == "ratio":
        return f"{metric} {value * 100:.2f}%"
    if unit == "/s":
        return f"{metric} {value:.1f}/s"
    return f"{metric} {value:g}"


def _row_value(metric: str, row: Mapping[str, Any], source: SelectorKind) -> float:
    if metric in LATENCY_METRICS:
        return float(row["latency_ms"][metric])
    if metric == "count":
        return float(row["requests"] if source == "total" else row["count"])
    if metric == "rps":
        return float(row["per_s"] if source == "journey" else row["rps"])
    if source == "journey":  # fail_ratio of a journey: its failed share
        return row["failed"] / row["count"] if row["count"] else 0.0
    return float(row["fail_ratio"])


def _matches(selector: str, row: Mapping[str, Any], source: SelectorKind) -> bool:
    """A name fragment matches every name containing it; a name in double quotes matches that name only."""
    selector = selector.lower()
    names = (
        [row["name"].lower()]
        if source == "journey"
        else [row["name"].lower(), f"{row['method']} {row['name']}".lower()]
    )
    if len(selector) > 1 and selector[0] == selector[-1] == '"':
        return selector[1:-1] in names
    return any(selector in name for name in names)


def _label(row: Mapping[str, Any], source: SelectorKind) -> str:
    return row["name"] if source == "journey" else f"{row['method']} {row['name']}"


def _evaluate_rows(gate: Gate, summary: Mapping[str, Any]) -> GateResult:
    holds = OPERATORS[gate.op]
    source = gate.selector_kind
    table = summary.get("requests" if source == "request" else "journeys") or []
    rows = [row for row in table if _matches(gate.selector, row, source)]
    if not rows:
        return GateResult(gate, False, f"no {source} matched {gate.selector!r}")
    seen = [(_row_value(gate.metric, row, source), _label(row, source)) for row in rows]
    failing = [pair for pair in seen if not holds(pair[0], gate.threshold)]
    # Show the row that fails, or the one closest to failing: the highest for an upper bound, the lowest for a lower.
    candidates = failing or seen
    if gate.op in ("<", "<="):
        value, label = max(candidates)
    elif gate.op in (">", ">="):
        value, label = min(candidates)
    else:
        value, label = candidates[0]
    observed = f"{_format(gate.metric, value)} on {label}"
    if len(seen) > 1:
        observed += f" ({len(failing)} of {len(seen)} matching failed)" if failing else f" (all {len(seen)} matching)"
    return GateResult(gate, not failing, observed)


def _evaluate_one(gate: Gate, summary: Mapping[str, Any]) -> GateResult:
    if gate.selector_kind in ("request", "journey"):
        return _evaluate_rows(gate, summary)
    if gate.selector_kind == "audit":
        audit = summary.get("audit")
        if not audit:
            return GateResult(gate, False, "no audit in this run")
        if audit.get("verdict") in ("interrupted", "error"):
            what = "was interrupted" if audit["verdict"] == "interrupted" else "failed"
            return GateResult(gate, False, f"the audit {what} before it checked anything")
        if gate.metric == "violations":
            value = float(audit["violations"])
        else:
            row = next((r for r in audit.get("invariants", []) if r["invariant"].lower() == gate.metric), None)
            if row is None:
                return GateResult(gate, False, f"invariant {gate.metric!r} was not checked in this run")
            value = float(row["count"])
        observed = _format(gate.metric, value)
    elif gate.selector_kind == "load":
        value = float((summary.get("load") or {}).get("dropped", 0))
        observed = f"{_format(gate.metric, value)} arrivals"
    else:
        value = _row_value(gate.metric, summary["totals"], "total")
        observed = f"{_format(gate.metric, value)} over all requests"
    return GateResult(gate, OPERATORS[gate.op](value, gate.threshold), observed)


def evaluate(gates: list[Gate], summary: Mapping[str, Any]) -> list[GateResult]:
    """Hold every gate against a summary.json dict (docs/summary-schema.md)."""
    return [_evaluate_one(gate, summary) for gate in gates]


def exit_code(results: list[GateResult], audit_violations: int | None) -> int:
    """0 all passed; 1 a performance gate failed; 3 the audit found violations or an audit gate failed (3 wins)."""
    if audit_violations or any(not r.passed and r.gate.kind == "audit" for r in results):
        return ExitCode.AUDIT_FAILED
    if any(not r.passed for r in results):
        return ExitCode.GATE_FAILED
    return ExitCode.OK


def _xml_text(text: Any) -> str:
    """Text that XML 1.0 can hold: request names and findings come from the shop and may carry control bytes."""
    return _NOT_XML.sub("\ufffd", mask_url_credentials(str(text)))


def _finding_text(finding: Mapping[str, Any]) -> str:
    lines = [f"worst: {finding['entity']}: expected {finding['expected']}, observed {finding['observed']}"]
    if finding.get("note"):
        lines.append(f"note: {finding['note']}")
    for entry in finding.get("ledger", []):
        lines.append(
            f"ledger: {entry['kind']} {entry['entity']} related={entry['related']} amount={entry['amount']} "
            f"{entry['outcome']} ({entry['detail']}) at {entry['at']}"
        )
    return "\n".join(lines)


def junit_xml(
    results: list[GateResult],
    audit: Mapping[str, Any] | None,
    *,
    suite_name: str = "shopstorm",
    duration_s: float = 0.0,
) -> str:
    """A JUnit XML report (Apache Ant's format): one test case per gate and one per audit invariant."""
    # classname, name, and for a failed case: the failure's type, message and text
    cases: list[tuple[str, str, tuple[str, str, str] | None]] = []
    for result in results:
        gate = result.gate
        failure = None if result.passed else ("gate", f"{gate.text}: {result.observed}", f"observed {result.observed}")
        cases.append(("shopstorm.gates", gate.text, failure))
    for row in (audit or {}).get("invariants", []):
        failure = None
        if not row["holds"]:
            message = f"{row['invariant']}: {row['count']} finding(s) ({row.get('description', '')})"
            failure = ("audit", message, _finding_text(row["worst"]) if row.get("worst") else message)
        cases.append(("shopstorm.audit", row["invariant"], failure))

    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", {
        "name": _xml_text(suite_name),
        "package": _xml_text(suite_name),
        "id": "0",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "hostname": _xml_text(socket.gethostname() or "localhost"),
        "tests": str(len(cases)),
        "failures": str(sum(failure is not None for _, _, failure in cases)),
        "errors": "0",
        "skipped": "0",
        "time": f"{max(duration_s, 0.0):.3f}",
    })  # fmt: skip
    ET.SubElement(suite, "properties")
    for classname, name, failure in cases:
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": _xml_text(name), "time": "0"})
        if failure is not None:
            kind, message, text = failure
            ET.SubElement(case, "failure", {"message": _xml_text(message), "type": kind}).text = _xml_text(text)
    ET.SubElement(suite, "system-out")
    ET.SubElement(suite, "system-err")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
