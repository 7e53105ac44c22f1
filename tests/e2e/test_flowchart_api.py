"""Flowchart and run-list endpoints through the gateway against the real orchestrator:
CRUD and versions, validation, search/sort/pagination edge cases, deletion, idempotency."""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from llmctl_libs.ids import new_id

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import ApiStack

pytestmark = pytest.mark.timeout(180)


def chart(name: str, *, fan_in_count: int | None = None, prompt: str = "Say hi") -> dict[str, Any]:
    """start -> (a, b) -> join -> end; ``fan_in_count`` sets a custom fan-in on the join."""
    join: dict[str, Any] = {"type": "task", "id": "join", "prompt": "Join"}
    if fan_in_count is not None:
        join["fan_in"] = {"mode": "custom", "count": fan_in_count}
    return {
        "name": name,
        "nodes": [
            {"type": "start", "id": "start"},
            {"type": "task", "id": "a", "prompt": prompt},
            {"type": "task", "id": "b", "prompt": prompt},
            join,
            {"type": "end", "id": "end"},
        ],
        "connectors": [
            {"id": "sa", "source": "start", "target": "a"},
            {"id": "sb", "source": "start", "target": "b"},
            {"id": "aj", "source": "a", "target": "join"},
            {"id": "bj", "source": "b", "target": "join"},
            {"id": "je", "source": "join", "target": "end"},
        ],
    }


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is True
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    assert response.headers["x-request-id"]
    return body["data"]


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code, body
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    return dict(body["error"])


def fields(err: dict[str, Any]) -> set[str]:
    return {d["field"] for d in err["details"]}


