"""What this process knows of the run: its settings, targets, seed, clock and, on a master, its workers.

Locust's events are process-wide, and so is this state: one ``RUN`` per process, filled by the listeners
(engine/plugin.py) as the run goes. ``run_request`` says which target and settings the run was started with.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from locust.env import Environment
from locust.runners import WorkerRunner

from shopstorm.engine.launch import RUN_ENV
from shopstorm.journeys.base import Mix
from shopstorm.settings import Settings, load_settings


@dataclass
class Worker:
    """A load process as the master knows it: the index its share of the seed follows, and its process id once
    it reported (to end a hung one started by this machine's ``--processes``)."""

    index: int
    pid: int | None = None
    host: str | None = None  # the machine it runs on, as it named itself
    lost: bool = False  # stopped reporting before its final report: its last calls never reached the master


@dataclass
class RunState:
    """What the plugin knows of the run in this process."""

    settings: Settings = field(default_factory=Settings)
    target_name: str = ""
    mixes: dict[str, Mix] = field(default_factory=dict)
    seed: dict[str, Any] = field(default_factory=dict)
    started: float | None = None
    stopped: float | None = None
    timeseries: list[dict] = field(default_factory=list)
    samplers: list[Any] = field(default_factory=list)  # greenlets sampling CPU and the time series
    funnel_steps: tuple[str, ...] = ()  # the mix's funnel, in order, when its shoppers report one
    stopped_early: str | None = None  # why the load ended before its end by itself (every worker went missing)
    watcher: Any = None  # the greenlet that ends a headless run once every shopper has stopped
    active: bool = False  # False when the locustfile has no shopstorm shoppers: the plugin stays out of the way
    environment: Environment | None = None
    targets: list[Any] = field(default_factory=list)  # this process's targets, one per target class
    final_reports: set[str] = field(default_factory=set)  # master: workers whose report after stopping arrived
    workers: dict[str, Worker] = field(default_factory=dict)  # master: every worker of the run, by client id
    shares: int = 1  # master: how many load processes share the seed (as told to the workers)


RUN = RunState()


def run_request() -> tuple[str, Settings]:
    """The target name and settings of this run: from ``shopstorm run``, else from env and settings file."""
    text = os.environ.get(RUN_ENV)
    if text:
        request = json.loads(text)
        return request["target"], Settings.from_json(request["settings"])
    return "", load_settings()


def is_worker(environment: Environment) -> bool:
    """Whether this process is a worker of a distributed run (it ships its measurements to the master)."""
    return isinstance(environment.runner, WorkerRunner)


def headless(runner: Any) -> bool:
    """Whether the run has no web UI: then it ends by itself (run time, bound, or every shopper stopped)."""
    options = runner.environment.parsed_options
    return bool(options is not None and options.headless)
