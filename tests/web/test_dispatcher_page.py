"""The dispatcher page in headless Chromium against the real service.

One flow, as a dispatcher lives it: sign in, a storm arrives through the API,
the board updates without a reload, an outage opens on the map, a restoration
moves it to the recent list and leaves a nested outage, a flagged feeder shows
in the coverage view, and the stream drops and comes back. Screenshots of each
step land in ``tests/artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from oms_bridge.core.topology import Topology
from tests.web.conftest import ServiceMaker
from tests.web.service import TOKENS, Service, ago, event
from tests.web.topologies import demo_topology

TIMEOUT_MS = 20_000


def meters_below(topo: Topology, device: str) -> list[str]:
    node = topo.node_index(device)
    return [m for sp in topo.sp_range(node) if topo.is_ami(sp) and (m := topo.meter_id(sp))]


#: Event time of the storm: 15 minutes ago, so the whole story fits before "now".
T0_AGO_S = 900.0


def at(offset_s: float) -> str:
    """Event time ``offset_s`` after the storm began."""
    return ago(T0_AGO_S - offset_s)


def tick(svc: Service, offset_s: float) -> None:
    """An event from a meter the GIS does not know: moves the service's event clock on.

    The engine decides on event time (hold window, settling after restores);
    the service's idle ticker keeps that clock moving with the wall clock.
    """
    svc.post_events([event(f"CLOCK-{offset_s}", "M-NOT-IN-GIS", "power_restored",
                           at(offset_s))])


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"))


def sign_in(page: Any, svc: Service) -> None:
    page.goto(svc.url + "/")
    page.get_by_label("Dispatcher token").fill(TOKENS["dispatcher"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT_MS)


def test_dispatcher_flow(page: Any, service_factory: ServiceMaker, screenshots: Path) -> None:
    topo = demo_topology()
    svc = service_factory(topo)

    # 1. Sign in: a wrong token is refused, a head-end token is not a dispatcher's.
    page.goto(svc.url + "/")
    token_box = page.get_by_label("Dispatcher token")
    token_box.fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Token not recognised.").wait_for(timeout=TIMEOUT_MS)
    token_box.fill(TOKENS["head-end"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("not a dispatcher token").wait_for(timeout=TIMEOUT_MS)
    shot(page, screenshots, "01-sign-in-refused")
    token_box.fill(TOKENS["dispatcher"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT_MS)
    page.wait_for_selector("body[data-conn=live]", timeout=TIMEOUT_MS)
    assert TOKENS["dispatcher"] not in page.url
    assert page.evaluate("Object.values(sessionStorage)") == [TOKENS["dispatcher"]]
    assert page.evaluate("localStorage.length") == 0
    page.evaluate("window.__sameDocument = true")
    shot(page, screenshots, "02-signed-in-quiet")

    # 2. A storm through the API: a whole fused lateral and one lone customer.
    fuse_meters = meters_below(topo, "FUSE-N-2")
    lone = meters_below(topo, "XF-N-11")[0]
    storm = [event(f"S-{m}", m, "last_gasp", at(0)) for m in fuse_meters]
    storm.append(event(f"S-{lone}", lone, "last_gasp", at(20)))
    assert svc.post_events(storm)["accepted"] == len(storm)
    tick(svc, 130)
    fuse_row = page.locator("#rows-active tr", has_text="FUSE-N-2")
    fuse_row.wait_for(timeout=TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert "12" in fuse_row.locator("td").nth(3).inner_text()
    assert page.locator("#kpi-active").inner_text() != "0"
    page.wait_for_timeout(600)
    shot(page, screenshots, "03-storm-on-board")

    # 3. Open it from the keyboard: detail with timeline and meters, on the map.
    fuse_row.focus()
    page.keyboard.press("Enter")
    detail = page.locator("#detail")
    detail.get_by_role("heading", name="FUSE-N-2").wait_for(timeout=TIMEOUT_MS)
    timeline = detail.locator(".timeline").inner_text()
    assert f"Last gasp {len(fuse_meters)} meters" in timeline, timeline
    assert "Prediction" in timeline, timeline
    assert detail.locator(".meters li").count() == len(fuse_meters)
    fuse_xy = topo.node_xy[topo.node_index("FUSE-N-2")].tolist()
    page.wait_for_function(
        """([lon, lat]) => {
            const m = window.omsBridge?.map;
            return m && m.getBounds().contains([lat, lon])
                && window.omsBridge.selectionLayers() > 2;
        }""", arg=fuse_xy, timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)
    shot(page, screenshots, "04-outage-detail-map")

    # 4. Restoration: all but one transformer's customers come back.
    stay_dark = set(meters_below(topo, "XF-N-23"))
    restores = [event(f"R-{m}", m, "power_restored", at(300)) for m in fuse_meters
                if m not in stay_dark]
    svc.post_events(restores)
    tick(svc, 560)
    recent = page.locator("#rows-recent tr", has_text="FUSE-N-2")
    recent.wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#rows-active .dev-id", has_text=re.compile(r"^FUSE-N-2$")).count() == 0
    assert re.search(r"\d\d:\d\d:\d\d", recent.inner_text()), "confirmation time shown"
    nested = page.locator("#rows-active tr.nested", has_text="under FUSE-N-2")
    nested.first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)
    shot(page, screenshots, "05-restored-and-nested")

    # 5. A momentary: power back within the momentary window, shown apart.
    blip = meters_below(topo, "FUSE-N-3")
    svc.post_events([event(f"B-{m}", m, "last_gasp", at(600)) for m in blip]
                    + [event(f"BR-{m}", m, "power_restored", at(612)) for m in blip])
    tick(svc, 840)
    page.locator("#rows-momentary button", has_text="FUSE-N-3").wait_for(timeout=TIMEOUT_MS)

    # 6. Coverage: the mostly-AMR feeder is flagged, first, with its blind fuse.
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="AMI coverage").click()
    page.locator("#rows-coverage tr", has_text="FDR-SOUTH").wait_for(timeout=TIMEOUT_MS)
    first = page.locator("#rows-coverage tr").first
    assert "FDR-SOUTH" in first.inner_text() and "flagged" in first.inner_text().lower()
    first.focus()
    page.keyboard.press("Enter")
    page.locator("#blind-list", has_text="FUSE-S-2").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)
    shot(page, screenshots, "06-coverage-flagged")

    # 7. The stream drops: the page says so, then reconnects by itself.
    page.get_by_role("tab", name="Outages").click()
    port = svc.port
    svc.stop()
    page.wait_for_selector("body[data-conn=down]", timeout=TIMEOUT_MS)
    assert page.locator("#banner").is_visible()
    shot(page, screenshots, "07-disconnected")
    service_factory(port=port)
    page.wait_for_selector("body[data-conn=live]", timeout=TIMEOUT_MS)
    assert not page.locator("#banner").is_visible()
    assert page.evaluate("window.__sameDocument") is True
    assert not page.js_errors, page.js_errors
