"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe, for tests.

PyPI's browser drivers download a browser, which this machine cannot; Debian's binary speaks the
same protocol. `--remote-debugging-pipe` reads commands from fd 3 and writes answers and events to
fd 4, as NUL-terminated JSON. Chromium is kept off the network: every name but 127.0.0.1 is
unresolvable and anything else goes to a dead proxy (tests/conftest.py's guard covers Python
only), and it trusts exactly the certificate key of the server under test
(`--ignore-certificate-errors-spki-list`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-extensions", "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)  # fmt: skip


def spki_hash(url: str) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of the certificate the server at `url` presents."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    parts = urlsplit(url)
    pem = ssl.get_server_certificate((parts.hostname, parts.port))
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    return base64.b64encode(hashlib.sha256(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).digest()).decode()


class Browser:
    """One headless Chromium with one page; `open(url, headers)` loads it and waits for its load event."""

    def __init__(self, trust: str, *, width: int = 1400, height: int = 900) -> None:
        assert CHROMIUM, "chromium is not installed"
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        args = [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", f"--ignore-certificate-errors-spki-list={spki_hash(trust)}",
                "--remote-debugging-pipe", "about:blank"]  # fmt: skip
        # fds 3 and 4 in the child are the pipe's ends, as --remote-debugging-pipe expects
        script = f'exec 3<&{to_chrome_r} 4>&{from_chrome_w}; exec "$@"'
        self.proc = subprocess.Popen(["bash", "-c", script, "chromium", *args], pass_fds=(to_chrome_r, from_chrome_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for method in ("Page.enable", "Network.enable"):
            self.call(method, session=self.session)
        self.call("Emulation.setDeviceMetricsOverride", session=self.session, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip

    def call(self, method: str, *, session: str | None = None, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self._read(deadline)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)
        raise TimeoutError(method)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium said nothing")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium exited: {self.proc.stderr.read().decode()[-2000:] if self.proc.stderr else ''}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Load `url` (sending `headers` with every request); the responses the page received."""
        self.events.clear()
        self.call("Network.setExtraHTTPHeaders", session=self.session, headers=headers or {})
        self.call("Page.navigate", session=self.session, url=url)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read(deadline))
        return [e["params"]["response"] for e in self.events if e.get("method") == "Network.responseReceived"]

    def html(self) -> str:
        found = self.call("Runtime.evaluate", session=self.session, expression="document.documentElement.outerHTML",
                          returnByValue=True)  # fmt: skip
        return found["result"]["value"]

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", session=self.session, format="png")["data"])

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for fd in (self._to_chrome, self._from_chrome):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)
