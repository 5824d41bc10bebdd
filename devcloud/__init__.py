"""devcloud: a local stand-in for the parts of Azure this product talks to.

Entra ID token endpoints, ARM (managed clusters, private endpoints, NICs, private DNS), Event Grid
delivery and a local Functions host, served over HTTPS on 127.0.0.1 so Microsoft's Python SDK
clients run against it unmodified. See README.md, section "devcloud".
"""

import os as _os

if _os.environ.get("DEVCLOUD_NETGUARD") == "1":
    from devcloud import netguard as _netguard

    _netguard.install()
