"""Several Forever instances in one process behind one webhook URL.

`WebhookProxy` stands in for the reverse proxy: the fake Bot API pushes every update to its
URL and it forwards to the live instances in turn (or, with `fan_out`, to all of them at
once, as if Telegram redelivered the update to every instance concurrently).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from forever.app import build_container
from forever.config import Settings
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.web.webhook import SECRET_HEADER
from tests.conftest import TEST_TOKEN

WEBHOOK_PATH = "/telegram/webhook"
WEBHOOK_SECRET = "scale-out-secret_0123456789"


@dataclass
class WebhookProxy:
    backends: list[str] = field(default_factory=list)
    fan_out: bool = False
    forwarded: int = 0
    _next: int = 0

    async def start(self) -> str:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}{WEBHOOK_PATH}"

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._session.close()

    async def _forward(self, backend: str, body: bytes, headers: dict[str, str]) -> int:
        return (await self._exchange(backend, body, headers)).status

    async def _exchange(self, backend: str, body: bytes, headers: dict[str, str]) -> web.Response:
        """Forward one update; the instance's answer comes back whole (a webhook reply may
        carry a Bot API call in its body)."""
        try:
            async with self._session.post(
                backend + WEBHOOK_PATH, data=body, headers=headers
            ) as response:
                self.forwarded += 1
                return web.Response(
                    status=response.status,
                    body=await response.read(),
                    content_type=response.content_type,
                )
        except aiohttp.ClientConnectionError:
            return web.Response(status=502)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        if SECRET_HEADER in request.headers:
            headers[SECRET_HEADER] = request.headers[SECRET_HEADER]
        backends = list(self.backends)
        if not backends:
            return web.Response(status=502)
        if self.fan_out:
            statuses = await asyncio.gather(*(self._forward(b, body, headers) for b in backends))
            return web.Response(status=200 if 200 in statuses else max(statuses))
        for _ in backends:
            backend = backends[self._next % len(backends)]
            self._next += 1
            answer = await self._exchange(backend, body, headers)
            if answer.status != 502:
                return answer
        return web.Response(status=502)


@dataclass
class Cluster:
    """Instances of the bot sharing one database, one clock and one fake Bot API."""

    settings: Settings
    clock: ManualClock
    proxy: WebhookProxy
    instances: list[Runtime] = field(default_factory=list)

    async def add(self, *, scheduler: bool = False, **overrides: object) -> Runtime:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        runtime = Runtime(build_container(settings, clock=self.clock), TEST_TOKEN)
        # Recovery passes are driven by the tests (no timers, no sleeping).
        await runtime.start(scheduler=scheduler, inbox_recovery_seconds=None)
        self.instances.append(runtime)
        self.proxy.backends.append(url_of(runtime))
        return runtime

    async def kill(self, runtime: Runtime) -> None:
        """What SIGKILL leaves behind: claims and leases stay until they expire."""
        self._forget(runtime)
        await runtime.stop(graceful=False)

    async def stop(self, runtime: Runtime) -> None:
        self._forget(runtime)
        await runtime.stop()

    def _forget(self, runtime: Runtime) -> None:
        self.instances.remove(runtime)
        self.proxy.backends.remove(url_of(runtime))

    async def drain(self) -> None:
        """Wait until every instance finished the updates it is processing."""
        for runtime in list(self.instances):
            await runtime.updates.drain()

    async def close(self) -> None:
        for runtime in list(self.instances):
            await self.stop(runtime)


def url_of(runtime: Runtime) -> str:
    return f"http://127.0.0.1:{runtime.web_port}"
