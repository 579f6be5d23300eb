"""An outage of an incident starts at its earliest dark evidence, and a new one
is named after it: the least (time, event id) among the dark meters it holds.

``Engine._resolve`` finds that key among all of the incident's values when one
device holds every dark meter (the usual answer), else meter by meter. These
cases put the least key where neither arrival order nor the incident's first
gasp gives it: a late gasp older than the first one, and a restore of a meter
whose gasp was lost (dark since the incident's start, its own event id).
"""

from __future__ import annotations

import orjson

from oms_bridge.core.engine import Engine
from oms_bridge.core.outages import make_outage_id

from .helpers import T0, stamp
from .test_block_caches import SETTINGS, three_feeders

FUSE = [f"M-00{x}{m}" for x in range(2) for m in range(4)]   # FUSE-00's meters
FUSES = FUSE + [f"M-01{x}{m}" for x in range(2) for m in range(4)]


def run(rows: list[tuple[str, float, str, str]]) -> dict[str, tuple[float, str]]:
    """Ingest rows (event id, time, meter, kind) in arrival order, each its own
    chunk; per outage id, its start (seconds after T0) and device."""
    engine = Engine(three_feeders(), SETTINGS)
    for eid, t, m, kind in rows:
        engine.ingest_lines([orjson.dumps({"event_id": eid, "meter_id": m, "type": kind,
                                           "occurred_at": stamp(t)})])
    engine.flush()
    book = engine._book
    return {oid: (o.started_at - T0.timestamp(), book.device_id(o))
            for oid, o in book.by_id.items()}


def test_a_late_gasp_older_than_the_first_starts_the_outage() -> None:
    rows = [(f"E{i}", 100.0 + i, m, "last_gasp") for i, m in enumerate(FUSE[:7])]
    rows.append(("E7", 140.0, "M-1000", "last_gasp"))   # the watermark passes 95
    rows.append(("E8", 95.0, FUSE[7], "last_gasp"))     # late: applied at once
    rows.append(("E9", 400.0, "M-2000", "last_gasp"))
    out = run(rows)
    assert out[make_outage_id("FDR-0", "E8")] == (95.0, "FUSE-00")


def test_a_restore_only_meter_can_hold_the_least_key() -> None:
    # M-0007's gasp was lost: its restore while the incident is pending makes it
    # dark since the incident's start (100) under its own id, "A" < "E0"
    rows = [(f"E{i}", 100.0 + i, m, "last_gasp") for i, m in enumerate(FUSE[:7])]
    rows.append(("A", 110.0, FUSE[7], "power_restored"))
    rows.append(("E9", 400.0, "M-2000", "last_gasp"))
    out = run(rows)
    assert out[make_outage_id("FDR-0", "A")] == (100.0, "FUSE-00")


def test_two_devices_each_start_at_their_own_least_key() -> None:
    # a fuse and a transformer under the other fuse of one feeder: an outage
    # each, started and named by their own earliest evidence (late for XF-010)
    rows = [(f"E{i}", 100.0 + 0.5 * i, m, "last_gasp") for i, m in enumerate(FUSE)]
    other = [f"M-010{m}" for m in range(4)]
    rows += [(f"F{i}", 104.0 + 0.5 * i, m, "last_gasp") for i, m in enumerate(other[1:])]
    rows.append(("X", 150.0, "M-1000", "last_gasp"))
    rows.append(("F9", 99.0, other[0], "last_gasp"))    # late
    rows.append(("Z", 400.0, "M-2000", "last_gasp"))
    out = run(rows)
    assert out[make_outage_id("FDR-0", "F9")] == (99.0, "XF-010")
    assert out[make_outage_id("FDR-0", "E0")] == (100.0, "FUSE-00")
