"""Addresses: whether a host is this machine's loopback, which alone may reach the monitor unasked."""

from __future__ import annotations

import ipaddress

__all__ = ["host_of", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether *host* (an IP address, ``localhost``, or ``[v6]`` / ``v6%zone`` forms) is loopback."""
    host = host.strip("[]").split("%", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(address: str) -> str:
    """The host of a ``host:port`` peer address (``[v6]:port`` for IPv6)."""
    return address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
