"""How values read in a report: numbers rounded for people, missing values visible as a dash."""

from __future__ import annotations

import math
from typing import Any


def fmt(value: Any) -> str:
    """Display text for a JSON value (not escaped: the page escapes everything it prints)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if 1000 <= abs(value) < 1e9:  # log-likelihoods and AIC-c: decimals matter, not magnitude
            return f"{value:.2f}"
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(fmt(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {fmt(item)}" for key, item in value.items())
    return str(value)


def count(n: int, word: str, plural: str = "") -> str:
    """"1 site", "3 sites" ("1 branch", "2 branches" with `plural`)."""
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"
