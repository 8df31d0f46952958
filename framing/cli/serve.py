"""`framing serve`: the web page and JSON API (registered in framing/cli.py)."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Annotated

import typer


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the model loads so a busy port fails in a second."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}); is another server using it? Try --port") from None
    return sock


def serve(
    model: Annotated[Path | None, typer.Option("--model", "-m", help="model folder (default: $FRAMING_MODEL)")] = None,
    host: Annotated[
        str, typer.Option(help="address to listen on; the default serves this computer only, there is no login")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on (0: any free port)")] = 8000,
    max_mb: Annotated[float, typer.Option("--max-mb", help="largest accepted paste or upload, in MB")] = 2.0,
    max_sentences: Annotated[int, typer.Option(help="most sentences one request may classify (413 above)", min=1)] = 5000,
    time_limit: Annotated[float, typer.Option(help="seconds a request may take, queue included (503 past it)", min=0.1)] = 60.0,
    trust: Annotated[
        bool, typer.Option("--trust", help="load a model folder that has no checksums.json (nothing to verify it against)")
    ] = False,
) -> None:
    """Serve a web page to read articles by their framing, and a JSON API (/api/classify, /api/outlets)."""
    import uvicorn

    from framing.cli.common import console, err_console, fail, load_classifier
    from framing.errors import FramingError
    from framing.web.app import create_app

    if max_mb <= 0:
        fail("--max-mb must be positive")
    if not _is_loopback(host):
        err_console.print(
            f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this computer can use the page; "
            "there is no login.",
            highlight=False,
        )
    try:
        sock = _bind(host, port)
    except OSError as exc:
        fail(str(exc))
    try:
        classifier = load_classifier(model, trust=trust)
    except FramingError as exc:
        sock.close()
        fail(str(exc))
    # On this computer only, answer only to its own names: a page on another site whose name
    # is made to resolve to 127.0.0.1 (DNS rebinding) sends its own name as Host.
    hosts = {"localhost", "127.0.0.1", "::1", host} if _is_loopback(host) else None
    app = create_app(
        classifier,
        max_bytes=int(max_mb * 1024 * 1024),
        max_sentences=max_sentences,
        time_limit=time_limit,
        allowed_hosts=hosts,
    )
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    console.print(f"framing is ready: open [bold]http://{shown_host}:{bound_port}/[/] in your browser (Ctrl+C stops it)")
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
