"""DevCloud: one HTTPS endpoint on 127.0.0.1 serving Entra ID, ARM, Event Grid and the control API.

Tests start it in-process (`DevCloud().start()`); `python -m devcloud up` starts it with Azurite
and the local Functions host and prints the connection details.
"""

from __future__ import annotations

import logging
from typing import Any

from devcloud.arm import Arm
from devcloud.certs import Certificates, make_certificates
from devcloud.httpserver import HttpServer, Request, Router
from devcloud.identity import Identity
from devcloud.scheduler import Scheduler
from devcloud.world import World, default_world

log = logging.getLogger("devcloud")


class DevCloud:
    def __init__(self, world: World | None = None, *, certificates: Certificates | None = None) -> None:
        self.world = world or default_world()
        self.certs = certificates or make_certificates()
        self.router = Router()
        self.scheduler = Scheduler()
        self.identity = Identity(self.world, lambda: self.url)
        self.arm = Arm(self.world, self.identity, self.scheduler, lambda: self.url)
        self.arm.attach(self.router)
        self.identity.register(self.router)
        self.errors: list[tuple[str, str]] = []  # devcloud bugs seen while serving (tests assert none)
        self.providers: dict[str, Any] = {}
        self._register_parts()
        self.server = HttpServer(self.router, ssl_context=self.certs.server_context(), on_error=self._on_error)
        self.url = self.server.url

    def _register_parts(self) -> None:
        """Resource providers, Event Grid and the control API register their routes here."""
        from devcloud import control, eventgrid, providers

        self.providers = providers.register(self)
        self.eventgrid = eventgrid.EventGrid(self)
        control.register(self)

    def _on_error(self, req: Request, exc: Exception) -> None:
        log.exception("devcloud handler failed: %s %s", req.method, req.path, exc_info=exc)
        self.errors.append((f"{req.method} {req.path}", f"{type(exc).__name__}: {exc}"))

    def start(self) -> DevCloud:
        self.server.start()
        return self

    def stop(self) -> None:
        self.eventgrid.stop()
        self.server.stop()
        self.scheduler.stop()

    def __enter__(self) -> DevCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- convenience for tests -------------------------------------------------------------
    @property
    def authority(self) -> str:
        return self.url

    def connection_info(self) -> dict[str, Any]:
        """The `DEVCLOUD_READY` payload (without the parts `up` adds: Azurite, and whatever runs on devcloud,
        such as the product's stack, which adds its own keys)."""
        admin = next(a for a in self.world.applications if a.name == "admin")
        info: dict[str, Any] = {
            "arm": self.url,
            "authority": self.url,
            "ca_bundle": self.certs.ca_bundle,
            "client_id": admin.client_id,
            "client_secret": admin.secret,
            "hub": self.world.hub,
            "spokes": self.world.spokes,
            "control": f"{self.url}/_devcloud",
            "identity_endpoint": f"{self.url}/msi/token",
            "identity_header": self.identity.identity_header,
        }
        return info
