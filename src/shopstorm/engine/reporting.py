"""The run's result, once the load has stopped: the audit, summary.json, the gates, JUnit XML, the table, the exit code.

Runs on the master or local process at ``quitting``. The audit (when asked for) reads the shop's state back through
the target and holds it against the seed and the merged ledger, with a lost worker's unreported calls as unknowns;
it runs in a greenlet of its own so a signal can cut it short. The exit code is the gates' (3 when the audit found
violations), else Locust's convention (the ``--exit-code-on-error`` code, 1 by default, when any request failed),
and 128 + the signal when one stopped the run.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment

from shopstorm import gates
from shopstorm.audit.invariants import interrupted_audit
from shopstorm.audit.ledger import LEDGER
from shopstorm.engine import signals, workers
from shopstorm.engine.run_state import RUN
from shopstorm.engine.seeding import shopper_classes
from shopstorm.errors import ExitCode
from shopstorm.metrics.measurements import MEASUREMENTS
from shopstorm.redaction import mask_url_credentials, mask_url_credentials_in
from shopstorm.report import summary, terminal

log = logging.getLogger("shopstorm")


def report_run(environment: Environment) -> None:
    """The audit (when asked for), summary.json, the gates, JUnit XML, the terminal table and the exit code."""
    audit = _audit(environment) if RUN.settings.audit else None
    stop = signals.STOP
    started, stopped = RUN.started or time.time(), RUN.stopped or time.time()
    figures = summary.measure(
        environment,
        MEASUREMENTS,
        settings=RUN.settings,
        started=started,
        stopped=stopped,
        timeseries=RUN.timeseries,
        funnel_steps=RUN.funnel_steps,
    )
    sections: dict[str, Any] = {}
    for target in RUN.targets:
        sections.update(target.report_sections(LEDGER.entries))
    results = gates.evaluate(list(RUN.settings.gates), figures.with_audit(audit))
    exit_code = _verdict(environment, results, audit, figures)
    result = summary.RunResult(
        target=RUN.target_name,
        mixes=RUN.mixes,
        settings=RUN.settings,
        seed=RUN.seed,
        started=started,
        stopped=stopped,
        interrupted=stop.signal is not None,
        stopped_by=stop.signal_name,
        exit_code=int(stop.exit_code if stop.exit_code is not None else exit_code),
        figures=figures,
        lost_workers=workers.lost_workers(),
        stopped_early=RUN.stopped_early,
        audit=audit,
        gates=results,
        sections=sections,
    )
    # a shop's URL in a failure, a warning or a finding may carry a password
    report = mask_url_credentials_in(result.as_json())
    path = summary.write(report, RUN.settings.out)
    if RUN.settings.junit:
        junit = gates.junit_xml(results, audit, duration_s=figures.duration_s)
        Path(RUN.settings.junit).parent.mkdir(parents=True, exist_ok=True)
        Path(RUN.settings.junit).write_text(junit, encoding="utf-8")
    print(terminal.render(report), flush=True)
    print(f"summary: {path}", flush=True)
    environment.process_exit_code = result.exit_code


def _verdict(
    environment: Environment, results: list[gates.GateResult], audit: dict[str, Any] | None, figures: summary.Figures
) -> int:
    """The exit code before any signal: the gates' (3 when the audit found violations), 1 when the audit gave no
    verdict or the load stopped early, else Locust's convention for failed requests."""
    exit_code = gates.exit_code(results, audit["violations"] if audit else None)
    if exit_code == ExitCode.OK and audit and audit["verdict"] == "error":
        exit_code = ExitCode.GATE_FAILED  # no verdict is not a pass
    if RUN.stopped_early and signals.STOP.signal is None:
        print(f"shopstorm: WARNING: the load stopped early: {RUN.stopped_early}; the figures cover "
              f"{figures.duration_s:.1f} s, not the run asked for", file=sys.stderr, flush=True)  # fmt: skip
        if exit_code == ExitCode.OK:
            exit_code = ExitCode.GATE_FAILED  # a load that did not run is not a pass
    if exit_code == ExitCode.OK and not results and RUN.settings.mix != "consistency" and figures.totals["failures"]:
        # Locust's convention without gates: a run with failed requests exits --exit-code-on-error (default 1).
        # Expected refusals are not failures; the consistency test's verdict is its audit's.
        exit_code = getattr(environment.parsed_options, "exit_code_on_error", 1)
    return exit_code


def _audit(environment: Environment) -> dict[str, Any]:
    """Read the shop's state back through the target and hold it against the seed and the merged ledger.

    The audit runs in a greenlet of its own, so a signal during it can cut it short: the summary then says the
    audit was interrupted, and which invariants it had checked (none, when the state was still being read)."""
    target = shopper_classes(environment)[0].target
    started = time.monotonic()
    print(f"auditing {len(LEDGER.entries)} ledger entries against the shop's state...", flush=True)
    entries = list(LEDGER.entries)
    for worker in RUN.workers.values():
        if worker.lost:
            entries += target.unreported((worker.index % RUN.shares, RUN.shares), LEDGER.entries)

    def audit() -> Any:  # the result, or the exception: gevent would print a failed greenlet's traceback
        try:
            return target.audit(entries)
        except Exception as error:  # a bug, or an answer nobody foresaw: the finished run is still reported
            log.debug("the audit failed", exc_info=True)
            return error

    auditor = gevent.spawn(audit)
    signals.STOP.on_report_signal = lambda: auditor.kill(signals.AuditInterrupted, block=False)
    try:
        outcome = auditor.get()
    finally:
        signals.STOP.on_report_signal = None
    if isinstance(outcome, signals.AuditInterrupted):
        print("shopstorm: the audit was interrupted before it finished: nothing was checked", file=sys.stderr)
        result = interrupted_audit()
    elif isinstance(outcome, Exception):
        why = f"the audit could not finish: {type(outcome).__name__}: {mask_url_credentials(str(outcome))[:200]}"
        print(f"shopstorm: {why}", file=sys.stderr)
        result = {**interrupted_audit(why), "verdict": "error"}
    else:
        result = outcome.as_dict()
    result["ledger_entries"] = len(LEDGER.entries)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result
