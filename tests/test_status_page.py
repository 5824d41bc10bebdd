"""The status page in a real browser: Debian's Chromium, headless, driven over the DevTools
protocol (tests/browser.py), loads GET /api/status from the local Functions host (`python -m stack
up`, App Service Authentication in front) with a Reader's token and shows the same links as
GET /api/links. HUBLINK_SCREENSHOT=docs/status-page.png also saves the screenshot the README shows.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, Browser
from tests.support import SPOKE_SUBSCRIPTION_B1, Operator, RemoteCloud, start_stack, stop_stack, wait_for

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


@pytest.fixture(scope="module")
def browser(stack):
    b = Browser(stack.info["functions"])
    yield b
    b.close()


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


def test_the_status_page_in_chromium_shows_the_links_the_api_lists(stack, browser):
    op = Operator(stack)
    ready = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_B1)
    failed = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_B1, region="eastus")  # no hub there: terminal
    wait_for(lambda: (stack.link(ready) or {}).get("phase") == "Ready", timeout=60, interval=0.3, what="link Ready")
    wait_for(lambda: (stack.link(failed) or {}).get("phase") == "Failed", timeout=60, interval=0.3, what="link Failed")
    api = stack.api("GET", "links", caller="reader").json()["value"]

    url = f"{stack.info['functions']}/api/status"
    responses = browser.open(url, {"Authorization": f"Bearer {stack.api_token('reader')}"})
    assert [(r["url"], r["status"], r["mimeType"]) for r in responses] == [(url, 200, "text/html")]  # nothing else loaded
    page = LinkRows()
    page.feed(browser.html())
    assert page.external == [], "the page must load nothing from elsewhere"
    assert page.meta_refresh and int(page.meta_refresh) > 0
    ready, failed = ready.lower(), failed.lower()
    assert set(page.rows) == {link["clusterId"].lower() for link in api} and {ready, failed} <= set(page.rows)
    for link in api:
        cells = page.rows[link["clusterId"].lower()]
        assert cells[0] == link["clusterName"] and cells[1] == link["subscriptionId"]
        assert cells[3] == (link["dnsMode"] or "system") and cells[4] == link["phase"]  # else the doctor's reading
        assert cells[5] == (link["privateIp"] or "–") and cells[6] == (link["fqdn"] or "–")
    assert page.rows[ready][2:4] == ["private-link", "system"]
    assert "no hub is configured for region 'eastus'" in page.rows[failed][8]
    phases = [link["phase"] for link in api]
    assert page.counts["Ready"] == str(phases.count("Ready")) and page.counts["Failed"] == str(phases.count("Failed"))
    html = browser.html()
    assert 'id="capacity"' in html and "snet-private-endpoints" in html and "checks hold" in html

    shot = browser.screenshot()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
    if os.environ.get("HUBLINK_SCREENSHOT"):
        (Path(__file__).resolve().parent.parent / os.environ["HUBLINK_SCREENSHOT"]).write_bytes(shot)


def test_without_a_token_the_page_is_refused(stack, browser):
    url = f"{stack.info['functions']}/api/status"
    responses = [r for r in browser.open(url) if r["url"] == url]
    assert [r["status"] for r in responses] == [401]
    # The page's own answer (the last for its URL: a late event of the previous navigation may come first).
    nobody = [r for r in browser.open(url, {"Authorization": f"Bearer {stack.api_token('nobody')}"}) if r["url"] == url]
    assert nobody and nobody[-1]["status"] == 403 and all(r["status"] in (401, 403) for r in nobody)


def test_the_doctor_route_through_the_host(stack):
    """GET /api/doctor from the local Functions host: the report as JSON, for a Reader only."""
    body = stack.api("GET", "doctor", caller="reader").json()
    assert set(body) == {"ok", "summary", "checks"} and body["summary"]["checks"] == len(body["checks"]) > 0
    spokes = {c["subject"] for c in body["checks"] if c["scope"] == "spoke" and c["name"] == "event-grid"}
    assert spokes == {s["subscription_id"] for s in stack.info["spokes"]}
    assert all(c["ok"] for c in body["checks"] if c["name"] in ("token", "permissions", "event-grid", "zone"))
    one = stack.api("GET", f"doctor?subscription={SPOKE_SUBSCRIPTION_B1}", caller="reader").json()
    assert {c["scope"] for c in one["checks"]} <= {"spoke", "cluster"}
    unknown = stack.api("GET", "doctor?subscription=99999999-0000-4000-8000-000000000000", caller="reader")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "SubscriptionNotConfigured"
    assert stack.api("GET", "doctor", caller="nobody").status_code == 403
