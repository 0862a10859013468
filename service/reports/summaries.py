"""Headlines and tables of the gene- and branch-level methods (and the parts of per-site ones
that are not per site). Each reads only what HyPhy 2.5.46 writes; see tests/fixtures/results.

Every summary is `(result, threshold)`: the run's significance threshold as extract.py resolved
it from the method's Threshold (the job's `pvalue` first), or None for methods without one."""

from __future__ import annotations

import statistics

from service.reports.model import Summary, Table
from service.reports.read import by_partition, dig, finite, header_names, mle_rows
from service.reports.text import count, fmt

#: HyPhy's own reporting level for the branch and gene-wide tests (aBSREL, BUSTED, RELAX): "p ≤ 0.05".
GENE_P = 0.05
#: BGM lists pairs from the top down; this many are shown besides those over the threshold.
TOP_PAIRS = 20


def verdict(p: float | None, threshold: float) -> str:
    if p is None:
        return "no p-value reported"
    return f"{'significant' if p <= threshold else 'not significant'} at p ≤ {fmt(threshold)}"


def rate_distributions(result: dict, models: tuple[str, ...]) -> Table:
    """ω (or synonymous rate) classes of the named fits, one row per class."""
    rows = []
    for model in models:
        for branch_set, classes in (dig(result, "fits", model, "Rate Distributions") or {}).items():
            for index, rate_class in by_partition(classes):
                if isinstance(rate_class, dict):
                    value = rate_class.get("omega", rate_class.get("rate"))
                    rows.append([model, branch_set, int(index) + 1 if index.isdigit() else index, value,
                                 rate_class.get("proportion")])
    return Table("Rate distributions", ["model", "branch set / rates", "class", "ω (or rate)", "proportion"], rows)


def test_results(result: dict) -> Table:
    """`test results`, one level of nesting flattened: the generic view for any method."""
    rows = []
    tests = dig(result, "test results")
    for key, value in tests.items() if isinstance(tests, dict) else ():
        if isinstance(value, dict):
            rows += [[f"{key} / {inner}", item] for inner, item in value.items()]
        else:
            rows.append([key, value])
    return Table("Test results", ["name", "value"], rows)


def fits(result: dict) -> Table:
    """Log-likelihood and AIC-c of every model HyPhy fitted (every codon method has `fits`)."""
    rows = [[name, dig(fit, "Log Likelihood"), dig(fit, "AIC-c"), dig(fit, "estimated parameters")]
            for name, fit in (dig(result, "fits") or {}).items() if isinstance(fit, dict)]
    return Table("Model fits", ["model", "log L", "AIC-c", "parameters"], rows)


def absrel(result: dict, threshold: float) -> Summary:
    tested = dig(result, "tested", "0") or {}
    attributes = dig(result, "branch attributes", "0") or {}
    branches = [(name, values) for name, values in attributes.items()
                if isinstance(values, dict) and (tested.get(name) == "test" if tested else "Corrected P-value" in values)]
    branches.sort(key=lambda item: (finite(item[1].get("Corrected P-value")) or 1.0, item[0]))
    rows, selected = [], set()
    for index, (name, values) in enumerate(branches):
        corrected = finite(values.get("Corrected P-value"))
        if corrected is not None and corrected <= threshold:
            selected.add(index)
        omegas = values.get("Rate Distributions")
        rows.append([name, values.get("Rate classes"), values.get("LRT"), values.get("Uncorrected P-value"),
                     values.get("Corrected P-value"), omega_classes(omegas)])
    headline = (f"{len(selected)} of {count(len(rows), 'tested branch', 'tested branches')} with evidence of "
                f"episodic diversifying selection at corrected p ≤ {fmt(threshold)}")
    table = Table("Tested branches", ["branch", "rate classes", "LRT", "uncorrected p", "corrected p",
                                      "ω distribution (ω × proportion)"], rows, frozenset(selected),
                  note=f"Highlighted: corrected p ≤ {fmt(threshold)} (Holm–Bonferroni).")
    return Summary([headline], [table])


def omega_classes(classes: object) -> str:
    """aBSREL's `[[ω, proportion], …]` as "0.05 × 90%, 12 × 10%"."""
    if not isinstance(classes, list):
        return fmt(classes)
    parts = []
    for pair in classes:
        omega, weight = (pair + [None, None])[:2] if isinstance(pair, list) else (pair, None)
        weight = finite(weight)
        parts.append(fmt(omega) + (f" × {weight:.0%}" if weight is not None else ""))
    return ", ".join(parts)


