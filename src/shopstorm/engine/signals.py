"""How a run stops on a signal: Ctrl-C (SIGINT) and SIGTERM, at every phase, without losing a finished load.

A run goes through three phases, and a signal means something different in each:

- ``starting`` (Locust starting, the shop being seeded, a master waiting for its workers): nothing ran yet. The
  signal is raised in the main greenlet (KeyboardInterrupt, or :class:`Terminated` for SIGTERM); the seeds are
  undone and the command says "nothing was written".
- ``load``: Locust's own handling stops the run: a Ctrl-C is raised in the main greenlet, where Locust catches it;
  Locust's SIGTERM handler shuts the run down itself. Either way the plugin's ``quitting`` listener stops the
  shoppers, audits, writes summary.json and prints the table. (Locust installs its SIGTERM handler a moment after
  the seed: a SIGTERM that finds the run still in ``load`` half a second later is raised in the main greenlet.)
- ``report`` (the audit, summary.json, the table): a signal is never raised into the code writing the summary.
  It is remembered (the exit code says it) and it cuts the audit short: the summary says the audit was
  interrupted and what it had checked.

The exit code of a run a signal stopped is 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM.

gevent runs these handlers in a greenlet of their own: Python's own handler would raise in whichever greenlet
happens to run (often a shopper's), which gevent reports with a traceback.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import gevent

from shopstorm.errors import Terminated

Phase = Literal["starting", "load", "report"]
LOCUST_SIGTERM_GRACE_S = 0.5  # how long a SIGTERM in the load phase waits for Locust's own handler to begin


class AuditInterrupted(gevent.GreenletExit):
    """Raised in the audit's greenlet by a signal during the report: the audit stops where it is."""


@dataclass
class StopState:
    phase: Phase = "starting"
    signal: int | None = None  # the first stopping signal received, if any
    on_report_signal: Callable[[], None] | None = None  # what a signal during the report does (cut the audit)

    @property
    def exit_code(self) -> int | None:
        """128 + the signal's number when a signal stopped the run, else None."""
        return None if self.signal is None else 128 + self.signal

    @property
    def signal_name(self) -> str | None:
        return None if self.signal is None else signal.Signals(self.signal).name


STOP = StopState()
_installed = False


def install() -> None:
    """Handle SIGINT and SIGTERM as the module describes. Installed once per process (gevent would run every
    handler installed): by ``shopstorm run`` before Locust starts, or by the plugin for a plain ``locust -f``."""
    global _installed
    if _installed:
        return
    _installed = True
    main = gevent.get_hub().parent

    def on_signal(signum: int) -> None:
        if STOP.signal is None:
            STOP.signal = signum
        if STOP.phase == "starting":
            main.throw(Terminated if signum == signal.SIGTERM else KeyboardInterrupt)
        elif STOP.phase == "load":
            if signum == signal.SIGINT:
                main.throw(KeyboardInterrupt)  # Locust catches it in its main greenlet and shuts down
            else:
                gevent.spawn_later(LOCUST_SIGTERM_GRACE_S, _terminate_unless_reporting, main)
        elif STOP.on_report_signal is not None:
            STOP.on_report_signal()

    gevent.signal_handler(signal.SIGINT, on_signal, signal.SIGINT)
    gevent.signal_handler(signal.SIGTERM, on_signal, signal.SIGTERM)


def _terminate_unless_reporting(main: gevent.Greenlet) -> None:
    """Locust's SIGTERM handler was not installed yet (or did nothing): stop the run as Ctrl-C would."""
    if STOP.phase == "load":
        main.throw(Terminated)
