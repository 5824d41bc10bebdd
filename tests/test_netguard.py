"""Nothing in the tests may leave the machine: the guard turns any such attempt into a loud failure."""

from __future__ import annotations

import socket

import pytest
import requests

from devcloud.netguard import NonLoopbackConnection


@pytest.mark.parametrize("host", ["10.1.2.3", "192.168.0.1", "8.8.8.8", "management.azure.com"])
def test_non_loopback_connects_and_lookups_fail_loudly(host):
    with pytest.raises(NonLoopbackConnection):
        socket.create_connection((host, 443), timeout=1)
    with pytest.raises(NonLoopbackConnection):
        socket.getaddrinfo(host, 443)


def test_loopback_is_allowed(cloud):
    assert requests.get(f"{cloud.url}/_devcloud/world", verify=cloud.certs.ca_bundle, timeout=5).status_code == 200


def test_msal_without_disable_instance_discovery_is_caught(cloud):
    """The one missing flag that would send MSAL to login.microsoftonline.com fails here, not silently."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    info = cloud.connection_info()
    cred = ClientSecretCredential(
        info["hub"]["tenant_id"],
        info["client_id"],
        info["client_secret"],
        authority=cloud.url,
        connection_verify=cloud.certs.ca_bundle,
    )
    with pytest.raises((NonLoopbackConnection, ClientAuthenticationError)) as err:
        cred.get_token("https://management.azure.com/.default")
    chain, exc = [], err.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(isinstance(e, NonLoopbackConnection) or "netguard" in str(e) for e in chain)
