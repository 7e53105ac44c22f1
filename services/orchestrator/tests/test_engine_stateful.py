"""Stateful property test of the token engine against a naive reference model.

Random flowcharts (start + 3-7 task/decision nodes, maybe an end node; solid connectors with
back-edges, self-loops and parallel connectors; dotted connectors; all/any/custom fan-in; a
small max node executions guard; a small parallel limit; tasks that fail and retry) are run
through a pure copy of the coordinator's steps (``Steps``: the inbox, the staleness checks,
activation, dispatch under the parallel limit, retries, run completion and failure), driven by
the engine and recorded with ``EngineDriver``. Worker and router reports are delivered from a
bag in random order, duplicated, and redelivered under the same key (the inbox absorbs them)
or under a fresh key (the state checks must absorb them).

``Reference`` is written from the spec (architecture section 5) without calling the engine:
FIFO token lists per (target, parent), the fan-in rule, the guard, node run phases. After
every step the two must agree on activations (node, execution index, consumed tokens),
commands sent, run status, open/ready/in-flight node runs and tokens; the event log must show
every node run queued, executed and routed at most once; and replaying the events must give
the live state. At the end the run is complete, with the same unconsumed tokens, and a run
fed only the first delivery of each report ends with the very same events.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from llmctl_contracts import MessageType
from llmctl_contracts.errors import ErrorBody, ErrorCode
from llmctl_contracts.events import (
    NodeDispatched,
    NodeFailed,
    NodeRetryScheduled,
    NodeRouted,
    RunFailed,
    RunSucceeded,
)
from llmctl_contracts.flowchart import (
    DecisionNode,
    EndNode,
    FlowchartDefinition,
    NoMatchPolicy,
    StartNode,
)
from llmctl_contracts.routing import RoutingState
from llmctl_orchestrator.engine import (
    Activation,
    EngineError,
    FlowchartGraph,
    RunState,
    completion,
    fired_targets,
    next_activation,
    replay,
    start_activation,
    unconsumed_tokens,
)
from llmctl_orchestrator.validation import clamp_fan_in, validate_flowchart

if TYPE_CHECKING:
    from conftest import EngineDriver

    Driver = type[EngineDriver]
else:
    Driver = Any

_INLINE = (StartNode, EndNode, DecisionNode)

ActivationView = tuple[str, int, tuple[tuple[int, str, str], ...]]
"""(node id, execution index, consumed tokens as (seq, connector id, source node run id))."""
TokenView = dict[tuple[str, str], list[tuple[int, str, str]]]
"""(target, parent) -> its queued tokens, oldest first, as (seq, connector, source node run)."""


def _hash(*parts: object) -> int:
    """A stable hash (``hash()`` of a str changes between processes)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


# -- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """A command the coordinator sent (execute one attempt, or route a finished node run)."""

    key: str
    node_run_id: str
    node_id: str
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class Report:
    """A worker's ``node.executed`` or the router's ``node.routed``, as the coordinator gets it.

    ``origin`` is the idempotency key its sender gave it; ``key`` the one it arrives with (a
    fresh one for a copy whose first delivery the inbox no longer remembers).
    """

    kind: Literal["executed", "routed"]
    origin: str
    key: str
    node_run_id: str
    node_id: str
    attempt: int = 0
    succeeded: bool = True
    fired: tuple[str, ...] = ()
    terminate: bool = False
    error: bool = False


@dataclass(frozen=True, slots=True)
class Flow:
    """A generated flowchart and how its simulated workers and router behave."""

    doc: dict[str, Any]
    salt: int
    fail_pct: int


def reply(graph: FlowchartGraph, flow: Flow, command: Command) -> Report:
    """The worker's or router's answer to ``command``: a function of the command alone, so a
    redone command gets the same answer.

    A task attempt fails with ``flow.fail_pct`` percent chance. The router fires every solid
    outgoing connector, an end node terminates the run, and a decision fires a hash-chosen
    non-empty subset (none matched: the fallback connector, or a routing error).
    """
    nr = command.node_run_id
    if command.key.startswith("execute:"):
        ok = _hash(flow.salt, "exec", nr, command.attempt) % 100 >= flow.fail_pct
        origin = f"executed:{nr}:{command.attempt}"
        return Report("executed", origin, origin, nr, command.node_id, command.attempt, ok)
    origin = f"routed:{nr}"
    node = graph.nodes[command.node_id]
    outgoing = tuple(c.id for c in graph.solid_out[node.id])
    if not isinstance(node, DecisionNode):
        return Report(
            "routed",
            origin,
            origin,
            nr,
            node.id,
            fired=outgoing,
            terminate=isinstance(node, EndNode),
        )
    fired = tuple(c for c in outgoing if _hash(flow.salt, "route", nr, c) % 3)
    if fired:
        return Report("routed", origin, origin, nr, node.id, fired=fired)
    if node.no_match_policy is NoMatchPolicy.FALLBACK:
        assert node.fallback_connector_id is not None
        return Report("routed", origin, origin, nr, node.id, fired=(node.fallback_connector_id,))
    return Report("routed", origin, origin, nr, node.id, error=True)


