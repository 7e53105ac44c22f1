"""Save-time validation returns field-level errors for graph invariants."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_orchestrator.validation import (
    clamp_fan_in,
    sync_decision_conditions,
    validate_flowchart,
)


def errors_of(
    nodes: list[dict[str, Any]], connectors: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    definition = msgspec.convert(
        {"name": "t", "nodes": nodes, "connectors": connectors}, FlowchartDefinition
    )
    return [(e.field, e.reason) for e in validate_flowchart(definition)]


START = {"type": "start", "id": "s"}
END = {"type": "end", "id": "e"}


def c(cid: str, s: str, t: str, kind: str = "solid") -> dict[str, Any]:
    return {"id": cid, "source": s, "target": t, "kind": kind}


def test_valid_graph_has_no_errors() -> None:
    assert errors_of([START, END], [c("c1", "s", "e")]) == []


@pytest.mark.parametrize(
    ("nodes", "connectors", "field", "reason"),
    [
        ([END], [], "$.nodes", "exactly one start"),
        ([START, {"type": "start", "id": "s2"}], [], "$.nodes", "exactly one start"),
        ([START, START], [], "$.nodes[1].id", "duplicate node id"),
        (
            [START, END],
            [c("c1", "s", "e"), c("c1", "s", "e")],
            "$.connectors[1].id",
            "duplicate connector",
        ),
        ([START, END], [c("c1", "s", "zz")], "$.connectors[0].target", "unknown node"),
        (
            [START, END],
            [c("c1", "s", "e"), c("c2", "e", "s")],
            "$.connectors[1].source",
            "end node",
        ),
        ([START, END], [], "$.nodes[1]", "unreachable"),
        ([START, END], [c("c1", "s", "e", "dotted")], "$.nodes[1]", "unreachable"),
        (
            [START, END],
            [c("c1", "s", "e"), c("c2", "s", "e", "dotted")],
            "$.connectors[1].kind",
            "mix",
        ),
        (
            [START, {"type": "decision", "id": "d"}],
            [c("c1", "s", "d")],
            "$.nodes[1]",
            "at least one solid outgoing",
        ),
        (
            [
                START,
                {
                    "type": "decision",
                    "id": "d",
                    "conditions": [{"connector_id": "zz", "text": "x"}],
                },
                END,
            ],
            [c("c1", "s", "d"), c("c2", "d", "e")],
            "$.nodes[1].conditions[0].connector_id",
            "not an outgoing connector",
        ),
        (
            [
                START,
                {
                    "type": "decision",
                    "id": "d",
                    "conditions": [{"connector_id": "c3", "text": "x"}],
                },
                END,
            ],
            [c("c1", "s", "d"), c("c2", "d", "e"), c("c3", "d", "s", "dotted")],
            "$.nodes[1].conditions[0].connector_id",
            "is a dotted connector",
        ),
        (
            [
                START,
                {
                    "type": "decision",
                    "id": "d",
                    "conditions": [
                        {"connector_id": "c2", "text": "a.b == 1"},
                        {"connector_id": "c2", "text": "a.b == 2"},
                    ],
                },
                END,
            ],
            [c("c1", "s", "d"), c("c2", "d", "e")],
            "$.nodes[1].conditions[1].connector_id",
            "duplicate condition",
        ),
        (
            [
                START,
                {
                    "type": "decision",
                    "id": "d",
                    "conditions": [
                        {
                            "connector_id": "c2",
                            "predicate": {"op": "matches", "path": "a", "value": "("},
                        }
                    ],
                },
                END,
            ],
            [c("c1", "s", "d"), c("c2", "d", "e")],
            "$.nodes[1].conditions[0].predicate.value",
            "invalid regex",
        ),
        (
            [
                START,
                {
                    "type": "decision",
                    "id": "d",
                    "conditions": [
                        {"connector_id": "c2", "predicate": {"op": "gt", "path": "a", "value": [1]}}
                    ],
                },
                END,
            ],
            [c("c1", "s", "d"), c("c2", "d", "e")],
            "$.nodes[1].conditions[0].predicate.value",
            "needs a number or string",
        ),
        (
            [START, {"type": "decision", "id": "d", "no_match_policy": "fallback"}, END],
            [c("c1", "s", "d"), c("c2", "d", "e")],
            "$.nodes[1].fallback_connector_id",
            "needs a connector",
        ),
        (
            [
                START,
                {
                    "type": "decision",
                    "id": "d",
                    "conditions": [{"connector_id": "c2", "predicate": {"op": "eq"}}],
                },
                END,
            ],
            [c("c1", "s", "d"), c("c2", "d", "e")],
            "$.nodes[1].conditions[0].predicate.path",
            "needs a path",
        ),
        (
            [START, {"type": "decision", "id": "d", "conditions": [{"connector_id": "c2"}]}, END],
            [c("c1", "s", "d"), c("c2", "d", "e")],
            "$.nodes[1].conditions[0]",
            "predicate or text",
        ),
    ],
)
def test_invalid_graphs_name_the_field(
    nodes: list[dict[str, Any]], connectors: list[dict[str, Any]], field: str, reason: str
) -> None:
    found = errors_of(nodes, connectors)
    assert any(f == field and reason in r for f, r in found), found


def test_custom_fan_in_over_parent_count_is_clamped_with_a_warning() -> None:
    nodes = [
        START,
        {"type": "task", "id": "a", "prompt": "p"},
        {"type": "end", "id": "e", "fan_in": {"mode": "custom", "count": 5}},
    ]
    connectors = [c("c1", "s", "a"), c("c2", "s", "e"), c("c3", "a", "e")]
    definition = msgspec.convert(
        {"name": "t", "nodes": nodes, "connectors": connectors}, FlowchartDefinition
    )
    clamped, warnings = clamp_fan_in(definition)
    assert clamped.nodes[2].fan_in.count == 2
    assert [(w.field, "clamped from 5 to 2" in w.reason) for w in warnings] == [
        ("$.nodes[2].fan_in.count", True)
    ]
    assert validate_flowchart(clamped) == []
    # within bounds: untouched, no warning
    same, none = clamp_fan_in(clamped)
    assert same is clamped
    assert none == []


def test_unclamped_over_count_is_still_an_error() -> None:
    nodes = [START, {"type": "end", "id": "e", "fan_in": {"mode": "custom", "count": 3}}]
    found = errors_of(nodes, [c("c1", "s", "e")])
    assert (
        "$.nodes[1].fan_in.count",
        "must be between 1 and the 1 solid upstream connectors",
    ) in found


def _special(node: dict[str, Any]) -> list[tuple[str, str]]:
    return errors_of([START, node, END], [c("c1", "s", node["id"]), c("c2", node["id"], "e")])


def test_special_node_configs_are_validated_at_save() -> None:
    assert _special({"type": "memory", "id": "m", "config": {"limit": 5, "text": "x"}}) == []
    assert _special({"type": "plan", "id": "p", "config": {"store_mode": "append"}}) == []
    [(field, reason)] = _special({"type": "memory", "id": "m", "config": {"limit": 99}})
    assert field == "$.nodes[1].config.limit"
    assert "<= 50" in reason
    [(field, reason)] = _special({"type": "plan", "id": "p", "config": {"store_mode": "merge"}})
    assert field == "$.nodes[1].config.store_mode"
    [(field, reason)] = _special(
        {"type": "milestone", "id": "ms", "config": {"patch": {"progress_percent": 101}}}
    )
    assert field == "$.nodes[1].config.patch.progress_percent"
    [(field, reason)] = _special({"type": "memory", "id": "m", "config": {"bogus": 1}})
    assert (field, reason) == ("$.nodes[1].config", "Object contains unknown field `bogus`")
    [(field, _)] = _special(
        {"type": "plan", "id": "p", "config": {"patch": {"stages": [{"tasks": [{"nam": "x"}]}]}}}
    )
    assert field == "$.nodes[1].config.patch.stages[0].tasks[0]"


def test_like_pattern_takes_wildcards_literally_and_refuses_nul() -> None:
    import pytest

    from llmctl_libs.rpc import RpcError
    from llmctl_libs.store.search import like_pattern

    assert like_pattern("Ab") == "%Ab%"
    assert like_pattern("50%_x\\") == "%50\\%\\_x\\\\%"
    with pytest.raises(RpcError) as refused:
        like_pattern("a\x00b")
    assert refused.value.body.details[0].field == "q"


def test_sort_keys_and_pages_are_checked() -> None:
    import pytest
    import sqlalchemy as sa

    from llmctl_libs.rpc import RpcError
    from llmctl_orchestrator.paging import check_page, order_by
    from llmctl_orchestrator.tables import flowcharts

    columns = {"name": flowcharts.c.name}
    ordering = order_by("-name", ("name", "-name"), columns, flowcharts.c.id)
    assert [str(o) for o in ordering] == [
        str(flowcharts.c.name.desc()),
        str(flowcharts.c.id.desc()),
    ]
    for bad in ("size", "--name", ""):
        with pytest.raises(RpcError) as refused:
            order_by(bad, ("name", "-name"), columns, flowcharts.c.id)
        assert refused.value.body.details[0].field == "sort"
    for page, size, field in ((0, 10, "page"), (1, 0, "page_size"), (1, 101, "page_size")):
        with pytest.raises(RpcError) as refused:
            check_page(page, size)
        assert refused.value.body.details[0].field == field
    check_page(1, 100)
    assert isinstance(ordering[0], sa.UnaryExpression)


def definition_of(
    nodes: list[dict[str, Any]], connectors: list[dict[str, Any]]
) -> FlowchartDefinition:
    return msgspec.convert(
        {"name": "t", "nodes": nodes, "connectors": connectors}, FlowchartDefinition
    )


def decision(*conditions: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"type": "decision", "id": "d", "conditions": list(conditions), **settings}


def pred(connector_id: str, value: str) -> dict[str, Any]:
    return {"connector_id": connector_id, "predicate": {"op": "eq", "path": "x", "value": value}}


BRANCHES = [c("c0", "s", "d"), c("yes", "d", "e"), c("no", "d", "e2")]
END2 = {"type": "end", "id": "e2"}


def test_save_drops_the_condition_of_a_deleted_connector_with_a_warning() -> None:
    """Deleting a decision's connector takes its condition with it (the seed's sync/repair)."""
    chart = definition_of(
        [START, decision(pred("yes", "y"), pred("gone", "g"), pred("no", "n")), END, END2],
        BRANCHES,
    )
    synced, warnings = sync_decision_conditions(chart)
    assert [cond.connector_id for cond in synced.nodes[1].conditions] == ["yes", "no"]
    assert [(w.field, "'gone' no longer exists" in w.reason) for w in warnings] == [
        ("$.nodes[1].conditions[1].connector_id", True)
    ]
    assert validate_flowchart(synced) == []
    assert validate_flowchart(chart) != []  # unsynced, the stale condition is an error


def test_save_orders_conditions_as_the_connectors_and_warns_about_uncovered_ones() -> None:
    chart = definition_of(
        [
            START,
            decision(pred("no", "n"), {"connector_id": "yes", "text": "sounds urgent"}),
            END,
            END2,
            {"type": "end", "id": "e3"},
        ],
        [*BRANCHES, c("maybe", "d", "e3")],
    )
    synced, warnings = sync_decision_conditions(chart)
    assert [cond.connector_id for cond in synced.nodes[1].conditions] == ["yes", "no"]
    reasons = [w.reason for w in warnings]
    assert any("'yes'" in r and "heuristically" in r for r in reasons), reasons
    assert any("'maybe' has no condition and will never match" in r for r in reasons), reasons
    assert {w.field for w in warnings} == {"$.nodes[1].conditions"}


def test_save_leaves_conditions_it_cannot_repair_to_validation() -> None:
    """Two conditions for one connector, or one naming a dotted connector, are errors: no
    repair can tell which was meant, so the definition is returned as it came."""
    chart = definition_of(
        [START, decision(pred("yes", "1"), pred("yes", "2"), pred("no", "n")), END, END2],
        BRANCHES,
    )
    synced, _ = sync_decision_conditions(chart)
    assert synced.nodes[1] == chart.nodes[1]
    assert [e.field for e in validate_flowchart(synced)] == [
        "$.nodes[1].conditions[1].connector_id"
    ]


def test_errors_index_the_conditions_as_sent_when_the_repair_cannot_make_them_valid() -> None:
    """A stale condition ahead of a duplicate: nothing is dropped, so the duplicate's error
    names its index in the document that was sent (2), not in a pruned list (1)."""
    chart = definition_of(
        [
            START,
            decision(pred("gone", "g"), pred("yes", "1"), pred("yes", "2"), pred("no", "n")),
            END,
            END2,
        ],
        BRANCHES,
    )
    synced, warnings = sync_decision_conditions(chart)
    assert synced.nodes[1] == chart.nodes[1]
    assert not any("no longer exists" in w.reason for w in warnings)
    assert [e.field for e in validate_flowchart(synced)] == [
        "$.nodes[1].conditions[0].connector_id",  # the stale one, reported as it stands
        "$.nodes[1].conditions[2].connector_id",
    ]


def test_a_synced_flowchart_is_left_alone() -> None:
    chart = definition_of([START, decision(pred("yes", "y"), pred("no", "n")), END, END2], BRANCHES)
    synced, warnings = sync_decision_conditions(chart)
    assert synced is chart
    assert warnings == []
