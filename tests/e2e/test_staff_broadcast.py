"""/broadcast end to end through the fake Bot API: compose, segment, preview, confirm, deliver."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from forever.config import Settings
from forever.db.models import AuditEntry, Broadcast, BroadcastDelivery
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from tests.conftest import STAFF_ID
from tests.e2e.staff_helpers import add_people, only_job, send_rich, wait_for, wait_for_status

OTHER_STAFF_ID = 900003


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI) -> Settings:
    """Two owners: Sam (STAFF_ID) and Olga."""
    tg.add_user(OTHER_STAFF_ID, "Olga", language_code="en", username="olga_staff", started=True)
    return settings.model_copy(
        update={
            "telegram_api_url": tg.base_url,
            "admin_ids": frozenset({STAFF_ID, OTHER_STAFF_ID}),
        }
    )


async def test_text_broadcast_to_everyone(tg: FakeBotAPI, running_bot: Runtime) -> None:
    container = running_bot.container
    await add_people(container, tg, range(5001, 5011))
    staff = tg.user(STAFF_ID)
    await staff.send_text("/broadcast")
    assert "Send or forward" in staff.last_message.text
    await staff.send_text("Big news for {{ name }}!")
    assert "link button" in staff.last_message.text
    await staff.press("No button")
    assert "Who should receive it?" in staff.last_message.text
    await staff.press("Everyone")
    # The preview, personalised for the staff member, then the count.
    assert "Big news for Sam!" in staff.messages[-2].text
    assert "11 people" in staff.last_message.text  # 10 customers + the staff member
    # A double tap: the second press arrives before the bot removed the button.
    await staff.press("Send to 11", wait=False)
    await staff.press("Send to 11", wait=False)
    await tg.settle()
    async with container.sessions() as session:
        jobs = (await session.scalars(select(Broadcast).where(Broadcast.status != "draft"))).all()
    assert len(jobs) == 1
    await wait_for_status(container, jobs[0].id, {"done"})
    for telegram_id in range(5001, 5011):
        texts = [m.text for m in tg.user(telegram_id).messages]
        assert texts == [f"Big news for P{telegram_id}!"]
    # The report follows the job's last commit; wait for it to arrive.
    await wait_for(lambda: "Delivered:" in (staff.last_message.text or ""))
    report = staff.last_message.text
    assert "Delivered: 11" in report
    async with container.sessions() as session:
        n = await session.scalar(select(func.count()).select_from(BroadcastDelivery))
        audit = (await session.scalars(select(AuditEntry.action))).all()
    assert n == 11
    assert "broadcast_confirmed" in audit


async def start_compose(tg: FakeBotAPI) -> FakeUser:
    staff = tg.user(STAFF_ID)
    await staff.send_text("/broadcast")
    return staff


async def test_formatting_photo_caption_and_button_reach_customers_as_previewed(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5101, 5102])
    staff = await start_compose(tg)
    caption = "Hi {{ name }}, new classes"
    await send_rich(
        staff,
        text=caption,
        media_kind="photo",
        entities=({"type": "bold", "offset": 0, "length": 2},),
    )
    await staff.send_text("Book now | https://forever.test/book")
    await staff.press("Everyone")
    preview = staff.messages[-2]
    assert preview.media is not None and preview.media.kind == "photo"
    assert preview.text == "Hi Sam, new classes"
    assert preview.button_texts == ["Book now"]
    await staff.press("Send to 3")
    job = await only_job(container)
    await wait_for_status(container, job, {"done"})
    for telegram_id in (5101, 5102):
        [copy] = tg.user(telegram_id).messages
        assert copy.media is not None and copy.media.file is preview.media.file
        assert copy.text == f"Hi P{telegram_id}, new classes"
        assert copy.entities[0]["type"] == "bold"
        assert copy.buttons[0][0].target == "https://forever.test/book"
    assert tg.calls_to("copyMessage")


async def test_formatted_text_without_placeholders_is_copied(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5201])
    staff = await start_compose(tg)
    await send_rich(
        staff, text="Sale ends today", entities=({"type": "italic", "offset": 5, "length": 4},)
    )
    await staff.press("No button")
    await staff.press("Language: en")
    await staff.press("Send to 2")
    await wait_for_status(container, await only_job(container), {"done"})
    [copy] = tg.user(5201).messages
    assert copy.html == "Sale <i>ends</i> today"
    assert not tg.calls_to("sendMessage") or all(
        c.params.get("chat_id") != 5201 for c in tg.calls_to("sendMessage")
    )


async def test_unsupported_content_is_refused_clearly(tg: FakeBotAPI, running_bot: Runtime) -> None:
    staff = await start_compose(tg)
    await send_rich(staff, extra={"location": {"latitude": 45.0, "longitude": 9.0}})
    assert "not supported" in staff.last_message.text
    await staff.send_text("Plain text works")
    assert "link button" in staff.last_message.text


async def test_template_injection_is_refused_with_a_clear_message(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    staff = await start_compose(tg)
    await staff.send_text("Hi {{ name.__class__.__mro__[1].__subclasses__() }}")
    assert "cannot be sent" in staff.last_message.text
    await staff.send_text("Hi {{ config }}")
    assert "there is no placeholder “config”" in staff.last_message.text
    async with running_bot.container.sessions() as session:
        assert (await session.scalars(select(Broadcast))).all() == []


async def test_a_bad_button_is_explained(tg: FakeBotAPI, running_bot: Runtime) -> None:
    staff = await start_compose(tg)
    await staff.send_text("News")
    for bad in ("Book now", "Book | javascript:alert(1)", "| https://x.test"):
        await staff.send_text(bad)
        assert "That is not a button" in staff.last_message.text


async def test_an_empty_segment_sends_nothing(tg: FakeBotAPI, running_bot: Runtime) -> None:
    staff = await start_compose(tg)
    await staff.send_text("News")
    await staff.press("No button")
    await staff.press("Paused")
    assert "Nobody matches" in staff.last_message.text
    assert "Paused" in staff.last_message.text
    async with running_bot.container.sessions() as session:
        assert (await session.scalars(select(Broadcast))).all() == []
    await staff.press("Cancel")
    assert "Nothing was sent" in staff.last_message.text


async def test_cancel_discards_the_draft(tg: FakeBotAPI, running_bot: Runtime) -> None:
    await add_people(running_bot.container, tg, [5301])
    staff = await start_compose(tg)
    await staff.send_text("News")
    await staff.press("No button")
    await staff.press("Everyone")
    await staff.press("Cancel")
    assert "Nothing was sent" in staff.last_message.text
    assert tg.user(5301).messages == []
    async with running_bot.container.sessions() as session:
        statuses = (await session.scalars(select(Broadcast.status))).all()
    assert statuses == ["stopped"]


async def test_a_version_per_language_reaches_each_person_in_theirs_with_the_default_fallback(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5301, 5302], language="en")
    await add_people(container, tg, [5311, 5312], language="ro")
    await add_people(container, tg, [5321], language="it")
    staff = await start_compose(tg)
    await staff.send_text("Big news for {{ name }}!")
    assert "Versions so far: English" in staff.last_message.text
    await staff.press("+ Română")
    assert "Română" in staff.last_message.text
    await staff.send_text("Vești mari pentru {{ name }}!")
    ask = staff.last_message.text
    assert "Versions so far: English, Română" in ask and "Italiano" in ask
    assert "+ Română" not in staff.last_message.button_texts
    await staff.press("No button")
    await staff.press("Everyone")
    # The preview shows each version, then which languages have one.
    assert staff.messages[-3].text == "Big news for Sam!"
    assert staff.messages[-2].text == "Vești mari pentru Sam!"
    confirm = staff.last_message.text
    assert "English, Română" in confirm and "everyone else gets the English one" in confirm
    await staff.press("Send to 6")
    job = await only_job(container)
    await wait_for_status(container, job, {"done"})
    for telegram_id in (5301, 5302, 5321):  # English, and Italian with no version of its own
        assert [m.text for m in tg.user(telegram_id).messages] == [f"Big news for P{telegram_id}!"]
    for telegram_id in (5311, 5312):
        assert [m.text for m in tg.user(telegram_id).messages] == [
            f"Vești mari pentru P{telegram_id}!"
        ]
    await wait_for(lambda: "Delivered:" in (staff.last_message.text or ""))
    assert "Delivered: 6" in staff.last_message.text


async def test_russian_and_spanish_versions_reach_russian_and_spanish_speakers(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5351], language="en")
    await add_people(container, tg, [5352], language="ru")
    await add_people(container, tg, [5353], language="es")
    staff = await start_compose(tg)
    await staff.send_text("Big news!")
    offered = staff.last_message.button_texts
    assert {"+ Română", "+ Italiano", "+ Русский", "+ Español"} <= set(offered)
    await staff.press("+ Русский")
    await staff.send_text("Большие новости!")
    await staff.press("+ Español")
    await staff.send_text("¡Grandes noticias!")
    assert "Versions so far: English, Русский, Español" in staff.last_message.text
    await staff.press("No button")
    assert {"Language: ru", "Language: es"} <= set(staff.last_message.button_texts)
    await staff.press("Everyone")
    send = next(t for t in staff.last_message.button_texts if t.startswith("Send to "))
    await staff.press(send)
    await wait_for_status(container, await only_job(container), {"done"})
    assert [m.text for m in tg.user(5351).messages] == ["Big news!"]
    assert [m.text for m in tg.user(5352).messages] == ["Большие новости!"]
    assert [m.text for m in tg.user(5353).messages] == ["¡Grandes noticias!"]


async def test_a_copied_version_per_language_keeps_its_formatting_and_media(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5401], language="en")
    await add_people(container, tg, [5411], language="it")
    staff = await start_compose(tg)
    await staff.send_text("Sale ends today")
    await staff.press("+ Italiano")
    await send_rich(
        staff,
        text="Saldi fino a stasera",
        media_kind="photo",
        entities=({"type": "italic", "offset": 0, "length": 5},),
    )
    await staff.press("No button")
    await staff.press("Everyone")
    assert staff.messages[-2].media is not None  # the Italian preview
    await staff.press("Send to 3")
    await wait_for_status(container, await only_job(container), {"done"})
    [english] = tg.user(5401).messages
    assert english.text == "Sale ends today" and english.media is None
    [italian] = tg.user(5411).messages
    assert italian.media is not None and italian.media.kind == "photo"
    assert italian.html == "<i>Saldi</i> fino a stasera"
    async with container.sessions() as session:
        [row] = (await session.scalars(select(Broadcast))).all()
    assert set(row.variants or {}) == {"it"}


async def test_another_staff_member_confirms_a_draft_only_after_an_audited_takeover(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5301, 5302])
    sam = await start_compose(tg)
    await sam.send_text("Sam's news")
    await sam.press("No button")
    await sam.press("Everyone")
    send = next(
        b["callback_data"]
        for row in sam.last_message.inline_keyboard
        for b in row
        if b["text"].startswith("Send to")
    )

    # Olga presses Confirm on Sam's draft (the same callback data, from her chat).
    olga = tg.user(OTHER_STAFF_ID)
    await olga.send_text("/broadcast")
    own = olga.last_message
    own.reply_markup["inline_keyboard"][0][0]["callback_data"] = send
    await olga.press(send, message=own)
    assert olga.last_message.text == "This draft belongs to Sam; take it over?"
    async with container.sessions() as session:
        statuses = (await session.scalars(select(Broadcast.status))).all()
        audit = (await session.scalars(select(AuditEntry.action))).all()
    assert list(statuses) == ["draft"] and audit == []  # nothing sent, nothing recorded
    assert all(tg.user(t).messages == [] for t in (5301, 5302))

    await olga.press("Take over")
    assert "You took over draft" in olga.last_message.text
    async with container.sessions() as session:
        [entry] = (await session.scalars(select(AuditEntry))).all()
    assert (entry.actor_telegram_id, entry.action) == (OTHER_STAFF_ID, "broadcast_taken_over")
    assert entry.arguments["previous_owner"] == STAFF_ID

    # Sam's own button no longer sends it: the draft is Olga's now.
    await sam.press(send)
    assert sam.last_message.text == "This draft belongs to Olga; take it over?"
    await olga.press(olga.last_message.button_texts[0])  # "Send to N"
    job = await only_job(container)
    await wait_for_status(container, job, {"done"})
    for telegram_id in (5301, 5302):
        assert [m.text for m in tg.user(telegram_id).messages] == ["Sam's news"]
    async with container.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert list(actions) == ["broadcast_taken_over", "broadcast_confirmed"]


async def test_another_staff_member_cancels_a_draft_only_after_an_audited_takeover(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5401, 5402])
    sam = await start_compose(tg)
    await sam.send_text("Sam's other news")
    await sam.press("No button")
    await sam.press("Everyone")
    cancel = next(
        b["callback_data"]
        for row in sam.last_message.inline_keyboard
        for b in row
        if b["text"] == "Cancel"
    )

    # Olga presses Cancel on Sam's draft (the same callback data, from her chat).
    olga = tg.user(OTHER_STAFF_ID)
    await olga.send_text("/broadcast")
    own = olga.last_message
    own.reply_markup["inline_keyboard"][0][0]["callback_data"] = cancel
    await olga.press(cancel, message=own)
    assert olga.last_message.text == "This draft belongs to Sam; take it over?"
    async with container.sessions() as session:
        statuses = (await session.scalars(select(Broadcast.status))).all()
        audit = (await session.scalars(select(AuditEntry.action))).all()
    assert list(statuses) == ["draft"] and audit == []  # still Sam's draft, nothing recorded

    await olga.press("Take over")
    await olga.press("Cancel")
    async with container.sessions() as session:
        statuses = (await session.scalars(select(Broadcast.status))).all()
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert list(statuses) == ["stopped"]
    assert list(actions) == ["broadcast_taken_over", "broadcast_cancelled"]
    assert all(tg.user(t).messages == [] for t in (5401, 5402))
