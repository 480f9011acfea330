"""Membership access in Telegram: join requests to the catalog's chats, who joins and leaves
them (chat_member updates), and staff's view of both."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import ChatJoinRequest, ChatMemberUpdated

from forever.domain.clock import Clock
from forever.services.access import AnswerJoinRequest, TrackMember


def build_router() -> Router:
    router = Router(name="access")

    @router.chat_join_request()
    async def join_request(
        request: ChatJoinRequest, answer_join_request: AnswerJoinRequest, access_clock: Clock
    ) -> None:
        await answer_join_request(
            request.chat.id,
            request.from_user.id,
            int(request.date.timestamp()),
            access_clock.now(),
            request.from_user.language_code,
        )

    @router.chat_member()
    async def member_changed(
        update: ChatMemberUpdated, track_member: TrackMember, access_clock: Clock
    ) -> None:
        member = update.new_chat_member
        await track_member(update.chat.id, member.user.id, str(member.status), access_clock.now())

    return router
