"""The pure token engine: graph, run state, evolve/replay, activation. No I/O."""

from .activation import (
    Activation,
    EngineError,
    completion,
    fired_targets,
    next_activation,
    start_activation,
    unconsumed_tokens,
)
from .evolve import evolve
from .graph import FlowchartGraph
from .replay import RunEvent, effective_history, events_before, replay, rewound_state
from .state import RunState, Token

__all__ = [
    "Activation",
    "EngineError",
    "FlowchartGraph",
    "RunEvent",
    "RunState",
    "Token",
    "completion",
    "effective_history",
    "events_before",
    "evolve",
    "fired_targets",
    "next_activation",
    "replay",
    "rewound_state",
    "start_activation",
    "unconsumed_tokens",
]
