"""shopstorm's Locust plugin: the one place that hangs shopstorm on Locust's events, in the order each needs.

Importing this module registers the listeners on ``locust.events`` (``shopstorm run``'s locustfile imports it, and
so does :mod:`shopstorm.locust` for your own). Each event calls the modules that do the work:

- ``init_command_line_parser``: the hidden options that carry the seed and the shares to workers (seeding.py).
- ``init``: targets and mix (seeding.py); on a worker, its own final report when it quits on its own
  (workers.py); on the master, the wait for every worker's final report before it quits and the workers'
  process ids (workers.py, through locust_adapter.py); on the master or local runner, the signal handlers
  (signals.py) and the seed (seeding.py: one line and exit code 4 when it cannot).
- ``test_start``: a worker adopts the seed and its share and names its process; the master notes its workers
  and publishes the shares; then the load's clock, pacing, samplers and live line (load.py).
- ``request`` / ``report_to_master`` / ``worker_report``: measurements and ledger, shipped as deltas and merged
  exactly on the master (transport.py).
- ``spawning_complete``: a headless run ends once every shopper has stopped by itself (load.py).
- ``test_stop``: the load's end, and a load Locust stopped early (load.py).
- ``quitting``: on the master or local runner, the load stopped (a master collects its workers' final reports),
  then the audit, summary.json, gates, table and exit code (reporting.py).

Locust's own behaviour is changed only in locust_adapter.py, where no event exists for what is needed.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner

from shopstorm.engine import live, load, locust_adapter, reporting, seeding, signals, transport, workers
from shopstorm.engine.run_state import RUN, is_worker, run_request
from shopstorm.engine.seeding import shopper_classes
from shopstorm.errors import INTERRUPTED_BEFORE_LOAD, ShopstormError
from shopstorm.journeys.base import ENGINE

locust_adapter.raise_heartbeat_liveness(workers.HEARTBEAT_LIVENESS)
ENGINE["loaded"] = True  # the journeys let shoppers run: these listeners seed them and report

events.init_command_line_parser.add_listener(seeding.add_hidden_options)
events.request.add_listener(transport.record_request)
events.report_to_master.add_listener(transport.ship_deltas)
events.worker_report.add_listener(transport.merge_deltas)
events.spawning_complete.add_listener(load.watch_for_every_shopper_stopped)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    shoppers = shopper_classes(environment)
    if not shoppers:
        return
    RUN.environment = environment
    try:
        target_name, settings = run_request()
        if not target_name:  # a plain `locust -f` run: Locust's own flags say what shopstorm's would
            settings = seeding.adopt_locust_options(environment, settings)
        settings = seeding.with_environment_gates(settings, shoppers)
        RUN.active, RUN.settings = True, settings
        seeding.prepare_targets(shoppers, target_name, settings)
        seeding.adopt_target_host(environment)
        load.quiet_deliberate_spawn_rate(settings)
        if is_worker(environment):
            signals.STOP.phase = "load"
            # registered after the worker runner's own listener, which tells the master it quits: with quitting's
            # listeners run in reverse, this one goes first (a worker interrupted by Ctrl-C, say)
            environment.events.quitting.add_listener(workers.send_own_final_report)
            return
        runner = environment.runner
        if isinstance(runner, MasterRunner):
            locust_adapter.run_before_quit(runner, lambda: workers.collect_final_reports(runner))
            runner.register_message(workers.WORKER_PID_MESSAGE, workers.note_worker_pid)
        signals.install()  # from here a Ctrl-C reaches the main greenlet, not whichever seeding greenlet runs
        seeding.seed_shop()
    except ShopstormError as error:
        print(f"shopstorm: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)
    seeding.publish_seed(environment)
    signals.STOP.phase = "load"


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    if not RUN.active:
        return
    runner = environment.runner
    share = (0, 1)
    if is_worker(environment):
        share, master_t0 = seeding.adopt_seed(environment)
        workers.tell_master_pid(runner)  # before any report: it may never send one
        t0 = master_t0 or time.time()
    else:
        t0 = time.time() + load.OPEN_MODEL_LEAD
        seeding.publish_shares(environment, t0)
        if isinstance(runner, MasterRunner):
            workers.register_workers(runner)
    load.start(environment, t0, share)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    if RUN.active:
        load.stop(environment)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if not RUN.active or is_worker(environment):
        return
    signals.STOP.phase = "report"  # from here a signal cuts the audit short, never the summary
    live.stop()
    runner = environment.runner
    try:
        if RUN.started is None:  # stopped before the load began (the web UI never started one, a signal)
            if signals.STOP.signal is not None:
                print(INTERRUPTED_BEFORE_LOAD, file=sys.stderr, flush=True)
                environment.process_exit_code = signals.STOP.exit_code
            return
        # On Ctrl-C or SIGTERM Locust fires quitting while the shoppers still run, and quits the runner only after
        # it: the audit must not read a shop the load is still changing. A master collects its workers' reports.
        if isinstance(runner, MasterRunner):
            runner.quit()
        elif runner is not None:
            runner.stop()
        gevent.sleep(0)  # a signal's handlers run in greenlets of their own: let every one of them note it
        reporting.report_run(environment)
    finally:
        for target in RUN.targets:
            target.finish()
