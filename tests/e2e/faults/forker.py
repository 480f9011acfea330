"""Forks `bot.py run` processes with the imports done once.

Importing aiogram costs seconds of CPU, so twenty restarts of a fresh interpreter would take
minutes. This process imports what `bot.py run` imports, then forks a child per "spawn" line
on stdin; the child runs the command line's `run` (forever.cli.main) from the start, in a
process of its own that the test kills with SIGKILL. Children are reaped at once (SIGCHLD
ignored), so a killed child's pid is gone as after a real kill. A child dies with the forker
(PR_SET_PDEATHSIG) and shares its process group, which the test kills at teardown.
"""

from __future__ import annotations

import os
import signal
import sys

import forever.app
import forever.runtime  # noqa: F401 - the heavy imports, done once
from forever import cli
from tests.processes import die_with_parent


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    forker = os.getpid()
    print("ready", flush=True)  # noqa: T201 - the protocol with the test
    for line in sys.stdin:
        if line.strip() != "spawn":
            continue
        pid = os.fork()
        if pid == 0:
            # In the forker's process group (the test kills the group at the end); and if
            # the forker dies first, the kernel kills this child too.
            die_with_parent()
            if os.getppid() != forker:  # the forker died before the line above
                os._exit(1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            code = 1
            try:
                code = cli.main(["run"])
            finally:
                sys.stderr.flush()
                os._exit(code)
        print(pid, flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
