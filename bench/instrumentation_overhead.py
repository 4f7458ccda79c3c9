"""Measure what shopstorm's measurement costs a load generator: bare Locust against the same requests through shopstorm.

One gevent process, pinned to one core, runs Locust as a library with N users and no wait time against a trivial
loopback HTTP server (a separate process on another core that answers ``{"ok": true}`` to everything), for a fixed
time per round, alternating two sides in the same process and the same runner:

- **bare**: a ``FastHttpUser`` whose task is ``self.client.get("/")``; shopstorm's ``request`` listener is detached
  and its run is inactive, so these rounds pay nothing for shopstorm;
- **measured**: the same ``self.client.get("/")``, as a ``ShopstormUser`` ``@journey`` with the plugin's ``request``
  listener active: every request lands in the HDR histograms and every journey in the journey histograms and
  outcome counts. This is "the same requests with shopstorm's measurement on", held against the goal;
- **full**: the request as a real journey step, ``shopstorm.targets.base.call`` (catch_response, reading the body,
  classifying it ok/refused/unknown) inside the same journey: what a built-in target's step costs in all.

Each round counts Locust's requests after the users are spawned and warmed up, so it measures the steady requests
per second the process can generate, and its CPU time per request. It prints every round, the medians and the ratios
measured/bare (against the goal of at least 0.95) and full/bare; it never asserts them. On a busy machine the
figures are noisy:
compare the CPU per request, and run it when nothing else heavy runs.

Run: ``.venv/bin/python bench/instrumentation_overhead.py [--users 10] [--rounds 4] [--seconds 5]``
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import gevent
import locust
from locust import FastHttpUser, constant, task
from locust.env import Environment

from shopstorm.engine import plugin, transport
from shopstorm.journeys.base import ShopstormUser, journey
from shopstorm.metrics.journeys import MEASUREMENTS
from shopstorm.replies import Reply
from shopstorm.settings import Settings
from shopstorm.targets.base import Target, call

GOAL = 0.95
GENERATOR_CPU = 0
SERVER_CPU = 1

# The target: an asyncio protocol on 127.0.0.1 that answers every request on a kept-alive connection with a canned
# JSON reply; it prints its port once it listens. GET requests have no body, so a blank line ends each request.
SERVER = r"""
import asyncio, os, sys
cpu = int(sys.argv[1])
if cpu in os.sched_getaffinity(0):
    os.sched_setaffinity(0, {cpu})
BODY = b'{"ok": true}'
REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)

class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.pending = transport, b""

    def data_received(self, data):
        self.pending += data
        count = self.pending.count(b"\r\n\r\n")
        if count:
            self.pending = self.pending[self.pending.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(REPLY * count)

async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def start_server() -> tuple[subprocess.Popen, str]:
    """Start the target in its own process and wait until it answers; return it and its base URL."""
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(SERVER_CPU)], stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if b'{"ok": true}' in connection.recv(4096):
                    return process, f"http://127.0.0.1:{port}"
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("the loopback target did not answer within 10 s")
        gevent.sleep(0.05)


class BarePingUser(FastHttpUser):
    """Plain Locust: the request and nothing else."""

    wait_time = constant(0)
    network_timeout = ShopstormUser.network_timeout
    connection_timeout = ShopstormUser.connection_timeout

    @task
    def ping(self) -> None:
        self.client.get("/")


class PingShopper:
    """A target's per-shopper client with one step, written like the real targets' steps."""

    def __init__(self, http: Any) -> None:
        self.http = http

    def ping(self) -> Reply:
        return call(self.http, "GET", "/", name="/", step="ping")


class PingTarget(Target):
    name = "ping"
    description = "a loopback server that answers {'ok': true}"

    @property
    def base_url(self) -> str:
        return ""

    def seed(self) -> dict[str, Any]:
        return {}

    def shopper(self, http: Any) -> PingShopper:
        return PingShopper(http)


class MeasuredPingUser(ShopstormUser):
    """The bare request, measured by shopstorm: a journey, its timer, the request listener's HDR histograms."""

    target_class = PingTarget
    wait_time = constant(0)

    @journey()
    def ping(self) -> None:
        self.client.get("/")

    tasks = [ping]


class ShopstormPingUser(ShopstormUser):
    """The same request as one shopstorm journey step: journey timer, call() with catch_response and classify."""

    target_class = PingTarget
    wait_time = constant(0)

    @journey()
    def ping(self) -> None:
        self.shop.ping()

    tasks = [ping]


SIDES = {BarePingUser: "bare", MeasuredPingUser: "measured", ShopstormPingUser: "full"}


