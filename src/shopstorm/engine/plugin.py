"""shopstorm's Locust plugin: event listeners that seed, measure, merge and report a run.

Importing this module registers the listeners on ``locust.events`` (any locustfile that uses shopstorm's
journeys imports it). Nothing here patches Locust; the run goes through Locust's own events:

- ``init_command_line_parser``: adds the hidden ``--shopstorm-seed`` option. Locust sends custom options to
  every worker in each ``spawn`` message, before the worker fires ``test_start``: that is how a seed made on
  the master reaches workers on other machines.
- ``init``: builds one target per shopper class, applies the mix, and on the master or local runner seeds the
  shop (one line and exit code 4 when it cannot).
- ``request`` / ``report_to_master`` / ``worker_report``: HDR histograms per request name, shipped as deltas.
- ``test_start`` / ``test_stop``: the run's clock; workers adopt the master's seed.
- ``quitting``: on the master or local runner, the summary table and summary.json, and the exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from shopstorm.engine import live
from shopstorm.errors import ExitCode, ShopstormError
from shopstorm.journeys.base import Mix, ShopstormUser, apply_mix, resolve_mix
from shopstorm.metrics.journeys import MEASUREMENTS
from shopstorm.report import summary, terminal
from shopstorm.settings import Settings, load_settings

log = logging.getLogger("shopstorm")

RUN_ENV = "SHOPSTORM_RUN"  # set by `shopstorm run`: {"target": name, "settings": json}


@dataclass
class RunState:
    """What the plugin knows of the run in this process."""

    settings: Settings = field(default_factory=Settings)
    target_name: str = ""
    mixes: dict[str, Mix] = field(default_factory=dict)
    seed: dict[str, Any] = field(default_factory=dict)
    started: float | None = None
    stopped: float | None = None
    interrupted: bool = False
    active: bool = False  # False when the locustfile has no shopstorm shoppers: the plugin stays out of the way


RUN = RunState()


def run_request() -> tuple[str, Settings]:
    """The target name and settings of this run: from ``shopstorm run``, else from env and settings file."""
    text = os.environ.get(RUN_ENV)
    if text:
        request = json.loads(text)
        return request["target"], Settings.from_json(request["settings"])
    return "", load_settings()


def _is_worker(environment: Environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def _shopper_classes(environment: Environment) -> list[type[ShopstormUser]]:
    return [cls for cls in environment.user_classes if issubclass(cls, ShopstormUser)]


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument("--shopstorm-seed", default="", help=argparse.SUPPRESS, include_in_web_ui=False)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    shoppers = _shopper_classes(environment)
    if not shoppers:
        return
    target_name, settings = run_request()
    RUN.active, RUN.settings = True, settings
    try:
        for shopper in shoppers:
            shopper.target = shopper.target_class(settings)
            shopper.network_timeout = settings.request_timeout
            RUN.mixes[shopper.__name__] = mix = resolve_mix(shopper, settings)
            apply_mix(shopper, mix)
        RUN.target_name = target_name or shoppers[0].target_class.name
        if _is_worker(environment):
            return
        started = time.monotonic()
        for shopper in shoppers:
            RUN.seed[shopper.__name__] = shopper.target.seed()
            shopper.target.use_seed(RUN.seed[shopper.__name__])
        log.info("seeded the shop in %.1f s", time.monotonic() - started)
    except ShopstormError as error:
        print(f"shopstorm: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)
    if environment.parsed_options is not None:
        environment.parsed_options.shopstorm_seed = json.dumps(RUN.seed)
    _chain_sigint()


def _chain_sigint() -> None:
    """Remember a Ctrl-C (exit code 130), then interrupt the main greenlet, where Locust handles it.

    Python's own handler would raise KeyboardInterrupt in whichever greenlet happens to run — often a shopper's,
    which gevent reports with a traceback. gevent runs this handler in a greenlet of its own instead.
    """
    main = gevent.get_hub().parent

    def on_sigint() -> None:
        RUN.interrupted = True
        main.throw(KeyboardInterrupt)

    gevent.signal_handler(signal.SIGINT, on_sigint)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    if not RUN.active:
        return
    if _is_worker(environment):
        seed_text = getattr(environment.parsed_options, "shopstorm_seed", "") or "{}"
        RUN.seed = json.loads(seed_text)
        for shopper in _shopper_classes(environment):
            shopper.target.use_seed(RUN.seed.get(shopper.__name__, {}))
    MEASUREMENTS.clear()
    RUN.started, RUN.stopped = time.time(), None
    if not _is_worker(environment) and environment.parsed_options and environment.parsed_options.headless:
        live.start(environment, RUN.started, RUN.settings.run_time)


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: float, **_: Any) -> None:
    if RUN.active:
        MEASUREMENTS.record_request(f"{request_type} {name}", response_time or 0.0)


@events.report_to_master.add_listener
def _on_report_to_master(data: dict, **_: Any) -> None:
    if RUN.active:
        data["shopstorm"] = MEASUREMENTS.take_delta()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict, **_: Any) -> None:
    if RUN.active and "shopstorm" in data:
        MEASUREMENTS.merge(data["shopstorm"], worker=client_id)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    if RUN.active and not _is_worker(environment):
        RUN.stopped = time.time()
        live.stop()


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if not RUN.active or _is_worker(environment):
        return
    live.stop()
    exit_code = ExitCode.INTERRUPTED if RUN.interrupted else ExitCode.OK
    started = RUN.started or time.time()
    report = summary.build(
        environment,
        MEASUREMENTS,
        target=RUN.target_name,
        mixes=RUN.mixes,
        settings=RUN.settings,
        seed=RUN.seed,
        started=started,
        stopped=RUN.stopped or time.time(),
        interrupted=RUN.interrupted,
        exit_code=int(exit_code),
    )
    path = summary.write(report, RUN.settings.out)
    print(terminal.render(report), flush=True)
    print(f"summary: {path}", flush=True)
    environment.process_exit_code = int(exit_code)
