"""Chat messages of the economy (issue 19) as the delivery worker sends them: the low-balance
notice with a "Buy credits" button, and an add-on suggestion with a button that sends its
invoice (the shop's own button, so the shop router checks it like any other tap)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forever.services.ports import Keyboard
from forever.services.shop import ItemKind
from forever.telegram.callbacks import Nav, NavView, ShopCb
from forever.telegram.upgrade_prompts import as_keyboard
from forever.telegram.views import Views, cb, keyboard

ChatView = Callable[[str, dict[str, Any]], tuple[str, Keyboard | None]]


def low_balance_view(views: Views) -> ChatView:
    def render(locale: str, context: dict[str, Any]) -> tuple[str, Keyboard | None]:
        text = views.r.chat(
            "low_balance",
            locale,
            balance=int(context.get("balance") or 0),
            threshold=int(context.get("threshold") or 0),
        )
        markup = keyboard([cb(views.label(locale, "buy_credits"), Nav(view=NavView.SHOP))])
        return text, as_keyboard(markup)

    return render


def addon_suggestion_view(views: Views) -> ChatView:
    def render(locale: str, context: dict[str, Any]) -> tuple[str, Keyboard | None]:
        addon = views.catalog.addon(str(context.get("addon_id") or ""))
        if addon is None:
            raise ValueError(f"add-on {context.get('addon_id')!r} is gone from the catalog")
        name = addon.name.get(locale) or addon.name["en"]
        text = views.r.chat(
            "addon_suggestion",
            locale,
            name=context.get("name") or None,
            usage=int(context.get("usage") or 0),
            addon=name,
            description=addon.description.get(locale) or addon.description["en"],
            stars=addon.stars,
        )
        price = views.r.env.filters["stars"](addon.stars)
        markup = keyboard(
            [
                cb(
                    views.label(locale, "buy_addon", name=name, price=price),
                    ShopCb(kind=ItemKind.ADDON.value, item=addon.id),
                )
            ],
            [cb(views.label(locale, "shop"), Nav(view=NavView.SHOP))],
        )
        return text, as_keyboard(markup)

    return render
