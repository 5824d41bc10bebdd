"""The whole product as it runs in Azure, on this machine: the function app in the local Functions
host (its own process), fed by devcloud's Event Grid, with its timer and continuation queue, its
own Azurite and a webhook sink for its notices.

devcloud itself runs in this process (a DevCloud of its own, not the session's, so Event Grid
deliveries to the host never touch other tests' clusters), which lets the tests inject faults and
read every resource directly. Everything the host writes to stderr goes to `log_path`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

from devcloud.azurite import start_azurite
from devcloud.client import RemoteCloud
from devcloud.cloud import DevCloud
from devcloud.sink import Sink
from devcloud.world import World
from stack.product import start_product_fleet
from stack.world import product_world

FAST_LROS = {"managedClusters/create": 0.2, "managedClusters/update": 0.1, "managedClusters/delete": 0.2,
             "managedClusters/stop": 0.1, "managedClusters/start": 0.1, "privateEndpoints/create": 0.3,
             "privateEndpoints/delete": 0.2}


@contextlib.contextmanager
def _stderr_to(path: str) -> Iterator[None]:
    """Child processes started inside inherit a stderr that writes to `path` (and keep it)."""
    saved = os.dup(2)
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Stack:
    """`hosts`: instances of the function app behind one front end (devcloud.funchost_fleet), each a
    process `fleet.kill(i)` / `fleet.restart(i)` act on; `persistent_storage`: an Azurite that can be
    stopped and started again on the same data (`azurite.stop()` / `azurite.start_again()`)."""

    def __init__(self, world: World | None = None, *, hosts: int = 1, persistent_storage: bool = False,
                 **settings: str) -> None:
        self.world = world
        self.hosts, self.persistent_storage = hosts, persistent_storage
        self.settings = {"HUBLINK_TABLE_NAME": "t" + uuid.uuid4().hex[:16], **settings}
        self.log_path = tempfile.NamedTemporaryFile(prefix="hublink-host-", suffix=".log", delete=False).name  # noqa: SIM115
        self._stops: list[Any] = []

    def start(self) -> Stack:
        try:
            self.cloud = DevCloud(self.world or product_world()).start()
            self._stops.append(self.cloud.stop)
            self.cloud.arm.lro_seconds.update(FAST_LROS)
            self.cloud.arm.retry_after_s.update({"Microsoft.Network": 1, "Microsoft.ContainerService": 1})
            self.azurite = start_azurite(persistent=self.persistent_storage)
            self._stops.append(self.azurite.remove)
            self.sink = Sink(self.cloud.certs).start()
            self._stops.append(self.sink.stop)
            info = self.cloud.connection_info()
            info.update({"storage_connection_string": self.azurite.connection_string,
                         "table_connection_string": self.azurite.connection_string, "notifications": self.sink.url})
            with _stderr_to(self.log_path):
                additions, self.fleet, stop = start_product_fleet(info, self.cloud, self.hosts, **self.settings)
            self._stops.append(stop)
            self.info = {**info, **additions}
            self.remote = RemoteCloud(self.info)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self._stops:
            self._stops.pop()()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path)

    def store(self) -> Any:
        """The product's state table, read directly."""
        from azure.data.tables import TableClient

        from shared.state import LinkStore

        return LinkStore(TableClient.from_connection_string(self.azurite.connection_string,
                                                            self.settings["HUBLINK_TABLE_NAME"]))

    def restart_host(self, index: int = 0) -> None:
        """Start the (killed) instance `index` again, its stderr to the host log like the others'."""
        with _stderr_to(self.log_path):
            self.fleet.restart(index)

    def host_log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def secrets(self) -> dict[str, str]:
        """Every secret this run handed out: a log line or a notice holding one is a leak."""
        from devcloud.azurite import ACCOUNT_KEY

        found = {f"token #{i}": t for i, t in enumerate(self.cloud.identity.issued)}
        found |= {f"client secret of {a.name}": a.secret for a in self.cloud.world.applications}
        found |= {"azurite account key": ACCOUNT_KEY, "function key": self.info["function_key"],
                  "master key": self.info["master_key"], "webhook secret": self.info["webhook_secret"],
                  "eventgrid key": self.info["eventgrid_webhook"].split("code=")[-1],
                  "identity header": self.cloud.identity.identity_header}
        return found
