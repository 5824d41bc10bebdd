"""Several instances of one app behind one round-robin front end (devcloud.funchost_fleet)."""

from __future__ import annotations

import os

import pytest
import requests

from devcloud.certs import make_certificates
from devcloud.funchost_fleet import start_function_host_fleet

APP = os.path.join(os.path.dirname(__file__), "sample_app")


@pytest.fixture(scope="module")
def certs():
    return make_certificates()


def test_requests_go_round_robin_to_the_live_instances(azurite, certs):
    settings = {"AzureWebJobsStorage": azurite.connection_string, "WORK_QUEUE": "fleet-work",
                "TICK_SCHEDULE": "0 0 3 * * *", "SAMPLE_GREETING": "hello from the fleet",
                # A host id of its own: a killed instance keeps its timer lock until the lease runs out,
                # which must not hold up the other tests' hosts of the same sample app.
                "AzureFunctionsWebHost__hostid": "fleet-test"}
    fleet = start_function_host_fleet(APP, settings, 2, function_key="fk", master_key="mk", eventgrid_key="egk",
                                      cert_file=certs.server_pem_file(), ca_file=certs.ca_bundle)
    try:
        def hello() -> requests.Response:
            return requests.get(fleet.url + "/api/hello/x?q=1", verify=certs.ca_bundle, timeout=10)

        answers = [hello() for _ in range(6)]
        assert {r.json()["greeting"] for r in answers} == {"hello from the fleet"}
        assert answers[0].headers["X-Sample"] == "yes" and answers[0].json()["q"] == "1"
        assert fleet.forwarded == {0: 3, 1: 3}
        first = fleet.pids()
        fleet.kill(0)  # SIGKILL: the front end sends everything to the survivor
        assert all(hello().status_code == 200 for _ in range(3)) and fleet.forwarded[1] == 6
        fleet.restart(0)
        assert fleet.pids()[0] not in (None, first[0])
        assert [hello().status_code for _ in range(2)] == [200, 200] and fleet.forwarded[0] == 4
        fleet.kill(0)
        fleet.kill(1)
        down = hello()
        assert down.status_code == 503 and down.json()["error"]["code"] == "ServiceUnavailable"
    finally:
        fleet.stop()
