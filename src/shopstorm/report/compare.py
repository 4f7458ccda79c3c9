"""Compare two runs: per request and per journey, how latency and throughput moved from a base summary to a new one.

Two runs are only comparable when they drove the same target with the same journey weights; otherwise
:func:`compare` refuses (exit code 2) unless told ``allow_different``. A latency percentile that rose by more than
``max_regression`` (a ratio: 0.10 is 10%), or a throughput that fell by more than it, is a regression; any
regression makes the comparison's exit code 1. Rows present in only one run are listed, never counted against it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shopstorm.errors import ExitCode, UsageError

SCHEMA_PREFIX = "shopstorm.summary/"
LATENCIES = ("p50", "p95", "p99")
THROUGHPUT = "per_s"
RowKind = Literal["request", "journey"]


def load_summary(path: str | Path) -> dict[str, Any]:
    """Read a summary.json (or the summary.json inside a run's output folder), refusing anything else cleanly."""
    path = Path(path)
    if path.is_dir():
        path = path / "summary.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no summary at {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read summary {path}: {error}") from None
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path} is not JSON: {error.msg} at line {error.lineno}") from None
    except ValueError as error:  # a number with more digits than Python converts
        raise UsageError(f"{path} is not JSON: {error}") from None
    except RecursionError:
        raise UsageError(f"{path} is not a shopstorm summary: nested too deeply") from None
    schema = summary.get("schema") if isinstance(summary, dict) else None
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_PREFIX):
        found = "no schema" if schema is None else f"schema {schema!r}"
        raise UsageError(f"{path} is not a shopstorm summary ({found}; expected {SCHEMA_PREFIX}…)")
    problem = _shape_problem(summary)
    if problem:
        raise UsageError(f"{path} is not a readable shopstorm summary: {problem}")
    return summary


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _shape_problem(summary: dict[str, Any]) -> str | None:
    """What keeps :func:`compare` from reading a summary: its mixes, or a request or journey row."""
    mixes = summary.get("mixes") or {}
    if not isinstance(mixes, dict) or not all(
        isinstance(mix, dict) and isinstance(mix.get("weights", {}), dict) for mix in mixes.values()
    ):
        return "'mixes' must map each mix to its weights"
    for table, name_keys, rate in (("requests", ("method", "name"), "rps"), ("journeys", ("name",), "per_s")):
        rows = summary.get(table) or []
        if not isinstance(rows, list):
            return f"{table!r} must be a list"
        for index, row in enumerate(rows):
            latency = row.get("latency_ms") if isinstance(row, dict) else None
            if (
                not isinstance(latency, dict)
                or not all(isinstance(row.get(key), str) for key in name_keys)
                or not all(_is_number(value) for value in (*(latency.get(m) for m in LATENCIES), row.get(rate)))
            ):
                return f"{table}[{index}] lacks {', '.join(name_keys)}, {rate} or latency_ms {'/'.join(LATENCIES)}"
    return None


def parse_max_regression(text: str) -> float:
    """``"10%"`` → 0.1; a plain number is a ratio below 1 (``"0.1"``): ``10`` is refused, not read as 1000%."""
    number = text.strip().removesuffix("%")
    try:
        ratio = float(number) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        raise UsageError(f"bad --max-regression {text!r}: use a percentage like 10% or a ratio like 0.1") from None
    if not 0 <= ratio < math.inf:
        raise UsageError(f"bad --max-regression {text!r}: it must be a finite number ≥ 0")
    if ratio >= 1 and not text.strip().endswith("%"):  # a percent written without its sign
        raise UsageError(
            f"bad --max-regression {text!r}: a plain number is a ratio ({ratio * 100:g}%); write {number}% for a "
            "percent, or a ratio below 1 (0.1 is 10%)"
        )
    return ratio


@dataclass(frozen=True)
class Change:
    """One metric of one row, base → new. ``relative`` is None when the base is zero (no ratio to speak of)."""

    metric: str  # p50, p95, p99 (ms) or per_s (requests or journeys per second)
    base: float
    new: float
    regression: bool

    @property
    def relative(self) -> float | None:
        return (self.new - self.base) / self.base if self.base else None

    def describe(self) -> str:
        unit = "/s" if self.metric == THROUGHPUT else " ms"
        change = f" ({self.relative:+.1%})" if self.relative is not None else ""
        return f"{self.metric} {self.base:.1f}{unit} → {self.new:.1f}{unit}{change}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "base": self.base,
            "new": self.new,
            "relative": self.relative,
            "regression": self.regression,
        }


@dataclass(frozen=True)
class Row:
    kind: RowKind
    name: str  # "POST /orders/checkout/[order_id]" for a request, the journey's name for a journey
    changes: tuple[Change, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "changes": [c.as_dict() for c in self.changes]}


@dataclass(frozen=True)
class Regression:
    kind: RowKind
    name: str
    change: Change

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.change.describe()}"


