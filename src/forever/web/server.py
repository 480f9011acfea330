"""The built-in web server. Feature modules add their routes through `add_routes`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from sqlalchemy import text

from forever.app import Container

log = logging.getLogger(__name__)

CONTAINER_KEY = web.AppKey("container", Container)

RouteInstaller = Callable[[web.Application, Container], None]


async def healthz(request: web.Request) -> web.Response:
    container = request.app[CONTAINER_KEY]
    try:
        async with container.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        log.warning("health check: database unreachable", exc_info=True)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok"})


def build_web_app(
    container: Container, installers: list[RouteInstaller] | None = None
) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[CONTAINER_KEY] = container
    app.router.add_get("/healthz", healthz)
    for install in installers or []:
        install(app, container)
    return app


async def start_web(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner and the real port (port 0 picks a free one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    real_port = server.sockets[0].getsockname()[1] if server and server.sockets else port
    return runner, real_port
