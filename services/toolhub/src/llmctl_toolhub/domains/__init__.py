"""Deterministic tool domains over toolhub's own Postgres schema.

One module per domain (:mod:`.memory`, :mod:`.plan`, :mod:`.milestone`, :mod:`.decision`),
each exporting ``OPERATIONS``; :mod:`.catalog` gathers them by tool name.
"""

__all__: list[str] = []
