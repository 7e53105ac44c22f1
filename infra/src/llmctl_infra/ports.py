"""Free TCP ports on the loopback interface."""

from __future__ import annotations

import socket
import threading
from collections import deque

__all__ = ["LOOPBACK", "free_port", "port_is_open"]

LOOPBACK = "127.0.0.1"


_HANDED_OUT: deque[int] = deque(maxlen=4096)
"""Ports this process handed out lately: never handed out twice."""
_HANDING_OUT = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is free right now on ``host``.

    The kernel picks it (bind to port 0). The socket is closed at once, so the kernel may
    pick the same port again for the next call before the first caller has bound it: two
    services of one stack once got the same health port and the second could not start. A
    port this process handed out lately is therefore never returned again. Another process
    may still take a port before the caller binds, so callers that can should retry on
    ``EADDRINUSE``.

    Args:
        host: Interface to bind.

    Returns:
        The port number.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        with _HANDING_OUT:
            if port not in _HANDED_OUT:
                _HANDED_OUT.append(port)
                return port


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """Tell whether something accepts TCP connections on ``host:port``.

    Args:
        port: Port to probe.
        host: Host to probe.
        timeout: Connect timeout in seconds.

    Returns:
        True when a connection succeeded.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
