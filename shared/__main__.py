"""Operator CLI on the same code as the function app.

    python -m shared status [--phase Ready]      table of links
    python -m shared reconcile <clusterId>       run reconcile now and print the outcome

Settings come from the environment (the same app settings the function app reads).
"""

from __future__ import annotations

import argparse
import json
import sys

from shared.errors import ConfigurationError, HubLinkError


def _table(rows: list[dict]) -> str:
    cols = [("phase", "PHASE"), ("clusterName", "CLUSTER"), ("resourceGroup", "GROUP"), ("region", "REGION"),
            ("privateIp", "IP"), ("fqdn", "FQDN"), ("message", "MESSAGE")]
    cells = [[h for _, h in cols]] + [[str(r.get(k) or "-") for k, _ in cols] for r in rows]
    widths = [min(60, max(len(row[i]) for row in cells)) for i in range(len(cols))]
    return "\n".join("  ".join(c[:w].ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared", description="aks-hublink operator CLI")
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="show every link")
    status.add_argument("--phase", help="only links in this phase")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rec = sub.add_parser("reconcile", help="reconcile one cluster now")
    rec.add_argument("cluster_id")
    args = parser.parse_args(argv)

    from shared import handlers

    try:
        if args.command == "status":
            answer = handlers.http_list(args.phase)
            if answer.status != 200 or args.json:
                print(answer.json())
            else:
                print(_table(answer.body["value"]))
                print(f"\n{answer.body['count']} link(s)")
        else:
            answer = handlers.http_reconcile(json.dumps({"clusterId": args.cluster_id}).encode())
            print(answer.json())
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    except HubLinkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if answer.status < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
