"""A distributed run's workers, as the master sees them: who they are, their final reports, and the lost ones.

A run ends when every worker's final report is in: the master's quit waits (up to ``FINAL_REPORT_TIMEOUT_S``) for
a report each worker sent after stopping its shoppers, and a worker that quits on its own sends one before it
tells the master. Slow is not lost: a worker Locust marked missing whose process is alive is still waited for
(``MISSING_WORKER_GRACE_S``). A worker that never sent its final report is lost: it is named, a hung child of
this machine's ``--processes`` is killed, and the audit treats its unreported calls as unknown. Workers tell the
master their process id as their load starts (``WORKER_PID_MESSAGE``), before any report they may never send.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from typing import Any

import gevent
import psutil
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_MISSING, STATE_STOPPED, MasterRunner, WorkerRunner

from shopstorm.engine import locust_adapter
from shopstorm.engine.run_state import RUN, Worker

FINAL_REPORT_TIMEOUT_S = 30.0  # how long a quitting master waits for each worker's last measurements and ledger
# How long a quitting master still waits for a worker Locust marked missing (no heartbeat for ~4 s) whose process
# may yet answer: a worker paused on a saturated machine comes back; one killed on this machine is not waited for.
MISSING_WORKER_GRACE_S = 10.0
# Heartbeats a worker may miss before Locust marks it missing (Locust's own is 3, at one a second). A worker busy
# spawning shoppers on a saturated machine misses three: Locust then stops the whole load after a few seconds.
HEARTBEAT_LIVENESS = 10
WORKER_PID_MESSAGE = "shopstorm_worker_pid"  # a worker tells the master its process id as its load starts


def register_workers(runner: MasterRunner) -> None:
    """At the load's start: every connected worker, with the index its share of the seed follows."""
    RUN.shares = max(1, runner.worker_count)
    RUN.workers = {c.id: Worker(runner.get_worker_index(c.id)) for c in runner.clients.all}


def tell_master_pid(runner: WorkerRunner) -> None:
    """A worker names its process and machine to the master, before any report: it may never send one."""
    runner.send_message(WORKER_PID_MESSAGE, {"pid": os.getpid(), "host": socket.gethostname()})


def note_worker_pid(environment: Environment, msg: Message, **_: Any) -> None:
    """The master notes a worker's process id and machine (the ``WORKER_PID_MESSAGE`` handler)."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        worker = RUN.workers.setdefault(msg.node_id, Worker(runner.get_worker_index(msg.node_id)))
        data = msg.data if isinstance(msg.data, dict) else {}
        worker.pid, worker.host = data.get("pid"), data.get("host")


def note_final_report(client_id: str, runner: Any, final: bool) -> None:
    """A worker's report arrived at the master: a worker not seen at the start joins, a final one is noted."""
    if client_id not in RUN.workers and isinstance(runner, MasterRunner):
        RUN.workers[client_id] = Worker(runner.get_worker_index(client_id))
    if final:
        RUN.final_reports.add(client_id)


def send_own_final_report(environment: Environment, **_: Any) -> None:
    """A worker quitting on its own (not told to by the master) stops its shoppers and sends what it recorded."""
    runner = environment.runner
    if RUN.active and isinstance(runner, WorkerRunner) and runner.state != STATE_STOPPED:
        runner.stop()
        locust_adapter.send_final_report(runner)


def collect_final_reports(runner: MasterRunner) -> None:
    """Before the master quits: wait until every worker's last report has arrived, then name the lost ones.

    Locust's master tells its workers to quit, then waits a fixed half second for their final reports. A worker
    still stopping its shoppers on a busy machine misses that, and with it go the last seconds of its measurements
    and, worse, of its ledger: the audit would check fewer orders than were placed, and pass. So the quit waits
    (up to FINAL_REPORT_TIMEOUT_S) for a report each connected worker sent after stopping, and says so when one
    never came.
    """
    workers = _awaited(runner, grace=True)
    if RUN.active and not workers <= RUN.final_reports:
        locust_adapter.stop_and_tell_workers_to_quit(runner, workers)
        started = time.monotonic()
        while time.monotonic() - started < FINAL_REPORT_TIMEOUT_S:
            if _awaited(runner, grace=time.monotonic() - started < MISSING_WORKER_GRACE_S) <= RUN.final_reports:
                break
            gevent.sleep(0.05)
    if RUN.active:
        _account_for_lost_workers()


def every_worker_missing(runner: Any) -> bool:
    """Whether Locust marked every worker missing (it then stops the load itself)."""
    return (
        isinstance(runner, MasterRunner)
        and bool(runner.clients)
        and all(client.state == STATE_MISSING for client in runner.clients.all)
    )


def lost_workers() -> list[dict[str, Any]]:
    """The summary's list of workers lost mid-run."""
    return [{"worker": cid, "index": w.index} for cid, w in RUN.workers.items() if w.lost]


def _connected(runner: MasterRunner) -> set[str]:
    return {client.id for client in runner.clients.all if client.state != STATE_MISSING}


def _awaited(runner: MasterRunner, grace: bool) -> set[str]:
    workers = _connected(runner)
    if grace:  # a worker Locust marked missing whose process may still answer: paused is not lost (not
        # runner.clients: a worker that reports it stopped is out of it until it says it is ready again)
        workers |= {cid for cid, w in RUN.workers.items() if _may_answer(w)}
    return workers


def _may_answer(worker: Worker) -> bool:
    """Whether a worker's process may still send its final report: not one of ours that is dead (a kill -9)."""
    if worker.pid is None or worker.host != socket.gethostname():
        return True  # a worker on another machine: it may be slow, not dead
    try:
        return psutil.Process(worker.pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _account_for_lost_workers() -> None:
    """Name every worker that stopped reporting before its final report (killed, hung, cut off): its calls since
    its last report never reached the master. The audit treats them as unknown (:meth:`Target.unreported`). A hung
    worker this machine started (``--processes``) is killed: Locust would wait for it forever."""
    for client_id, worker in RUN.workers.items():
        if client_id in RUN.final_reports or worker.lost:
            continue
        worker.lost = True
        killed = _kill_hung_child(worker.pid)
        print(
            f"shopstorm: WARNING: worker {client_id} (index {worker.index}) was lost mid-run: it stopped answering "
            f"before its final report{killed}; its calls since its last report are unknown to the audit, which "
            "resolves them against the shop's state",
            file=sys.stderr,
            flush=True,
        )


def _kill_hung_child(pid: int | None) -> str:
    if pid is None:
        return ""
    try:
        if psutil.Process(pid).ppid() != os.getpid():
            return ""  # a worker on another machine, or not ours: not this run's to end
        os.kill(pid, signal.SIGKILL)
    except (psutil.Error, OSError):
        return ""
    return f" (its process {pid} did not answer and was killed)"
