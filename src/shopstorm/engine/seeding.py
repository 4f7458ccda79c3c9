"""The shop made ready before the load: one target per shopper class, the mix applied, the seed made and shared.

At Locust's ``init`` every process builds its targets and applies the mix; the master or local process seeds the
shop (undone when a seed is refused or interrupted). The seed reaches workers, on this machine or others, as the
hidden ``--shopstorm-seed`` option: Locust sends custom options to every worker in each ``spawn`` message, before
the worker fires ``test_start``. The master also tells them how many load processes share the seed
(``--shopstorm-workers``) and the open model's start (``--shopstorm-t0``); at ``test_start`` each worker adopts
the seed and takes its share of it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from locust.env import Environment

from shopstorm.audit.ledger import LEDGER
from shopstorm.engine.run_state import RUN
from shopstorm.errors import UsageError
from shopstorm.gates import gates_setting
from shopstorm.journeys.base import ShopstormUser, apply_mix, resolve_mix
from shopstorm.setting_values import parse_base_url
from shopstorm.settings import Settings

log = logging.getLogger("shopstorm")


def shopper_classes(environment: Environment) -> list[type[ShopstormUser]]:
    """The locustfile's shopstorm shoppers (a locustfile may hold other Users too)."""
    return [cls for cls in environment.user_classes if issubclass(cls, ShopstormUser)]


def add_hidden_options(parser: Any) -> None:
    """The ``init_command_line_parser`` listener: the options that carry the seed and the shares to workers."""
    parser.add_argument("--shopstorm-seed", default="", help=argparse.SUPPRESS, include_in_web_ui=False)
    parser.add_argument("--shopstorm-workers", default=0, type=int, help=argparse.SUPPRESS, include_in_web_ui=False)
    parser.add_argument("--shopstorm-t0", default=0.0, type=float, help=argparse.SUPPRESS, include_in_web_ui=False)


def adopt_locust_options(environment: Environment, settings: Settings) -> Settings:
    """For a plain ``locust -f`` run (not ``shopstorm run``, which hands Locust its own flags): the settings take
    Locust's ``--host``, ``-t``/``--run-time``, ``-u`` and ``--headless`` where shopstorm's own were not set, and
    Locust writes its statistics to ``--out``/locust-stats.json instead of printing tables beside shopstorm's."""
    options = environment.parsed_options
    if options is None:
        return settings
    changes: dict[str, Any] = {}
    if environment.host and not (settings.host or settings.urls):
        try:
            changes["host"] = parse_base_url(environment.host)
        except ValueError as error:
            raise UsageError(f"--host: {error}") from None
    if getattr(options, "run_time", None) and settings.run_time is None:
        changes["run_time"] = int(options.run_time)
    if getattr(options, "num_users", None) and settings.users is None:
        changes["users"] = int(options.num_users)
    if getattr(options, "headless", False):
        changes["headless"] = True
    if not (getattr(options, "json", False) or getattr(options, "json_file", None)):
        options.json_file = str(Path(settings.out) / "locust-stats")
        options.only_summary = True
    return replace(settings, **changes)


def adopt_target_host(environment: Environment) -> None:
    """Locust needs a host to start shoppers: a plain ``locust -f`` run given only ``SHOPSTORM_HOST`` (or
    ``--urls``) takes the target's."""
    if not environment.host and RUN.targets:
        environment.host = RUN.targets[0].base_url


def with_environment_gates(settings: Settings, shoppers: list[type[ShopstormUser]]) -> Settings:
    """The settings with the gates each target reads from its own suite's environment variables (Polar's
    ``LOAD_TEST_*_THRESHOLD``), parsed like every gate: a bad one is a usage error before any load."""
    texts = [
        text for cls in dict.fromkeys(s.target_class for s in shoppers) for text in cls.environment_gates(os.environ)
    ]
    if not texts:
        return settings
    try:
        return replace(settings, gates=(*settings.gates, *gates_setting(texts)))
    except ValueError as error:
        raise UsageError(str(error)) from None


def prepare_targets(shoppers: list[type[ShopstormUser]], target_name: str, settings: Settings) -> None:
    """One target per target class, shared by its shoppers; each shopper class gets its mix and limits."""
    targets: dict[type, Any] = {}
    for shopper in shoppers:
        if shopper.target_class not in targets:
            targets[shopper.target_class] = shopper.target_class(settings)
            if settings.audit:
                targets[shopper.target_class].check_audit()  # a target that cannot be audited says so now
        shopper.target = targets[shopper.target_class]
        shopper.network_timeout = settings.request_timeout
        shopper.max_body = settings.max_body
        RUN.mixes[shopper.__name__] = mix = resolve_mix(shopper, settings)
        shopper.target.check_journeys(mix.weights)
        apply_mix(shopper, mix)
    RUN.targets = list(targets.values())
    LEDGER.enabled = settings.audit or any(target.keeps_ledger for target in RUN.targets)
    RUN.target_name = target_name or shoppers[0].target_class.name
    RUN.funnel_steps = next((tuple(s.funnel_steps) for s in shoppers if getattr(s, "funnel_steps", ())), ())


def seed_shop() -> None:
    """Seed the shop through every target; a refused or interrupted seed undoes what the seeds set up."""
    started = time.monotonic()
    try:
        for target in RUN.targets:
            plan = target.seed_plan()
            print(f"seeding the shop ({target.name}{': ' + plan if plan else ''})…", flush=True)
            RUN.seed[target.name] = target.seed()
            target.use_seed(RUN.seed[target.name])
    except BaseException:  # a seed refused, or a Ctrl-C: undo what the seeds set up (a webhook registration)
        for target in RUN.targets:
            target.finish()
        raise
    log.info("seeded the shop in %.1f s", time.monotonic() - started)


def publish_seed(environment: Environment) -> None:
    """Put the seed in the hidden option Locust sends to every worker with each spawn message."""
    if environment.parsed_options is not None:
        environment.parsed_options.shopstorm_seed = json.dumps(RUN.seed)


def publish_shares(environment: Environment, t0: float) -> None:
    """The master or local process: the open model's start and how many workers share the seed, for the workers."""
    runner, options = environment.runner, environment.parsed_options
    if options is not None:
        options.shopstorm_t0 = t0
        if hasattr(runner, "worker_count"):
            options.shopstorm_workers = runner.worker_count


def adopt_seed(environment: Environment) -> tuple[tuple[int, int], float | None]:
    """A worker takes the master's seed and its share of it; returns the share and the master's t0 (if sent)."""
    runner, options = environment.runner, environment.parsed_options
    RUN.seed = json.loads(getattr(options, "shopstorm_seed", "") or "{}")
    workers = max(1, getattr(options, "shopstorm_workers", 0) or 1)
    share = (runner.worker_index % workers, workers)
    for target in {shopper.target for shopper in shopper_classes(environment)}:
        target.use_seed(RUN.seed.get(target.name, {}), share)
    return share, getattr(options, "shopstorm_t0", 0.0) or None