@dataclass
class Round:
    side: str
    requests: int
    failures: int
    seconds: float
    cpu_seconds: float
    recorded: int  # requests in shopstorm's HDR histograms
    journeys: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else 0.0


def measure(env: Environment, user_class: type, users: int, seconds: float, warmup: float) -> Round:
    """One round of one side: spawn the users, warm up, count the requests for ``seconds``, stop."""
    shopstorm = user_class is not BarePingUser
    plugin.RUN.active = shopstorm
    if shopstorm:
        locust.events.request.add_listener(transport.record_request)
    runner = env.runner
    MEASUREMENTS.clear()
    runner.start(users, spawn_rate=users, user_classes=[user_class])
    while runner.state != "running":
        gevent.sleep(0.01)
    gevent.sleep(warmup)
    stats = env.stats.total
    requests, failures = stats.num_requests, stats.num_failures
    recorded = sum(MEASUREMENTS.requests.get(name).get_total_count() for name in MEASUREMENTS.requests.names())
    journeys = sum(MEASUREMENTS.journeys.get(name).get_total_count() for name in MEASUREMENTS.journeys.names())
    started, cpu_started = time.perf_counter(), time.process_time()
    gevent.sleep(seconds)
    result = Round(
        side=SIDES[user_class],
        requests=stats.num_requests - requests,
        failures=stats.num_failures - failures,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
        recorded=sum(MEASUREMENTS.requests.get(name).get_total_count() for name in MEASUREMENTS.requests.names())
        - recorded,
        journeys=sum(MEASUREMENTS.journeys.get(name).get_total_count() for name in MEASUREMENTS.journeys.names())
        - journeys,
    )
    runner.stop()
    if shopstorm:
        locust.events.request.remove_listener(transport.record_request)
    plugin.RUN.active = False
    return result


def show(number: int, result: Round) -> None:
    print(
        f"round {number}  {result.side:<9} {result.rate:8.0f} req/s  {result.cpu_seconds / result.seconds:4.0%} cpu"
        f"  {result.cpu_us_per_request:6.1f} µs cpu/req  failures {result.failures}"
        f"  in HDR {result.recorded}/{result.requests} requests, {result.journeys} journeys",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10, help="concurrent users, no wait time (default 10)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, each side once per round (default 4)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per side and round (default 5)")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds after spawning (default 0.5)")
    options = parser.parse_args()
    logging.getLogger("locust").setLevel(logging.ERROR)  # the high-CPU warning is the point of this bench

    cores = os.sched_getaffinity(0)
    if GENERATOR_CPU in cores and SERVER_CPU in cores:
        os.sched_setaffinity(0, {GENERATOR_CPU})
        placement = f"generator on core {GENERATOR_CPU}, target on core {SERVER_CPU}"
    else:
        placement = "fewer than 2 cores: generator and target share them (the ratio understates the overhead)"
    load = os.getloadavg()[0]
    server, host = start_server()
    ShopstormPingUser.target = MeasuredPingUser.target = PingTarget(Settings())
    # plugin.RUN.active is False and the request listener detached except during shopstorm rounds.
    locust.events.request.remove_listener(transport.record_request)
    env = Environment(user_classes=list(SIDES), events=locust.events, host=host)
    env.create_local_runner()
    print(
        f"{options.users} users, no wait, {options.rounds} rounds x {options.seconds:g} s per side against {host}; "
        f"{placement}; load average {load:.2f}",
        flush=True,
    )
    results: list[Round] = []
    try:
        for number in range(1, options.rounds + 1):
            for user_class in SIDES:
                results.append(measure(env, user_class, options.users, options.seconds, options.warmup))
                show(number, results[-1])
    finally:
        env.runner.quit()
        server.terminate()
        server.wait(timeout=5)

    medians = {}
    for side in SIDES.values():
        rounds = [r for r in results if r.side == side]
        medians[side] = (
            statistics.median(r.rate for r in rounds),
            statistics.median(r.cpu_us_per_request for r in rounds),
        )
        print(f"median   {side:<9} {medians[side][0]:8.0f} req/s  {medians[side][1]:6.1f} µs cpu/req")
    (bare_rate, bare_cpu), (measured_rate, measured_cpu), (full_rate, full_cpu) = medians.values()
    print(
        f"measurement costs {measured_cpu - bare_cpu:+.1f} µs of cpu per request; a full journey step "
        f"{full_cpu - bare_cpu:+.1f} µs"
    )
    print(
        f"ratio measured/bare = {measured_rate / bare_rate:.2f} (goal ≥ {GOAL}); "
        f"full journey step/bare = {full_rate / bare_rate:.2f}"
    )


if __name__ == "__main__":
    main()
