"""The demo shop's command line: ``python -m shopstorm.demoshop`` and ``shopstorm shop`` call :func:`main`.

It parses the arguments, validates the store URL and fault names up front, and runs the server. Errors a user
can cause end in one line on stderr and an exit code, never a traceback: 2 for bad usage (unknown fault,
malformed store URL, cannot listen), 4 when the PostgreSQL store cannot be reached. A graceful stop by
Ctrl-C or SIGTERM exits 0. Without ``--store`` the shop keeps a SQLite file in a new temporary directory and
removes that directory when it stops. The checkout API's secrets (``--api-token``, ``--stripe-secret``) may
come from the environment instead, so that they never show in a process list.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from shopstorm.demoshop.core.basic_auth import BasicAuthCredentials, BasicAuthError
from shopstorm.demoshop.core.faults import Fault, UnknownFaultError, parse_faults
from shopstorm.demoshop.core.store import StoreUnreachableError, StoreURLError, parse_store_url
from shopstorm.demoshop.process import API_TOKEN_ENV, STRIPE_SECRET_ENV
from shopstorm.demoshop.server import ListenError, ShopSettings, bind_socket, serve
from shopstorm.demoshop.webshop.api import ANSWER_STYLES

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNREACHABLE = 4
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit code 2, argparse's own) instead of the usage text."""

    def error(self, message: str) -> NoReturn:
        sys.exit(_fail(f"{message} (see `{self.prog} --help`)", EXIT_USAGE))


def build_parser(prog: str = "python -m shopstorm.demoshop") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description=(
            "Run shopstorm's demo shop: the webshop API (/stock, /payment, /orders), an HTML storefront "
            "(/, /products, /cart, /checkout, /account) and a Polar-like checkout API (/v1: products, checkouts, "
            "orders, webhook endpoints, a Stripe event intake) with a background job queue and signed webhooks, "
            "over one store, on one port."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="sqlite:///path.db or postgresql://user@host:port/db (default: SQLite in a new temp dir)",
    )
    parser.add_argument("--schema", metavar="NAME", help="PostgreSQL schema for the tables (default: public)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help=f"switch on a bug, repeatable: {', '.join(fault.value for fault in Fault)}",
    )
    parser.add_argument(
        "--basic-auth",
        metavar="USER:PASS",
        help="require HTTP basic auth on every route except /health and /v1 (the checkout API has its token)",
    )
    parser.add_argument(
        "--api-token",
        metavar="TOKEN",
        help=f"bearer token of the checkout API (/v1), default ${API_TOKEN_ENV} (better: ps shows no environment); "
        "without one, /v1 answers 401",
    )
    parser.add_argument(
        "--stripe-secret",
        metavar="SECRET",
        help=f"Stripe webhook secret (whsec_...) that signs provider events, default ${STRIPE_SECRET_ENV}",
    )
    parser.add_argument(
        "--webshop-answers",
        choices=ANSWER_STYLES,
        default="reference",
        help="how the webshop API answers: 'reference' as the course's reference implementation (JSON only for "
        "creates and reads, plain text for state changes, Flask's HTML 400 page for refusals; the default) or "
        "'json' (JSON everywhere, 201 on creates, 404 for unknown ids)",
    )
    parser.add_argument("--ready-file", type=Path, metavar="PATH", help="write {url, pid} here once listening")
    parser.add_argument("--log-level", default="warning", choices=_LOG_LEVELS, help="uvicorn log level")
    parser.add_argument("--access-log", action="store_true", help="log every request (off by default)")
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m shopstorm.demoshop") -> int:
    """Run the demo shop until it is stopped; return the process exit code."""
    args = build_parser(prog).parse_args(argv)
    temp_dir: Path | None = None
    try:
        faults = parse_faults(args.fault)
        basic_auth = None if args.basic_auth is None else BasicAuthCredentials.parse(args.basic_auth)
        if args.store is None:
            if args.schema is not None:
                raise StoreURLError("--schema applies to PostgreSQL stores only")
            temp_dir = Path(tempfile.mkdtemp(prefix="shopstorm-demoshop-"))
            args.store = f"sqlite:///{temp_dir / 'shop.db'}"
        location = parse_store_url(args.store, args.schema)
        if not 0 <= args.port <= 65535:
            raise ListenError(f"port must be between 0 and 65535, got {args.port}")
        sock = bind_socket(args.host, args.port)
    except (UnknownFaultError, BasicAuthError, StoreURLError, ListenError) as error:
        _remove(temp_dir)
        return _fail(str(error), EXIT_USAGE)
    settings = ShopSettings(
        location=location,
        faults=faults,
        ready_file=args.ready_file,
        log_level=args.log_level,
        access_log=args.access_log,
        basic_auth=basic_auth,
        api_token=args.api_token or os.environ.get(API_TOKEN_ENV) or None,
        stripe_secret=args.stripe_secret or os.environ.get(STRIPE_SECRET_ENV) or None,
        webshop_answers=args.webshop_answers,
    )
    try:
        asyncio.run(serve(settings, sock))
    except StoreUnreachableError as error:
        return _fail(f"cannot reach the store ({location.describe()}): {error}", EXIT_UNREACHABLE)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        _remove(temp_dir)
    return EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"demo shop: {message}", file=sys.stderr, flush=True)
    return code


def _remove(temp_dir: Path | None) -> None:
    if temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)
