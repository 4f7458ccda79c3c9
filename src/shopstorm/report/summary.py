"""summary.json: the machine-readable result of a run, with a versioned schema (docs/summary-schema.md).

Request rows take their counts and failures from Locust's merged statistics and their percentiles from
shopstorm's HDR histograms; journey rows come from the journey metrics only. The engine measures the run
(``measure`` → ``Figures``, what the gates are held against), then builds its ``RunResult`` once, when the audit,
gates and exit code are known; ``RunResult.as_json`` lays it out in the schema's order. Settings are written
without secrets. The file is written atomically (temporary file, then rename), so a reader never sees half a
summary.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locust.env import Environment

from shopstorm import __version__
from shopstorm.gates import GateResult
from shopstorm.journeys.base import Mix
from shopstorm.metrics.histograms import summarize
from shopstorm.metrics.measurements import Measurements
from shopstorm.metrics.samplers import generator_health
from shopstorm.redaction import mask_url_credentials
from shopstorm.replies import MISSING_ENDPOINT
from shopstorm.setting_values import stages_text
from shopstorm.settings import Settings

SCHEMA = "shopstorm.summary/1"

_WRAPPED_ERROR = re.compile(r"^\w+\((['\"])(?P<text>.*)\1\)$", re.DOTALL)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _plain_error(error: str) -> str:
    """``CatchResponseError('checkout refused')`` → ``checkout refused``."""
    match = _WRAPPED_ERROR.match(error.strip())
    return mask_url_credentials(match["text"] if match else error)


def _request_rows(environment: Environment, measurements: Measurements, duration: float) -> list[dict]:
    stats = environment.runner.stats if environment.runner else None
    rows = []
    for key in measurements.requests.names():
        method, _, name = key.partition(" ")
        entry = stats.entries.get((name, method)) if stats else None
        latency = measurements.requests.summary(key)
        count = entry.num_requests if entry else latency.count
        failures = entry.num_failures if entry else 0
        rows.append({
            "method": method,
            "name": name,
            "count": count,
            "failures": failures,
            "fail_ratio": round(failures / count, 6) if count else 0.0,
            "rps": round(count / duration, 3),
            "latency_ms": latency.as_dict(),
        })  # fmt: skip
    return rows


def _journey_rows(measurements: Measurements, duration: float) -> list[dict]:
    rows = []
    for name in measurements.journeys.names():
        outcomes = measurements.journey_outcomes.get(name)
        ok, failed = (outcomes.ok, outcomes.failed) if outcomes else (0, 0)
        rows.append(
            {
                "name": name,
                "count": ok + failed,
                "ok": ok,
                "failed": failed,
                "per_s": round((ok + failed) / duration, 3),
                "latency_ms": measurements.journeys.summary(name).as_dict(),
                "failure_reasons": dict(outcomes.reasons) if outcomes else {},
            }
        )
        if name in measurements.journeys_intended.names():
            intended = measurements.journeys_intended.summary(name)
            rows[-1]["latency_from_intended_start_ms"] = intended.as_dict()  # fmt: skip
    return rows


def _missing_endpoints(requests: list[dict], failures: list[dict], journeys: list[dict]) -> list[dict[str, Any]]:
    """Endpoints the shop does not have: every answer a 404 or 405 (the steps' reasons say so). Marks their request
    rows and the journeys that need them (``endpoint_missing``), and lists them once."""
    missing = []
    for row in requests:
        errors = [f["error"] for f in failures if (f["method"], f["name"]) == (row["method"], row["name"])]
        if not row["count"] or row["failures"] != row["count"] or not errors:
            continue
        if not all(MISSING_ENDPOINT in error for error in errors):
            continue
        endpoint = f"{row['method']} {row['name']}"
        row["endpoint_missing"] = True
        needed_by = []
        for journey in journeys:
            if any(f"{MISSING_ENDPOINT} {endpoint}" in reason for reason in journey["failure_reasons"]):
                journey["endpoint_missing"] = endpoint
                needed_by.append(journey["name"])
        missing.append({"method": row["method"], "name": row["name"], "answers": row["count"], "journeys": needed_by})
    return missing


def _funnel(steps: tuple[str, ...], measurements: Measurements) -> list[dict[str, Any]]:
    """How many journeys reached each step, and the conversion from the step before."""
    rows, previous = [], None
    for step in steps:
        reached = measurements.funnel.get(step, 0)
        conversion = round(reached / previous, 4) if previous else None
        rows.append({"step": step, "journeys": reached, "conversion": conversion})
        previous = reached
    return rows


def _load(settings: Settings, measurements: Measurements) -> dict[str, Any]:
    load: dict[str, Any] = {"model": "open" if settings.open_model else "closed", "iterations": settings.iterations}
    if settings.open_model:
        load.update(
            arrival_rate=settings.arrival_rate,
            stages=stages_text(settings.stages) or None,
            max_users=settings.max_users,
            max_lateness_s=settings.max_lateness,
            started=measurements.arrivals.get("started", 0),
            dropped=measurements.arrivals.get("dropped", 0),
        )
    return load


@dataclass(frozen=True)
class Figures:
    """What the load measured, in summary.json's shape: the sections the gates are held against."""

    duration_s: float
    totals: dict[str, Any]
    load: dict[str, Any]
    generators: dict[str, Any]  # workers, requests by worker, generator health
    timeseries: list[dict]
    funnel: list[dict[str, Any]]
    requests: list[dict]
    journeys: list[dict]
    failures: list[dict]
    missing_endpoints: list[dict[str, Any]]

    def with_audit(self, audit: dict[str, Any] | None) -> dict[str, Any]:
        """The figures and the audit under summary.json's names, for the gates."""
        return {"totals": self.totals, "load": self.load, "requests": self.requests, "journeys": self.journeys,
                "audit": audit}  # fmt: skip


def measure(
    environment: Environment,
    measurements: Measurements,
    *,
    settings: Settings,
    started: float,
    stopped: float,
    timeseries: list[dict] | None = None,
    funnel_steps: tuple[str, ...] = (),
) -> Figures:
    """The run's figures: Locust's merged counts and failures, shopstorm's histograms, journeys, load, generators."""
    duration = max(stopped - started, 1e-9)
    requests = _request_rows(environment, measurements, duration)
    total_count = sum(row["count"] for row in requests)
    total_failures = sum(row["failures"] for row in requests)
    stats = environment.runner.stats if environment.runner else None
    failures = [
        {
            "method": e.method,
            "name": e.name,
            "error": _plain_error(str(e.error)),
            "occurrences": e.occurrences,
        }
        for e in (stats.errors.values() if stats else [])
    ]
    journeys = _journey_rows(measurements, duration)
    missing = _missing_endpoints(requests, failures, journeys)
    return Figures(
        duration_s=round(duration, 3),
        totals={
            "requests": total_count,
            "failures": total_failures,
            "fail_ratio": round(total_failures / total_count, 6) if total_count else 0.0,
            "rps": round(total_count / duration, 3),
            "latency_ms": summarize(measurements.requests.combined()).as_dict(),
        },
        load=_load(settings, measurements),
        generators={
            "workers": len(measurements.requests_by_worker),
            "requests_by_worker": sorted(measurements.requests_by_worker.values(), reverse=True),
            **generator_health(measurements.cpu),
        },
        timeseries=timeseries or [],
        funnel=_funnel(funnel_steps, measurements),
        requests=requests,
        journeys=journeys,
        failures=sorted(failures, key=lambda f: -f["occurrences"]),
        missing_endpoints=missing,
    )


@dataclass(frozen=True)
class RunResult:
    """A finished run: built once, when the audit, the gates and the exit code are known, then serialised."""

    target: str
    mixes: dict[str, Mix]
    settings: Settings
    seed: dict[str, Any]  # what each target seeded, by target name
    started: float
    stopped: float
    interrupted: bool
    stopped_by: str | None  # the signal that stopped the run (SIGINT, SIGTERM), or None
    exit_code: int
    figures: Figures
    lost_workers: list[dict[str, Any]]  # workers lost mid-run: their unreported calls were unknown to the audit
    stopped_early: str | None  # why the load ended before its end (every worker went missing), or None
    audit: dict[str, Any] | None
    gates: list[GateResult]
    sections: dict[str, Any]  # the targets' own top-level sections (the checkout API's webhooks), last

    def as_json(self) -> dict[str, Any]:
        """summary.json's content, in its schema's order."""
        figures = self.figures
        return {
            "schema": SCHEMA,
            "shopstorm_version": __version__,
            "target": self.target,
            "mixes": {name: mix.as_dict() for name, mix in self.mixes.items()},
            "settings": self.settings.public(),
            "started_at": _iso(self.started),
            "ended_at": _iso(self.stopped),
            "duration_s": figures.duration_s,
            "interrupted": self.interrupted,
            "stopped_by": self.stopped_by,
            "exit_code": self.exit_code,
            "seed": {name: _seed_summary(data) for name, data in self.seed.items()},
            "totals": figures.totals,
            "load": figures.load,
            "generators": {
                **figures.generators,
                "lost_workers": self.lost_workers,
                "stopped_early": self.stopped_early,
            },
            "timeseries": figures.timeseries,
            "funnel": figures.funnel,
            "requests": figures.requests,
            "journeys": figures.journeys,
            "failures": figures.failures,
            "missing_endpoints": figures.missing_endpoints,
            "audit": self.audit,
            "gates": [result.as_dict() for result in self.gates],
            **self.sections,
        }


def write(report: dict[str, Any], out_dir: str) -> Path:
    """Write summary.json into ``out_dir`` atomically; returns its path."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "summary.json"
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
        file.write("\n")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(file.name, 0o666 & ~umask)  # as every other output: a temporary file is made 0600
    os.replace(file.name, path)
    return path


def _seed_summary(data: dict[str, Any]) -> dict[str, Any]:
    """What a target seeded, in short: collections as their size, a webshop's catalogue as counts; plain values
    (a product id, a stock) as they are."""
    if "items" in data or "users" in data:
        return {"mode": data.get("mode"), **{key: len(data.get(key, ())) for key in ("items", "users", "orders")}}
    return {key: len(value) if isinstance(value, list | dict) else value for key, value in data.items()}
