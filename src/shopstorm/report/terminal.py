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
    width = max([len(label) for label in labels] + [42])
    lines = ["", _header("Requests (latency ms)", width), "-" * (width + 66)]
    for row in requests:
        label = f"{row['method']} {row['name']}"
        lines.append(_row(label, row["count"], row["failures"], row["latency_ms"], row["rps"], width))
    totals = report["totals"]
    lines.append(_row("total", totals["requests"], totals["failures"], totals["latency_ms"], totals["rps"], width))
    lines += ["", _header("Journeys (end to end, ms)", width), "-" * (width + 66)]
    for row in journeys:
        lines.append(_row(row["name"], row["count"], row["failed"], row["latency_ms"], row["per_s"], width))
    intended = [row for row in journeys if "latency_from_intended_start_ms" in row]
    if intended:
        load = report["load"]
        lines += ["", _header("Journeys from intended start (open model)", width), "-" * (width + 66)]
        for row in intended:
            latency = row["latency_from_intended_start_ms"]
            lines.append(_row(row["name"], row["count"], row["failed"], latency, row["per_s"], width))
        lines.append(f"arrivals: {load['started']} started, {load['dropped']} dropped")
    if report.get("funnel"):
        lines += ["", "Funnel (journeys reaching each step)"]
        for row in report["funnel"]:
            conversion = "" if row["conversion"] is None else f"  {row['conversion'] * 100:5.1f}% of the step before"
            lines.append(f"  {row['step']:<12} {row['journeys']:>8}{conversion}")
    webhooks = report.get("webhooks")
    if webhooks:
        lines += ["", _header("Webhooks (confirm → delivery, ms)", width), "-" * (width + 66)]
        seconds = report.get("duration_s") or 0.0
        for kind, latency in webhooks["delivery_ms"].items():
            rate = latency["count"] / seconds if seconds > 0 else 0.0
            lines.append(_row(kind, latency["count"], 0, latency, rate, width))
        lines.append(
            f"deliveries: {webhooks['received']} received, {webhooks['valid']} from the shop, "
            f"{webhooks['rejected']} rejected, {webhooks['duplicates']} duplicates (same webhook-id, deduplicated)"
        )
    if report["failures"]:
        lines += ["", "Failures"]
        for failure in report["failures"][:10]:
            lines.append(f"{failure['occurrences']:>8}  {failure['method']} {failure['name']}: {failure['error']}")
    for missing in report.get("missing_endpoints", []):
        endpoint = f"{missing['method']} {missing['name']}"
        journeys = missing["journeys"]
        if journeys:
            needs = f"the {', '.join(journeys)} journey{'s' if len(journeys) > 1 else ''} cannot run; "
            leave_out = " ".join(f"--weight {name}=0" for name in journeys)
            lines.append(
                f"\nthe shop has no {endpoint}: {needs}{leave_out} leaves {'them' if len(journeys) > 1 else 'it'} out"
            )
        else:
            lines.append(f"\nthe shop has no {endpoint} (every answer was 404 or 405)")
    if report.get("audit"):
        lines.append(render_audit(report["audit"]))
    if report.get("gates"):
        lines += ["", "Gates"]
        for gate in report["gates"]:
            lines.append(f"  {'pass' if gate['passed'] else 'FAIL'}  {gate['text']:<40} {gate['observed']}")
    for lost in report["generators"].get("lost_workers", []):
        lines.append(
            f"\nWARNING: worker {lost['worker']} (index {lost['index']}) was lost mid-run; "
            "its unreported calls were audited as unknown outcomes"
        )
    if webhooks and webhooks["rejected"]:
        reasons = ", ".join(f"{count} {reason}" for reason, count in webhooks["rejected_by_reason"].items())
        lines.append(
            f"\nWARNING: {webhooks['rejected']} rejected webhook deliveries ({reasons}): not verifiably the shop's, "
            "or about checkouts this run did not make; neither counted nor held against the shop"
        )
    if report["generators"].get("warning"):
        lines.append(f"\nWARNING: {report['generators']['warning']}")
    state = f" (interrupted by {report.get('stopped_by') or 'a signal'})" if report["interrupted"] else ""
    lines.append(
        f"\n{report['target']}: {totals['requests']} requests in {report['duration_s']:.1f} s{state}, "
        f"{totals['failures']} failed ({totals['fail_ratio'] * 100:.2f}%)"
    )
    return "\n".join(lines)


def render_audit(audit: dict[str, Any]) -> str:
    """The audit's verdict: one line per invariant, the worst finding of each violated one, the unknowns."""
    if audit.get("verdict") in ("interrupted", "error"):
        why = "; ".join(audit.get("warnings", []))
        return f"\nAudit: {audit['verdict'].upper()}: no invariant was checked: {why}"
    broken = [row for row in audit["invariants"] if not row["holds"]]
    headline = (
        f"all {len(audit['invariants'])} invariants hold"
        if not broken
        else f"{len(broken)} of {len(audit['invariants'])} invariants violated ({audit['violations']} findings)"
    )
    lines = ["", f"Audit: {'PASS' if not broken else 'FAIL'}: {headline}"]
    for row in audit["invariants"]:
        mark = "ok  " if row["holds"] else "FAIL"
        line = f"  {mark} {row['invariant']:<24} {row['checked']:>7} checked"
        if not row["holds"]:
            worst = row["worst"]
            line += (
                f"  {row['count']} violations; worst {worst['entity']}: "
                f"expected {worst['expected']}, observed {worst['observed']}"
            )
        lines.append(line)
    tally = audit["checkouts"]
    if "acknowledged" in tally or not tally:
        lines.append(
            f"  checkouts: {tally.get('acknowledged', 0)} acknowledged, {tally.get('refused', 0)} refused, "
            f"{tally.get('unknown', 0)} unknown"
            + (f", {tally['cut_off']} cut off by the end of the run" if tally.get("cut_off") else "")
        )
    else:  # a payment platform's checkouts: confirmed, and how they ended
        lines.append("  checkouts: " + ", ".join(f"{count} {status}" for status, count in sorted(tally.items())))
    if audit.get("unchecked", {}).get("items"):
        lines.append(f"  not checked: {audit['unchecked']['items']} products bought that the seed never saw")
    unknowns = ", ".join(
        f"{kind} {r['happened']} happened / {r['not_happened']} not / {r['undecidable']} undecidable"
        for kind, r in audit["unknowns"].items()
        if any(r.values())
    )
    lines.append(f"  unknown outcomes resolved against state: {unknowns or 'none'}")
    lines.extend(f"  WARNING: {warning}" for warning in audit.get("warnings", []))
    return "\n".join(lines)
