"""`make demo`: the whole lifecycle of a link, locally, in under a minute.

Starts `python -m stack up` (devcloud, Azurite, the function app in the local Functions host),
then acts only as a platform engineer would — ARM calls through Microsoft's SDK — and prints what
the product does in response, as it happens. Exits 0 only if every expected outcome held.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from devcloud.client import Operator, RemoteCloud, wait_for
from devcloud.world import SPOKE_SUBSCRIPTION_B1, SPOKE_SUBSCRIPTION_B2
from shared.ids import ClusterId
from stack.client import start_stack, stop_stack

# Operation times, shortened from Azure's (minutes for a cluster, ~30 s for an endpoint) so the demo
# fits in a minute; the product does not know or care.
TIMES = {"durations": {"managedClusters/create": 2.0, "managedClusters/delete": 1.0, "managedClusters/stop": 0.5,
                       "managedClusters/start": 0.5, "privateEndpoints/create": 2.0, "privateEndpoints/delete": 1.0,
                       "privateLinkServices/create": 1.0, "privateLinkServices/update": 1.0,
                       "privateLinkServices/delete": 1.0},
         "retry_after": {"Microsoft.Network": 1, "Microsoft.ContainerService": 1}}
STEP_TIMEOUT_S = 30


def _short_event(event_type: str) -> str:
    return event_type.rsplit(".", 1)[-1]


class Timeline:
    """Polls devcloud's logs and the app's API and prints each thing the product did, with the time."""

    def __init__(self, cloud: RemoteCloud) -> None:
        self.cloud = cloud
        self.t0 = time.monotonic()
        self.seq = max((e["seq"] for e in cloud.control("GET", "/requests")["value"]), default=0)
        self.deliveries = len(cloud.control("GET", "/eventgrid/deliveries")["value"])
        self.notices = len(self._notices())
        self.phases: dict[str, str] = {}
        self.watch: list[str] = []
        self.through_pls: set[str] = set()  # hub endpoint names of the VNet-integrated clusters
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _notices(self) -> list[dict[str, Any]]:
        import requests

        resp = requests.get(f"{self.cloud.info['notifications']}/generic", verify=self.cloud.certs.ca_bundle, timeout=5)
        return resp.json() if resp.ok else []

    def say(self, text: str) -> None:
        with self._lock:
            print(f"  [+{time.monotonic() - self.t0:5.1f}s] {text}", flush=True)

    def restart_clock(self, title: str) -> None:
        self.flush()  # what happened so far belongs to the previous step
        print(f"\n{title}", flush=True)
        self.t0 = time.monotonic()

    def flush(self) -> None:
        if self._thread.is_alive():
            with self._poll_lock:
                self._poll()

    def start(self) -> Timeline:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                with self._poll_lock:
                    self._poll()
            except Exception as exc:  # the stack is going away; the demo's own checks decide
                self.say(f"(timeline: {exc})")
                return

    def _poll(self) -> None:
        for d in self.cloud.control("GET", "/eventgrid/deliveries")["value"][self.deliveries:]:
            self.deliveries += 1
            name = d["subject"].rsplit("/", 1)[-1]
            self.say(f"event handled          {_short_event(d['eventType'])} {name}"
                     f"{' (duplicate)' if d['duplicate'] else ''} -> {d['status']} after {d['latency']:.1f}s")
        for e in self.cloud.control("GET", f"/requests?principal=hublink&since={self.seq}")["value"]:
            self.seq = max(self.seq, e["seq"])
            line = _describe(e, self.through_pls)
            if line:
                self.say(line)
        for cid in list(self.watch):
            link = self.cloud.link(cid)
            phase = link["phase"] if link else "(no link)"
            if self.phases.get(cid, "(no link)") != phase:
                self.phases[cid] = phase
                extra = f" {link['privateIp']} {link['fqdn']} (path {link['accessPath']})" if link and phase == "Ready" else ""
                self.say(f"link {cid.rsplit('/', 1)[-1]:<14} -> {phase}{extra}")
        notices = self._notices()
        for n in notices[self.notices:]:
            body = n.get("body") if isinstance(n, dict) else None
            if isinstance(body, dict) and "type" in body:
                self.say(f"notice sent            {body['type']} ({body.get('clusterId', '').rsplit('/', 1)[-1]})")
        self.notices = len(notices)


def _describe(e: dict[str, Any], through_pls: set[str] = frozenset()) -> str | None:  # type: ignore[assignment]
    """A request the product made, as a timeline line (reads are left out, except failures)."""
    path, method, status = e["path"], e["method"], e["status"]
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if status == 404 and method == "GET":
        return None  # "does it exist yet?" reads: expected on a new link
    if status >= 400:
        return f"ARM {method} {e['template'].rsplit('/', 2)[-2]} -> {status}"
    if method == "GET" and path.lower().endswith("/loadbalancers/kube-apiserver"):
        return "kube-apiserver read   its frontend IP configuration, in the node resource group (spoke tenant)"
    if "/privateLinkServices/" in path and "/privateEndpointConnections/" in path and method == "PUT":
        return f"connection approved   {name} (PUT on our private link service)"
    if "/privateLinkServices/" in path and method in ("PUT", "DELETE"):
        if method == "DELETE":
            return f"private link service deleted   {name}"
        return f"private link service requested {name} (on kube-apiserver's frontend, hub subscription auto-approved)"
    if method == "PUT" and "/privateEndpoints/" in path and name in through_pls:
        return f"hub endpoint requested {name} (to our private link service, no groupIds)"
    if method == "PUT" and "/privateEndpoints/" in path:
        return f"hub endpoint requested {name} (manual connection, groupIds [management])"
    if method == "DELETE" and "/privateEndpoints/" in path:
        return f"hub endpoint deleted  {name}"
    if method == "PUT" and "/privateEndpointConnections/" in path:
        return f"connection approved   {name} (direct ARM PUT on the cluster)"
    if "/privateDnsZones/" in path and "/A/" not in path:
        return f"hub DNS zone {'written' if method == 'PUT' else 'deleted'}  {name}"
    if method == "PUT" and "/privateDnsZones/" in path:
        return f"A record written      {name}"
    if method == "DELETE" and "/privateDnsZones/" in path:
        return f"A record deleted      {name}"
    if method == "GET" and path.endswith("/privateEndpointConnections"):
        return "connections listed on the cluster (spoke tenant)"
    return None


class Checks:
    def __init__(self) -> None:
        self.results: list[tuple[str, bool]] = []
        self.timeline: Timeline | None = None

    def expect(self, what: str, ok: bool) -> None:
        if self.timeline:
            self.timeline.flush()
        self.results.append((what, bool(ok)))
        print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)

    @property
    def passed(self) -> bool:
        return all(ok for _, ok in self.results)


def phase_is(cloud: RemoteCloud, cluster_id: str, phase: str):
    def check() -> dict[str, Any] | None:
        link = cloud.link(cluster_id)
        return link if link and link["phase"] == phase else None

    return check


def run() -> int:
    started = time.monotonic()
    print("Starting devcloud (ARM + Entra ID + Event Grid), Azurite and the function app ...", flush=True)
    proc, info = start_stack()
    cloud = RemoteCloud(info)
    checks = Checks()
    timeline: Timeline | None = None
    try:
        cloud.control("PUT", "/lro", TIMES)
        op = Operator(cloud)
        print(f"  devcloud {info['arm']}   functions {info['functions']}   (ready in {time.monotonic() - started:.1f}s)")
        timeline = checks.timeline = Timeline(cloud).start()

        timeline.restart_clock("1. A private cluster is created in a spoke of ANOTHER tenant (fabrikam-apps); "
                               "nothing else is called")
        cluster = op.create_cluster("aks-payments", subscription=SPOKE_SUBSCRIPTION_B1, wait=False)
        timeline.watch.append(cluster)
        link = wait_for(phase_is(cloud, cluster, "Ready"), timeout=STEP_TIMEOUT_S, interval=0.1, what="link Ready")
        record = op.record(link["recordName"])
        checks.expect("private cluster linked: endpoint approved and A record -> the endpoint's IP",
                      record and record["properties"]["aRecords"][0]["ipv4Address"] == link["privateIp"])

        timeline.restart_clock("1b. An API Server VNet Integration cluster is created in the same spoke's VNet (no private "
                               "link of its own): the product puts its own Private Link Service in front")
        integrated = op.create_vnet_cluster("aks-orders", subscription=SPOKE_SUBSCRIPTION_B1, wait=False)
        timeline.through_pls.add(ClusterId.parse(integrated).endpoint_name)
        timeline.watch.append(integrated)
        vlink = wait_for(phase_is(cloud, integrated, "Ready"), timeout=STEP_TIMEOUT_S, interval=0.1, what="link Ready")
        vrecord = op.record(vlink["recordName"], vnet_integration=True)
        checks.expect("VNet-integrated cluster linked through our PLS: A record in private.westeurope.azmk8s.io -> "
                      "the endpoint's IP", vrecord and vrecord["properties"]["aRecords"][0]["ipv4Address"]
                      == vlink["privateIp"] and bool(vlink["linkServiceId"]))
        for cid in (cluster, integrated):
            lk = cloud.link(cid)
            timeline.say(f"path of {lk['clusterName']:<13} {lk['accessPath']}")
        checks.expect("each cluster went by its own path",
                      (cloud.link(cluster)["accessPath"], vlink["accessPath"]) == ("private-link", "vnet-integration"))

        timeline.restart_clock("2. A public cluster is created: nothing to link")
        public = op.create_cluster("aks-public", subscription=SPOKE_SUBSCRIPTION_B2, private=False, wait=False)
        timeline.watch.append(public)
        skipped = wait_for(phase_is(cloud, public, "Skipped"), timeout=STEP_TIMEOUT_S, interval=0.1, what="Skipped")
        checks.expect("public cluster skipped, no endpoint created", "public" in skipped["message"])

        timeline.restart_clock("3. Someone else adds their own endpoint to aks-payments: it must stay Pending")
        foreign = op.create_foreign_endpoint(cluster, "pe-someone-else")
        cloud.api("POST", "links/reconcile", caller="operator", json={"clusterId": cluster})  # HubLink.Operator
        link = wait_for(lambda: (lk := cloud.link(cluster)) and lk["foreignConnections"] and lk,
                        timeout=STEP_TIMEOUT_S, interval=0.1, what="foreign connection recorded")
        states = {c.private_endpoint.id.lower(): str(getattr(c.private_link_service_connection_state.status, "value",
                                                             c.private_link_service_connection_state.status))
                  for c in op.connections(cluster)}
        timeline.say(f"foreign connection     {link['foreignConnections'][0]['name']} recorded, left "
                     f"{states.get(foreign.id.lower())}")
        checks.expect("foreign connection left Pending and reported", states.get(foreign.id.lower()) == "Pending")

        timeline.restart_clock("4. aks-payments is stopped and started (its private link service is recreated)")
        before = cloud.link(cluster)
        record_before = op.record(before["recordName"])
        op.stop_start(cluster)
        repaired = wait_for(lambda: (lk := cloud.link(cluster)) and lk["phase"] == "Ready"
                            and lk["connectionName"] != before["connectionName"] and lk,
                            timeout=STEP_TIMEOUT_S, interval=0.1, what="link repaired")
        record = op.record(repaired["recordName"])
        checks.expect("endpoint recreated and approved, A record follows",
                      record["properties"]["aRecords"][0]["ipv4Address"] == repaired["privateIp"])
        # Stable hub IP (HUBLINK_STABLE_IP=on): the recreated endpoint asked for the address it had.
        hub = info["hub"]
        asked = op.network().private_endpoints.get(hub["resource_group"], repaired["hubEndpointId"].rsplit("/", 1)[-1])
        static = [(c.group_id, c.member_name, c.private_ip_address) for c in asked.ip_configurations or []]
        timeline.say(f"hub IP kept            {before['privateIp']} -> {repaired['privateIp']} (the new endpoint asked "
                     f"for it: ipConfigurations {static})")
        checks.expect("same hub IP after stop/start, asked for by the new endpoint; A record never rewritten",
                      repaired["privateIp"] == before["privateIp"] == (static[0][2] if static else None)
                      and record["etag"] == record_before["etag"])

        timeline.restart_clock("5. aks-payments and aks-orders are deleted")
        op.delete_cluster(cluster, wait=False)
        op.delete_cluster(integrated, wait=False)
        for cid in (cluster, integrated):
            wait_for(lambda c=cid: cloud.link(c) is None, timeout=STEP_TIMEOUT_S, interval=0.1, what="link removed")
        ours = [pe.name for pe in op.hub_endpoints() if pe.name.startswith(("pe-hublink-aks-payments", "pe-hublink-aks-orders"))]
        checks.expect("A record, hub endpoint and state row removed",
                      op.record(repaired["recordName"]) is None and ours == [])
        checks.expect("aks-orders: its A record, hub endpoint and our private link service removed too",
                      op.record(vlink["recordName"], vnet_integration=True) is None
                      and not any(p.name.startswith("pls-hublink-aks-orders") for p in op.link_services()))
        op.delete_endpoint(foreign.name)
        timeline.flush()
        timeline.stop()

        print("\nStatus (GET /api/links, as a HubLink.Reader):")
        rows = cloud.api("GET", "links", caller="reader").json()["value"]
        print(f"  {'PHASE':<10} {'CLUSTER':<14} {'PATH':<17} {'SUBSCRIPTION':<38} MESSAGE")
        for r in rows:
            print(f"  {r['phase']:<10} {r['clusterName']:<14} {r['accessPath'] or '-':<17} {r['subscriptionId']:<38} "
                  f"{r['message'][:60]}")
        checks.expect("status lists the skipped public cluster only", [r["clusterName"] for r in rows] == ["aks-public"])
    except Exception as exc:
        checks.expect(f"demo ran to the end ({type(exc).__name__}: {exc})", False)
    finally:
        if timeline:
            timeline.stop()
        code = stop_stack(proc)
    total = time.monotonic() - started
    print(f"\n{'All expected outcomes held' if checks.passed else 'SOME EXPECTED OUTCOMES FAILED'} "
          f"({sum(ok for _, ok in checks.results)}/{len(checks.results)}) in {total:.1f}s; devcloud exited {code}")
    return 0 if checks.passed and code == 0 else 1


if __name__ == "__main__":
    sys.exit(run())
