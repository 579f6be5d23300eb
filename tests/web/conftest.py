"""Browser fixtures: Debian's Chromium driven by Playwright, and the real service."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oms_bridge.core.topology import Topology
from tests.conftest import seed_topology
from tests.web.service import Service

CHROMIUM = os.environ.get("OMS_BRIDGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def _missing(reason: str) -> None:
    if os.environ.get("OMS_BRIDGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (OMS_BRIDGE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module: Playwright's sync API holds an event loop in this
    thread while it runs, which the asyncio tests of other modules must not see."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080},
                                  device_scale_factor=1, locale="en-GB")
    pg = context.new_page()
    errors: list[str] = []  # uncaught exceptions in the page's scripts
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    yield pg
    context.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


ServiceMaker = Callable[..., Service]


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[ServiceMaker]:
    """Start the service on a topology; call again with ``port=`` to restart it."""
    started: list[Service] = []
    db_url = f"sqlite:///{tmp_path / 'service.db'}"
    seeded: list[bool] = []

    def make(topology: Topology | None = None, port: int | None = None) -> Service:
        if topology is not None and not seeded:
            seed_topology(db_url, topology)
            seeded.append(True)
        svc = Service(db_url, tmp_path / "data", port=port)
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.stop()
