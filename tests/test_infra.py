"""The Bicep in infra/ against the code: it parses, passes checkov, sets exactly the settings the
code reads, filters exactly the events the code acts on, and grants exactly what the code does.

Least privilege is proven, not assumed: the product runs a full life cycle against devcloud
(discovery, onboarding across tenants, foreign connections approved and rejected, a stop/start
repair, deletion, an API Server VNet Integration cluster through our Private Link Service) and
every action ARM authorized for it must be in the custom roles, and every
action in the roles must have been used.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from shared.config import SETTINGS
from stack.world import HUB_ROLE_ACTIONS, SPOKE_ROLE_ACTIONS

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
# checkov pins packaging<24 (pytest 9 needs >=24), so it lives in its own venv: see the Makefile's setup.
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"

# Settings the Functions platform reads (infra sets them, shared/config.py does not read them).
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__blobServiceUri": "the host's blob leases and timer locks, identity-based",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "where the host sends telemetry",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "telemetry with the managed identity (local auth is off)",
}
# Settings the code reads that infra must NOT set in Azure.
LOCAL_ONLY_SETTINGS = {
    "HUBLINK_CA_BUNDLE": "trusts devcloud's local CA; Azure uses the system store",
    "HUBLINK_CLIENT_SECRET": "client_secret mode is for local runs; Azure federates the managed identity",
    "AzureWebJobsStorage": "a connection string needs shared keys, which the storage account disables",
}
# Role actions the end-to-end run may leave unused, each with the reason it is granted anyway.
_DOCTOR = "read by `hublink doctor` (tests/test_doctor.py), not by a link's life cycle"
JUSTIFIED_UNUSED: dict[str, str] = {
    "Microsoft.EventGrid/systemTopics/read": _DOCTOR,
    "Microsoft.EventGrid/systemTopics/eventSubscriptions/read": _DOCTOR,
    "Microsoft.Insights/metrics/read": _DOCTOR,
}


@functools.cache
def bicep(relative: str) -> dict[str, Any]:
    from pycep import BicepParser

    return BicepParser().parse(file_path=INFRA / relative)


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's body; for `[for ...]` and `if (...)` resources, the body of one item."""
    config = resource["config"]
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def resources_of_type(doc: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: body(r) for name, r in doc.get("resources", {}).items() if r["type"].lower() == type_.lower()}


def role_actions(relative: str) -> list[str]:
    [role] = resources_of_type(bicep(relative), "Microsoft.Authorization/roleDefinitions").values()
    [permissions] = role["properties"]["permissions"]
    assert permissions["notActions"] == []
    return permissions["actions"]


# -- static ------------------------------------------------------------------------------------
def test_every_bicep_file_parses():
    files = sorted(p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep"))
    assert {"main.bicep", "spoke.bicep", "app/function.bicep", "app/spoke-events.bicep"} <= set(files)
    for f in files:
        assert bicep(f)["globals"], f


def test_parameters_are_documented_avm_style():
    """Every parameter says Required. or Optional.; an optional one has a default, a required one none.

    Optional inputs take defaults ('' = not set) rather than nullable types: checkov's Bicep parser
    cannot read `string?`, and a file it cannot parse is a file it does not check.
    """
    for path in INFRA.rglob("*.bicep"):
        for name, param in bicep(path.relative_to(INFRA).as_posix()).get("parameters", {}).items():
            [text] = [d["argument"] for d in param["decorators"] if d["type"] == "description"]
            kind = text.split(".")[0]
            assert kind in ("Required", "Optional"), f"{path.name}: {name}"
            assert (param["default"] is None) == (kind == "Required"), f"{path.name}: {name} says {kind}"


def test_checkov_bicep_checks_pass():
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV.relative_to(ROOT)}: run `make setup`")
    started = time.monotonic()
    # --skip-download: no guideline look-ups on the internet (there is none here, and CI must not try).
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(INFRA), "--framework", "bicep", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    report = json.loads(proc.stdout)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a file, so it checked nothing there"
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report["results"]["failed_checks"]]
    assert failed == [] and proc.returncode == 0, failed
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment") or ""
        assert len(reason.strip()) > 20, f"{skipped['check_id']} on {skipped['resource']} is skipped without a reason"
    checked = {c["file_path"] for c in report["results"]["passed_checks"]}
    assert {"/app/function.bicep", "/app/storage.bicep", "/main.bicep", "/spoke.bicep"} <= checked
    assert time.monotonic() - started < 60


