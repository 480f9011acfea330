"""Composition root: builds the container (what every area shares) and the Bot.

Nothing else constructs these; handlers and jobs receive what they need from here. The
per-area use cases are built in wiring/<area>.py, the dispatcher in wiring/dispatcher.py.
Entry points (cli, runtime, sandbox) call this module; nothing below them imports it.
"""

from __future__ import annotations

import logging
import secrets

from forever.config import Settings
from forever.db.engine import make_engine, make_session_factory
from forever.domain.catalog import load_catalog
from forever.domain.clock import Clock, SystemClock
from forever.domain.signing import (
    EXPERIMENT_KEY_PURPOSE,
    SUPPRESSION_KEY_PURPOSE,
    Signer,
    derive_key,
)
from forever.rendering import Renderer
from forever.telegram.bot_port import build_bot
from forever.wiring.container import Container, new_instance_id

__all__ = ["Container", "build_bot", "build_container", "new_instance_id"]

log = logging.getLogger(__name__)


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    catalog = load_catalog(settings.catalog_path, settings.default_locale)
    renderer = Renderer(default_locale=settings.default_locale, timezone=settings.timezone)
    engine = make_engine(settings.database_url)
    # Without SECRET_KEY (only allowed for sandbox and migrate) links and the suppression
    # list's keyed hashes last one process.
    secret = (
        settings.secret_key.get_secret_value() if settings.secret_key else secrets.token_hex(32)
    )
    sessions = make_session_factory(engine, email_key=derive_key(secret, SUPPRESSION_KEY_PURPOSE))
    return Container(
        settings=settings,
        clock=clock,
        catalog=catalog,
        renderer=renderer,
        engine=engine,
        sessions=sessions,
        signer=Signer(secret),
        experiment_key=derive_key(secret, EXPERIMENT_KEY_PURPOSE),
    )
