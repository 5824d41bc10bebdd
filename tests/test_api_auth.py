"""Who may open a path to a cluster's API server: the HTTP API behind Entra ID, with app roles.

Everything goes through `python -m stack up`: the function app in the local Functions host over
HTTPS, with App Service Authentication in front of it (devcloud.easyauth) and tokens from devcloud's
Entra ID for the API's service principals (the READY line's `api`). The product approves nothing on
its own here (HUBLINK_APPROVAL=manual) and its timer runs once a day, so every ARM write in a window
is one an API call caused.
"""

from __future__ import annotations

import base64
import json

import jwt
import pytest
import requests
from azure.identity import ClientSecretCredential

from shared.authz import APPROVER, OPERATOR, READER
from shared.ids import ClusterId
from tests.support import SPOKE_TENANT, Operator, RemoteCloud, start_stack, stop_stack, wait_for

FAST = {
    "durations": {"managedClusters/create": 0.3, "privateEndpoints/create": 0.5, "privateEndpoints/delete": 0.3},
    "retry_after": {"Microsoft.Network": 1, "Microsoft.ContainerService": 1},
}
REASON = "CHG-4711: the platform team's build agents"
WRITES = ("PUT", "PATCH", "DELETE", "POST")


@pytest.fixture(scope="module")
def stack():
    proc, info = start_stack(app_settings={"HUBLINK_APPROVAL": "manual", "HUBLINK_TIMER_SCHEDULE": "0 0 3 * * *"})
    remote = RemoteCloud(info)
    remote.control("PUT", "/lro", FAST)
    yield remote
    assert stop_stack(proc) == 0, f"stack up failed; log: {proc.log_path}"


@pytest.fixture(scope="module")
def cluster(stack):
    """A cluster whose link waits for a person, with two foreign endpoints asking to connect."""
    op = Operator(stack)
    cluster_id = op.create_cluster()
    foreign = [op.create_foreign_endpoint(cluster_id), op.create_foreign_endpoint(cluster_id)]
    link = wait_for(
        lambda: (lk := stack.link(cluster_id)) and lk["phase"] == "AwaitingApproval" and lk,
        timeout=30,
        interval=0.2,
        what="AwaitingApproval",
    )
    names = {c.private_endpoint.id.lower(): c.name for c in op.connections(cluster_id)}
    return {"id": cluster_id, "op": op, "link": link, "foreign": [names[pe.id.lower()] for pe in foreign]}


def routes(cluster: dict) -> list[tuple[str, str, dict | None, str]]:
    """Every HTTP route: (method, path, body, the app role it needs)."""
    cid = ClusterId.parse(cluster["id"])
    decide = {"clusterId": cid.id, "connectionName": cluster["foreign"][0], "reason": REASON}
    return [
        ("GET", "links", None, READER),
        ("GET", f"links/{cid.subscription_id}/{cid.resource_group}/{cid.name}", None, READER),
        ("GET", "hubs", None, READER),
        ("GET", "doctor", None, READER),
        ("GET", "status", None, READER),
        ("POST", "links/reconcile", {"clusterId": cid.id}, OPERATOR),
        ("POST", "links/approve", {"clusterId": cid.id, "reason": REASON}, APPROVER),
        ("POST", "connections/approve", decide, APPROVER),
        ("POST", "connections/reject", decide, APPROVER),
    ]


def last_seq(stack) -> int:
    return max((e["seq"] for e in stack.control("GET", "/requests")["value"]), default=0)


def product_writes_since(stack, seq: int) -> list[str]:
    entries = stack.control("GET", f"/requests?principal=hublink&since={seq}")["value"]
    return [f"{e['method']} {e['path']}" for e in entries if e["method"] in WRITES]


def statuses(cluster: dict) -> dict[str, str]:
    return {c.name: c.private_link_service_connection_state.status for c in cluster["op"].connections(cluster["id"])}


def bad_tokens(stack) -> dict[str, str | None]:
    """Tokens App Service Authentication must refuse, each for a reason of its own."""
    api, info = stack.info["api"], stack.info
    approver = api["principals"]["approver"]

    def mint(**extra) -> str:
        body = {"client_id": approver["client_id"], "tenant_id": api["tenant_id"], "audience": api["audience"], **extra}
        return stack.control("POST", "/tokens", body)["access_token"]

    def secret_token(tenant: str, scope: str) -> str:
        cred = ClientSecretCredential(
            tenant,
            approver["client_id"],
            approver["client_secret"],
            authority=info["authority"],
            disable_instance_discovery=True,
            connection_verify=info["ca_bundle"],
        )
        return cred.get_token(scope).token

    return {
        "no token": None,
        "expired": mint(lifetime_s=-120),
        "wrong audience": secret_token(api["tenant_id"], "https://management.azure.com/.default"),
        "wrong tenant": secret_token(SPOKE_TENANT, api["audience"] + "/.default"),
        "forged signature": mint(forged=True),
    }


