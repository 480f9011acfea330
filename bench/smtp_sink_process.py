"""A discard-everything SMTP server (aiosmtpd) for the benchmarks, run as its own process so
it does not share the interpreter lock with the code being measured."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any


class _Discard:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


class _Report(_Discard):
    """Prints "<recipient> <time.monotonic()>" for each accepted message: the monotonic
    clock is the machine's, so another process can compare it with its own."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.monotonic()
        for recipient in envelope.rcpt_tos:
            sys.stdout.write(f"{recipient} {at:.6f}\n")
        sys.stdout.flush()
        return "250 OK"


def _serve(port: int, report: bool = False) -> None:
    from aiosmtpd.controller import Controller

    handler = _Report() if report else _Discard()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def smtp_sink() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.smtp_sink_process", str(port)], stdin=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    _serve(int(sys.argv[1]), report=sys.argv[2:] == ["report"])
