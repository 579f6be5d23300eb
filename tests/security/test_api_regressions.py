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
