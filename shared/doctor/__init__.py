"""`hublink doctor` / `GET /api/doctor`: prove, for the hub and each configured spoke, what the product needs.

    hub     a token in the hub tenant; every hub action granted on the hub resource groups; each
            zone exists and is linked to the hub VNet; each hub subnet's free addresses
    spoke   a token in the spoke's tenant (consent); every action its paths need, granted at the
            subscription; the Event Grid system topic with our subscription and filter, to this app
    cluster per cluster of the spoke: its access path and DNS mode, "will link" or "cannot link because …"

Every check reads (ARM GETs and the Microsoft.Authorization/permissions API) and changes nothing;
each is its own module here. `Report.exit_code` is 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared.dns import hub_vnets
from shared.doctor.access import permissions_check, token_check
from shared.doctor.clusters import cluster_check, rows_by_cluster
from shared.doctor.events import event_grid_check
from shared.doctor.hub import subnet_checks, zone_check, zone_ids
from shared.doctor.needs import HUB_ACTIONS, spoke_actions
from shared.doctor.report import Check, Report, failed
from shared.errors import HubLinkError, SubscriptionNotConfigured

if TYPE_CHECKING:
    from shared.service import Service

__all__ = ["Check", "Report", "run_doctor"]

HUB_FIX = "deploy infra/main.bicep (the HubLink Hub Operator role on the hub network resource group)"
SPOKE_FIX = "deploy infra/spoke.bicep in subscription {sub} (the HubLink Spoke Approver role at subscription scope)"


def run_doctor(service: Service, *, subscription: str | None = None) -> Report:
    """Every check, or only one spoke's (SubscriptionNotConfigured for a subscription not in HUBLINK_SPOKES)."""
    settings = service.settings
    if subscription is not None and settings.tenant_of(subscription) is None:
        raise SubscriptionNotConfigured(subscription)
    arm = service.clusters.arm
    report = Report()
    if subscription is None:
        report.checks += hub_checks(service)
    rows = rows_by_cluster(service.store.list())
    for sub, tenant in sorted(settings.spokes.items()):
        if subscription is None or sub == subscription.lower():
            report.checks += spoke_checks(service, arm, sub, tenant, rows)
    return report


def hub_checks(service: Service) -> list[Check]:
    settings, arm = service.settings, service.clusters.arm
    tenant = settings.hub_tenant_id
    token = token_check(arm, settings, "hub", tenant, tenant)
    if not token.ok:
        return [token]
    hubs = list(settings.hubs.values())
    groups = {"/".join(i.split("/")[:5]) for h in hubs for i in (*h.subnets, *zone_ids(h))}
    checks = [token]
    checks += [permissions_check(arm, "hub", g, tenant, g, HUB_ACTIONS, HUB_FIX) for g in sorted(groups, key=str.lower)]
    vnets = sorted({v for h in hubs for v in hub_vnets(h)}, key=str.lower)
    for zone in sorted({z for h in hubs for z in zone_ids(h)}, key=str.lower):
        checks.append(zone_check(arm, tenant, zone, vnets))
    subnets: dict[str, Check] = {}  # regions may share a subnet: one check each
    for hub in sorted(hubs, key=lambda h: h.region):
        for check in subnet_checks(service.ports.endpoints, hub, settings.endpoints_per_vnet):
            subnets.setdefault(check.subject.lower(), check)
    return checks + list(subnets.values())


def spoke_checks(service: Service, arm: Any, sub: str, tenant: str, rows: Any) -> list[Check]:
    settings = service.settings
    token = token_check(arm, settings, "spoke", sub, tenant)
    if not token.ok:
        return [token]  # every other check of this spoke would fail on the same cause
    paths: Sequence[Any] = service.ports.paths
    checks = [
        token,
        permissions_check(arm, "spoke", sub, tenant, f"/subscriptions/{sub}", spoke_actions(paths), SPOKE_FIX.format(sub=sub)),
        event_grid_check(arm, sub, tenant, settings.api_base_url),
    ]
    try:
        clusters = [c for c in service.clusters.list_in_subscription(sub, tenant) if c.private]
    except HubLinkError as exc:
        return [*checks, failed("spoke", sub, "clusters", f"could not list clusters: {exc}", SPOKE_FIX.format(sub=sub))]
    policy = service.controller.policy
    checks += [cluster_check(c, paths, policy, rows.get(c.id.lower())) for c in sorted(clusters, key=lambda c: c.id.lower())]
    return checks
