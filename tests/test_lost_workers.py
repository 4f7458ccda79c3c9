"""A load process lost mid-run (killed with SIGKILL, or hung with SIGSTOP) in a ``--processes 2`` consistency run.

Its calls since its last report never reach the master: the shop may have done them. The run names the worker,
the audit treats its unreported checkouts as unknown and resolves them against the shop's state, so a correct shop
still passes, and a shop that loses updates still fails. A hung worker the run started is ended by it.
"""

from __future__ import annotations

import json
import signal
import time

import psutil
import pytest

from support import ChaosProxy, Run


def slow_checkouts(method: str, path: str) -> str:
    """Hold each checkout a moment before the shop sees it: calls are in flight when the worker is lost."""
    return "slow" if "/orders/checkout/" in path else "pass"


@pytest.mark.parametrize(
    ("how", "fault", "code"),
    [
        (signal.SIGKILL, None, 0),
        (signal.SIGSTOP, None, 0),
        (signal.SIGKILL, "lost-update", 3),
    ],
    ids=["killed-correct-shop", "hung-correct-shop", "killed-lost-update"],
)
def test_a_lost_worker_is_named_and_its_unreported_calls_resolved_against_state(demo_shop, tmp_path, how, fault,
                                                                                 code):  # fmt: skip
    shop = demo_shop("sqlite", faults=(fault,) if fault else ())
    out = tmp_path / "out"
    victim = None
    with ChaosProxy(shop.url, rule=slow_checkouts) as proxy:
        proxy.delay_s = 0.2
        run = Run("consistency", "webshop", "--host", proxy.url, "--processes", "2", "--concurrency", "40",
                  "--users", "40", "--checkouts", "400", "--stock", "40", "--out", str(out))  # fmt: skip
        try:
            run.wait_for("load started")
            deadline = time.monotonic() + 60
            while proxy.counts.get("slow", 0) < 80:  # both workers are checking out
                assert time.monotonic() < deadline and run.process.poll() is None, "the checkouts never got going"
                time.sleep(0.02)
            victim = psutil.Process(run.process.pid).children()[0]
            victim.send_signal(how)
            returncode, stdout, stderr = run.finish(timeout=150)
        finally:
            if victim is not None and victim.is_running():
                victim.kill()
    assert "Traceback" not in stderr
    assert returncode == code, stdout[-3000:] + stderr[-2000:]
    assert "was lost mid-run" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [lost["worker"] for lost in summary["generators"]["lost_workers"]] != []
    assert len(summary["generators"]["lost_workers"]) == 1
    audit = summary["audit"]
    resolved = audit["unknowns"]["checkout"]
    assert resolved["happened"] + resolved["not_happened"] + resolved["undecidable"] > 0
    if fault is None:
        assert audit["verdict"] == "pass", [row for row in audit["invariants"] if not row["holds"]]
        assert resolved["undecidable"] == 0
    else:
        assert audit["verdict"] == "fail"
    if how == signal.SIGSTOP:
        assert "was killed" in stderr and not victim.is_running()
