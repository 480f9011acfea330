"""Which feature modules add routes to the built-in web server.

Each feature exposes `install(app, container)`; list it here once. (A function rather than a
module-level list so importing a feature stays lazy and nothing is shared between apps.)
"""

from __future__ import annotations

from forever.web.server import RouteInstaller


def route_installers() -> list[RouteInstaller]:
    from forever.sandbox import web as sandbox_web

    installers: list[RouteInstaller] = []
    installers.append(sandbox_web.install)  # only in `bot.py sandbox`
    # Feature modules append their installers here, e.g.:
    #   from forever.web import unsubscribe; installers.append(unsubscribe.install)
    return installers
