"""``python -m llmctl_infra.cli``."""

import sys

from llmctl_infra.cli import main

__all__: list[str] = []

sys.exit(main())
