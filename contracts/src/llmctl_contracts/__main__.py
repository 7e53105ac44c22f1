"""``python -m llmctl_contracts export DIR``: write every contract's JSON Schema to DIR."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .json_schema import contract_schemas


def main(argv: list[str] | None = None) -> int:
    """Export schemas; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "export":
        print("usage: python -m llmctl_contracts export DIR", file=sys.stderr)
        return 2
    out = Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in contract_schemas().items():
        (out / f"{name}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
