"""`bot.py sandbox` as a newcomer runs it: it says where to go, serves there, and Ctrl+C
stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from forever.sandbox.world import free_port
from tests.conftest import ROOT


@pytest.mark.slow  # a fresh interpreter imports aiogram and migrates a database
def test_sandbox_prints_its_address_serves_and_stops_on_ctrl_c() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py"), "sandbox", "--port", str(port)],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        address = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "is running" not in line:
            line = process.stdout.readline() if process.stdout else ""
            assert line or process.poll() is None, "the sandbox exited before it was ready"
        assert f"open {address}" in line
        with urllib.request.urlopen(address + "healthz", timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(address, timeout=10) as response:
            assert "Forever sandbox" in response.read().decode()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
