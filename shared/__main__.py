"""Operator CLI on the same code as the function app: `hublink` (pyproject.toml), or `python -m shared`.

    hublink status [--phase Ready] [--json]  table of links (with each link's DNS mode), and "312 of 1,000 Ready"
    hublink hubs [--json]                    each region's hub subnets: used/total, capacity level
    hublink reconcile <clusterId> [--no-wait]   reconcile now, following its look-agains until it
                                             settles (the app's invocations never wait), and print the outcome
    hublink approve <clusterId> <connectionName> [--reason ...]   approve a pending connection
    hublink reject <clusterId> <connectionName> [--reason ...]    reject a pending connection
    hublink approve-link <clusterId> [--reason ...]               approve a link (manual mode)
    hublink settings                         the table of app settings (as the README shows it)
    hublink doctor [--json] [--subscription S]   prove what the product needs (exit 0 all hold, 1 not, 2 bad input)

Locally, settings come from the environment (the same app settings the function app reads) and
decisions are recorded as the OS user. With `--remote https://<app>` (or HUBLINK_REMOTE_URL) the
same commands call the deployed app's HTTP API as your own Entra ID identity (shared.remote): the
app checks your app role and records who you are from your token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from shared.errors import ConfigurationError, HubLinkError, http_status

LINK_COLUMNS = [
    ("phase", "PHASE"),
    ("clusterName", "CLUSTER"),
    ("resourceGroup", "GROUP"),
    ("region", "REGION"),
    ("accessPath", "PATH"),
    ("dnsMode", "DNS"),
    ("privateIp", "IP"),
    ("fqdn", "FQDN"),
    ("message", "MESSAGE"),
]
HUB_COLUMNS = [("region", "REGION"), ("level", "LEVEL"), ("subnet", "SUBNET"), ("prefix", "PREFIX"), ("usage", "USED/TOTAL")]


def _hub_rows(hubs: list[dict]) -> list[dict]:
    return [
        {
            "region": h["region"],
            "level": h["level"],
            "subnet": s["subnetId"].rsplit("/virtualNetworks/", 1)[-1],
            "prefix": s["prefix"],
            "usage": f"{s['used']}/{s['total']}",
        }
        for h in hubs
        for s in h["subnets"]
    ]


def _table(rows: list[dict], cols: list[tuple[str, str]] = LINK_COLUMNS) -> str:
    cells = [[h for _, h in cols]] + [[str(r.get(k) or "-") for k, _ in cols] for r in rows]
    widths = [min(60, max(len(row[i]) for row in cells)) for i in range(len(cols))]
    return "\n".join("  ".join(c[:w].ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _prog() -> str:
    """How the user called us, for usage lines: `hublink` (the console script) or `python -m shared`."""
    return "hublink" if os.path.basename(sys.argv[0] or "").startswith("hublink") else "python -m shared"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_prog(), description="aks-hublink operator CLI")
    parser.add_argument(
        "--remote",
        metavar="URL",
        default=os.environ.get("HUBLINK_REMOTE_URL"),
        help="call the deployed function app at URL as your Entra ID identity (DefaultAzureCredential)",
    )
    parser.add_argument(
        "--audience",
        default=os.environ.get("HUBLINK_REMOTE_AUDIENCE"),
        help="the API's audience, api://<API app id> (HUBLINK_REMOTE_AUDIENCE; azd output API_AUDIENCE)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="show every link")
    status.add_argument("--phase", help="only links in this phase")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    hubs = sub.add_parser("hubs", help="show each region's hub subnets: used/total addresses")
    hubs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rec = sub.add_parser("reconcile", help="reconcile one cluster now")
    rec.add_argument("cluster_id")
    rec.add_argument("--no-wait", action="store_true", help="one reconcile; its look-again goes to the continuation queue")
    for verb in ("approve", "reject"):
        decide = sub.add_parser(
            verb, help=f"{verb} a pending private endpoint connection (recorded as the OS user, or your identity with --remote)"
        )
        decide.add_argument("cluster_id")
        decide.add_argument("connection_name")
        decide.add_argument("--reason", default="", help="why (kept in the audit record)")
    link = sub.add_parser(
        "approve-link", help="approve a link waiting in manual mode (recorded as the OS user, or your identity with --remote)"
    )
    link.add_argument("cluster_id")
    link.add_argument("--reason", default="", help="why (kept in the audit record)")
    sub.add_parser("settings", help="print the table of app settings (the README's configuration table)")
    doctor = sub.add_parser("doctor", help="check the hub and every spoke: consent, roles, Event Grid, zones, subnets, clusters")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON (README: hublink doctor)")
    doctor.add_argument("--subscription", help="only this spoke subscription")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "settings":
        from shared.settings import markdown_table

        print(markdown_table())
        return 0
    if args.remote:
        return _remote(args)

    import getpass

    from shared.runtime import get_runtime

    try:
        svc = get_runtime().service
        if args.command == "doctor":
            return _doctor(svc, args)
        if args.command == "status":
            states = svc.list(args.phase)
            rows = [s.public() for s in states]
            progress = svc.progress(None if args.phase else states)
            if args.json:
                print(json.dumps({"value": rows, "count": len(rows), "progress": progress}, indent=2, default=str))
            else:
                print(_table(rows))
                print(f"\n{len(rows)} link(s); {progress['text']}")
        elif args.command == "hubs":
            hubs = svc.hubs()
            print(json.dumps({"value": hubs}, indent=2) if args.json else _table(_hub_rows(hubs), HUB_COLUMNS))
        elif args.command == "approve-link":
            entry, outcome = svc.approve_link(
                args.cluster_id, who=getpass.getuser(), via="cli", reason=args.reason, follow_up="approval"
            )
            _print({"approved": entry.public(), "outcome": outcome.public()})
        elif args.command in ("approve", "reject"):
            entry = svc.decide_connection(
                args.cluster_id,
                args.connection_name,
                "Approved" if args.command == "approve" else "Rejected",
                who=getpass.getuser(),
                via="cli",
                reason=args.reason,
            )
            _print({"decision": entry.public()})
        elif args.no_wait:
            _print(svc.reconcile(args.cluster_id, follow_up="cli").public())
        else:
            _print(_follow(svc, args.cluster_id).public())
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    except HubLinkError as exc:
        status, code = http_status(exc)
        _print({"error": {"code": code, "message": str(exc)}})
        return 1
    return 0


def _remote(args: argparse.Namespace) -> int:
    """The same command against the deployed app's HTTP API, as the caller's own Entra ID identity."""
    from shared.remote import RemoteApi, dumps, run

    api = RemoteApi(args.remote, audience=args.audience, ca_bundle=os.environ.get("HUBLINK_CA_BUNDLE") or None)
    code, body = run(args, api)
    if code == 0 and not getattr(args, "json", True) and args.command in ("status", "hubs"):
        if args.command == "status":
            print(_table(body["value"]))
            print(f"\n{body['count']} link(s)")
        else:
            print(_table(_hub_rows(body["value"]), HUB_COLUMNS))
    else:
        print(dumps(body))
    return code


def _doctor(svc, args: argparse.Namespace) -> int:
    from shared.errors import InvalidInput

    try:
        report = svc.doctor(args.subscription)
    except InvalidInput as exc:
        print(f"hublink doctor: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.public(), indent=2) if args.json else report.text())
    return report.exit_code


def _follow(svc: object, cluster_id: str, *, limit_s: float = 900.0) -> object:
    """Reconcile, then again after each "look again in N s", until the outcome asks for nothing more
    (or is an error, busy, or `limit_s` has passed): what the continuation queue does for the app."""
    import time

    deadline = time.monotonic() + limit_s
    outcome = svc.reconcile(cluster_id)  # type: ignore[attr-defined]
    while outcome.requeue_after is not None and not (outcome.error or outcome.busy) and time.monotonic() < deadline:
        time.sleep(max(0.0, outcome.requeue_after))
        outcome = svc.reconcile(cluster_id)  # type: ignore[attr-defined]
    return outcome


def _print(body: object) -> None:
    print(json.dumps(body, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
