"""An AZURE_CONFIG_DIR in which the real Azure CLI talks to devcloud and nothing else.

`prepare(dir, info)` writes what a person would otherwise set by hand, so that the normal

    az cloud register --name devcloud --endpoint-resource-manager <devcloud url>
    az cloud set --name devcloud
    az login --service-principal --username <client id> --password <secret> --tenant <tenant>

works against a running devcloud:

- `config`: telemetry off (`core.collect_telemetry`), MSAL's instance discovery off
  (`core.instance_discovery`, else MSAL asks login.microsoftonline.com about the authority),
  no survey prompt, no auto-upgrade, no dynamic extension installs;
- `versionCheck.json`: the CLI refreshes "latest versions" from a public storage account at
  start-up when this cache is empty or from another version; a fresh entry for the installed
  version keeps it from trying;
- `devcloud-ca.pem` + `env`: the CLI uses requests, which trusts REQUESTS_CA_BUNDLE;
- `sitecustomize/`: with `netguard=True`, a PYTHONPATH entry that installs devcloud's network
  guard in the CLI's own interpreter, so any attempt to leave 127.0.0.1 fails loudly.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

CONFIG = """\
[core]
collect_telemetry = false
instance_discovery = false
survey_message = false
no_color = true
first_run = no

[output]
show_survey_message = false

[auto-upgrade]
enable = no

[extension]
use_dynamic_install = no
"""
GUARD = """\
# Written by `python -m devcloud az-login`: refuse any connection off this machine.
import importlib.util as _util
_spec = _util.spec_from_file_location("_devcloud_netguard", {path!r})
_mod = _util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
_mod.install()
"""
FALLBACK_VERSION = "2.91.0"


def az_executable() -> str | None:
    """The repo's own CLI (`.venv/az`, installed by `make test`), else the one on PATH."""
    own = Path(__file__).resolve().parent.parent / ".venv" / "az" / "bin" / "az"
    return str(own) if own.exists() else shutil.which("az")


def installed_version(az: str | None) -> str:
    """azure-cli-core's version in the interpreter behind `az` (read without starting the CLI)."""
    python = Path(az).with_name("python") if az else None
    if python is None or not python.exists():
        return FALLBACK_VERSION
    out = subprocess.run([str(python), "-c", "import azure.cli.core as c; print(c.__version__)"],
                         capture_output=True, text=True, timeout=60, check=False)
    return out.stdout.strip() or FALLBACK_VERSION


def prepare(directory: str | os.PathLike[str], info: dict[str, Any], *, az: str | None = None,
            netguard: bool = True) -> dict[str, str]:
    """Write the config dir for the devcloud described by `info` (its DEVCLOUD_READY payload); returns the env."""
    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / "config").write_text(CONFIG, encoding="utf-8")
    version = installed_version(az or az_executable())
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    versions = {name: {"local": version, "pypi": version} for name in ("azure-cli", "core", "telemetry")}
    (root / "versionCheck.json").write_text(json.dumps({"versions": versions, "update_time": stamp}), encoding="utf-8")
    ca = root / "devcloud-ca.pem"
    shutil.copyfile(info["ca_bundle"], ca)
    env = {"AZURE_CONFIG_DIR": str(root), "REQUESTS_CA_BUNDLE": str(ca), "AZURE_CORE_COLLECT_TELEMETRY": "false",
           "AZURE_CORE_INSTANCE_DISCOVERY": "false"}
    if netguard:
        guard_dir = root / "sitecustomize"
        guard_dir.mkdir(exist_ok=True)
        guard = Path(__file__).resolve().with_name("netguard.py")
        (guard_dir / "sitecustomize.py").write_text(GUARD.format(path=str(guard)), encoding="utf-8")
        env["PYTHONPATH"] = str(guard_dir)
    lines = [f"export {k}={_quote(v)}" for k, v in env.items()]
    (root / "env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "login.sh").write_text(login_script(info), encoding="utf-8")
    return env


def login_commands(info: dict[str, Any]) -> list[list[str]]:
    """The CLI commands a person runs after sourcing `env`: register the cloud, select it, log in.

    The admin app is multi-tenant: it logs in to the hub's tenant and then to every spoke tenant
    (az adds the subscriptions up), then the hub subscription is made the default.
    """
    arm = info["arm"].rstrip("/")
    hub = info.get("hub", {})
    tenants = [hub.get("tenant_id")] + [s["tenant_id"] for s in info.get("spokes", [])]
    commands = [["cloud", "register", "--name", "devcloud", "--endpoint-resource-manager", arm],
                ["cloud", "set", "--name", "devcloud"]]
    for tenant in dict.fromkeys(t for t in tenants if t):
        commands.append(["login", "--service-principal", "--username", info["client_id"], "--password",
                         info["client_secret"], "--tenant", tenant, "--output", "none"])
    if hub.get("subscription_id"):
        commands.append(["account", "set", "--subscription", hub["subscription_id"]])
    return commands


def login_script(info: dict[str, Any]) -> str:
    body = "\n".join("az " + " ".join(_quote(a) for a in cmd) for cmd in login_commands(info))
    return f'#!/bin/sh\n# source ./env first\nset -e\n{body}\n'


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def read_info(source: str) -> dict[str, Any]:
    """The DEVCLOUD_READY payload from a file (or '-' for stdin), with or without its prefix."""
    import sys

    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("DEVCLOUD_READY "):
            line = line[len("DEVCLOUD_READY "):]
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no DEVCLOUD_READY JSON in {source}")
