"""Runs the demo shop: binds the listening socket, prepares the store, serves with uvicorn until told to stop.

The socket is bound here (``port 0`` picks a free one) and handed to uvicorn, so the real URL is known before
the first request. Once uvicorn listens, the shop prints one banner line (never a secret) and, if asked, writes
``{"url": ..., "pid": ...}`` to a ready file atomically (temporary file + rename) so a launcher can wait for
it. The checkout API's background work (job worker, webhook sender) runs from the store's preparation to the
end of serving. SIGINT and SIGTERM ask uvicorn for a graceful shutdown; the process then exits 0 instead of
re-raising the signal as uvicorn would by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from shopstorm.demoshop.app import build_app
from shopstorm.demoshop.checkout_api.api import CheckoutApi
from shopstorm.demoshop.core.basic_auth import BasicAuthCredentials
from shopstorm.demoshop.core.faults import FaultSwitches
from shopstorm.demoshop.core.store import Store, StoreLocation

_BACKLOG = 2048
_GRACEFUL_SHUTDOWN_S = 3


@dataclass(frozen=True)
class ShopSettings:
    """Everything the server needs, already validated by the command line."""

    location: StoreLocation
    faults: FaultSwitches
    ready_file: Path | None = None
    log_level: str = "warning"
    access_log: bool = False
    basic_auth: BasicAuthCredentials | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)  # the checkout API's bearer token
    stripe_secret: str | None = field(default=None, repr=False)  # verifies the Stripe intake's signatures
    webshop_answers: str = "reference"  # the webshop API's answer style: "reference" (the course's) or "json"


class ListenError(OSError):
    """The shop could not listen on the requested host and port."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as error:
        raise ListenError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as error:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """The base URL a client on this machine uses to reach the socket."""
    host, port = sock.getsockname()[:2]
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        address = ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{port}"


class _GracefulServer(uvicorn.Server):
    """A uvicorn server whose signal handling is installed by :func:`serve` and never re-raises."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: ShopSettings, sock: socket.socket) -> None:
    """Prepare the store and serve on ``sock`` until SIGINT/SIGTERM; raises StoreUnreachableError."""
    store = Store(settings.location)
    checkout_api = CheckoutApi(store, settings.faults, settings.api_token, settings.stripe_secret)
    config = uvicorn.Config(
        build_app(store, settings.faults, settings.basic_auth, checkout_api, settings.webshop_answers),
        log_level=settings.log_level,
        access_log=settings.access_log,
        lifespan="off",
        server_header=False,
        backlog=_BACKLOG,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
    )
    server = _GracefulServer(config)
    with _exit_on_signals(server):
        try:
            await store.prepare()
            if server.should_exit:  # stopped while the store was being prepared
                return
            async with checkout_api.running():
                serving = asyncio.create_task(server.serve(sockets=[sock]))
                while not server.started and not serving.done():
                    await asyncio.sleep(0.01)
                if server.started and not server.should_exit:
                    _announce(settings, url_of(sock))
                await serving
        finally:
            await store.close()


@contextlib.contextmanager
def _exit_on_signals(server: uvicorn.Server) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, server.handle_exit, sig, None)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def _announce(settings: ShopSettings, url: str) -> None:
    faults = ", ".join(settings.faults.names) or "none"
    print(
        f"demo shop: {url} (webshop API, storefront, /v1 checkout API; store: {settings.location.describe()}; "
        f"faults: {faults})",
        flush=True,
    )
    if settings.ready_file is not None:
        write_ready_file(settings.ready_file, url)


def write_ready_file(path: Path, url: str) -> None:
    """Write ``{"url", "pid"}`` so that a reader sees either nothing or the whole file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(partial, path)
