"""Tolerant readers for HyPhy result JSON: a report must survive any shape, so nothing here raises
on a missing key or a value of the wrong type; it answers None or an empty collection instead."""

from __future__ import annotations

import html
import math
import re
from typing import Any

from service.reports.model import Row

_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_MARKDOWN_EMPHASIS = re.compile(r"\*+|(?<!\w)_|_(?!\w)")


def dig(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]…, or None as soon as a step is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def number(value: Any) -> float | None:
    """A JSON number (or numeric text) as float; None for null, booleans and anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def finite(value: Any) -> float | None:
    """`number`, minus NaN and infinities (which cannot be compared with a threshold)."""
    value = number(value)
    return value if value is not None and math.isfinite(value) else None


def plain(text: Any) -> str:
    """HyPhy's display text without its markup: MEME's headers are `&beta;<sup>+</sup>`,
    citations carry Markdown emphasis (`**title**, _Journal`)."""
    return _MARKDOWN_EMPHASIS.sub("", html.unescape(_TAG.sub("", str(text)))).strip()


def by_partition(content: Any) -> list[tuple[str, Any]]:
    """`{"0": x, "1": y}` in partition order; a bare list is one unnamed partition."""
    if isinstance(content, list):
        return [("0", content)]
    if not isinstance(content, dict):
        return []
    return sorted(content.items(), key=lambda item: _partition_order(str(item[0])))


def _partition_order(key: str) -> tuple[int, int | str]:
    return (0, int(key)) if key.isdigit() else (1, key)


def header_names(headers: Any) -> list[str]:
    """MLE headers are `[[name, description], …]`; keep the names, as plain text."""
    if not isinstance(headers, list):
        return []
    return [plain(h[0] if isinstance(h, list) and h else h) for h in headers]


def named(names: list[str], values: Any) -> Row:
    """One table row as {header: value}; values beyond the headers (FUBAR has two) are dropped."""
    if not isinstance(values, list):
        return {}
    return dict(zip(names, values))


def mle_rows(result: dict, inner: tuple[str, ...] = ()) -> list[tuple[str, Row]]:
    """Per-site rows of `MLE.content` (each partition's value, optionally under `inner` keys)."""
    names = header_names(dig(result, "MLE", "headers"))
    rows = []
    for partition, block in by_partition(dig(result, "MLE", "content")):
        block = dig(block, *inner) if inner else block
        if isinstance(block, list):
            rows += [(partition, named(names, values)) for values in block]
    return rows


def coverage(result: dict, partition: str) -> list[int] | None:
    """The alignment sites (0-based) a partition covers, so site numbers follow the alignment."""
    sites = dig(result, "data partitions", partition, "coverage")
    if isinstance(sites, list) and sites and isinstance(sites[0], list):
        sites = sites[0]
    if isinstance(sites, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in sites):
        return sites
    return None
