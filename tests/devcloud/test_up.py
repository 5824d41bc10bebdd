"""`python -m devcloud up` as another process sees it: the READY line contract, working endpoints, clean exit."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from azure.data.tables import TableServiceClient
from azure.identity import ClientSecretCredential

from devcloud.world import default_world

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTRACT = {"arm", "authority", "ca_bundle", "client_id", "client_secret", "hub", "spokes", "control",
            "identity_endpoint", "identity_header", "table_connection_string",
            "storage_connection_string", "notifications"}


def start_up(tmp_path, *args: str, command: list[str] | None = None) -> subprocess.Popen:
    env = dict(os.environ, DEVCLOUD_NETGUARD="1")
    with open(tmp_path / "up.stderr", "wb") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command or [sys.executable, "-m", "devcloud", "up", *args], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL)


def stop_up(proc: subprocess.Popen) -> None:
    if proc.poll() is None:  # a failed test: SIGTERM first, so that up stops its Azurite
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    proc.stdout.close()


def read_ready(proc: subprocess.Popen, timeout_s: float = 60.0) -> dict:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sel.select(timeout=deadline - time.monotonic()):
            line = proc.stdout.readline().decode("utf-8")
            if not line:
                raise AssertionError(f"devcloud up exited with {proc.wait(timeout=5)} before READY")
            assert line.startswith("DEVCLOUD_READY "), f"unexpected stdout line: {line!r}"
            return json.loads(line.removeprefix("DEVCLOUD_READY "))
    raise AssertionError("no READY line in time")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def up(tmp_path):
    world = default_world().to_dict()
    next(a for a in world["applications"] if a["name"] == "admin")["secret"] = "secret-from-the-world-file"
    path = tmp_path / "world.json"
    path.write_text(json.dumps(world))
    proc = start_up(tmp_path, "--world", str(path))
    yield proc
    stop_up(proc)


def test_up_contract_endpoints_and_clean_shutdown(up, tmp_path):
    info = read_ready(up)
    assert set(info) >= CONTRACT
    assert info["storage_connection_string"] == info["table_connection_string"]
    assert info["client_secret"] == "secret-from-the-world-file"
    assert info["arm"] == info["authority"] and info["control"] == info["arm"] + "/_devcloud"
    assert info["identity_endpoint"] == info["arm"] + "/msi/token"
    assert {"tenant_id", "subscription_id", "subnet_id", "dns_zones"} <= set(info["hub"]) and len(info["spokes"]) == 3
    # devcloud knows no product: what runs on it adds its own keys (the product's stack: tests/test_api_auth.py).
    assert "product" not in info and "api" not in info

    cred = ClientSecretCredential(info["hub"]["tenant_id"], info["client_id"], info["client_secret"],
                                  authority=info["authority"], disable_instance_discovery=True,
                                  connection_verify=info["ca_bundle"], retry_total=0)
    assert cred.get_token("https://management.azure.com/.default").token

    tables = TableServiceClient.from_connection_string(info["table_connection_string"])
    tables.create_table("devcloudup")
    assert [t.name for t in tables.list_tables()] == ["devcloudup"]

    http = requests.Session()
    http.trust_env = False
    http.verify = info["ca_bundle"]
    assert http.get(f"{info['control']}/world", timeout=10).json()["tenants"] == default_world().tenants
    assert http.post(f"{info['notifications']}/notify", json={"hello": 1}, timeout=10).status_code == 200
    assert [p["body"] for p in http.get(info["notifications"], timeout=10).json()] == [{"hello": 1}]
    http.close()

    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)/", info["table_connection_string"])]
    arm_port = int(info["arm"].rsplit(":", 1)[1])
    assert len(ports) == 3 and all(port_open(p) for p in [*ports, arm_port])
    up.send_signal(signal.SIGTERM)
    assert up.wait(timeout=15) == 0
    assert not any(port_open(p) for p in [*ports, arm_port])
    assert up.stdout.read() == b""  # nothing but the READY line on stdout
    log = (tmp_path / "up.stderr").read_text()
    assert "stopped azurite" in log and "Traceback" not in log


def test_up_fails_fast_without_a_world(tmp_path):
    proc = start_up(tmp_path, "--world", str(tmp_path / "missing.json"))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1 and out == b""
    assert "devcloud up failed to start" in (tmp_path / "up.stderr").read_text()


PLUGGED = """
import logging, sys
from devcloud.__main__ import run_up

def functions_host(info, cloud):
    assert info["notifications"] and cloud.url == info["arm"]
    return {"functions": "https://127.0.0.1:1"}, lambda: logging.getLogger("part").info("functions host stopped")

logging.basicConfig(stream=sys.stderr, level=logging.INFO)
sys.exit(run_up(None, extra_parts=[functions_host]))
"""


def test_up_starts_and_stops_extra_parts(tmp_path):
    proc = start_up(tmp_path, command=[sys.executable, "-c", PLUGGED])
    try:
        info = read_ready(proc)
        assert info["functions"] == "https://127.0.0.1:1" and set(info) >= CONTRACT
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        stop_up(proc)
    log = (tmp_path / "up.stderr").read_text()
    assert log.index("functions host stopped") < log.index("stopped azurite")  # parts stop first
