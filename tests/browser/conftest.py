"""Headless Chromium against the real service: the browser tests' fixtures.

`live_service`: `python -m service` (uvicorn) on a free loopback port, LocalScheduler, every store
in a temporary directory, stopped afterwards. `browser`: headless Chromium driven by Debian's
chromedriver (/usr/bin/chromedriver, never a Selenium Manager download: there is no internet).

Without Debian's `chromium` and `chromium-driver` the tests skip, unless DATAMONKEY_REQUIRE_BROWSER=1
(CI), where missing browser parts are an error. Screenshots go to `artifacts/browser/` (git-ignored).
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.crash.server import ServiceProcess
from tests.integration.helpers import settings_for

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Debian's launcher script first (it applies /etc/chromium.d), then the binary itself.
CHROMIUM_CANDIDATES = (Path("/usr/bin/chromium"), Path("/usr/lib/chromium/chromium"))
WINDOW = (1280, 1024)
#: Generous: the machine is shared and has 2 cores; only a hang should ever reach these.
PAGE_WAIT_S = 120
START_DEADLINE_S = 180
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _missing_browser_parts() -> list[str]:
    missing = []
    if not any(p.is_file() and os.access(p, os.X_OK) for p in CHROMIUM_CANDIDATES):
        missing.append(f"chromium ({' or '.join(map(str, CHROMIUM_CANDIDATES))}; Debian package chromium)")
    if not (CHROMEDRIVER.is_file() and os.access(CHROMEDRIVER, os.X_OK)):
        missing.append(f"chromedriver ({CHROMEDRIVER}; Debian package chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium Python package (pip install -e '.[test]')")
    return missing


@pytest.fixture(scope="session")
def browser_parts() -> Path:
    """The Chromium binary to drive; skips (or, with DATAMONKEY_REQUIRE_BROWSER=1, fails) when absent."""
    missing = _missing_browser_parts()
    if missing:
        message = "browser tests need " + ", ".join(missing) + " (bash scripts/browser-deps.sh installs them)"
        if os.environ.get("DATAMONKEY_REQUIRE_BROWSER") == "1":  # CI: a skip would hide a broken set-up
            pytest.fail(f"DATAMONKEY_REQUIRE_BROWSER=1 but {message}", pytrace=False)
        pytest.skip(message)
    return next(p for p in CHROMIUM_CANDIDATES if p.is_file() and os.access(p, os.X_OK))


@pytest.fixture(scope="session")
def live_service(tmp_path_factory) -> Iterator[ServiceProcess]:
    """The real service (`python -m service`) on a free port of 127.0.0.1, LocalScheduler, temporary
    stores; answers once /api/v1/health is 200. `.base` is its API root (http://127.0.0.1:<port>/api/v1)."""
    root = tmp_path_factory.mktemp("browser-service")
    settings = settings_for(root, LOG_LEVEL="INFO",
                            # whatever a developer's .env says: open access, nothing locked down
                            SERVICE_API_TOKENS="", SERVICE_API_TOKENS_FILE="")
    server = ServiceProcess(root, settings, name="browser-service")
    try:
        server.start(deadline_s=START_DEADLINE_S)
        health = server.get("/health")
        assert health.status_code == 200, f"/health: {health.status_code} {health.text}\n{server.log_tail()}"
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser(browser_parts: Path, live_service: ServiceProcess, request) -> Iterator:
    """A fresh headless Chromium (selenium WebDriver) per test; on failure the service log tail is shown."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(browser_parts)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars", "--lang=en-US",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update"):
        options.add_argument(arg)
    service = Service(executable_path=str(CHROMEDRIVER))  # a given path: Selenium Manager is never run
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(PAGE_WAIT_S)
    driver.set_script_timeout(PAGE_WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def api(server: ServiceProcess, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{server.base}{path}", timeout=60, **kwargs)


def save_full_page_screenshot(driver, name: str) -> Path:
    """The whole page (beyond the viewport) as a PNG under artifacts/browser/, through the DevTools
    protocol (Chromium has no WebDriver full-page screenshot). Prints and returns the path."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    content = metrics.get("cssContentSize") or metrics["contentSize"]
    width = max(int(content["width"]), 1)
    height = max(int(content["height"]), 1)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "fromSurface": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
    })
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    w, h = png_size(path)
    print(f"\nscreenshot: {path} ({w}x{h} px, {path.stat().st_size} bytes)")
    return path


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; AssertionError when the file is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG (starts with {head[:8]!r})"
    assert head[12:16] == b"IHDR", f"{path}: no IHDR chunk first"
    return struct.unpack(">II", head[16:24])
