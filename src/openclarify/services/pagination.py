"""List* semantics shared by every resource: filters, sorting, MaxResults and an opaque NextToken.

The token encodes the offset into the filtered, sorted list together with a digest of the query, so a token
from another query is refused instead of silently paging through the wrong list.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from openclarify.errors import ValidationException

T = TypeVar("T")

DEFAULT_MAX_RESULTS = 10  # what AWS documents for ListEndpoints; used for every list


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None


def paginate(
    rows: Sequence[T],
    params: Mapping[str, Any],
    *,
    name: Callable[[T], str],
    created: Callable[[T], float],
    modified: Callable[[T], float] | None = None,
    status: Callable[[T], str] | None = None,
) -> Page[T]:
    selected = [r for r in rows if _keep(r, params, name, created, modified, status)]

    sort_by = params.get("SortBy", "CreationTime")
    keys: dict[str, Callable[[T], Any]] = {"Name": lambda r: name(r).lower(), "CreationTime": created}
    if status is not None:
        keys["Status"] = status
    key = keys.get(sort_by, created)
    descending = params.get("SortOrder", "Descending") == "Descending"
    # Name breaks ties so the order, and therefore the pages, are stable.
    selected.sort(key=lambda r: (key(r), name(r).lower()), reverse=descending)

    digest = _digest(params)
    offset = _decode(params.get("NextToken"), digest) if params.get("NextToken") else 0
    limit = int(params.get("MaxResults") or DEFAULT_MAX_RESULTS)
    page = selected[offset : offset + limit]
    more = offset + limit < len(selected)
    return Page(page, _encode(offset + limit, digest) if more else None)


def _keep(row, params, name, created, modified, status) -> bool:  # type: ignore[no-untyped-def]
    needle = params.get("NameContains")
    if needle and needle.lower() not in name(row).lower():
        return False
    checks = [("CreationTimeBefore", created, lambda v, t: v < t), ("CreationTimeAfter", created, lambda v, t: v > t)]
    if modified is not None:
        checks += [
            ("LastModifiedTimeBefore", modified, lambda v, t: v < t),
            ("LastModifiedTimeAfter", modified, lambda v, t: v > t),
        ]
    for param, get, ok in checks:
        if param in params and not ok(get(row), to_epoch(params[param])):
            return False
    return not (status is not None and "StatusEquals" in params and status(row) != params["StatusEquals"])


def to_epoch(value: Any) -> float:
    """Timestamps arrive as epoch seconds from botocore; ISO-8601 strings are accepted too."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ValidationException(f"Value '{value}' is not a valid timestamp.") from exc


def _digest(params: Mapping[str, Any]) -> str:
    query = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _encode(offset: int, digest: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": digest}).encode()).decode()


def _decode(token: str, digest: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(data["o"])
        if data["q"] != digest or offset < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationException("Invalid pagination token: it does not belong to this request.") from exc
    return offset
