"""The named reasons a cluster cannot be linked, and the Azure refusals that mean one of them.

Data only (shared.errors.Unlinkable and `refusal` read it): each reason is a terminal Failed with a
notice that says what is wrong and what a person can do; the step raising it has created nothing of
ours. The README's table of reasons is this table.
"""

from __future__ import annotations

# The named reasons a cluster cannot be linked: code -> (what is wrong, what a person can do).
# Each is a terminal Failed with a notice; the step raising it has created nothing of ours.
UNLINKABLE: dict[str, tuple[str, str]] = {
    "NoPlsSubnet": (
        "no Private Link Service subnet is known for the cluster's VNet {vnet}",
        'add it to HUBLINK_PLS_SUBNETS ({{"<VNet id>": "<subnet id>"}}; infra/spoke.bicep plsSubnets creates one) '
        "or tag the cluster hublink-pls-subnet=<subnet id>, then retry",
    ),
    "InvalidPlsSubnet": (
        "the Private Link Service subnet {subnet} ({source}) is not a subnet of the cluster's VNet {vnet}",
        "name a subnet of {vnet} with private-link-service network policies disabled, then retry",
    ),
    "ManagedVnetNotSupported": (
        "the cluster's API server is in an AKS-managed VNet: Microsoft's procedure for reaching a VNet-integrated "
        "API server through a Private Link Service is for clusters in your own VNet only",
        "create the cluster in your own VNet (apiServerAccessProfile.subnetId and the agent pools' vnetSubnetID); "
        "it is then linked automatically",
    ),
    "NodeResourceGroupLocked": (
        "Azure refused the Private Link Service on kube-apiserver: the node resource group {group} is locked down "
        "(nodeResourceGroupProfile.restrictionLevel ReadOnly) and its deny assignment blocks the load balancer link",
        "set the cluster's node resource group restriction level to Unrestricted "
        "(az aks update --nrg-lockdown-restriction-level Unrestricted), then retry",
    ),
    "PlsLimitPerLoadBalancer": (
        "kube-apiserver already has as many Private Link Services as Azure allows on one load balancer (8)",
        "delete a Private Link Service on its frontend that is no longer used, then retry",
    ),
    "PlsNameCollision": (
        "a Private Link Service named {name} exists and was not created by aks-hublink; it was left untouched",
        "delete or rename it, or tag the cluster hublink-pls-subnet=<a subnet in another resource group>, then retry",
    ),
}


# Azure's refusals that mean one of the named reasons (the codes devcloud answers, see its docstrings).
REFUSALS = {
    "DenyAssignmentAuthorizationFailed": "NodeResourceGroupLocked",
    "PrivateLinkServiceLimitPerLoadBalancerReached": "PlsLimitPerLoadBalancer",
}
