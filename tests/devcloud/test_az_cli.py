"""The seed's manual procedure, done with the real Azure CLI (azure-cli 2.91 in .venv/az) against devcloud.

`python -m devcloud az-login`'s config dir is all the CLI gets: a normal `az cloud register` and
`az login --service-principal`, then the platform engineer's steps: a private endpoint with
`--manual-request --group-id management`, az's refusal to approve a managedClusters connection,
approval by `az rest` PUT (by the spoke, in its own tenant: the cluster is in the second tenant),
the DNS record, stop/start, delete. Each step is checked as Azure answers it. The CLI runs with
devcloud's network guard in its own interpreter, so a request off 127.0.0.1 (telemetry, instance
discovery, version checks) fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcloud import azcli
from devcloud.world import HUB_SUBSCRIPTION, SPOKE_SUBSCRIPTION_B1, SPOKE_TENANT

AZ = azcli.az_executable()
HUB_RG, SPOKE_RG = "rg-hub-network", "rg-aks"
ZONE = "privatelink.westeurope.azmk8s.io"
AKS_API = "2025-10-01"
HUB, SPOKE = ("--subscription", HUB_SUBSCRIPTION), ("--subscription", SPOKE_SUBSCRIPTION_B1)

pytestmark = pytest.mark.skipif(AZ is None or ".venv/az/" not in AZ,
                                reason="azure-cli is installed in .venv/az by `make test`")


class Az:
    """Runs `az` with the prepared config dir; every call's result is kept for the failure message."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([AZ, *args], env=self.env, capture_output=True, text=True, timeout=300, check=False)
        if ok:
            assert result.returncode == 0, f"az {' '.join(args)} failed:\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture
def az(cloud, tmp_path: Path) -> Iterator[Az]:
    """A logged-in CLI; operations short and Retry-After 1 s so the CLI's pollers do not wait 30 s."""
    saved = dict(cloud.arm.lro_seconds), dict(cloud.arm.retry_after_s)
    cloud.arm.lro_seconds.update({k: 0.2 for k in ("managedClusters/create", "managedClusters/delete",
                                                   "managedClusters/stop", "managedClusters/start",
                                                   "privateEndpoints/create", "privateEndpoints/delete")})
    cloud.arm.retry_after_s.update({"Microsoft.Network": 1, "Microsoft.ContainerService": 1})
    info = cloud.connection_info()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ARM_", "MSAL_"))}
    env.update(azcli.prepare(tmp_path / "azure", info))
    runner = Az(env)
    # Logs in to the hub's tenant and to the spokes' (another tenant), then selects the hub subscription.
    for command in azcli.login_commands(info):
        runner(*command)
    yield runner
    cloud.arm.lro_seconds.clear()
    cloud.arm.lro_seconds.update(saved[0])
    cloud.arm.retry_after_s.clear()
    cloud.arm.retry_after_s.update(saved[1])


def test_login_lists_the_subscriptions_of_both_tenants_and_nothing_leaves_the_machine(cloud, az):
    accounts = az.json("account", "list")
    assert {(a["id"], a["tenantId"]) for a in accounts} == {(s, v["tenant_id"])
                                                            for s, v in cloud.world.subscriptions.items()}
    assert all(a["cloudName"] == "devcloud" and a["user"]["type"] == "servicePrincipal" for a in accounts)
    assert next(a for a in accounts if a["isDefault"])["id"] == HUB_SUBSCRIPTION
    assert SPOKE_TENANT in {a["tenantId"] for a in accounts}
    listing = cloud.arm.entries(template="/subscriptions")
    assert {e.tenant for e in listing} == set(cloud.world.tenants)
    assert all(e.api_version == "2022-12-01" and e.status == 200 for e in listing)
    # The guard is live inside the CLI: a request to the public ARM host is refused before any DNS lookup.
    leak = az("rest", "--method", "get", "--skip-authorization-header",
              "--url", "https://management.azure.com/subscriptions?api-version=2022-12-01", ok=False)
    assert leak.returncode != 0 and "netguard" in leak.stderr


