"""Shared checks of list requests: page bounds and sort keys, as field-level errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.rpc import MAX_PAGE_SIZE
from llmctl_libs.rpc import RpcError

__all__ = ["MAX_PAGE", "check_page", "fitting", "invalid", "omit_largest", "order_by"]

_Record = TypeVar("_Record")
_REPLY_OVERHEAD = 1024
"""Bytes of an answer that are not its records (the reply envelope around the list)."""


def invalid(field: str, reason: str) -> RpcError:
    """A ``validation_failed`` error naming one field."""
    return RpcError(ErrorBody.for_field(ErrorCode.VALIDATION_FAILED, field, reason))


MAX_PAGE = 1_000_000
"""Largest page number a list may be asked for."""


def check_page(page: int, page_size: int) -> None:
    """Refuse a page outside ``1..MAX_PAGE`` or a page size outside ``1..MAX_PAGE_SIZE``."""
    if not 1 <= page <= MAX_PAGE:
        raise invalid("page", f"must be between 1 and {MAX_PAGE}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise invalid("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")


def order_by(
    sort: str,
    allowed: Sequence[str],
    columns: dict[str, sa.ColumnElement[Any]],
    tie: sa.Column[str],
) -> list[Any]:
    """ORDER BY clauses of a ``[-]column`` sort key, with ``tie`` breaking ties the same way.

    Raises:
        RpcError: ``validation_failed`` naming ``sort`` when it is not one of ``allowed``.
    """
    if sort not in allowed:
        raise invalid("sort", f"must be one of {', '.join(allowed)}")
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    if descending:
        return [column.desc(), tie.desc()]
    return [column.asc(), tie.asc()]


def fitting(
    answer_bytes: Callable[[], int] | None,
    records: Iterable[_Record],
    shrink: Callable[[_Record, int], _Record] | None = None,
) -> list[_Record]:
    """The records up to the last that fits in one answer of at most ``answer_bytes()`` bytes
    (all of them if ``None``), and at least the first. A client pages on until a page is empty.

    A first record too large alone is served as ``shrink(record, room)`` makes it (its largest
    fields emptied: :func:`omit_largest`); without ``shrink``, or if it still does not fit, the
    answer is ``too_large``.
    """
    budget = None if answer_bytes is None else answer_bytes() - _REPLY_OVERHEAD
    page: list[_Record] = []
    for record in records:
        if budget is not None:
            size = len(msgspec.json.encode(record)) + 1
            if size > budget and page:
                break  # the page ends here; the next one starts with this record
            if size > budget and shrink is not None:
                record = shrink(record, budget - 1)
                size = len(msgspec.json.encode(record)) + 1
            budget -= size
        page.append(record)
    return page


def omit_largest(values: dict[str, Any], room: int) -> tuple[dict[str, Any], list[str]]:
    """``values`` with its largest entries emptied (``{}``, ``[]``, ``""`` or ``None``, by JSON
    type) until it encodes to at most ``room`` bytes, or none is left; and the emptied keys,
    largest first."""
    kept = dict(values)
    total = len(msgspec.json.encode(kept))
    omitted: list[str] = []
    by_size = sorted(kept, key=lambda k: len(msgspec.json.encode(kept[k])), reverse=True)
    for key in by_size:
        if total <= room:
            break
        empty = _empty_like(kept[key])
        total -= len(msgspec.json.encode(kept[key])) - len(msgspec.json.encode(empty))
        kept[key] = empty
        omitted.append(key)
    return kept, omitted


def _empty_like(value: Any) -> Any:
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    if isinstance(value, str):
        return ""
    return None
