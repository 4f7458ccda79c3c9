"""The live terminal view of a headless run: users, requests/s, failures, and elapsed time as a progress bar.

On a terminal it redraws one line every second; in a log (CI, a pipe) it prints a line every ten seconds, so
a 30-minute run does not flood the log. It reads Locust's own running totals (the master's merged stats).
"""

from __future__ import annotations

import sys
import time

import gevent
from gevent import Greenlet
from locust.env import Environment

from shopstorm.metrics.measurements import MEASUREMENTS

BAR_WIDTH = 24
_greenlet: Greenlet | None = None


def status_line(
    environment: Environment, started: float, run_time: int | None, now: float, open_model: bool = False
) -> str:
    """The status line: the run's clock, then who is shopping (the open model's arrivals started and dropped; its
    pool of shoppers is allocated up front, so its user count says nothing), requests/s and failures."""
    runner = environment.runner
    total = runner.stats.total if runner is not None else None
    elapsed = max(0.0, now - started)
    requests = total.num_requests if total else 0
    failures = total.num_failures if total else 0
    ratio = failures / requests * 100 if requests else 0.0
    rps = total.current_rps if total else 0.0
    users = runner.user_count if runner is not None else 0
    if run_time:
        done = min(1.0, elapsed / run_time)
        filled = int(done * BAR_WIDTH)
        clock = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {elapsed:4.0f}s/{run_time}s"
    else:
        clock = f"{elapsed:5.0f}s elapsed (no run time limit; Ctrl-C stops)"
    if open_model:
        arrivals = MEASUREMENTS.arrivals
        shopping = f"arrivals {arrivals['started']:>5} (dropped {arrivals['dropped']})"
    else:
        shopping = f"users {users:>4}"
    return f"{clock}  {shopping}  req/s {rps:7.1f}  failures {failures} ({ratio:.2f}%)"


def _loop(environment: Environment, started: float, run_time: int | None, open_model: bool) -> None:
    interactive = sys.stdout.isatty()
    interval = 1.0 if interactive else 10.0
    while True:
        gevent.sleep(interval)
        line = status_line(environment, started, run_time, time.time(), open_model)
        if interactive:
            sys.stdout.write("\r" + line.ljust(100))
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()


def start(
    environment: Environment, started: float, run_time: int | None, bound: str | None = None, open_model: bool = False
) -> None:
    """Say that the load has started (seeding is done) and what ends it — ``bound`` when the run stops by itself
    (``1000 checkouts``), else the run time — then keep the status line going until :func:`stop`."""
    global _greenlet
    stop()
    within = f" (at most {run_time} s)" if run_time else ""
    limit = f": {bound}{within}" if bound else f" for {run_time} s" if run_time else " with no run time limit"
    sys.stdout.write(f"load started{limit}; Ctrl-C stops it and reports\n")
    sys.stdout.flush()
    _greenlet = gevent.spawn(_loop, environment, started, run_time, open_model)


def stop() -> None:
    global _greenlet
    if _greenlet is not None:
        _greenlet.kill(block=False)
        _greenlet = None
        if sys.stdout.isatty():
            sys.stdout.write("\n")
            sys.stdout.flush()
