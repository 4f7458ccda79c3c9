"""Start a Locust run with shopstorm's plugin loaded, and turn its end into an exit code.

shopstorm does not re-implement Locust's command line: it translates its own settings into Locust flags, appends
whatever Locust flags the user gave (``--csv``, ``--processes``, ``--master``, ``--tags``, …) and calls Locust's
own ``main()``. The run's settings reach the plugin through the ``SHOPSTORM_RUN`` environment variable (so
``--processes`` children inherit them).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import socket
import sys
from pathlib import Path

from shopstorm.errors import INTERRUPTED_BEFORE_LOAD, UsageError, exit_code_of
from shopstorm.settings import Settings

_NUMBER = re.compile(r"-\d+(\.\d*)?")  # a negative value, not a flag
RUN_ENV = "SHOPSTORM_RUN"  # how `shopstorm run` hands the run to Locust's processes: {"target": name, "settings": json}

LOCUSTFILE = str(Path(__file__).with_name("locustfile.py"))
WEB_PORT = 8089  # Locust's default


def _given(locust_args: list[str], *flags: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in locust_args for flag in flags)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _given_value(locust_args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(locust_args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and index + 1 < len(locust_args):
            return locust_args[index + 1]
    return None


def _check_free(host: str, port: int, what: str, option: str) -> None:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers themselves do
            sock.bind((host, port))
    except (OSError, OverflowError, UnicodeError) as error:  # in use, no such address, a port beyond 65535
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(f"{what} cannot listen on {host or '*'}:{port} ({reason}); choose another {option}") from None


def check_ports(target_name: str, settings: Settings, locust_args: list[str]) -> None:
    """The ports this run will listen on are free: found now, not as a traceback after the shop was seeded.

    Locust's web UI (unless headless or a worker), and the checkout-api's webhook receiver when given a port."""
    if target_name == "checkout-api" and settings.webhooks and settings.webhook_port:
        _check_free("127.0.0.1", settings.webhook_port, "the webhook receiver", "--webhook-port")
    if settings.headless or _given(locust_args, "--headless", "--worker"):
        return
    from_env = os.environ.get("LOCUST_WEB_PORT", "")
    port = settings.web_port or (int(from_env) if from_env.isascii() and from_env.isdigit() else WEB_PORT)
    host = _given_value(locust_args, "--web-host") or os.environ.get("LOCUST_WEB_HOST") or "127.0.0.1"
    _check_free("" if host == "*" else host, port, "the web UI", "--web-port")


def locust_argv(settings: Settings, host: str, locust_args: list[str]) -> list[str]:
    argv = ["locust", "-f", LOCUSTFILE, "--host", host]
    users, spawn_rate = settings.users, settings.spawn_rate
    if settings.open_model:
        # The open model's shoppers are a pool that arrivals draw on, all started at once.
        users, spawn_rate = settings.max_users, spawn_rate or float(settings.max_users)
    if users is not None:
        argv += ["--users", str(users)]
    if spawn_rate is not None:
        argv += ["--spawn-rate", str(spawn_rate)]
    if settings.run_time is not None:
        argv += ["--run-time", f"{settings.run_time}s"]
    if settings.web_port is not None:
        argv += ["--web-port", str(settings.web_port)]
    headless = settings.headless or _given(locust_args, "--headless")
    if headless and not _given(locust_args, "--headless"):
        argv.append("--headless")
    if not headless and not _given(locust_args, "--web-host") and not os.environ.get("LOCUST_WEB_HOST"):
        # Locust's UI listens on every interface by default, and anyone who reaches it can start load against the
        # shop with its credentials: loopback unless the user opens it (--web-host, $LOCUST_WEB_HOST).
        argv += ["--web-host", "127.0.0.1"]
    if headless:
        # shopstorm's live view and summary table replace Locust's periodic and final tables; Locust's own
        # numbers are kept as a file instead of being printed a second time.
        if not _given(locust_args, "--print-stats", "--only-summary"):
            argv.append("--only-summary")
        if not _given(locust_args, "--json", "--json-file"):
            argv += ["--json-file", str(Path(settings.out) / "locust-stats")]
        if not _given(locust_args, "--loglevel", "-L"):
            argv += ["--loglevel", "WARNING"]
    if _given(locust_args, "--processes") and not _given(
        locust_args, "--master-bind-host", "--master-bind-port", "--master-host", "--master-port"
    ):
        # Locust's master binds port 5557 on every interface by default: two --processes runs on one machine
        # would share each other's workers. One machine's processes need only a free loopback port.
        port = str(_free_loopback_port())
        argv += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port]
        argv += ["--master-host", "127.0.0.1", "--master-port", port]
    return argv + locust_args


def check_locust_flags(locust_args: list[str], own_flags: set[str]) -> None:
    """Refuse, before anything starts, a flag neither shopstorm nor Locust knows, suggesting the closest of both
    (Locust alone would judge ``--chekouts`` against its own flags and suggest ``--host``)."""
    from locust.argument_parser import get_parser  # after `import locust` (cli.py): gevent patches first

    locust_flags = {flag for action in get_parser(default_config_files=[])._actions for flag in action.option_strings}
    for token in locust_args:
        flag = token.split("=", 1)[0]
        if not flag.startswith("-") or flag == "-" or _NUMBER.fullmatch(flag) or flag in locust_flags:
            continue
        near = difflib.get_close_matches(flag, sorted(own_flags | locust_flags), n=1, cutoff=0.6)
        hint = f": did you mean {near[0]}?" if near else " (see `--help`, and `locust --help` for Locust's flags)"
        raise UsageError(f"unrecognized argument {flag}{hint}")


def run_locust(target_name: str, settings: Settings, host: str, locust_args: list[str]) -> int:
    """Run Locust in this process and return its exit code."""
    os.environ[RUN_ENV] = json.dumps({"target": target_name, "settings": settings.to_json()})
    import locust.main  # imported late: it monkey-patches the standard library for gevent

    from shopstorm.engine import signals

    signals.install()  # a signal while Locust starts or the shop is seeded must reach this greenlet too
    saved_argv = sys.argv
    sys.argv = locust_argv(settings, host, locust_args)
    try:
        locust.main.main()
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except KeyboardInterrupt as interrupt:  # before the load began (a run under way ends in SystemExit above)
        print(INTERRUPTED_BEFORE_LOAD, file=sys.stderr)
        return exit_code_of(interrupt)
    finally:
        sys.argv = saved_argv
    return 0
