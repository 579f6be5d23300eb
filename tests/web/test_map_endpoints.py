"""The map endpoints on their own: pure cuts of the topology, and who may read them."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from oms_bridge.settings import Settings
from oms_bridge.web import mapdata, setup_web
from tests.web.topologies import demo_topology

TOKENS = {"dispatcher": "d-tok", "oms": "o-tok", "head-end": "h-tok"}


def test_merge_ranges_unions_overlaps() -> None:
    lo, hi = mapdata.merge_ranges([[5, 10], [0, 3], [2, 4], [9, 12], [20, 21], [7, 7]])
    assert lo.tolist() == [0, 5, 20]
    assert hi.tolist() == [4, 12, 21]


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "3,0,1,1", "nan,0,1,1"])
def test_parse_bbox_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bbox"):
        mapdata.parse_bbox(text)


def test_view_detail_marks_dark_service_points() -> None:
    topo = demo_topology()
    fuse = mapdata.resolve(topo, devices=["FUSE-N-2"])["devices"]["FUSE-N-2"]
    data = mapdata.view(topo, zoom=17, dark=[[fuse["lo"], fuse["hi"]]])
    sps = [f["properties"] for f in data["features"] if f["properties"]["t"] == "sp"]
    assert len(sps) == topo.n_service_points
    assert sum(p["dark"] for p in sps) == 12 == fuse["customers"]
    assert data["meta"]["counts"]["dark_service_points"] == 12
    segs = [f for f in data["features"] if f["properties"]["t"] == "seg"]
    assert len(segs) == topo.n_nodes - len(topo.feeder_ids)


def test_view_clusters_and_hides_transformers_when_far() -> None:
    topo = demo_topology()
    data = mapdata.view(topo, zoom=10, dark=[[0, 3]])
    kinds = {f["properties"]["t"] for f in data["features"]}
    assert "sp" not in kinds and "cluster" in kinds
    assert data["meta"]["transformers"] == "hidden"
    clusters = [f["properties"] for f in data["features"] if f["properties"]["t"] == "cluster"]
    assert sum(c["n"] for c in clusters) == topo.n_service_points
    assert sum(c["dark"] for c in clusters) == 3


def test_view_filters_by_feeder_and_bbox() -> None:
    topo = demo_topology()
    south = mapdata.view(topo, zoom=17, feeder="FDR-SOUTH")
    ids = {f["properties"].get("id") for f in south["features"]}
    assert "BRK-S-1" in ids and "BRK-N-1" not in ids
    empty = mapdata.view(topo, zoom=17, bbox=(10.0, 10.0, 10.1, 10.1))
    assert empty["features"] == []


def test_resolve_devices_meters_and_blind() -> None:
    topo = demo_topology()
    res = mapdata.resolve(topo, devices=["FUSE-S-2", "SP-N-111", "NOPE"],
                          meters=["M100001", "M-NONE"])
    fuse = res["devices"]["FUSE-S-2"]
    assert fuse["blind"] is True and fuse["ami"] == 0 and fuse["non_ami"] == 9
    assert res["devices"]["SP-N-111"]["customers"] == 1
    assert res["meters"]["M100001"]["sp_id"] == "SP-N-111"
    assert sorted(res["unknown"]) == ["M-NONE", "NOPE"]


@pytest.fixture
def web_app() -> web.Application:
    app = web.Application()
    topo = demo_topology()
    setup_web(app, lambda: topo, Settings(tokens=dict(TOKENS)))
    return app


async def test_endpoints_need_a_reader_token(aiohttp_client: Any, web_app: web.Application) -> None:
    client = await aiohttp_client(web_app)
    assert (await client.get("/api/v1/map/feeders")).status == 401
    bad = await client.get("/api/v1/map/feeders", headers={"Authorization": "Bearer nope"})
    assert bad.status == 401
    head_end = await client.get("/api/v1/map/feeders", headers={"Authorization": "Bearer h-tok"})
    assert head_end.status == 403
    for tok in ("d-tok", "o-tok"):
        ok = await client.get("/api/v1/map/feeders", headers={"Authorization": f"Bearer {tok}"})
        assert ok.status == 200
        assert [f["feeder_id"] for f in (await ok.json())["items"]] == ["FDR-NORTH", "FDR-SOUTH"]


async def test_page_and_assets_are_open(aiohttp_client: Any, web_app: web.Application) -> None:
    client = await aiohttp_client(web_app)
    page = await client.get("/")
    assert page.status == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert (await client.get("/static/js/app.js")).status == 200
    assert (await client.get("/static/leaflet/leaflet.js")).status == 200


async def test_topology_post_and_bad_input(aiohttp_client: Any, web_app: web.Application) -> None:
    client = await aiohttp_client(web_app)
    auth = {"Authorization": "Bearer d-tok"}
    ok = await client.post("/api/v1/map/topology", headers=auth,
                           json={"zoom": 17, "dark": [[0, 12]], "feeder": "FDR-NORTH"})
    assert ok.status == 200
    assert (await ok.json())["meta"]["counts"]["dark_service_points"] == 12
    bad = await client.get("/api/v1/map/topology?bbox=1,2,3", headers=auth)
    assert bad.status == 400
    bad_dark = await client.post("/api/v1/map/topology", headers=auth, json={"dark": [[1]]})
    assert bad_dark.status == 400
