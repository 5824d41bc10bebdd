"""Every app setting the product reads, declared once: name, type, default, bounds, description.

`shared.config.parse_settings` reads exactly these, the `Settings` dataclass takes its defaults
from here, the README's configuration table is `markdown_table()`, and infra/main.bicep's
parameter defaults are checked against `default` (tests/test_config.py, tests/test_infra.py).
To add a setting: add a `Setting` below (with `field` naming the `Settings` attribute it fills),
add that attribute to `Settings`, set it in infra/main.bicep's `productSettings`, and regenerate
the README table (`python -m shared settings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# kind: how the raw string is read
#   text | secret (never echoed) | guid | json | choice | number | integer | https (URL) | file | schedule
KINDS = ("text", "secret", "guid", "json", "choice", "number", "integer", "https", "file", "schedule")


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str
    description: str
    default: Any = None
    required: bool = False
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    field: str | None = None  # the Settings attribute it fills (None: read by the Functions host only)

    def doc(self) -> str:
        """The description with its default, as the README shows it."""
        if self.choices:
            return f"{self.description} One of {', '.join(f'`{c}`' for c in self.choices)}; default `{self.default}`."
        if self.default not in (None, ""):
            return f"{self.description} Default `{_plain(self.default)}`."
        return self.description


def _plain(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


_S = Setting
DECLARED: tuple[Setting, ...] = (
    _S("HUBLINK_HUB_TENANT_ID", "guid", "Tenant of the hub subscription.", required=True, field="hub_tenant_id"),
    _S(
        "HUBLINK_HUBS",
        "json",
        'One hub per region: `{"<region>": {"subnetId": "<hub subnet id>", "dnsZoneId": '
        '"<privatelink.<region>.azmk8s.io zone id>"}}`. `subnetIds` (a list, after `subnetId` if both are given) '
        "lets a region use several hub subnets, in one or several hub VNets: a new link takes the first with room. "
        "`vnetIntegrationDnsZoneId` names the hub's `private.<region>.azmk8s.io` zone (default: next to `dnsZoneId`).",
        required=True,
        field="hubs",
    ),
    _S(
        "HUBLINK_PLS_SUBNETS",
        "json",
        "Where the Private Link Service of an API Server VNet Integration cluster goes, per cluster VNet: "
        '`{"<VNet id>": "<subnet id in that VNet>"}` (infra/spoke.bicep `plsSubnets` creates such subnets, '
        "private-link-service network policies disabled). A cluster tag `hublink-pls-subnet=<subnet id>` wins.",
        field="pls_subnets",
    ),
    _S(
        "HUBLINK_SPOKES",
        "json",
        'The spoke subscriptions to watch: `{"<subscriptionId>": "<tenantId>"}`.',
        required=True,
        field="spokes",
    ),
    _S(
        "HUBLINK_CLIENT_ID",
        "guid",
        "Client id of the multi-tenant app registration the product acts as.",
        required=True,
        field="client_id",
    ),
    _S(
        "HUBLINK_CREDENTIAL",
        "choice",
        "How the product signs in: a user-assigned identity signs a federated "
        "assertion (no secret), a client secret, or your own login (development).",
        default="managed_identity",
        choices=("managed_identity", "client_secret", "default"),
        field="credential",
    ),
    _S(
        "HUBLINK_MANAGED_IDENTITY_CLIENT_ID",
        "text",
        "Client id of the user-assigned identity (managed_identity mode).",
        field="managed_identity_client_id",
    ),
    _S("HUBLINK_CLIENT_SECRET", "secret", "Secret of the app registration (client_secret mode only).", field="client_secret"),
    _S(
        "HUBLINK_ARM_ENDPOINT",
        "https",
        "ARM base URL (other clouds, or devcloud locally).",
        default="https://management.azure.com",
        field="arm_endpoint",
    ),
    _S("HUBLINK_AUTHORITY", "https", "Entra ID authority host.", default="https://login.microsoftonline.com", field="authority"),
    _S("HUBLINK_CA_BUNDLE", "file", "PEM file to trust for ARM and Entra ID (devcloud only).", field="ca_bundle"),
    _S("HUBLINK_TABLE_NAME", "text", "Table holding one row per cluster.", default="hublinks", field="table_name"),
    _S(
        "HUBLINK_SELECTION",
        "choice",
        "Which private clusters get a link: every one unless tagged "
        "`hublink=disabled` (opt-out), or only those tagged `hublink=enabled` (opt-in).",
        default="opt-out",
        choices=("opt-out", "opt-in"),
        field="selection",
    ),
    _S(
        "HUBLINK_APPROVAL",
        "choice",
        "Whether the product approves its connections itself, or a person approves each link.",
        default="auto",
        choices=("auto", "manual"),
        field="approval",
    ),
    _S(
        "HUBLINK_EVENT_BUDGET_S",
        "number",
        "Seconds one reconcile may hold its link's lease (no invocation waits for Azure; Event Grid waits 30).",
        default=20.0,
        minimum=1,
        field="event_budget_s",
    ),
    _S("HUBLINK_TIMER_BUDGET_S", "number", "Seconds one timer run may take.", default=240.0, minimum=1, field="timer_budget_s"),
    _S("HUBLINK_CONCURRENCY", "integer", "Links reconciled in parallel by the timer.", default=8, minimum=1, field="concurrency"),
    _S(
        "HUBLINK_BACKOFF_BASE_S",
        "number",
        "First retry delay after a transient error.",
        default=15.0,
        minimum=0.01,
        field="backoff_base_s",
    ),
    _S("HUBLINK_BACKOFF_MAX_S", "number", "Longest retry delay.", default=3600.0, minimum=0.01, field="backoff_max_s"),
    _S(
        "HUBLINK_DRIFT_INTERVAL_S",
        "number",
        "How often a Ready link is re-checked for drift.",
        default=3600.0,
        minimum=1,
        field="drift_interval_s",
    ),
    _S(
        "HUBLINK_ABSENCE_CONFIRM_S",
        "number",
        "A cluster read answering 404 is confirmed by another read at least this long after the first "
        "(or by a ResourceDeleteSuccess event) before a link with history is cleaned up.",
        default=20.0,
        minimum=1,
        field="absence_confirm_s",
    ),
    _S(
        "HUBLINK_DISCOVERY_INTERVAL_S",
        "number",
        "How often spoke subscriptions are listed for missed clusters.",
        default=3600.0,
        minimum=1,
        field="discovery_interval_s",
    ),
    _S(
        "HUBLINK_TIMER_SCHEDULE",
        "schedule",
        "NCRONTAB schedule of the timer backstop (read by the Functions host "
        "through the trigger's `%HUBLINK_TIMER_SCHEDULE%`; every 5 minutes).",
        default="0 */5 * * * *",
    ),
    _S(
        "HUBLINK_TEAMS_WEBHOOKS",
        "json",
        "JSON list of Teams Workflows webhook URLs (https) that get Adaptive Cards.",
        field="teams_webhooks",
    ),
    _S(
        "HUBLINK_WEBHOOKS",
        "json",
        "JSON list of https URLs that get the JSON notification events (docs/cards/README.md).",
        field="webhooks",
    ),
    _S(
        "HUBLINK_WEBHOOK_SECRET",
        "secret",
        "HMAC-SHA256 secret: generic webhooks then carry `X-Signature-256: sha256=<hex>`.",
        field="webhook_secret",
    ),
    _S(
        "HUBLINK_PENDING_ALERT_S",
        "number",
        "Notify when a link waits (Pending/Provisioning/AwaitingApproval) longer than this.",
        default=1800.0,
        minimum=1,
        field="pending_alert_s",
    ),
    _S(
        "HUBLINK_FAILURE_ALERT_AFTER",
        "integer",
        "Notify after this many consecutive transient failures.",
        default=5,
        minimum=1,
        field="failure_alert_after",
    ),
    _S(
        "HUBLINK_NOTIFY_TIMEOUT_S",
        "number",
        "Seconds one notification round may take; a slow webhook is retried later.",
        default=5.0,
        minimum=0.1,
        field="notify_timeout_s",
    ),
    _S(
        "HUBLINK_SDK_LOG_LEVEL",
        "choice",
        "Level of the Azure SDK loggers (`azure.*`): at `info` they log every request, most of what the host "
        "would forward to Application Insights.",
        default="warning",
        choices=("warning", "info", "debug"),
        field="sdk_log_level",
    ),
    _S(
        "HUBLINK_API_BASE_URL",
        "text",
        "Base URL of this app's HTTP API shown in notices (default `https://$WEBSITE_HOSTNAME`, which Azure sets).",
        field="api_base_url",
    ),
    _S(
        "HUBLINK_API_AUDIENCE",
        "text",
        "The API's Entra ID audience (`api://<API app id>`), for the token in the calls notices show "
        "(`az account get-access-token --resource ...`); a placeholder without it.",
        field="api_audience",
    ),
    _S(
        "HUBLINK_STABLE_IP",
        "choice",
        "Keep a link's first hub address: a recreated endpoint (after a stop/start) asks for the same IP, so "
        "firewall and proxy rules stay true. If the address is taken meanwhile, the link moves to a new one and "
        "a `link.ip_changed` notice names both.",
        default="on",
        choices=("on", "off"),
        field="stable_ip",
    ),
    _S(
        "HUBLINK_ENDPOINTS_PER_VNET",
        "integer",
        "Most private endpoints a hub VNet may hold (Azure's limit is 1000; 5000 with High Scale private endpoints).",
        default=1000,
        minimum=1,
        field="endpoints_per_vnet",
    ),
    _S(
        "AzureWebJobsStorage",
        "secret",
        "Storage connection string (local); in Azure use the identity-based form below. This or the table endpoint is required.",
        field="storage_connection_string",
    ),
    _S(
        "AzureWebJobsStorage__tableServiceUri",
        "text",
        "Table endpoint for identity-based storage access.",
        field="table_service_uri",
    ),
    _S(
        "AzureWebJobsStorage__queueServiceUri",
        "text",
        "Queue endpoint for identity-based storage access.",
        field="queue_service_uri",
    ),
    _S("AzureWebJobsStorage__clientId", "text", "Client id of the identity used for storage.", field="storage_client_id"),
    _S("AzureWebJobsStorage__credential", "text", "`managedidentity` for identity-based storage access."),
    _S(
        "HUBLINK_API_AUTH",
        "choice",
        "Who the HTTP API trusts: `easyauth` answers only behind App Service Authentication "
        "(`WEBSITE_AUTH_ENABLED=true`) and checks the verified caller's app roles; `local-unauthenticated` "
        "treats every caller as a local developer holding every role (a machine without Easy Auth, never Azure).",
        default="easyauth",
        choices=("easyauth", "local-unauthenticated"),
    ),
)

SETTINGS: dict[str, Setting] = {s.name: s for s in DECLARED}
BY_FIELD: dict[str, Setting] = {s.field: s for s in DECLARED if s.field}


def default(field: str) -> Any:
    """The declared default of the setting that fills `Settings.<field>`."""
    return BY_FIELD[field].default


def markdown_table() -> str:
    """The README's configuration table (tests/test_config.py checks the README carries exactly this)."""
    lines = ["| setting | required | meaning |", "|---|---|---|"]
    for s in DECLARED:
        lines.append(f"| `{s.name}` | {'yes' if s.required else ''} | {s.doc()} |")
    return "\n".join(lines)
