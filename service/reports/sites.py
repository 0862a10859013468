"""Per-site methods as data: where each one's site rows are, what to plot, what counts as selected.

The tests mirror HyPhy 2.5.46's own summaries (SelectionAnalyses/*.bf), so a report's counts
agree with the "Found N sites…" line HyPhy printed:
- FEL: p ≤ threshold, positive when β > α, negative otherwise;
- SLAC: the smaller of the averaged and resolved p-values, negative tested first;
- MEME, PRIME, Contrast-FEL: the site's (overall) p-value ≤ threshold;
- FUBAR: posterior Prob[α<β] (positive) or Prob[α>β] (negative) ≥ threshold (0.9);
- FADE: the strongest residue's Bayes factor ≥ threshold (100);
- FMM (multi-hit): an evidence ratio above e² (FitMultiModel.bf calls out Log(ER) > 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from service.reports.model import Row, SiteClass, SiteSpec, Threshold
from service.reports.read import by_partition, dig, finite, header_names, mle_rows, named

Test = Callable[[Row, float], bool]


def p_at_most(*columns: str, when: Callable[[Row], bool] = lambda row: True) -> Test:
    """Selected when the smallest finite value among `columns` is ≤ the threshold (and `when`)."""

    def test(row: Row, threshold: float) -> bool:
        values = [v for v in (finite(row.get(c)) for c in columns) if v is not None]
        return bool(values) and min(values) <= threshold and when(row)

    return test


def at_least(column: str) -> Test:
    def test(row: Row, threshold: float) -> bool:
        value = finite(row.get(column))
        return value is not None and value >= threshold

    return test


def beta_above_alpha(row: Row) -> bool:
    alpha, beta = finite(row.get("alpha")), finite(row.get("beta"))
    return alpha is not None and beta is not None and beta > alpha


def column(name: str) -> Callable[[Row], Any]:
    return lambda row: row.get(name)


def difference(minuend: str, subtrahend: str) -> Callable[[Row], float | None]:
    def value(row: Row) -> float | None:
        a, b = finite(row.get(minuend)), finite(row.get(subtrahend))
        return None if a is None or b is None else a - b

    return value


SLAC_P = ("P [dN/dS > 1]", "P [dN/dS < 1]")


def slac_rows(result: dict) -> list[tuple[str, Row]]:
    """SLAC's averaged rows, with the resolved p-values beside them (HyPhy tests the smaller)."""
    averaged = mle_rows(result, ("by-site", "AVERAGED"))
    resolved = mle_rows(result, ("by-site", "RESOLVED"))
    if len(resolved) == len(averaged):
        for (_, row), (_, other) in zip(averaged, resolved):
            row.update({f"{name} (resolved)": other.get(name) for name in SLAC_P})
    return averaged


def evidence_ratio_rows(result: dict) -> list[tuple[str, Row]]:
    """FMM's `Evidence Ratios`: {model comparison: [per partition: [per site ER]]} → one row per site."""
    ratios = {name: values for name, values in (dig(result, "Evidence Ratios") or {}).items()
              if isinstance(values, list)}
    partitions = max((len(values) for values in ratios.values()), default=0)
    rows = []
    for index in range(partitions):
        per_site = {name: values[index] for name, values in ratios.items()
                    if index < len(values) and isinstance(values[index], list)}
        sites = max((len(values) for values in per_site.values()), default=0)
        rows += [(str(index), {f"ER ({name})": values[site] if site < len(values) else None
                               for name, values in per_site.items()}) for site in range(sites)]
    return rows


def largest_ratio(row: Row) -> float | None:
    values = [v for v in (finite(value) for value in row.values()) if v is not None]
    return max(values) if values else None


FADE_BF = "BayesFactor[bias>0]"


def fade_rows(result: dict) -> list[tuple[str, Row]]:
    """FADE reports each residue separately; a site is summarised by its strongest residue."""
    names = header_names(dig(result, "MLE", "headers"))
    strongest: dict[tuple[str, int], Row] = {}
    for residue, partitions in by_partition(dig(result, "MLE", "content")):
        for partition, block in by_partition(partitions):
            for index, values in enumerate(block if isinstance(block, list) else []):
                row = {"residue": residue, **named(names, values)}
                best = strongest.get((partition, index))
                if best is None or (finite(row.get(FADE_BF)) or 0) > (finite(best.get(FADE_BF)) or 0):
                    strongest[(partition, index)] = row
    return [(partition, row) for (partition, _), row in strongest.items()]


