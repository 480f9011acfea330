"""The built-in web server. Feature modules add their routes through route installers.

An installer is `install(app, context)`: the entry point that builds the app passes the same
context to each one (the composition root's container), and each installer declares the
little it reads from it as a Protocol of its own. This module knows no composition root.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol, TypeAlias, TypeVar

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


class Served(Protocol):
    """What the server itself needs from the context: the database, for /healthz."""

    @property
    def engine(self) -> AsyncEngine: ...


ContextT = TypeVar("ContextT", bound=Served)
InstalledT = TypeVar("InstalledT")
RouteInstaller: TypeAlias = Callable[[web.Application, InstalledT], None]

ENGINE_KEY = web.AppKey("engine", AsyncEngine)


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[ENGINE_KEY].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        log.warning("health check: database unreachable", exc_info=True)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok"})


MAX_REQUEST_BYTES = 1024 * 1024  # the largest request body the web server reads


def build_web_app(
    context: ContextT, installers: Iterable[RouteInstaller[ContextT]] = ()
) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[ENGINE_KEY] = context.engine
    app.router.add_get("/healthz", healthz)
    for install in installers:
        install(app, context)
    return app


async def start_web(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner and the real port (port 0 picks a free one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    real_port = port
    for address in runner.addresses:  # (host, port) for each bound socket
        real_port = int(address[1])
        break
    return runner, real_port
