"""Loopback port helpers shared by the throwaway servers."""

from __future__ import annotations

import socket
import time

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a port that was free a moment ago.

    The kernel picks it (bind to port 0), so parallel pytest-xdist workers rarely collide; they
    still can between this call and the server's own bind, which is why callers retry on
    "address already in use" with a fresh port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port_closed(host: str, port: int, timeout: float = 10.0) -> bool:
    """Wait until nothing accepts on host:port; True if it closed within the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_accepts(host, port, timeout=0.2):
            return True
        time.sleep(0.05)
    return False
