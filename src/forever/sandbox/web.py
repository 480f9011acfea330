"""The sandbox page and its JSON API, installed on the bot's own web server.

`install` is listed in web/routes.py like every feature's routes, and does nothing unless
the process is a sandbox (the container carries it in extras["sandbox"]).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from forever.app import Container

STATIC = Path(__file__).resolve().parent / "static"


def install(app: web.Application, container: Container) -> None:
    sandbox = container.extras.get("sandbox")
    if sandbox is None:
        return
    from forever.sandbox.api import SandboxApi

    SandboxApi(sandbox).install(app)
