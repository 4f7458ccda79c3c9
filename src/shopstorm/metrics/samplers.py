"""Periodic samples taken during a run: the time series (master or local process) and each load process's CPU.

The time series is one point every few seconds: users, requests/s, failures/s and p50/p95/p99 of the requests
measured in that window (on the master, of what the workers reported in it). The CPU sampler is generator
health: a load process that runs above 90 % CPU — or whose event loop wakes up more than 100 ms late, because it
is busy or starved by other processes — queues its own requests, so the latencies it measures are overstated by
the generator, not the shop.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
import psutil

from shopstorm.metrics.measurements import MEASUREMENTS

TIMESERIES_INTERVAL = 5.0
CPU_INTERVAL = 1.0
SATURATED_PERCENT = 90.0
SATURATED_LAG = 0.1  # seconds the sampler may wake up late before the loop counts as saturated
SATURATED_SHARE = 0.10  # saturated for more than this share of the run → the summary warns


def sample_timeseries(runner: Any, points: list[dict], started: float) -> None:
    """Append a point to ``points`` every TIMESERIES_INTERVAL seconds until killed."""
    last = time.time()
    while True:
        gevent.sleep(TIMESERIES_INTERVAL)
        now = time.time()
        window, counts = MEASUREMENTS.take_window()
        seconds = max(now - last, 1e-9)
        points.append(
            {
                "t": round(now - started, 1),
                "users": runner.user_count,
                "rps": round(counts.get("requests", 0) / seconds, 2),
                "failures_per_s": round(counts.get("failures", 0) / seconds, 2),
                **{
                    f"p{p}": round(window.get_value_at_percentile(p) / 1000, 3) if window.get_total_count() else 0.0
                    for p in (50, 95, 99)
                },
            }
        )
        last = now


def sample_cpu() -> None:
    """Record this process's CPU use and event-loop lag every CPU_INTERVAL seconds until killed."""
    process = psutil.Process()
    process.cpu_percent(interval=None)  # the first reading only starts the measurement
    while True:
        asleep = time.monotonic()
        gevent.sleep(CPU_INTERVAL)
        lag = time.monotonic() - asleep - CPU_INTERVAL
        percent = process.cpu_percent(interval=None)
        MEASUREMENTS.record_cpu(percent, percent > SATURATED_PERCENT or lag > SATURATED_LAG)


def generator_health(cpu: dict[str, Any]) -> dict[str, Any]:
    """The summary's verdict on the load processes' CPU."""
    processes = [
        {"process": name or "local", "samples": h.samples, "saturated_share": round(h.saturated_share, 3)}
        for name, h in sorted(cpu.items())
        if h.samples
    ]
    saturated = [p for p in processes if p["saturated_share"] > SATURATED_SHARE]
    warning = None
    if saturated:
        worst = max(p["saturated_share"] for p in saturated)
        warning = (
            f"the load generator was saturated (above {SATURATED_PERCENT:.0f}% CPU, or its event loop more than "
            f"{SATURATED_LAG * 1000:.0f} ms late) for {worst:.0%} of the run: latencies are overstated by the "
            f"generator, not the shop; add load processes with --processes N"
        )
    return {"processes": processes, "saturated": bool(saturated), "warning": warning}
