"""Wiring of the lifecycle area: its use cases, and what its chat handlers receive by name."""

from __future__ import annotations

from forever.wiring.container import Container


def chat_dependencies(container: Container) -> dict[str, object]:
    """Dispatcher workflow data: each handler parameter of this name receives the value."""
    return {}
