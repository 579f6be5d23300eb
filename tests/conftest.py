"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_FEEDERS = SHARED / "feeders"
FEEDER_NAMES = ("ckt5", "ckt7", "ckt24", "ieee8500")


@pytest.fixture(scope="session")
def shared_feeders() -> Path:
    """``../shared/feeders`` beside the checkout, or skip where it is absent."""
    if not (SHARED_FEEDERS / "ckt7" / "ServicePoint.geojson").is_file():
        pytest.skip("../shared/feeders is not beside this checkout")
    return SHARED_FEEDERS
