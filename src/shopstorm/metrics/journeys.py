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
from time import perf_counter
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


def journey_ended(
    name: str,
    started: float,
    error: BaseException | None = None,
    intended_start: float | None = None,
    started_wall: float = 0.0,
    measurements: Measurements = MEASUREMENTS,
) -> None:
    """Record a journey that started at ``time.perf_counter()`` ``started`` and ends now: failed when it raised
    ``error``, not at all when the error stopped the shopper. In the open model, ``intended_start`` and
    ``started_wall`` are its scheduled and its actual start (wall clock). :class:`journey_timer` is built on it;
    shopstorm's ``@journey`` calls it directly, for no object per journey on the hot path.
    """
    elapsed_ms = (perf_counter() - started) * 1000
    failure = None
    if error is not None:
        if isinstance(error, _STOPPED):
            return
        failure = failure_reason(error)
    intended_ms = None
    if intended_start is not None:
        intended_ms = elapsed_ms + max(0.0, started_wall - intended_start) * 1000
    measurements.record_journey(name, elapsed_ms, failure, intended_ms)


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
        self._started = perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        journey_ended(self.name, self._started, exc, self.intended_start, self._started_wall, self.measurements)
        return None
