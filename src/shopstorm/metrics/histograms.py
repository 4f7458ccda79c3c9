"""HDR latency histograms keyed by name, with exact worker-to-master merging.

Locust rounds its response-time buckets to about two significant figures; shopstorm keeps an HdrHistogram
(3 significant digits, 1 µs to 1 h) per request name and per journey. A worker ships the *delta* since its last
report as the histogram's compressed encoding; the master adds it to its own. Adding HDR histograms is exact,
so the master's percentiles equal those of one histogram holding every sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_FIGURES = 3
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


@dataclass
class LatencySummary:
    """Count and percentiles of one histogram, in milliseconds."""

    count: int
    percentiles_ms: dict[str, float]
    max_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return {"count": self.count, **self.percentiles_ms, "max": self.max_ms, "mean": self.mean_ms}


def percentile_key(percentile: float) -> str:
    """``50.0`` → ``p50``, ``99.9`` → ``p99.9``."""
    return f"p{percentile:g}"


def summarize(histogram: HdrHistogram) -> LatencySummary:
    count = histogram.get_total_count()
    if count == 0:
        return LatencySummary(0, {percentile_key(p): 0.0 for p in PERCENTILES}, 0.0, 0.0)
    return LatencySummary(
        count=count,
        percentiles_ms={percentile_key(p): round(histogram.get_value_at_percentile(p) / 1000, 3) for p in PERCENTILES},
        max_ms=round(histogram.get_max_value() / 1000, 3),
        mean_ms=round(histogram.get_mean_value() / 1000, 3),
    )


class HistogramSet:
    """One histogram per name. ``record`` on the hot path; ``take_delta``/``merge`` between processes.

    A process records each sample once, into what it uses: a worker (``ships=True``) only into the delta it
    reports to the master, a local or master process only into its totals.
    """

    def __init__(self, ships: bool = False) -> None:
        self.ships = ships
        self._total: dict[str, HdrHistogram] = {}
        self._delta: dict[str, HdrHistogram] = {}

    @staticmethod
    def clamp(milliseconds: float) -> int:
        """Microseconds within the histogram's range."""
        return min(max(int(milliseconds * 1000), LOWEST_US), HIGHEST_US)

    def record(self, name: str, milliseconds: float) -> int:
        """Record one sample; returns it in microseconds, as recorded."""
        table = self._delta if self.ships else self._total
        histogram = table.get(name)
        if histogram is None:
            histogram = table[name] = new_histogram()
        micros = self.clamp(milliseconds)
        histogram.record_value(micros)
        return micros

    def take_delta(self) -> dict[str, str]:
        """Encoded histograms of what was recorded since the last call (for ``report_to_master``)."""
        delta = {name: h.encode().decode("ascii") for name, h in self._delta.items() if h.get_total_count()}
        self._delta = {}
        return delta

    def merge(self, encoded: dict[str, str]) -> None:
        """Add a worker's delta to the totals (on the master)."""
        for name, text in encoded.items():
            histogram = self._total.get(name)
            if histogram is None:
                histogram = self._total[name] = new_histogram()
            histogram.decode_and_add(text)

    def names(self) -> Iterable[str]:
        return sorted(self._total)

    def get(self, name: str) -> HdrHistogram:
        return self._total.get(name) or new_histogram()

    def summary(self, name: str) -> LatencySummary:
        return summarize(self.get(name))

    def combined(self) -> HdrHistogram:
        total = new_histogram()
        for histogram in self._total.values():
            total.add(histogram)
        return total

    def clear(self) -> None:
        self._total = {}
        self._delta = {}
