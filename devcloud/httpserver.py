"""A small threaded HTTPS server with a case-insensitive path router.

devcloud serves Entra ID, ARM, Event Grid's control plane and its own control API from one
loopback port, so every part registers routes on one `Router`. The server sets TCP_NODELAY on
accepted sockets: without it Python's `http.server` adds ~40 ms (Nagle + delayed ACK) to every
request and every latency figure measured against devcloud would be wrong.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_BODY_BYTES = 8 * 1024 * 1024


class DropConnection(Exception):
    """Raised by a handler to close the socket without answering (a fault devcloud injects)."""


@dataclass
class Request:
    method: str
    path: str  # decoded path, without the query
    raw_path: str  # the path exactly as sent (still percent-encoded)
    query: dict[str, str]  # the last value of each name
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # filled by the router
    client: tuple[str, int] | None = None
    context: dict[str, Any] = field(default_factory=dict)  # per-request scratch (principal, ...)
    raw_query: str = ""  # the query string exactly as sent (repeated and empty values intact)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        h = {"Content-Type": "application/json; charset=utf-8"}
        h.update(headers or {})
        return cls(status, json.dumps(payload).encode("utf-8"), h)

    @classmethod
    def empty(cls, status: int, headers: dict[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    meta: dict[str, Any]


def compile_template(template: str) -> re.Pattern[str]:
    """`/a/{name}/b/{rest*}` -> regex; `{x}` matches one segment, `{x*}` the remainder."""
    out = []
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name.endswith("*"):
                out.append(f"(?P<{name[:-1]}>.+)")
            else:
                out.append(f"(?P<{name}>[^/]+)")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "/?$", re.IGNORECASE)


class Router:
    """Routes by method + path template; ARM paths are case-insensitive, so matching is too."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.middleware: list[Callable[[Request, Route, Handler], Response]] = []
        # Answers a request no route matches (ARM's InvalidResourceType); None = it does not apply.
        self.fallback: Callable[[Request], Response | None] | None = None

    def add(self, method: str, template: str, handler: Handler, **meta: Any) -> Route:
        route = Route(method.upper(), template, compile_template(template), handler, meta)
        self.routes.append(route)
        return route

    def route(self, method: str, template: str, **meta: Any) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.add(method, template, fn, **meta)
            return fn

        return deco

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Returns (route, params, path_known). path_known is True when another method matches."""
        path_known = False
        for route in self.routes:
            m = route.regex.match(path)
            if not m:
                continue
            if route.method == method or route.method == "*":
                return route, {k: unquote(v) for k, v in m.groupdict().items()}, True
            path_known = True
        return None, {}, path_known

    def dispatch(self, request: Request) -> Response:
        route, params, known = self.match(request.method, request.path)
        if route is None:
            answer = self.fallback(request) if self.fallback and not known else None
            if answer is not None:
                return answer
            if known:
                return Response.json(405, error_body("MethodNotAllowed", f"{request.method} is not allowed on {request.path}"))
            return Response.json(404, error_body("NotFound", f"No route for {request.method} {request.path}"))
        request.params = params
        handler: Handler = route.handler
        for mw in reversed(self.middleware):
            handler = _bind(mw, route, handler)
        return handler(request)


def _bind(mw: Callable[[Request, Route, Handler], Response], route: Route, nxt: Handler) -> Handler:
    return lambda req: mw(req, route, nxt)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def _handle(self) -> None:
        # A base URL given with a trailing slash makes clients send `//metadata/...`, which urlsplit
        # would read as a host; ARM answers such paths as if the slashes were one.
        target = "/" + self.path.lstrip("/") if self.path.startswith("//") else self.path
        split = urlsplit(target)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(Response.json(413, error_body("RequestEntityTooLarge", "body too large")))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        request = Request(
            method=self.command.upper(),
            path=unquote(split.path),
            raw_path=split.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client=self.client_address,
            raw_query=split.query,
        )
        try:
            response = self.server.router.dispatch(request)
        except DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        except Exception as exc:  # a bug in devcloud: answer like a 500 from a service would
            response = Response.json(500, error_body("InternalServerError", f"devcloud: {type(exc).__name__}: {exc}"))
            self.server.on_error(request, exc)
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        headers = dict(response.headers)
        headers.setdefault("Content-Length", str(len(response.body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr: tuple[str, int], router: Router, ssl_context: ssl.SSLContext | None,
                 on_error: Callable[[Request, Exception], None]) -> None:
        self.router = router
        self.ssl_context = ssl_context
        self.on_error = on_error
        super().__init__(addr, _Handler)

    def get_request(self):  # type: ignore[override]
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            # Handshake in the worker thread (do_handshake_on_connect) so a slow client cannot
            # block the accept loop.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):  # type: ignore[override]
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):  # type: ignore[override]
        pass  # client went away mid-request: nothing to report


class HttpServer:
    """Serves a Router on 127.0.0.1 (port 0 = a free port) in a background thread."""

    def __init__(self, router: Router, *, ssl_context: ssl.SSLContext | None, host: str = "127.0.0.1",
                 port: int = 0, on_error: Callable[[Request, Exception], None] | None = None) -> None:
        self._server = _Server((host, port), router, ssl_context, on_error or (lambda r, e: None))
        self._thread: threading.Thread | None = None
        scheme = "https" if ssl_context is not None else "http"
        self.host, self.port = self._server.server_address[:2]
        self.url = f"{scheme}://{self.host}:{self.port}"

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"http-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