def test_app_settings_are_exactly_what_the_code_reads():
    main = bicep("main.bicep")
    function = bicep("app/function.bicep")
    assert main["modules"]["app"]["config"]["params"]["appSettings"] == "productSettings"
    union = function["resources"]["settings"]["config"]["properties"]["function"]
    assert union["type"] == "union"
    args = union["parameters"]
    assert (args["arg_1"], args["arg_2"]) == ("platformSettings", "appSettings") and set(args) == {"arg_1", "arg_2", "arg_3"}
    product = set(main["variables"]["productSettings"]["value"]) | set(args["arg_3"])
    platform = set(function["variables"]["platformSettings"]["value"])

    assert platform == set(PLATFORM_SETTINGS)
    assert not product & set(LOCAL_ONLY_SETTINGS)
    assert product == set(SETTINGS) - set(LOCAL_ONLY_SETTINGS), (
        f"in Bicep only: {sorted(product - set(SETTINGS))}; "
        f"read by the code but not set: {sorted(set(SETTINGS) - set(LOCAL_ONLY_SETTINGS) - product)}"
    )
    assert set(LOCAL_ONLY_SETTINGS) <= set(SETTINGS), "a local-only setting the code no longer reads"


def test_app_settings_values_that_matter():
    settings = bicep("main.bicep")["variables"]["productSettings"]["value"]
    assert settings["HUBLINK_CREDENTIAL"] == "managed_identity"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["HUBLINK_CLIENT_ID"] == "appClientId"
    platform = bicep("app/function.bicep")["variables"]["platformSettings"]["value"]
    assert platform["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"


def test_the_api_requires_entra_id_with_the_api_registration_as_audience():
    """authsettingsV2: every request needs a token for the API's registration, except Event Grid's webhook."""
    function = bicep("app/function.bicep")
    [auth] = [r["config"] for r in function["resources"].values() if r["config"].get("name") == "authsettingsV2"]
    props = auth["properties"]
    assert props["platform"]["enabled"] is True
    assert props["globalValidation"]["requireAuthentication"] is True
    assert props["globalValidation"]["unauthenticatedClientAction"] == "Return401"
    assert props["globalValidation"]["excludedPaths"] == ["/runtime/webhooks/eventgrid"]
    aad = props["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True and aad["registration"]["clientId"] == "apiClientId"
    assert "tenant().tenantId" in json.dumps(aad["registration"]["openIdIssuer"])
    assert len(aad["validation"]["allowedAudiences"]) == 2 and "apiClientId" in aad["validation"]["allowedAudiences"]
    main = bicep("main.bicep")
    assert main["modules"]["app"]["config"]["params"]["apiClientId"] == "apiClientId"
    assert main["variables"]["productSettings"]["value"]["HUBLINK_API_AUTH"] == "easyauth"
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert params["apiClientId"] == {"value": "${HUBLINK_API_CLIENT_ID}"}


def test_the_api_registration_defines_the_roles_the_product_checks():
    from shared.authz import ROLES

    manifest = json.loads((INFRA / "app" / "api-registration.json").read_text())
    roles = manifest["appRoles"]
    assert [r["value"] for r in roles] == list(ROLES)
    assert all(r["isEnabled"] and set(r["allowedMemberTypes"]) == {"User", "Application"} for r in roles)
    assert len({r["id"] for r in roles}) == 3 and manifest["identifierUris"] == ["api://{appId}"]
    scope_ids = {s["id"] for s in manifest["api"]["oauth2PermissionScopes"]}
    azure_cli = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # so `az account get-access-token --resource` works for people
    assert any(
        p["appId"] == azure_cli and set(p["delegatedPermissionIds"]) <= scope_ids
        for p in manifest["api"]["preAuthorizedApplications"]
    )
    hook = (INFRA / "hooks" / "preprovision.sh").read_text()
    assert "api-registration.json" in hook and "azd env set HUBLINK_API_CLIENT_ID" in hook


def test_function_app_is_flex_consumption_python_311_deployed_with_its_identity():
    function = bicep("app/function.bicep")
    plan = function["resources"]["plan"]["config"]
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = function["resources"]["site"]["config"]
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"}
    assert site["properties"]["httpsOnly"] is True
    added = site["tags"]["function"]["parameters"]["arg_2"]  # union(tags, {'azd-service-name': ...})
    azure_yaml = (ROOT / "azure.yaml").read_text()
    [service] = re.findall(r"^services:\n  (\w+):", azure_yaml, flags=re.MULTILINE)
    assert {k.strip("'"): v for k, v in added.items()} == {"azd-service-name": service}


def test_storage_is_keyless_and_holds_what_the_triggers_use():
    from tests.support import indexed_functions

    storage = bicep("app/storage.bicep")
    props = storage["resources"]["account"]["config"]["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    queues = {b.queue_name for f in indexed_functions() for b in f.get_bindings() if b.type == "queueTrigger"}
    main = bicep("main.bicep")
    assert queues == {main["variables"]["continueQueue"]["value"]}
    assert main["modules"]["storage"]["config"]["params"]["queueName"] == "continueQueue"
    roles = {
        r["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        for r in resources_of_type(storage, "Microsoft.Authorization/roleAssignments").values()
    }
    assert roles == {"blobDataOwner", "queueDataContributor", "tableDataContributor", "blobDataContributor"}
    monitoring = bicep("app/monitoring.bicep")
    assert monitoring["resources"]["appInsights"]["config"]["properties"]["DisableLocalAuth"] is True


def test_role_assignments_are_named_scope_principal_role():
    for f in ("main.bicep", "spoke.bicep", *(p.relative_to(INFRA).as_posix() for p in (INFRA / "app").glob("*.bicep"))):
        for name, r in resources_of_type(bicep(f), "Microsoft.Authorization/roleAssignments").items():
            guid = r["name"]["function"]
            assert guid["type"] == "guid" and len(guid["parameters"]) == 3, f"{f}: {name}"
            principal = r["properties"]["principalId"]
            assert principal in guid["parameters"].values(), f"{f}: {name} is not named after its principal"


def test_event_grid_filter_is_what_the_handler_acts_on():
    from shared.events import OPERATIONS

    events = bicep("app/spoke-events.bicep")["resources"]
    properties = body(events["clusterEvents"])["properties"]
    event_filter = properties["filter"]
    assert set(event_filter["includedEventTypes"]) == set(OPERATIONS)
    [advanced] = event_filter["advancedFilters"]
    assert (advanced["operatorType"], advanced["key"]) == ("StringIn", "data.operationName")
    assert {v.lower() for v in advanced["values"]} == {n.lower() for names in OPERATIONS.values() for n in names}
    assert properties["destination"]["endpointType"] == "WebHook"
    assert set(properties["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    topic = body(events["newTopic"])
    assert (topic["location"], topic["properties"]["topicType"]) == ("global", "Microsoft.Resources.Subscriptions")


def test_custom_roles_are_what_devcloud_enforces():
    assert role_actions("main.bicep") == HUB_ROLE_ACTIONS
    assert role_actions("spoke.bicep") == SPOKE_ROLE_ACTIONS


def test_identity_hooks_federate_without_secrets():
    pre = (INFRA / "hooks" / "preprovision.sh").read_text()
    post = (INFRA / "hooks" / "postprovision.sh").read_text()
    assert "--sign-in-audience AzureADMultipleOrgs" in pre
    assert "api://AzureADTokenExchange" in post and "federated-credential create" in post
    assert "credential reset" not in pre + post and "password" not in (pre + post).lower()
    outputs = bicep("main.bicep")["outputs"]
    assert {"MANAGED_IDENTITY_PRINCIPAL_ID", "FEDERATED_ISSUER", "EVENTGRID_WEBHOOK_BASE", "FUNCTION_APP_NAME"} <= set(outputs)


# -- least privilege, end to end against devcloud ----------------------------------------------
@pytest.fixture
def lros(cloud):
    from tests.support import fast_lros, restore_lros

    saved = fast_lros(cloud)
    yield
    restore_lros(cloud, saved)


def test_custom_roles_grant_exactly_what_a_full_run_uses(cloud, azurite, lros):
    from shared.config import parse_settings
    from shared.ids import ClusterId
    from shared.model import Phase
    from tests.support import (
        HUB_SUBSCRIPTION,
        SPOKE_SUBSCRIPTION_A,
        SPOKE_SUBSCRIPTION_B1,
        Operator,
        product_env,
        settling_service,
    )

    op = Operator(cloud)
    settings = parse_settings(product_env(cloud, azurite))
    rec = settling_service().from_settings(settings)
    cross = op.create_cluster()  # a spoke in another tenant
    same = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_A)

    # Discovery lists every spoke subscription (the timer's call; the sweep itself would also reconcile
    # every cluster other tests left behind), then the clusters it found are onboarded.
    found = {c.id.lower() for sub, tenant in settings.spokes.items() for c in rec.clusters.list_in_subscription(sub, tenant)}
    assert {cross.lower(), same.lower()} <= found
    for cluster_id in (cross, same):
        assert rec.reconcile(cluster_id).phase is Phase.READY

    # Someone else's endpoints: a person approves one and rejects the other through the product.
    first, second = op.create_foreign_endpoint(cross), op.create_foreign_endpoint(cross)
    rec.reconcile(cross)
    names = {c.private_endpoint.id.lower(): c.name for c in op.connections(cross)}
    rec.decide_connection(cross, names[first.id.lower()], "Approved", who="test")
    rec.decide_connection(cross, names[second.id.lower()], "Rejected", who="test")

    # Stop/start disconnects the endpoint: the repair recreates it and moves the A record.
    op.stop_start(cross)
    assert rec.reconcile(cross).phase is Phase.READY

    # A cluster without a private DNS zone gets a hub zone of its own, linked to the hub VNet, removed with it.
    bare = op.create_cluster(private_dns_zone="none")
    assert rec.reconcile(bare).phase is Phase.READY
    op.delete_cluster(bare)
    assert rec.reconcile(bare, deletion_reported=True).phase is Phase.ABSENT

    # An API Server VNet Integration cluster: our PLS on kube-apiserver, a person decides a foreign
    # connection to it, and its deletion removes the PLS too.
    vnet_ids = op.vnet_integration()
    integrated = op.create_vnet_cluster()
    assert rec.reconcile(integrated).phase is Phase.READY
    pls_id = rec.get(integrated).link_service_id
    pls = op.network(SPOKE_SUBSCRIPTION_B1).private_link_services.get(pls_id.split("/")[4], pls_id.split("/")[-1])
    pls.visibility.subscriptions.append(SPOKE_SUBSCRIPTION_B1)
    op.network(SPOKE_SUBSCRIPTION_B1).private_link_services.begin_create_or_update(pls_id.split("/")[4], pls.name, pls).result()
    theirs = op.create_pls_endpoint(pls_id, subnet_id=vnet_ids["node_subnet_id"], subscription=SPOKE_SUBSCRIPTION_B1)
    rec.reconcile(integrated)
    [foreign] = rec.get(integrated).foreign_connections
    assert foreign.private_endpoint_id.lower() == theirs.id.lower()
    rec.decide_connection(integrated, foreign.name, "Rejected", who="test")
    op.delete_cluster(integrated)
    assert rec.reconcile(integrated, deletion_reported=True).phase is Phase.ABSENT
    op.network(SPOKE_SUBSCRIPTION_B1).private_endpoints.begin_delete(theirs.id.split("/")[4], theirs.name).result()

    # Deletion, and an opt-out: both clean the hub side up.
    op.delete_cluster(cross)
    assert rec.reconcile(cross, deletion_reported=True).phase is Phase.ABSENT
    op.update_tags(same, {"hublink": "disabled"})
    assert rec.reconcile(same).phase is Phase.SKIPPED
    assert rec.store.get(ClusterId.parse(same)) is not None

    denied = [f"{e.method} {e.path}" for e in cloud.arm.entries(principal="hublink") if e.status == 403]
    assert denied == [], "the product was refused something the roles do not grant"
    used = cloud.arm.actions.get("hublink", set())
    hub_used = {a.lower() for a, scope in used if scope.lower().startswith(f"/subscriptions/{HUB_SUBSCRIPTION}")}
    spoke_used = {a.lower() for a, scope in used if not scope.lower().startswith(f"/subscriptions/{HUB_SUBSCRIPTION}")}
    assert hub_used | spoke_used

    for relative, seen in (("main.bicep", hub_used), ("spoke.bicep", spoke_used)):
        granted = {a.lower() for a in role_actions(relative)}
        assert seen - granted == set(), f"{relative} misses {sorted(seen - granted)}"
        unused = granted - seen - {a.lower() for a in JUSTIFIED_UNUSED}
        assert unused == set(), f"{relative} grants {sorted(unused)} that a full run never used"

    # Discovery lists clusters per subscription: spoke.bicep assigns its role at subscription scope.
    assert any(
        re.fullmatch(r"/subscriptions/[^/]+/providers/microsoft\.containerservice/managedclusters", s.lower()) for _, s in used
    )
    # The hub role is needed only under the hub network resource group (assignment scope in main.bicep).
    hub_group = f"/subscriptions/{HUB_SUBSCRIPTION}/resourcegroups/{cloud.world.hub['resource_group']}".lower()
    hub_scopes = {scope.lower() for _, scope in used if scope.lower().startswith(f"/subscriptions/{HUB_SUBSCRIPTION}")}
    assert all(s == hub_group or s.startswith(hub_group + "/") for s in hub_scopes), hub_scopes


def test_infra_defaults_are_the_declared_defaults():
    """main.bicep's parameters default to what shared/settings.py declares (one default, checked here)."""
    main = (INFRA / "main.bicep").read_text()
    params = dict(re.findall(r"^param (\w+) \w+ = (.+)$", main, flags=re.MULTILINE))
    wiring = dict(re.findall(r"^  (HUBLINK_\w+): (?:string\()?(\w+)\)?$", main, flags=re.MULTILINE))
    checked = 0
    for name, param in wiring.items():
        declared = SETTINGS[name].default
        if param not in params or declared is None:
            continue
        value = params[param].strip("'")
        expected = str(int(declared)) if isinstance(declared, float) and declared.is_integer() else str(declared)
        assert value == expected, f"{name}: infra/main.bicep's {param} defaults to {value}, shared/settings.py to {expected}"
        checked += 1
    assert checked >= 14, f"only {checked} defaults compared: has main.bicep's productSettings changed shape?"


def test_the_deployed_package_is_only_what_runs():
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    tops = {p.name for p in ROOT.iterdir() if not p.name.startswith(".") and p.name != "node_modules"}
    shipped = tops - ignored - {"__pycache__"}
    assert shipped == {"function_app.py", "host.json", "shared", "requirements.txt"}, shipped
    assert (ROOT / "shared" / "__init__.py").is_file()


def test_the_workbook_charts_every_metric_the_code_records():
    """infra/app/monitoring.bicep deploys infra/app/workbook.json into the app's Application Insights."""
    monitoring = bicep("app/monitoring.bicep")
    workbook = resources_of_type(monitoring, "Microsoft.Insights/workbooks")["workbook"]
    source = workbook["properties"]["sourceId"]["operator"]["operands"]
    assert (source["operand_1"], source["operand_2"]) == ("appInsights", "id")
    loaded = workbook["properties"]["serializedData"]["function"]
    assert loaded == {"type": "load_text_content", "parameters": {"file_path": "workbook.json", "encoding": None}}
    queries = " ".join(i["content"].get("query", "") for i in json.loads((INFRA / "app" / "workbook.json").read_text())["items"])
    metrics = set(re.findall(r'create_\w+\(\s*"(hublink\.[a-z_.]+)"', (ROOT / "shared" / "otel.py").read_text()))
    expected = {"hublink.links", "hublink.link.time_to_ready", "hublink.arm.calls", "hublink.arm.throttled", "hublink.notices"}
    assert metrics == expected
    assert all(f"'{m}'" in queries for m in metrics), sorted(m for m in metrics if f"'{m}'" not in queries)
    assert "'hublink.reconcile'" in queries
