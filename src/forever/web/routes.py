"""Which feature modules add routes to the built-in web server.

Each feature exposes `install(app, container)`; list it here once. (A function rather than a
module-level list so importing a feature stays lazy and nothing is shared between apps.)
"""

from __future__ import annotations

from forever.web.server import RouteInstaller


def route_installers() -> list[RouteInstaller]:
    from forever.sandbox import web as sandbox_web
    from forever.web import metrics
    from forever.wiring.customers import install_email_routes

    installers: list[RouteInstaller] = [install_email_routes, metrics.install]
    installers.append(sandbox_web.install)  # only in `bot.py sandbox`
    return installers
