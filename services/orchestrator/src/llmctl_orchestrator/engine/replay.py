"""Rebuild RunState from a run's stored events, honouring rewinds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llmctl_contracts import MessageType
from llmctl_contracts.events import RunRewound

from .evolve import evolve
from .graph import FlowchartGraph
from .state import RunState

__all__ = ["RunEvent", "effective_history", "events_before", "replay", "rewound_state"]


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One stored run event: its sequence, type and decoded payload."""

    sequence: int
    type: str
    payload: Any


def events_before(events: list[RunEvent], sequence: int) -> list[RunEvent]:
    """The events of ``events`` that precede ``sequence``."""
    return [e for e in events if e.sequence < sequence]


def rewound_state(graph: FlowchartGraph, before: list[RunEvent], current: RunState) -> RunState:
    """The state as it stood after ``before`` (the non-superseded events preceding the node
    run being rewound to), keeping ``current``'s counters so execution indexes, token order
    and the execution guard keep counting across the rewind."""
    state = replay(graph, before)
    state.execution_counts = dict(current.execution_counts)
    state.node_executions = current.node_executions
    state.token_seq = current.token_seq
    return state


def replay(graph: FlowchartGraph, events: Iterable[RunEvent]) -> RunState:
    """Fold ``events`` (in sequence order) into a fresh RunState."""
    state = RunState()
    effective: list[RunEvent] = []
    for event in events:
        if event.type == MessageType.RUN_REWOUND:
            rewind: RunRewound = event.payload
            effective = events_before(effective, rewind.from_sequence)
            state = rewound_state(graph, effective, state)
        else:
            evolve(state, graph, event.type, event.payload)
        effective.append(event)
    return state


def effective_history(events: Iterable[RunEvent]) -> list[RunEvent]:
    """``events`` without those that a later rewind superseded."""
    effective: list[RunEvent] = []
    for event in events:
        if event.type == MessageType.RUN_REWOUND:
            rewind: RunRewound = event.payload
            effective = events_before(effective, rewind.from_sequence)
        effective.append(event)
    return effective