# -- the system under test: the coordinator's steps over the engine -----------------------------


class Steps:
    """``RunCoordinator.on_executed`` / ``on_routed`` without I/O, event for event.

    The inbox is a set of keys; the node run rows are (status, attempt); commands are listed
    instead of written to the outbox. Every run event goes through the driver (``evolve``).
    """

    def __init__(self, driver: EngineDriver) -> None:
        self.driver = driver
        self.graph = driver.graph
        self.inbox: set[str] = set()
        self.status = "running"
        self.outcome: str | None = None
        """terminated / quiescent, or why it failed: guard / node / route."""
        self.failed_node_run_id: str | None = None
        self.rows: dict[str, tuple[str, int]] = {}
        self.commands: list[Command] = []
        self.made: list[Activation] = []

    @property
    def state(self) -> RunState:
        return self.driver.state

    def start(self) -> None:
        """``start_run``: queue the start node (inline: it succeeds and asks for routing)."""
        self._queue(start_activation(self.state, self.graph))

    def deliver(self, report: Report) -> bool:
        """Handle one report; whether it changed anything."""
        if report.key in self.inbox:
            return False
        self.inbox.add(report.key)
        if self.status != "running":
            return False  # lock_run: a terminal run takes no more steps
        if report.kind == "executed":
            return self._on_executed(report)
        return self._on_routed(report)

    def _on_executed(self, report: Report) -> bool:
        nr = report.node_run_id
        if self.rows.get(nr) != ("dispatched", report.attempt) or nr not in self.state.in_flight:
            return False  # is_running: late, stale or superseded
        if report.succeeded:
            self._succeed(nr)
        else:
            self._attempt_failed(nr, report.attempt)
        self._fill_slots()
        return True

    def _on_routed(self, report: Report) -> bool:
        nr, state = report.node_run_id, self.state
        if nr not in state.open_node_runs:
            return False  # routed already
        if nr in state.ready + state.in_flight:
            return False  # re-queued after the decision was asked for
        routing = RoutingState(
            matched_connector_ids=list(report.fired), terminate_run=report.terminate
        )
        self.driver.emit(
            MessageType.NODE_ROUTED,
            NodeRouted(node_run_id=nr, node_id=report.node_id, routing_state=routing),
        )
        self.rows[nr] = ("routed", self.rows[nr][1])
        if report.error:  # routing_failed: the node run fails, then the run
            attempt = self.rows[nr][1]
            self.driver.emit(
                MessageType.NODE_FAILED,
                NodeFailed(
                    node_run_id=nr,
                    node_id=report.node_id,
                    error=ErrorBody(code=ErrorCode.INTERNAL, message="route"),
                    attempt=attempt,
                ),
            )
            self.rows[nr] = ("failed", attempt)
            self._fail_run("route", nr)
            return True
        try:
            targets = fired_targets(self.graph, list(report.fired))
            if not state.terminated:
                for target in targets:
                    while (activation := next_activation(state, self.graph, target)) is not None:
                        self._queue(activation)
        except EngineError as exc:
            if "max node executions" not in str(exc):
                raise
            self._fail_run("guard", nr)
            return True
        self._fill_slots()
        self._maybe_complete()
        return True

    def _queue(self, activation: Activation) -> None:
        nr = self.driver.queue(activation)
        self.rows[nr] = ("queued", 0)
        self.made.append(activation)
        self._launch(nr)

    def _launch(self, nr: str) -> None:
        node = self.graph.nodes[self.driver.activations[nr].node_id]
        if isinstance(node, _INLINE):
            self._succeed(nr)
        elif len(self.state.in_flight) < self.graph.definition.limits.max_parallel_nodes:
            self._dispatch(nr, self.state.attempts_before.get(nr, 0) + 1)

    def _dispatch(self, nr: str, attempt: int) -> None:
        node_id = self.driver.activations[nr].node_id
        self.driver.emit(
            MessageType.NODE_DISPATCHED,
            NodeDispatched(node_run_id=nr, node_id=node_id, worker="frontier", attempt=attempt),
        )
        self.commands.append(Command(f"execute:{nr}:attempt:{attempt}", nr, node_id, attempt))
        self.rows[nr] = ("dispatched", attempt)

    def _succeed(self, nr: str) -> None:
        self.driver.succeed(nr)
        self.rows[nr] = ("succeeded", self.rows[nr][1])
        self.commands.append(Command(f"route:{nr}", nr, self.driver.activations[nr].node_id))

    def _attempt_failed(self, nr: str, attempt: int) -> None:
        node = self.graph.nodes[self.driver.activations[nr].node_id]
        error = ErrorBody(code=ErrorCode.INTERNAL, message="boom")
        max_attempts = node.max_attempts or self.graph.definition.defaults.max_attempts
        if attempt - self.state.attempts_before.get(nr, 0) >= max_attempts:
            self.driver.emit(
                MessageType.NODE_FAILED,
                NodeFailed(node_run_id=nr, node_id=node.id, error=error, attempt=attempt),
            )
            self.rows[nr] = ("failed", attempt)
            self._fail_run("node", nr)
            return
        self.driver.emit(
            MessageType.NODE_RETRY_SCHEDULED,
            NodeRetryScheduled(
                node_run_id=nr,
                node_id=node.id,
                attempt=attempt,
                error=error,
                next_attempt=attempt + 1,
                delay_ms=0,
            ),
        )
        self.rows[nr] = ("queued", attempt)
        self._dispatch(nr, attempt + 1)

    def _fill_slots(self) -> None:
        limit = self.graph.definition.limits.max_parallel_nodes
        while self.state.ready and self.status == "running":
            free = limit - len(self.state.in_flight)
            if free <= 0:
                return
            for nr in self.state.ready[:free]:
                self._launch(nr)

    def _cancel(self) -> list[str]:
        ids = self.state.in_flight + self.state.ready
        cancelled = sorted(nr for nr in ids if self.rows[nr][0] in ("queued", "dispatched"))
        for nr in cancelled:
            self.rows[nr] = ("cancelled", self.rows[nr][1])
        return cancelled

    def _fail_run(self, why: str, nr: str) -> None:
        code = ErrorCode.CONFLICT if why == "guard" else ErrorCode.INTERNAL
        cancelled = self._cancel()
        self.driver.emit(
            MessageType.RUN_FAILED,
            RunFailed(
                error=ErrorBody(code=code, message=why),
                failed_node_run_id=nr,
                node_executions=self.state.node_executions,
                unconsumed_tokens=unconsumed_tokens(self.state),
                cancelled_node_run_ids=cancelled,
            ),
        )
        self.status, self.outcome, self.failed_node_run_id = "failed", why, nr

    def _maybe_complete(self) -> None:
        reason = completion(self.state)
        if reason is None:
            return
        cancelled = self._cancel() if reason == "terminated" else []
        self.driver.emit(
            MessageType.RUN_SUCCEEDED,
            RunSucceeded(
                reason=reason,
                node_executions=self.state.node_executions,
                unconsumed_tokens=unconsumed_tokens(self.state),
                cancelled_node_run_ids=cancelled,
            ),
        )
        self.status, self.outcome = "succeeded", reason


