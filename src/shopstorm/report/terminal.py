"""The summary table printed at the end of a run: per request name and per journey, latencies in ms."""

from __future__ import annotations

from typing import Any

COLUMNS = ("count", "fail", "p50", "p95", "p99", "max", "per s")


def _row(label: str, count: int, failed: int, latency: dict[str, float], rate: float, width: int) -> str:
    cells = (
        f"{count:>8}",
        f"{failed:>6}",
        *(f"{latency[key]:>9.1f}" for key in ("p50", "p95", "p99", "max")),
        f"{rate:>8.1f}",
    )
    return f"{label:<{width}} " + " ".join(cells)


def _header(title: str, width: int) -> str:
    widths = (8, 6, 9, 9, 9, 9, 8)
    return f"{title:<{width}} " + " ".join(f"{c:>{w}}" for c, w in zip(COLUMNS, widths, strict=True))


def render(report: dict[str, Any]) -> str:
    requests, journeys = report["requests"], report["journeys"]
    labels = [f"{r['method']} {r['name']}" for r in requests] + [j["name"] for j in journeys]
    width = max([len(label) for label in labels] + [28])
    lines = ["", _header("Requests (latency ms)", width), "-" * (width + 66)]
    for row in requests:
        label = f"{row['method']} {row['name']}"
        lines.append(_row(label, row["count"], row["failures"], row["latency_ms"], row["rps"], width))
    totals = report["totals"]
    lines.append(_row("total", totals["requests"], totals["failures"], totals["latency_ms"], totals["rps"], width))
    lines += ["", _header("Journeys (end to end, ms)", width), "-" * (width + 66)]
    for row in journeys:
        lines.append(_row(row["name"], row["count"], row["failed"], row["latency_ms"], row["per_s"], width))
    if report["failures"]:
        lines += ["", "Failures"]
        for failure in report["failures"][:10]:
            lines.append(f"{failure['occurrences']:>8}  {failure['method']} {failure['name']}: {failure['error']}")
    state = " (interrupted)" if report["interrupted"] else ""
    lines.append(
        f"\n{report['target']}: {totals['requests']} requests in {report['duration_s']:.1f} s{state}, "
        f"{totals['failures']} failed ({totals['fail_ratio'] * 100:.2f}%)"
    )
    return "\n".join(lines)
