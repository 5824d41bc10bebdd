"""A throw-away certificate authority for devcloud's HTTPS endpoints.

The server certificate names both `127.0.0.1` and `localhost`: a certificate for only one of them
fails hostname checks when a client uses the other. Clients trust the CA through
`connection_verify=<pem>` or `REQUESTS_CA_BUNDLE` (requests ignores `SSL_CERT_FILE`).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass

import trustme


@dataclass(frozen=True)
class Certificates:
    ca_bundle: str  # PEM file clients trust
    directory: str
    _ca: trustme.CA
    _cert: trustme.LeafCert

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._cert.configure_cert(ctx)
        return ctx

    def server_pem_file(self) -> str:
        """The server key and certificate chain in one PEM, for servers in another process."""
        path = os.path.join(self.directory, "devcloud-server.pem")
        self._cert.private_key_and_cert_chain_pem.write_to_path(path)
        return path

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_bundle)
        return ctx


def make_certificates(directory: str | None = None) -> Certificates:
    directory = directory or tempfile.mkdtemp(prefix="devcloud-")
    ca = trustme.CA(organization_name="devcloud local CA")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    bundle = os.path.join(directory, "devcloud-ca.pem")
    ca.cert_pem.write_to_path(bundle)
    return Certificates(ca_bundle=bundle, directory=directory, _ca=ca, _cert=cert)