def test_the_manual_procedure_with_the_real_cli(cloud, op, az):
    name = f"aks-{uuid.uuid4().hex[:6]}"
    cluster_id = op.create_cluster(name, subscription=SPOKE_SUBSCRIPTION_B1)
    cluster = op.get_cluster(cluster_id)
    pe = f"pe-{name}"

    endpoint = az.json("network", "private-endpoint", "create", "-g", HUB_RG, "-n", pe, *HUB,
                       "--subnet", cloud.world.hub["subnet_id"], "--private-connection-resource-id", cluster_id,
                       "--group-id", "management", "--connection-name", "hub-link", "--manual-request", "true",
                       "--request-message", "hub link please", "-l", "westeurope")
    link = endpoint["manualPrivateLinkServiceConnections"][0]
    assert endpoint["provisioningState"] == "Succeeded" and endpoint["privateLinkServiceConnections"] == []
    assert link["privateLinkServiceConnectionState"] == {"status": "Pending", "description": "hub link please",
                                                         "actionsRequired": "None"}
    assert link["groupIds"] == ["management"] and link["requestMessage"] == "hub link please"
    put = cloud.arm.entries(method="PUT", template=next(e.template for e in cloud.arm.log if e.path.endswith(pe)))
    assert put[0].status == 201 and put[0].api_version == "2026-01-01"

    # az knows how to approve connections of many resource types, not of managed clusters.
    refused = az("network", "private-endpoint-connection", "approve", "-g", SPOKE_RG, "--resource-name", name,
                 "--type", "Microsoft.ContainerService/managedClusters", "-n", "any", *SPOKE, ok=False)
    assert refused.returncode != 0 and "Microsoft.Storage/storageAccounts" in refused.stderr
    assert not [e for e in cloud.arm.log if e.method == "PUT" and "/privateendpointconnections/" in e.path.lower()]

    # az's own view of an endpoint drops resourceGuid; the cluster side names the connection after it.
    raw = az.json("rest", "--method", "get", "--url", f"{cloud.url}{endpoint['id']}?api-version=2026-01-01", *HUB)
    base = f"{cloud.url}{cluster_id}/privateEndpointConnections"
    # The spoke approves in its own tenant: az rest with a spoke subscription uses that tenant's token.
    listed = az.json("rest", "--method", "get", "--url", f"{base}?api-version={AKS_API}", *SPOKE)["value"]
    assert [c["name"] for c in listed] == [f"{pe}.{raw['properties']['resourceGuid']}"]
    assert listed[0]["properties"]["privateEndpoint"]["id"].lower() == endpoint["id"].lower()
    body = json.dumps({"properties": {"privateLinkServiceConnectionState": {"status": "Approved",
                                                                           "description": "approved by the hub"}}})
    approved = az.json("rest", "--method", "put", "--url", f"{base}/{listed[0]['name']}?api-version={AKS_API}",
                       "--body", body, *SPOKE)
    assert approved["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"

    endpoint = az.json("network", "private-endpoint", "show", "-g", HUB_RG, "-n", pe, *HUB)
    state = endpoint["manualPrivateLinkServiceConnections"][0]["privateLinkServiceConnectionState"]
    assert state["status"] == "Approved" and state["description"] == "approved by the hub"
    nic = az.json("network", "nic", "show", "--ids", endpoint["networkInterfaces"][0]["id"], *HUB)
    ip = nic["ipConfigurations"][0]["privateIPAddress"]
    assert endpoint["customDnsConfigs"] == [{"fqdn": cluster.private_fqdn, "ipAddresses": [ip]}]

    label = cluster.private_fqdn.removesuffix("." + ZONE)
    record = az.json("network", "private-dns", "record-set", "a", "add-record", "-g", HUB_RG, "-z", ZONE,
                     "-n", label, "-a", ip, *HUB)
    assert record["aRecords"] == [{"ipv4Address": ip}] and record["fqdn"] == f"{label.lower()}.{ZONE}."
    shown = az.json("network", "private-dns", "record-set", "a", "show", "-g", HUB_RG, "-z", ZONE, "-n", label, *HUB)
    assert shown["etag"] == record["etag"] and shown["aRecords"] == record["aRecords"]

    _stop_start(az, name, pe)

    az("network", "private-endpoint", "delete", "-g", HUB_RG, "-n", pe, *HUB)
    az("network", "private-dns", "record-set", "a", "delete", "-g", HUB_RG, "-z", ZONE, "-n", label, "--yes", *HUB)
    az("aks", "delete", "-g", SPOKE_RG, "-n", name, "--yes", *SPOKE)
    gone = az("aks", "show", "-g", SPOKE_RG, "-n", name, *SPOKE, ok=False)
    assert gone.returncode != 0 and "ResourceNotFound" in gone.stderr
    missing = az("network", "private-endpoint", "show", "-g", HUB_RG, "-n", pe, *HUB, ok=False)
    assert missing.returncode != 0 and "ResourceNotFound" in missing.stderr
    assert not [e for e in cloud.arm.log if e.status >= 500]


def _stop_start(az: Az, name: str, pe: str) -> None:
    """Stop removes the cluster's private link service: the approved endpoint reads Disconnected, for good."""
    where = ("-g", SPOKE_RG, "-n", name, *SPOKE)
    az("aks", "stop", *where)
    assert az.json("aks", "show", *where)["powerState"]["code"] == "Stopped"
    endpoint = az.json("network", "private-endpoint", "show", "-g", HUB_RG, "-n", pe, *HUB)
    assert endpoint["manualPrivateLinkServiceConnections"][0]["privateLinkServiceConnectionState"]["status"] == \
        "Disconnected"
    az("aks", "start", *where)
    shown = az.json("aks", "show", *where)
    assert shown["powerState"]["code"] == "Running" and shown["provisioningState"] == "Succeeded"
    endpoint = az.json("network", "private-endpoint", "show", "-g", HUB_RG, "-n", pe, *HUB)
    assert endpoint["manualPrivateLinkServiceConnections"][0]["privateLinkServiceConnectionState"]["status"] == \
        "Disconnected"


def test_az_login_command_writes_the_config_dir(cloud, tmp_path):
    """`python -m devcloud az-login DIR --info FILE` writes the dir and prints the commands to run."""
    import sys

    ready = tmp_path / "ready.txt"
    ready.write_text("noise\nDEVCLOUD_READY " + json.dumps(cloud.connection_info()) + "\n", encoding="utf-8")
    target = tmp_path / "azure"
    out = subprocess.run([sys.executable, "-m", "devcloud", "az-login", str(target), "--info", str(ready)],
                         capture_output=True, text=True, timeout=120, check=True, cwd=Path(__file__).parents[2])
    lines = out.stdout.splitlines()
    assert lines[0] == f". {target}/env"
    assert lines[1] == f"az cloud register --name devcloud --endpoint-resource-manager {cloud.url}"
    assert lines[3].startswith("az login --service-principal --username ")
    assert lines[-1] == f"az account set --subscription {cloud.world.hub['subscription_id']}"
    config = (target / "config").read_text(encoding="utf-8")
    assert "collect_telemetry = false" in config and "instance_discovery = false" in config
    versions = json.loads((target / "versionCheck.json").read_text(encoding="utf-8"))
    assert versions["versions"]["core"]["local"].startswith("2.91.")
    env = (target / "env").read_text(encoding="utf-8")
    assert f"export AZURE_CONFIG_DIR='{target}'" in env and "REQUESTS_CA_BUNDLE" in env
    assert (target / "devcloud-ca.pem").read_bytes() == Path(cloud.certs.ca_bundle).read_bytes()
