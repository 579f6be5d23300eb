"""Fault injection: SIGKILLs, a Redis restart and a PostgreSQL outage during a
storm, then the outages and feed must equal a clean replay (see ``storm.py``).

The short form (20,000 events, five faults) runs in the default suite; the long
form (500,000 events, a 30 s database outage) is ``-m slow`` or
``python tests/faults/run.py --long``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.storm import LONG, SHORT, StormPlan, run_storm

pytestmark = [pytest.mark.faults, pytest.mark.shared]


def _run(plan: StormPlan, topology: Path, work: Path) -> None:
    report = run_storm(plan, topology, work)
    print(report.summary())
    assert report.events >= plan.min_events
    assert sum(report.faults.values()) == (plan.kills + plan.redis_restarts + plan.pg_outages)


def test_short_storm_survives_faults(fault_topology: Path, tmp_path: Path) -> None:
    _run(SHORT, fault_topology, tmp_path)


@pytest.mark.slow
def test_long_storm_survives_faults(fault_topology: Path, tmp_path: Path) -> None:
    _run(LONG, fault_topology, tmp_path)
