"""The status server: the page (/), its JSON (/api/status) and /metrics, behind one token.

A Starlette app served by uvicorn on the gateway's own event loop (uvicorn leaves the signals
to the gateway); every route answers 401 without the token (`Authorization: Bearer TOKEN` or
`?token=TOKEN`, compared in constant time). Read-only: GET only, nothing is written.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway.config.status import split_listen
from gateway.status.collect import StatusSource
from gateway.status.metrics import metrics_registry

log = logging.getLogger(__name__)

PAGE = "page.html"
STOP_GRACE_S = 1.0


def _page() -> tuple[str, str]:
    """The page's HTML and its Content-Security-Policy (its one inline script, by hash)."""
    html = resources.files("gateway.status").joinpath(PAGE).read_text(encoding="utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
                      + "'" for s in scripts)
    policy = (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
              "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")
    return html, policy


def bearer_token(request: Request) -> str:
    """The token a request carries ("" for none)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token", "")


def make_app(source: StatusSource, token: str) -> Starlette:
    """The app: every route GET-only and behind `token`."""
    expected = token.encode("utf-8")
    html, policy = _page()
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
               "X-Content-Type-Options": "nosniff"}

    def guarded(handler: Callable[[Request], Awaitable[Response]]):
        async def endpoint(request: Request) -> Response:
            if not hmac.compare_digest(bearer_token(request).encode("utf-8"), expected):
                return JSONResponse({"error": "a valid token is needed (Authorization: Bearer "
                                     "TOKEN, or ?token=TOKEN)"}, status_code=401,
                                    headers={**headers, "WWW-Authenticate": "Bearer"})
            response = await handler(request)
            response.headers.update(headers)
            return response
        return endpoint

    async def page(request: Request) -> Response:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})

    async def api_status(request: Request) -> Response:
        body = json.dumps(await source.status(), ensure_ascii=False, allow_nan=False,
                          default=str)
        return Response(body, media_type="application/json")

    async def metrics(request: Request) -> Response:
        status = await source.status()
        data = generate_latest(metrics_registry(source.live(), status))
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/", guarded(page)), Route("/api/status", guarded(api_status)),
                             Route("/metrics", guarded(metrics))])


class _Server(uvicorn.Server):
    """uvicorn on the gateway's loop: the gateway keeps SIGTERM/SIGINT (it stops the server)."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


class StatusServer:
    """The running server: `close()` stops it (within STOP_GRACE_S)."""

    def __init__(self, server: _Server, task: asyncio.Task[Any], where: str) -> None:
        self.server, self.task, self.where = server, task, where

    async def close(self) -> None:
        self.server.should_exit = True
        done, _ = await asyncio.wait({self.task}, timeout=STOP_GRACE_S + 2.0)
        if not done:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


def _listening_socket(listen: str) -> socket.socket:
    host, port = split_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=16)


async def start_status_server(config: Any, acquisition: Any, sink: Any,
                              uplinks: Any = None) -> StatusServer | None:
    """Serve [status] on the running loop; None (logged) when its token or port cannot be had:
    the status page is never a reason to stop metering."""
    section = config.status
    path = config.config_path(section.token_file)
    try:
        token = path.read_text(encoding="utf-8").strip()
        if not token:
            raise ValueError(f"{path} is empty")
        sock = _listening_socket(section.listen)
    except (OSError, ValueError) as exc:
        log.error("status page not served: %s", exc)
        return None
    try:
        source = StatusSource(config, acquisition, sink, uplinks)
        settings = uvicorn.Config(make_app(source, token), log_config=None, access_log=False,
                                  lifespan="off", limit_concurrency=32,
                                  timeout_graceful_shutdown=STOP_GRACE_S, server_header=False)
    except Exception:
        sock.close()
        log.exception("status page not served")
        return None
    server = _Server(settings)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="status-server")
    where = sock.getsockname()
    log.info("status page on http://%s:%d/ (token in %s)", where[0], where[1], path)
    return StatusServer(server, task, section.listen)