P_VALUE = Threshold(0.1, options=("pvalue",))

SITE_SPECS: dict[str, SiteSpec] = {
    "fel": SiteSpec(
        rows=mle_rows, y=difference("beta", "alpha"), y_label="β − α (dN − dS)", y_scale="symlog",
        threshold=P_VALUE,
        classes=(
            SiteClass("positive", "under pervasive positive diversifying selection at p ≤ {threshold}",
                      p_at_most("p-value", when=beta_above_alpha)),
            SiteClass("negative", "under pervasive negative selection at p ≤ {threshold}", p_at_most("p-value")),
        ),
    ),
    "slac": SiteSpec(
        rows=slac_rows, y=column("dN-dS"), y_label="dN − dS", y_scale="symlog", threshold=P_VALUE,
        classes=(
            SiteClass("negative", "under pervasive negative selection at p ≤ {threshold}",
                      p_at_most(SLAC_P[1], f"{SLAC_P[1]} (resolved)")),
            SiteClass("positive", "under pervasive positive diversifying selection at p ≤ {threshold}",
                      p_at_most(SLAC_P[0], f"{SLAC_P[0]} (resolved)")),
        ),
    ),
    "meme": SiteSpec(
        rows=mle_rows, y=column("p-value"), y_label="p-value", y_scale="p", threshold=P_VALUE, threshold_line=True,
        classes=(SiteClass("positive", "under episodic diversifying positive selection at p ≤ {threshold}",
                           p_at_most("p-value")),),
    ),
    "fubar": SiteSpec(
        rows=mle_rows, y=column("Prob[alpha<beta]"), y_label="posterior Prob[α < β]", threshold_line=True,
        threshold=Threshold(0.9, recorded=(("settings", "posterior"),), label="posterior", relation="≥"),
        classes=(
            SiteClass("positive", "under pervasive positive diversifying selection (posterior Prob[α<β] ≥ {threshold})",
                      at_least("Prob[alpha<beta]")),
            SiteClass("negative", "under pervasive negative selection (posterior Prob[α>β] ≥ {threshold})",
                      at_least("Prob[alpha>beta]")),
        ),
    ),
    "contrast-fel": SiteSpec(
        rows=mle_rows, y=column("P-value (overall)"), y_label="overall p-value", y_scale="p", threshold_line=True,
        threshold=Threshold(0.05, options=("p_value",)),
        classes=(SiteClass("different", "with different dN/dS between branch sets at p ≤ {threshold}",
                           p_at_most("P-value (overall)")),),
    ),
    "multihit": SiteSpec(
        rows=evidence_ratio_rows, y=largest_ratio, y_label="largest evidence ratio", y_scale="log",
        threshold_line=True, threshold=Threshold(math.exp(2), label="evidence ratio", relation=">"),
        classes=(SiteClass("multi-hit", "with strong preference for multiple-hit models (evidence ratio > {threshold})",
                           lambda row, threshold: (largest_ratio(row) or 0) > threshold),),
    ),
    "fade": SiteSpec(
        rows=fade_rows, y=column(FADE_BF), y_label="largest Bayes factor", y_scale="log",
        threshold_line=True,
        threshold=Threshold(100, options=("bayes_factor_threshold",), recorded=(("settings", "bayes factor"),),
                            label="Bayes factor", relation="≥"),
        classes=(SiteClass("directional", "with directional selection towards a residue (Bayes factor ≥ {threshold})",
                           at_least(FADE_BF)),),
    ),
    "prime": SiteSpec(
        rows=mle_rows, y=column("p-value"), y_label="omnibus p-value", y_scale="p", threshold=P_VALUE,
        threshold_line=True,
        classes=(SiteClass("property", "where an amino-acid property was important at p ≤ {threshold}",
                           p_at_most("p-value")),),
    ),
    "leisr": SiteSpec(rows=mle_rows, y=column("MLE"), y_label="relative rate (MLE)", threshold=None, classes=()),
}