# -- the reference model ----------------------------------------------------------------------


@dataclass(slots=True)
class RefRun:
    """A node run of the reference: waiting -> running -> routing -> done (or failed/cancelled)."""

    node: str
    phase: str
    attempt: int = 0


_OPEN = ("waiting", "running", "routing")


class Reference:
    """The spec, naively, from the flowchart document alone (no engine code).

    Tokens are FIFO lists per (target, parent). A node with k solid parents and threshold t
    (all = k, any = 1, custom N clamped to 1..k) activates while t parents hold a token,
    taking the head token of the t parents whose heads are oldest. Each activation counts
    towards max node executions; the one that would exceed it fails the run instead. A node
    run applies exactly the report answering its current request, and nothing else.
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        nodes = doc["nodes"]
        self.kind = {n["id"]: n["type"] for n in nodes}
        self.start_node = next(n["id"] for n in nodes if n["type"] == "start")
        default_attempts = doc.get("defaults", {}).get("max_attempts", 1)
        self.max_attempts = {n["id"]: n.get("max_attempts") or default_attempts for n in nodes}
        solid = [c for c in doc["connectors"] if c.get("kind", "solid") == "solid"]
        self.edge = {c["id"]: (c["source"], c["target"]) for c in solid}
        self.parents = {
            n["id"]: {c["source"] for c in solid if c["target"] == n["id"]} for n in nodes
        }
        self.need = {n["id"]: self._threshold(n) for n in nodes}
        self.limit = doc["limits"]["max_node_executions"]
        self.slots = doc["limits"]["max_parallel_nodes"]
        self.status = "running"
        self.outcome: str | None = None
        self.failed_node_run_id: str | None = None
        self.runs: dict[str, RefRun] = {}
        self.waiting: list[str] = []
        self.running: list[str] = []
        self.queues: dict[tuple[str, str], list[tuple[int, str, str]]] = defaultdict(list)
        self.seq = 0
        self.counts: dict[str, int] = {}
        self.activations: list[ActivationView] = []
        self.commands: list[str] = []

    def _threshold(self, node: dict[str, Any]) -> int:
        k = len(self.parents[node["id"]])
        fan_in = node.get("fan_in", {})
        mode = fan_in.get("mode", "all")
        if k == 0:
            return 0
        if mode == "any":
            return 1
        if mode == "custom":
            return min(max(fan_in.get("count") or k, 1), k)
        return k

    def open_runs(self) -> list[str]:
        return [nr for nr, run in self.runs.items() if run.phase in _OPEN]

    def tokens(self) -> TokenView:
        return {key: list(q) for key, q in self.queues.items() if q}

    def leftover(self) -> Counter[tuple[str, str, str]]:
        return Counter(
            (cid, target, source_run)
            for (target, _), q in self.queues.items()
            for _, cid, source_run in q
        )

    def start(self) -> None:
        self._activate(self.start_node, ())

    def deliver(self, report: Report) -> bool:
        run = self.runs.get(report.node_run_id)
        if self.status != "running" or run is None:
            return False
        if report.kind == "executed":
            if run.phase != "running" or run.attempt != report.attempt:
                return False
            self._executed(report.node_run_id, run, report.succeeded)
            return True
        if run.phase != "routing":
            return False
        self._routed(report.node_run_id, run, report)
        return True

    def _executed(self, nr: str, run: RefRun, succeeded: bool) -> None:
        if succeeded:
            run.phase = "routing"
            self.running.remove(nr)
            self.commands.append(f"route:{nr}")
            self._pump()
        elif run.attempt >= self.max_attempts[run.node]:
            run.phase = "failed"
            self.running.remove(nr)
            self._fail("node", nr)
        else:
            run.attempt += 1
            self.commands.append(f"execute:{nr}:attempt:{run.attempt}")

    def _routed(self, nr: str, run: RefRun, report: Report) -> None:
        run.phase = "done"
        if report.error:
            self._fail("route", nr)
            return
        for cid in report.fired:
            self.seq += 1
            source, target = self.edge[cid]
            self.queues[(target, source)].append((self.seq, cid, nr))
        if report.terminate:
            self._finish("terminated")
            return
        targets: list[str] = []
        for cid in report.fired:
            if self.edge[cid][1] not in targets:
                targets.append(self.edge[cid][1])
        for target in targets:
            while chosen := self.activatable(target):
                if len(self.activations) >= self.limit:
                    self._fail("guard", nr)
                    return
                heads = sorted(self.queues[(target, parent)].pop(0) for parent in chosen)
                self._activate(target, tuple(heads))
        if not self.open_runs():
            self._finish("quiescent")

    def activatable(self, target: str) -> list[str]:
        """The parents whose head tokens an activation of ``target`` takes now (or none)."""
        holding = [p for p in self.parents[target] if self.queues[(target, p)]]
        need = self.need[target]
        if need == 0 or len(holding) < need:
            return []
        return sorted(holding, key=lambda p: self.queues[(target, p)][0][0])[:need]

    def _activate(self, node: str, consumed: tuple[tuple[int, str, str], ...]) -> None:
        index = self.counts.get(node, 0)
        self.counts[node] = index + 1
        nr = f"{node}#{index}"
        self.activations.append((node, index, consumed))
        if self.kind[node] in ("start", "end", "decision"):
            self.runs[nr] = RefRun(node, "routing")
            self.commands.append(f"route:{nr}")
        else:
            self.runs[nr] = RefRun(node, "waiting")
            self.waiting.append(nr)
            self._pump()

    def _pump(self) -> None:
        while self.waiting and len(self.running) < self.slots:
            nr = self.waiting.pop(0)
            run = self.runs[nr]
            run.phase, run.attempt = "running", 1
            self.running.append(nr)
            self.commands.append(f"execute:{nr}:attempt:1")

    def _cancel(self) -> None:
        for nr in self.running + self.waiting:
            self.runs[nr].phase = "cancelled"
        self.running, self.waiting = [], []

    def _fail(self, why: str, nr: str) -> None:
        self._cancel()
        self.status, self.outcome, self.failed_node_run_id = "failed", why, nr

    def _finish(self, reason: str) -> None:
        if reason == "terminated":
            self._cancel()
        self.status, self.outcome = "succeeded", reason


# -- views and checks -------------------------------------------------------------------------


def activation_view(made: list[Activation]) -> list[ActivationView]:
    return [
        (
            a.node_id,
            a.execution_index,
            tuple((t.seq, t.connector_id, t.source_node_run_id) for t in a.consumed),
        )
        for a in made
    ]


def token_view(state: RunState) -> TokenView:
    return {
        (target, parent): [(t.seq, t.connector_id, t.source_node_run_id) for t in queue]
        for target, queues in state.tokens.items()
        for parent, queue in queues.items()
        if queue
    }


def check_agreement(steps: Steps, ref: Reference) -> None:
    """The engine (through the coordinator's steps) and the reference are in the same place."""
    state = steps.state
    assert activation_view(steps.made) == ref.activations
    assert [c.key for c in steps.commands] == ref.commands
    assert (steps.status, steps.outcome, steps.failed_node_run_id) == (
        ref.status,
        ref.outcome,
        ref.failed_node_run_id,
    )
    assert state.node_executions == len(ref.activations)
    assert state.execution_counts == ref.counts
    assert sorted(state.open_node_runs) == sorted(ref.open_runs())
    assert state.ready == ref.waiting
    assert state.in_flight == ref.running
    assert token_view(state) == ref.tokens()
    if steps.status == "running":
        for target in ref.kind:  # every activation its tokens allow has been made
            assert next_activation(state, steps.graph, target) is None
            assert ref.activatable(target) == []


def check_exactly_once(steps: Steps) -> None:
    """The event log: each node run queued, dispatched per attempt, executed and routed once."""
    per_attempt = {MessageType.NODE_DISPATCHED, MessageType.NODE_RETRY_SCHEDULED}
    by_type: dict[str, Counter[Any]] = defaultdict(Counter)
    for recorded in steps.driver.events:
        p = recorded.payload
        nr = getattr(p, "node_run_id", None)
        by_type[recorded.type][(nr, p.attempt) if recorded.type in per_attempt else nr] += 1
    for type_name, counts in by_type.items():
        assert all(n == 1 for n in counts.values()), (type_name, counts)
    queued = by_type[MessageType.NODE_QUEUED]
    assert set(by_type[MessageType.NODE_SUCCEEDED]) <= set(queued)
    assert set(by_type[MessageType.NODE_ROUTED]) <= set(by_type[MessageType.NODE_SUCCEEDED])
    keys = [c.key for c in steps.commands]
    assert len(keys) == len(set(keys)), "a command was sent twice"
    ended = by_type[MessageType.RUN_FAILED] + by_type[MessageType.RUN_SUCCEEDED]
    assert sum(ended.values()) == (steps.status != "running")


def check_outputs(state: RunState) -> None:
    """An output is kept while a token, a node run awaiting routing or a dotted reader needs it.

    (Forgetting is lazy: a node's previous latest output may stay until the next event that
    prunes, so only this direction is checked.)
    """
    succeeded_open = [nr for nr in state.open_node_runs if nr not in state.ready + state.in_flight]
    tokens = [t.source_node_run_id for qs in state.tokens.values() for q in qs.values() for t in q]
    needed = {*tokens, *state.latest_by_node.values(), *succeeded_open}
    assert needed <= set(state.outputs)


def build_machine(driver: Driver) -> type[RuleBasedStateMachine]:
    """The state machine class (built here: stateful machines cannot take fixtures)."""

    class TokenEngineMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.steps: Steps | None = None
            self.healthy = True
            self.pending: list[Report] = []
            self.sent: list[Report] = []
            self.first: list[Report] = []
            self.delivered: set[str] = set()
            self.copies = 0

        @property
        def sut(self) -> Steps:
            assert self.steps is not None
            return self.steps

        @initialize(flow=flows())
        def start_run(self, flow: Flow) -> None:
            definition = msgspec.convert(flow.doc, FlowchartDefinition)
            assert validate_flowchart(clamp_fan_in(definition)[0]) == []
            self.flow = flow
            self.graph = FlowchartGraph.build(definition)
            self.steps = Steps(driver(self.graph))
            self.ref = Reference(flow.doc)
            self.steps.start()
            self.ref.start()
            self.seen_commands = 0
            self._collect()

        def _collect(self) -> None:
            for command in self.sut.commands[self.seen_commands :]:
                report = reply(self.graph, self.flow, command)
                self.pending.append(report)
                self.sent.append(report)
            self.seen_commands = len(self.sut.commands)

        def _deliver(self, index: int) -> None:
            report = self.pending.pop(index)
            applied = self.sut.deliver(report)
            assert applied == self.ref.deliver(report), report
            if report.origin not in self.delivered:
                self.delivered.add(report.origin)
                self.first.append(report)
            else:
                assert not applied, f"a redelivered report took effect: {report}"
            self._collect()

        @precondition(lambda self: bool(self.pending))
        @rule(pick=st.integers(0, 255))
        def deliver(self, pick: int) -> None:
            """A report arrives: any pending one (random completion order)."""
            self.healthy = False
            self._deliver(pick % len(self.pending))
            self.healthy = True

        @precondition(lambda self: bool(self.sent))
        @rule(pick=st.integers(0, 255), recent=st.booleans(), rekey=st.booleans())
        def redeliver(self, pick: int, recent: bool, rekey: bool) -> None:
            """A report is sent again (a republish, a redelivery), pending or delivered already:
            with ``recent``, one of the last three delivered (most likely to hit a node run
            that has just moved on); with ``rekey``, under a key the inbox has not seen."""
            if recent and self.first:
                report = self.first[-1 - pick % min(3, len(self.first))]
            else:
                report = self.sent[pick % len(self.sent)]
            if rekey:
                self.copies += 1
                report = replace(report, key=f"{report.origin}~copy{self.copies}")
            self.pending.append(report)

        @invariant()
        def agrees_with_reference(self) -> None:
            if self.steps is not None:
                self.healthy = False
                check_agreement(self.steps, self.ref)
                self.healthy = True

        @invariant()
        def each_node_run_once(self) -> None:
            if self.steps is not None:
                self.healthy = False
                check_exactly_once(self.steps)
                check_outputs(self.steps.state)
                self.healthy = True

        @invariant()
        def state_is_the_fold_of_its_events(self) -> None:
            if self.steps is not None:
                self.healthy = False
                assert replay(self.graph, self.steps.driver.events) == self.steps.state
                self.healthy = True

        def teardown(self) -> None:
            if self.steps is None or not self.healthy:
                return  # a step failed: let its error be the one reported
            while self.pending:
                self._deliver(0)
                check_agreement(self.sut, self.ref)
            state = self.sut.state
            check_exactly_once(self.sut)
            check_outputs(state)
            assert replay(self.graph, self.sut.driver.events) == state
            # the run is complete, and both agree how
            assert self.sut.status != "running"
            if self.sut.status == "succeeded":
                assert completion(state) == self.sut.outcome
            if self.sut.outcome == "quiescent":
                assert state.open_node_runs == []
            left = unconsumed_tokens(state)
            snapshot = Counter(
                (t.connector_id, t.target_node_id, t.source_node_run_id) for t in left
            )
            assert snapshot == self.ref.leftover()
            assert self.sut.driver.events[-1].payload.unconsumed_tokens == left
            # duplicates changed nothing: the first deliveries alone give the same run
            clean = Steps(driver(self.graph))
            clean.start()
            for report in self.first:
                clean.deliver(report)
            assert clean.driver.events == self.sut.driver.events
            assert clean.state == state

    return TokenEngineMachine


# -- generated flowcharts ---------------------------------------------------------------------


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    """Start + 3-7 task/decision nodes (the last maybe an end node), every node reachable
    from start; extra solid connectors anywhere (back-edges, self-loops, parallel ones)."""
    count = draw(st.integers(3, 7))
    kinds = draw(
        st.lists(st.sampled_from(["task", "task", "decision"]), min_size=count, max_size=count)
    )
    if draw(st.integers(0, 3)) == 0:
        kinds[-1] = "end"
    ids = ["s", *(f"n{i}" for i in range(count))]
    kind = {"s": "start", **dict(zip(ids[1:], kinds, strict=True))}
    sources = [i for i in ids if kind[i] != "end"]
    edges = [
        (draw(st.sampled_from([p for p in ids[:i] if kind[p] != "end"])), node)
        for i, node in enumerate(ids[1:], start=1)
    ]
    edges += draw(
        st.lists(
            st.tuples(st.sampled_from(sources), st.sampled_from(ids)),
            min_size=1,
            max_size=count + 2,
        )
    )
    for node in ids:
        if kind[node] == "decision" and all(src != node for src, _ in edges):
            edges.append((node, draw(st.sampled_from(ids))))
    connectors: list[dict[str, Any]] = [
        {"id": f"c{j}", "source": s, "target": t} for j, (s, t) in enumerate(edges)
    ]
    solid_pairs = set(edges)
    dotted = draw(st.lists(st.tuples(st.sampled_from(sources), st.sampled_from(ids)), max_size=2))
    connectors += [
        {"id": f"d{j}", "source": s, "target": t, "kind": "dotted"}
        for j, (s, t) in enumerate(dict.fromkeys(dotted))
        if s != t and (s, t) not in solid_pairs
    ]
    nodes: list[dict[str, Any]] = []
    for node in ids:
        parents = len({s for s, t in edges if t == node})
        mode = draw(st.sampled_from(["all", "any", "custom"]))
        fan_in: dict[str, Any] = {"mode": mode}
        if mode == "custom":
            fan_in["count"] = draw(st.integers(1, parents + 1))  # over k: the engine clamps
        doc: dict[str, Any] = {"type": kind[node], "id": node, "fan_in": fan_in}
        if kind[node] == "task":
            doc |= {"prompt": "p", "max_attempts": draw(st.sampled_from([None, 1, 2, 3]))}
        elif kind[node] == "decision":
            outs = [c["id"] for c in connectors[: len(edges)] if c["source"] == node]
            predicate = {"op": "exists", "path": "output.x"}
            doc["conditions"] = [{"connector_id": c, "predicate": predicate} for c in outs]
            if draw(st.integers(0, 2)):
                doc |= {"no_match_policy": "fallback", "fallback_connector_id": outs[0]}
        nodes.append(doc)
    return Flow(
        doc={
            "name": "stateful",
            "nodes": nodes,
            "connectors": connectors,
            "limits": {
                "max_node_executions": draw(st.integers(8, 40)),
                "max_parallel_nodes": draw(st.integers(1, 4)),
            },
            "defaults": {"max_attempts": draw(st.integers(1, 2))},
        },
        salt=draw(st.integers(0, 2**32)),
        fail_pct=draw(st.sampled_from([0, 5, 20, 20])),
    )


def test_engine_matches_reference_under_random_delivery(driver: Driver) -> None:
    run_state_machine_as_test(
        build_machine(driver),
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# -- scenarios --------------------------------------------------------------------------------


def task(node_id: str, **kw: Any) -> dict[str, Any]:
    return {"type": "task", "id": node_id, "prompt": "p", **kw}


def scenario(
    driver: Driver, nodes: list[dict[str, Any]], edges: list[tuple[str, str]], **limits: int
) -> tuple[Steps, Reference, Flow, FlowchartGraph]:
    doc = {
        "name": "t",
        "nodes": [{"type": "start", "id": "s"}, *nodes],
        "connectors": [{"id": f"{s}{t}", "source": s, "target": t} for s, t in edges],
        "limits": {"max_node_executions": 40, "max_parallel_nodes": 16, **limits},
    }
    flow = Flow(doc=doc, salt=0, fail_pct=0)
    graph = FlowchartGraph.build(msgspec.convert(doc, FlowchartDefinition))
    steps, ref = Steps(driver(graph)), Reference(doc)
    steps.start()
    ref.start()
    return steps, ref, flow, graph


def answer(steps: Steps, flow: Flow, graph: FlowchartGraph, key: str, **change: Any) -> Report:
    command = next(c for c in steps.commands if c.key == key)
    return replace(reply(graph, flow, command), **change)


def both(steps: Steps, ref: Reference, report: Report) -> bool:
    applied = steps.deliver(report)
    assert applied == ref.deliver(report)
    check_agreement(steps, ref)
    return applied


def test_duplicate_routed_after_successors_activated_changes_nothing(driver: Driver) -> None:
    steps, ref, flow, graph = scenario(driver, [task("a"), task("b")], [("s", "a"), ("a", "b")])
    assert both(steps, ref, answer(steps, flow, graph, "route:s#0"))
    assert both(steps, ref, answer(steps, flow, graph, "execute:a#0:attempt:1"))
    routed_a = answer(steps, flow, graph, "route:a#0")
    assert both(steps, ref, routed_a)
    assert [a.node_id for a in steps.made] == ["s", "a", "b"]
    events = list(steps.driver.events)
    assert not both(steps, ref, routed_a)  # the inbox has it
    assert not both(steps, ref, replace(routed_a, key="routed:a#0~again"))  # a#0 is closed
    assert not both(steps, ref, replace(answer(steps, flow, graph, "route:s#0"), key="x"))
    assert steps.driver.events == events
    assert replay(graph, steps.driver.events) == steps.state


def test_late_report_of_a_superseded_attempt_is_ignored(driver: Driver) -> None:
    steps, ref, flow, graph = scenario(driver, [task("a", max_attempts=2)], [("s", "a")])
    both(steps, ref, answer(steps, flow, graph, "route:s#0"))
    first = answer(steps, flow, graph, "execute:a#0:attempt:1", succeeded=False)
    assert both(steps, ref, first)
    assert [c.key for c in steps.commands][-1] == "execute:a#0:attempt:2"
    assert not both(steps, ref, replace(first, key="executed:a#0:1~late", succeeded=True))
    second = answer(steps, flow, graph, "execute:a#0:attempt:2")
    assert both(steps, ref, second)
    assert not both(steps, ref, replace(second, key="executed:a#0:2~again"))
    succeeded = [e for e in steps.driver.events if e.type == MessageType.NODE_SUCCEEDED]
    assert [e.payload.node_run_id for e in succeeded] == ["s#0", "a#0"]
    assert both(steps, ref, answer(steps, flow, graph, "route:a#0"))
    assert steps.outcome == "quiescent"


def test_guard_mid_fan_out_fails_the_run_and_cancels_what_it_queued(driver: Driver) -> None:
    steps, ref, flow, graph = scenario(
        driver,
        [task("a"), task("b"), task("c")],
        [("s", "a"), ("s", "b"), ("s", "c")],
        max_node_executions=3,
        max_parallel_nodes=1,
    )
    assert both(steps, ref, answer(steps, flow, graph, "route:s#0"))
    assert (steps.status, steps.outcome, steps.failed_node_run_id) == ("failed", "guard", "s#0")
    [failed] = [e.payload for e in steps.driver.events if e.type == MessageType.RUN_FAILED]
    assert failed.cancelled_node_run_ids == ["a#0", "b#0"]  # a dispatched, b waiting a slot
    assert [t.target_node_id for t in failed.unconsumed_tokens] == ["c"]
    assert steps.state.ready == steps.state.in_flight == []
    assert replay(graph, steps.driver.events) == steps.state


def test_parallel_limit_launches_waiting_node_runs_oldest_first(driver: Driver) -> None:
    steps, ref, flow, graph = scenario(
        driver,
        [task("a"), task("b"), task("c"), task("j")],
        [("s", "a"), ("s", "b"), ("s", "c"), ("a", "j"), ("b", "j"), ("c", "j")],
        max_parallel_nodes=1,
    )
    both(steps, ref, answer(steps, flow, graph, "route:s#0"))
    assert steps.state.in_flight == ["a#0"]
    assert steps.state.ready == ["b#0", "c#0"]
    for node in ("a", "b", "c"):
        both(steps, ref, answer(steps, flow, graph, f"execute:{node}#0:attempt:1"))
        both(steps, ref, answer(steps, flow, graph, f"route:{node}#0"))
    [join] = [a for a in steps.made if a.node_id == "j"]
    assert [t.source_node_run_id for t in join.consumed] == ["a#0", "b#0", "c#0"]
    assert steps.state.in_flight == ["j#0"]
