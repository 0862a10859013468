"""A Report as one self-contained HTML5 page: inline CSS and SVG, no script, nothing fetched.

Every value that comes from the job or the result passes through `escape` exactly once, here
or in svg.py: labels, notes, option values and sequence names are user-controlled.
"""

from __future__ import annotations

from html import escape
from typing import Any

from service.reports.model import Report, SiteResults, Table
from service.reports.svg import site_plot
from service.reports.text import fmt

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;margin:0 auto;
max-width:1000px;padding:1.5em}
h1{font-size:1.6em;margin:0 0 .6em}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #d8dee4}
h3{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.92em}
th,td{border:1px solid #d8dee4;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f5f7}caption{text-align:left;font-weight:600;padding:.3em 0}
td.number{text-align:right;font-variant-numeric:tabular-nums}
tr.selected td{background:#fdecea}tr.selected.negative td{background:#e8f1fb}
.scroll{overflow-x:auto}
ul.headlines{padding-left:1.2em}li.headline{font-size:1.05em;margin:.2em 0}
.notes{background:#fff8e1;border:1px solid #f0d77b;padding:.5em 1em}
.site-plot{max-width:100%;height:auto;font-size:12px}
.site-plot text{fill:#38434f}.axis line{stroke:#5b6773}.axis line.grid{stroke:#e5e9ed}
.axis-label{font-weight:600}
.threshold{stroke:#d62728;stroke-dasharray:5 4}.threshold-label{fill:#d62728;paint-order:stroke;stroke:#fff;stroke-width:3px}
.site{fill:#9aa5b1;fill-opacity:.75}.site.selected{fill:#d62728;fill-opacity:1}
.site.selected.negative{fill:#1f77b4}.site.missing{fill:none;stroke:#9aa5b1}
.legend span{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin:0 .3em 0 1em;
background:#9aa5b1}.legend span.selected{background:#d62728}.legend span.negative{background:#1f77b4}
footer{margin-top:2em;color:#5b6773;font-size:.88em}
"""


def page(report: Report) -> str:
    body = [
        f"<header><h1>{escape(report.title)}</h1></header>",
        section("Job", key_value_table(report.job_rows, "job")),
        section("Results", headlines(report.headlines) + notes(report.notes)),
    ]
    if report.sites:
        body.append(section("Sites", site_plot(report.sites, report.method_name) + legend(report.sites)
                            + selected_sites(report.sites)))
    body += [table(t) for t in report.tables if t.rows]
    body.append(footer(report))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(report.title)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def section(heading: str, content: str) -> str:
    return f"<section><h2>{escape(heading)}</h2>{content}</section>"


def cell(value: Any) -> str:
    """One escaped table cell; a mapping (options, labels) becomes one `key: value` line per item."""
    if isinstance(value, dict):
        return "<br>".join(f"{escape(str(key))}: {escape(fmt(item))}" for key, item in value.items())
    return escape(fmt(value))


def td(value: Any) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="number">{cell(value)}</td>' if numeric else f"<td>{cell(value)}</td>"


def key_value_table(rows: list[tuple[str, Any]], css_class: str) -> str:
    lines = "".join(f"<tr><th scope=\"row\">{escape(label)}</th>{td(value)}</tr>" for label, value in rows)
    return f'<table class="{css_class}">{lines}</table>'


def headlines(items: list[str]) -> str:
    if not items:
        return "<p>No summary figures could be read from this result.</p>"
    return '<ul class="headlines">' + "".join(f'<li class="headline">{escape(i)}</li>' for i in items) + "</ul>"


def notes(items: list[str]) -> str:
    if not items:
        return ""
    return '<ul class="notes">' + "".join(f'<li class="note">{escape(i)}</li>' for i in items) + "</ul>"


def table(t: Table) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in t.headers)
    rows = "".join(
        ('<tr class="selected">' if index in t.highlighted else "<tr>") + "".join(td(v) for v in row) + "</tr>"
        for index, row in enumerate(t.rows)
    )
    note = f'<p class="table-note">{escape(t.note)}</p>' if t.note else ""
    return (f'<section><h2>{escape(t.caption)}</h2><div class="scroll"><table class="summary">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>{note}</section>")


def legend(results: SiteResults) -> str:
    entries = [f'<span class="selected {escape(c.name)}"></span>{escape(c.name)} ({results.counts[c.name]})'
               for c in results.spec.classes]
    unselected = len(results.sites) - len(results.selected)
    entries.append(f"<span></span>not selected ({unselected})")
    return f'<p class="legend">{"".join(entries)}</p>'


def selected_sites(results: SiteResults) -> str:
    if not results.spec.classes:
        return ""
    chosen = sorted(results.selected, key=lambda s: s.number)
    if not chosen:
        return "<h3>Selected sites</h3><p>No site met the threshold.</p>"
    partitions = len({s.partition for s in results.sites}) > 1
    columns = list(dict.fromkeys(name for site in chosen for name in site.row))
    head = "<th>site</th>" + ("<th>partition</th>" if partitions else "") + "<th>selection</th>"
    head += "".join(f"<th>{escape(name)}</th>" for name in columns)
    rows = "".join(
        f'<tr class="selected {escape(site.selected or "")}"><td class="number">{site.number}</td>'
        + (f"<td>{escape(site.partition)}</td>" if partitions else "")
        + f"<td>{escape(site.selected or '')}</td>" + "".join(td(site.row.get(name)) for name in columns) + "</tr>"
        for site in chosen
    )
    return (f"<h3>Selected sites ({len(chosen)})</h3><div class=\"scroll\"><table class=\"selected-sites\">"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>")


def footer(report: Report) -> str:
    keys = escape(", ".join(report.result_keys)) or "none"
    cite = f'<p class="citation">Please cite: {escape(report.citation)}</p>' if report.citation else ""
    return f'<footer><p class="result-keys">Result sections: {keys}</p>{cite}</footer>'
