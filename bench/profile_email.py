"""Where the email pipeline's time goes, against raw sends of the same bytes (issue 15).

The pipeline of `bench_email_pipeline` (outbox rows on SQLite: claim, policy, render, MIME,
SMTP through the pool, the durable "sent" mark of each mail), run whole and with parts taken
out, to the same minimal SMTP sink in another process. The parts are taken out here only, to
be measured, never in the product:

- "no rendering": each language's message is built once and copied for every recipient;
- "no mark per mail": the "sent" of each mail is written with its batch instead of right
  after the server's 250 (the crash guarantee of issue 14 would then repeat a whole batch);
- both at once: what is left is claiming, the policy, the pool and the batch's records.

Each figure is mails per second and this process's CPU (all threads) per mail; CPU is the
steadier of the two on a shared machine.

    .venv/bin/python -m bench.profile_email
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

from bench.bench_email_pipeline import POOL, _pipeline, _pipeline_messages, _raw
from bench.smtp_sink_process import smtp_sink
from forever.config import SmtpSecurity
from forever.jobs.delivery import DeliveryWorker
from forever.mail.message import OutgoingMail
from forever.mail.smtp import SmtpConfig, SmtpPool

MAILS = int(os.environ.get("BENCH_EMAIL_MAILS", "3000"))
ROUNDS = int(os.environ.get("BENCH_EMAIL_ROUNDS", "2"))
_render = DeliveryWorker._render


def _copied_messages() -> Callable[..., None]:
    built: dict[str, OutgoingMail] = {}

    def render(self: DeliveryWorker, job: Any, now: datetime) -> None:
        language = job.person.language if job.person is not None else ""
        message = built.get(language)
        if message is None:
            _render(self, job, now)
            built[language] = job.message
            return
        job.message = dataclasses.replace(message, recipient=job.address)

    return render


async def _batch_mark_only(self: DeliveryWorker, job: Any, now: datetime) -> None:
    return None  # `recorded` stays False: the batch's record writes the `sent`


VARIANTS: dict[str, dict[str, object]] = {
    "whole pipeline": {},
    "no rendering": {"_render": "copy"},
    "no mark per mail": {"_record_sent_now": _batch_mark_only},
    "neither": {"_render": "copy", "_record_sent_now": _batch_mark_only},
}


async def _timed(run: Callable[[], Awaitable[int]]) -> tuple[float, float]:
    """(mails per second, CPU microseconds per mail) of one run."""
    started, cpu = time.perf_counter(), time.process_time()
    sent = await run()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return sent / seconds, cpu / sent * 1e6


async def _variant(config: SmtpConfig, patches: dict[str, object]) -> tuple[float, float]:
    """The drain's rate (as bench_email_pipeline times it) and the CPU spent while it ran."""
    cpu_during: list[float] = []
    drain = DeliveryWorker.drain

    async def measured(self: DeliveryWorker, *args: Any, **kwargs: Any) -> Any:
        cpu = time.process_time()
        try:
            return await drain(self, *args, **kwargs)
        finally:
            cpu_during.append(time.process_time() - cpu)

    pool = SmtpPool(config)
    try:
        with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            stack.enter_context(mock.patch.object(DeliveryWorker, "drain", measured))
            for name, value in patches.items():
                value = _copied_messages() if value == "copy" else value
                stack.enter_context(mock.patch.object(DeliveryWorker, name, value))
            seconds, sent = await _pipeline(pool, MAILS, Path(tmp))
    finally:
        await pool.close()
    return sent / seconds, cpu_during[-1] / sent * 1e6


async def main() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        messages = await _pipeline_messages(Path(tmp))
    results: dict[str, list[tuple[float, float]]] = {"raw": []}
    results.update({name: [] for name in VARIANTS})
    with smtp_sink(fast=True) as port:
        config = SmtpConfig(host="127.0.0.1", port=port, security=SmtpSecurity.NONE, pool_size=POOL)
        raw_pool = SmtpPool(config)
        try:
            await _raw(raw_pool, 200, messages)  # open the connections

            async def raw_run() -> int:
                await _raw(raw_pool, MAILS, messages)
                return MAILS

            for _ in range(ROUNDS):
                results["raw"].append(await _timed(raw_run))
                for name, patches in VARIANTS.items():
                    results[name].append(await _variant(config, patches))
        finally:
            await raw_pool.close()
    best_raw = max(rate for rate, _ in results["raw"])
    raw_cpu = min(cpu for _, cpu in results["raw"])
    rows = [("mails per run", f"{MAILS}, {ROUNDS} rounds, pool of {POOL}, load {_load()}")]
    for name, runs in results.items():
        best = max(rate for rate, _ in runs)
        cpu = min(c for _, c in runs)
        rows.append(
            (
                name,
                f"{best:,.0f} mails/s ({best / best_raw:.2f} of raw), "
                f"{cpu:,.0f} µs CPU per mail ({cpu / raw_cpu:.2f} × raw)",
            )
        )
    return rows


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    for figure, value in asyncio.run(main()):
        print(f"- {figure}: {value}")
