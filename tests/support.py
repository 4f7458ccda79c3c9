"""Test support: run the real ``shopstorm`` CLI, read its summary, and misbehave in front of a real shop.

Imported by the tests as ``support`` (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import requests

Found = TypeVar("Found")

# A short, bounded load that runs a few hundred journeys, so even the weight-5 journey runs (miss odds ~1e-5).
QUICK_LOAD = ["-u", "10", "-r", "10", "-t", "8s", "--think-time", "0.01-0.05", "--seed-items", "20"]


def eventually(
    check: Callable[[], Found], what: str, timeout: float = 60, *, alive: Any = None, every: float = 0.05
) -> Found:
    """Wait on the event itself: poll ``check`` until it returns something truthy, and return that. Fail naming
    ``what`` after ``timeout`` seconds, or at once when ``alive`` (a process the event depends on) has ended."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"the process ended (code {alive.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {found!r}")
        time.sleep(every)


def shopstorm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shopstorm", *args]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a real shopstorm process: gevent patching on (conftest turns it off in pytest)."""
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    return {**env, **(extra or {})}


def run_cli(*args: str, timeout: float = 90, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run ``shopstorm ARGS`` to completion; returns the CompletedProcess (text output)."""
    return subprocess.run(
        shopstorm_command(*args), capture_output=True, text=True, timeout=timeout, env=cli_env(env), cwd=cwd
    )


# Runs shopstorm after its start-up: the interpreter, Locust and shopstorm's own modules are imported first, then
# the clock starts, so a wall-time promise is tested on what the tool does, not on how busy the machine was when
# Python loaded a hundred modules.
_TIMED_MAIN = """
import sys, time
import locust.main, shopstorm.cli  # the engine is loaded as a locustfile: not imported here
clock_file = sys.argv.pop(1)
started = time.monotonic()
try:
    code = shopstorm.cli.main(sys.argv[1:])
finally:
    with open(clock_file, "w") as clock:
        clock.write(repr(time.monotonic() - started))
sys.exit(code)
"""


def run_cli_timed(*args: str, cwd: Path, timeout: float = 90, env: dict[str, str] | None = None):
    """``run_cli``, plus the seconds the tool itself took once its modules were loaded: ``(result, seconds)``."""
    clock_file = cwd / "tool-seconds"
    command = [sys.executable, "-c", _TIMED_MAIN, str(clock_file), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=cli_env(env), cwd=cwd)
    return result, float(clock_file.read_text())


def read_summary(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "summary.json").read_text())


def journeys_by_name(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in summary["journeys"]}


Rule = Callable[[str, str], str]  # (method, path) → behaviour
PASSED_HEADERS = ("set-cookie", "location", "www-authenticate")


def checkouts_in_turn() -> Rule:
    """On checkouts, in turn: pass, answer 500, pass, reset the connection, pass, answer a body that is not JSON."""
    count = itertools.count()
    cycle = ("pass", "http-500", "pass", "reset", "pass", "not-json")

    def rule(method: str, path: str) -> str:
        return cycle[next(count) % len(cycle)] if "/orders/checkout/" in path else "pass"

    return rule


HUGE = 10_000_000  # bytes of a hostile shop's answer
FLASK_PAGE = "<!doctype html>\n<html lang=en>\n<title>{status} {name}</title>\n<h1>{name}</h1>\n<p>{text}</p>\n"
# Behaviours answered without asking the shop: the call never takes effect.
NOT_FORWARDED = ("reset", "flask-405", "flask-400")


def reshape_order(behaviour: str, body: dict[str, Any]) -> dict[str, Any]:
    """An ``orders/find`` answer as other implementations shape it: ``items-flat`` (one item id per unit),
    ``items-objects`` (``{"item_id", "quantity"}``), ``items-unreadable`` (a shape nobody can read) and
    ``paid-string`` (``"True"``/``"False"``)."""
    lines = body.get("items", [])
    if behaviour == "items-flat":
        body["items"] = [item_id for item_id, quantity in lines for _ in range(quantity)]
    elif behaviour == "items-objects":
        body["items"] = [{"item_id": item_id, "quantity": quantity} for item_id, quantity in lines]
    elif behaviour == "items-unreadable":
        body["items"] = "see the order page"
    elif behaviour == "paid-string":
        body["paid"] = str(body["paid"])
    return body


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a thousand shoppers connect at once: the default backlog of 5 would drop them


class ChaosProxy:
    """A reverse proxy to a real shop that misbehaves where ``rule(method, path)`` says: ``pass``, ``slow`` (passed
    on after ``delay_s``; ``slowed`` is set when the first one arrives), ``huge-body`` / ``huge-chunked`` (a 10 MB
    answer, declared or chunked), ``huge-number`` (the shop's ``stock`` replaced by ``1e400``), ``deep-json`` (a
    200 nested 100,000 deep), ``http-500``,
    ``reset`` (TCP RST), ``not-json`` (a 200 with an HTML body), ``garbage`` (a 200 with JSON of the wrong
    shape), ``strip-csrf`` (the page without its CSRF fields), ``empty-200`` / ``text-200`` (the shop's answer
    replaced by an empty or a plain-text 200), ``flask-405`` / ``flask-400`` (Flask's error page, the shop never
    asked) or one of :func:`reshape_order`'s. Cookies, redirects and other headers pass through. The default rule
    misbehaves on checkouts only (:func:`checkouts_in_turn`)."""

    def __init__(self, upstream: str, rule: Rule | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rule = rule or checkouts_in_turn()
        self.counts: dict[str, int] = {}
        self.delay_s = 2.0  # how long a ``slow`` request is held before it is passed on
        self.slowed = threading.Event()  # set once a ``slow`` request arrived
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                behaviour = proxy._next(self.command, self.path)
                if behaviour in ("flask-405", "flask-400"):
                    status, name, text = (
                        (405, "Method Not Allowed", "The method is not allowed for the requested URL.")
                        if behaviour == "flask-405"
                        else (400, "Bad Request", "DB error")
                    )
                    page = FLASK_PAGE.format(status=status, name=name, text=text).encode()
                    self._answer(status, page, "text/html; charset=utf-8")
                    return
                if behaviour == "deep-json":  # a body no recursive parser survives
                    self._answer(200, b"[" * 100_000 + b"]" * 100_000)
                    return
                if behaviour == "reset":
                    # SO_LINGER 0 + close sends a TCP RST: the client sees the connection reset mid-request.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if behaviour == "slow":
                    proxy.slowed.set()
                    time.sleep(proxy.delay_s)
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                upstream = requests.request(self.command, proxy.upstream + self.path, data=body, headers=forwarded,
                                            timeout=30, allow_redirects=False)  # fmt: skip
                if behaviour == "http-500":
                    self._answer(500, b'{"error": "upstream exploded"}')
                elif behaviour == "not-json":
                    self._answer(200, b"<html>maintenance</html>", "text/html")
                elif behaviour == "huge-body":  # 10 MB, declared: a careful client need not read it
                    self._answer(200, b"x" * HUGE)
                elif behaviour == "huge-chunked":  # 10 MB, undeclared: only reading tells how large it is
                    self._stream(200, HUGE)
                elif behaviour == "huge-number" and upstream.ok:
                    self._answer(200, re.sub(rb'"stock":\s*-?\d+', b'"stock": 1e400', upstream.content))
                elif behaviour == "garbage":
                    self._answer(200, b'{"stock": "lots", "credit": null, "paid": "maybe", "items": 7}')
                elif behaviour in ("empty-200", "text-200") and upstream.ok:
                    self._answer(200, b"" if behaviour == "empty-200" else b"done", "text/html; charset=utf-8")
                elif behaviour.startswith(("items-", "paid-")) and upstream.ok:
                    self._answer(200, json.dumps(reshape_order(behaviour, upstream.json())).encode())
                else:
                    content = upstream.content
                    if behaviour == "strip-csrf":  # the page as a shop would render it with a broken template
                        content = re.sub(rb'<input[^>]*name="csrfmiddlewaretoken"[^>]*>', b"", content)
                    passed = [(k, v) for k, v in upstream.raw.headers.items() if k.lower() in PASSED_HEADERS]
                    self._answer(upstream.status_code, content, upstream.headers.get("Content-Type", ""), passed)

            def _answer(self, status: int, payload: bytes, content_type: str = "application/json",
                        headers: list[tuple[str, str]] = ()) -> None:  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Type", content_type or "application/octet-stream")
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, status: int, size: int) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"x" * 65536
                for _ in range(size // len(chunk)):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = do_DELETE = _handle

        self.server = _ProxyServer(("127.0.0.1", 0), Handler)
        self.server.handle_error = lambda request, address: None  # a client gone mid-request (a killed worker)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _next(self, method: str, path: str) -> str:
        with self._lock:
            behaviour = self.rule(method, path)
            self.counts[behaviour] = self.counts.get(behaviour, 0) + 1
        return behaviour

    def __enter__(self) -> ChaosProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class RefusingShop:
    """A real HTTP server that answers every request with 500: a shop that refuses to be seeded."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                payload = b'{"error": "database is down"}'
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RefusingShop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Run:
    """A shopstorm command in its own process, its output read as it comes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            shopstorm_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.process.poll() is None, f"the run ended before {text!r}: {''.join(self.stdout)}"
                continue
            self.stdout.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {timeout} s: {''.join(self.stdout)}")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        try:
            self.process.wait(timeout=timeout)
            stderr = self.process.stderr.read()
        finally:
            self.process.kill()
        time.sleep(0.1)  # the reader thread drains what is left
        while not self.lines.empty():
            self.stdout.append(self.lines.get())
        return self.process.returncode, "".join(self.stdout), stderr
