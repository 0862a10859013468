"""The Swagger UI (`/api/v1/ui/`) and a job's HTML report, rendered by headless Chromium against the
real service (see conftest.py). Screenshots: artifacts/browser/swagger-ui.png, fel-report.png.

Waits are explicit (WebDriverWait, job polling) with generous deadlines; nothing is asserted about
how long anything took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.browser.conftest import PAGE_WAIT_S, REPO, api, png_size, save_full_page_screenshot
from tests.conftest import FIXTURES
from tests.integration.helpers import FINAL, HYPHY_GENERIC, wait_for

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
#: Far above FEL's ~10 s on the adh fixture: only a hung or lost job reaches it.
JOB_DEADLINE_S = 900
#: Below this a "screenshot" is blank or broken: the pages here compress to far more.
MIN_PNG_BYTES = 10_000


def spec_operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in openapi.yaml, as the spec writes the path."""
    spec = yaml.safe_load((REPO / "openapi.yaml").read_text())
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method in HTTP_METHODS}


def wait(driver, timeout: float = PAGE_WAIT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.25)


def assert_real_png(path: Path, min_width: int, min_height: int) -> None:
    width, height = png_size(path)  # checks the PNG signature
    size = path.stat().st_size
    assert size >= MIN_PNG_BYTES, f"{path}: {size} bytes, too small for a rendered page"
    assert width >= min_width and height >= min_height, f"{path}: {width}x{height} px, expected ≥ {min_width}x{min_height}"


def test_swagger_ui_lists_every_operation_and_executes_one(browser, live_service):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    expected = spec_operations()
    browser.get(f"{live_service.base}/ui/")

    # The spec is fetched and rendered in one go; wait until as many operations as the spec has are
    # on the page (or the wait ends: the set comparison below then says what is missing).
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    try:
        wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= len(expected))
    except TimeoutException:
        pass
    errors = browser.find_elements(By.CSS_SELECTOR, ".errors-wrapper")
    assert not errors, f"Swagger UI reports errors: {errors[0].text}"

    blocks = browser.find_elements(By.CSS_SELECTOR, ".opblock")
    listed: dict[tuple[str, str], object] = {}
    for block in blocks:
        method = block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.strip().upper()
        path = block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path")
        listed[(method, path)] = block
    assert set(listed) == expected, (f"missing from the UI: {sorted(expected - set(listed))}; "
                                     f"not in openapi.yaml: {sorted(set(listed) - expected)}")
    assert len(blocks) == len(expected), f"{len(blocks)} operation blocks for {len(expected)} operations (duplicates?)"

    # One real request from the page: GET /health, Try it out → Execute.
    block = listed[("GET", "/health")]
    block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    try_out = wait(browser).until(lambda d: block.find_element(By.CSS_SELECTOR, "button.try-out__btn"))
    try_out.click()
    execute = wait(browser).until(lambda d: block.find_element(By.CSS_SELECTOR, "button.execute"))
    execute.click()
    status_cell = wait(browser).until(lambda d: block.find_element(
        By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"))
    status_text = status_cell.text.strip()
    assert status_text == "200", f"GET /health from Swagger UI answered {status_text!r}"
    body_element = block.find_element(By.CSS_SELECTOR, ".live-responses-table .response-col_description pre")
    body_text = body_element.get_attribute("textContent")
    try:
        body = json.loads(body_text)
    except ValueError:
        pytest.fail(f"the rendered /health body is not JSON: {body_text[:500]!r}")
    assert "status" in body and "details" in body, f"the rendered /health body lacks status/details: {body}"
    assert body["status"] == "healthy", body

    path = save_full_page_screenshot(browser, "swagger-ui.png")
    viewport_width = browser.execute_script("return window.innerWidth")
    # the full page: as wide as the window, and taller than it (64 operations do not fit in 1024 px)
    assert_real_png(path, min_width=viewport_width, min_height=browser.execute_script("return window.innerHeight") + 1)


@pytest.mark.integration
@pytest.mark.skipif(not HYPHY_GENERIC.exists(), reason=f"HyPhy is not installed ({HYPHY_GENERIC} missing)")
def test_fel_report_page_plots_every_site(browser, live_service):
    from selenium.webdriver.common.by import By

    def upload(name: str, kind: str) -> str:
        meta = {"name": name, "type": kind, "description": "browser test"}
        response = api(live_service, "POST", "/datasets", data={"meta": json.dumps(meta)},
                       files={"file": (name, (FIXTURES / name).read_bytes())})
        assert response.status_code == 201, f"upload {name}: {response.status_code} {response.text}"
        return response.json()["datasets"][0]["id"]

    body = {"alignment": upload("adh.fasta", "alignment"), "tree": upload("adh.nwk", "tree")}
    started = api(live_service, "POST", "/methods/fel-start", json=body)
    assert started.status_code == 200, f"fel-start: {started.status_code} {started.text}"
    job_id = started.json()["job_id"]

    def final():
        response = api(live_service, "GET", f"/jobs/{job_id}")
        assert response.status_code == 200, f"GET /jobs/{job_id}: {response.status_code} {response.text}"
        job = response.json()
        return job if job["status"] in FINAL else None

    job = wait_for(final, f"FEL job {job_id} to finish", deadline_s=JOB_DEADLINE_S, interval_s=1)
    assert job["status"] == "completed", f"FEL ended {job['status']}: {job}\n{live_service.log_tail()}"

    # The endpoint first, so a server error says so at once (and not as a browser wait running out).
    url = f"{live_service.base}/jobs/{job_id}/report"
    direct = api(live_service, "GET", f"/jobs/{job_id}/report")
    assert direct.status_code == 200, (f"GET {url}: {direct.status_code} {direct.text[:1000]}\n"
                                       f"service log:\n{live_service.log_tail()}")
    assert direct.headers["Content-Type"].startswith("text/html"), direct.headers["Content-Type"]

    browser.get(url)
    plot = wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "svg[data-sites]"))
    path = save_full_page_screenshot(browser, "fel-report.png")
    assert_real_png(path, min_width=browser.execute_script("return window.innerWidth"), min_height=1)
    assert_plots_every_site(browser, plot)


