"""Each service declares the bookkeeping rows it lets expire (the runtime adds its outbox)."""

from __future__ import annotations

from llmctl_models.app import DEFINITION as MODELS
from llmctl_orchestrator.app import DEFINITION as ORCHESTRATOR
from llmctl_router.app import DEFINITION as ROUTER
from llmctl_toolhub.app import DEFINITION as TOOLHUB


def test_services_declare_their_expiring_tables() -> None:
    declared = {
        d.name: [(r.table.fullname, r.column, r.env) for r in d.retention]
        for d in (ORCHESTRATOR, MODELS, TOOLHUB, ROUTER)
    }
    assert declared == {
        "orchestrator": [
            ("orchestrator.idempotency", "created_at", "LLMCTL_RETENTION_IDEMPOTENCY_HOURS")
        ],
        "models": [("models.idempotency", "created_at", "LLMCTL_RETENTION_IDEMPOTENCY_HOURS")],
        "toolhub": [("toolhub.tool_results", "created_at", "LLMCTL_RETENTION_TOOL_RESULTS_HOURS")],
        "router": [],
    }
