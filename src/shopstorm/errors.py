"""User-facing errors and the exit codes they map to.

Every error a user can cause (a bad flag, an unreachable shop) is raised as a :class:`ShopstormError` subclass
carrying its exit code; the CLI prints its message as one line and exits with that code, never a traceback.
The codes are fixed by the design: 0 all gates passed, 1 a performance gate failed, 2 bad usage or settings,
3 the audit found violations, 4 the target could not be reached or seeded, 130 interrupted.
"""

from __future__ import annotations

from enum import IntEnum

# said on Ctrl-C before the load started, by the command line or by the engine, whichever was running
INTERRUPTED_BEFORE_LOAD = "shopstorm: interrupted before the load started; nothing was written"


class ExitCode(IntEnum):
    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    AUDIT_FAILED = 3
    TARGET_UNREACHABLE = 4
    INTERRUPTED = 130


class ShopstormError(Exception):
    """An error with a one-line message meant for the user and the exit code it ends the run with."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(ShopstormError):
    """Bad command line, settings file, environment variable or input file."""

    exit_code = ExitCode.USAGE


class TargetUnreachable(ShopstormError):
    """The shop could not be reached, or refused to be seeded, before the load started."""

    exit_code = ExitCode.TARGET_UNREACHABLE
