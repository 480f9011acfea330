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


class _FastSink(asyncio.Protocol):
    """A minimal SMTP server that still speaks real SMTP (EHLO with PIPELINING, SIZE,
    8BITMIME and SMTPUTF8, MAIL, RCPT, DATA with dot-stuffing and the lone "." end, RSET,
    NOOP, QUIT) and discards every message: answers for pipelined commands go out in one
    write. aiosmtpd, general and careful, caps a bench at about 1,100 mails/s on this machine,
    below what the clients measured can send; this one does not."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()
        self.in_data = False
        self.scan = 0
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        answers: list[bytes] = []
        while True:
            if self.in_data:
                if self.scan == 0 and buffer.startswith(b".\r\n"):
                    end = 3  # an empty message
                else:
                    found = buffer.find(b"\r\n.\r\n", self.scan)
                    if found < 0:
                        self.scan = max(0, len(buffer) - 4)
                        break
                    end = found + 5
                del buffer[:end]
                self.in_data = False
                self.scan = 0
                answers.append(b"250 OK queued\r\n")
                continue
            found = buffer.find(b"\r\n")
            if found < 0:
                break
            verb = bytes(buffer[:4]).upper()
            del buffer[: found + 2]
            if verb in (b"EHLO",):
                answers.append(
                    b"250-sink\r\n250-PIPELINING\r\n250-SIZE 33554432\r\n"
                    b"250-8BITMIME\r\n250-SMTPUTF8\r\n250 HELP\r\n"
                )
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                answers.append(b"250 OK\r\n")
            elif verb == b"DATA":
                self.in_data = True
                answers.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                answers.append(b"221 Bye\r\n")
                self.transport.write(b"".join(answers))
                self.transport.close()
                return
            else:
                answers.append(b"502 Command not implemented\r\n")
        if answers:
            self.transport.write(b"".join(answers))


def _serve_fast(port: int) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_FastSink, "127.0.0.1", port, reuse_port=True)
        async with server:
            await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin

    asyncio.run(run())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def smtp_sink(fast: bool = False, processes: int = 1) -> Iterator[int]:
    """aiosmtpd in one process, or (`fast`) the minimal sink above in `processes` processes
    sharing the port (SO_REUSEPORT: the kernel spreads the connections)."""
    port = free_port()
    args = [sys.executable, "-m", "bench.smtp_sink_process", str(port)]
    procs = [
        subprocess.Popen([*args, "fast"] if fast else args, stdin=subprocess.PIPE)
        for _ in range(processes if fast else 1)
    ]
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
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in procs:
            proc.wait(timeout=10)


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    if sys.argv[2:] == ["fast"]:
        _serve_fast(int(sys.argv[1]))
    else:
        _serve(int(sys.argv[1]), report=sys.argv[2:] == ["report"])