async def create(api: ApiStack, document: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return ok(await api.http.post("/api/v1/flowcharts", json=document, headers=headers), 201)


async def test_versions_update_and_warnings(api_stack: ApiStack) -> None:
    api = api_stack
    created = await create(api, chart(f"v-{new_id()}", fan_in_count=5))
    assert created["version"] == 1
    assert [w["field"] for w in created["warnings"]] == ["$.nodes[3].fan_in.count"]
    assert created["definition"]["nodes"][3]["fan_in"]["count"] == 2  # clamped
    fc = created["id"]

    renamed = chart(f"renamed-{new_id()}", fan_in_count=9)
    updated = ok(await api.http.put(f"/api/v1/flowcharts/{fc}", json=renamed))
    assert (updated["id"], updated["version"], updated["name"]) == (fc, 2, renamed["name"])
    assert [w["field"] for w in updated["warnings"]] == ["$.nodes[3].fan_in.count"]

    latest = ok(await api.http.get(f"/api/v1/flowcharts/{fc}"))
    assert (latest["version"], latest["name"]) == (2, renamed["name"])
    versions = ok(await api.http.get(f"/api/v1/flowcharts/{fc}/versions"))
    assert [(v["version"], v["name"]) for v in versions] == [
        (1, created["name"]),
        (2, renamed["name"]),
    ]
    first = ok(await api.http.get(f"/api/v1/flowcharts/{fc}/versions/1"))
    assert first["name"] == created["name"]
    assert first["definition"] == created["definition"]

    missing = error(await api.http.get(f"/api/v1/flowcharts/{fc}/versions/3"), 404, "not_found")
    assert fields(missing) == {"version"}
    error(await api.http.get("/api/v1/flowcharts/nope/versions"), 404, "not_found")
    error(await api.http.get("/api/v1/flowcharts/nope"), 404, "not_found")
    error(await api.http.put("/api/v1/flowcharts/nope", json=chart("x")), 404, "not_found")

    # an invalid new version is refused naming the field and saves nothing
    broken = chart("broken")
    broken["connectors"].append({"id": "bad", "source": "a", "target": "ghost"})
    invalid = error(
        await api.http.put(f"/api/v1/flowcharts/{fc}", json=broken), 422, "validation_failed"
    )
    assert any("connectors" in f for f in fields(invalid)), invalid
    schema_bad = error(
        await api.http.put(f"/api/v1/flowcharts/{fc}", json={"name": "x"}),
        422,
        "validation_failed",
    )
    assert fields(schema_bad) == {"$.nodes"}
    error(
        await api.http.put(
            f"/api/v1/flowcharts/{fc}",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        400,
        "malformed",
    )
    assert ok(await api.http.get(f"/api/v1/flowcharts/{fc}"))["version"] == 2


async def test_validate_saves_nothing(api_stack: ApiStack) -> None:
    api = api_stack
    name = f"validate-{new_id()}"
    good = ok(await api.http.post("/api/v1/flowcharts/validate", json=chart(name, fan_in_count=3)))
    assert good["valid"] is True
    assert good["errors"] == []
    assert [w["field"] for w in good["warnings"]] == ["$.nodes[3].fan_in.count"]
    assert good["definition"]["nodes"][3]["fan_in"]["count"] == 2

    broken = chart(name)
    broken["nodes"].append({"type": "start", "id": "start2"})
    graph_bad = ok(await api.http.post("/api/v1/flowcharts/validate", json=broken))
    assert graph_bad["valid"] is False
    assert graph_bad["errors"], graph_bad

    schema_bad = ok(
        await api.http.post("/api/v1/flowcharts/validate", json={"name": name, "nodes": 3})
    )
    assert schema_bad["valid"] is False
    assert [e["field"] for e in schema_bad["errors"]] == ["$.nodes"]
    assert schema_bad["definition"] is None

    error(
        await api.http.post(
            "/api/v1/flowcharts/validate",
            content=b"{nope",
            headers={"content-type": "application/json"},
        ),
        400,
        "malformed",
    )
    listed = ok(await api.http.get("/api/v1/flowcharts", params={"q": name}))
    assert listed["total"] == 0


async def test_search_sort_and_pagination(api_stack: ApiStack) -> None:
    api = api_stack
    tag = new_id().replace("-", "")[-12:]
    names = [f"{tag} {letter}" for letter in "dbeac"]
    ids = {}
    for name in names:
        ids[name] = (await create(api, chart(name)))["id"]
    # update one so updated_at differs from creation order
    await api.http.put(f"/api/v1/flowcharts/{ids[names[1]]}", json=chart(names[1]))

    async def page(**params: Any) -> dict[str, Any]:
        return dict(ok(await api.http.get("/api/v1/flowcharts", params={"q": tag, **params})))

    default = await page()
    assert default["total"] == 5
    assert (default["page"], default["page_size"]) == (1, 25)
    assert [i["name"] for i in default["items"]] == sorted(names)
    assert [i["name"] for i in (await page(sort="-name"))["items"]] == sorted(names, reverse=True)
    assert [i["name"] for i in (await page(sort="created_at"))["items"]] == names
    assert [i["name"] for i in (await page(sort="-created_at"))["items"]] == names[::-1]
    by_update = [i["name"] for i in (await page(sort="-updated_at"))["items"]]
    assert by_update[0] == names[1]
    latest = (await page(sort="-updated_at"))["items"][0]
    assert latest["latest_version"] == 2

    pages = [await page(page=n, page_size=2) for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    assert all(p["total"] == 5 for p in pages)
    walked = [i["name"] for p in pages for i in p["items"]]
    assert walked == sorted(names)  # no item twice, none skipped

    # search is case-insensitive and takes % and _ literally
    assert (await page(q=tag.upper()))["total"] == 5
    assert (await page(q=f"{tag} a"))["total"] == 1
    assert ok(await api.http.get("/api/v1/flowcharts", params={"q": "%"}))["total"] == 0
    assert ok(await api.http.get("/api/v1/flowcharts", params={"q": "_"}))["total"] == 0

    for params, field in [
        ({"page": 0}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"sort": "size"}, "sort"),
        ({"page": "x"}, "page"),
        ({"q": "x" * 201}, "q"),
    ]:
        err = error(
            await api.http.get("/api/v1/flowcharts", params=params), 422, "validation_failed"
        )
        assert fields(err) == {f"query.{field}"}, (params, err)
    assert len((await page(page_size=100))["items"]) == 5


async def test_delete_keeps_existing_runs(api_stack: ApiStack) -> None:
    api = api_stack
    fc = (await create(api, chart(f"del-{new_id()}")))["id"]
    run = ok(await api.http.post("/api/v1/runs", json={"flowchart_id": fc}), 201)

    deleted = ok(await api.http.delete(f"/api/v1/flowcharts/{fc}"))
    assert (deleted["id"], deleted["deleted"], deleted["latest_version"]) == (fc, True, 1)

    error(await api.http.get(f"/api/v1/flowcharts/{fc}"), 404, "not_found")
    error(await api.http.get(f"/api/v1/flowcharts/{fc}/versions"), 404, "not_found")
    error(await api.http.get(f"/api/v1/flowcharts/{fc}/versions/1"), 404, "not_found")
    error(await api.http.put(f"/api/v1/flowcharts/{fc}", json=chart("x")), 404, "not_found")
    error(await api.http.delete(f"/api/v1/flowcharts/{fc}"), 404, "not_found")
    error(await api.http.post("/api/v1/runs", json={"flowchart_id": fc}), 404, "not_found")
    assert ok(await api.http.get("/api/v1/flowcharts", params={"q": deleted["name"]}))["total"] == 0

    # the run that pinned a version carries on: readable, listed, controllable
    assert ok(await api.http.get(f"/api/v1/runs/{run['id']}"))["flowchart_id"] == fc
    listed = ok(await api.http.get("/api/v1/runs", params={"flowchart_id": fc}))
    assert [r["id"] for r in listed["items"]] == [run["id"]]
    cancelled = ok(await api.http.post(f"/api/v1/runs/{run['id']}/cancel"))
    assert cancelled["status"] == "cancelled"


async def test_flowchart_idempotency(api_stack: ApiStack) -> None:
    api = api_stack
    document = chart(f"idem-{new_id()}")
    key = new_id()
    first = await create(api, document, key)
    again = await create(api, document, key)
    assert again == first
    other = copy.deepcopy(document)
    other["name"] += "-other"
    headers = {"Idempotency-Key": key}
    mismatch = error(
        await api.http.post("/api/v1/flowcharts", json=other, headers=headers),
        422,
        "idempotency_mismatch",
    )
    assert fields(mismatch) == {"header.Idempotency-Key"}
    assert (
        ok(await api.http.get("/api/v1/flowcharts", params={"q": document["name"]}))["total"] == 1
    )

    fc = first["id"]
    put_key = new_id()
    url = f"/api/v1/flowcharts/{fc}"
    v2 = ok(await api.http.put(url, json=other, headers={"Idempotency-Key": put_key}))
    assert ok(await api.http.put(url, json=other, headers={"Idempotency-Key": put_key})) == v2
    assert ok(await api.http.get(url))["version"] == 2
    error(
        await api.http.put(url, json=document, headers={"Idempotency-Key": put_key}),
        422,
        "idempotency_mismatch",
    )
    del_key = new_id()
    gone = ok(await api.http.delete(url, headers={"Idempotency-Key": del_key}))
    assert ok(await api.http.delete(url, headers={"Idempotency-Key": del_key})) == gone
    error(await api.http.delete(url, headers={"Idempotency-Key": new_id()}), 404, "not_found")
    # a refused request does not use up its key
    failed_key = new_id()
    error(
        await api.http.put(url, json=document, headers={"Idempotency-Key": failed_key}),
        404,
        "not_found",
    )
    fresh = await create(api, document, failed_key)
    assert fresh["id"] != fc


async def test_run_start_and_control_idempotency(api_stack: ApiStack) -> None:
    api = api_stack
    fc = (await create(api, chart(f"runs-{new_id()}")))["id"]
    key = new_id()
    body = {"flowchart_id": fc, "input": {"user": "ada"}}
    first = ok(
        await api.http.post("/api/v1/runs", json=body, headers={"Idempotency-Key": key}), 201
    )
    again = ok(
        await api.http.post("/api/v1/runs", json=body, headers={"Idempotency-Key": key}), 201
    )
    assert again["id"] == first["id"]
    changed = {"flowchart_id": fc, "input": {"user": "bob"}}
    err = error(
        await api.http.post("/api/v1/runs", json=changed, headers={"Idempotency-Key": key}),
        422,
        "idempotency_mismatch",
    )
    assert fields(err) == {"header.Idempotency-Key"}
    listed = ok(await api.http.get("/api/v1/runs", params={"flowchart_id": fc}))
    assert listed["total"] == 1
    # without the header nothing is deduplicated
    unkeyed = [ok(await api.http.post("/api/v1/runs", json=body), 201) for _ in range(2)]
    assert unkeyed[0]["id"] != unkeyed[1]["id"]

    run_id = first["id"]
    control_key = new_id()
    cancel = f"/api/v1/runs/{run_id}/cancel"
    done = ok(
        await api.http.post(cancel, json={"reason": "r"}, headers={"Idempotency-Key": control_key})
    )
    assert done["status"] == "cancelled"
    replay = ok(
        await api.http.post(cancel, json={"reason": "r"}, headers={"Idempotency-Key": control_key})
    )
    assert replay == done
    error(
        await api.http.post(
            cancel, json={"reason": "other"}, headers={"Idempotency-Key": control_key}
        ),
        422,
        "idempotency_mismatch",
    )
    error(
        await api.http.post(
            f"/api/v1/runs/{run_id}/pause",
            json={"reason": "r"},
            headers={"Idempotency-Key": control_key},
        ),
        422,
        "idempotency_mismatch",
    )
    # a new key on a finished run is a real request again: refused as a conflict
    error(await api.http.post(cancel, headers={"Idempotency-Key": new_id()}), 409, "conflict")
    cancelled_events = [
        e
        for e in ok(await api.http.get(f"/api/v1/runs/{run_id}/events"))
        if e["type"] == "run.controlled"
    ]
    assert len(cancelled_events) == 1


async def test_concurrent_run_starts(api_stack: ApiStack) -> None:
    """The orchestrator handles several run starts at once: racing requests with one key still
    create one run; unkeyed ones each create their own, every one answered with its run."""
    api = api_stack
    fc = (await create(api, chart(f"racing-{new_id()}")))["id"]
    body = {"flowchart_id": fc, "input": {"user": "ada"}}
    key = new_id()
    keyed = await asyncio.gather(
        *(
            api.http.post("/api/v1/runs", json=body, headers={"Idempotency-Key": key})
            for _ in range(8)
        )
    )
    assert len({ok(r, 201)["id"] for r in keyed}) == 1
    unkeyed = [
        ok(r, 201)
        for r in await asyncio.gather(*(api.http.post("/api/v1/runs", json=body) for _ in range(8)))
    ]
    assert len({r["id"] for r in unkeyed}) == 8
    assert {r["flowchart_id"] for r in unkeyed} == {fc}
    assert {r["status"] for r in unkeyed} <= {"running", "succeeded"}
    listed = ok(await api.http.get("/api/v1/runs", params={"flowchart_id": fc, "page_size": 50}))
    assert listed["total"] == 9
    assert {r["id"] for r in listed["items"]} == {r["id"] for r in unkeyed} | {
        ok(keyed[0], 201)["id"]
    }


async def test_list_runs_filters_and_pages(api_stack: ApiStack) -> None:
    api = api_stack
    fc = (await create(api, chart(f"list-{new_id()}")))["id"]
    started = [
        ok(await api.http.post("/api/v1/runs", json={"flowchart_id": fc}), 201) for _ in range(4)
    ]
    ok(await api.http.post(f"/api/v1/runs/{started[1]['id']}/cancel"))

    async def runs(**params: Any) -> dict[str, Any]:
        return dict(ok(await api.http.get("/api/v1/runs", params={"flowchart_id": fc, **params})))

    newest_first = await runs()
    assert newest_first["total"] == 4
    assert [r["id"] for r in newest_first["items"]] == [r["id"] for r in reversed(started)]
    oldest_first = await runs(sort="created_at")
    assert [r["id"] for r in oldest_first["items"]] == [r["id"] for r in started]
    cancelled = await runs(status="cancelled")
    assert (cancelled["total"], [r["id"] for r in cancelled["items"]]) == (1, [started[1]["id"]])
    assert (await runs(status="succeeded"))["total"] == 0
    pages = [await runs(page=n, page_size=3) for n in (1, 2)]
    assert [len(p["items"]) for p in pages] == [3, 1]
    assert {r["id"] for p in pages for r in p["items"]} == {r["id"] for r in started}
    assert ok(await api.http.get("/api/v1/runs", params={"flowchart_id": "none"}))["total"] == 0
    everything = ok(await api.http.get("/api/v1/runs", params={"page_size": 100}))
    assert everything["total"] >= 4
    for params, field in [
        ({"status": "sleeping"}, "status"),
        ({"page": 0}, "page"),
        ({"page_size": 101}, "page_size"),
        ({"sort": "name"}, "sort"),
        ({"flowchart_id": ""}, "flowchart_id"),
    ]:
        err = error(await api.http.get("/api/v1/runs", params=params), 422, "validation_failed")
        assert fields(err) == {f"query.{field}"}, (params, err)


async def test_ids_on_every_response(api_stack: ApiStack) -> None:
    api = api_stack
    sent = {"X-Request-ID": "req-123", "X-Correlation-ID": "corr-456"}
    for method, url in [
        ("GET", "/api/v1/flowcharts"),
        ("GET", "/api/v1/flowcharts/missing"),
        ("GET", "/api/v1/no-such-route"),
        ("DELETE", "/api/v1/runs"),  # 405
        ("GET", "/api/v1/runs?page=0"),
        ("GET", "/schema/openapi.json"),
    ]:
        echoed = await api.http.request(method, url, headers=sent)
        assert echoed.headers["x-request-id"] == "req-123", (url, echoed.status_code)
        assert echoed.headers["x-correlation-id"] == "corr-456"
        generated = await api.http.request(method, url)
        assert generated.headers["x-request-id"]
        assert generated.headers["x-correlation-id"] == generated.headers["x-request-id"]
    # concurrent requests each get their own id
    responses = await asyncio.gather(*(api.http.get("/api/v1/runs") for _ in range(5)))
    assert len({r.headers["x-request-id"] for r in responses}) == 5


async def test_searches_refuse_nul_and_newline_tricks(api_stack: ApiStack) -> None:
    """Postgres text cannot hold NUL: a search for one is a 422 naming ``q``, not a 500; a
    trailing newline does not slip past an id pattern (``$`` in Python matches before it)."""
    for path in ("/api/v1/flowcharts", "/api/v1/models"):
        response = await api_stack.http.get(path, params={"q": "a\x00b"})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["details"][0]["field"].endswith("q")
    bad_ref = await api_stack.http.post(
        "/api/v1/models/validate-provider-settings",
        json={"provider": "gemini", "secret_ref": {"kind": "env", "name": "GEMINI_KEY\n"}},
    )
    assert bad_ref.status_code == 422, bad_ref.text
    assert "secret_ref" in bad_ref.json()["error"]["details"][0]["field"]
