"""The pure token engine: graph, run state, activation. No I/O."""

from .activation import Activation, EngineError, activate_start, apply_routing, completion
from .graph import FlowchartGraph
from .state import RunState, Token

__all__ = [
    "Activation",
    "EngineError",
    "FlowchartGraph",
    "RunState",
    "Token",
    "activate_start",
    "apply_routing",
    "completion",
]
