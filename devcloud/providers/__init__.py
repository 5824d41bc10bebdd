"""Resource providers devcloud implements (each registers its ARM routes on the shared `Arm`).

Every provider object keeps its state in dicts keyed by the lower-cased resource id, so tests and
the control API can look inside, e.g. `cloud.providers["network"].endpoints`. Providers that
depend on another get it passed in: every resource needs its resource group, and private
endpoints ask the cluster provider about their target.
"""

from __future__ import annotations

from typing import Any


def register(cloud: Any) -> dict[str, Any]:
    from devcloud import metadata
    from devcloud.providers import (
        authorization,
        containerservice,
        eventgridarm,
        loadbalancer,
        network,
        privatedns,
        privatelinkservice,
        resources,
        tenancy,
    )

    metadata.register(cloud.router, lambda: cloud.url)
    tenancy.register(cloud)
    authorization.register(cloud)
    groups = resources.register(cloud)
    clusters = containerservice.register(cloud, groups)
    lbs = loadbalancer.register(cloud, groups)
    return {
        "resources": groups,
        "containerservice": clusters,
        "loadbalancers": lbs,
        "privatelinkservices": privatelinkservice.register(cloud, groups, lbs),
        "network": network.register(cloud, groups, clusters),
        "privatedns": privatedns.register(cloud, groups),
        "eventgrid": eventgridarm.register(cloud),
    }
