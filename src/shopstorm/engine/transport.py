"""Measurements and ledger from every load process to the one that reports: recorded per request, shipped as deltas.

Each request's time goes into the process's HDR histograms. A worker adds what it recorded since its last report
to every ``report_to_master`` (measurements, and the ledger when one is kept), and marks the report final when its
shoppers are stopped: nothing is recorded after it, so it completes that worker's share. The master merges each
``worker_report`` exactly and notes the final ones (engine/workers.py waits for them before it quits).
"""

from __future__ import annotations

from typing import Any

from locust.runners import STATE_STOPPED

from shopstorm.audit.ledger import LEDGER
from shopstorm.engine import workers
from shopstorm.engine.run_state import RUN
from shopstorm.metrics.measurements import MEASUREMENTS

_request_keys: dict[tuple[str, str], str] = {}  # (method, name) → "METHOD name", built once per name


def record_request(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int = 0,
    response: Any = None,
    context: Any = None,
    exception: Any = None,
    start_time: float | None = None,
    url: str | None = None,
    **_: Any,
) -> None:
    """The ``request`` listener: one request's time into the histogram of its method and name."""
    # Every keyword Locust fires a request with has a parameter, so no dict of leftovers is built per request.
    if RUN.active:
        key = _request_keys.get((request_type, name))
        if key is None:
            key = _request_keys[request_type, name] = f"{request_type} {name}"
        MEASUREMENTS.record_request(key, response_time or 0.0, exception is not None)


def ship_deltas(data: dict, **_: Any) -> None:
    """The ``report_to_master`` listener: a worker's measurements and ledger since its last report."""
    if RUN.active:
        data["shopstorm"] = MEASUREMENTS.take_delta()
        if LEDGER.enabled:
            data["shopstorm_ledger"] = LEDGER.take_delta()
        # sent once the shoppers are stopped: nothing is recorded after it, so it completes this worker's share
        runner = RUN.environment.runner if RUN.environment else None
        data["shopstorm_final"] = runner is not None and runner.state == STATE_STOPPED


def merge_deltas(client_id: str, data: dict, **_: Any) -> None:
    """The ``worker_report`` listener: the master merges a worker's deltas and notes a final report."""
    if RUN.active and "shopstorm" in data:
        runner = RUN.environment.runner if RUN.environment else None
        MEASUREMENTS.merge(data["shopstorm"], worker=client_id)
        LEDGER.merge(data.get("shopstorm_ledger", []))
        workers.note_final_report(client_id, runner, bool(data.get("shopstorm_final")))
