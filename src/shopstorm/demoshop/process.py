"""Starts the demo shop as a separate process and waits until it serves: used by ``shopstorm demo`` and tests.

:class:`DemoShopProcess` runs ``python -m shopstorm.demoshop ... --ready-file <tmp>`` with the current
interpreter, waits for the ready file, and exposes the shop's ``url``. If the shop exits before it is ready,
:class:`DemoShopError` carries the last lines of its stderr. The child runs in its own session, so a Ctrl-C in
the terminal reaches only the launcher, which then stops the shop itself (SIGTERM, then SIGKILL after 5 s).
The shop's stdout and stderr go to files in a private temporary directory, removed on stop. The checkout API's
token and Stripe secret reach the child in its environment (:data:`API_TOKEN_ENV`, :data:`STRIPE_SECRET_ENV`),
never on its command line, where any user's ``ps`` would show them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

API_TOKEN_ENV = "SHOPSTORM_SHOP_API_TOKEN"
STRIPE_SECRET_ENV = "SHOPSTORM_SHOP_STRIPE_SECRET"
_STOP_GRACE_S = 5.0
_POLL_S = 0.02
_ERROR_TAIL_LINES = 8


class DemoShopError(RuntimeError):
    """The demo shop process could not be started."""


class DemoShopProcess:
    """A demo shop running in a child process, as a context manager or with ``start()`` / ``stop()``."""

    def __init__(
        self,
        store: str | None = None,
        schema: str | None = None,
        faults: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 20.0,
        basic_auth: str | None = None,
        api_token: str | None = None,
        stripe_secret: str | None = None,
        webshop_answers: str = "reference",
    ) -> None:
        self.store = store
        self.schema = schema
        self.faults = tuple(faults)
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.basic_auth = basic_auth  # "user:pass": the shop then requires it on every route but /health
        self.api_token = api_token  # the checkout API's bearer token; None: the shop's environment decides
        self.stripe_secret = stripe_secret  # the Stripe webhook secret (whsec_...) of the provider event intake
        self.webshop_answers = webshop_answers  # "reference" (the course's answers) or "json"
        self.process: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._work_dir: Path | None = None
        self._owner_pid: int | None = None  # the process that started the shop; only it may stop it

    @property
    def url(self) -> str:
        """The shop's base URL, e.g. ``http://127.0.0.1:41234``; only once started."""
        if self._url is None:
            raise DemoShopError("the demo shop is not running")
        return self._url

    def command(self, ready_file: Path) -> list[str]:
        """The command line that runs this shop."""
        command = [sys.executable, "-m", "shopstorm.demoshop", "--host", self.host, "--port", str(self.port)]
        if self.store is not None:
            command += ["--store", self.store]
        if self.schema is not None:
            command += ["--schema", self.schema]
        for fault in self.faults:
            command += ["--fault", fault]
        if self.webshop_answers != "reference":
            command += ["--webshop-answers", self.webshop_answers]
        if self.basic_auth is not None:
            command += ["--basic-auth", self.basic_auth]
        return [*command, "--ready-file", str(ready_file)]

    def start(self) -> DemoShopProcess:
        """Start the shop and return once it serves; raise :class:`DemoShopError` if it cannot."""
        if self.process is not None and self.process.poll() is None:
            raise DemoShopError("the demo shop is already running")
        self._work_dir = Path(tempfile.mkdtemp(prefix="shopstorm-demoshop-run-"))
        ready_file = self._work_dir / "ready.json"
        try:
            with (self._work_dir / "stdout.log").open("wb") as stdout, self._stderr_path.open("wb") as stderr:
                self.process = subprocess.Popen(
                    self.command(ready_file),
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    env=self._environment(),
                    start_new_session=True,
                )
            self._owner_pid = os.getpid()
            self._url = self._wait_until_ready(self.process, ready_file)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> int | None:
        """Stop the shop (SIGTERM, SIGKILL after 5 s) and return its exit code; safe to call twice.

        In a process forked from the one that started the shop (Locust's ``--processes`` workers fork after the
        shop started), this does nothing: the shop and its files belong to the parent.
        """
        if self._owner_pid is not None and self._owner_pid != os.getpid():
            return None
        process, self._url = self.process, None
        code = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=_STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            code = process.returncode
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
        return code

    def __enter__(self) -> DemoShopProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _environment(self) -> dict[str, str]:
        environment = _child_environment()
        if self.api_token is not None:
            environment[API_TOKEN_ENV] = self.api_token
        if self.stripe_secret is not None:
            environment[STRIPE_SECRET_ENV] = self.stripe_secret
        return environment

    @property
    def _stderr_path(self) -> Path:
        assert self._work_dir is not None
        return self._work_dir / "stderr.log"

    def _wait_until_ready(self, process: subprocess.Popen[bytes], ready_file: Path) -> str:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if ready_file.exists():
                return str(json.loads(ready_file.read_text())["url"])
            if process.poll() is not None:
                code = process.returncode
                raise DemoShopError(f"the demo shop exited with code {code} before it was ready: {self._stderr_tail()}")
            time.sleep(_POLL_S)
        output = self._stderr_tail() or "no output"
        raise DemoShopError(f"the demo shop was not ready after {self.startup_timeout:g} s: {output}")

    def _stderr_tail(self) -> str:
        try:
            lines = self._stderr_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-_ERROR_TAIL_LINES:])


def _child_environment() -> dict[str, str]:
    """The launcher's environment, with this package's source root first on ``PYTHONPATH``."""
    source_root = str(Path(__file__).resolve().parents[2])
    environment = dict(os.environ)
    paths = [source_root, *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    environment["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return environment
