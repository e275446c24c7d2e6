"""The README's first command, as a user runs it: `privguard demo` seeds, prints its URL and
credentials, and serves them (a real process on a real port, embedded SQLite)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_command_serves_the_seeded_marketplace(tmp_path: Path) -> None:
    exe = shutil.which("privguard")
    assert exe, "the console script is installed by `pip install -e .`"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVGUARD_")}
    env["COLUMNS"] = "200"
    proc = subprocess.Popen(
        [exe, "demo", "--consumers", "30", "--orders", "60", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        output = ""
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while f"127.0.0.1:{port}" not in output and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            output += line
        assert f"http://127.0.0.1:{port}" in output, output
        token = re.search(r"pgk_[0-9a-f]{16}\.[A-Za-z0-9_-]+", output)
        assert token, output
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token.group()}"})
        assert me.status_code == 200 and me.json()["role"] == "platform_admin"
        assert (tmp_path / ".privguard" / "privguard.db").exists()
        assert (tmp_path / ".privguard" / "master.key").stat().st_mode & 0o077 == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
