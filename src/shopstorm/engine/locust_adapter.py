"""Every use of Locust's internals, in one place: what shopstorm needs from Locust that no public event gives.

shopstorm hangs on Locust's public events everywhere else. Four behaviours have no event or option, and each
function here works around one of them, naming the Locust code it relies on. ``SUPPORTED_LOCUST`` is the range of
Locust versions this was written for; tests/test_locust_adapter.py checks the installed Locust is inside it and
that every attribute used here still has the shape relied on, so an upgrade fails that test instead of quietly
losing a worker's last ledger entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from locust import runners as locust_runners
from locust.rpc import Message
from locust.runners import MasterRunner, WorkerRunner

SUPPORTED_LOCUST = ">=2.43,<3"  # keep pyproject.toml's locust requirement the same


def raise_heartbeat_liveness(beats: int) -> None:
    """Let a worker miss up to ``beats`` heartbeats (one a second) before the master marks it missing.

    Locust's master marks a worker missing after ``locust.runners.HEARTBEAT_LIVENESS`` (3) missed heartbeats, and
    stops the whole load when the last one goes missing; a worker spawning shoppers on a saturated machine misses
    three. Locust has no option for it: the module constant is the setting, read each time a worker connects or
    sends a heartbeat (``MasterRunner.handle_message``), so raising it before the run is enough. Never lowered."""
    locust_runners.HEARTBEAT_LIVENESS = max(locust_runners.HEARTBEAT_LIVENESS, beats)


def send_final_report(runner: WorkerRunner) -> None:
    """Send the worker's report now: ``report_to_master`` fires and the data goes to the master at once.

    Locust's worker sends a last report only when the master tells it to quit (``WorkerRunner._send_stats`` in its
    "quit" message handler); a worker that quits on its own (Ctrl-C, SIGTERM) only tells the master it leaves, and
    its last seconds of measurements and ledger would be lost. Locust has no public way to send a report out of
    its two-second cycle, so this calls the same private method its quit handler calls."""
    runner._send_stats()


def stop_and_tell_workers_to_quit(runner: MasterRunner, workers: Iterable[str]) -> None:
    """Stop the load and send Locust's own "quit" message to the given workers, without waiting.

    This is the first half of ``MasterRunner.quit`` (which then waits a fixed 0.5 s for the workers' final reports
    and ends the master), made to address workers Locust no longer counts (marked missing, yet alive) and to leave
    the waiting to the caller. A worker handles "quit" by stopping its shoppers and sending its final report."""
    runner.stop(send_stop_to_client=False)
    for worker in workers:
        runner.server.send_to_client(Message("quit", None, worker))


def run_before_quit(runner: MasterRunner, before_quit: Callable[[], None]) -> None:
    """Make every call of the master's ``quit`` run ``before_quit`` first, then Locust's own quit.

    Locust calls ``runner.quit()`` itself from many places (run time reached, the last worker gone, a load
    shape's end) and only fires ``quitting`` after it, once the master's greenlets are dead; its quit waits a
    fixed 0.5 s for the workers' final reports, which a busy worker misses. No event fires between "workers told
    to quit" and "master ended", so the one way to wait for the reports on every path is to wrap the method."""
    locust_quit = runner.quit

    def quit() -> None:
        before_quit()
        locust_quit()

    runner.quit = quit  # type: ignore[method-assign]
