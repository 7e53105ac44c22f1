"""Decision tools on real Postgres, through the invoker: good input and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from llmctl_libs.tools import NodeRunTools

OPTIONS = [{"label": "Postgres"}, {"label": "SQLite"}, {"id": "files", "label": "Flat files"}]


async def _decision(tools: NodeRunTools) -> dict[str, Any]:
    return await tools(
        "decision_create", {"title": "Store", "question": "Where do runs live?", "options": OPTIONS}
    )


async def test_full_lifecycle(tools: NodeRunTools) -> None:
    decision = await _decision(tools)
    assert decision["status"] == "open"
    options = await tools("decision_list_options", {"id": decision["id"]})
    assert [o["id"] for o in options["options"]] == ["option_1", "option_2", "files"]
    assert all(o["score"] is None for o in options["options"])

    scored = await tools(
        "decision_score_options",
        {
            "id": decision["id"],
            "scores": [
                {"option_id": "option_1", "score": 80, "rationale": "durable"},
                {"option_id": "option_2", "score": 80},
                {"option_id": "files", "score": 10},
            ],
        },
    )
    assert scored["status"] == "scored"
    evaluated = await tools("decision_evaluate", {"id": decision["id"], "expected_version": 2})
    evaluation = evaluated["evaluation"]
    assert evaluation["recommended_option_id"] == "option_1"  # tie: the option listed first
    assert evaluation["ranking"] == ["option_1", "option_2", "files"]
    decided = await tools(
        "decision_record_outcome",
        {"id": decision["id"], "option_id": "option_1", "summary": "went with Postgres"},
    )
    assert decided["status"] == "decided"
    assert decided["outcome"] == {"option_id": "option_1", "summary": "went with Postgres"}
    assert await tools("decision_get", {"id": decision["id"]}) == decided
    listed = await tools("decision_list", {"status": "decided", "limit": 200})
    assert decision["id"] in [d["id"] for d in listed["items"]]


async def test_min_score_can_leave_no_recommendation(tools: NodeRunTools) -> None:
    decision = await _decision(tools)
    await tools(
        "decision_score_options",
        {
            "id": decision["id"],
            "scores": [{"option_id": o, "score": 20} for o in ("option_1", "option_2", "files")],
        },
    )
    evaluated = await tools("decision_evaluate", {"id": decision["id"], "min_score": 50})
    assert evaluated["evaluation"]["recommended_option_id"] is None
    assert "minimum score 50" in evaluated["evaluation"]["reason"]


async def test_evaluating_unscored_options_conflicts(tools: NodeRunTools, refused: Any) -> None:
    decision = await _decision(tools)
    await tools(
        "decision_score_options",
        {"id": decision["id"], "scores": [{"option_id": "files", "score": 5}]},
    )
    error = await refused(tools, "decision_evaluate", {"id": decision["id"]})
    assert (error.code, error.details[0].field) == ("conflict", "arguments.scores")
    assert "option_1, option_2" in error.message


async def test_decided_decision_is_closed(tools: NodeRunTools, refused: Any) -> None:
    decision = await _decision(tools)
    await tools(
        "decision_record_outcome", {"id": decision["id"], "option_id": "files", "summary": "ok"}
    )
    for tool, arguments in [
        ("decision_record_outcome", {"option_id": "option_1", "summary": "changed my mind"}),
        ("decision_score_options", {"scores": [{"option_id": "files", "score": 1}]}),
        ("decision_evaluate", {}),
    ]:
        error = await refused(tools, tool, {"id": decision["id"], **arguments})
        assert (error.code, error.details[0].field) == ("conflict", "arguments.id"), tool
    assert (await tools("decision_get", {"id": decision["id"]}))["outcome"]["option_id"] == "files"


async def test_unknown_or_repeated_options_are_refused(tools: NodeRunTools, refused: Any) -> None:
    decision = await _decision(tools)
    error = await refused(
        tools,
        "decision_score_options",
        {
            "id": decision["id"],
            "scores": [{"option_id": "files", "score": 1}, {"option_id": "mongo", "score": 2}],
        },
    )
    assert (error.code, error.details[0].field) == (
        "validation_failed",
        "arguments.scores[1].option_id",
    )
    error = await refused(
        tools,
        "decision_score_options",
        {
            "id": decision["id"],
            "scores": [{"option_id": "files", "score": 1}, {"option_id": "files", "score": 2}],
        },
    )
    assert (error.code, error.details[0].field) == (
        "validation_failed",
        "arguments.scores[1].option_id",
    )
    error = await refused(
        tools,
        "decision_record_outcome",
        {"id": decision["id"], "option_id": "mongo", "summary": "x"},
    )
    assert (error.code, error.details[0].field) == ("validation_failed", "arguments.option_id")
    assert (await tools("decision_get", {"id": decision["id"]}))["version"] == 1


async def test_stale_version_conflicts(tools: NodeRunTools, refused: Any) -> None:
    decision = await _decision(tools)
    error = await refused(
        tools,
        "decision_score_options",
        {
            "id": decision["id"],
            "expected_version": 2,
            "scores": [{"option_id": "files", "score": 1}],
        },
    )
    assert (error.code, error.details[0].field) == ("conflict", "arguments.expected_version")


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("decision_get", {"id": "no-dec"}),
        ("decision_list_options", {"id": "no-dec"}),
        ("decision_evaluate", {"id": "no-dec"}),
        ("decision_score_options", {"id": "no-dec", "scores": [{"option_id": "a", "score": 1}]}),
        ("decision_record_outcome", {"id": "no-dec", "option_id": "a", "summary": "s"}),
    ],
)
async def test_missing_decision_is_not_found(
    tools: NodeRunTools, refused: Any, tool: str, arguments: dict[str, Any]
) -> None:
    error = await refused(tools, tool, arguments)
    assert (error.code, error.details[0].field) == ("not_found", "arguments.id")


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("decision_create", {"title": "t", "options": []}, "arguments.options"),
        ("decision_create", {"options": [{"label": "a"}]}, "arguments.title"),
        (
            "decision_create",
            {"title": "t", "options": [{"label": "a", "id": "x"}, {"label": "b", "id": "x"}]},
            "arguments.options[1].id",
        ),
        (
            "decision_score_options",
            {"id": "d", "scores": [{"option_id": "a", "score": 101}]},
            "arguments.scores[0].score",
        ),
        ("decision_score_options", {"id": "d", "scores": []}, "arguments.scores"),
        ("decision_evaluate", {"id": "d", "min_score": -1}, "arguments.min_score"),
        (
            "decision_record_outcome",
            {"id": "d", "option_id": "a", "summary": ""},
            "arguments.summary",
        ),
        ("decision_list", {"status": "closed"}, "arguments.status"),
    ],
)
async def test_schema_violations_name_the_field(
    tools: NodeRunTools, refused: Any, tool: str, arguments: dict[str, Any], field: str
) -> None:
    error = await refused(tools, tool, arguments)
    assert (error.code, error.details[0].field) == ("validation_failed", field)
