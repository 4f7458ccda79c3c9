"""User-facing errors and the exit codes they map to.

Every error a user can cause (a bad flag, an unreachable shop) is raised as a :class:`ShopstormError` subclass
carrying its exit code; the CLI prints its message as one line and exits with that code, never a traceback.
The codes are fixed by the design: 0 all gates passed, 1 a performance gate failed, 2 bad usage or settings,
3 the audit found violations, 4 the target could not be reached or seeded, 130 interrupted (Ctrl-C),
143 terminated (SIGTERM).
"""

from __future__ import annotations

import signal
from enum import IntEnum

from shopstorm.redaction import mask_url_credentials

# said on Ctrl-C before the load started, by the command line or by the engine, whichever was running
INTERRUPTED_BEFORE_LOAD = "shopstorm: interrupted before the load started; nothing was written"


class ExitCode(IntEnum):
    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    AUDIT_FAILED = 3
    TARGET_UNREACHABLE = 4
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM


class ShopstormError(Exception):
    """An error with a one-line message meant for the user and the exit code it ends the run with."""

    exit_code: ExitCode = ExitCode.USAGE

    def __str__(self) -> str:
        return mask_url_credentials(super().__str__())  # a shop's URL in the message may carry a password


class UsageError(ShopstormError):
    """Bad command line, settings file, environment variable or input file."""

    exit_code = ExitCode.USAGE


class TargetUnreachable(ShopstormError):
    """The shop could not be reached, or refused to be seeded, before the load started."""

    exit_code = ExitCode.TARGET_UNREACHABLE


class Terminated(KeyboardInterrupt):
    """SIGTERM before the load started: ends the command as Ctrl-C does, with exit code 143."""


def exit_code_of(interrupt: KeyboardInterrupt) -> int:
    """The exit code of a command a signal ended before its load started."""
    return ExitCode.TERMINATED if isinstance(interrupt, Terminated) else ExitCode.INTERRUPTED


def terminate_as_interrupt() -> None:
    """Until the run installs its own handlers, SIGTERM ends the command like Ctrl-C: one line and exit code 143,
    not a silent death by signal (what ``docker stop`` or a CI runner would otherwise see while Python starts)."""

    def on_sigterm(signum: int, frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, on_sigterm)
