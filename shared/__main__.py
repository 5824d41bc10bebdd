"""Operator CLI on the same code as the function app.

    python -m shared status [--phase Ready]      table of links
    python -m shared reconcile <clusterId>       run reconcile now and print the outcome
    python -m shared approve <clusterId> <connectionName> [--reason ...]   approve a pending connection
    python -m shared reject <clusterId> <connectionName> [--reason ...]    reject a pending connection
    python -m shared approve-link <clusterId> [--reason ...]               approve a link (manual mode)
    python -m shared settings                    the table of app settings (as the README shows it)

Settings come from the environment (the same app settings the function app reads).
"""

from __future__ import annotations

import argparse
import json
import sys

from shared.errors import ConfigurationError, HubLinkError, http_status


def _table(rows: list[dict]) -> str:
    cols = [
        ("phase", "PHASE"),
        ("clusterName", "CLUSTER"),
        ("resourceGroup", "GROUP"),
        ("region", "REGION"),
        ("accessPath", "PATH"),
        ("privateIp", "IP"),
        ("fqdn", "FQDN"),
        ("message", "MESSAGE"),
    ]
    cells = [[h for _, h in cols]] + [[str(r.get(k) or "-") for k, _ in cols] for r in rows]
    widths = [min(60, max(len(row[i]) for row in cells)) for i in range(len(cols))]
    return "\n".join("  ".join(c[:w].ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared", description="aks-hublink operator CLI")
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="show every link")
    status.add_argument("--phase", help="only links in this phase")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rec = sub.add_parser("reconcile", help="reconcile one cluster now")
    rec.add_argument("cluster_id")
    for verb in ("approve", "reject"):
        decide = sub.add_parser(verb, help=f"{verb} a pending private endpoint connection (recorded as the OS user)")
        decide.add_argument("cluster_id")
        decide.add_argument("connection_name")
        decide.add_argument("--reason", default="", help="why (kept in the audit record)")
    link = sub.add_parser("approve-link", help="approve a link waiting in manual mode (recorded as the OS user)")
    link.add_argument("cluster_id")
    link.add_argument("--reason", default="", help="why (kept in the audit record)")
    sub.add_parser("settings", help="print the table of app settings (the README's configuration table)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "settings":
        from shared.settings import markdown_table

        print(markdown_table())
        return 0

    import getpass

    from shared.runtime import get_runtime

    try:
        svc = get_runtime().service
        if args.command == "status":
            rows = [s.public() for s in svc.list(args.phase)]
            if args.json:
                print(json.dumps({"value": rows, "count": len(rows)}, indent=2, default=str))
            else:
                print(_table(rows))
                print(f"\n{len(rows)} link(s)")
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
        else:
            _print(svc.reconcile(args.cluster_id, follow_up="cli").public())
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    except HubLinkError as exc:
        status, code = http_status(exc)
        _print({"error": {"code": code, "message": str(exc)}})
        return 1
    return 0


def _print(body: object) -> None:
    print(json.dumps(body, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
