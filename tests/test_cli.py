"""The `hublink` command: the console script pyproject.toml declares, installed as pip installs it,
runs every operation of the operator CLI (the same parser as `python -m shared`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from shared.settings import markdown_table
from tests.support import product_env

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = {"status", "hubs", "reconcile", "approve", "reject", "approve-link", "settings", "doctor"}


@pytest.fixture(scope="module")
def hublink(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """`pip install --no-deps` of this checkout into a scratch prefix: the script and a copy of `shared`."""
    prefix, source = tmp_path_factory.mktemp("prefix"), tmp_path_factory.mktemp("source")
    shutil.copy(ROOT / "pyproject.toml", source)  # built out of the checkout: no build/ or egg-info left in it
    shutil.copytree(ROOT / "shared", source / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--prefix", str(prefix), str(source)],
        check=True, capture_output=True, timeout=240,
    )  # fmt: skip
    purelib = sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBLINK_")}
    env["PYTHONPATH"] = purelib
    return prefix / "bin" / "hublink", env


def run(script: Path, env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(script), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_console_script_is_installed_and_runs_the_installed_package(hublink, tmp_path):
    script, env = hublink
    assert script.is_file(), "pyproject.toml declares no hublink script"
    done = run(script, env, "settings", cwd=tmp_path)  # not the checkout: the installed copy answers
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == markdown_table()


def test_every_operation_is_a_hublink_subcommand(hublink, tmp_path):
    script, env = hublink
    done = run(script, env, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: hublink ")
    listed = done.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert set(listed) == OPERATIONS
    module = subprocess.run([sys.executable, "-m", "shared", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert module.returncode == 0 and module.stdout.startswith("usage: python -m shared ")
    assert module.stdout.split("{", 1)[1].split("}", 1)[0].split(",") == listed


def test_hublink_status_reads_the_links_against_devcloud(hublink, tmp_path, cloud, azurite):
    script, env = hublink
    done = run(script, {**env, **product_env(cloud, azurite)}, "status", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "value": [],
        "count": 0,
        "progress": {"ready": 0, "of": 0, "byPhase": {}, "text": "0 of 0 Ready"},
    }


def test_bad_input_is_a_clear_error_and_exit_code(hublink, tmp_path, cloud, azurite):
    script, env = hublink
    unknown = (
        "/subscriptions/99999999-0000-4000-8000-000000000000/resourceGroups/rg"
        "/providers/Microsoft.ContainerService/managedClusters/x"
    )
    done = run(script, {**env, **product_env(cloud, azurite)}, "reconcile", unknown, cwd=tmp_path)
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["code"] == "SubscriptionNotConfigured"
    missing = run(script, env, "status", cwd=tmp_path)  # no settings at all
    assert missing.returncode == 2 and "HUBLINK_HUB_TENANT_ID is missing" in missing.stderr
