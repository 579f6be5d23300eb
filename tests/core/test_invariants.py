"""Property-based invariants on random trees and random event streams."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_bridge.core.engine import Engine
from oms_bridge.core.events import EventCodes, parse_event
from oms_bridge.core.replay import replay
from oms_bridge.core.topology import Topology, TopologyBuilder
from oms_bridge.errors import EventError
from oms_bridge.settings import EngineSettings

from .helpers import stamp

KINDS = ("breaker", "recloser", "sectionalizer", "fuse", "switch")
CODES = EventCodes.from_settings(EngineSettings())


@st.composite
def trees(draw: st.DrawFn) -> tuple[Topology, list[str]]:
    b = TopologyBuilder()
    nodes = [b.device("BRK", "breaker", b.feeder("F1"))]
    for i in range(draw(st.integers(0, 8))):
        parent = nodes[draw(st.integers(0, len(nodes) - 1))]
        nodes.append(b.device(f"D{i}", draw(st.sampled_from(KINDS)), parent))
    meter_ids: list[str] = []
    for i in range(draw(st.integers(1, 8))):
        xf = b.device(f"XF{i}", "transformer", nodes[draw(st.integers(0, len(nodes) - 1))])
        for j in range(draw(st.integers(0, 4))):
            if draw(st.booleans()) or j == 0:
                meter_ids.append(f"M{i}-{j}")
                b.service_point(f"SP{i}-{j}", xf, meter=meter_ids[-1])
            else:
                b.service_point(f"SP{i}-{j}", xf, meter_type="manual")
    return b.build(), meter_ids


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Topology, list[dict[str, Any]]]:
    topo, meter_ids = draw(trees())
    n = draw(st.integers(0, 60))
    objs: list[dict[str, Any]] = []
    for i in range(n):
        meter = draw(st.sampled_from([*meter_ids, "UNKNOWN"]))
        kind = draw(st.sampled_from(["last_gasp", "power_restored", "3.26.0.85"]))
        at = draw(st.sampled_from([0.0, 1.0, 2.5, 30.0, 90.0, 400.0, 4000.0, 9000.0]))
        at += draw(st.floats(0, 3, allow_nan=False))
        eid = f"E{draw(st.integers(0, n))}" if draw(st.booleans()) else f"U{i}"
        objs.append({"event_id": eid, "meter_id": meter, "type": kind,
                     "occurred_at": stamp(at)})
    if draw(st.booleans()):
        objs.append({"event_id": "BAD", "meter_id": 3, "type": "x", "occurred_at": "?"})
    return topo, objs


def _check_state(engine: Engine) -> None:
    # the per-meter owner index answers as the open index it caches
    book = engine._book   # an internal index, checked against its source
    for sp in range(engine.topology.n_service_points):
        assert book.owner_of(sp) is book.owner_walk(sp), f"owner of service point {sp}"
    # the per-feeder lists of undecided incidents follow the filed lists
    for feeder, filed in engine._incidents.items():
        undecided = [inc for inc in filed if not inc.decided]
        assert engine._pending.get(feeder, []) == undecided, f"pending of feeder {feeder}"
    active = engine.outages("active")
    owned: dict[str, str] = {}
    for o in active:
        detail = engine.outage_detail(o["outage_id"])
        assert detail is not None
        for m in detail["meters"]:
            assert m not in owned, f"meter {m} in {owned[m]} and {o['outage_id']}"
            owned[m] = o["outage_id"]
    for o in engine.outages():
        assert o["meters_affected"] >= o["ami_affected"] >= 0
        assert 0.0 <= o["confidence"] <= 1.0
        assert o["status"] in {"active", "restored", "momentary"}
        if o["confirmed_at"] is not None:
            assert o["meters_unverified"] == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(1, 7))
def test_invariants_and_batching(scenario: tuple[Topology, list[dict[str, Any]]],
                                 chunk: int) -> None:
    topo, objs = scenario
    reference = replay(topo, objs)
    counts = reference["events"]
    assert sum(counts.values()) == len(objs)
    events = []
    invalid = 0
    for o in objs:
        try:
            events.append(parse_event(o, CODES))
        except EventError:
            invalid += 1
    engine = Engine(topo, EngineSettings())
    seen_ids: set[str] = set()
    for i in range(0, len(events), chunk):
        engine.ingest_many(events[i:i + chunk])
        _check_state(engine)
        for change in engine.drain_changes():
            seen_ids.add(change["outage_id"])
    engine.count_invalid(invalid)
    engine.flush()
    _check_state(engine)
    assert engine.outages() == reference["outages"]
    assert engine.restorations() == reference["restorations"]
    assert engine.event_stats() == counts
    for change in engine.drain_changes():
        seen_ids.add(change["outage_id"])
    assert {o["outage_id"] for o in engine.outages()} <= seen_ids
    seqs = [r["seq"] for r in engine.restorations()]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len({r["outage_id"] for r in engine.restorations()}) == len(seqs)
