"""From (method, job, result) to a Report: the one path every method takes.

`EXTRACTORS` is the only per-method table. A finished job's report must never become a 500, so
each extraction step is isolated: a step that fails on an unexpected result shape is replaced by
a note and the generic summary, and the rest of the page still renders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from service.methods.registry import METHODS
from service.reports import summaries
from service.reports.model import Extractor, Report, Site, SiteResults, SiteSpec, Summary, Threshold
from service.reports.read import coverage, dig, finite, plain
from service.reports.sites import SITE_SPECS
from service.reports.text import count, fmt

log = logging.getLogger(__name__)
T = TypeVar("T")

EXTRACTORS: dict[str, Extractor] = {
    **{method: Extractor(sites=spec) for method, spec in SITE_SPECS.items()},
    "multihit": Extractor(sites=SITE_SPECS["multihit"], summary=summaries.multihit),
    "leisr": Extractor(sites=SITE_SPECS["leisr"], summary=summaries.leisr),
    # HyPhy's aBSREL, BUSTED and RELAX call p ≤ 0.05 significant (fixed in their .bf files)
    "absrel": Extractor(summary=summaries.absrel, threshold=Threshold(
        summaries.GENE_P, options=("pvalue",), recorded=(("test results", "P-value threshold"),))),
    "busted": Extractor(summary=summaries.busted, threshold=Threshold(summaries.GENE_P, options=("pvalue",))),
    "relax": Extractor(summary=summaries.relax, threshold=Threshold(summaries.GENE_P, options=("pvalue",))),
    "gard": Extractor(summary=summaries.gard),
    "bgm": Extractor(summary=summaries.bgm, threshold=Threshold(
        0.5, recorded=(("settings", "threshold"),), label="posterior", relation="≥")),
}
GENERIC = Extractor(summary=summaries.generic)


def build_report(method: str, job: Any, result: Any) -> Report:
    notes: list[str] = []
    job = job if isinstance(job, dict) else {}
    if not isinstance(result, dict):
        notes.append("The result is not a JSON object: nothing could be read from it.")
        result = {}
    extractor = EXTRACTORS.get(method)
    if extractor is None:
        notes.append(f"There is no report layout for method “{method}”: its test results are listed as reported.")
        extractor = GENERIC

    sites = guarded(notes, "the per-site results", lambda: site_results(extractor.sites, job, result)) \
        if extractor.sites else None
    if sites is not None and not sites.sites:
        notes.append("The result holds no per-site rows.")
    threshold = resolve_threshold(extractor.threshold, job, result) if extractor.threshold else None
    summary = guarded(notes, "the summary", lambda: extractor.summary(result, threshold)) if extractor.summary else None
    if summary is None and (sites is None or not sites.sites):
        summary = guarded(notes, "the test results", lambda: summaries.generic(result, None)) or Summary()
    summary = summary or Summary()
    fits = guarded(notes, "the model fits", lambda: summaries.fits(result))

    name = METHODS[method].name if method in METHODS else str(method)
    return Report(
        title=f"{name} report — job {fmt(job.get('job_id'))}",
        method_name=name,
        job_rows=job_rows(name, method, job, result),
        headlines=(site_headlines(sites) if sites else []) + summary.headlines,
        sites=sites if sites and sites.sites else None,
        tables=summary.tables + ([fits] if fits else []),
        notes=notes,
        result_keys=sorted(str(key) for key in result),
        citation=plain(dig(result, "analysis", "citation") or ""),
    )


def guarded(notes: list[str], what: str, step: Callable[[], T]) -> T | None:
    """Run one extraction step; on any error note it instead of failing the whole page."""
    try:
        return step()
    except Exception:  # an unexpected result shape: degrade this section, keep the report
        log.warning("report: could not read %s", what, exc_info=True)
        notes.append(f"Could not read {what} from this result (unexpected shape).")
        return None


def resolve_threshold(threshold: Threshold, job: dict, result: dict) -> float:
    for option in threshold.options:
        value = finite(dig(job, "options", option))
        if value is not None:
            return value
    for path in threshold.recorded:
        value = finite(dig(result, *path))
        if value is not None:
            return value
    return threshold.default


def site_results(spec: SiteSpec, job: dict, result: dict) -> SiteResults:
    """Apply a SiteSpec: number the sites as in the alignment and classify each one."""
    threshold = resolve_threshold(spec.threshold, job, result) if spec.threshold else None
    positions: dict[str, int] = {}
    covered: dict[str, list[int] | None] = {}
    sites = []
    for partition, row in spec.rows(result):
        index = positions[partition] = positions.get(partition, -1) + 1
        if partition not in covered:
            covered[partition] = coverage(result, partition)
        alignment_sites = covered[partition]
        number = alignment_sites[index] + 1 if alignment_sites and index < len(alignment_sites) else len(sites) + 1
        selected = next((c.name for c in spec.classes if threshold is not None and c.test(row, threshold)), None)
        sites.append(Site(number, partition, finite(spec.y(row)), row, selected))
    counts = {c.name: sum(site.selected == c.name for site in sites) for c in spec.classes}
    return SiteResults(spec, sites, threshold, counts)


def site_headlines(sites: SiteResults) -> list[str]:
    threshold = fmt(sites.threshold)
    return [f"{count(sites.counts[c.name], 'site')} {c.summary.format(threshold=threshold)}" for c in sites.spec.classes]


def job_rows(name: str, method: str, job: dict, result: dict) -> list[tuple[str, Any]]:
    """The job summary: what ran, when, on what, with which options, and the owner's notes."""
    annotations = job.get("annotations") if isinstance(job.get("annotations"), dict) else {}
    inputs = {label: dig(result, "input", key) for label, key in (
        ("sequences", "number of sequences"), ("sites", "number of sites"), ("partitions", "partition count"))}
    rows = [
        ("Job id", job.get("job_id")),
        ("Method", f"{name} ({method})"),
        ("Status", job.get("state") or job.get("status")),
        ("Created", job.get("created")),
        ("Started", job.get("started")),
        ("Finished", job.get("finished")),
        ("Run time", run_time(job.get("started"), job.get("finished"))),
        ("Scheduler", job.get("scheduler")),
        ("Resources", job.get("resources")),
        ("Datasets", job.get("datasets")),
        ("Options", job.get("options")),
        ("Labels", annotations.get("labels")),
        ("Notes", annotations.get("notes")),
        ("Input", {k: v for k, v in inputs.items() if v is not None}),
        ("HyPhy version", result.get("runtime")),
        ("Analysis version", dig(result, "analysis", "version")),
    ]
    return [(label, value) for label, value in rows if value not in (None, "", {}, [])]


def run_time(started: Any, finished: Any) -> str | None:
    try:
        seconds = (datetime.fromisoformat(str(finished)) - datetime.fromisoformat(str(started))).total_seconds()
    except (TypeError, ValueError):
        return None
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
