"""The fault harness needs PostgreSQL binaries, redis-server and the shared feeders;
it starts its own servers, so the machine's own may be up or down."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.services import services_available

SHARED_FEEDERS = Path(__file__).resolve().parents[2].parent / "shared" / "feeders"


@pytest.fixture
def fault_topology() -> Path:
    """The storm feeder (EPRI ckt24 from ../shared/feeders)."""
    why = services_available()
    if why is not None:
        if os.environ.get("OMS_BRIDGE_REQUIRE_SERVICES") == "1":
            pytest.fail(why)
        pytest.skip(why)
    path = SHARED_FEEDERS / "ckt24"
    if not (path / "ServicePoint.geojson").is_file():
        pytest.skip("../shared/feeders/ckt24 is not beside this checkout")
    return path
