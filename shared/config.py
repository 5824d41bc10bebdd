"""Settings: one frozen object read from app settings (environment variables), validated once.

What each setting is (name, type, default, bounds, description) is declared once, in
`shared.settings`; this module reads the environment against that table. A bad configuration
raises `ConfigurationError` naming every missing or malformed setting at once, so an operator
fixes them in one go. Components get the few values they use (see `shared.runtime`), not this
whole object.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ConfigurationError
from shared.hubs import SUBNET_ID, Hub, parse_hubs, region_key
from shared.sdk import AzureAccess, StorageAccess
from shared.settings import BY_FIELD, SETTINGS, Setting, default

__all__ = ["SETTINGS", "Hub", "Settings", "parse_settings", "region_key", "OPT_TAG"]

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PLS_SUBNET_TAG = "hublink-pls-subnet"
TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
OPT_TAG = "hublink"


@dataclass(frozen=True)
class Settings:
    hub_tenant_id: str
    hubs: Mapping[str, Hub]
    spokes: Mapping[str, str]  # subscription id (lower) -> tenant id
    client_id: str
    pls_subnets: Mapping[str, str] = field(default_factory=dict)  # cluster VNet id (lower) -> PLS subnet id
    credential: str = default("credential")
    managed_identity_client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    arm_endpoint: str = default("arm_endpoint")
    authority: str = default("authority")
    ca_bundle: str | None = None
    table_name: str = default("table_name")
    selection: str = default("selection")
    approval: str = default("approval")
    event_budget_s: float = default("event_budget_s")
    timer_budget_s: float = default("timer_budget_s")
    concurrency: int = default("concurrency")
    backoff_base_s: float = default("backoff_base_s")
    backoff_max_s: float = default("backoff_max_s")
    drift_interval_s: float = default("drift_interval_s")
    absence_confirm_s: float = default("absence_confirm_s")
    discovery_interval_s: float = default("discovery_interval_s")
    storage_connection_string: str | None = field(default=None, repr=False)
    table_service_uri: str | None = None
    queue_service_uri: str | None = None
    storage_client_id: str | None = None
    teams_webhooks: tuple[str, ...] = field(default=(), repr=False)  # Workflows URLs carry a signature
    webhooks: tuple[str, ...] = field(default=(), repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    pending_alert_s: float = default("pending_alert_s")
    failure_alert_after: int = default("failure_alert_after")
    notify_timeout_s: float = default("notify_timeout_s")
    sdk_log_level: str = default("sdk_log_level")
    api_base_url: str | None = None
    api_audience: str | None = None
    stable_ip: str = default("stable_ip")
    endpoints_per_vnet: int = default("endpoints_per_vnet")

    def tenant_of(self, subscription_id: str) -> str | None:
        return self.spokes.get(subscription_id.lower())

    def hub_for(self, region: str) -> Hub | None:
        return self.hubs.get(region_key(region))

    @property
    def verify(self) -> str | bool:
        """What to pass as `verify` / `connection_verify`: the CA bundle, or the system store."""
        return self.azure.verify

    @property
    def azure(self) -> AzureAccess:
        """What the ARM adapters need: where ARM is and which CA to trust."""
        return AzureAccess(self.arm_endpoint, self.ca_bundle)

    @property
    def storage(self) -> StorageAccess:
        """What the row store and the continuation queue need."""
        return StorageAccess(self.storage_connection_string, self.table_service_uri, self.queue_service_uri, self.table_name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return parse_settings(os.environ if env is None else env)


class _Reader:
    """Reads raw values against their declarations and collects every problem."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        value = value.strip() if isinstance(value, str) else value
        if not value:
            if SETTINGS[name].required:
                self.problems.append(f"{name} is missing: {SETTINGS[name].description}")
            return None
        return value

    def read(self, s: Setting) -> Any:
        """The value of one simple setting (its default when unset or malformed)."""
        raw = self.raw(s.name)
        if raw is None:
            return s.default
        if s.kind == "guid" and not GUID.match(raw):
            self.problems.append(f"{s.name} must be a GUID, got {raw!r}")
        elif s.kind == "choice":
            if raw.lower() not in s.choices:
                self.problems.append(f"{s.name} must be one of {', '.join(s.choices)}, got {raw!r}")
                return s.default
            return raw.lower()
        elif s.kind in ("number", "integer"):
            return self._number(s, raw)
        elif s.kind == "https":
            if not raw.startswith("https://"):
                self.problems.append(f"{s.name} must be an https:// URL, got {raw!r}")
            return raw.rstrip("/")
        elif s.kind == "file" and not os.path.isfile(raw):
            self.problems.append(f"{s.name} names a file that does not exist: {raw!r}")
        elif s.kind == "schedule" and len(raw.split()) != 6:
            self.problems.append(f"{s.name} must be an NCRONTAB expression of 6 fields, got {raw!r}")
        return raw

    def _number(self, s: Setting, raw: str) -> float:
        integer = s.kind == "integer"
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            self.problems.append(f"{s.name} must be a {'whole ' if integer else ''}number, got {raw!r}")
            return s.default
        if s.minimum is not None and value < s.minimum:
            self.problems.append(f"{s.name} must be at least {s.minimum}, got {raw!r}")
        return value

    def json(self, name: str) -> Any:
        raw = self.raw(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            self.problems.append(f"{name} is not valid JSON ({exc.msg} at position {exc.pos})")
            return None


_SPECIAL = {"hubs", "spokes", "pls_subnets", "teams_webhooks", "webhooks", "api_base_url", "table_name"}


def parse_settings(env: Mapping[str, str]) -> Settings:
    """Validate every setting and report all problems together."""
    r = _Reader(env)
    values: dict[str, Any] = {f: r.read(s) for f, s in BY_FIELD.items() if f not in _SPECIAL}
    r.read(SETTINGS["HUBLINK_TIMER_SCHEDULE"])  # read by the Functions host; validated here too
    values["hubs"] = _hubs(r)
    values["spokes"] = _spokes(r)
    values["pls_subnets"] = _pls_subnets(r)
    values["table_name"] = r.read(SETTINGS["HUBLINK_TABLE_NAME"])
    if not TABLE_NAME.fullmatch(values["table_name"]):
        r.problems.append(f"HUBLINK_TABLE_NAME must be 3-63 letters/digits starting with a letter, got {values['table_name']!r}")
    for name, key in (("HUBLINK_TEAMS_WEBHOOKS", "teams_webhooks"), ("HUBLINK_WEBHOOKS", "webhooks")):
        values[key] = _urls(r, name)
    values["api_base_url"] = _api_base(r, env)
    if values["credential"] == "client_secret" and not values["client_secret"]:
        r.problems.append("HUBLINK_CLIENT_SECRET is required when HUBLINK_CREDENTIAL=client_secret")
    if values["credential"] == "managed_identity" and not values["managed_identity_client_id"]:
        r.problems.append("HUBLINK_MANAGED_IDENTITY_CLIENT_ID is required when HUBLINK_CREDENTIAL=managed_identity")
    if not values["storage_connection_string"] and not values["table_service_uri"]:
        r.problems.append(
            "AzureWebJobsStorage (connection string) or AzureWebJobsStorage__tableServiceUri "
            "(identity-based) is required for the state table"
        )
    values["concurrency"] = int(values["concurrency"])
    values["failure_alert_after"] = int(values["failure_alert_after"])
    values["endpoints_per_vnet"] = int(values["endpoints_per_vnet"])
    if r.problems:
        raise ConfigurationError(r.problems)
    return Settings(**values)


def _object(r: _Reader, name: str, shape: str) -> dict[str, Any]:
    """A JSON setting that must be a non-empty object (empty when unset or malformed, the problem recorded)."""
    raw = r.json(name)
    if raw is not None and (not isinstance(raw, dict) or not raw):
        r.problems.append(f"{name} must be a non-empty JSON object of {shape}")
        return {}
    return raw or {}


def _hubs(r: _Reader) -> dict[str, Hub]:
    return parse_hubs(_object(r, "HUBLINK_HUBS", "region -> {subnetId | subnetIds, dnsZoneId}"), r.problems)


def _pls_subnets(r: _Reader) -> dict[str, str]:
    """HUBLINK_PLS_SUBNETS: each VNet id maps to a subnet id inside that VNet."""
    raw = r.json("HUBLINK_PLS_SUBNETS")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.problems.append("HUBLINK_PLS_SUBNETS must be a JSON object of VNet id -> subnet id")
        return {}
    out: dict[str, str] = {}
    for vnet, subnet in raw.items():
        if not isinstance(subnet, str) or not SUBNET_ID.match(subnet) or vnet_of(subnet) != str(vnet).rstrip("/").lower():
            r.problems.append(f"HUBLINK_PLS_SUBNETS[{vnet!r}] must be the id of a subnet of that VNet, got {subnet!r}")
            continue
        out[vnet_of(subnet)] = subnet
    return out


def vnet_of(subnet_id: str) -> str:
    """The VNet id (lower case) of a subnet id."""
    lower = subnet_id.rstrip("/").lower()
    i = lower.rfind("/subnets/")
    return lower[:i] if i >= 0 else ""


def _spokes(r: _Reader) -> dict[str, str]:
    spokes: dict[str, str] = {}
    for sub, ten in _object(r, "HUBLINK_SPOKES", "subscriptionId -> tenantId").items():
        if not GUID.match(str(sub)) or not isinstance(ten, str) or not GUID.match(ten):
            r.problems.append(f"HUBLINK_SPOKES entry {sub!r}: {ten!r} must map a subscription GUID to a tenant GUID")
            continue
        spokes[sub.lower()] = ten.lower()
    return spokes


def _urls(r: _Reader, name: str) -> tuple[str, ...]:
    urls = r.json(name)
    if urls is not None and (not isinstance(urls, list) or not all(isinstance(u, str) for u in urls)):
        r.problems.append(f"{name} must be a JSON list of https:// URLs")
        urls = None
    for i, url in enumerate(urls or []):
        if not re.match(r"^https://[^/?#\s]+", url):  # never echo the URL: it may carry a signature
            r.problems.append(f"{name}[{i}] must be an https:// URL")
    return tuple(urls or ())


def _api_base(r: _Reader, env: Mapping[str, str]) -> str | None:
    base = r.raw("HUBLINK_API_BASE_URL")
    if base and not re.match(r"^https?://[^/?#\s]+", base):
        r.problems.append(f"HUBLINK_API_BASE_URL must be an http(s):// URL, got {base!r}")
    host = (env.get("WEBSITE_HOSTNAME") or "").strip()  # set by the platform, not an app setting
    return (base or (f"https://{host}" if host else "")).rstrip("/") or None
