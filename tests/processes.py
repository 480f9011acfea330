"""Child processes of the tests (`bot.py run`, the fault tests' forker): each starts in a
process group of its own and is killed by the kernel if the test process dies (Linux
PR_SET_PDEATHSIG), and teardown kills the whole group. So a failed or interrupted test leaves
no bot behind to keep claiming rows of the next test's database."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from typing import Any

PR_SET_PDEATHSIG = 1
START_WITHIN = 180.0  # seconds for a `bot.py run` to be up: imports are slow on a busy machine

_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> None:
    """In a child: the kernel sends `sig` when the parent thread ends."""
    if _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def own_group_dying_with_parent() -> None:
    """preexec_fn: a process group of its own (its pid), killed with its parent."""
    os.setpgid(0, 0)
    die_with_parent()


async def spawn(*args: str, **kwargs: Any) -> asyncio.subprocess.Process:
    """asyncio.create_subprocess_exec in a group of its own that dies with the tests."""
    return await asyncio.create_subprocess_exec(
        *args, preexec_fn=own_group_dying_with_parent, **kwargs
    )


def kill_group(pid: int) -> None:
    """SIGKILL every process of the group led by `pid` (the child and what it forked)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def reap(process: asyncio.subprocess.Process, grace: float = 30.0) -> int:
    """SIGTERM and wait up to `grace` seconds, then kill the whole group: the exit code."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace)
    kill_group(process.pid)
    return await process.wait()
