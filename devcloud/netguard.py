"""Refuse any network traffic that would leave the machine.

Tests, the demo and the local Functions host install this guard so that a missing flag (say
MSAL's instance discovery) fails loudly at once instead of quietly calling a public endpoint.
Subprocesses get it through the environment variable `DEVCLOUD_NETGUARD=1`, which devcloud's
launchers set and `devcloud/__init__.py` honours on import.
"""

from __future__ import annotations

import ipaddress
import socket

_installed = False


class NonLoopbackConnection(RuntimeError):
    """An attempt to resolve or reach an address off this machine."""


def _is_loopback_host(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host)
    if host in ("localhost", "localhost.localdomain", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(host: object, what: str) -> None:
    if not _is_loopback_host(host):
        raise NonLoopbackConnection(f"netguard: refused {what} to non-loopback host {host!r}")


def install() -> None:
    """Patch socket resolution and connects; idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection

    def getaddrinfo(host, *args, **kwargs):
        _check(host, "name lookup")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address[0], "connect")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address[0], "connect")
        return real_connect_ex(self, address)

    def create_connection(address, *args, **kwargs):
        _check(address[0], "connect")
        return real_create_connection(address, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.create_connection = create_connection
