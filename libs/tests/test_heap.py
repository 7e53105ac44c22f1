"""freeze_startup_heap: the objects alive at start-up leave the collector's scans."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from llmctl_libs.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_survivors_are_frozen_and_no_longer_tracked_by_generations(unfrozen: None) -> None:
    survivor = {"kept": [1, 2, 3]}
    assert gc.is_tracked(survivor)
    frozen = freeze_startup_heap()
    assert frozen == gc.get_freeze_count() > 0
    assert not any(survivor is o for o in gc.get_objects())  # frozen objects are not listed


def test_cycles_made_after_the_freeze_are_still_collected(unfrozen: None) -> None:
    freeze_startup_heap()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    del a, b
    assert gc.collect() >= 2