def test_the_ready_line_names_the_api_and_a_principal_per_role(stack):
    api = stack.info["api"]
    assert {"client_id", "client_secret", "managed_identity_client_id"} <= set(stack.info["product"])
    assert set(api) >= {"audience", "tenant_id", "principals"}
    assert set(api["principals"]) == {"approver", "operator", "reader", "nobody"}
    held = {}
    for name, p in api["principals"].items():
        assert p["client_id"] and p["client_secret"]
        claims = jwt.decode(stack.api_token(name), options={"verify_signature": False})
        assert (claims["aud"], claims["tid"], claims["oid"]) == (api["audience"], api["tenant_id"], p["object_id"])
        held[name] = claims.get("roles", [])
    assert held == {"approver": [APPROVER], "operator": [OPERATOR], "reader": [READER], "nobody": []}


def test_every_route_answers_401_to_a_bad_token_and_writes_nothing(stack, cluster):
    before_seq, before = last_seq(stack), statuses(cluster)
    tokens = bad_tokens(stack)
    refused = []
    for method, path, body, _ in routes(cluster):
        for why, token in tokens.items():
            resp = stack.api(method, path, caller=None, token=token, json=body)
            assert resp.status_code == 401, (method, path, why, resp.status_code, resp.text)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer realm="), (method, path, why)
            refused.append(why)
        # The app's own function key opens nothing: it is not an identity.
        resp = stack.api(method, path, caller=None, key="function", json=body)
        assert resp.status_code == 401, (method, path, "function key alone")
    assert len(refused) == len(routes(cluster)) * len(tokens)
    assert product_writes_since(stack, before_seq) == []
    assert statuses(cluster) == before
    assert stack.link(cluster["id"])["audit"] == []


def test_nobody_gets_403_naming_the_role_on_every_route(stack, cluster):
    before_seq, before = last_seq(stack), statuses(cluster)
    for method, path, body, role in routes(cluster):
        resp = stack.api(method, path, caller="nobody", json=body)
        assert resp.status_code == 403, (method, path, resp.text)
        assert resp.json()["error"]["code"] == "Forbidden" and role in resp.json()["error"]["message"]
    assert product_writes_since(stack, before_seq) == []
    assert statuses(cluster) == before


def test_a_reader_reads_but_cannot_retry_or_approve(stack, cluster):
    reads = [r for r in routes(cluster) if r[3] == READER]
    retry, approve, *decide = [r for r in routes(cluster) if r[3] != READER]
    assert len(reads) == 5 and len(decide) == 2
    for method, path, body, _ in reads:
        assert stack.api(method, path, caller="reader", json=body).status_code == 200
    before_seq, before = last_seq(stack), statuses(cluster)
    for (method, path, body, role), needed in zip((retry, approve, *decide), (OPERATOR, *[APPROVER] * 3), strict=True):
        resp = stack.api(method, path, caller="reader", json=body)
        assert (resp.status_code, role) == (403, needed) and needed in resp.json()["error"]["message"], resp.text
    assert product_writes_since(stack, before_seq) == []
    assert statuses(cluster) == before


def test_an_operator_retries_but_cannot_approve(stack, cluster):
    retry, *approvals = [r for r in routes(cluster) if r[3] != READER]
    resp = stack.api(retry[0], retry[1], caller="operator", json=retry[2])
    assert resp.status_code == 200 and resp.json()["phase"] == "AwaitingApproval", resp.text
    before_seq, before = last_seq(stack), statuses(cluster)
    for method, path, body, _ in approvals:
        resp = stack.api(method, path, caller="operator", json=body)
        assert resp.status_code == 403 and APPROVER in resp.json()["error"]["message"], resp.text
    assert product_writes_since(stack, before_seq) == []
    assert statuses(cluster) == before
    assert stack.link(cluster["id"])["audit"] == []


def spoofed_headers(stack) -> dict[str, str]:
    """What a caller might send to pass for someone else: App Service removes all of it."""
    fake = {"auth_typ": "aad", "claims": [{"typ": "oid", "val": "bad0bad0"}, {"typ": "roles", "val": APPROVER}]}
    return {
        "X-MS-CLIENT-PRINCIPAL-NAME": "mallory@evil.example",
        "X-MS-CLIENT-PRINCIPAL-ID": "bad0bad0-0000-4000-8000-000000000000",
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(fake).encode()).decode(),
    }


def test_spoofed_principal_headers_grant_nothing(stack, cluster):
    [(method, path, body, _)] = [r for r in routes(cluster) if r[1] == "links/approve"]
    resp = stack.api(method, path, caller="nobody", json=body, headers=spoofed_headers(stack))
    assert resp.status_code == 403, resp.text
    resp = stack.api(method, path, caller=None, json=body, headers=spoofed_headers(stack))
    assert resp.status_code == 401


