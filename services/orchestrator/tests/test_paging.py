"""Pages that fit in one answer on the bus, and records too large alone served with their
largest fields emptied (paging.fitting, paging.omit_largest), against real Postgres for the
run queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import msgspec

from llmctl_contracts import MessageType
from llmctl_contracts.rpc import ListNodeRuns, ListRunEvents
from llmctl_infra.test_flowcharts import chain, task
from llmctl_libs.bus import Bus
from llmctl_libs.service import Persistence
from llmctl_orchestrator.paging import fitting, omit_largest
from llmctl_orchestrator.queries import RunQueries
from llmctl_orchestrator.tables import store

if TYPE_CHECKING:
    from conftest import Orchestrator


def test_the_largest_entries_are_emptied_by_type_until_the_rest_fits() -> None:
    values = {"big": {"x": "a" * 500}, "list": ["b" * 300], "text": "c" * 200, "n": 7, "s": "ok"}
    kept, omitted = omit_largest(values, 400)
    assert omitted == ["big", "list"]  # largest first, and no more than needed
    assert kept == {"big": {}, "list": [], "text": "c" * 200, "n": 7, "s": "ok"}
    assert len(msgspec.json.encode(kept)) <= 400
    everything, gone = omit_largest(values, 10)  # cannot fit: every entry emptied
    assert everything == {"big": {}, "list": [], "text": "", "n": None, "s": ""}
    assert gone == ["big", "list", "text", "s", "n"]
    assert omit_largest(values, 10_000) == (values, [])


def test_a_page_stops_before_the_limit_and_shrinks_only_a_first_record_too_large_alone() -> None:
    records = [{"v": "a" * 100}, {"v": "b" * 100}, {"v": "c" * 3000}, {"v": "d"}]
    budget = lambda: 1024 + 250  # noqa: E731  (the reply overhead is 1,024 bytes)

    def shrink(record: dict[str, str], room: int) -> dict[str, str]:
        return {"v": "", "room": str(room)}

    assert fitting(budget, records, shrink) == records[:2]  # c would not fit after them
    assert fitting(budget, records[2:], shrink) == [{"v": "", "room": "249"}, {"v": "d"}]
    assert fitting(budget, records[2:]) == records[2:3]  # no shrink: served whole (too_large)
    assert fitting(None, records) == records


async def test_an_event_and_a_node_run_too_large_for_an_answer_come_with_fields_omitted(
    orchestrator: Orchestrator,
) -> None:
    orchestrator.topic = "t" * 6000  # every node's input context carries the run's input
    run_id = await orchestrator.start(chain(task("a")))
    await orchestrator.routed(run_id, "start", "start-a")
    persistence = Persistence.for_tables(orchestrator.db, store, cast(Bus, orchestrator.stops))
    small = RunQueries(persistence, answer_bytes=lambda: 1024 + 4096)
    whole = RunQueries(persistence)

    events = await whole.events(ListRunEvents(run_id=run_id))
    queued = next(e for e in events if e.type == MessageType.NODE_QUEUED)
    assert len(msgspec.json.encode(queued)) > 4096
    shrunk: list[object] = []
    after = 0
    while page := await small.events(ListRunEvents(run_id=run_id, after_sequence=after)):
        shrunk += page
        after = page[-1].sequence
    assert [e.sequence for e in shrunk] == [e.sequence for e in events]  # none left behind
    served = next(e for e in shrunk if e.sequence == queued.sequence)
    assert served.omitted == ["input_context"]
    assert served.payload == {**queued.payload, "input_context": {}}
    assert len(msgspec.json.encode(served)) <= 4096

    [a] = [r for r in await whole.node_runs(ListNodeRuns(run_id=run_id)) if r.node_id == "a"]
    page = await small.node_runs(ListNodeRuns(run_id=run_id, offset=1))
    assert [r.id for r in page] == [a.id]
    assert page[0].omitted == ["input_context"]
    assert page[0].input_context == {}
    assert msgspec.structs.replace(page[0], input_context=a.input_context, omitted=[]) == a
