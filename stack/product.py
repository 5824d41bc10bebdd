"""Run the product on devcloud: its function app in the local Functions host, wired like Azure.

Used by `python -m stack up` (and so by `make up`, `make demo` and the end-to-end tests). The app runs
with the same settings it has in Azure: its own least-privilege app registration, reached without
a secret through the managed identity endpoint and workload identity federation; state and the
continuation queue in Azurite; and an Event Grid subscription on every spoke subscription with
the filter infra/spoke.bicep deploys, so creating a cluster through ARM makes the link appear. Its
HTTP API sits behind App Service Authentication as in Azure (devcloud.easyauth, `easy_auth_settings`):
callers need a token for the API's audience (`info["api"]`).
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from devcloud.azurite import free_port
from devcloud.funchost import start_function_host_process
from stack.world import product_info

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVENT_SUBSCRIPTION = "hublink-clusters"
EVENT_FUNCTION = "on_cluster_event"


def cloud_info(cloud: Any) -> dict[str, Any]:
    """A running DevCloud's connection info with the product's part (stack.world.product_info) added."""
    return {**cloud.connection_info(), **product_info(cloud.world)}


def easy_auth_settings(info: dict[str, Any]) -> dict[str, str]:
    """What App Service Authentication is configured with in Azure (infra/app/function.bicep authsettingsV2),
    as the app settings the local Functions host reads (devcloud.easyauth)."""
    api = info["api"]
    return {
        "WEBSITE_AUTH_ENABLED": "true",
        "WEBSITE_AUTH_OPENID_ISSUER": f"{info['authority']}/{api['tenant_id']}/v2.0",
        "WEBSITE_AUTH_CLIENT_ID": api["client_id"],
        "WEBSITE_AUTH_ALLOWED_AUDIENCES": json.dumps([api["audience"], api["client_id"]]),
        "WEBSITE_AUTH_EXCLUDED_PATHS": "/runtime/webhooks/eventgrid",
        "FUNCHOST_AUTH_CA_BUNDLE": info["ca_bundle"],
    }


def topology_settings(info: dict[str, Any]) -> dict[str, str]:
    """The settings that describe this devcloud's hub, spokes and endpoints (from a DEVCLOUD_READY info)."""
    hub = info["hub"]
    return {
        "HUBLINK_HUB_TENANT_ID": hub["tenant_id"],
        "HUBLINK_HUBS": json.dumps(
            {
                r: {
                    "subnetId": hub["subnet_id"],
                    "dnsZoneId": z,
                    "vnetIntegrationDnsZoneId": hub["vnet_integration_dns_zones"][r],
                }
                for r, z in hub["dns_zones"].items()
            }
        ),
        "HUBLINK_SPOKES": json.dumps({s["subscription_id"]: s["tenant_id"] for s in info["spokes"]}),
        # What infra/spoke.bicep's PLS_SUBNET_IDS output gives the hub: the PLS subnet of each spoke VNet.
        "HUBLINK_PLS_SUBNETS": json.dumps(
            {v["vnet_id"]: v["pls_subnet_id"] for s in info["spokes"] if (v := s.get("vnet_integration"))}
        ),
        "HUBLINK_CLIENT_ID": info["product"]["client_id"],
        "HUBLINK_ARM_ENDPOINT": info["arm"],
        "HUBLINK_AUTHORITY": info["authority"],
        "HUBLINK_CA_BUNDLE": info["ca_bundle"],
        **({"HUBLINK_API_AUDIENCE": info["api"]["audience"]} if "api" in info else {}),
    }


def in_process_settings(info: dict[str, Any], storage_connection_string: str, **overrides: str) -> dict[str, str]:
    """Settings for the product running inside a test or benchmark process: the app's client secret
    (no managed identity endpoint needed) and a table of its own, so runs never see each other's rows."""
    return {
        **topology_settings(info),
        "HUBLINK_CREDENTIAL": "client_secret",
        "HUBLINK_CLIENT_SECRET": info["product"]["client_secret"],
        "HUBLINK_TABLE_NAME": "t" + uuid.uuid4().hex[:16],
        "AzureWebJobsStorage": storage_connection_string,
        **overrides,
    }


