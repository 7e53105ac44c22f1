"""Decision-condition validation and connector sync/repair (pure)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from llmctl_contracts.decision_conditions import validate_connector_conditions
from llmctl_contracts.flowchart import Connector, DecisionNode
from llmctl_contracts.routing_ops import ConditionValidation


def node(conditions: list[dict[str, Any]], **kw: Any) -> DecisionNode:
    return msgspec.convert({"id": "d", "conditions": conditions, **kw}, DecisionNode)


def conns(*ids: str, dotted: tuple[str, ...] = ()) -> list[Connector]:
    out = [Connector(id=c, source="d", target=f"t-{c}") for c in ids]
    out += [
        msgspec.convert({"id": c, "source": "d", "target": f"t-{c}", "kind": "dotted"}, Connector)
        for c in dotted
    ]
    return out


def cond(connector_id: str, op: str = "eq", **pred: Any) -> dict[str, Any]:
    return {"connector_id": connector_id, "predicate": {"op": op, **pred}}


def check(conditions: list[dict[str, Any]], *ids: str, **kw: Any) -> ConditionValidation:
    return validate_connector_conditions(node(conditions, **kw), conns(*ids))


def fields(result: ConditionValidation) -> list[str]:
    return [e.field for e in result.errors]


GOOD = cond("a", "eq", path="output.route_key", value="yes")


def test_valid_conditions_pass_unchanged() -> None:
    conditions = [
        GOOD,
        cond("b", "in", path="output.tag", value=["x", "y"]),
        cond("c", "matches", path="output.text", value=r"^ok\b"),
    ]
    result = check(conditions, "a", "b", "c")
    assert result.valid
    assert result.errors == []
    assert result.warnings == []
    assert result.repaired_conditions == node(conditions).conditions


def test_combinators_are_valid() -> None:
    pred = {
        "op": "all",
        "of": [
            {"op": "gt", "path": "output.score", "value": 3},
            {"op": "not", "of": [{"op": "exists", "path": "output.error"}]},
            {"op": "any", "of": [{"op": "contains", "path": "output.tags", "value": "x"}]},
        ],
    }
    result = check([{"connector_id": "a", "predicate": pred}], "a")
    assert result.valid, result.errors


@pytest.mark.parametrize(
    ("predicate", "field", "reason"),
    [
        ({"op": "eq", "value": 1}, "conditions[0].predicate.path", "needs a path"),
        ({"op": "gt", "path": "", "value": 1}, "conditions[0].predicate.path", "needs a path"),
        ({"op": "exists", "path": "   "}, "conditions[0].predicate.path", "needs a path"),
        ({"op": "in", "path": "output.x", "value": "abc"}, "conditions[0].predicate.value", "list"),
        ({"op": "in", "path": "output.x"}, "conditions[0].predicate.value", "list"),
        ({"op": "all"}, "conditions[0].predicate.of", "needs sub-predicates"),
        ({"op": "any", "of": []}, "conditions[0].predicate.of", "needs sub-predicates"),
        ({"op": "not"}, "conditions[0].predicate.of", "needs sub-predicates"),
        (
            {
                "op": "not",
                "of": [{"op": "exists", "path": "a.b"}, {"op": "exists", "path": "a.c"}],
            },
            "conditions[0].predicate.of",
            "exactly one",
        ),
        (
            {"op": "matches", "path": "output.t", "value": "(unclosed"},
            "conditions[0].predicate.value",
            "invalid regex",
        ),
        (
            {"op": "matches", "path": "output.t", "value": "[z-a]"},
            "conditions[0].predicate.value",
            "invalid regex",
        ),
        (
            {"op": "matches", "path": "output.t", "value": 5},
            "conditions[0].predicate.value",
            "regex",
        ),
        ({"op": "matches", "path": "output.t"}, "conditions[0].predicate.value", "regex"),
        ({"op": "gt", "path": "output.n"}, "conditions[0].predicate.value", "number or string"),
        (
            {"op": "lte", "path": "output.n", "value": True},
            "conditions[0].predicate.value",
            "number",
        ),
        ({"op": "lt", "path": "output.n", "value": [1]}, "conditions[0].predicate.value", "number"),
        (
            {"op": "exists", "path": "output.n", "value": "yes"},
            "conditions[0].predicate.value",
            "true",
        ),
        (
            {"op": "eq", "path": "output.n", "value": 1, "of": [{"op": "exists", "path": "a.b"}]},
            "conditions[0].predicate.of",
            "takes no 'of'",
        ),
        (
            {"op": "all", "path": "output.n", "of": [{"op": "exists", "path": "a.b"}]},
            "conditions[0].predicate.path",
            "takes no path",
        ),
        (
            {"op": "any", "value": 3, "of": [{"op": "exists", "path": "a.b"}]},
            "conditions[0].predicate.value",
            "takes no value",
        ),
    ],
)
def test_predicate_structural_errors(predicate: dict[str, Any], field: str, reason: str) -> None:
    result = check([{"connector_id": "a", "predicate": predicate}], "a")
    assert not result.valid
    assert field in fields(result), result.errors
    assert any(reason in e.reason for e in result.errors if e.field == field)


def test_nested_predicate_errors_name_the_sub_predicate() -> None:
    pred = {
        "op": "all",
        "of": [
            {"op": "eq", "path": "output.a", "value": 1},
            {
                "op": "any",
                "of": [{"op": "eq", "value": 1}, {"op": "in", "path": "x.y", "value": 3}],
            },
            {"op": "not", "of": [{"op": "matches", "path": "x.z", "value": "*"}]},
        ],
    }
    result = check([GOOD, {"connector_id": "b", "predicate": pred}], "a", "b")
    assert fields(result) == [
        "conditions[1].predicate.of[1].of[0].path",
        "conditions[1].predicate.of[1].of[1].value",
        "conditions[1].predicate.of[2].of[0].value",
    ]


def test_several_errors_are_all_reported() -> None:
    result = check([cond("a", "eq"), cond("zz", "in", path="p.q", value=1)], "a")
    assert fields(result) == [
        "conditions[0].predicate.path",
        "conditions[1].connector_id",
        "conditions[1].predicate.value",
    ]


def test_condition_for_unknown_connector_is_an_error_and_dropped() -> None:
    result = check([GOOD, cond("gone", path="output.x", value=1)], "a")
    assert not result.valid
    assert fields(result) == ["conditions[1].connector_id"]
    assert "'gone'" in result.errors[0].reason
    assert [c.connector_id for c in result.repaired_conditions] == ["a"]
    assert any("'gone'" in w and "dropped" in w for w in result.warnings)


def test_condition_for_dotted_connector_is_an_error() -> None:
    outgoing = conns("a", dotted=("ctx",))
    result = validate_connector_conditions(
        node([GOOD, cond("ctx", path="output.x", value=1)]), outgoing
    )
    assert fields(result) == ["conditions[1].connector_id"]
    assert "dotted" in result.errors[0].reason
    assert [c.connector_id for c in result.repaired_conditions] == ["a"]


def test_duplicate_condition_connector_ids() -> None:
    second = cond("a", "eq", path="output.route_key", value="no")
    result = check([GOOD, second], "a")
    assert fields(result) == ["conditions[1].connector_id"]
    assert "duplicate" in result.errors[0].reason
    assert result.repaired_conditions == node([GOOD]).conditions
    assert any("duplicate" in w for w in result.warnings)


@pytest.mark.parametrize(
    "condition",
    [
        {"connector_id": "a"},
        {"connector_id": "a", "text": ""},
        {"connector_id": "a", "text": "   "},
        {"connector_id": "a", "text": None, "predicate": None},
    ],
)
def test_condition_needs_predicate_or_text(condition: dict[str, Any]) -> None:
    result = check([condition], "a")
    assert fields(result) == ["conditions[0]"]
    assert "predicate or text" in result.errors[0].reason


def test_fallback_policy_without_connector() -> None:
    result = check([GOOD], "a", no_match_policy="fallback")
    assert fields(result) == ["fallback_connector_id"]
    assert "needs a connector" in result.errors[0].reason


def test_fallback_connector_not_in_outgoing() -> None:
    result = check([GOOD], "a", no_match_policy="fallback", fallback_connector_id="gone")
    assert fields(result) == ["fallback_connector_id"]
    assert "'gone'" in result.errors[0].reason


def test_fallback_connector_must_be_solid() -> None:
    result = validate_connector_conditions(
        node([GOOD], no_match_policy="fallback", fallback_connector_id="ctx"),
        conns("a", dotted=("ctx",)),
    )
    assert fields(result) == ["fallback_connector_id"]


def test_fallback_connector_without_condition_is_fine() -> None:
    result = check([GOOD], "a", "else", no_match_policy="fallback", fallback_connector_id="else")
    assert result.valid
    assert result.warnings == ["connector 'else' has no condition; it fires only as the fallback"]


def test_fallback_connector_ignored_under_fail_policy_is_a_warning() -> None:
    result = check([GOOD], "a", fallback_connector_id="a")
    assert result.valid
    assert any("ignored" in w for w in result.warnings)


def test_new_connector_gets_a_warning_not_an_invented_condition() -> None:
    result = check([GOOD], "a", "new")
    assert result.valid
    assert [c.connector_id for c in result.repaired_conditions] == ["a"]
    assert result.warnings == ["connector 'new' has no condition and will never match"]


def test_repair_follows_outgoing_order_and_drops_removed() -> None:
    conditions = [
        cond("c", path="output.x", value=3),
        cond("removed1", path="output.x", value=9),
        cond("a", path="output.x", value=1),
        cond("removed2", path="output.x", value=8),
    ]
    result = check(conditions, "a", "b", "c")
    assert not result.valid
    assert [c.connector_id for c in result.repaired_conditions] == ["a", "c"]
    assert [c.predicate.value for c in result.repaired_conditions if c.predicate] == [1, 3]
    dropped = [w for w in result.warnings if "dropped" in w]
    assert len(dropped) == 2
    assert "'removed1'" in dropped[0]
    assert "'removed2'" in dropped[1]
    assert "connector 'b' has no condition and will never match" in result.warnings
    # The repaired conditions validate cleanly against the same connectors.
    again = validate_connector_conditions(
        msgspec.structs.replace(node([]), conditions=result.repaired_conditions),
        conns("a", "b", "c"),
    )
    assert again.valid


def test_unparseable_text_warns_about_heuristic() -> None:
    result = check([{"connector_id": "a", "text": "the answer looks positive"}], "a")
    assert result.valid
    assert len(result.warnings) == 1
    assert "heuristic" in result.warnings[0]
    assert "fallback_used" in result.warnings[0]


@pytest.mark.parametrize(
    "text", ["output.route_key == 'yes'", "output.tags contains x", "latest_upstream.output.ok"]
)
def test_parseable_text_is_quiet(text: str) -> None:
    result = check([{"connector_id": "a", "text": text}], "a")
    assert result.valid
    assert result.warnings == []


def test_predicate_wins_over_text() -> None:
    condition = {**GOOD, "text": "free words"}
    result = check([condition], "a")
    assert result.valid
    assert result.warnings == []


def test_no_solid_outgoing_connector() -> None:
    result = validate_connector_conditions(node([]), conns(dotted=("ctx",)))
    assert fields(result) == ["outgoing"]


def test_outgoing_connector_from_another_node() -> None:
    outgoing = [*conns("a"), Connector(id="x", source="other", target="t")]
    result = validate_connector_conditions(node([GOOD]), outgoing)
    assert fields(result) == ["outgoing[1].source"]


def test_duplicate_outgoing_connector_ids() -> None:
    result = validate_connector_conditions(node([GOOD]), conns("a", "a"))
    assert fields(result) == ["outgoing[1].id"]
    assert [c.connector_id for c in result.repaired_conditions] == ["a"]


def test_result_round_trips_as_json() -> None:
    result = check([GOOD, cond("gone", "in", path="x.y", value=1)], "a", "b")
    encoded = msgspec.json.encode(result)
    assert msgspec.json.decode(encoded, type=ConditionValidation) == result
