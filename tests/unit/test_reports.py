"""service/reports on real HyPhy 2.5.46 outputs (tests/fixtures/results, see make_results.py).

Every count is recomputed here from the result JSON, independently of the renderer, and the
page is parsed (html.parser), never substring-counted: points drawn, points highlighted, table
rows highlighted, headline figures, self-containment (no script, nothing fetched) and escaping.
"""

from __future__ import annotations

import copy
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from service import reports
from service.methods.registry import METHODS, get_method
from tests.fixtures.make_results import RUNS

RESULTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "results"
RESULTS = {path.stem: json.loads(path.read_text()) for path in sorted(RESULTS_DIR.glob("*.json"))}
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>" onmouseover="alert(2)'


def result(method: str) -> dict:
    return copy.deepcopy(RESULTS[method])


def job(method: str, **options) -> dict:
    """The job view the handler passes (views.job_details), with the options that made the fixture."""
    body = RUNS[method][2] if method in RUNS else {}
    canonical = get_method(method).normalize({"alignment": "a1", **body})[1] if method in METHODS else {}
    return {
        "job_id": "0123abcd", "method": method, "status": "completed", "state": "completed",
        "created": "2026-11-23T10:00:00+00:00", "started": "2026-11-23T10:00:01+00:00",
        "finished": "2026-11-23T10:00:41+00:00", "options": {**canonical, **options},
        "datasets": {"alignment": "a1", "tree": "t1"}, "resources": {"cpus": 1, "memory_mb": 1024},
        "annotations": {}, "scheduler": "LocalScheduler",
    }


