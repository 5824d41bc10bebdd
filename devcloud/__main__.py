"""`python -m devcloud up [--world FILE]`: the whole local Azure in one process, for the demo and e2e runs.

Starts devcloud, Azurite and a webhook sink on free loopback ports, then prints exactly one line
on stdout, `DEVCLOUD_READY {json}`, which is the contract other processes read (everything else
goes to stderr). It runs until SIGINT or SIGTERM, then stops what it started, Azurite included,
and exits 0. The network guard is on for the whole run.

More parts (a function app in the local Functions host: see the product's `stack` package) plug in
through `extra_parts`: each is a callable that receives the connection info so far and the running
DevCloud (for its certificates and Event Grid) and returns (keys to add to the info, a callable
that stops the part). devcloud itself starts none.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from devcloud import netguard

log = logging.getLogger("devcloud.up")

Part = Callable[[dict[str, Any], Any], tuple[dict[str, Any], Callable[[], None]]]  # (info, cloud) -> (additions, stop)
# Started in order after devcloud, Azurite and the sink; stopped in reverse order.


PARTS: tuple[Part, ...] = ()
READY_PREFIX = "DEVCLOUD_READY "


def _quietly(name: str, stop: Callable[[], None]) -> Callable[[], None]:
    """Stopping must go on through every part even when one of them fails to stop."""

    def run() -> None:
        try:
            stop()
        except Exception:
            log.exception("stopping %s failed", name)
        else:
            log.info("stopped %s", name)

    return run


def run_up(world_path: str | None, *, extra_parts: Sequence[Part] | None = None,
           compose: Callable[[Any], Any] | None = None) -> int:
    """Start everything, print the READY line, wait for SIGINT/SIGTERM, stop everything. Returns the exit code.

    `compose` receives the world (the file's, or the default one) before devcloud starts and returns the
    world to run: how whatever runs on devcloud brings its own registrations (the product's stack does)."""
    netguard.install()
    from devcloud.azurite import start_azurite
    from devcloud.cloud import DevCloud
    from devcloud.sink import Sink
    from devcloud.world import World, default_world

    stop_requested = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop_requested.set())

    with contextlib.ExitStack() as stack:
        try:
            world = World.load(world_path) if world_path else default_world()
            cloud = DevCloud(compose(world) if compose else world).start()
            stack.callback(_quietly("devcloud", cloud.stop))
            stack.callback(shutil.rmtree, cloud.certs.directory, ignore_errors=True)
            log.info("devcloud on %s", cloud.url)
            azurite = start_azurite()
            stack.callback(_quietly("azurite", azurite.stop))
            log.info("azurite table endpoint on port %s", azurite.table_port)
            sink = Sink(cloud.certs).start()
            stack.callback(_quietly("sink", sink.stop))
            info = cloud.connection_info()
            info.update({"table_connection_string": azurite.connection_string,
                         "storage_connection_string": azurite.connection_string,
                         "notifications": sink.url})
            for part in PARTS if extra_parts is None else extra_parts:
                additions, stop = part(dict(info), cloud)
                stack.callback(_quietly(getattr(part, "__name__", "part"), stop))
                info.update(additions)
        except Exception:
            log.exception("devcloud up failed to start")
            return 1
        sys.stdout.write(READY_PREFIX + json.dumps(info) + "\n")
        sys.stdout.flush()
        log.info("ready; stop with SIGINT or SIGTERM")
        while not stop_requested.wait(0.5):
            pass
        log.info("stopping")
    return 0


def _az_login(directory: str, info_source: str) -> int:
    """Write the config dir and say how to use it (commands on stdout, nothing is run)."""
    from devcloud import azcli

    info = azcli.read_info(info_source)
    azcli.prepare(directory, info)
    sys.stdout.write(f". {directory}/env\n" + "".join("az " + " ".join(c) + "\n" for c in azcli.login_commands(info)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcloud", description="devcloud: a local Azure for aks-hublink")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start devcloud, Azurite and the webhook sink; print DEVCLOUD_READY {json}")
    up.add_argument("--world", metavar="FILE", help="world JSON (default: devcloud's default world)")
    login = commands.add_parser("az-login", help="prepare an AZURE_CONFIG_DIR in which the real az talks to devcloud")
    login.add_argument("directory", help="the AZURE_CONFIG_DIR to write (created if missing)")
    login.add_argument("--info", metavar="FILE", required=True,
                       help="a file holding `up`'s DEVCLOUD_READY line (or '-' for stdin)")
    args = parser.parse_args(argv)
    if args.command == "az-login":
        return _az_login(args.directory, args.info)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return run_up(args.world)


if __name__ == "__main__":
    sys.exit(main())
