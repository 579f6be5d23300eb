"""Regression tests for the 5xx answers schemathesis found, one per fix."""

from __future__ import annotations

import pytest

from tests.security.conftest import Client, auth


@pytest.mark.parametrize("path", ["/api/v1/outages", "/api/v1/restorations"])
@pytest.mark.parametrize("after", ["9223372036854775808", "99999999999999999999",
                                   "1" + "0" * 4000])
async def test_a_cursor_beyond_64_bits_is_a_400_not_a_500(client: Client, path: str,
                                                          after: str) -> None:
    # found by test_every_operation_every_role_long: SQLite cannot bind the int
    resp = await client.get(path, params={"after": after}, headers=auth("oms"))
    assert resp.status == 400, await resp.text()
    problem = await resp.json()
    assert problem["parameter"] == "after"


async def test_the_largest_cursor_still_answers(client: Client) -> None:
    resp = await client.get("/api/v1/restorations", params={"after": str(2**63 - 1)},
                            headers=auth("oms"))
    assert resp.status == 200


# found by tests/security/test_sql.py on PostgreSQL, whose text cannot hold NUL:
# these answered 500 (or 503 for a whole event batch) there, and fine on SQLite

async def test_a_nul_in_the_feeder_filter_is_a_400(any_client: Client) -> None:
    resp = await any_client.get("/api/v1/outages", params={"feeder": "FDR\x00-1"},
                                headers=auth("oms"))
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["parameter"] == "feeder"


async def test_a_nul_in_an_outage_id_is_a_404(any_client: Client) -> None:
    resp = await any_client.get("/api/v1/outages/OUT%00-1", headers=auth("oms"))
    assert resp.status == 404, await resp.text()


async def test_a_nul_in_an_event_id_costs_only_its_own_line(any_client: Client) -> None:
    batch = [{"event_id": eid, "meter_id": "M1", "type": "last_gasp",
              "occurred_at": "2026-11-26T07:00:03.120Z"} for eid in ("E\x00-1", "E-2")]
    resp = await any_client.post("/api/v1/events", json=batch, headers=auth("head-end"))
    assert resp.status == 202, await resp.text()
    result = await resp.json()
    assert (result["accepted"], result["invalid"]) == (1, 1)
    assert result["errors"][0]["line"] == 1 and result["errors"][0]["field"] == "event_id"


async def test_a_nul_in_the_upload_name_is_dropped(any_client: Client) -> None:
    from tests.gis_import.test_read_archive import raw_zip, tiny_entries  # noqa: PLC0415

    resp = await any_client.post("/api/v1/topology", params={"name": "a\x00b.zip"},
                                 data=raw_zip(tiny_entries()),
                                 headers={**auth("gis-admin"), "Content-Type": "application/zip"})
    assert resp.status == 201, await resp.text()
    versions = await (await any_client.get("/api/v1/topology/versions",
                                            headers=auth("gis-admin"))).json()
    assert any(v.get("source") == "http:ab.zip" for v in versions["items"]), versions


# found by test_every_operation_every_role[POST /api/v1/map/topology] (negative mode)

@pytest.mark.parametrize("body", [
    {"bbox": True}, {"bbox": 12}, {"bbox": {"a": 1}},
    {"dark": [[0, 10**30]]}, {"dark": [[-(10**30), 5]]},
])
async def test_map_view_with_odd_bbox_or_dark_is_a_400(client: Client,
                                                       body: dict[str, object]) -> None:
    resp = await client.post("/api/v1/map/topology", json=body, headers=auth("dispatcher"))
    assert resp.status == 400, await resp.text()


async def test_map_view_with_huge_dark_in_the_query_is_a_400(client: Client) -> None:
    resp = await client.get("/api/v1/map/topology", params={"dark": "0-99999999999999999999"},
                            headers=auth("dispatcher"))
    assert resp.status == 400, await resp.text()


# found by test_every_operation_every_role_long[GET /api/v1/topology/versions/{version_id}]

@pytest.mark.parametrize("raw", ["%C2%B3", "%D9%A1", "1" * 5000, "9" * 25])
async def test_a_version_id_that_is_no_plain_integer_is_a_400(client: Client, raw: str) -> None:
    # '³'.isdigit() is True but int('³') raises: that was a 500
    resp = await client.get(f"/api/v1/topology/versions/{raw}", headers=auth("gis-admin"))
    assert resp.status == 400, await resp.text()