@dataclass
class Comparison:
    base_started: str
    new_started: str
    max_regression: float
    rows: list[Row]
    added: list[tuple[RowKind, str]]  # only in the new run
    removed: list[tuple[RowKind, str]]  # only in the base run
    notes: list[str] = field(default_factory=list)  # differences allowed with allow_different, interrupted runs

    @property
    def regressions(self) -> list[Regression]:
        return [Regression(row.kind, row.name, c) for row in self.rows for c in row.changes if c.regression]

    @property
    def exit_code(self) -> int:
        return ExitCode.GATE_FAILED if self.regressions else ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "base_started": self.base_started,
            "new_started": self.new_started,
            "max_regression": self.max_regression,
            "rows": [row.as_dict() for row in self.rows],
            "added": [{"kind": kind, "name": name} for kind, name in self.added],
            "removed": [{"kind": kind, "name": name} for kind, name in self.removed],
            "regressions": [{"kind": r.kind, "name": r.name, **r.change.as_dict()} for r in self.regressions],
            "notes": self.notes,
            "exit_code": int(self.exit_code),
        }


def _differences(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What makes two runs incomparable: the target, or the journey weights of their mixes."""
    found = []
    if base.get("target") != new.get("target"):
        found.append(f"target differs ({base.get('target')} → {new.get('target')})")
    base_mixes, new_mixes = base.get("mixes") or {}, new.get("mixes") or {}
    if set(base_mixes) != set(new_mixes):
        found.append(f"mixes differ ({', '.join(sorted(base_mixes))} → {', '.join(sorted(new_mixes))})")
        return found
    for name in sorted(base_mixes):
        base_weights, new_weights = base_mixes[name].get("weights", {}), new_mixes[name].get("weights", {})
        changed = [
            f"{journey} {base_weights.get(journey, '-')} → {new_weights.get(journey, '-')}"
            for journey in sorted(set(base_weights) | set(new_weights))
            if base_weights.get(journey) != new_weights.get(journey)
        ]
        if changed:
            found.append(f"journey weights of mix {name} differ ({', '.join(changed)})")
    return found


def _rows_by_name(summary: dict[str, Any]) -> dict[tuple[RowKind, str], dict[str, Any]]:
    rows: dict[tuple[RowKind, str], dict[str, Any]] = {}
    for row in summary.get("requests") or []:
        rows["request", f"{row['method']} {row['name']}"] = {**row["latency_ms"], THROUGHPUT: row["rps"]}
    for row in summary.get("journeys") or []:
        rows["journey", row["name"]] = {**row["latency_ms"], THROUGHPUT: row["per_s"]}
    return rows


def _change(metric: str, base: float, new: float, max_regression: float) -> Change:
    if not base:
        return Change(metric, base, new, regression=False)
    relative = (new - base) / base
    worse = -relative if metric == THROUGHPUT else relative
    return Change(metric, base, new, regression=worse > max_regression)


def compare(
    base: dict[str, Any], new: dict[str, Any], *, max_regression: float, allow_different: bool = False
) -> Comparison:
    differences = _differences(base, new)
    if differences and not allow_different:
        what = "; ".join(differences)
        raise UsageError(f"cannot compare these runs: {what}; pass --allow-different to compare anyway")
    base_rows, new_rows = _rows_by_name(base), _rows_by_name(new)
    rows = []
    for key, before in base_rows.items():
        if key in new_rows:
            after = new_rows[key]
            changes = tuple(_change(m, before[m], after[m], max_regression) for m in (*LATENCIES, THROUGHPUT))
            rows.append(Row(*key, changes))
    notes = [f"{difference} (compared anyway)" for difference in differences]
    notes += [
        f"the {side} run was interrupted" for side, run in (("base", base), ("new", new)) if run.get("interrupted")
    ]
    return Comparison(
        base_started=str(base.get("started_at", "")),
        new_started=str(new.get("started_at", "")),
        max_regression=max_regression,
        rows=rows,
        added=[key for key in new_rows if key not in base_rows],
        removed=[key for key in base_rows if key not in new_rows],
        notes=notes,
    )


def _cell(change: Change) -> str:
    relative = f"{change.relative:+.0%}" if change.relative is not None else "new" if change.new else "0"
    return f"{change.base:.1f} → {change.new:.1f} {relative}{' !' if change.regression else ''}"


def render(comparison: Comparison) -> str:
    """A terminal table: one line per request and journey in both runs, ``!`` marking a regression."""
    headers = (*LATENCIES, "per s")
    cells = {(row.kind, row.name): [_cell(c) for c in row.changes] for row in comparison.rows}
    width = max([len(name) for _, name in cells] + [28])
    column = max([len(cell) for line in cells.values() for cell in line] + [12])
    lines = [f"Comparing base {comparison.base_started} → new {comparison.new_started} (latency ms)"]

    def line(label: str, values: Iterable[str]) -> str:
        return f"{label:<{width}}  " + "  ".join(f"{value:>{column}}" for value in values)

    for kind, title in (("request", "Requests"), ("journey", "Journeys")):
        lines += ["", line(title, headers), "-" * (width + len(headers) * (column + 2))]
        lines += [line(name, row_cells) for (k, name), row_cells in cells.items() if k == kind]
    for label, keys in (("Only in the new run", comparison.added), ("Only in the base run", comparison.removed)):
        if keys:
            lines += ["", f"{label}:"] + [f"  {kind} {name}" for kind, name in keys]
    lines += [""] + [f"Note: {note}" for note in comparison.notes]
    limit = f"{comparison.max_regression:.0%}"
    regressions = comparison.regressions
    if regressions:
        lines.append(f"{len(regressions)} regression{'s' * (len(regressions) > 1)} beyond {limit}:")
        lines += [f"  {regression}" for regression in regressions]
    else:
        lines.append(f"No regression beyond {limit}.")
    return "\n".join(lines)
