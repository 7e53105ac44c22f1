"""Websocket ``Origin`` policy: same host, localhost, or explicitly allowed origins."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["LOCAL_HOSTS", "origin_allowed"]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names always allowed as origins (local development)."""


def _normalise(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a websocket handshake with this ``Origin`` may proceed.

    Args:
        origin: The ``Origin`` header; ``None`` (non-browser clients) is allowed.
        host: The request's ``Host`` header (``name[:port]``).
        allowed: Extra allowed origins (``scheme://host[:port]``); ``*`` allows any.

    Returns:
        ``True`` for a missing origin, a localhost origin, an origin on the same host and port
        as the request, or one listed in ``allowed``.
    """
    if origin is None:
        return True
    normalised = _normalise(origin)
    if "*" in allowed or normalised in {_normalise(a) for a in allowed}:
        return True
    try:
        parts = urlsplit(normalised)
        hostname = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in {"http", "https"} or not hostname:
        return False
    if hostname in LOCAL_HOSTS:
        return True
    return host is not None and parts.netloc == host.strip().lower()
