"""Per cluster of a spoke: its access path and DNS mode, and "will link" or "cannot link because …".

The verdict is the product's own: the selection rules (shared.steps.cluster.skip_reason), the
access path that applies (shared.paths.path_for) and its `cannot_link(live)`, the hub of the
region, and a terminal failure the link's row recorded (Azure refusing what only a try reveals,
e.g. a PLS in a locked-down node resource group).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.dns import dns_mode
from shared.doctor.report import Check, failed, passed
from shared.model import Phase
from shared.paths import path_for
from shared.steps.cluster import skip_reason

if TYPE_CHECKING:
    from shared.aks import Cluster
    from shared.link import Policy
    from shared.model import LinkState


def cluster_check(live: Cluster, paths: Sequence[Any], policy: Policy, row: LinkState | None) -> Check:
    cid = live.id
    skip = skip_reason(live, policy)
    if skip:
        return passed("cluster", cid, "cluster", f"will not link: {skip}")
    path = path_for(paths, live)
    if path is None:
        return failed(
            "cluster", cid, "cluster", "cannot link because no access path reaches this cluster", "see README 'How it works'"
        )
    mode = dns_mode(live)
    about = f"path {path.name}, DNS mode {mode}"
    hub = policy.hub_for(live.location)
    if hub is None:
        return failed(
            "cluster",
            cid,
            "cluster",
            f"{about}: cannot link because no hub is configured for region {live.location}",
            f"add {live.location} to HUBLINK_HUBS (a hub subnet and its zone in that region)",
        )
    unlinkable = path.cannot_link(live)
    if unlinkable is not None:
        reason = str(unlinkable).split(". What to do: ", 1)[0]
        return failed("cluster", cid, "cluster", f"{about}: cannot link because {reason}", unlinkable.remedy)
    if row is not None and row.phase is Phase.FAILED:
        return failed(
            "cluster",
            cid,
            "cluster",
            f"{about}: cannot link because {row.last_error or row.message}",
            f"fix the cause, then: hublink reconcile {cid}",
        )
    phase = f" (link {row.phase})" if row is not None else ""
    return passed("cluster", cid, "cluster", f"{about}: will link{phase}")


def rows_by_cluster(rows: Sequence[LinkState]) -> Mapping[str, LinkState]:
    return {r.cluster_id.lower(): r for r in rows}
