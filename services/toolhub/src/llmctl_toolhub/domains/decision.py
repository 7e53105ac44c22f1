"""Decision tools: records of decisions with options, scores, an evaluation and an outcome.

These serve LLMs and agents; routing of flowchart ``decision`` nodes stays in the router.
A decision moves ``open`` -> ``scored`` -> ``evaluated`` -> ``decided``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from ._rows import (
    EntityId,
    ExpectedVersion,
    Limit,
    Offset,
    assign_id,
    insert_new,
    iso,
    locked_row,
    recent_page,
    require_row,
    update_row,
)
from .errors import conflict, invalid
from .operation import DomainOperation, operation
from .tables import decisions

__all__ = [
    "OPERATIONS",
    "DecisionCreate",
    "DecisionEvaluate",
    "DecisionGet",
    "DecisionList",
    "DecisionOptions",
    "DecisionPage",
    "DecisionRecord",
    "DecisionRecordOutcome",
    "DecisionScoreOptions",
    "Evaluation",
    "OptionInput",
    "OptionRecord",
    "OptionScore",
    "Outcome",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
Score = Annotated[float, msgspec.Meta(ge=0, le=100)]
DecisionStatus = Literal["open", "scored", "evaluated", "decided"]


class _Args(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class OptionInput(_Args, frozen=True):
    """An option as written (``id`` defaults to ``option_<n>``, 1-based)."""

    label: Name
    id: EntityId | None = None
    description: Text = ""


class OptionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored option with its score (``None`` until scored)."""

    id: str
    label: str
    description: str
    score: float | None = None
    rationale: str = ""


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """The deterministic evaluation: options ranked by score, ties by their listed order."""

    recommended_option_id: str | None
    ranking: list[str]
    min_score: float
    reason: str


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What was decided, and what came of it."""

    option_id: str
    summary: str


class DecisionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored decision."""

    id: str
    title: str
    question: str
    status: DecisionStatus
    options: list[OptionRecord]
    evaluation: Evaluation | None
    outcome: Outcome | None
    version: int
    created_at: str
    updated_at: str


class DecisionPage(msgspec.Struct, frozen=True, kw_only=True):
    """Decisions, most recently updated first."""

    items: list[DecisionRecord]


class DecisionOptions(msgspec.Struct, frozen=True, kw_only=True):
    """A decision's options, in their listed order."""

    id: str
    options: list[OptionRecord]


class DecisionCreate(_Args, frozen=True):
    """Arguments of ``decision_create``."""

    title: Name
    options: Annotated[list[OptionInput], msgspec.Meta(min_length=1, max_length=50)]
    question: Text = ""
    id: EntityId | None = None


class DecisionGet(_Args, frozen=True):
    """Arguments of ``decision_get`` and ``decision_list_options``."""

    id: EntityId


class DecisionList(_Args, frozen=True):
    """Arguments of ``decision_list``."""

    status: DecisionStatus | None = None
    limit: Limit = 50
    offset: Offset = 0


class OptionScore(_Args, frozen=True):
    """One option's score (0-100) with a rationale."""

    option_id: EntityId
    score: Score
    rationale: Text = ""


class DecisionScoreOptions(_Args, frozen=True):
    """Arguments of ``decision_score_options``: scores for some or all options."""

    id: EntityId
    scores: Annotated[list[OptionScore], msgspec.Meta(min_length=1, max_length=50)]
    expected_version: ExpectedVersion | None = None


class DecisionEvaluate(_Args, frozen=True):
    """Arguments of ``decision_evaluate``: options scoring below ``min_score`` are never
    recommended."""

    id: EntityId
    min_score: Score = 0.0
    expected_version: ExpectedVersion | None = None


class DecisionRecordOutcome(_Args, frozen=True):
    """Arguments of ``decision_record_outcome``."""

    id: EntityId
    option_id: EntityId
    summary: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
    expected_version: ExpectedVersion | None = None


def _record(row: Any) -> DecisionRecord:
    return DecisionRecord(
        id=row.id,
        title=row.title,
        question=row.question,
        status=row.status,
        options=msgspec.convert(row.options, list[OptionRecord]),
        evaluation=None if row.evaluation is None else msgspec.convert(row.evaluation, Evaluation),
        outcome=None if row.outcome is None else msgspec.convert(row.outcome, Outcome),
        version=row.version,
        created_at=iso(row.created_at) or "",
        updated_at=iso(row.updated_at) or "",
    )


def _open_for_change(row: Any) -> None:
    if row.status == "decided":
        raise conflict(f"decision {row.id!r} is already decided", "id")


