"""Keep the cyclic garbage collector's full passes off the hot path.

A service imports a few hundred thousand long-lived objects (modules, SQLAlchemy tables,
msgspec types, FastStream and litestar machinery). CPython's oldest-generation collection
scans them all: about 40-80 ms on this machine, long enough to be the slowest hop of a run
whenever one falls inside it. Once a service has started, :func:`freeze_startup_heap` collects
once and moves every survivor to the permanent generation (``gc.freeze``): later full passes
scan only what the service allocated since, and still collect its cycles.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Collect, then exempt every object alive now from later collections.

    Returns:
        How many objects are frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
