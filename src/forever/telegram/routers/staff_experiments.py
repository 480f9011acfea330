"""/experiments for staff: the list, one experiment's table and chart, stop and promote.
Everyone else never reaches these handlers."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import asdict

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from forever.services import experiment_results as experiments
from forever.services.experiment_results import ChangeRefused, ExperimentDesk, Result
from forever.services.price_migration import Preview, PriceMigration
from forever.services.records import PersonRecord
from forever.telegram.callbacks import MigrateAction, MigratePriceCb
from forever.telegram.experiment_texts import ExperimentTexts
from forever.telegram.staff_filter import IsStaff


async def experiments_command(
    message: Message,
    command: CommandObject,
    experiment_desk: ExperimentDesk,
    experiment_texts: ExperimentTexts,
    locale: str,
    person: PersonRecord,
) -> None:
    texts = experiment_texts
    staff_id = person.telegram_id or 0
    words = (command.args or "").split()
    if not words:
        found = await experiment_desk.summaries(staff_id=staff_id)
        if not found:
            await message.answer(texts("experiments_none", locale))
            return
        items = [
            {
                "id": s.experiment.id,
                "surface": s.experiment.surface.value,
                "status": s.status.value,
                "winner": s.winner,
                "exposed": s.exposed,
            }
            for s in found
        ]
        await message.answer(texts("experiments_list", locale, items=items))
        return
    try:
        if words[0] == "stop" and len(words) == 2:
            result = await experiment_desk.stop(words[1], staff_id=staff_id)
            await message.answer(texts("experiment_stopped", locale, id=words[1]))
        elif words[0] == "promote" and len(words) == 3:
            result = await experiment_desk.promote(words[1], words[2], staff_id=staff_id)
            await message.answer(texts("experiment_promoted", locale, id=words[1], arm=words[2]))
        elif len(words) == 1:
            found_one = await experiment_desk.results(words[0], staff_id=staff_id)
            if found_one is None:
                await message.answer(texts("experiment_unknown", locale, id=words[0]))
                return
            result = found_one
        else:
            await message.answer(texts("experiments_usage", locale))
            return
    except ChangeRefused as refused:
        await message.answer(texts("experiment_refused", locale, reason=str(refused)))
        return
    await _show(message, result, texts, locale)


async def _show(message: Message, result: Result, texts: ExperimentTexts, locale: str) -> None:
    await message.answer(texts("experiment_table", locale, r=experiments.as_table(result)))
    png = await experiments.chart_png(
        result,
        title=texts("chart_title", locale, id=result.experiment.id),
        rate_label=texts("chart_rate", locale),
    )
    await message.answer_photo(
        BufferedInputFile(png, filename=f"experiment-{result.experiment.id}.png")
    )


async def whatif_command(
    message: Message,
    command: CommandObject,
    experiment_desk: ExperimentDesk,
    experiment_texts: ExperimentTexts,
    locale: str,
    person: PersonRecord,
) -> None:
    texts = experiment_texts
    words = (command.args or "").split()
    if len(words) != 2 or not words[1].isdigit() or not 1 <= int(words[1]) <= 100000:
        await message.answer(texts("whatif_usage", locale))
        return
    plan_id, price = words[0], int(words[1])
    found = await experiment_desk.what_if(plan_id, price, staff_id=person.telegram_id or 0)
    if found is None:
        await message.answer(texts("whatif_unknown_plan", locale, plan=plan_id))
        return
    await message.answer(texts("whatif_report", locale, w=asdict(found)))
    png = await experiments.whatif_chart_png(
        found,
        title=texts("chart_whatif_title", locale, plan=plan_id, price=price),
        label=texts("chart_revenue", locale),
    )
    if png is not None:
        await message.answer_photo(BufferedInputFile(png, filename=f"whatif-{plan_id}.png"))


async def migrate_price_command(
    message: Message,
    command: CommandObject,
    price_migration: PriceMigration,
    experiment_texts: ExperimentTexts,
    locale: str,
    person: PersonRecord,
) -> None:
    """`/migrateprice PLAN` previews, with Confirm and Cancel buttons; `/migrateprice PLAN
    confirm` (or Confirm) moves the plan's members to the catalog price, each told in their
    language before it applies."""
    texts = experiment_texts
    staff_id = person.telegram_id or 0
    words = (command.args or "").split()
    if len(words) not in (1, 2) or (len(words) == 2 and words[1] != "confirm"):
        await message.answer(texts("migrate_usage", locale))
        return
    confirm = len(words) == 2
    run = price_migration.migrate if confirm else price_migration.preview
    found = await run(words[0], staff_id=staff_id)
    if found is None:
        await message.answer(texts("whatif_unknown_plan", locale, plan=words[0]))
        return
    if confirm:
        await message.answer(texts("migrate_done", locale, p=_preview(found)))
        return
    await message.answer(
        texts("migrate_preview", locale, p=_preview(found)),
        reply_markup=_migrate_buttons(texts, locale, found),
    )


def _migrate_buttons(
    texts: ExperimentTexts, locale: str, found: Preview
) -> InlineKeyboardMarkup | None:
    if found.members == 0:
        return None  # nothing to confirm

    def button(label: str, action: MigrateAction) -> InlineKeyboardButton:
        data = MigratePriceCb(action=action, plan=found.plan_id, token=found.token)
        return InlineKeyboardButton(text=label, callback_data=data.pack())

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                button(
                    texts("migrate_confirm_button", locale, members=found.members), MigrateAction.OK
                ),
                button(texts("migrate_cancel_button", locale), MigrateAction.NO),
            ]
        ]
    )


async def migrate_price_button(
    query: CallbackQuery,
    callback_data: MigratePriceCb,
    price_migration: PriceMigration,
    experiment_texts: ExperimentTexts,
    locale: str,
    person: PersonRecord,
) -> None:
    """Confirm or Cancel under a preview. Confirm goes ahead only while the preview's token
    still names who moves: a second tap (or a tap after the members changed) moves nobody
    and says what is true now."""
    texts = experiment_texts
    staff_id = person.telegram_id or 0
    message = query.message if isinstance(query.message, Message) else None
    plan_id = callback_data.plan
    if callback_data.action is MigrateAction.NO:
        await price_migration.cancel(plan_id, staff_id=staff_id)
        await query.answer()
        if message is not None:
            await _drop_buttons(message)
            await message.answer(texts("migrate_cancelled", locale, plan=plan_id))
        return
    found = await price_migration.migrate(plan_id, staff_id=staff_id, expected=callback_data.token)
    if found is None:
        await query.answer(texts("whatif_unknown_plan", locale, plan=plan_id), show_alert=True)
        return
    await query.answer()
    if message is None:
        return
    if not found.stale:
        await _drop_buttons(message)
        await message.answer(texts("migrate_done", locale, p=_preview(found)))
    elif found.members == 0:
        # Mostly the second of two taps: the first one has taken the buttons away already.
        await message.answer(texts("migrate_already", locale, plan=plan_id))
    else:
        # Who would move has changed since this preview: the current one, to confirm anew.
        await _drop_buttons(message)
        await message.answer(
            texts("migrate_changed", locale, p=_preview(found)),
            reply_markup=_migrate_buttons(texts, locale, found),
        )


async def _drop_buttons(message: Message) -> None:
    """The used preview loses its buttons; a second tap finds them already gone."""
    with suppress(TelegramBadRequest):
        await message.edit_reply_markup(reply_markup=None)


def _preview(p: Preview) -> dict[str, object]:
    return {
        "plan": p.plan_id,
        "members": p.members,
        "effective_at": p.effective_at,
        "rows": [
            {"billing": billing, "old": old, "new": p.new[billing], "members": n}
            for billing, counts in sorted(p.moving.items())
            for old, n in sorted(counts.items())
        ],
    }


def build_router() -> Router:
    router = Router(name="staff_experiments")
    router.message.filter(IsStaff())
    router.message.register(experiments_command, Command("experiments"))
    router.message.register(whatif_command, Command("whatif"))
    router.message.register(migrate_price_command, Command("migrateprice"))
    router.callback_query.filter(IsStaff())
    router.callback_query.register(migrate_price_button, MigratePriceCb.filter())
    return router
