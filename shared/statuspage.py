"""`GET /api/status`: one self-contained HTML page of every link, for a hub network with no internet.

No script, font or stylesheet is fetched (everything is inline; the page refreshes itself with a
meta refresh), so it works offline. It shows the counts per phase, every link (cluster,
subscription, path, DNS mode, phase, IP, FQDN, since, last error), each hub subnet's capacity and
the doctor's summary with its failed checks. Every value is HTML-escaped: cluster names, tags and
error texts come from Azure and from people.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from shared.model import Phase

if TYPE_CHECKING:
    from shared.doctor import Report
    from shared.model import LinkState

REFRESH_S = 60
WAITING = (Phase.PENDING, Phase.PROVISIONING, Phase.AWAITING_APPROVAL)
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1b1b;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}.muted{color:#666}
table{border-collapse:collapse;background:#fff;width:100%}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f0f0f0}td.err{color:#a4262c;max-width:28em}
.counts{display:flex;gap:8px;flex-wrap:wrap}.count{background:#fff;border:1px solid #ddd;padding:8px 12px;min-width:7em}
.count b{display:block;font-size:20px}.Ready{color:#107c10}.Failed{color:#a4262c}.ok{color:#107c10}.bad{color:#a4262c}
"""


def _td(value: Any, cls: str = "") -> str:
    text = "" if value in (None, "") else str(value)
    return f"<td{f' class={cls!r}' if cls else ''}>{escape(text) or '&ndash;'}</td>"


def since(state: LinkState) -> str | None:
    """When the link entered its current phase, as far as the row knows."""
    if state.phase is Phase.READY and state.ready_at:
        return state.ready_at.isoformat()
    episode = "failed" if state.phase is Phase.FAILED else "waiting" if state.phase in WAITING else None
    found = state.notices.since.get(episode) if episode else None
    when = found or state.updated_at or state.created_at
    return when.isoformat() if isinstance(when, datetime) else when


def _links(rows: list[LinkState], dns_modes: dict[str, str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("Cluster", "Subscription", "Path", "DNS mode", "Phase", "IP", "FQDN", "Since",
                                              "Last error"))  # fmt: skip
    body = []
    for s in rows:
        mode = getattr(s, "dns_mode", None) or dns_modes.get(s.cluster_id.lower())
        cells = [
            f'<td class="cluster" title="{escape(s.cluster_id)}">{escape(s.cluster_name)}</td>',
            _td(s.subscription_id),
            _td(s.access_path),
            _td(mode),
            f'<td class="phase {escape(str(s.phase))}">{escape(str(s.phase))}</td>',
            _td(s.private_ip),
            _td(s.fqdn),
            _td(since(s)),
            _td(s.last_error, "err"),
        ]
        body.append(f'<tr data-cluster-id="{escape(s.cluster_id)}">{"".join(cells)}</tr>')
    rows_html = "".join(body) or '<tr><td colspan="9" class="muted">no links yet</td></tr>'
    return f'<table id="links"><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>'


def _capacity(capacity: list[dict[str, Any]]) -> str:
    head = "<tr><th>Region</th><th>Subnet</th><th>Prefix</th><th>Addresses</th><th>Used</th><th>Free</th></tr>"
    body = "".join(
        f"<tr>{_td(c.get('region'))}{_td(c.get('subnetId'))}{_td(c.get('prefix'))}{_td(c.get('total'))}{_td(c.get('used'))}"
        f"{_td(max(0, int(c.get('total') or 0) - int(c.get('used') or 0)))}</tr>"
        for c in capacity
    )
    return f'<table id="capacity"><thead>{head}</thead><tbody>{body}</tbody></table>'


def _doctor(report: Report | None, problem: str | None) -> str:
    if report is None:
        return f'<p id="doctor" class="bad">doctor could not run: {escape(problem or "")}</p>'
    summary = report.public()["summary"]
    failed = "" if report.ok else f", {summary['failed']} failed"
    verdict = (
        f'<p id="doctor" class="{"ok" if report.ok else "bad"}">{summary["passed"]} of {summary["checks"]} checks hold'
        f"{failed} (<code>hublink doctor</code> for all of them)</p>"
    )
    items = "".join(
        f"<li><b>{escape(c.name)}</b> {escape(c.subject)}: {escape(c.evidence)}<br>"
        f'<span class="muted">fix: {escape(c.fix)}</span></li>'
        for c in report.failures()
    )
    return verdict + (f"<ul>{items}</ul>" if items else "")


def render(
    rows: list[LinkState],
    *,
    capacity: list[dict[str, Any]],
    report: Report | None,
    problem: str | None = None,
    now: datetime,
    refresh_s: int = REFRESH_S,
) -> str:
    """The page. `report` None: the doctor failed to run (`problem` says why); the links still show."""
    counts = Counter(str(s.phase) for s in rows)
    tiles = "".join(
        f'<div class="count {p}" data-phase="{p}"><b>{counts.get(str(p), 0)}</b>{p}</div>' for p in Phase if p is not Phase.ABSENT
    )
    modes = {}
    for c in report.checks if report else []:
        if c.scope == "cluster" and "DNS mode " in c.evidence:
            modes[c.subject.lower()] = c.evidence.split("DNS mode ", 1)[1].split(":", 1)[0]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{refresh_s}">'
        f"<title>aks-hublink status</title><style>{STYLE}</style></head><body>"
        f'<h1>aks-hublink</h1><p class="muted">{len(rows)} link(s) at {escape(now.isoformat(timespec="seconds"))}; '
        f"this page refreshes every {refresh_s} s</p>"
        f'<div class="counts" id="counts">{tiles}</div>'
        f"<h2>Links</h2>{_links(rows, modes)}"
        f"<h2>Hub capacity</h2>{_capacity(capacity)}"
        f"<h2>Doctor</h2>{_doctor(report, problem)}"
        "</body></html>"
    )
