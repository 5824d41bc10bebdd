"""Several instances of one function app: N Functions host processes behind one round-robin front end.

In Azure a function app scaled out to N instances is N hosts with the same host id and the same
AzureWebJobsStorage behind the app's front end: HTTP requests and Event Grid deliveries land on
any instance, every instance polls the queues, and a timer runs on one instance at a time (the
listener's singleton lock, devcloud.singleton). This runs exactly that on one machine: each host
is `python -m devcloud.funchost` in its own process (so one can be SIGKILLed, as an instance dies),
and the front end forwards each request to the next live host.

The front end answers 503 when no instance is up, and cuts the client's connection when the
instance it forwarded to dies mid-request (the client cannot tell what happened, as in Azure).
"""

from __future__ import annotations

import http.client
import itertools
import logging
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from devcloud.funchost import FunctionHostProcess, start_function_host_process
from devcloud.httpserver import DropConnection, HttpServer, Request, Response, Router, error_body

log = logging.getLogger("devcloud.funchost")

FORWARD_TIMEOUT_S = 330.0  # longer than the host's own function timeout (host.json, 5 min)
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}


@dataclass
class FunctionHostFleet:
    app_dir: str
    app_settings: dict[str, str]
    count: int
    function_key: str
    master_key: str
    eventgrid_key: str
    cert_file: str
    ca_file: str
    port: int = 0
    hosts: list[FunctionHostProcess | None] = field(default_factory=list)
    server: HttpServer | None = None
    forwarded: dict[int, int] = field(default_factory=dict)  # slot -> requests the front end sent it
    _next: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url if self.server else ""

    @property
    def functions(self) -> list[str]:
        return next((h.functions for h in self.hosts if h is not None), [])

    def webhook_url(self, function_name: str) -> str:
        return f"{self.url}/runtime/webhooks/eventgrid?" + urlencode({"functionName": function_name, "code": self.eventgrid_key})

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FunctionHostFleet:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file)
        self._client_context = ssl.create_default_context(cafile=self.ca_file)
        router = Router()
        router.add("*", "/{path*}", self._forward)
        self.server = HttpServer(router, ssl_context=context, port=self.port).start()
        self._next = itertools.count()
        try:
            self.hosts = [None] * self.count
            for i in range(self.count):
                self.restart(i)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, index: int) -> FunctionHostProcess:
        """Start (again) the host in slot `index`; its old process, if any, must be gone."""
        host = start_function_host_process(self.app_dir, self.app_settings, function_key=self.function_key,
                                           master_key=self.master_key, eventgrid_key=self.eventgrid_key,
                                           cert_file=self.cert_file)
        with self._lock:
            self.hosts[index] = host
        return host

    def kill(self, index: int) -> None:
        """SIGKILL the host in slot `index` (an instance dying: nothing it held in memory survives)."""
        with self._lock:
            host, self.hosts[index] = self.hosts[index], None
        if host is not None and host.process.poll() is None:
            host.process.kill()
            host.process.wait(timeout=10)

    def pids(self) -> list[int | None]:
        return [h.process.pid if h is not None else None for h in self.hosts]

    def stop(self) -> None:
        for i in range(len(self.hosts)):
            with self._lock:
                host, self.hosts[i] = self.hosts[i], None
            if host is not None:
                host.stop()
        if self.server is not None:
            self.server.stop()

    # -- the front end -----------------------------------------------------------------------
    def _live(self) -> list[tuple[int, FunctionHostProcess]]:
        with self._lock:
            hosts = [(i, h) for i, h in enumerate(self.hosts) if h is not None and h.process.poll() is None]
        if not hosts:
            return []
        start = next(self._next) % len(hosts)
        return hosts[start:] + hosts[:start]

    def _forward(self, req: Request) -> Response:
        target = req.raw_path + (f"?{req.raw_query}" if req.raw_query else "")
        headers = {k: v for k, v in req.headers.items() if k not in _HOP_HEADERS}
        for slot, host in self._live():
            url = urlsplit(host.url)
            conn = http.client.HTTPSConnection(url.hostname or "127.0.0.1", url.port, timeout=FORWARD_TIMEOUT_S,
                                               context=self._client_context)
            try:
                try:
                    conn.connect()
                except OSError:
                    continue  # that instance is gone: the next one
                with self._lock:
                    self.forwarded[slot] = self.forwarded.get(slot, 0) + 1
                try:
                    conn.request(req.method, target, req.body, headers)
                    resp = conn.getresponse()
                    body = resp.read()
                except (OSError, http.client.HTTPException) as exc:
                    log.info("instance %s died mid-request (%s): the client's connection is cut", host.url, exc)
                    raise DropConnection() from exc
                out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP_HEADERS}
                return Response(resp.status, body, out)
            finally:
                conn.close()
        return Response.json(503, error_body("ServiceUnavailable", "no instance of the function app is running"))


def start_function_host_fleet(app_dir: str, app_settings: dict[str, str], count: int, *, function_key: str,
                              master_key: str, eventgrid_key: str, cert_file: str, ca_file: str,
                              port: int = 0) -> FunctionHostFleet:
    """`count` host processes of the app (same host id, same storage) behind one front end on `port`."""
    if count < 1:
        raise ValueError("a fleet needs at least one host")
    return FunctionHostFleet(app_dir, dict(app_settings), count, function_key, master_key, eventgrid_key,
                             cert_file, ca_file, port).start()
