"""Webhook delivery latency: from a checkout's confirm to the first arrival of each of its events, per event type.

Made once, after the run, from the confirm times the ledger holds and the deliveries the webhook receiver kept
(summary.json's ``webhooks.delivery_ms``). An event counts at its first valid arrival for its checkout; duplicates,
rejected deliveries and events about checkouts never confirmed are left out. Each event type's latencies go into
an HDR histogram of :mod:`shopstorm.metrics.histograms`, summarised like a request's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from shopstorm.metrics.histograms import HIGHEST_US, LOWEST_US, new_histogram, summarize


class Arrival(Protocol):
    """What delivery latency reads of one webhook the receiver got."""

    @property
    def valid(self) -> bool: ...
    @property
    def duplicate(self) -> bool: ...
    @property
    def checkout_id(self) -> str | None: ...
    @property
    def event_type(self) -> str: ...
    @property
    def received_at(self) -> float: ...


def delivery_latency(confirmed: Mapping[str, float], arrivals: Iterable[Arrival]) -> dict[str, dict[str, float | int]]:
    """Per event type, the summary of confirm → first arrival in milliseconds. ``confirmed`` is when each
    checkout's confirm (or provider event) was acknowledged, by checkout id, in epoch seconds."""
    first: dict[tuple[str, str], float] = {}
    for arrival in arrivals:
        if arrival.valid and not arrival.duplicate and arrival.checkout_id in confirmed:
            key = (arrival.event_type, arrival.checkout_id)
            first[key] = min(first.get(key, arrival.received_at), arrival.received_at)
    latencies: dict[str, list[float]] = {}
    for (event_type, checkout_id), arrived in first.items():
        latencies.setdefault(event_type, []).append(max(0.0, arrived - confirmed[checkout_id]) * 1000)
    return {event_type: _summary(values) for event_type, values in sorted(latencies.items())}


def _summary(values_ms: list[float]) -> dict[str, float | int]:
    histogram = new_histogram()
    for milliseconds in values_ms:  # a few per checkout, after the run: record_value's cost does not matter here
        histogram.record_value(min(max(int(milliseconds * 1000), LOWEST_US), HIGHEST_US))
    return summarize(histogram).as_dict()
