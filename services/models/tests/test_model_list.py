"""Listing models: search, filters, sort, pagination and their edge cases."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from llmctl_contracts import ErrorCode
from llmctl_contracts.models import ModelPage, ModelRecord
from llmctl_libs.rpc import RpcError

from .conftest import SECRET_ENV, ModelsClient


def tag() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


async def make(
    models: ModelsClient, name: str, tags: list[str], provider: str = "openai", **extra: Any
) -> ModelRecord:
    body: dict[str, Any] = {
        "name": name,
        "provider": provider,
        "provider_model_id": extra.pop("provider_model_id", f"pm-{name}"),
        "capability_tags": tags,
        **extra,
    }
    if provider == "openai":
        body["secret_ref"] = {"kind": "env", "name": SECRET_ENV}
    return await models.call("model.create", body, ModelRecord)


async def page(models: ModelsClient, **query: Any) -> ModelPage:
    return await models.call("model.list", query, ModelPage)


def names(result: ModelPage) -> list[str]:
    return [m.name for m in result.items]


@pytest.fixture(scope="module")
async def catalog(models: ModelsClient) -> tuple[str, dict[str, ModelRecord]]:
    """Five models sharing one unique tag (in creation order): o-c, o-a, v-b, o-e, v-d."""
    t = tag()
    made: dict[str, ModelRecord] = {}
    for short, provider in (
        ("c", "openai"),
        ("a", "openai"),
        ("b", "vllm"),
        ("e", "openai"),
        ("d", "vllm"),
    ):
        name = f"{t}-{short}"
        made[short] = await make(models, name, [t, f"{t}-{provider}"], provider)
    return t, made


async def test_default_page_is_name_ascending_with_total(
    models: ModelsClient, catalog: tuple[str, dict[str, ModelRecord]]
) -> None:
    t, _ = catalog
    result = await page(models, capability=t)
    assert (result.total, result.page, result.page_size) == (5, 1, 25)
    assert names(result) == [f"{t}-{s}" for s in "abcde"]


async def test_sort_keys_and_descending(
    models: ModelsClient, catalog: tuple[str, dict[str, ModelRecord]]
) -> None:
    t, made = catalog
    assert names(await page(models, capability=t, sort="-name")) == [f"{t}-{s}" for s in "edcba"]
    created = [made[s].name for s in "cabed"]
    assert names(await page(models, capability=t, sort="created_at")) == created
    assert names(await page(models, capability=t, sort="-created_at")) == created[::-1]
    # ties (same provider) are ordered by id, i.e. creation order, in both directions
    assert names(await page(models, capability=t, sort="provider")) == [
        made[s].name for s in "caebd"
    ]
    assert names(await page(models, capability=t, sort="-provider")) == [
        made[s].name for s in "bdcae"
    ]
    updated = await models.call(
        "model.update",
        {"id": made["c"].id, "expected_version": 1, "capability_tags": [t, f"{t}-openai", "x"]},
        ModelRecord,
    )
    assert names(await page(models, capability=t, sort="-updated_at"))[0] == updated.name


async def test_pagination_edges(
    models: ModelsClient, catalog: tuple[str, dict[str, ModelRecord]]
) -> None:
    t, _ = catalog
    pages = [await page(models, capability=t, page_size=2, page=n) for n in (1, 2, 3)]
    assert [names(p) for p in pages] == [
        [f"{t}-a", f"{t}-b"],
        [f"{t}-c", f"{t}-d"],
        [f"{t}-e"],
    ]
    assert {p.total for p in pages} == {5}
    past_the_end = await page(models, capability=t, page_size=2, page=4)
    assert past_the_end.items == []
    assert past_the_end.total == 5
    assert past_the_end.page == 4


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page_size": 0}, "$.page_size"),
        ({"page_size": 101}, "$.page_size"),
        ({"page": 0}, "$.page"),
        ({"page": -1}, "$.page"),
        ({"sort": "size"}, "$.sort"),
        ({"sort": "--name"}, "$.sort"),
        ({"provider": "cohere"}, "$.provider"),
        ({"capability": "Bad Tag"}, "$.capability"),
        ({"q": "x" * 201}, "$.q"),
        ({"limit": 3}, "$"),
    ],
)
async def test_bad_list_parameters_name_the_parameter(
    models: ModelsClient, query: dict[str, Any], field: str
) -> None:
    with pytest.raises(RpcError) as caught:
        await page(models, **query)
    assert caught.value.body.code is ErrorCode.VALIDATION_FAILED
    assert caught.value.body.details[0].field == field


async def test_search_and_filters(
    models: ModelsClient, catalog: tuple[str, dict[str, ModelRecord]]
) -> None:
    t, made = catalog
    assert names(await page(models, capability=t, q="")) == [f"{t}-{s}" for s in "abcde"]
    assert (await page(models, capability=t, q="   ")).total == 5
    assert names(await page(models, q=f"{t}-A")) == [f"{t}-a"]  # case-insensitive
    assert names(await page(models, q=f"pm-{t}-d")) == [f"{t}-d"]  # provider model id
    assert names(await page(models, capability=t, provider="vllm")) == [f"{t}-b", f"{t}-d"]
    assert names(await page(models, capability=f"{t}-openai")) == [f"{t}-{s}" for s in "ace"]
    assert (await page(models, capability=t, provider="gemini")).total == 0
    assert (await page(models, q=f"{t}-zzz")).total == 0
    aliased = await make(models, tag(), [], default_alias=f"alias-{t}")
    assert names(await page(models, q=f"alias-{t}")) == [aliased.name]
    assert made["a"].name in names(await page(models, q=t, page_size=100))


async def test_search_wildcards_are_literal(models: ModelsClient) -> None:
    t = tag()
    await make(models, f"{t}_x", [t])
    await make(models, f"{t}ax", [t])
    assert names(await page(models, q=f"{t}_")) == [f"{t}_x"]
    assert (await page(models, q=f"{t}%")).total == 0
