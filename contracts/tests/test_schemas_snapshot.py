"""Exported JSON Schemas are snapshot-tested: a contract change is always a visible diff.

Regenerate with ``uv run python -m llmctl_contracts export contracts/schemas``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmctl_contracts.json_schema import contract_schemas

SNAPSHOTS = Path(__file__).parents[1] / "schemas"


@pytest.mark.parametrize("name", sorted(contract_schemas()))
def test_schema_matches_snapshot(name: str) -> None:
    snapshot = SNAPSHOTS / f"{name}.json"
    assert snapshot.exists(), f"no snapshot for {name}; export the schemas"
    assert json.loads(snapshot.read_text()) == contract_schemas()[name]


def test_no_stale_snapshots() -> None:
    on_disk = {p.stem for p in SNAPSHOTS.glob("*.json")}
    assert on_disk == set(contract_schemas())
