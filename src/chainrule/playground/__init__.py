"""The playground: watch backpropagation happen, in a browser.

    python -m chainrule.playground [--port 8000] [--host 127.0.0.1]

serves a page where the real chainrule engine trains a small network on 2-D data and shows every
forward value a = σ(z), every backward value δ = ∂C/∂z, and every gradient ∂C/∂w = a · δ. It
needs the ``playground`` extra (FastAPI and uvicorn); everything the page loads ships in this
package, so it works without internet. ``running()`` serves it from a background thread (a
notebook, a test).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

try:
    import uvicorn

    from chainrule.playground.app import LOOPBACK, create_app
except ModuleNotFoundError as e:  # pragma: no cover - depends on the installed extras
    raise ModuleNotFoundError(
        f"the playground needs FastAPI and uvicorn ({e.name} is missing): pip install 'chainrule[playground]'"
    ) from e

__all__ = ["create_app", "running", "serve"]


def _listen(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening socket on (host, port) and the URL it serves; port 0 picks a free port."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in 0..65535, got {port!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(
            e.errno, f"cannot listen on {host}:{port} ({e.strerror}): choose another --port or --host"
        ) from None
    sock.listen(128)
    shown = f"[{host}]" if ":" in host else host
    return sock, f"http://{shown}:{sock.getsockname()[1]}/"


def _server(sock: socket.socket, host: str) -> uvicorn.Server:
    hosts = LOOPBACK if host in LOOPBACK else None  # bound to a network address: answer any name
    config = uvicorn.Config(
        create_app(allowed_hosts=hosts),
        log_level="warning",
        timeout_graceful_shutdown=1,  # event streams never end by themselves
    )
    return uvicorn.Server(config)


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the playground until Ctrl+C. Binds 127.0.0.1 (this machine only) unless told
    otherwise, prints its URL, and opens nothing."""
    sock, url = _listen(host, port)
    print(f"chainrule playground: {url}  (Ctrl+C to stop)", flush=True)
    if host not in LOOPBACK:
        print(f"warning: listening on {host}: other machines can reach this playground", flush=True)
    _server(sock, host).run(sockets=[sock])


@contextmanager
def running(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """The playground served from a background thread while the block runs; yields its URL."""
    sock, url = _listen(host, port)
    server = _server(sock, host)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the playground server did not start")
            threading.Event().wait(0.02)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
