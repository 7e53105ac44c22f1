"""Routing decisions: all-solid for plain nodes, predicates and legacy text for decisions."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from llmctl_contracts.commands import RouteNode
from llmctl_contracts.decision_conditions import parse_condition_text
from llmctl_router.decide import RoutingFailure, decide


def route(
    node: dict[str, Any],
    outgoing: list[str],
    output: dict[str, Any],
    context: dict[str, Any] | None = None,
) -> RouteNode:
    return msgspec.convert(
        {
            "node_run_id": "nr",
            "node": node,
            "output": output,
            "context": context or {},
            "outgoing": [{"id": c, "source": node["id"], "target": f"t-{c}"} for c in outgoing],
        },
        RouteNode,
    )


def decision(conditions: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {"type": "decision", "id": "d", "conditions": conditions, **kw}


def test_plain_node_fires_every_solid_connector() -> None:
    state = decide(route({"type": "task", "id": "t", "prompt": "p"}, ["a", "b"], {}))
    assert state.matched_connector_ids == ["a", "b"]
    assert not state.terminate_run


def test_end_node_terminates() -> None:
    assert decide(route({"type": "end", "id": "e"}, [], {})).terminate_run


def test_multi_match_fans_out() -> None:
    conds = [
        {"connector_id": "a", "predicate": {"op": "gt", "path": "output.score", "value": 5}},
        {"connector_id": "b", "predicate": {"op": "in", "path": "output.tag", "value": ["x", "y"]}},
        {"connector_id": "c", "predicate": {"op": "eq", "path": "output.tag", "value": "z"}},
    ]
    state = decide(route(decision(conds), ["a", "b", "c"], {"score": 9, "tag": "x"}))
    assert state.matched_connector_ids == ["a", "b"]
    assert [e.matched for e in state.evaluations] == [True, True, False]
    assert not state.fallback_used


def test_combinators() -> None:
    pred = {
        "op": "all",
        "of": [
            {"op": "exists", "path": "output.a"},
            {"op": "not", "of": [{"op": "matches", "path": "output.a", "value": "^no"}]},
            {
                "op": "any",
                "of": [
                    {"op": "lte", "path": "output.n", "value": 1},
                    {"op": "contains", "path": "output.a", "value": "yes"},
                ],
            },
        ],
    }
    assert decide(
        route(decision([{"connector_id": "a", "predicate": pred}]), ["a"], {"a": "yes!", "n": 4})
    ).matched_connector_ids == ["a"]


def test_no_match_uses_fallback_connector() -> None:
    node = decision(
        [{"connector_id": "a", "predicate": {"op": "eq", "path": "output.k", "value": 1}}],
        no_match_policy="fallback",
        fallback_connector_id="b",
    )
    state = decide(route(node, ["a", "b"], {"k": 2}))
    assert state.matched_connector_ids == ["b"]
    assert state.no_match


def test_no_match_without_fallback_fails() -> None:
    node = decision(
        [{"connector_id": "a", "predicate": {"op": "eq", "path": "output.k", "value": 1}}]
    )
    with pytest.raises(RoutingFailure) as info:
        decide(route(node, ["a"], {"k": 2}))
    assert info.value.state.no_match


def test_invalid_predicate_fails_fast() -> None:
    node = decision(
        [{"connector_id": "a", "predicate": {"op": "gt", "path": "output.k", "value": 1}}]
    )
    with pytest.raises(RoutingFailure, match="invalid"):
        decide(route(node, ["a"], {"k": "text"}))


def test_condition_for_unknown_connector_fails_fast() -> None:
    node = decision([{"connector_id": "zz", "text": "x == 1"}])
    with pytest.raises(RoutingFailure, match="unknown connector"):
        decide(route(node, ["a"], {}))


def test_legacy_text_is_parsed_into_a_predicate() -> None:
    node = decision([{"connector_id": "a", "text": "latest_upstream.output.route_key == 'go'"}])
    ctx = {"latest_upstream": {"output": {"route_key": "go"}}}
    state = decide(route(node, ["a"], {}, ctx))
    assert state.matched_connector_ids == ["a"]
    assert state.evaluations[0].method == "parsed_text"
    assert state.route_key == "go"
    assert not state.fallback_used


def test_free_text_uses_marked_heuristic() -> None:
    node = decision(
        [{"connector_id": "a", "text": "approved"}, {"connector_id": "b", "text": "rejected"}]
    )
    state = decide(route(node, ["a", "b"], {"verdict": "Approved by reviewer"}))
    assert state.matched_connector_ids == ["a"]
    assert state.fallback_used
    assert {e.method for e in state.evaluations} == {"heuristic"}


@pytest.mark.parametrize(
    ("text", "op", "path", "value"),
    [
        ("a.b == 3", "eq", "a.b", 3),
        ('a.b != "x y"', "ne", "a.b", "x y"),
        ("a.b contains foo", "contains", "a.b", "foo"),
    ],
)
def test_parse_legacy_forms(text: str, op: str, path: str, value: Any) -> None:
    pred = parse_condition_text(text)
    assert pred is not None
    assert (pred.op.value, pred.path, pred.value) == (op, path, value)


@pytest.mark.parametrize(
    ("value", "matched"),
    [
        (True, True),
        ("yes", True),
        (1, True),
        (0.5, True),
        ([0], True),
        ({"k": None}, True),
        (False, False),
        (0, False),
        (0.0, False),
        ("", False),
        ([], False),
        ({}, False),
        (None, False),
    ],
)
def test_bare_path_holds_when_the_value_is_truthy(value: Any, matched: bool) -> None:
    """A legacy bare path is a truthiness test, as in the legacy runtime, not mere presence."""
    node = decision(
        [{"connector_id": "a", "text": "output.flag"}],
        no_match_policy="fallback",
        fallback_connector_id="b",
    )
    state = decide(route(node, ["a", "b"], {"flag": value}))
    assert state.evaluations[0].method == "parsed_text"
    assert state.evaluations[0].matched is matched
    assert not state.fallback_used


def test_bare_path_to_a_missing_value_does_not_hold() -> None:
    node = decision(
        [{"connector_id": "a", "text": "output.flag"}],
        no_match_policy="fallback",
        fallback_connector_id="b",
    )
    assert not decide(route(node, ["a", "b"], {"other": 1})).evaluations[0].matched


def test_text_naming_the_route_key_is_the_deterministic_legacy_form() -> None:
    """Text equal to the upstream route key (any case) matches without the heuristic; the
    other free-text conditions of the node still fall to the marked substring search."""
    node = decision(
        [{"connector_id": "a", "text": "Approve"}, {"connector_id": "b", "text": "escalate"}]
    )
    ctx = {"latest_upstream": {"output": {"route_key": "approve"}}}
    state = decide(route(node, ["a", "b"], {}, ctx))
    assert state.matched_connector_ids == ["a"]
    first, second = state.evaluations
    assert (first.method, first.matched) == ("parsed_text", True)
    assert "route_key" in first.reason
    assert (second.method, second.matched) == ("heuristic", False)
    assert state.fallback_used


def test_route_key_match_alone_is_not_a_heuristic() -> None:
    node = decision([{"connector_id": "a", "text": "approve"}])
    state = decide(route(node, ["a"], {"route_key": "approve"}))
    assert state.matched_connector_ids == ["a"]
    assert not state.fallback_used


def test_unparseable_text_is_none() -> None:
    assert parse_condition_text("the reviewer approved") is None


def test_milestone_output_can_terminate_the_run_with_its_route_key() -> None:
    node = {"type": "milestone", "id": "m"}
    state = decide(route(node, ["loop"], {"terminate_run": True, "route_key": "finished"}))
    assert state.terminate_run
    assert state.route_key == "finished"


def test_milestone_that_does_not_terminate_keeps_the_loop_going() -> None:
    node = {"type": "milestone", "id": "m"}
    state = decide(route(node, ["loop"], {"terminate_run": False, "route_key": "ga_done"}))
    assert (state.terminate_run, state.matched_connector_ids, state.route_key) == (
        False,
        ["loop"],
        "ga_done",
    )


def test_only_milestones_terminate_from_their_output() -> None:
    task = {"type": "task", "id": "t", "prompt": "p"}
    assert not decide(route(task, ["a"], {"terminate_run": True})).terminate_run
    milestone = {"type": "milestone", "id": "m"}
    assert not decide(route(milestone, ["a"], {"terminate_run": "yes"})).terminate_run
