"""HTML reports of finished jobs: `render(method, job, result)` → one self-contained page.

    extract.py  (method, job, result) → Report, through the per-method EXTRACTORS table
    sites.py    per-site methods as data (rows, plotted statistic, selection tests)
    summaries.py gene/branch-level methods and the generic fallback
    svg.py, page.py  the one rendering path: inline SVG plot and HTML, escaped, no script

A report for a completed job must never turn into a 500: every extraction step degrades to a
note on its own, and should rendering itself fail, a minimal page still says what happened.
"""

from __future__ import annotations

import logging
from html import escape

from service.reports.extract import build_report
from service.reports.page import page

log = logging.getLogger(__name__)


def render(method: str, job: dict, result: dict) -> str:
    try:
        return page(build_report(method, job, result))
    except Exception:  # the last resort: a finished job keeps a (plain) report page
        log.exception("report rendering failed", extra={"method": str(method)})
        job_id = job.get("job_id") if isinstance(job, dict) else None
        title = escape(f"{method} report — job {job_id}")
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
                f"<body><h1>{title}</h1><p>This result could not be laid out as a report; "
                "its JSON is available from the result endpoint.</p></body></html>\n")
