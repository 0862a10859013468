"""What a report is made of, independent of HTML: extractors fill these, one renderer draws them.

Keeping the per-method knowledge (which JSON keys, which test, which threshold) in data means
every method goes through the same page and plot code, and a new method is one table entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: One site's named values, as HyPhy reports them (plain header text → number, text or None).
Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    """A titled table; `highlighted` holds the indexes of rows drawn as selected."""

    caption: str
    headers: list[str]
    rows: list[list[Any]]
    highlighted: frozenset[int] = frozenset()
    note: str = ""


@dataclass(frozen=True)
class SiteClass:
    """One way a site can be selected, e.g. "positive": p ≤ threshold and β > α.

    `summary` completes "N sites …" in the headline and may use `{threshold}`.
    """

    name: str
    summary: str
    test: Callable[[Row, float], bool]


@dataclass(frozen=True)
class Threshold:
    """Where a run's significance threshold comes from, in order of trust.

    The job's own options first (they are what the service passed to HyPhy), then the value
    HyPhy recorded in its result (e.g. FUBAR's `settings.posterior`), then the method default.
    `label` names it in headlines, e.g. "p" → "at p ≤ 0.1".
    """

    default: float
    options: tuple[str, ...] = ()
    recorded: tuple[tuple[str, ...], ...] = ()
    label: str = "p"
    relation: str = "≤"


@dataclass(frozen=True)
class Site:
    """One plotted point; `selected` is the name of the SiteClass it met, or None."""

    number: int
    partition: str
    y: float | None
    row: Row
    selected: str | None = None


@dataclass(frozen=True)
class SiteSpec:
    """How to read one per-site method: its rows, the plotted statistic and its tests.

    `y_scale` is "linear", "symlog" (signed log, for rate differences), "p" (p-values, drawn as
    −log10) or "log" (ratios, log10 axis).
    `threshold_line` draws the threshold on the y axis when the plotted value is the one tested.
    """

    rows: Callable[[dict], list[tuple[str, Row]]]
    y: Callable[[Row], Any]
    y_label: str
    classes: tuple[SiteClass, ...]
    threshold: Threshold | None
    y_scale: str = "linear"
    threshold_line: bool = False


@dataclass(frozen=True)
class Summary:
    """Headline sentences and tables that do not depend on per-site points."""

    headlines: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass(frozen=True)
class Extractor:
    """Everything method-specific about a report. Either part may be absent."""

    sites: SiteSpec | None = None
    #: (result, the run's threshold: `threshold` resolved, or None when the method has none) → Summary
    summary: Callable[[dict, float | None], Summary] | None = None
    #: The summary's significance threshold (e.g. aBSREL's corrected p), resolved like a site test's.
    threshold: Threshold | None = None


@dataclass(frozen=True)
class SiteResults:
    """A SiteSpec applied to one result: the points, the threshold used and counts per class."""

    spec: SiteSpec
    sites: list[Site]
    threshold: float | None
    counts: dict[str, int]

    @property
    def selected(self) -> list[Site]:
        return [site for site in self.sites if site.selected]


@dataclass(frozen=True)
class Report:
    title: str
    method_name: str
    job_rows: list[tuple[str, Any]]
    headlines: list[str]
    sites: SiteResults | None
    tables: list[Table]
    notes: list[str]
    result_keys: list[str]
    citation: str = ""
