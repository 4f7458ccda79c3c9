"""shopstorm's Locust plugin: event listeners that seed, measure, merge and report a run.

Importing this module registers the listeners on ``locust.events`` (any locustfile that uses shopstorm's
journeys imports it). Nothing here patches Locust; the run goes through Locust's own events:

- ``init_command_line_parser``: adds the hidden ``--shopstorm-seed`` option. Locust sends custom options to
  every worker in each ``spawn`` message, before the worker fires ``test_start``: that is how a seed made on
  the master reaches workers on other machines.
- ``init``: builds one target per shopper class, applies the mix, and on the master or local runner seeds the
  shop (one line and exit code 4 when it cannot).
- ``request`` / ``report_to_master`` / ``worker_report``: HDR histograms per request name, shipped as deltas.
- ``report_to_master`` / ``worker_report`` also carry the ledger: the master holds the merged one.
- ``test_start`` / ``test_stop``: the run's clock; workers adopt the master's seed and their share of it
  (the master tells them how many workers share it, through the hidden ``--shopstorm-workers`` option).
- ``spawning_complete``: in a headless run, the run ends once every shopper has stopped by itself (a
  consistency run's shoppers stop when their share of orders is checked out).
- ``quitting``: on the master or local runner, the audit (when asked for), the summary table and
  summary.json, and the exit code: the gates' (3 when the audit found violations), else Locust's convention (the
  ``--exit-code-on-error`` code, 1 by default, when any request failed), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust import constant, events
from locust import runners as locust_runners
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_MISSING, STATE_STOPPED, MasterRunner, WorkerRunner

from shopstorm import gates
from shopstorm.audit.invariants import interrupted_audit
from shopstorm.audit.ledger import LEDGER
from shopstorm.engine import live, signals
from shopstorm.errors import INTERRUPTED_BEFORE_LOAD, ExitCode, ShopstormError
from shopstorm.journeys.base import ENGINE, Mix, ShopstormUser, apply_mix, resolve_mix
from shopstorm.metrics import samplers
from shopstorm.metrics.arrivals import PACING, ArrivalSchedule
from shopstorm.metrics.measurements import MEASUREMENTS
from shopstorm.redaction import mask_url_credentials, mask_url_credentials_in
from shopstorm.report import summary, terminal
from shopstorm.settings import Settings, load_settings

log = logging.getLogger("shopstorm")

RUN_ENV = "SHOPSTORM_RUN"  # set by `shopstorm run`: {"target": name, "settings": json}
NO_SHOPPERS_GRACE_S = 10.0  # how long a run with no shopper ever reported running waits before it ends
FINAL_REPORT_TIMEOUT_S = 30.0  # how long a quitting master waits for each worker's last measurements and ledger
# How long a quitting master still waits for a worker Locust marked missing (no heartbeat for ~4 s) whose process
# may yet answer: a worker paused on a saturated machine comes back; one killed on this machine is not waited for.
MISSING_WORKER_GRACE_S = 10.0
# Heartbeats a worker may miss before Locust marks it missing (Locust's own is 3, at one a second). A worker busy
# spawning shoppers on a saturated machine misses three: Locust then stops the whole load after a few seconds.
HEARTBEAT_LIVENESS = 10
OPEN_MODEL_LEAD = 1.0  # seconds between the start and the first arrival, for the shoppers to be spawned
WORKER_PID_MESSAGE = "shopstorm_worker_pid"  # a worker tells the master its process id as its load starts


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


@dataclass
class Worker:
    """A load process as the master knows it: the index its share of the seed follows, and its process id once
    it reported (to end a hung one started by this machine's ``--processes``)."""

    index: int
    pid: int | None = None
    host: str | None = None  # the machine it runs on, as it named itself
    lost: bool = False  # stopped reporting before its final report: its last calls never reached the master


RUN = RunState()
ENGINE["loaded"] = True  # the journeys let shoppers run: this module's listeners seed them and report
locust_runners.HEARTBEAT_LIVENESS = max(locust_runners.HEARTBEAT_LIVENESS, HEARTBEAT_LIVENESS)  # read as it is used


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
    parser.add_argument("--shopstorm-workers", default=0, type=int, help=argparse.SUPPRESS, include_in_web_ui=False)
    parser.add_argument("--shopstorm-t0", default=0.0, type=float, help=argparse.SUPPRESS, include_in_web_ui=False)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    shoppers = _shopper_classes(environment)
    if not shoppers:
        return
    RUN.environment = environment
    try:
        target_name, settings = run_request()
        RUN.active, RUN.settings = True, settings
        targets: dict[type, Any] = {}  # one target per target class, shared by its shoppers, seeded once
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
        if settings.mix == "consistency" or settings.open_model:
            logging.getLogger("locust.runners").addFilter(_DeliberateSpawnRate())
        LEDGER.enabled = settings.audit or any(target.keeps_ledger for target in RUN.targets)
        RUN.target_name = target_name or shoppers[0].target_class.name
        RUN.funnel_steps = next((tuple(s.funnel_steps) for s in shoppers if getattr(s, "funnel_steps", ())), ())
        if _is_worker(environment):
            signals.STOP.phase = "load"
            # registered after the worker runner's own listener, which tells the master it quits: with quitting's
            # listeners run in reverse, this one goes first (a worker interrupted by Ctrl-C, say)
            environment.events.quitting.add_listener(_send_final_report)
            return
        if isinstance(environment.runner, MasterRunner):
            _wait_for_final_reports_on_quit(environment.runner)
            environment.runner.register_message(WORKER_PID_MESSAGE, _on_worker_pid)
        signals.install()  # from here a Ctrl-C reaches the main greenlet, not whichever seeding greenlet runs
        started = time.monotonic()
        try:
            for target in targets.values():
                RUN.seed[target.name] = target.seed()
                target.use_seed(RUN.seed[target.name])
        except BaseException:  # a seed refused, or a Ctrl-C: undo what the seeds set up (a webhook registration)
            for target in targets.values():
                target.finish()
            raise
        log.info("seeded the shop in %.1f s", time.monotonic() - started)
    except ShopstormError as error:
        print(f"shopstorm: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)
    if environment.parsed_options is not None:
        environment.parsed_options.shopstorm_seed = json.dumps(RUN.seed)
    signals.STOP.phase = "load"


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    if not RUN.active:
        return
    runner, options, settings = environment.runner, environment.parsed_options, RUN.settings
    share = (0, 1)
    if _is_worker(environment):
        RUN.seed = json.loads(getattr(options, "shopstorm_seed", "") or "{}")
        workers = max(1, getattr(options, "shopstorm_workers", 0) or 1)
        share = (runner.worker_index % workers, workers)
        for target in {shopper.target for shopper in _shopper_classes(environment)}:
            target.use_seed(RUN.seed.get(target.name, {}), share)
        # before any report: it may never send one
        runner.send_message(WORKER_PID_MESSAGE, {"pid": os.getpid(), "host": socket.gethostname()})
        t0 = getattr(options, "shopstorm_t0", 0.0) or time.time()
    else:
        t0 = time.time() + OPEN_MODEL_LEAD
        if options is not None:
            options.shopstorm_t0 = t0
            if hasattr(runner, "worker_count"):
                options.shopstorm_workers = runner.worker_count
        if isinstance(runner, MasterRunner):
            RUN.shares = max(1, runner.worker_count)
            RUN.workers = {c.id: Worker(runner.get_worker_index(c.id)) for c in runner.clients.all}
    MEASUREMENTS.clear(ships=_is_worker(environment))
    LEDGER.clear()
    RUN.final_reports.clear()
    RUN.started, RUN.stopped = time.time(), None
    if not isinstance(runner, MasterRunner):  # processes that run shoppers pace them and watch their CPU
        _pace(environment, t0, share)
        RUN.samplers.append(gevent.spawn(samplers.sample_cpu))
    if not _is_worker(environment):
        RUN.timeseries = []
        RUN.samplers.append(gevent.spawn(samplers.sample_timeseries, runner, RUN.timeseries, RUN.started))
        if options and options.headless:
            live.start(environment, RUN.started, settings.run_time, _bound(settings))


def _bound(settings: Settings) -> str | None:
    """What ends a run that stops by itself before its run time: its checkouts, journeys or stages."""
    if settings.mix == "consistency" and settings.checkouts:
        return f"{settings.checkouts} checkouts"
    if settings.iterations:
        return f"{settings.iterations} journeys"
    if settings.stages:
        return "until its last stage ends"
    return None


class _DeliberateSpawnRate(logging.Filter):
    """Drops Locust's "spawn rate is very high" warning where shopstorm chose the rate: the consistency test starts
    every shopper at once on purpose, and the open model's pool is started whole before the first arrival."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Your selected spawn rate is very high")


def _pace(environment: Environment, t0: float, share: tuple[int, int]) -> None:
    settings = RUN.settings
    schedule = None
    if settings.open_model:
        schedule = ArrivalSchedule(settings.arrival_rate or 0.0, settings.stages, settings.run_time)
        for shopper in _shopper_classes(environment):
            shopper.wait_time = constant(0)  # arrivals, not think time, pace the open model
    PACING.configure(
        schedule=schedule, t0=t0, share=share, max_lateness=settings.max_lateness, iterations=settings.iterations
    )


@events.spawning_complete.add_listener
def _on_spawning_complete(**_: Any) -> None:
    runner = RUN.environment.runner if RUN.environment is not None else None
    if not RUN.active or runner is None or isinstance(runner, WorkerRunner) or not _headless(runner):
        return
    if RUN.watcher is None or RUN.watcher.dead:  # spawning completes again after every ramp: watch once
        RUN.watcher = gevent.spawn(_quit_when_every_shopper_stopped, runner)


def _headless(runner: Any) -> bool:
    options = runner.environment.parsed_options
    return bool(options is not None and options.headless)


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


_request_keys: dict[tuple[str, str], str] = {}  # (method, name) → "METHOD name", built once per name


@events.request.add_listener
def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int = 0,
    response: Any = None,
    context: Any = None,
    exception: Any = None,
    start_time: float | None = None,
    url: str | None = None,
    **_: Any,
) -> None:
    # Every keyword Locust fires a request with has a parameter, so no dict of leftovers is built per request.
    if RUN.active:
        key = _request_keys.get((request_type, name))
        if key is None:
            key = _request_keys[request_type, name] = f"{request_type} {name}"
        MEASUREMENTS.record_request(key, response_time or 0.0, exception is not None)


@events.report_to_master.add_listener
def _on_report_to_master(data: dict, **_: Any) -> None:
    if RUN.active:
        data["shopstorm"] = MEASUREMENTS.take_delta()
        if LEDGER.enabled:
            data["shopstorm_ledger"] = LEDGER.take_delta()
        # sent once the shoppers are stopped: nothing is recorded after it, so it completes this worker's share
        runner = RUN.environment.runner if RUN.environment else None
        data["shopstorm_final"] = runner is not None and runner.state == STATE_STOPPED


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict, **_: Any) -> None:
    if RUN.active and "shopstorm" in data:
        runner = RUN.environment.runner if RUN.environment else None
        if client_id not in RUN.workers and isinstance(runner, MasterRunner):
            RUN.workers[client_id] = Worker(runner.get_worker_index(client_id))
        MEASUREMENTS.merge(data["shopstorm"], worker=client_id)
        LEDGER.merge(data.get("shopstorm_ledger", []))
        if data.get("shopstorm_final"):
            RUN.final_reports.add(client_id)


def _send_final_report(environment: Environment, **_: Any) -> None:
    """A worker quitting on its own (not told to by the master) stops its shoppers and sends what it recorded."""
    runner = environment.runner
    if RUN.active and isinstance(runner, WorkerRunner) and runner.state != STATE_STOPPED:
        runner.stop()
        runner._send_stats()  # Locust's own final report, as it sends when the master tells it to quit


def _connected(runner: MasterRunner) -> set[str]:
    return {client.id for client in runner.clients.all if client.state != STATE_MISSING}


def _wait_for_final_reports_on_quit(runner: MasterRunner) -> None:
    """Make the master's quit wait until every worker's last report has arrived.

    Locust's master tells its workers to quit, then waits a fixed half second for their final reports. A worker
    still stopping its shoppers on a busy machine misses that, and with it go the last seconds of its measurements
    and, worse, of its ledger: the audit would check fewer orders than were placed, and pass. So the quit waits
    (up to FINAL_REPORT_TIMEOUT_S) for a report each connected worker sent after stopping, and says so when one
    never came.
    """
    locust_quit = runner.quit

    def awaited(grace: bool) -> set[str]:
        workers = _connected(runner)
        if grace:  # a worker Locust marked missing whose process may still answer: paused is not lost (not
            # runner.clients: a worker that reports it stopped is out of it until it says it is ready again)
            workers |= {cid for cid, w in RUN.workers.items() if _may_answer(w)}
        return workers

    def quit() -> None:
        workers = awaited(grace=True)
        if RUN.active and not workers <= RUN.final_reports:
            runner.stop(send_stop_to_client=False)
            for worker in workers:
                runner.server.send_to_client(Message("quit", None, worker))
            started = time.monotonic()
            while time.monotonic() - started < FINAL_REPORT_TIMEOUT_S:
                if awaited(grace=time.monotonic() - started < MISSING_WORKER_GRACE_S) <= RUN.final_reports:
                    break
                gevent.sleep(0.05)
        if RUN.active:
            _account_for_lost_workers()
        locust_quit()

    runner.quit = quit  # type: ignore[method-assign]


def _may_answer(worker: Worker) -> bool:
    """Whether a worker's process may still send its final report: not one of ours that is dead (a kill -9)."""
    if worker.pid is None or worker.host != socket.gethostname():
        return True  # a worker on another machine: it may be slow, not dead
    try:
        return psutil.Process(worker.pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _on_worker_pid(environment: Environment, msg: Message, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        worker = RUN.workers.setdefault(msg.node_id, Worker(runner.get_worker_index(msg.node_id)))
        data = msg.data if isinstance(msg.data, dict) else {}
        worker.pid, worker.host = data.get("pid"), data.get("host")


def _account_for_lost_workers() -> None:
    """Name every worker that stopped reporting before its final report (killed, hung, cut off): its calls since
    its last report never reached the master. The audit treats them as unknown (:meth:`Target.unreported`). A hung
    worker this machine started (``--processes``) is killed: Locust would wait for it forever."""
    for client_id, worker in RUN.workers.items():
        if client_id in RUN.final_reports or worker.lost:
            continue
        worker.lost = True
        killed = _kill_hung_child(worker.pid)
        print(
            f"shopstorm: WARNING: worker {client_id} (index {worker.index}) was lost mid-run: it stopped answering "
            f"before its final report{killed}; its calls since its last report are unknown to the audit, which "
            "resolves them against the shop's state",
            file=sys.stderr,
            flush=True,
        )


def _kill_hung_child(pid: int | None) -> str:
    if pid is None:
        return ""
    try:
        if psutil.Process(pid).ppid() != os.getpid():
            return ""  # a worker on another machine, or not ours: not this run's to end
        os.kill(pid, signal.SIGKILL)
    except (psutil.Error, OSError):
        return ""
    return f" (its process {pid} did not answer and was killed)"


def lost_workers() -> list[dict[str, Any]]:
    """The summary's list of workers lost mid-run."""
    return [{"worker": cid, "index": w.index} for cid, w in RUN.workers.items() if w.lost]


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    if not RUN.active:
        return
    for greenlet in RUN.samplers:
        greenlet.kill(block=False)
    RUN.samplers = []
    if not isinstance(environment.runner, MasterRunner):
        # open-model arrivals that were due but never started are dropped too (before a worker's final report)
        MEASUREMENTS.record_arrival(False, PACING.unstarted_due(time.time()))
    if not _is_worker(environment):
        RUN.stopped = time.time()
        live.stop()
        if environment.host and environment.runner and _headless(environment.runner):
            # Locust's --html report shows the host; a headless run starts no shoppers after this
            environment.host = mask_url_credentials(environment.host)
    runner = environment.runner
    if (
        isinstance(runner, MasterRunner)
        and runner.clients
        and all(client.state == STATE_MISSING for client in runner.clients.all)
    ):
        # Locust stops the load when its last worker goes missing, and would then idle until the run time is up
        RUN.stopped_early = "every worker stopped answering Locust's heartbeats, and Locust stopped the load"
        if _headless(runner):
            gevent.spawn(runner.quit)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if not RUN.active or _is_worker(environment):
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
        _report(environment)
    finally:
        for target in RUN.targets:
            target.finish()


def _report(environment: Environment) -> None:
    """The audit (when asked for), summary.json, the gates, JUnit XML, the terminal table and the exit code."""
    audit = _audit(environment) if RUN.settings.audit else None
    stop = signals.STOP
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
        interrupted=stop.signal is not None,
        stopped_by=stop.signal_name,
        audit=audit,
        timeseries=RUN.timeseries,
        funnel_steps=RUN.funnel_steps,
    )
    report["generators"]["lost_workers"] = lost_workers()
    report["generators"]["stopped_early"] = RUN.stopped_early
    for target in RUN.targets:
        report.update(target.report_sections(LEDGER.entries))
    results = gates.evaluate(list(RUN.settings.gates), report)
    report["gates"] = [result.as_dict() for result in results]
    exit_code = gates.exit_code(results, audit["violations"] if audit else None)
    if exit_code == ExitCode.OK and audit and audit["verdict"] == "error":
        exit_code = ExitCode.GATE_FAILED  # no verdict is not a pass
    if RUN.stopped_early and stop.signal is None:
        print(f"shopstorm: WARNING: the load stopped early: {RUN.stopped_early}; the figures cover "
              f"{report['duration_s']:.1f} s, not the run asked for", file=sys.stderr, flush=True)  # fmt: skip
        if exit_code == ExitCode.OK:
            exit_code = ExitCode.GATE_FAILED  # a load that did not run is not a pass
    if exit_code == ExitCode.OK and not results and RUN.settings.mix != "consistency" and report["totals"]["failures"]:
        # Locust's convention without gates: a run with failed requests exits --exit-code-on-error (default 1).
        # Expected refusals are not failures; the consistency test's verdict is its audit's.
        exit_code = getattr(environment.parsed_options, "exit_code_on_error", 1)
    report["exit_code"] = int(stop.exit_code if stop.exit_code is not None else exit_code)
    report = mask_url_credentials_in(report)  # a shop's URL in a failure, a warning or a finding may carry a password
    path = summary.write(report, RUN.settings.out)
    if RUN.settings.junit:
        junit = gates.junit_xml(results, audit, duration_s=report["duration_s"])
        Path(RUN.settings.junit).parent.mkdir(parents=True, exist_ok=True)
        Path(RUN.settings.junit).write_text(junit, encoding="utf-8")
    print(terminal.render(report), flush=True)
    print(f"summary: {path}", flush=True)
    environment.process_exit_code = report["exit_code"]


def _audit(environment: Environment) -> dict[str, Any]:
    """Read the shop's state back through the target and hold it against the seed and the merged ledger.

    The audit runs in a greenlet of its own, so a signal during it can cut it short: the summary then says the
    audit was interrupted, and which invariants it had checked (none, when the state was still being read)."""
    target = _shopper_classes(environment)[0].target
    started = time.monotonic()
    print(f"auditing {len(LEDGER.entries)} ledger entries against the shop's state...", flush=True)
    entries = list(LEDGER.entries)
    for worker in RUN.workers.values():
        if worker.lost:
            entries += target.unreported((worker.index % RUN.shares, RUN.shares), LEDGER.entries)

    def audit() -> Any:  # the result, or the exception: gevent would print a failed greenlet's traceback
        try:
            return target.audit(entries)
        except Exception as error:  # a bug, or an answer nobody foresaw: the finished run is still reported
            log.debug("the audit failed", exc_info=True)
            return error

    auditor = gevent.spawn(audit)
    signals.STOP.on_report_signal = lambda: auditor.kill(signals.AuditInterrupted, block=False)
    try:
        outcome = auditor.get()
    finally:
        signals.STOP.on_report_signal = None
    if isinstance(outcome, signals.AuditInterrupted):
        print("shopstorm: the audit was interrupted before it finished: nothing was checked", file=sys.stderr)
        result = interrupted_audit()
    elif isinstance(outcome, Exception):
        why = f"the audit could not finish: {type(outcome).__name__}: {mask_url_credentials(str(outcome))[:200]}"
        print(f"shopstorm: {why}", file=sys.stderr)
        result = {**interrupted_audit(why), "verdict": "error"}
    else:
        result = outcome.as_dict()
    result["ledger_entries"] = len(LEDGER.entries)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result
