"""Wiring of the owner console: its use cases, its web pages and the /console command."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from forever import catalogs
from forever.db.repositories.console import SqlConsoleStore
from forever.db.repositories.console_broadcasts import SqlConsoleBroadcasts
from forever.db.repositories.console_catalog import SqlCatalogVersions
from forever.db.repositories.console_email import SqlConsoleEmails
from forever.db.repositories.console_people import SqlAuditIndex, SqlConsolePeople
from forever.db.repositories.console_texts import SqlTextVersions
from forever.db.repositories.staff import SqlAuditLog, SqlEventHistory
from forever.domain.catalog import Catalog, LiveCatalog
from forever.services.broadcasts import BroadcastDesk
from forever.services.console import ConsoleAuth, ConsoleDashboard
from forever.services.console_broadcasts import ConsoleBroadcasts, PhotoUpload
from forever.services.console_catalog import ConsoleCatalog
from forever.services.console_email import ConsoleEmailBroadcasts
from forever.services.console_inbox import ConsoleAudit, ConsoleInbox, KeepUnknown
from forever.services.console_people import ConsolePeople
from forever.services.console_texts import ConsoleTexts
from forever.services.refunds import StaffRefunds
from forever.services.staff import StaffTools
from forever.services.staff_replies import StaffReplies
from forever.telegram.commands import CommandMenus
from forever.web.console import ConsoleWeb, session_response
from forever.web.console_broadcasts import BroadcastPages
from forever.web.console_catalog import CatalogPages
from forever.web.console_dashboard import DashboardPages
from forever.web.console_email import EmailBroadcastPages
from forever.web.console_inbox import InboxPages
from forever.web.console_people import PeoplePages
from forever.web.console_texts import TextPages
from forever.wiring import customers
from forever.wiring import staff as staff_area
from forever.wiring.container import Container


def auth(container: Container) -> ConsoleAuth:
    settings = container.settings
    return ConsoleAuth(
        container.uow,
        SqlConsoleStore(container.uow),
        SqlAuditLog(container.uow),
        container.clock,
        owners=settings.admin_ids,
        support=settings.support_ids,
    )


def base_url(container: Container) -> str:
    return str(container.settings.public_url).rstrip("/")


def chat_dependencies(container: Container) -> dict[str, object]:
    settings = container.settings
    return {
        "console_auth": auth(container),
        "console_base_url": base_url(container),
        "console_staff_ids": settings.admin_ids | settings.support_ids,
        "keep_unknown": KeepUnknown(container.uow, SqlAuditLog(container.uow), container.clock),
    }


class _Names:
    def __init__(self, container: Container) -> None:
        self._container = container

    @property
    def plans(self) -> dict[str, str]:
        catalog = self._container.catalog  # the one in force now
        locale = self._container.settings.default_locale
        return {p.id: p.name.get(locale, p.id) for p in catalog.plans}


def install_routes(
    app: web.Application,
    container: Container,
    photos: PhotoUpload | None = None,
    menus: CommandMenus | None = None,
) -> None:
    """The console's pages under /console on the bot's web server (`photos`: how photo
    broadcasts reach Telegram, without it the composer refuses photos; `menus`: the command
    menu registered again when the owner changes one of its texts)."""
    uow = container.uow
    pages = ConsoleWeb(
        auth(container),
        container.renderer,
        business_name=container.catalog.business_name,
        secure_cookie=base_url(container).startswith("https://"),
        bot_url=lambda: f"https://t.me/{container.bot_username}" if container.bot_username else "",
    )
    pages.install(app)
    DashboardPages(
        pages, ConsoleDashboard(uow, SqlEventHistory(uow), container.clock), _Names(container)
    ).install(app)
    PeoplePages(pages, people(container), lambda: [p.id for p in container.catalog.plans]).install(
        app
    )
    replies = staff_area.chat_dependencies(container)["staff_replies"]
    assert isinstance(replies, StaffReplies)
    InboxPages(
        pages,
        ConsoleAudit(uow, SqlAuditIndex(uow)),
        ConsoleInbox(uow, SqlAuditIndex(uow), replies, container.signer),
    ).install(app)
    BroadcastPages(
        pages, broadcasts(container, photos), lambda: [p.id for p in container.catalog.plans]
    ).install(app)
    EmailBroadcastPages(
        pages, email_broadcasts(container), lambda: [p.id for p in container.catalog.plans]
    ).install(app)
    CatalogPages(pages, catalog_editor(container)).install(app)
    TextPages(pages, text_editor(container, menus)).install(app)


def put_in_force(container: Container, new: Catalog) -> None:
    """Make `new` (built and checked whole) the catalog everywhere in this process, without
    a restart: every use case and view was given the container's one LiveCatalog, whose
    `swap` replaces the frozen Catalog it holds with one assignment. No Catalog is changed
    in place."""
    live = container.catalog
    if not isinstance(live, LiveCatalog):  # a catalog set by hand after the container
        live = container.catalog = LiveCatalog(live)
    live.swap(new)


def catalog_editor(container: Container) -> ConsoleCatalog:
    uow = container.uow
    return ConsoleCatalog(
        uow,
        SqlCatalogVersions(uow),
        SqlAuditLog(uow),
        container.clock,
        lambda: container.catalog,
        lambda new: put_in_force(container, new),
        default_locale=container.settings.default_locale,
    )


async def follow_catalog(container: Container, now: datetime) -> int:
    """The sweep that puts the newest saved catalog version, and the owner's saved texts,
    in force here (1 if it changed either)."""
    catalog = await catalog_editor(container).refresh()
    texts = await text_editor(container).refresh()
    return int(catalog or texts)


def text_editor(container: Container, menus: CommandMenus | None = None) -> ConsoleTexts:
    """The owner's text overrides: in force process-wide in forever.catalogs, consulted by
    every locale's translations before the catalog (`menus`: the command menu registered
    again with Telegram when an override of one of its descriptions changed)."""
    uow = container.uow
    return ConsoleTexts(
        uow,
        SqlTextVersions(uow),
        SqlAuditLog(uow),
        container.clock,
        catalogs.messages,
        catalogs.overrides,
        catalogs.set_overrides,
        catalogs.plurals,
        catalogs.plural_examples,
        menus.follow if menus is not None else None,
    )


def broadcasts(container: Container, photos: PhotoUpload | None = None) -> ConsoleBroadcasts:
    """The console's broadcasts, on the staff area's own BroadcastDesk (the one /broadcast
    in chat uses): same drafts, confirmation, sender and audit entries."""
    desk = staff_area.chat_dependencies(container)["broadcast_desk"]
    assert isinstance(desk, BroadcastDesk)
    uow = container.uow
    return ConsoleBroadcasts(
        uow, SqlConsoleBroadcasts(uow), desk, SqlAuditLog(uow), container.clock, photos
    )


def email_broadcasts(container: Container) -> ConsoleEmailBroadcasts:
    """The console's email broadcasts: marketing rows in the outbox, so the delivery worker's
    one email policy (consent, suppression, cap, quiet hours, unsubscribe) applies."""
    uow = container.uow
    return ConsoleEmailBroadcasts(
        uow,
        SqlConsoleEmails(uow),
        container.outbox,
        container.delivery_kick,
        SqlAuditLog(uow),
        container.clock,
    )


async def send_due_broadcasts(container: Container, now: datetime) -> int:
    """The sweep that queues the console's scheduled broadcasts whose time has come."""
    return await broadcasts(container).send_due(now)


def people(container: Container) -> ConsolePeople:
    """The people use cases, on the staff area's own grant and refund (same rules, same
    audit entries as /grant and /refund) and the customers' erasure."""
    staff_uses = staff_area.chat_dependencies(container)
    tools = staff_uses["staff_tools"]
    refunds = staff_uses["staff_refunds"]
    assert isinstance(tools, StaffTools) and isinstance(refunds, StaffRefunds)
    uow = container.uow
    return ConsolePeople(
        uow,
        SqlConsolePeople(uow),
        SqlAuditLog(uow),
        container.clock,
        tools,
        refunds,
        customers.build(container).privacy,
    )


async def signed_in(container: Container, telegram_id: int) -> web.Response:
    """The sandbox's shortcut: sign a staff member in at once (a link made and used on the
    spot), answered with the redirect that sets their cookie."""
    sign = auth(container)
    token = await sign.issue_link(telegram_id)
    staff = await sign.sign_in(token) if token else None
    if staff is None:
        return web.Response(status=403, text="not staff")
    return session_response(staff, secure=base_url(container).startswith("https://"))
