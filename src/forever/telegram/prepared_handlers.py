"""Prepares every handler and filter once, at start-up, for aiogram's per-update work.

- **Services bound once.** aiogram fills a handler's parameters by name from the update's
  data, and that data starts as a copy of the dispatcher's workflow data, copied again at
  every router and filter on the way. With every area's services in it (about 50 names) the
  copies cost about as much per update as a bare bot's whole handling (bench/profile_send).
  The services never change while the process runs (a catalog edit swaps the contents of the
  one LiveCatalog), so they are given to each callable once and leave the update's data.
  What a middleware reads or replaces per update (`per_update`) stays in the data.
- **Plain filters run inline.** aiogram runs a filter that is a plain function (a magic
  filter such as `F.chat.type == "private"`, a lambda) in a worker thread, in case it
  blocks: a thread hop per filter per update. Ours only look at the update, so they run
  on the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterator
from typing import Any

from aiogram import Dispatcher
from aiogram.dispatcher.event.handler import CallableObject, FilterObject


def prepare_handlers(dispatcher: Dispatcher, per_update: Collection[str]) -> dict[str, Any]:
    """Bind the workflow data (all but `per_update`) into every handler and filter of the
    dispatcher's routers, as they stand now, remove it from the workflow data, and make
    plain filters run inline. Returns what was bound. Call it once, after the last router
    is included."""
    data = dispatcher.workflow_data
    bound = {key: value for key, value in data.items() if key not in per_update}
    for callable_object in _callables(dispatcher):
        _bind(callable_object, bound)
        if isinstance(callable_object, FilterObject) and not callable_object.awaitable:
            callable_object.callback = _inline(callable_object.callback)
            callable_object.awaitable = True
    for key in bound:
        del data[key]
    return bound


def _callables(dispatcher: Dispatcher) -> Iterator[CallableObject]:
    for router in dispatcher.chain_tail:
        for observer in router.observers.values():
            yield from observer._handler.filters or ()  # the router's own filters
            for handler in observer.handlers:
                yield handler
                yield from handler.filters or ()


def _bind(callable_object: CallableObject, values: dict[str, Any]) -> None:
    wanted = {name: values[name] for name in callable_object.params if name in values}
    if not wanted:
        return
    callable_object.callback = functools.partial(callable_object.callback, **wanted)
    callable_object.params = callable_object.params - wanted.keys()


def _inline(check: Callable[..., Any]) -> Callable[..., Any]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    return inline