async def decision_create(conn: AsyncConnection, args: DecisionCreate) -> DecisionRecord:
    """Record a decision to make: a title, a question and its options."""
    options = []
    seen: set[str] = set()
    for i, option in enumerate(args.options):
        option_id = option.id or f"option_{i + 1}"
        if option_id in seen:
            raise invalid(f"options[{i}].id", f"duplicate option id {option_id!r}")
        seen.add(option_id)
        options.append(
            msgspec.to_builtins(
                OptionRecord(id=option_id, label=option.label, description=option.description)
            )
        )
    values = {
        "id": assign_id(args.id),
        "title": args.title,
        "question": args.question,
        "status": "open",
        "options": options,
        "version": 1,
    }
    return _record(await insert_new(conn, decisions, values, "decision"))


async def decision_get(conn: AsyncConnection, args: DecisionGet) -> DecisionRecord:
    """Fetch one decision with options, evaluation and outcome."""
    return _record(await require_row(conn, decisions, args.id, "decision"))


async def decision_list(conn: AsyncConnection, args: DecisionList) -> DecisionPage:
    """List decisions, most recently updated first (optionally of one ``status``)."""
    where = decisions.c.status == args.status if args.status is not None else None
    rows = await recent_page(conn, decisions, where, args.limit, args.offset)
    return DecisionPage(items=[_record(r) for r in rows])


async def decision_list_options(conn: AsyncConnection, args: DecisionGet) -> DecisionOptions:
    """A decision's options with their current scores."""
    record = _record(await require_row(conn, decisions, args.id, "decision"))
    return DecisionOptions(id=record.id, options=record.options)


async def decision_score_options(
    conn: AsyncConnection, args: DecisionScoreOptions
) -> DecisionRecord:
    """Score options (0-100, with rationale); a new score clears an earlier evaluation."""
    row = await locked_row(conn, decisions, args.id, args.expected_version, "decision")
    _open_for_change(row)
    options = {o["id"]: dict(o) for o in row.options}
    seen: set[str] = set()
    for i, score in enumerate(args.scores):
        if score.option_id not in options:
            raise invalid(
                f"scores[{i}].option_id", f"decision {row.id!r} has no option {score.option_id!r}"
            )
        if score.option_id in seen:
            raise invalid(f"scores[{i}].option_id", f"option {score.option_id!r} scored twice")
        seen.add(score.option_id)
        options[score.option_id].update(score=score.score, rationale=score.rationale)
    values = {"options": list(options.values()), "status": "scored", "evaluation": None}
    return _record(await update_row(conn, decisions, row, values))


async def decision_evaluate(conn: AsyncConnection, args: DecisionEvaluate) -> DecisionRecord:
    """Rank scored options and recommend the best one at or above ``min_score``
    (deterministic: ties go to the option listed first)."""
    row = await locked_row(conn, decisions, args.id, args.expected_version, "decision")
    _open_for_change(row)
    options = msgspec.convert(row.options, list[OptionRecord])
    unscored = [o.id for o in options if o.score is None]
    if unscored:
        raise conflict(f"decision {row.id!r} has unscored options: {', '.join(unscored)}", "scores")
    order = {o.id: i for i, o in enumerate(options)}
    ranked = sorted(options, key=lambda o: (-(o.score or 0.0), order[o.id]))
    best = ranked[0]
    eligible = (best.score or 0.0) >= args.min_score
    evaluation = Evaluation(
        recommended_option_id=best.id if eligible else None,
        ranking=[o.id for o in ranked],
        min_score=args.min_score,
        reason=(
            f"{best.id!r} has the highest score ({best.score:g})"
            if eligible
            else f"no option reaches the minimum score {args.min_score:g}"
        ),
    )
    values = {"status": "evaluated", "evaluation": msgspec.to_builtins(evaluation)}
    return _record(await update_row(conn, decisions, row, values))


async def decision_record_outcome(
    conn: AsyncConnection, args: DecisionRecordOutcome
) -> DecisionRecord:
    """Record which option was taken and what came of it (once per decision)."""
    row = await locked_row(conn, decisions, args.id, args.expected_version, "decision")
    _open_for_change(row)
    if args.option_id not in {o["id"] for o in row.options}:
        raise invalid("option_id", f"decision {row.id!r} has no option {args.option_id!r}")
    outcome = Outcome(option_id=args.option_id, summary=args.summary)
    values = {"status": "decided", "outcome": msgspec.to_builtins(outcome)}
    return _record(await update_row(conn, decisions, row, values))


OPERATIONS: list[DomainOperation] = [
    operation("decision_create", decision_create, writes=True),
    operation("decision_evaluate", decision_evaluate, writes=True),
    operation("decision_list_options", decision_list_options, writes=False),
    operation("decision_score_options", decision_score_options, writes=True),
    operation("decision_record_outcome", decision_record_outcome, writes=True),
    operation("decision_get", decision_get, writes=False),
    operation("decision_list", decision_list, writes=False),
]