class Page(HTMLParser):
    """Start tags with their attributes, headline texts and tables (rows with classes and cells)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.headlines: list[str] = []
        self.tables: list[dict] = []
        self.text: list[str] = []
        self.style = ""
        self._in: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        classes = (attrs.get("class") or "").split()
        if tag == "li" and "headline" in classes:
            self.headlines.append("")
        if tag == "table":
            self.tables.append({"class": attrs.get("class"), "heading": self._heading, "rows": []})
        if tag == "tr" and self.tables:
            self.tables[-1]["rows"].append({"classes": classes, "cells": []})
        if tag in ("td", "th") and self.tables and self.tables[-1]["rows"]:
            self.tables[-1]["rows"][-1]["cells"].append("")
        if tag == "h2":
            self._heading = ""
        self._in.append(tag)

    _heading = ""

    def handle_endtag(self, tag):
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag):]

    def handle_data(self, data):
        self.text.append(data)
        if "style" in self._in:
            self.style += data
        if "li" in self._in and self.headlines:
            self.headlines[-1] += data
        if "h2" in self._in:
            self._heading += data
        if ("td" in self._in or "th" in self._in) and self.tables and self.tables[-1]["rows"]:
            self.tables[-1]["rows"][-1]["cells"][-1] += data

    def elements(self, tag: str, css_class: str | None = None) -> list[dict]:
        return [attrs for t, attrs in self.tags
                if t == tag and (css_class is None or css_class in (attrs.get("class") or "").split())]

    def table(self, heading: str) -> dict:
        return next(t for t in self.tables if t["heading"].startswith(heading))

    def headline(self, pattern: str) -> re.Match:
        match = next((m for h in self.headlines if (m := re.search(pattern, h))), None)
        assert match, f"no headline matches {pattern!r}: {self.headlines}"
        return match


FIXTURE = object()  # render()'s default: the stored job/result for the method (None is a test input)


def render(method: str, the_job=FIXTURE, the_result=FIXTURE) -> tuple[str, Page]:
    html = reports.render(method, job(method) if the_job is FIXTURE else the_job,
                          result(method) if the_result is FIXTURE else the_result)
    return html, Page(html)


# --- independent readings of the result JSON -----------------------------------------------

def columns(res: dict, rows: list) -> list[dict]:
    names = [re.sub(r"<[^>]+>", "", h[0]) for h in res["MLE"]["headers"]]
    return [dict(zip(names, row)) for row in rows]


def mle(res: dict) -> list[dict]:
    return columns(res, [row for _, block in sorted(res["MLE"]["content"].items()) for row in block])


def slac_selected(res: dict, p: float) -> int:
    by_site = res["MLE"]["content"]["0"]["by-site"]
    averaged, resolved = columns(res, by_site["AVERAGED"]), columns(res, by_site["RESOLVED"])

    def smallest(a, r, key):
        return min(v for v in (a[key], r[key]) if v is not None)

    return sum(smallest(a, r, "P [dN/dS > 1]") <= p or smallest(a, r, "P [dN/dS < 1]") <= p
               for a, r in zip(averaged, resolved))


def fade_selected(res: dict) -> int:
    content, threshold = res["MLE"]["content"], res["settings"]["bayes factor"]
    sites = len(next(iter(content.values()))["0"])
    return sum(any(content[aa]["0"][s][3] >= threshold for aa in content) for s in range(sites))


def multihit_selected(res: dict) -> int:
    ratios = res["Evidence Ratios"]
    return sum(max(values) > math.exp(2) for values in zip(*(r[0] for r in ratios.values())))


#: method → result → (sites, selected) as HyPhy's own summary would count them.
SITE_COUNTS = {
    "fel": lambda r: sum(row["p-value"] <= 0.1 for row in mle(r)),
    "meme": lambda r: sum(row["p-value"] <= 0.1 for row in mle(r)),
    "fubar": lambda r: sum(row["Prob[alpha<beta]"] >= r["settings"]["posterior"]
                           or row["Prob[alpha>beta]"] >= r["settings"]["posterior"] for row in mle(r)),
    "contrast-fel": lambda r: sum(row["P-value (overall)"] <= 0.05 for row in mle(r)),
    "slac": lambda r: slac_selected(r, 0.1),
    "fade": fade_selected,
    "multihit": multihit_selected,
    "leisr": lambda r: 0,
}


def plotted(page: Page) -> tuple[int, int, dict]:
    svg = page.elements("svg", "site-plot")
    assert len(svg) == 1
    return len(page.elements("circle", "site")), len(page.elements("circle", "selected")), svg[0]


# --- per-site methods --------------------------------------------------------------------

@pytest.mark.parametrize("method", sorted(SITE_COUNTS))
def test_every_site_is_one_point_and_the_selected_ones_are_highlighted(method):
    res = result(method)
    _, page = render(method)
    points, selected, svg = plotted(page)
    assert points == res["input"]["number of sites"] == int(svg["data-sites"])
    assert selected == SITE_COUNTS[method](res) == int(svg["data-selected"])
    selected_table = [t for t in page.tables if t["class"] == "selected-sites"]
    assert len(selected_table[0]["rows"]) - 1 == selected if selected else not selected_table


@pytest.mark.parametrize("method", sorted(SITE_COUNTS))
def test_the_plot_is_labelled_for_people_and_screen_readers(method):
    _, page = render(method)
    svg = page.elements("svg", "site-plot")[0]
    assert svg["role"] == "img" and svg["aria-label"]
    first_child = page.tags[page.tags.index(("svg", svg)) + 1]
    assert first_child == ("title", {})
    assert len(page.elements("g", "axis")) == 2
    tick_labels = [t for t, _ in page.tags if t == "text"]
    assert len(tick_labels) > 6


def test_fel_headline_counts_positive_and_negative_sites_separately():
    rows = mle(result("fel"))
    positive = sum(r["p-value"] <= 0.1 and r["beta"] > r["alpha"] for r in rows)
    negative = sum(r["p-value"] <= 0.1 for r in rows) - positive
    _, page = render("fel")
    assert int(page.headline(r"^(\d+) sites? under pervasive positive.* at p ≤ 0\.1$")[1]) == positive
    assert int(page.headline(r"^(\d+) sites? under pervasive negative.* at p ≤ 0\.1$")[1]) == negative
    assert negative == 77  # what HyPhy printed for adh: "Found _0_ … and _77_ sites under negative selection"
    assert len(page.elements("circle", "negative")) == negative


def test_meme_fubar_contrast_fel_headlines():
    _, page = render("meme")
    assert int(page.headline(r"^(\d+) sites? under episodic diversifying")[1]) == SITE_COUNTS["meme"](result("meme"))
    fubar = result("fubar")
    _, page = render("fubar")
    positive = sum(r["Prob[alpha<beta]"] >= 0.9 for r in mle(fubar))
    assert int(page.headline(r"^(\d+) sites? under pervasive positive.*≥ 0\.9")[1]) == positive
    _, page = render("contrast-fel")
    assert int(page.headline(r"^(\d+) sites? with different dN/dS.* p ≤ 0\.05$")[1]) == 8


def test_the_threshold_comes_from_the_job_options_first():
    res = result("slac")
    _, page = render("slac", job("slac", pvalue=0.5))
    expected = slac_selected(res, 0.5)
    assert expected > 0
    assert plotted(page)[1] == expected
    page.headline(r"p ≤ 0\.5$")


def test_the_threshold_comes_from_the_result_when_the_options_lack_it():
    res = result("fubar")
    res["settings"]["posterior"] = 0.5
    _, page = render("fubar", the_result=res)
    assert plotted(page)[1] == SITE_COUNTS["fubar"](res) > SITE_COUNTS["fubar"](result("fubar"))


def boost_slac(r):
    r["MLE"]["content"]["0"]["by-site"]["AVERAGED"][7][8] = 0.001


def boost_fade(r):
    r["MLE"]["content"]["K"]["0"][10][3] = 1000


def boost_multihit(r):
    r["Evidence Ratios"]["Two-hit"][0][3] = 50


@pytest.mark.parametrize("method, boost", [("slac", boost_slac), ("fade", boost_fade), ("multihit", boost_multihit)])
def test_a_site_made_significant_is_highlighted(method, boost):
    """The adh/p51 fixtures have no selected site for these methods; make one and find it drawn."""
    res = result(method)
    boost(res)
    _, page = render(method, the_result=res)
    assert plotted(page)[1] == SITE_COUNTS[method](res) == 1
    assert len(page.table("Sites")["rows"]) == 2


def test_sites_are_numbered_as_in_the_alignment_across_partitions():
    res = result("fel")
    rows = res["MLE"]["content"]["0"]
    res["MLE"]["content"] = {"0": rows[:100], "1": rows[100:]}
    res["data partitions"] = {"0": {"coverage": [list(range(100))]}, "1": {"coverage": [list(range(100, 254))]}}
    _, page = render("fel", the_result=res)
    assert plotted(page)[0] == 254
    numbers = sorted(int(row["cells"][0]) for row in page.table("Sites")["rows"][1:])
    assert numbers == sorted(i + 1 for i, row in enumerate(rows) if row[4] <= 0.1)


def test_leisr_plots_rates_and_selects_nothing():
    _, page = render("leisr")
    assert plotted(page)[:2] == (440, 0)
    page.headline(r"^Relative rates estimated for 440 sites")


def test_prime_without_a_fixture_reads_its_omnibus_p_value():
    """PRIME takes 20+ minutes even on adh, so its shape is taken from PRIME.bf (headers 0-9, then
    three per property); the omnibus `p-value` is column 9."""
    headers = [[name, ""] for name in ("&alpha;", "&beta;", "FEL &alpha;", "FEL &beta;", "Total branch length",
                                       "# subs", "# aa", "PRIME LogL", "FEL LogL", "p-value", "&lambda;1", "p1", "LogL1")]
    p_values = [0.5, 0.01, 0.2, 0.09, 1.0]
    rows = [[1, 1, 1, 1, 0.5, 2, 2, -10, -11, p, 0.1, p, -10] for p in p_values]
    res = {"MLE": {"headers": headers, "content": {"0": rows}}, "input": {"number of sites": len(rows)}}
    _, page = render("prime", job("prime", pvalue=0.1), res)
    assert plotted(page)[:2] == (5, 2)
    assert int(page.headline(r"^(\d+) sites? where an amino-acid property was important at p ≤ 0\.1$")[1]) == 2
    assert [row["cells"][0] for row in page.table("Sites")["rows"][1:]] == ["2", "4"]
    assert page.table("Sites")["rows"][0]["cells"][2] == "α"  # HyPhy's `&alpha;`, shown once as text


# --- branch and gene-level methods -------------------------------------------------------

def highlighted(table: dict) -> int:
    return sum("selected" in row["classes"] for row in table["rows"])


def test_absrel_lists_tested_branches_and_highlights_corrected_p():
    res = result("absrel")
    threshold = res["test results"]["P-value threshold"]
    tested = [b for b, role in res["tested"]["0"].items() if role == "test"]
    significant = sum(res["branch attributes"]["0"][b]["Corrected P-value"] <= threshold for b in tested)
    _, page = render("absrel")
    match = page.headline(r"^(\d+) of (\d+) tested branch")
    assert (int(match[1]), int(match[2])) == (significant, len(tested)) == (0, res["test results"]["tested"])
    table = page.table("Tested branches")
    assert len(table["rows"]) - 1 == len(tested) and highlighted(table) == significant

    res["branch attributes"]["0"]["SIL"]["Corrected P-value"] = 0.001
    _, page = render("absrel", the_result=res)
    assert highlighted(page.table("Tested branches")) == 1
    assert page.table("Tested branches")["rows"][1]["cells"][0] == "SIL"
    page.headline(r"^1 of \d+ tested branches")


def number_after(page: Page, label: str) -> float:
    return float(page.headline(rf"{label} = (-?[\d.e+-]+)")[1])


def test_busted_reports_the_test_and_the_omega_distribution():
    res = result("busted")
    _, page = render("busted")
    assert number_after(page, "p") == pytest.approx(res["test results"]["p-value"], rel=1e-3)
    page.headline(r"^Evidence of episodic diversifying selection: p = ")
    omegas = res["fits"]["Unconstrained model"]["Rate Distributions"]["Test"]
    rows = [r for r in page.table("Rate distributions")["rows"][1:] if r["cells"][1] == "Test"]
    assert [float(r["cells"][3]) for r in rows] == pytest.approx([c["omega"] for c in omegas.values()], rel=1e-3)


def test_relax_reports_k_lrt_and_p():
    tests = result("relax")["test results"]
    _, page = render("relax")
    assert number_after(page, "K") == pytest.approx(tests["relaxation or intensification parameter"], rel=1e-3)
    assert number_after(page, "p") == pytest.approx(tests["p-value"], rel=1e-3)
    assert number_after(page, "LRT") == pytest.approx(tests["LRT"], rel=1e-3)


def test_gard_reports_breakpoints_and_c_aic():
    res = result("gard")
    _, page = render("gard")
    segments = len(res["breakpointData"])
    assert int(page.headline(r"^(\d+) breakpoints? in the best model")[1]) == segments - 1
    assert len(page.table("Segments")["rows"]) - 1 == segments
    assert float(page.headline(r"c-AIC ([\d.]+) vs")[1]) == pytest.approx(res["bestModelAICc"], abs=0.01)


def test_bgm_highlights_pairs_over_the_posterior_threshold():
    res = result("bgm")
    threshold = res["settings"]["threshold"]
    for posterior in (None, 0.97):
        if posterior:
            res["MLE"]["content"][5][4] = posterior
        over = sum(pair[4] >= threshold for pair in res["MLE"]["content"])
        _, page = render("bgm", the_result=res)
        match = page.headline(r"^(\d+) of (\d+) site pairs")
        assert (int(match[1]), int(match[2])) == (over, len(res["MLE"]["content"]))
        assert highlighted(page.table("Site pairs")) == over
    assert over == 1


def test_multihit_reports_each_model_comparison():
    tests = result("multihit")["test results"]
    _, page = render("multihit")
    for name, values in tests.items():
        match = page.headline(rf"^{re.escape(name)}: LRT = ([-\d.e+]+), p = ([-\d.e+]+)$")
        assert float(match[1]) == pytest.approx(values["LRT"], rel=1e-3, abs=1e-9)
        assert float(match[2]) == pytest.approx(values["p-value"], rel=1e-3)


# --- every page: self-contained, escaped, never raising ----------------------------------

def assert_self_contained(html: str, page: Page) -> None:
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<script" not in html.lower()
    assert not {tag for tag, _ in page.tags} & {"script", "link", "img", "iframe", "object", "embed", "base"}
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert not re.search(r"(https?:)?//", value or ""), (tag, name, value)
    assert "url(" not in page.style and "@import" not in page.style


@pytest.mark.parametrize("method", sorted(RESULTS))
def test_every_fixture_renders_a_self_contained_page(method):
    html, page = render(method)
    assert_self_contained(html, page)
    assert page.headlines
    assert f"{METHODS[method].name} report — job 0123abcd" in "".join(page.text)
    assert not page.elements("ul", "notes"), "".join(page.text)
    job_table = page.tables[0]
    assert job_table["class"] == "job"
    assert ["Status", "completed"] in [row["cells"] for row in job_table["rows"]]


def test_hostile_annotations_options_and_names_are_escaped():
    hostile_job = job("absrel")
    hostile_job.update(job_id=HOSTILE, options={HOSTILE: HOSTILE, "branches": [HOSTILE]},
                       datasets={"alignment": HOSTILE}, annotations={"labels": {HOSTILE: HOSTILE}, "notes": HOSTILE})
    res = result("absrel")
    res["branch attributes"]["0"][HOSTILE] = res["branch attributes"]["0"].pop("SIL")
    res["tested"]["0"][HOSTILE] = res["tested"]["0"].pop("SIL")
    res["analysis"]["citation"] = HOSTILE
    html, page = render("absrel", hostile_job, res)
    assert_self_contained(html, page)
    text = "".join(page.text)
    assert text.count(HOSTILE) >= 5  # job id (title, h1), option, dataset, label, notes, branch… shown as text
    assert any(row["cells"][0] == HOSTILE for row in page.table("Tested branches")["rows"])


def test_hostile_method_name_and_result_keys_are_escaped():
    res = result("fel")
    res["MLE"]["headers"][1][0] = HOSTILE
    res["test results"] = {HOSTILE: {HOSTILE: HOSTILE}}
    html, page = render("fel", the_result=res)
    assert_self_contained(html, page)
    # HyPhy's header markup is dropped (MEME's are `&beta;<sup>+</sup>`); what is left is text
    assert page.table("Sites")["rows"][0]["cells"][3] == 'alert("x")" onmouseover="alert(2)'

    html, page = render(HOSTILE, {**job("fel"), "method": HOSTILE}, res)
    assert_self_contained(html, page)
    assert page.table("Test results")["rows"][1]["cells"] == [f"{HOSTILE} / {HOSTILE}", HOSTILE]
    assert f"{HOSTILE} report — job 0123abcd" in "".join(page.text)


def test_an_unknown_method_gets_test_results_and_keys():
    res = result("relax")
    html, page = render("no-such-method", {**job("relax"), "method": "no-such-method"}, res)
    assert_self_contained(html, page)
    rows = [row["cells"] for row in page.table("Test results")["rows"][1:]]
    assert [name for name, _ in rows] == list(res["test results"])
    assert "Result sections: " + ", ".join(sorted(res)) in "".join(page.text)
    assert page.elements("ul", "notes")


GARBAGE = [None, [], "text", 42, {}, {"MLE": "x"}, {"MLE": {"headers": 5, "content": {"0": [[1, 2], "x", None]}}},
           {"MLE": {"headers": [["p-value", ""]], "content": {"0": [[float("nan")], [float("inf")], [-1], [None]]}}},
           {"test results": [1, 2]}, {"fits": {"a": 1, "b": {"Rate Distributions": 5}}},
           {"branch attributes": {"0": {"A": "x", "B": {"Corrected P-value": "low"}}}, "tested": {"0": {"A": "test"}}},
           {"breakpointData": {"0": None, "x": {"bps": "y"}}, "bestModelAICc": "z"},
           {"Evidence Ratios": {"Two-hit": [[None, "x", 1e308]], "Three-hit": "no"}},
           {"MLE": {"headers": [], "content": {"A": {"0": [[1, 2, 3, 4]]}, "B": 7}}, "settings": []},
           {"data partitions": {"0": {"coverage": "all"}}, "input": [], "analysis": "none"}]


@pytest.mark.parametrize("method", sorted(METHODS) + ["unknown"])
@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_results_render_a_page_without_raising(method, garbage):
    html, page = render(method, job(method) if method in METHODS else {}, copy.deepcopy(garbage))
    assert_self_contained(html, page)
    assert "Result sections:" in "".join(page.text)  # the full page, not the last-resort one


@pytest.mark.parametrize("method", sorted(RESULTS))
def test_each_section_of_a_real_result_may_be_broken(method):
    for key in RESULTS[method]:
        for broken in (None, "garbage", [1]):
            res = result(method)
            res[key] = broken
            _, page = render(method, the_result=res)
            assert "Result sections:" in "".join(page.text), (key, broken)


def test_a_broken_job_record_still_renders():
    for the_job in ({"job_id": None, "options": [1], "annotations": "x", "started": "yesterday"}, {"job_id": 5}):
        html, page = render("fel", the_job)
        assert_self_contained(html, page)
    assert "Result sections:" in reports.render("fel", None, result("fel"))


def test_if_layout_itself_fails_a_plain_page_remains(monkeypatch):
    def broken(_report):
        raise RuntimeError("boom")

    monkeypatch.setattr(reports, "page", broken)
    html = reports.render("fel", {"job_id": HOSTILE}, result("fel"))
    page = Page(html)
    assert_self_contained(html, page)
    assert "could not be laid out" in html and HOSTILE in "".join(page.text)