def test_an_approver_approves_and_rejects_as_its_verified_self(stack, cluster):
    api = stack.info["api"]
    me = api["principals"]["approver"]
    who = {"by": "hublink-approver", "byId": me["object_id"], "byTenant": api["tenant_id"], "byType": "application"}
    cid, (approve_me, reject_me) = cluster["id"], cluster["foreign"]
    spoof = spoofed_headers(stack)

    resp = stack.api("POST", "links/approve", json={"clusterId": cid, "reason": REASON}, headers=spoof)
    assert resp.status_code == 200, resp.text
    assert {k: resp.json()["approved"][k] for k in who} == who
    wait_for(lambda: stack.link(cid)["phase"] == "Ready", timeout=30, interval=0.2, what="Ready after approval")

    for path, name in (("connections/approve", approve_me), ("connections/reject", reject_me)):
        body = {"clusterId": cid, "connectionName": name, "reason": REASON}
        resp = stack.api("POST", path, json=body, headers=spoof)
        assert resp.status_code == 200, resp.text
        assert {k: resp.json()["decision"][k] for k in who} == who
    now = statuses(cluster)
    assert (now[approve_me], now[reject_me]) == ("Approved", "Rejected")

    audit = stack.link(cid)["audit"]
    assert [a["action"] for a in audit] == ["approve-link", "approve-connection", "reject-connection"]
    assert all({k: a[k] for k in who} == who and a["via"] == "http" for a in audit)
    assert "mallory" not in json.dumps(audit) and "bad0bad0" not in json.dumps(audit)

    sink = requests.get(f"{stack.info['notifications']}/generic", verify=stack.certs.ca_bundle, timeout=10).json()
    decisions = [p["body"]["decision"] for p in sink if p["body"].get("type", "").startswith("connection.")]
    assert [d["status"] for d in decisions if d["connectionName"] in (approve_me, reject_me)] == ["Approved", "Rejected"]
    assert all({k: d[k] for k in who} == who for d in decisions)
    teams = requests.get(f"{stack.info['notifications']}/teams", verify=stack.certs.ca_bundle, timeout=10).json()
    cards = [json.dumps(p["body"]) for p in teams if "Connection approved" in json.dumps(p["body"])]
    assert cards and all("hublink-approver" in c and me["object_id"] in c for c in cards)
    assert "mallory" not in json.dumps(sink) + json.dumps(teams)


def test_the_cli_calls_the_deployed_app_as_the_operators_own_identity(stack, cluster, monkeypatch, capsys):
    """`python -m shared --remote URL ...` with DefaultAzureCredential (here its environment credential, as a
    pipeline would log in) for the API's audience."""
    from shared.__main__ import main

    api, info = stack.info["api"], stack.info
    monkeypatch.setenv("AZURE_TENANT_ID", api["tenant_id"])
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", info["authority"])
    monkeypatch.setenv("HUBLINK_CA_BUNDLE", info["ca_bundle"])
    monkeypatch.setenv("HUBLINK_REMOTE_AUDIENCE", api["audience"])

    def cli(caller: str, *argv: str) -> tuple[int, str]:
        p = api["principals"][caller]
        monkeypatch.setenv("AZURE_CLIENT_ID", p["client_id"])
        monkeypatch.setenv("AZURE_CLIENT_SECRET", p["client_secret"])
        code = main(["--remote", info["functions"], *argv])
        return code, capsys.readouterr().out

    code, out = cli("reader", "status", "--json")
    assert code == 0 and cluster["id"].lower() in out.lower()
    code, out = cli("reader", "reconcile", cluster["id"])
    assert code == 1 and json.loads(out)["error"]["status"] == 403 and OPERATOR in out
    code, out = cli("operator", "reconcile", cluster["id"])
    assert code == 0 and json.loads(out)["clusterId"].lower() == cluster["id"].lower()

    third = cluster["op"].create_foreign_endpoint(cluster["id"])
    name = wait_for(
        lambda: next((c.name for c in cluster["op"].connections(cluster["id"]) if c.private_endpoint.id == third.id), None),
        what="the third connection",
    )
    code, out = cli("operator", "reject", cluster["id"], name, "--reason", REASON)
    assert code == 1 and APPROVER in out
    code, out = cli("approver", "reject", cluster["id"], name, "--reason", REASON)
    assert code == 0, out
    me = api["principals"]["approver"]
    decision = json.loads(out)["decision"]
    assert (decision["by"], decision["byId"], decision["via"], decision["status"]) == (
        "hublink-approver",
        me["object_id"],
        "http",
        "Rejected",
    )
    assert statuses(cluster)[name] == "Rejected"