def product_settings(info: dict[str, Any], *, timer_schedule: str = "*/15 * * * * *") -> dict[str, str]:
    """App settings for the function app against this devcloud (what infra/ sets in Azure)."""
    return {
        **topology_settings(info),
        **easy_auth_settings(info),
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "HUBLINK_CREDENTIAL": "managed_identity",
        "HUBLINK_MANAGED_IDENTITY_CLIENT_ID": info["product"]["managed_identity_client_id"],
        "IDENTITY_ENDPOINT": info["identity_endpoint"],
        "IDENTITY_HEADER": info["identity_header"],
        "HUBLINK_TIMER_SCHEDULE": timer_schedule,
        "HUBLINK_DISCOVERY_INTERVAL_S": "60",
        "HUBLINK_TEAMS_WEBHOOKS": json.dumps([f"{info['notifications']}/teams"]),
        "HUBLINK_WEBHOOKS": json.dumps([f"{info['notifications']}/generic"]),
        "HUBLINK_WEBHOOK_SECRET": info["webhook_secret"],
        "HUBLINK_API_BASE_URL": info.get("functions", ""),
        "AzureWebJobsStorage": info["storage_connection_string"],
        "DEVCLOUD_NETGUARD": "1",
    }


def start_product(
    info: dict[str, Any], cloud: Any, *, hosts: int | None = None, **settings_overrides: str
) -> tuple[dict[str, Any], Callable[[], None]]:
    """Start the function app and subscribe it to every spoke's events; returns (info additions, stop).

    `hosts`: run that many instances of the app (host processes on one Azurite behind one
    round-robin front end, devcloud.funchost_fleet) instead of one host process."""
    additions, _, stop = _start(info, cloud, hosts, settings_overrides)
    return additions, stop


def start_product_fleet(
    info: dict[str, Any], cloud: Any, hosts: int, **settings_overrides: str
) -> tuple[dict[str, Any], Any, Callable[[], None]]:
    """The function app on `hosts` instances behind one front end; returns (info additions, the fleet
    (to kill and restart instances), stop)."""
    return _start(info, cloud, hosts, settings_overrides)


def _start(
    info: dict[str, Any], cloud: Any, hosts: int | None, settings_overrides: dict[str, str]
) -> tuple[dict[str, Any], Any, Callable[[], None]]:
    from devcloud.funchost_fleet import start_function_host_fleet
    from shared.events import subscription_filter

    info = {**info, **product_info(cloud.world)}
    # Hex keys: a urlsafe token may start with '-' and read as an option on the host's command line.
    function_key, master_key, eventgrid_key = secrets.token_hex(24), secrets.token_hex(24), secrets.token_hex(24)
    port = free_port()  # chosen up front so the app's notices can name its own URL
    secret = secrets.token_hex(16)  # signs the generic webhook notices; tests verify with it
    settings = {
        **product_settings({**info, "functions": f"https://127.0.0.1:{port}", "webhook_secret": secret}),
        **settings_overrides,
    }
    keys = {"function_key": function_key, "master_key": master_key, "eventgrid_key": eventgrid_key}
    cert_file = cloud.certs.server_pem_file()
    if hosts is None:
        host = start_function_host_process(REPO_ROOT, settings, cert_file=cert_file, port=port, **keys)
    else:
        host = start_function_host_fleet(
            REPO_ROOT, settings, hosts, cert_file=cert_file, ca_file=cloud.certs.ca_bundle, port=port, **keys
        )
    wanted = subscription_filter()
    try:
        for spoke in info["spokes"]:
            cloud.eventgrid.add_subscription(
                spoke["subscription_id"],
                EVENT_SUBSCRIPTION,
                host.webhook_url(EVENT_FUNCTION),
                included_event_types=wanted["includedEventTypes"],
                advanced_filters=[{"operatorType": "StringIn", "key": "data.operationName", "values": wanted["operationNames"]}],
            )
    except Exception:
        host.stop()
        raise

    def stop() -> None:
        for spoke in info["spokes"]:
            cloud.eventgrid.remove_subscription(spoke["subscription_id"], EVENT_SUBSCRIPTION)
        host.stop()

    additions = {
        **product_info(cloud.world),
        "functions": host.url,
        "function_key": function_key,
        "master_key": master_key,
        "eventgrid_webhook": host.webhook_url(EVENT_FUNCTION),
        "webhook_secret": secret,
    }
    if hosts is not None:
        additions["hosts"] = hosts
    return additions, host, stop
