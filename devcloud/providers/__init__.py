"""Resource providers devcloud implements (each registers its ARM routes on the shared `Arm`)."""

from __future__ import annotations

from typing import Any


def register(cloud: Any) -> dict[str, Any]:
    from devcloud.providers import containerservice, network, privatedns

    return {
        "containerservice": containerservice.register(cloud),
        "network": network.register(cloud),
        "privatedns": privatedns.register(cloud),
    }
