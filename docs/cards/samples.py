"""Sample notices of every kind, as the product plans them (for docs/cards/render.mjs).

Drives the real `Notifier.plan` / `announce` with made-up links, so the pictures show exactly
what Teams receives. Prints {type: {"event": <generic webhook body>, "teams": <Teams body>}} as JSON;
nothing is sent anywhere.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared.cards import teams_message  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.model import ForeignConnection, LinkState, Outcome, Phase  # noqa: E402
from shared.notify import Notifier  # noqa: E402

HUB_TENANT = "a1a1a1a1-0000-4000-8000-000000000001"
SPOKE_TENANT = "b2b2b2b2-0000-4000-8000-000000000002"
SUB = "20000000-0000-4000-8000-0000000000b1"
HUB_RG = "/subscriptions/10000000-0000-4000-8000-0000000000a1/resourceGroups/rg-hub/providers/Microsoft.Network"
CLUSTER = (f"/subscriptions/{SUB}/resourceGroups/rg-payments/providers/Microsoft.ContainerService/managedClusters/"
           "aks-payments-prod")
ENDPOINT = f"{HUB_RG}/privateEndpoints/pe-hublink-aks-payments-prod-3f2a9c1b7d40"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def link(**changes) -> LinkState:
    state = LinkState(cluster_id=CLUSTER, subscription_id=SUB, resource_group="rg-payments", cluster_name="aks-payments-prod",
                      tenant_id=SPOKE_TENANT, region="westeurope", endpoint_id=ENDPOINT,
                      connection_name="pe-hublink-aks-payments-prod-3f2a9c1b7d40.4c1e", connection_status="Approved",
                      private_ip="10.20.0.37", fqdn="aks-payments-prod-x1y2z3.privatelink.westeurope.azmk8s.io",
                      created_at=NOW - timedelta(hours=2), ready_at=NOW, phase=Phase.READY)
    for key, value in changes.items():
        setattr(state, key, value)
    return state


def main() -> None:
    clock = [NOW]
    settings = Settings(hub_tenant_id=HUB_TENANT, hubs={}, spokes={SUB: SPOKE_TENANT}, client_id=HUB_TENANT,
                        teams_webhooks=("https://teams.invalid/workflow",), approval="manual",
                        api_base_url="https://func-hublink-prod.azurewebsites.net")
    notifier = Notifier(settings, now=lambda: clock[0])
    out: dict[str, dict] = {}

    def plan(state: LinkState, previous: Phase | None, outcome: Outcome) -> None:
        notifier.plan(state, previous, outcome)
        for notice in state.notices.pending:
            out.setdefault(notice["type"], notice["event"])
        state.notices.pending = []

    ready = link()
    plan(ready, Phase.AWAITING_APPROVAL, Outcome(CLUSTER, Phase.READY))
    clock[0] += timedelta(days=3)
    ready.ready_at, ready.private_ip = clock[0], "10.20.0.52"
    ready.connection_name = "pe-hublink-aks-payments-prod-3f2a9c1b7d40.9d07"  # the endpoint was recreated
    plan(ready, Phase.READY, Outcome(CLUSTER, Phase.READY))

    foreign = link(foreign_connections=[ForeignConnection(
        name="pe-jumphost-weu.1b9e", status="Pending", description="Jump host for the payments on-call",
        private_endpoint_id="/subscriptions/30000000-0000-4000-8000-0000000000c1/resourceGroups/rg-ops/providers/"
                            "Microsoft.Network/privateEndpoints/pe-jumphost-weu")])
    plan(foreign, Phase.READY, Outcome(CLUSTER, Phase.READY))

    waiting = link(phase=Phase.AWAITING_APPROVAL, connection_name=None, connection_status=None, ready_at=None, private_ip=None,
                   message="waiting for a person to approve the connection")
    plan(waiting, Phase.PROVISIONING, Outcome(CLUSTER, Phase.AWAITING_APPROVAL, requeue_after=300))
    clock[0] += timedelta(minutes=45)
    plan(waiting, Phase.AWAITING_APPROVAL, Outcome(CLUSTER, Phase.AWAITING_APPROVAL, requeue_after=300))

    error = ("create hub endpoint pe-hublink-aks-payments-prod-3f2a9c1b7d40 failed: HTTP 403 AuthorizationFailed: The client "
             "'c0c0c0c0-0000-4000-8000-00000000b001' does not have authorization to perform action "
             "'Microsoft.Network/virtualNetworks/subnets/join/action' over scope '/subscriptions/10000000-0000-4000-8000-"
             "0000000000a1/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/snet-pe'")
    failed = link(phase=Phase.FAILED, private_ip=None, connection_name=None, attempts=1, last_error=error,
                  last_error_code="AuthorizationFailed", message=error)
    plan(failed, Phase.PROVISIONING, Outcome(CLUSTER, Phase.FAILED, error, error=error, terminal=True))

    busy = "read cluster rg-payments/aks-payments-prod failed: HTTP 503 ServiceUnavailable: The service is unavailable."
    failing = link(phase=Phase.PROVISIONING, attempts=5, last_error=busy, last_error_code="ServiceUnavailable")
    plan(failing, Phase.PROVISIONING, Outcome(CLUSTER, Phase.PROVISIONING, busy, requeue_after=240, error=busy))

    gone = link()
    plan(gone, Phase.AWAITING_APPROVAL, Outcome(CLUSTER, Phase.READY))
    gone.phase, gone.endpoint_id, gone.connection_name, gone.private_ip = Phase.DELETING, None, None, None
    plan(gone, Phase.READY, Outcome(CLUSTER, Phase.ABSENT, "cleaned up: the cluster no longer exists"))

    for status, by, reason in (("Approved", "alice@contoso.com", "CHG-20931: jump host for the payments on-call"),
                               ("Rejected", "bob@contoso.com", "unknown requester, not in the network register")):
        decided = link()
        notifier.announce(decided, f"connection.{status.lower()}", f"decision:{status}", decision={
            "connectionName": "pe-jumphost-weu.1b9e", "status": status, "by": by, "via": "http", "reason": reason,
            "privateEndpointId": foreign.foreign_connections[0].private_endpoint_id, "at": "2025-03-14T09:41:07Z"})
        out[f"connection.{status.lower()}"] = decided.notices.pending[0]["event"]

    json.dump({kind: {"event": event, "teams": teams_message(event)} for kind, event in out.items()}, sys.stdout,
              indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
