"""The sandbox's own refusal: raised by the world, turned into a 409 by the page's API."""

from __future__ import annotations


class SandboxError(Exception):
    """An action the page asked for that cannot be done; the message says why."""
