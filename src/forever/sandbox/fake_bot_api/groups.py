"""Channels and supergroups of the fake Telegram: members and their statuses, the bot's
administrator rights, invite links, join requests, bans; and the user side (joining through
a link, leaving), which emits `chat_join_request` and `chat_member` updates as Telegram does.

Rules followed (Bot API): managing invite links and join requests needs `can_invite_users`;
banning and unbanning needs `can_restrict_members`; administrators and the creator cannot be
banned by the bot; a link that creates join requests cannot have a member limit; unbanning
with `only_if_banned` leaves a present member alone; a banned user cannot join until unbanned.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from .errors import bad_request
from .methods import BotApiMethods, handles
from .spec import load_spec
from .state import BotState, FakeEvent

if TYPE_CHECKING:
    from .updates import Outcome, PendingUpdate, UpdateQueue


class _Telegram(Protocol):
    """What joining needs of the stand-in (server.FakeBotAPI)."""

    state: BotState
    queue: UpdateQueue
    methods: BotApiMethods

    async def wait_handled(self, update: PendingUpdate, within: float | None = None) -> Outcome: ...


INVITE_LINK_PREFIX = "https://t.me/+"
PRESENT = frozenset({"member", "restricted", "administrator", "creator"})
CONTACT_SECONDS = 5 * 60  # a bot may write to a join requester for a while (user_chat_id)


@dataclass
class InviteLink:
    link: str
    creator: dict[str, Any]
    creates_join_request: bool
    name: str | None = None
    expire_date: int | None = None
    member_limit: int | None = None
    joined: int = 0
    revoked: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "invite_link": self.link,
            "creator": self.creator,
            "creates_join_request": self.creates_join_request,
            "is_primary": False,
            "is_revoked": self.revoked,
        }
        for key in ("name", "expire_date", "member_limit"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass
class GroupChat:
    id: int
    title: str
    type: str  # channel | supergroup
    # user id -> status: creator, administrator, member, restricted, left, kicked
    statuses: dict[int, str] = field(default_factory=dict)
    # administrator user id -> rights given (can_invite_users, can_restrict_members, ...)
    rights: dict[int, dict[str, bool]] = field(default_factory=dict)
    links: dict[str, InviteLink] = field(default_factory=dict)
    requests: dict[int, int] = field(default_factory=dict)  # user id -> request date

    def chat_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "title": self.title}

    def status(self, user_id: int) -> str:
        return self.statuses.get(user_id, "left")

    @property
    def member_count(self) -> int:
        return sum(1 for s in self.statuses.values() if s in PRESENT)


def groups(state: BotState) -> dict[int, GroupChat]:
    found: dict[int, GroupChat] | None = getattr(state, "groups", None)
    if found is None:
        found = {}
        state.groups = found  # type: ignore[attr-defined]
    return found


def add_group(
    state: BotState,
    chat_id: int,
    title: str,
    *,
    kind: str = "supergroup",
    bot_admin: bool = True,
    can_invite_users: bool = True,
    can_restrict_members: bool = True,
) -> GroupChat:
    """A channel or supergroup the bot is in: an administrator with these rights, or (with
    `bot_admin=False`) a plain member."""
    if chat_id >= 0:
        raise ValueError("channel and supergroup ids are negative")
    if kind not in ("channel", "supergroup"):
        raise ValueError("kind is channel or supergroup")
    group = GroupChat(chat_id, title, kind)
    bot_id = int(state.bot_user["id"])
    group.statuses[bot_id] = "administrator" if bot_admin else "member"
    if bot_admin:
        group.rights[bot_id] = {
            "can_invite_users": can_invite_users,
            "can_restrict_members": can_restrict_members,
        }
    groups(state)[chat_id] = group
    return group


@cache
def _admin_flags() -> tuple[str, ...]:
    spec = load_spec().types["ChatMemberAdministrator"]
    return tuple(f.name for f in spec.fields if f.required and f.types == ("Boolean",))


def _user_json(state: BotState, user_id: int) -> dict[str, Any]:
    if user_id == state.bot_user["id"]:
        return dict(state.bot_user)
    user = state.users.get(user_id)
    if user is None:
        raise bad_request("PARTICIPANT_ID_INVALID")
    return user.to_json()


def member_json(state: BotState, group: GroupChat, user_id: int) -> dict[str, Any]:
    status = group.status(user_id)
    out: dict[str, Any] = {"status": status, "user": _user_json(state, user_id)}
    if status == "administrator":
        given = group.rights.get(user_id, {})
        for flag in _admin_flags():
            out[flag] = bool(given.get(flag, flag in ("can_manage_chat",)))
        # Not in the spec this double follows (Bot API 10.2), yet required by the aiogram
        # release the bot uses: sent, as a newer Telegram would, so the bot can read it.
        out["can_send_welcome_messages"] = False
    elif status == "creator":
        out["is_anonymous"] = False
    elif status == "kicked":
        out["until_date"] = 0
    elif status == "restricted":
        raise bad_request("restricted members are not implemented by the fake Bot API")
    return out


def _group(state: BotState, chat_id: Any) -> GroupChat:
    group = groups(state).get(chat_id) if isinstance(chat_id, int) else None
    if group is None:
        raise bad_request("chat not found")
    return group


def _need(state: BotState, group: GroupChat, right: str) -> None:
    bot_id = int(state.bot_user["id"])
    if group.status(bot_id) == "creator":
        return
    if group.status(bot_id) != "administrator" or not group.rights.get(bot_id, {}).get(right):
        raise bad_request("not enough rights")


def _changed(
    methods: BotApiMethods, group: GroupChat, user_id: int, new: str, by: int | None = None
) -> None:
    """Set a status and tell the bot (chat_member update) when it changed."""
    state = methods.state
    old = member_json(state, group, user_id)
    if old["status"] == new:
        return
    group.statuses[user_id] = new
    update = {
        "chat": group.chat_json(),
        "from": _user_json(state, by if by is not None else user_id),
        "date": state.now(),
        "old_chat_member": old,
        "new_chat_member": member_json(state, group, user_id),
    }
    methods.queue.push("chat_member", update)
    methods.emit(FakeEvent("chat_member", group.id, data={"user_id": user_id, "status": new}))


# -- Bot API methods ------------------------------------------------------------------------


@handles("getChatMember")
async def get_chat_member(self: BotApiMethods, method: str, params: dict[str, Any]) -> Any:
    group = _group(self.state, params["chat_id"])
    return member_json(self.state, group, params["user_id"])


@handles("getChatAdministrators")
async def get_chat_administrators(self: BotApiMethods, method: str, params: dict[str, Any]) -> Any:
    group = _group(self.state, params["chat_id"])
    return [
        member_json(self.state, group, user_id)
        for user_id, status in group.statuses.items()
        if status in ("creator", "administrator")
    ]


@handles("getChatMemberCount")
async def get_chat_member_count(self: BotApiMethods, method: str, params: dict[str, Any]) -> Any:
    return _group(self.state, params["chat_id"]).member_count


@handles("createChatInviteLink")
async def create_chat_invite_link(self: BotApiMethods, method: str, params: dict[str, Any]) -> Any:
    group = _group(self.state, params["chat_id"])
    _need(self.state, group, "can_invite_users")
    join_request = bool(params.get("creates_join_request"))
    limit = params.get("member_limit")
    if join_request and limit is not None:
        raise bad_request(
            "member limit can't be specified for links requiring administrator approval"
        )
    if limit is not None and not 1 <= limit <= 99999:
        raise bad_request("MEMBER_LIMIT_INVALID")
    name = params.get("name")
    if name is not None and len(name) > 32:
        raise bad_request("INVITE_LINK_NAME_INVALID")
    expire = params.get("expire_date")
    if expire is not None and expire <= self.state.now():
        raise bad_request("EXPIRE_DATE_INVALID")
    link = InviteLink(
        link=f"{INVITE_LINK_PREFIX}{secrets.token_urlsafe(12)}",
        creator=dict(self.state.bot_user),
        creates_join_request=join_request,
        name=name,
        expire_date=expire,
        member_limit=limit,
    )
    group.links[link.link] = link
    return link.to_json()


async def _answer_request(self: BotApiMethods, params: dict[str, Any], approve: bool) -> bool:
    group = _group(self.state, params["chat_id"])
    _need(self.state, group, "can_invite_users")
    user_id = params["user_id"]
    if user_id not in group.requests:
        if approve and group.status(user_id) in PRESENT:
            raise bad_request("USER_ALREADY_PARTICIPANT")
        raise bad_request("HIDE_REQUESTER_MISSING")
    del group.requests[user_id]
    self.emit(
        FakeEvent("join_request_answered", group.id, data={"user_id": user_id, "approved": approve})
    )
    if approve:
        _changed(self, group, user_id, "member", by=int(self.state.bot_user["id"]))
    return True


@handles("approveChatJoinRequest")
async def approve_chat_join_request(
    self: BotApiMethods, method: str, params: dict[str, Any]
) -> Any:
    return await _answer_request(self, params, approve=True)


@handles("declineChatJoinRequest")
async def decline_chat_join_request(
    self: BotApiMethods, method: str, params: dict[str, Any]
) -> Any:
    return await _answer_request(self, params, approve=False)


@handles("banChatMember")
async def ban_chat_member(self: BotApiMethods, method: str, params: dict[str, Any]) -> Any:
    group = _group(self.state, params["chat_id"])
    _need(self.state, group, "can_restrict_members")
    user_id = params["user_id"]
    _user_json(self.state, user_id)
    status = group.status(user_id)
    if status == "creator":
        raise bad_request("can't remove chat owner")
    if status == "administrator":
        raise bad_request("user is an administrator of the chat")
    _changed(self, group, user_id, "kicked", by=int(self.state.bot_user["id"]))
    return True


@handles("unbanChatMember")
async def unban_chat_member(self: BotApiMethods, method: str, params: dict[str, Any]) -> Any:
    group = _group(self.state, params["chat_id"])
    _need(self.state, group, "can_restrict_members")
    user_id = params["user_id"]
    status = group.status(user_id)
    if status == "kicked":
        group.statuses[user_id] = "left"  # no update: a banned user was not in the chat
        return True
    if params.get("only_if_banned") or status not in PRESENT:
        return True
    if status in ("creator", "administrator"):
        raise bad_request("user is an administrator of the chat")
    # Without only_if_banned, "unbanning" a present member removes them (Telegram does).
    _changed(self, group, user_id, "left", by=int(self.state.bot_user["id"]))
    return True


# -- the user side --------------------------------------------------------------------------


class JoinRefused(Exception):
    """What the Telegram app shows instead of joining (an expired or used-up link, a ban)."""


async def join(fake: _Telegram, user_id: int, link: str) -> PendingUpdate | None:
    """The user opens an invite link: a join request (returned, after the bot handled it) or
    joining at once (a chat_member update). Raises JoinRefused as the app would."""
    state = fake.state
    group, invite = _by_link(state, link)
    if invite.revoked or (invite.expire_date is not None and invite.expire_date <= state.now()):
        raise JoinRefused("this invite link has expired")
    if group.status(user_id) == "kicked":
        raise JoinRefused("you were banned from this chat")
    if group.status(user_id) in PRESENT:
        return None
    user = state.users[user_id]
    if invite.creates_join_request:
        if user_id in group.requests:
            return None  # already asked: Telegram keeps one request
        group.requests[user_id] = state.now()
        user.contact_until = state.now() + CONTACT_SECONDS  # type: ignore[attr-defined]
        body = {
            "chat": group.chat_json(),
            "from": user.to_json(),
            "user_chat_id": user_id,
            "date": state.now(),
            "invite_link": invite.to_json(),
        }
        pending = fake.queue.push("chat_join_request", body)
        await fake.wait_handled(pending)
        return pending
    if invite.member_limit is not None and invite.joined >= invite.member_limit:
        raise JoinRefused("this invite link has been used up")
    invite.joined += 1
    _changed(fake.methods, group, user_id, "member")
    return None


def leave(fake: _Telegram, user_id: int, chat_id: int) -> None:
    group = groups(fake.state)[chat_id]
    if group.status(user_id) in PRESENT:
        _changed(fake.methods, group, user_id, "left")


def _by_link(state: BotState, link: str) -> tuple[GroupChat, InviteLink]:
    for group in groups(state).values():
        if link in group.links:
            return group, group.links[link]
    raise JoinRefused("this invite link is invalid")
