"""`python -m stack up [--world FILE] [--hosts N] [--app-setting NAME=VALUE]...`: devcloud, Azurite, the webhook
sink and the product's function app in the local Functions host, in one process.

The world is devcloud's (or the file's) with the product's registrations added (stack.world). Prints
devcloud's `DEVCLOUD_READY {json}` line with the product's parts added (`product`, `api`: the API's
audience, tenant and one service principal per role; the function app's `functions`, keys and
webhook secret) and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any


def function_app(
    info: dict[str, Any], cloud: Any, *, overrides: dict[str, str] | None = None, hosts: int | None = None
) -> tuple[dict[str, Any], Callable[[], None]]:
    """The product's function app in the local Functions host, subscribed to every spoke's events (a devcloud part);
    with `hosts`, that many instances behind one front end (devcloud.funchost_fleet)."""
    from stack.product import start_product

    return start_product(info, cloud, hosts=hosts, **(overrides or {}))


def main(argv: Sequence[str] | None = None) -> int:
    from devcloud.__main__ import run_up
    from stack.world import add_product

    parser = argparse.ArgumentParser(prog="python -m stack", description="aks-hublink on devcloud")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="devcloud up plus the function app; print DEVCLOUD_READY {json}")
    up.add_argument("--world", metavar="FILE", help="world JSON (default: devcloud's default world); the product is added to it")
    up.add_argument(
        "--app-setting",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="override one of the function app's settings (repeatable), e.g. HUBLINK_EVENT_BUDGET_S=2",
    )
    up.add_argument(
        "--hosts",
        type=int,
        metavar="N",
        help="run N instances of the function app (host processes on one Azurite, one round-robin front end)",
    )
    args = parser.parse_args(argv)
    if args.hosts is not None and args.hosts < 1:
        parser.error("--hosts needs at least 1")
    overrides = {}
    for item in args.app_setting:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--app-setting takes NAME=VALUE, got {item!r}")
        overrides[name] = value
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return run_up(
        args.world,
        extra_parts=[functools.partial(function_app, overrides=overrides, hosts=args.hosts)],
        compose=add_product,
    )


if __name__ == "__main__":
    sys.exit(main())
