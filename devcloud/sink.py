"""A webhook sink: an HTTPS endpoint that records every POST, for Event Grid and notification tests.

Any POST is recorded (path, query, headers, body as JSON or text, time) and answered 200; an
Event Grid validation handshake is answered with the validation code, so the sink can be an
event subscription's endpoint. Tests make it misbehave (answer a status, or hang, for the next
posts) from Python (`fail_next`, `hang_next`) or over HTTP (`PUT /_sink/behaviour`, for a sink
started by `python -m devcloud up`). `GET` lists what arrived (all of it on `/`, else the posts to
that path); `DELETE` forgets it.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from devcloud.certs import Certificates
from devcloud.httpserver import HttpServer, Request, Response, Router, error_body

BEHAVIOUR_PATH = "/_sink/behaviour"


class Sink:
    def __init__(self, certs: Certificates) -> None:
        self.received: list[dict[str, Any]] = []
        self.validate = True  # answer Event Grid's SubscriptionValidation handshake
        self._plan: list[tuple[int, float]] = []  # (status, hang seconds) for the next posts, in order
        self._cv = threading.Condition()
        router = Router()
        router.add("*", "/", self._handle)
        router.add("*", "/{path*}", self._handle)
        self.server = HttpServer(router, ssl_context=certs.server_context())
        self.url = self.server.url

    def start(self) -> Sink:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    # -- behaviour knobs ---------------------------------------------------------------------
    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer `status` to the next `count` posts (after any behaviour already planned)."""
        with self._cv:
            self._plan += [(status, 0.0)] * count

    def hang_next(self, seconds: float, count: int = 1) -> None:
        """Hold the next `count` posts for `seconds` before answering 200 (a slow webhook)."""
        with self._cv:
            self._plan += [(200, seconds)] * count

    def clear(self) -> None:
        with self._cv:
            self.received.clear()
            self._plan.clear()
        self.validate = True

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least `count` posts arrived; returns a copy of everything received."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"sink got {len(self.received)} posts, expected {count}")
                self._cv.wait(left)
            return list(self.received)

    # -- HTTP --------------------------------------------------------------------------------
    def _handle(self, req: Request) -> Response:
        if req.method == "POST":
            return self._record(req)
        if req.method == "GET":
            with self._cv:
                items = [r for r in self.received if req.path in ("/", r["path"])]
            return Response.json(200, items)
        if req.method == "DELETE":
            self.clear()
            return Response.empty(204)
        if req.method == "PUT" and req.path.rstrip("/") == BEHAVIOUR_PATH:
            return self._set_behaviour(req)
        return Response.json(405, error_body("MethodNotAllowed", f"{req.method} is not allowed on the sink"))

    def _set_behaviour(self, req: Request) -> Response:
        try:
            body = req.json() or {}
            status, count = int(body.get("status", 200)), int(body.get("count", 1))
            hang = float(body.get("hangSeconds", 0))
        except (ValueError, TypeError, AttributeError) as exc:
            return Response.json(400, error_body("InvalidRequestContent", str(exc)))
        with self._cv:
            self._plan += [(status, hang)] * count
            planned = [{"status": s, "hangSeconds": h} for s, h in self._plan]
        return Response.json(200, {"planned": planned})

    def _record(self, req: Request) -> Response:
        text = req.body.decode("utf-8", "replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        with self._cv:
            self.received.append({"path": req.path, "query": req.query, "headers": req.headers, "body": body,
                                  "raw": text, "time": time.time()})  # raw: to check body signatures
            status, hang = self._plan.pop(0) if self._plan else (200, 0.0)
            self._cv.notify_all()
        if hang:
            time.sleep(hang)
        if status == 200 and self.validate and req.header("aeg-event-type") == "SubscriptionValidation" \
                and isinstance(body, list) and body and isinstance(body[0], dict):
            return Response.json(200, {"validationResponse": (body[0].get("data") or {}).get("validationCode")})
        if status == 204:
            return Response.empty(204)
        return Response.json(status, {} if status < 300 else error_body("SinkFailure", f"sink answered {status}"))
