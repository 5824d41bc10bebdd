"""Timer schedule status, kept across host restarts like the host's schedule monitor keeps it.

The host stores, per timer function, `{"Last", "Next", "LastUpdated"}` in the blob
`azure-webjobs-hosts/timers/<hostId>/<Host.Functions.name>/status` of AzureWebJobsStorage and
writes it after every run. When a listener starts and the stored `Next` is already past (the app
was down when it was due), the host runs the function at once with `IsPastDue` true
(azure-sdk-for-net, Microsoft.Azure.WebJobs.Extensions TimerTrigger: `StorageScheduleMonitor`,
`ScheduleMonitor.CheckPastDueAsync`, `TimerListener.StartAsync`). The monitor is on when the
trigger's `use_monitor` says so, and by default for schedules whose period is at least a minute
(learn.microsoft.com/azure/azure-functions/functions-bindings-timer, "useMonitor").

Difference, documented: the status lives in a file with the same path and JSON under the app
setting `FUNCHOST_STATE_DIR` (default: a folder per host id in the system temp directory), not in
a blob, because the Blob SDK is not among this project's dependencies.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime, timedelta


def host_id(app_dir: str, configured: str | None) -> str:
    """`AzureFunctionsWebHost__hostid`, else the app folder's name, lower-case, at most 32 characters."""
    if configured:
        return configured.lower()[:32]
    return (re.sub(r"[^a-z0-9-]", "", os.path.basename(os.path.abspath(app_dir)).lower()) or "app")[:32]


def uses_monitor(use_monitor: bool | None, period: timedelta) -> bool:
    return use_monitor if use_monitor is not None else period >= timedelta(minutes=1)


class ScheduleStatusStore:
    def __init__(self, root: str | None, host: str) -> None:
        self.root = root or os.path.join(tempfile.gettempdir(), "devcloud-funchost")
        self.host = host

    def path(self, function: str) -> str:
        return os.path.join(self.root, "azure-webjobs-hosts", "timers", self.host, f"Host.Functions.{function}", "status")

    def read(self, function: str) -> dict[str, datetime] | None:
        try:
            with open(self.path(function), encoding="utf-8") as f:
                doc = json.load(f)
            return {k: datetime.fromisoformat(doc[k]) for k in ("Last", "Next", "LastUpdated")}
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none yet, or unreadable: the host starts afresh

    def write(self, function: str, last: datetime, next_: datetime, updated: datetime) -> None:
        path = self.path(function)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"Last": last.isoformat(), "Next": next_.isoformat(), "LastUpdated": updated.isoformat()}, f)
        os.replace(tmp, path)
