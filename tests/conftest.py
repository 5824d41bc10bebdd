"""Shared fixtures: the network guard, Azurite and devcloud.

Every test runs with the network guard on: resolving or connecting to anything but loopback
raises at once, so a missing flag can never send a request off the machine.
"""

from __future__ import annotations

import os

import pytest

os.environ["DEVCLOUD_NETGUARD"] = "1"  # subprocesses started by tests inherit the guard

from devcloud import netguard  # noqa: E402

netguard.install()

from devcloud.azurite import start_azurite  # noqa: E402
from devcloud.cloud import DevCloud  # noqa: E402


@pytest.fixture(scope="session")
def azurite():
    az = start_azurite()
    yield az
    az.stop()


@pytest.fixture(scope="session")
def cloud_session():
    from stack.world import product_world

    cloud = DevCloud(product_world()).start()  # devcloud's default world with the product registered
    yield cloud
    cloud.stop()


@pytest.fixture
def cloud(cloud_session):
    """The session's devcloud, with faults, log, latency and throttle state reset for this test."""
    cloud_session.arm.faults.clear()
    cloud_session.arm.latency_s = 0.0
    cloud_session.arm.clear_log()
    cloud_session.arm.reset_throttling()
    cloud_session.eventgrid.reset()
    yield cloud_session
    cloud_session.arm.faults.clear()
    assert cloud_session.errors == [], f"devcloud raised while serving: {cloud_session.errors}"


@pytest.fixture
def lros(cloud):
    """Operation times shrunk for the test (restored afterwards)."""
    from tests.support import fast_lros, restore_lros

    saved = fast_lros(cloud)
    yield
    restore_lros(cloud, saved)


@pytest.fixture
def op(cloud, lros):
    """A platform engineer driving devcloud with Microsoft's SDK clients."""
    from devcloud.client import Operator

    return Operator(cloud)


@pytest.fixture
def sink(cloud):
    """A local HTTPS webhook receiver that records every notice."""
    from devcloud.sink import Sink

    s = Sink(cloud.certs).start()
    yield s
    s.stop()
