"""The status page in a real browser: Debian's Chromium, headless, loads GET /api/status from the
local Functions host (`python -m stack up`) and shows the same links as GET /api/links.

Chromium runs with every name but 127.0.0.1 unresolvable and a dead proxy for anything else (the
network guard of tests/conftest.py covers Python only), and trusts exactly the devcloud server's
key (--ignore-certificate-errors-spki-list). HUBLINK_SCREENSHOT=docs/status-page.png also saves
the screenshot the README shows.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import ssl
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import SPOKE_SUBSCRIPTION_B1, Operator, RemoteCloud, start_stack, stop_stack, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (`make setup` installs it: apt-get install chromium)"
)
FAST = {
    "durations": {"managedClusters/create": 0.3, "managedClusters/delete": 0.3, "privateEndpoints/create": 0.5,
                  "privateEndpoints/delete": 0.3},
    "retry_after": {"Microsoft.Network": 1, "Microsoft.ContainerService": 1},
}  # fmt: skip


@pytest.fixture(scope="module")
def stack():
    proc, info = start_stack()
    remote = RemoteCloud(info)
    remote.control("PUT", "/lro", FAST)
    yield remote
    assert stop_stack(proc) == 0, f"stack up failed; log: {proc.log_path}"


def spki_hash(url: str) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of the certificate the server at `url` presents."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    parts = urlsplit(url)
    pem = ssl.get_server_certificate((parts.hostname, parts.port))
    spki = x509.load_pem_x509_certificate(pem.encode()).public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
        "--disable-extensions", f"--user-data-dir={profile}", f"--ignore-certificate-errors-spki-list={spki_hash(url)}",
        "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--virtual-time-budget=5000", *args, url,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class LinkRows(HTMLParser):
    """The rows of table#links: data-cluster-id -> the cells' text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.counts: dict[str, str] = {}
        self._row: str | None = None
        self._phase: str | None = None
        self._cells: list[str] = []
        self.meta_refresh: str | None = None
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-cluster-id" in a:
            self._row, self._cells = a["data-cluster-id"], []
        elif tag == "td" and self._row:
            self._cells.append("")
        elif tag == "div" and "data-phase" in a:
            self._phase = a["data-phase"]
        elif tag == "meta" and a.get("http-equiv") == "refresh":
            self.meta_refresh = a.get("content")
        for name in ("src", "href"):
            if a.get(name):
                self.external.append(a[name])

    def handle_endtag(self, tag):
        if tag == "tr" and self._row:
            self.rows[self._row.lower()] = [c.strip() for c in self._cells]  # ARM ids: any case
            self._row = None
        elif tag == "div":
            self._phase = None

    def handle_data(self, data):
        if self._row and self._cells:
            self._cells[-1] += data
        elif self._phase and data.strip().isdigit():
            self.counts[self._phase] = data.strip()


def test_the_status_page_in_chromium_shows_the_links_the_api_lists(stack, tmp_path):
    op = Operator(stack)
    ready = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_B1)
    failed = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_B1, region="eastus")  # no hub there: terminal
    wait_for(lambda: (stack.link(ready) or {}).get("phase") == "Ready", timeout=60, interval=0.3, what="link Ready")
    wait_for(lambda: (stack.link(failed) or {}).get("phase") == "Failed", timeout=60, interval=0.3, what="link Failed")
    api = stack.api("GET", "links").json()["value"]

    url = f"{stack.info['functions']}/api/status?code={stack.info['function_key']}"
    done = chromium(url, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    page = LinkRows()
    page.feed(done.stdout)
    assert page.external == [], "the page must load nothing from elsewhere"
    assert page.meta_refresh and int(page.meta_refresh) > 0
    ready, failed = ready.lower(), failed.lower()
    assert set(page.rows) == {link["clusterId"].lower() for link in api} and {ready, failed} <= set(page.rows)
    for link in api:
        cells = page.rows[link["clusterId"].lower()]
        assert cells[0] == link["clusterName"] and cells[1] == link["subscriptionId"]
        assert cells[4] == link["phase"]
        assert cells[5] == (link["privateIp"] or "–") and cells[6] == (link["fqdn"] or "–")
    assert page.rows[ready][2:4] == ["private-link", "system"]
    assert "no hub is configured for region 'eastus'" in page.rows[failed][8]
    phases = [link["phase"] for link in api]
    assert page.counts["Ready"] == str(phases.count("Ready")) and page.counts["Failed"] == str(phases.count("Failed"))
    assert 'id="capacity"' in done.stdout and "snet-private-endpoints" in done.stdout
    assert "checks hold" in done.stdout

    shot = tmp_path / "status.png"
    done = chromium(url, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,900", "--hide-scrollbars")
    assert done.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if os.environ.get("HUBLINK_SCREENSHOT"):
        shutil.copy(shot, Path(__file__).resolve().parent.parent / os.environ["HUBLINK_SCREENSHOT"])