def busted(result: dict, threshold: float) -> Summary:
    p = finite(dig(result, "test results", "p-value"))
    headline = (f"Evidence of episodic diversifying selection: p = {fmt(p)} "
                f"(LRT = {fmt(dig(result, 'test results', 'LRT'))}), {verdict(p, threshold)}")
    return Summary([headline], [rate_distributions(result, ("Unconstrained model", "Constrained model"))])


def relax(result: dict, threshold: float) -> Summary:
    k = finite(dig(result, "test results", "relaxation or intensification parameter"))
    p = finite(dig(result, "test results", "p-value"))
    direction = "" if k is None else " (relaxation)" if k < 1 else " (intensification)" if k > 1 else ""
    headlines = [f"Selection strength parameter K = {fmt(k)}{direction} on test branches relative to reference",
                 (f"Test for relaxation or intensification: p = {fmt(p)} "
                  f"(LRT = {fmt(dig(result, 'test results', 'LRT'))}), {verdict(p, threshold)}")]
    return Summary(headlines, [test_results(result), rate_distributions(result, ("RELAX alternative", "RELAX null"))])


def gard(result: dict, _threshold: float | None) -> Summary:
    segments = [(index, dig(data, "bps")) for index, data in by_partition(dig(result, "breakpointData"))]
    best, single = finite(result.get("bestModelAICc")), finite(result.get("singleTreeAICc"))
    headlines = [(f"{count(max(len(segments) - 1, 0), 'breakpoint')} in the best model "
                  f"({count(len(segments), 'segment')}): c-AIC {fmt(best)} vs {fmt(single)} for a single tree")]
    if best is not None and single is not None:
        headlines.append(f"c-AIC improvement over a single tree: {fmt(single - best)}")
    segment_rows = [[int(index) + 1 if index.isdigit() else index,
                     *(bps[0][:2] if isinstance(bps, list) and bps and isinstance(bps[0], list) else [bps, None])]
                    for index, bps in segments]
    search = [[step, dig(data, "breakpoints"), dig(data, "deltaAICc")]
              for step, data in by_partition(result.get("improvements"))]
    overview = [[name, result.get(key)] for name, key in (
        ("c-AIC, best model", "bestModelAICc"), ("c-AIC, single tree", "singleTreeAICc"),
        ("c-AIC, baseline", "baselineScore"), ("potential breakpoints", "potentialBreakpoints"),
        ("models evaluated", "totalModelCount"), ("time (s)", "timeElapsed"))]
    return Summary(headlines, [Table("Segments of the best model", ["segment", "from site", "to site"], segment_rows),
                               Table("Model search", ["name", "value"], overview),
                               Table("Improvements per step", ["step", "breakpoints", "Δ c-AIC"], search)])


def bgm(result: dict, threshold: float) -> Summary:
    names = header_names(dig(result, "MLE", "headers"))
    joint = next((name for name in names if "<" in name and ">" in name), names[4] if len(names) > 4 else None)
    pairs = sorted((row for _, row in mle_rows(result)), key=lambda row: -(finite(row.get(joint)) or 0))
    selected = [row for row in pairs if (finite(row.get(joint)) or 0) >= threshold]
    shown = pairs[:max(len(selected), TOP_PAIRS)]
    table = Table(f"Site pairs, strongest first (the top {TOP_PAIRS} and every pair with posterior ≥ {fmt(threshold)})",
                  names, [[row.get(name) for name in names] for row in shown], frozenset(range(len(selected))),
                  note=f"Highlighted: {joint} ≥ {fmt(threshold)}.")
    headline = (f"{len(selected)} of {count(len(pairs), 'site pair')} co-evolving with posterior "
                f"probability ≥ {fmt(threshold)}")
    return Summary([headline], [table])


def multihit(result: dict, _threshold: float | None) -> Summary:
    tests = dig(result, "test results") or {}
    rows = [[name, dig(test, "LRT"), dig(test, "p-value")] for name, test in tests.items()]
    headlines = [f"{name}: LRT = {fmt(lrt)}, p = {fmt(p)}" for name, lrt, p in rows]
    return Summary(headlines, [Table("Model comparisons", ["test", "LRT", "p-value"], rows)])


def leisr(result: dict, _threshold: float | None) -> Summary:
    rates = [r for r in (finite(row.get("MLE")) for _, row in mle_rows(result)) if r is not None]
    if not rates:
        return Summary(["No site rates in the result"])
    median = statistics.median(rates)
    return Summary([f"Relative rates estimated for {count(len(rates), 'site')}: median {fmt(median)}, "
                    + f"range {fmt(min(rates))} – {fmt(max(rates))}"])


def generic(result: dict, _threshold: float | None) -> Summary:
    """Any method this module does not know: what HyPhy tested, plainly listed."""
    tests = test_results(result)
    return Summary([f"{count(len(tests.rows), 'test result')} reported"], [tests] if tests.rows else [])
