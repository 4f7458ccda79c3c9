"""The load's course in this process: its start (clock, pacing, samplers, live view), its end, and an early stop.

At ``test_start`` the clock starts and the measurements and ledger are cleared; processes that run shoppers pace
them (the open model's arrivals, an iteration budget) and watch their CPU; the reporting process samples the time
series and, in a headless run, shows the live line. A headless run whose shoppers all stopped by themselves (a
consistency run's share of orders checked out) ends then instead of idling until its run time. At ``test_stop``
the samplers stop and open-model arrivals that never started count as dropped; a load Locust stopped because every
worker went missing is named (``stopped_early``) and a headless one ends at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust import constant
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from shopstorm.audit.ledger import LEDGER
from shopstorm.engine import live, workers
from shopstorm.engine.run_state import RUN, headless, is_worker
from shopstorm.engine.seeding import shopper_classes
from shopstorm.metrics import samplers
from shopstorm.metrics.arrivals import PACING, ArrivalSchedule
from shopstorm.metrics.measurements import MEASUREMENTS
from shopstorm.redaction import mask_url_credentials
from shopstorm.settings import Settings

log = logging.getLogger("shopstorm")

NO_SHOPPERS_GRACE_S = 10.0  # how long a run with no shopper ever reported running waits before it ends
OPEN_MODEL_LEAD = 1.0  # seconds between the start and the first arrival, for the shoppers to be spawned


class DeliberateSpawnRate(logging.Filter):
    """Drops Locust's "spawn rate is very high" warning where shopstorm chose the rate: the consistency test starts
    every shopper at once on purpose, and the open model's pool is started whole before the first arrival."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Your selected spawn rate is very high")


def quiet_deliberate_spawn_rate(settings: Settings) -> None:
    """Silence Locust's spawn-rate warning for the runs whose rate shopstorm chose."""
    if settings.mix == "consistency" or settings.open_model:
        logging.getLogger("locust.runners").addFilter(DeliberateSpawnRate())


def start(environment: Environment, t0: float, share: tuple[int, int]) -> None:
    """The load begins: a clean slate of measurements, the clock, pacing, samplers and the live line."""
    runner, options = environment.runner, environment.parsed_options
    MEASUREMENTS.clear(ships=is_worker(environment))
    LEDGER.clear()
    RUN.final_reports.clear()
    RUN.started, RUN.stopped = time.time(), None
    if not isinstance(runner, MasterRunner):  # processes that run shoppers pace them and watch their CPU
        _pace(environment, t0, share)
        RUN.samplers.append(gevent.spawn(samplers.sample_cpu))
    if not is_worker(environment):
        RUN.timeseries = []
        RUN.samplers.append(gevent.spawn(samplers.sample_timeseries, runner, RUN.timeseries, RUN.started))
        if options and options.headless:
            live.start(environment, RUN.started, RUN.settings.run_time, _bound(RUN.settings), RUN.settings.open_model)


def _bound(settings: Settings) -> str | None:
    """What ends a run that stops by itself before its run time: its checkouts, journeys or stages."""
    if settings.mix == "consistency" and settings.checkouts:
        return f"{settings.checkouts} checkouts"
    if settings.iterations:
        return f"{settings.iterations} journeys"
    if settings.stages:
        return "until its last stage ends"
    return None


def _pace(environment: Environment, t0: float, share: tuple[int, int]) -> None:
    settings = RUN.settings
    schedule = None
    if settings.open_model:
        schedule = ArrivalSchedule(settings.arrival_rate or 0.0, settings.stages, settings.run_time)
        for shopper in shopper_classes(environment):
            shopper.wait_time = constant(0)  # arrivals, not think time, pace the open model
    PACING.configure(
        schedule=schedule, t0=t0, share=share, max_lateness=settings.max_lateness, iterations=settings.iterations
    )


def watch_for_every_shopper_stopped(**_: Any) -> None:
    """The ``spawning_complete`` listener: a headless run ends once every shopper has stopped by itself."""
    runner = RUN.environment.runner if RUN.environment is not None else None
    if not RUN.active or runner is None or isinstance(runner, WorkerRunner) or not headless(runner):
        return
    if RUN.watcher is None or RUN.watcher.dead:  # spawning completes again after every ramp: watch once
        RUN.watcher = gevent.spawn(_quit_when_every_shopper_stopped, runner)


def _quit_when_every_shopper_stopped(runner: Any) -> None:
    """End a headless run whose shoppers all stopped by themselves, instead of idling until the run time.

    A master may announce spawning complete before any worker has reported its shoppers (Locust waits about a
    second for the reports, then goes on): a count of 0 then means "not reported yet", not "all stopped". So the
    run ends only once shoppers were seen running, or when none has been seen for NO_SHOPPERS_GRACE_S.
    """
    waited, seen_running = 0.0, False
    while runner.state in ("spawning", "running"):
        count = runner.user_count
        seen_running = seen_running or count > 0
        if count == 0 and (seen_running or waited >= NO_SHOPPERS_GRACE_S):
            log.info("every shopper has stopped: ending the run")
            runner.quit()
            return
        gevent.sleep(0.5)
        waited += 0.5


def stop(environment: Environment) -> None:
    """The load stopped: samplers end, unstarted arrivals count as dropped, the clock stops, the live line goes;
    a load Locust stopped because every worker went missing is named, and a headless one ends at once."""
    for greenlet in RUN.samplers:
        greenlet.kill(block=False)
    RUN.samplers = []
    if not isinstance(environment.runner, MasterRunner):
        # open-model arrivals that were due but never started are dropped too (before a worker's final report)
        MEASUREMENTS.record_arrival(False, PACING.unstarted_due(time.time()))
    if not is_worker(environment):
        RUN.stopped = time.time()
        live.stop()
        if environment.host and environment.runner and headless(environment.runner):
            # Locust's --html report shows the host; a headless run starts no shoppers after this
            environment.host = mask_url_credentials(environment.host)
    runner = environment.runner
    if workers.every_worker_missing(runner):
        # Locust stops the load when its last worker goes missing, and would then idle until the run time is up
        RUN.stopped_early = "every worker stopped answering Locust's heartbeats, and Locust stopped the load"
        if headless(runner):
            gevent.spawn(runner.quit)
