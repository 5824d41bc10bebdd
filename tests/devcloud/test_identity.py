"""devcloud's Entra ID through azure-identity, unmodified: secrets, managed identity, workload identity federation."""

from __future__ import annotations

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential, ClientSecretCredential, ManagedIdentityCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from devcloud.world import (
    ADMIN_CLIENT_ID,
    HUB_TENANT,
    SPOKE_TENANT,
    ManagedIdentity,
    principal_object_id,
)
from stack.world import PRODUCT_CLIENT_ID, PRODUCT_IDENTITY_CLIENT_ID

ARM = "https://management.azure.com/.default"
EXCHANGE = "api://AzureADTokenExchange/.default"
SECRETS = {ADMIN_CLIENT_ID: "devcloud-admin-secret", PRODUCT_CLIENT_ID: "devcloud-hublink-secret"}


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def secret_credential(cloud, tenant: str, client_id: str, secret: str) -> ClientSecretCredential:
    return ClientSecretCredential(tenant, client_id, secret, authority=cloud.url, disable_instance_discovery=True,
                                  connection_verify=cloud.certs.ca_bundle, retry_total=0)


@pytest.fixture
def msi_env(cloud, monkeypatch):
    """App Service style managed identity environment, as the Functions host sets it."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{cloud.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", cloud.identity.identity_header)
    for name in ("MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)


def managed_identity(cloud, client_id: str = PRODUCT_IDENTITY_CLIENT_ID) -> ManagedIdentityCredential:
    return ManagedIdentityCredential(client_id=client_id, connection_verify=cloud.certs.ca_bundle, retry_total=0)


@pytest.mark.parametrize("tenant", [HUB_TENANT, SPOKE_TENANT])
@pytest.mark.parametrize(("app", "client_id"), [("admin", ADMIN_CLIENT_ID), ("hublink", PRODUCT_CLIENT_ID)])
def test_client_secret_token_for_each_tenant(cloud, tenant, app, client_id):
    token = secret_credential(cloud, tenant, client_id, SECRETS[client_id]).get_token(ARM).token
    c = claims(token)
    assert (c["tid"], c["oid"], c["appid"], c["aud"], c["name"]) == \
           (tenant, principal_object_id(client_id, tenant), client_id, "https://management.azure.com", app)
    assert c["iss"] == f"https://sts.windows.net/{tenant}/"
    principal = cloud.identity.verify_arm_token(token)  # signed by devcloud, accepted by its ARM
    assert (principal.tenant_id, principal.name) == (tenant, app)


def test_wrong_secret_is_aadsts7000215(cloud):
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        secret_credential(cloud, HUB_TENANT, ADMIN_CLIENT_ID, "not-the-secret").get_token(ARM)


def test_unknown_tenant_and_unknown_client(cloud):
    with pytest.raises(ClientAuthenticationError, match="Unable to get authority configuration"):
        secret_credential(cloud, "c3c3c3c3-0000-4000-8000-000000000003", ADMIN_CLIENT_ID, "x").get_token(ARM)
    r = requests.post(f"{cloud.url}/c3c3c3c3-0000-4000-8000-000000000003/oauth2/v2.0/token", verify=cloud.certs.ca_bundle,
                      data={"grant_type": "client_credentials", "client_id": ADMIN_CLIENT_ID, "scope": ARM}, timeout=10)
    assert r.status_code == 400 and r.json()["error_codes"] == [90002]
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        secret_credential(cloud, HUB_TENANT, "c0c0c0c0-0000-4000-8000-00000000ffff", "x").get_token(ARM)


def test_managed_identity_via_app_service_environment(cloud, msi_env):
    token = managed_identity(cloud).get_token(ARM).token
    mi = cloud.world.identity(client_id=PRODUCT_IDENTITY_CLIENT_ID)
    c = claims(token)
    assert (c["tid"], c["oid"], c["appid"], c["aud"]) == (HUB_TENANT, mi.principal_id, mi.client_id,
                                                          "https://management.azure.com")


def test_managed_identity_endpoint_checks_the_identity_header(cloud, msi_env, monkeypatch):
    monkeypatch.setenv("IDENTITY_HEADER", "wrong")
    with pytest.raises(ClientAuthenticationError):
        managed_identity(cloud).get_token(ARM)


def test_workload_identity_federation_into_the_spoke_tenant(cloud, msi_env):
    mi = managed_identity(cloud)
    assertion = mi.get_token(EXCHANGE).token
    a = claims(assertion)
    assert (a["aud"], a["iss"], a["sub"]) == ("api://AzureADTokenExchange", f"{cloud.url}/{HUB_TENANT}/v2.0",
                                              cloud.world.identity(client_id=PRODUCT_IDENTITY_CLIENT_ID).principal_id)
    cred = ClientAssertionCredential(SPOKE_TENANT, PRODUCT_CLIENT_ID, lambda: mi.get_token(EXCHANGE).token,
                                     authority=cloud.url, connection_verify=cloud.certs.ca_bundle, retry_total=0)
    c = claims(cred.get_token(ARM).token)
    assert (c["tid"], c["oid"], c["appid"], c["aud"], c["name"]) == (
        SPOKE_TENANT, principal_object_id(PRODUCT_CLIENT_ID, SPOKE_TENANT), PRODUCT_CLIENT_ID,
        "https://management.azure.com", "hublink")


def test_assertion_from_an_untrusted_identity_is_rejected(cloud, msi_env, monkeypatch):
    other_client = "c0c0c0c0-0000-4000-8000-00000000e0ff"
    other = ManagedIdentity("id-other", other_client, principal_object_id(other_client, HUB_TENANT), HUB_TENANT)
    monkeypatch.setattr(cloud.world, "managed_identities", [*cloud.world.managed_identities, other])
    untrusted = managed_identity(cloud, other_client)
    cred = ClientAssertionCredential(SPOKE_TENANT, PRODUCT_CLIENT_ID, lambda: untrusted.get_token(EXCHANGE).token,
                                     authority=cloud.url, connection_verify=cloud.certs.ca_bundle, retry_total=0)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700213: No matching federated identity record"):
        cred.get_token(ARM)


@pytest.mark.parametrize("kind", ["arm-audience", "forged"])
def test_assertion_with_wrong_audience_or_signature_is_rejected(cloud, msi_env, kind):
    mi = managed_identity(cloud)
    if kind == "arm-audience":
        assertion = mi.get_token(ARM).token  # a real token, but not for api://AzureADTokenExchange
    else:
        real = claims(mi.get_token(EXCHANGE).token)
        assertion = jwt.encode(real, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
    cred = ClientAssertionCredential(SPOKE_TENANT, PRODUCT_CLIENT_ID, lambda: assertion, authority=cloud.url,
                                     connection_verify=cloud.certs.ca_bundle, retry_total=0)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700213: client assertion rejected"):
        cred.get_token(ARM)