def assert_plots_every_site(driver, plot) -> None:
    """`plot` (an svg) says how many sites it plots in `data-sites` (a positive number) and has that
    many elements of class `site`, each displayed with a non-zero width and height, one at least
    inside both the window and the plot once the plot is scrolled into view."""
    from selenium.webdriver.common.by import By

    raw = plot.get_attribute("data-sites")
    assert raw and raw.strip().isdigit() and int(raw) > 0, f"svg data-sites={raw!r}: not a positive number"
    sites = int(raw)
    marks = plot.find_elements(By.CSS_SELECTOR, ".site")
    assert len(marks) == sites, f"data-sites={sites} but the plot has {len(marks)} elements with class site"

    driver.execute_script("arguments[0].scrollIntoView({block: 'start', inline: 'nearest'})", plot)
    view = driver.execute_script(
        "return {x: window.scrollX, y: window.scrollY, width: window.innerWidth, height: window.innerHeight}")
    box = plot.rect  # document coordinates, as every element rect
    hidden, visible = [], 0
    for index, mark in enumerate(marks):
        rect = mark.rect
        if not (mark.is_displayed() and rect["width"] > 0 and rect["height"] > 0):
            hidden.append((index, rect))
        elif overlaps(rect, view) and overlaps(rect, box):
            visible += 1
    assert not hidden, (f"{len(hidden)} of {sites} site marks not displayed with a non-zero size; "
                        f"first: {hidden[:5]}")
    assert visible, f"no site mark inside both the window ({view}) and the plot ({box})"


def overlaps(a: dict, b: dict) -> bool:
    """Whether two rects ({x, y, width, height}, same coordinates) share some area."""
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] \
        and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]
