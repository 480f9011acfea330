"""Which feature modules add routes to the built-in web server.

Each feature exposes `install(app, container)`; list it here once. (A function rather than a
module-level list so importing a feature stays lazy and nothing is shared between apps.)
"""

from __future__ import annotations

from forever.web.server import RouteInstaller


def route_installers() -> list[RouteInstaller]:
    installers: list[RouteInstaller] = []
    # Feature modules append their installers here, e.g.:
    #   from forever.web import unsubscribe; installers.append(unsubscribe.install)
    from forever.web import metrics

    installers.append(metrics.install)
    return installers
