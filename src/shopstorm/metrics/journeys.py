"""Journey metrics: one shopper's path timed end to end, apart from per-request statistics.

A journey is not a request: it is never fired as a Locust ``request`` event, so it never inflates requests/s or
the failure ratio of requests. It has its own histogram and its own outcome counts (ok / failed, with the reason
of each failure). :func:`journey_timer` is the public API for timing your own journeys::

    with journey_timer("checkout"):
        ...                       # any exception marks the journey failed, with str(exception) as reason

    @journey_timer("checkout")    # the same, as a decorator
    def checkout(self): ...

In the open model a journey also has an *intended* start (when its arrival was scheduled); its latency from that
moment includes any time it waited for a free shopper, which is what a closed-loop tool leaves out.
"""

from __future__ import annotations

import time
from contextlib import ContextDecorator
from types import TracebackType

from gevent import GreenletExit
from locust.exception import InterruptTaskSet, RescheduleTask, StopUser

from shopstorm.metrics.measurements import MEASUREMENTS, Measurements

# Exceptions that stop a shopper mid-journey: the journey neither succeeded nor failed at the shop.
_STOPPED = (GeneratorExit, KeyboardInterrupt, GreenletExit, StopUser, InterruptTaskSet, RescheduleTask)


def failure_reason(error: BaseException) -> str:
    """A short, id-free reason so that equal failures group together."""
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class journey_timer(ContextDecorator):
    """Time a journey end to end; see the module docstring.

    ``intended_start`` (wall-clock seconds) is the open model's scheduled start of this journey.
    One instance times one journey at a time; as a decorator, every call gets its own copy, so concurrent
    shoppers never share a start time.
    """

    def __init__(
        self, name: str, measurements: Measurements | None = None, *, intended_start: float | None = None
    ) -> None:
        self.name = name
        self.measurements = measurements or MEASUREMENTS
        self.intended_start = intended_start
        self._started = 0.0
        self._started_wall = 0.0

    def _recreate_cm(self) -> journey_timer:
        return journey_timer(self.name, self.measurements)

    def __enter__(self) -> journey_timer:
        if self.intended_start is not None:
            self._started_wall = time.time()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        elapsed_ms = (time.perf_counter() - self._started) * 1000
        if isinstance(exc, _STOPPED):
            return None
        failure = None if exc is None else failure_reason(exc)
        intended_ms = None
        if self.intended_start is not None:
            intended_ms = elapsed_ms + max(0.0, self._started_wall - self.intended_start) * 1000
        self.measurements.record_journey(self.name, elapsed_ms, failure, intended_ms)
        return None
