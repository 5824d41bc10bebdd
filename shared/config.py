"""Settings: one frozen object read from app settings (environment variables), validated once.

Every setting the code reads is declared in `SETTINGS` below; `infra/` sets exactly these (a test
checks both lists agree). A bad configuration raises `ConfigurationError` naming every missing
or malformed setting at once, so an operator fixes them in one go.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ConfigurationError

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SUBNET_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+"
                       r"/subnets/[^/]+$", re.IGNORECASE)
ZONE_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/privateDnsZones/"
                     r"(?P<zone>privatelink\.[a-z0-9]+\.azmk8s\.io)$", re.IGNORECASE)

# name -> (required, description). The single list of app settings this code reads.
SETTINGS: dict[str, tuple[bool, str]] = {
    "HUBLINK_HUB_TENANT_ID": (True, "Tenant of the hub subscription (GUID)."),
    "HUBLINK_HUBS": (True, 'JSON: {"<region>": {"subnetId": "...", "dnsZoneId": "..."}}; one hub per region.'),
    "HUBLINK_SPOKES": (True, 'JSON: {"<subscriptionId>": "<tenantId>"}; the spoke subscriptions to watch.'),
    "HUBLINK_CLIENT_ID": (True, "Client id of the multi-tenant app registration the product acts as."),
    "HUBLINK_CREDENTIAL": (False, "managed_identity (default: federated, no secret) | client_secret | default."),
    "HUBLINK_MANAGED_IDENTITY_CLIENT_ID": (False, "Client id of the user-assigned identity (managed_identity mode)."),
    "HUBLINK_CLIENT_SECRET": (False, "Secret of the app registration (client_secret mode only)."),
    "HUBLINK_ARM_ENDPOINT": (False, "ARM base URL (default https://management.azure.com)."),
    "HUBLINK_AUTHORITY": (False, "Entra ID authority host (default https://login.microsoftonline.com)."),
    "HUBLINK_CA_BUNDLE": (False, "PEM file to trust for ARM/Entra (local devcloud only)."),
    "HUBLINK_TABLE_NAME": (False, "Table holding one row per cluster (default hublinks)."),
    "HUBLINK_SELECTION": (False, "opt-out (default: every private cluster unless tagged hublink=disabled) | opt-in "
                                 "(only clusters tagged hublink=enabled)."),
    "HUBLINK_APPROVAL": (False, "auto (default) | manual (a person approves each link)."),
    "HUBLINK_EVENT_BUDGET_S": (False, "Seconds an event-triggered reconcile may run (default 20; Event Grid waits 30)."),
    "HUBLINK_TIMER_BUDGET_S": (False, "Seconds one timer run may take (default 240)."),
    "HUBLINK_CONCURRENCY": (False, "Links reconciled in parallel by the timer (default 8)."),
    "HUBLINK_BACKOFF_BASE_S": (False, "First retry delay after a transient error (default 15)."),
    "HUBLINK_BACKOFF_MAX_S": (False, "Longest retry delay (default 3600)."),
    "HUBLINK_DRIFT_INTERVAL_S": (False, "How often a Ready link is re-checked for drift (default 3600)."),
    "HUBLINK_DISCOVERY_INTERVAL_S": (False, "How often spoke subscriptions are listed for missed clusters (default 3600)."),
    "HUBLINK_TIMER_SCHEDULE": (False, "NCRONTAB schedule of the timer backstop (default every 5 minutes)."),
    "HUBLINK_TEAMS_WEBHOOKS": (False, "JSON list of Teams Workflows webhook URLs (https) that get Adaptive Cards."),
    "HUBLINK_WEBHOOKS": (False, "JSON list of https URLs that get the JSON notification events (docs/cards/README.md)."),
    "HUBLINK_WEBHOOK_SECRET": (False, "HMAC-SHA256 secret: generic webhooks then carry X-Signature-256: sha256=<hex>."),
    "HUBLINK_PENDING_ALERT_S": (False, "Notify when a link waits (Pending/Provisioning/AwaitingApproval) longer "
                                       "than this (default 1800)."),
    "HUBLINK_FAILURE_ALERT_AFTER": (False, "Notify after this many consecutive transient failures (default 5)."),
    "HUBLINK_NOTIFY_TIMEOUT_S": (False, "Seconds one notification round may take; a slow webhook is retried later "
                                        "(default 5)."),
    "HUBLINK_API_BASE_URL": (False, "Base URL of this app's HTTP API shown in notices (default https://"
                                    "$WEBSITE_HOSTNAME, which Azure sets)."),
    "AzureWebJobsStorage": (False, "Storage connection string (local); in Azure use the identity-based form below."),
    "AzureWebJobsStorage__tableServiceUri": (False, "Table endpoint for identity-based storage access."),
    "AzureWebJobsStorage__queueServiceUri": (False, "Queue endpoint for identity-based storage access."),
    "AzureWebJobsStorage__clientId": (False, "Client id of the identity used for storage."),
    "AzureWebJobsStorage__credential": (False, "managedidentity for identity-based storage access."),
}

DEFAULT_ARM = "https://management.azure.com"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
OPT_TAG = "hublink"


@dataclass(frozen=True)
class Hub:
    region: str
    subnet_id: str
    dns_zone_id: str

    @property
    def subscription_id(self) -> str:
        return self.subnet_id.split("/")[2]

    @property
    def resource_group(self) -> str:
        return self.subnet_id.split("/")[4]

    @property
    def zone_name(self) -> str:
        return self.dns_zone_id.rstrip("/").split("/")[-1].lower()


@dataclass(frozen=True)
class Settings:
    hub_tenant_id: str
    hubs: Mapping[str, Hub]
    spokes: Mapping[str, str]  # subscription id (lower) -> tenant id
    client_id: str
    credential: str = "managed_identity"
    managed_identity_client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    arm_endpoint: str = DEFAULT_ARM
    authority: str = DEFAULT_AUTHORITY
    ca_bundle: str | None = None
    table_name: str = "hublinks"
    selection: str = "opt-out"
    approval: str = "auto"
    event_budget_s: float = 20.0
    timer_budget_s: float = 240.0
    concurrency: int = 8
    backoff_base_s: float = 15.0
    backoff_max_s: float = 3600.0
    drift_interval_s: float = 3600.0
    discovery_interval_s: float = 3600.0
    storage_connection_string: str | None = field(default=None, repr=False)
    table_service_uri: str | None = None
    queue_service_uri: str | None = None
    storage_client_id: str | None = None
    teams_webhooks: tuple[str, ...] = field(default=(), repr=False)  # Workflows URLs carry a signature
    webhooks: tuple[str, ...] = field(default=(), repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    pending_alert_s: float = 1800.0
    failure_alert_after: int = 5
    notify_timeout_s: float = 5.0
    api_base_url: str | None = None

    def tenant_of(self, subscription_id: str) -> str | None:
        return self.spokes.get(subscription_id.lower())

    def hub_for(self, region: str) -> Hub | None:
        return self.hubs.get(_region_key(region))

    @property
    def verify(self) -> str | bool:
        """What to pass as `verify` / `connection_verify`: the CA bundle, or the system store."""
        return self.ca_bundle or True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return parse_settings(os.environ if env is None else env)


def _region_key(region: str) -> str:
    return region.replace(" ", "").lower()


def parse_settings(env: Mapping[str, str]) -> Settings:
    """Validate every setting and report all problems together."""
    problems: list[str] = []
    values: dict[str, Any] = {}

    def get(name: str) -> str | None:
        raw = env.get(name)
        raw = raw.strip() if isinstance(raw, str) else raw
        if not raw:
            if SETTINGS[name][0]:
                problems.append(f"{name} is missing: {SETTINGS[name][1]}")
            return None
        return raw

    def load_json(name: str) -> Any:
        raw = get(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            problems.append(f"{name} is not valid JSON ({exc.msg} at position {exc.pos})")
            return None

    def number(name: str, default: float, *, minimum: float, integer: bool = False) -> float:
        raw = get(name)
        if raw is None:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            problems.append(f"{name} must be a {'whole ' if integer else ''}number, got {raw!r}")
            return default
        if value < minimum:
            problems.append(f"{name} must be at least {minimum}, got {raw!r}")
        return value

    def choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = get(name)
        if raw is None:
            return default
        if raw.lower() not in allowed:
            problems.append(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
            return default
        return raw.lower()

    tenant = get("HUBLINK_HUB_TENANT_ID")
    if tenant and not GUID.match(tenant):
        problems.append(f"HUBLINK_HUB_TENANT_ID must be a GUID, got {tenant!r}")
    values["hub_tenant_id"] = tenant

    hubs: dict[str, Hub] = {}
    raw_hubs = load_json("HUBLINK_HUBS")
    if raw_hubs is not None:
        if not isinstance(raw_hubs, dict) or not raw_hubs:
            problems.append("HUBLINK_HUBS must be a non-empty JSON object of region -> {subnetId, dnsZoneId}")
        else:
            for region, hub in raw_hubs.items():
                subnet = hub.get("subnetId") if isinstance(hub, dict) else None
                zone = hub.get("dnsZoneId") if isinstance(hub, dict) else None
                if not isinstance(subnet, str) or not SUBNET_ID.match(subnet):
                    problems.append(f"HUBLINK_HUBS[{region!r}].subnetId must be a subnet resource id, got {subnet!r}")
                    continue
                m = ZONE_ID.match(zone) if isinstance(zone, str) else None
                if not m:
                    problems.append(f"HUBLINK_HUBS[{region!r}].dnsZoneId must be the id of a private DNS zone "
                                    f"privatelink.<region>.azmk8s.io, got {zone!r}")
                    continue
                if m.group("zone").lower() != f"privatelink.{_region_key(region)}.azmk8s.io":
                    problems.append(f"HUBLINK_HUBS[{region!r}].dnsZoneId names zone {m.group('zone')!r}, "
                                    f"expected privatelink.{_region_key(region)}.azmk8s.io")
                    continue
                hubs[_region_key(region)] = Hub(_region_key(region), subnet, zone)
    values["hubs"] = hubs

    spokes: dict[str, str] = {}
    raw_spokes = load_json("HUBLINK_SPOKES")
    if raw_spokes is not None:
        if not isinstance(raw_spokes, dict) or not raw_spokes:
            problems.append("HUBLINK_SPOKES must be a non-empty JSON object of subscriptionId -> tenantId")
        else:
            for sub, ten in raw_spokes.items():
                if not GUID.match(str(sub)) or not isinstance(ten, str) or not GUID.match(ten):
                    problems.append(f"HUBLINK_SPOKES entry {sub!r}: {ten!r} must map a subscription GUID to a tenant GUID")
                    continue
                spokes[sub.lower()] = ten.lower()
    values["spokes"] = spokes

    client_id = get("HUBLINK_CLIENT_ID")
    if client_id and not GUID.match(client_id):
        problems.append(f"HUBLINK_CLIENT_ID must be a GUID, got {client_id!r}")
    values["client_id"] = client_id

    credential = choice("HUBLINK_CREDENTIAL", "managed_identity", ("managed_identity", "client_secret", "default"))
    values["credential"] = credential
    values["managed_identity_client_id"] = get("HUBLINK_MANAGED_IDENTITY_CLIENT_ID")
    values["client_secret"] = get("HUBLINK_CLIENT_SECRET")
    if credential == "client_secret" and not values["client_secret"]:
        problems.append("HUBLINK_CLIENT_SECRET is required when HUBLINK_CREDENTIAL=client_secret")
    if credential == "managed_identity" and not values["managed_identity_client_id"]:
        problems.append("HUBLINK_MANAGED_IDENTITY_CLIENT_ID is required when HUBLINK_CREDENTIAL=managed_identity")

    for name, key, default in (("HUBLINK_ARM_ENDPOINT", "arm_endpoint", DEFAULT_ARM),
                               ("HUBLINK_AUTHORITY", "authority", DEFAULT_AUTHORITY)):
        raw = get(name) or default
        if not raw.startswith("https://"):
            problems.append(f"{name} must be an https:// URL, got {raw!r}")
        values[key] = raw.rstrip("/")
    ca = get("HUBLINK_CA_BUNDLE")
    if ca and not os.path.isfile(ca):
        problems.append(f"HUBLINK_CA_BUNDLE names a file that does not exist: {ca!r}")
    values["ca_bundle"] = ca

    table = get("HUBLINK_TABLE_NAME") or "hublinks"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,62}", table):
        problems.append(f"HUBLINK_TABLE_NAME must be 3-63 letters/digits starting with a letter, got {table!r}")
    values["table_name"] = table
    values["selection"] = choice("HUBLINK_SELECTION", "opt-out", ("opt-out", "opt-in"))
    values["approval"] = choice("HUBLINK_APPROVAL", "auto", ("auto", "manual"))
    values["event_budget_s"] = number("HUBLINK_EVENT_BUDGET_S", 20.0, minimum=1)
    values["timer_budget_s"] = number("HUBLINK_TIMER_BUDGET_S", 240.0, minimum=1)
    values["concurrency"] = int(number("HUBLINK_CONCURRENCY", 8, minimum=1, integer=True))
    values["backoff_base_s"] = number("HUBLINK_BACKOFF_BASE_S", 15.0, minimum=0.01)
    values["backoff_max_s"] = number("HUBLINK_BACKOFF_MAX_S", 3600.0, minimum=0.01)
    values["drift_interval_s"] = number("HUBLINK_DRIFT_INTERVAL_S", 3600.0, minimum=1)
    values["discovery_interval_s"] = number("HUBLINK_DISCOVERY_INTERVAL_S", 3600.0, minimum=1)

    values["storage_connection_string"] = get("AzureWebJobsStorage")
    values["table_service_uri"] = get("AzureWebJobsStorage__tableServiceUri")
    values["queue_service_uri"] = get("AzureWebJobsStorage__queueServiceUri")
    values["storage_client_id"] = get("AzureWebJobsStorage__clientId")
    for name, key in (("HUBLINK_TEAMS_WEBHOOKS", "teams_webhooks"), ("HUBLINK_WEBHOOKS", "webhooks")):
        urls = load_json(name)
        if urls is not None and (not isinstance(urls, list) or not all(isinstance(u, str) for u in urls)):
            problems.append(f"{name} must be a JSON list of https:// URLs")
            urls = None
        for i, url in enumerate(urls or []):
            if not re.match(r"^https://[^/?#\s]+", url):  # never echo the URL: it may carry a signature
                problems.append(f"{name}[{i}] must be an https:// URL")
        values[key] = tuple(urls or ())
    values["webhook_secret"] = get("HUBLINK_WEBHOOK_SECRET")
    values["pending_alert_s"] = number("HUBLINK_PENDING_ALERT_S", 1800.0, minimum=1)
    values["failure_alert_after"] = int(number("HUBLINK_FAILURE_ALERT_AFTER", 5, minimum=1, integer=True))
    values["notify_timeout_s"] = number("HUBLINK_NOTIFY_TIMEOUT_S", 5.0, minimum=0.1)
    base = get("HUBLINK_API_BASE_URL")
    if base and not re.match(r"^https?://[^/?#\s]+", base):
        problems.append(f"HUBLINK_API_BASE_URL must be an http(s):// URL, got {base!r}")
    host = (env.get("WEBSITE_HOSTNAME") or "").strip()  # set by the platform, not an app setting
    values["api_base_url"] = (base or (f"https://{host}" if host else "")).rstrip("/") or None

    if not values["storage_connection_string"] and not values["table_service_uri"]:
        problems.append("AzureWebJobsStorage (connection string) or AzureWebJobsStorage__tableServiceUri "
                        "(identity-based) is required for the state table")

    if problems:
        raise ConfigurationError(problems)
    return Settings(**values)
