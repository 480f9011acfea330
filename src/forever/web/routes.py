"""The web adapter's own routes on the built-in (public) web server. None today: the email
links are installed by the composition root, which builds their use cases
(wiring/customers.py), and /metrics has a listener of its own (web/metrics.py).

Each installer is `install(app, context)` and declares what it reads from the context as a
Protocol of its own (see web/server.py). Entry points add theirs (the webhook, the sandbox's
page) next to these; nothing here knows about them.
"""

from __future__ import annotations

from typing import Any

from forever.web.server import RouteInstaller


def route_installers() -> list[RouteInstaller[Any]]:
    return []
