"""Start Azurite (Microsoft's storage emulator, from npm) on free loopback ports.

Always with `--disableTelemetry` (otherwise it phones home). By default with
`--inMemoryPersistence` (tests and the demo start from nothing and leave nothing on disk); with
`persistent=True` its data lives in a temporary folder instead, so `stop()` then `start_again()`
is a storage account that was unreachable for a while and comes back with everything it held, on
the same ports (the storage-outage reliability check).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

# Azurite's well-known development account; public, documented by Microsoft, not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int
    process: subprocess.Popen
    workspace: str = ""
    persistent: bool = False

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
                f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
                f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """End the emulator (SIGTERM: Azurite saves its data and closes its ports; then kill)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()

    def start_again(self, *, timeout_s: float = 30.0) -> Azurite:
        """After `stop()`: the same account, ports and data (persistent only)."""
        if not self.persistent:
            raise RuntimeError("an in-memory Azurite loses its data when it stops: start it with persistent=True")
        if self.running:
            return self
        self.process = _launch(self.ports(), self.workspace, persistent=True)
        _wait_listening(self, timeout_s)
        return self

    def ports(self) -> dict[str, int]:
        return {"blob": self.blob_port, "queue": self.queue_port, "table": self.table_port}

    def remove(self) -> None:
        """Stop and delete the data folder."""
        self.stop()
        if self.workspace:
            shutil.rmtree(self.workspace, ignore_errors=True)


def azurite_binary() -> str:
    local = os.path.join(REPO_ROOT, "node_modules", ".bin", "azurite")
    if os.path.exists(local):
        return local
    found = shutil.which("azurite")
    if found:
        return found
    raise RuntimeError("Azurite is not installed: run `npm ci` at the repository root (make does it for you)")


def _launch(ports: dict[str, int], workspace: str, *, persistent: bool) -> subprocess.Popen:
    storage = ["--location", workspace] if persistent else ["--inMemoryPersistence"]
    cmd = [azurite_binary(), "--disableTelemetry", *storage, "--silent", "--skipApiVersionCheck",
           "--blobHost", "127.0.0.1", "--blobPort", str(ports["blob"]),
           "--queueHost", "127.0.0.1", "--queuePort", str(ports["queue"]),
           "--tableHost", "127.0.0.1", "--tablePort", str(ports["table"])]
    return subprocess.Popen(cmd, cwd=workspace, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def _wait_listening(az: Azurite, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = set(az.ports().values())
    while pending and time.monotonic() < deadline:
        if az.process.poll() is not None:
            raise RuntimeError(f"Azurite exited early: {az.process.stderr.read().decode(errors='replace')[-2000:]}")
        for port in list(pending):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    pending.discard(port)
        time.sleep(0.05)
    if pending:
        az.stop()
        raise RuntimeError("Azurite did not start listening in time")


def start_azurite(*, timeout_s: float = 30.0, persistent: bool = False) -> Azurite:
    ports = {"blob": free_port(), "queue": free_port(), "table": free_port()}
    workspace = tempfile.mkdtemp(prefix="azurite-")
    az = Azurite(ports["blob"], ports["queue"], ports["table"], _launch(ports, workspace, persistent=persistent),
                 workspace, persistent)
    _wait_listening(az, timeout_s)
    return az
