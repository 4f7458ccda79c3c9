"""A load process lost mid-run (killed with SIGKILL, or hung with SIGSTOP) in a ``--processes 2`` consistency run.

Its calls since its last report never reach the master: the shop may have done them. The run names the worker,
the audit treats its unreported checkouts as unknown and resolves them against the shop's state, so a correct shop
still passes, and a shop that loses updates still fails. A hung worker the run started is ended by it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import psutil
import pytest

from support import ChaosProxy, Run, cli_env, eventually, shopstorm_command


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
            eventually(lambda: proxy.counts.get("slow", 0) >= 80, "both workers checking out", alive=run.process)
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


def spawned(log: str) -> bool:
    """Locust's words once every shopper started, on time or late."""
    return "All users spawned" in log or "Spawning is complete" in log


def test_a_load_locust_stops_because_every_worker_went_missing_is_not_a_pass(demo_shop, tmp_path):
    """Locust stops the whole load when its last worker misses its heartbeats (as every worker may on a saturated
    machine), then idles until the run time is up: such a run ends at once, says why, and never exits 0."""
    shop = demo_shop("sqlite")
    out, log = tmp_path / "out", tmp_path / "stderr.log"
    command = shopstorm_command("run", "webshop", "--host", shop.url, "-u", "4", "-r", "4", "-t", "120s",
                                "--processes", "2", "--out", str(out), "--loglevel", "INFO")  # fmt: skip
    with log.open("w") as stderr_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file, text=True, env=cli_env())
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while "load started" not in process.stdout.readline():
            assert time.monotonic() < deadline and process.poll() is None, "the load never started"
        eventually(lambda: spawned(log.read_text()), "every shopper started", alive=process)
        workers = psutil.Process(process.pid).children()
        assert len(workers) == 2, [worker.cmdline() for worker in workers]
        for worker in workers:
            worker.suspend()
        eventually(lambda: "The last worker went missing" in log.read_text(), "Locust's words as it stops the load")
        time.sleep(2.0)  # the scenario: the machine frees them a moment after Locust gave up on them
        for worker in workers:
            worker.resume()
        ended = time.monotonic()
        stdout, _ = process.communicate(timeout=60)
        ended = time.monotonic() - ended
    finally:
        process.kill()
        for worker in workers:
            if worker.is_running():
                worker.kill()
    stderr = log.read_text()
    assert "Traceback" not in stderr
    assert process.returncode == 1, stdout[-3000:] + stderr[-3000:]
    assert "WARNING: the load stopped early: every worker stopped answering" in stderr
    assert ended < 40, ended  # not the 100 s left of the run time
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generators"]["stopped_early"].startswith("every worker stopped answering")
    assert summary["duration_s"] < 100
    assert summary["generators"]["lost_workers"] == [], stderr[-3000:]  # paused, not lost: their reports came
    assert min(summary["generators"]["requests_by_worker"]) > 0
