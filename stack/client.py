"""`python -m stack up` as another process: start it, read its DEVCLOUD_READY line, stop it."""

from __future__ import annotations

import json
import time


def start_stack(
    timeout: float = 60.0, *, app_settings: dict[str, str] | None = None, world: str | None = None, hosts: int | None = None
):
    """Start `python -m stack up` and return (process, info); the caller stops it with SIGTERM.
    `world`: a world JSON file (devcloud.world; default: devcloud's default world); `hosts`: N
    instances of the function app behind one front end (`--hosts N`)."""
    import os
    import subprocess
    import sys
    import tempfile

    env = {**os.environ, "DEVCLOUD_NETGUARD": "1"}
    log = tempfile.NamedTemporaryFile(prefix="devcloud-up-", suffix=".log", delete=False)  # noqa: SIM115
    args = [f"--app-setting={k}={v}" for k, v in (app_settings or {}).items()] + ([f"--world={world}"] if world else [])
    args += [f"--hosts={hosts}"] if hosts is not None else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "stack", "up", *args],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    proc.log_path = log.name  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("DEVCLOUD_READY "):
            return proc, json.loads(line[len("DEVCLOUD_READY ") :])
    proc.kill()
    raise RuntimeError("stack up did not become ready")


def stop_stack(proc) -> int:
    import signal

    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)
