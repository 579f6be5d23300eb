"""Each hard case of issue 3 pinned on a small named feeder."""

from __future__ import annotations

from oms_bridge.core.engine import Engine, Verdict
from oms_bridge.core.events import EventKind, MeterEvent
from oms_bridge.core.replay import replay
from oms_bridge.settings import EngineSettings

from .feeders import fuse_over_one_transformer, radial, two_laterals
from .helpers import T0, Stream, meters, run, stamp


def lateral(lat: str, step: int = 2) -> list[str]:
    return [m for j in range(3) for m in meters(f"XF-{lat}{j}", 6, step)]


def by_device(engine: Engine) -> dict[str, dict[str, object]]:
    return {str(o["device_id"]): o for o in engine.outages()}


def test_two_lateral_outages_not_merged_into_the_recloser() -> None:
    s = Stream()
    s.gasps(lateral("A"), 0.0)
    s.gasps(lateral("B"), 30.0)    # half the meters of each lateral, 30 s apart
    out = by_device(run(two_laterals(), s))
    assert set(out) == {"FUSE-A", "FUSE-B"}
    assert out["FUSE-A"]["meters_affected"] == 21   # 18 AMI + 3 non-AMI
    assert out["FUSE-A"]["meters_reporting"] == 9


def test_two_simultaneous_laterals_with_a_silent_main_line() -> None:
    s = Stream()
    s.gasps(lateral("A", 1)[:15] + lateral("B", 1)[:15], 0.0)   # main line all silent
    out = by_device(run(two_laterals(), s))
    assert set(out) == {"FUSE-A", "FUSE-B"}


def test_recloser_lockout_rolled_up() -> None:
    s = Stream()
    s.gasps(lateral("A") + lateral("B") + meters("XF-MAIN", 6, 2), 0.0)
    out = by_device(run(two_laterals(), s))
    assert set(out) == {"RCL-1"}
    assert out["RCL-1"]["status"] == "active"
    assert 0.0 < float(str(out["RCL-1"]["confidence"])) <= 1.0


def test_single_dark_meter_is_a_service_point_outage() -> None:
    s = Stream()
    s.gasps(["M-XF-MAIN-3"], 0.0)
    out = run(two_laterals(), s).outages()
    assert [(o["device_type"], o["device_id"]) for o in out] == [
        ("service_point", "SP-XF-MAIN-3")]


def test_same_ami_meters_upstream_device_wins() -> None:
    s = Stream()
    s.gasps(meters("XF-1", 5, 2), 0.0)
    out = run(fuse_over_one_transformer(), s).outages()
    assert [o["device_id"] for o in out] == ["FUSE-1"]
    assert out[0]["meters_affected"] == 7
    s = Stream()
    s.gasps(["M-XF-ONE-0"], 0.0)
    out = run(two_laterals(), s).outages()
    assert [o["device_id"] for o in out] == ["XF-ONE"]   # transformer, not its one meter
    assert out[0]["meters_affected"] == 3


def test_hold_window_and_predicted_at() -> None:
    s = Stream()
    s.gasps(lateral("A"), 10.0)
    engine = Engine(two_laterals(), EngineSettings())
    engine.ingest_many(s.events())
    base = T0.timestamp()
    engine.tick(base + 70.0)            # watermark = 40 s: still inside the hold window
    assert engine.outages() == []
    assert engine.drain_changes() == []
    engine.tick(base + 100.0)           # watermark = 70 s: published
    out = engine.outages()
    assert [o["device_id"] for o in out] == ["FUSE-A"]
    assert out[0]["predicted_at"] == stamp(70.0)
    assert out[0]["started_at"] == stamp(10.0)
    changes = engine.drain_changes()
    assert [c["change"] for c in changes] == ["created"]


def test_momentary_never_dispatched() -> None:
    s = Stream()
    all_meters = lateral("A", 1) + lateral("B", 1) + meters("XF-MAIN", 6)
    s.gasps(all_meters[::2], 0.0)
    s.restores(all_meters[1::2] + all_meters[::2], 15.0)   # restores from silent meters too
    engine = run(two_laterals(), s)
    out = engine.outages()
    assert [(o["device_id"], o["status"]) for o in out] == [("RCL-1", "momentary")]
    assert out[0]["confirmed_at"] is not None
    assert engine.restorations() == []
    assert engine.outages("active") == []


def test_sustained_outage_restored_and_confirmed_once() -> None:
    s = Stream()
    s.gasps(lateral("A"), 0.0)
    s.restores(lateral("A", 1), 3600.0)
    engine = run(two_laterals(), s)
    (o,) = engine.outages()
    assert o["status"] == "restored"
    assert o["confirmed_at"] == stamp(3600.0 + 0.1 * 17)
    (item,) = engine.drain_restorations()
    assert item["seq"] == 1 and item["outage_id"] == o["outage_id"]
    assert item["meters_unverified"] == [] and item["confirmed_at"] == o["confirmed_at"]
    assert engine.drain_restorations() == []


def test_nested_transformer_found_under_restored_fuse() -> None:
    s = Stream()
    s.gasps(lateral("A"), 0.0)
    back = [m for m in lateral("A", 1) if not m.startswith("M-XF-A1-")]
    s.restores(back, 3600.0)
    s.add("M-XF-MAIN-0", "last_gasp", 4000.0)   # keeps event time moving
    s.restores(meters("XF-A1", 6), 7200.0)
    engine = run(two_laterals(), s)
    out = by_device(engine)
    fuse, child = out["FUSE-A"], out["XF-A1"]
    assert child["parent_outage_id"] == fuse["outage_id"]
    assert fuse["status"] == "restored" and fuse["confirmed_at"] is not None
    assert fuse["meters_affected"] == 21 - 7
    assert child["status"] == "restored" and child["confirmed_at"] == stamp(7200.5)
    items = engine.restorations()
    assert [i["outage_id"] for i in items] == [fuse["outage_id"], child["outage_id"]]
    assert items[0]["nested_outage_ids"] == [child["outage_id"]]


def test_never_confirmed_while_a_meter_is_dark() -> None:
    s = Stream()
    s.gasps(lateral("A"), 0.0)
    silent = "M-XF-A2-3"
    s.restores([m for m in lateral("A", 1) if m != silent], 3600.0)
    s.add("M-XF-MAIN-0", "last_gasp", 4000.0)
    engine = Engine(two_laterals(), EngineSettings())
    engine.ingest_many(s.events())
    engine.flush()
    o = by_device(engine)["FUSE-A"]
    assert o["status"] == "restored" and o["confirmed_at"] is None
    (item,) = engine.drain_restorations()
    assert item["meters_unverified"] == [silent] and item["confirmed_at"] is None
    late = Stream()
    late.add(silent, "power_restored", 3601.0, event_id="LATE-1")
    engine.ingest_many(late.events())
    engine.flush()
    o2 = by_device(engine)["FUSE-A"]
    assert o2["outage_id"] == o["outage_id"] and o2["confirmed_at"] == stamp(3601.6)
    assert engine.drain_restorations() == []   # no second feed item


def test_late_out_of_order_duplicate_unknown() -> None:
    s = Stream()
    ms = lateral("A")
    for i, m in enumerate(reversed(ms)):                  # out of order
        s.add(m, "last_gasp", 5.0 - 0.1 * i)
    s.add(ms[0], "last_gasp", 5.0, event_id="E000000")    # duplicate id
    s.add("NOT-A-METER", "last_gasp", 5.0)
    s.restores(lateral("A", 1), 3600.0)
    s.add(ms[1], "last_gasp", 2.0)                        # hours late, older than its restore
    engine = run(two_laterals(), s)
    assert engine.event_stats() == {"accepted": 9 + 18 + 1, "duplicate": 1,
                                    "unknown_meter": 1, "invalid": 0}
    (o,) = engine.outages()
    assert o["status"] == "restored" and o["confirmed_at"] is not None
    assert engine.outages("active") == []


def test_verdicts() -> None:
    engine = Engine(radial(), EngineSettings())
    at = T0.timestamp()
    ev = MeterEvent("X1", "M-XF-0-0", EventKind.LAST_GASP, at)
    assert engine.ingest(ev) is Verdict.ACCEPTED
    assert engine.ingest(ev) is Verdict.DUPLICATE
    unknown = MeterEvent("X2", "nope", EventKind.LAST_GASP, at)
    assert engine.ingest(unknown) is Verdict.UNKNOWN_METER
    engine.count_invalid(3)
    assert engine.event_stats() == {"accepted": 1, "duplicate": 1, "unknown_meter": 1,
                                    "invalid": 3}


def test_same_answer_under_any_batching() -> None:
    s = Stream()
    s.gasps(lateral("A"), 0.0)
    s.gasps(lateral("B"), 100.0)
    s.gasps(["M-XF-MAIN-1"], 130.0)
    s.restores(lateral("A", 1), 3600.0)
    s.restores(lateral("B", 1)[:-2], 3700.0)
    events = s.events()
    reference = replay(two_laterals(), s.objs)
    for size in (1, 2, 7, len(events)):
        engine = Engine(two_laterals(), EngineSettings())
        changes: list[dict[str, object]] = []
        for i in range(0, len(events), size):
            engine.ingest_many(events[i:i + size])
            changes.extend(engine.drain_changes())
        engine.flush()
        assert engine.outages() == reference["outages"]
        assert engine.restorations() == reference["restorations"]
        assert {c["outage_id"] for c in changes} <= {o["outage_id"] for o in engine.outages()}


def test_outage_detail() -> None:
    s = Stream()
    s.gasps(lateral("A"), 0.0)
    engine = run(two_laterals(), s)
    (o,) = engine.outages()
    detail = engine.outage_detail(str(o["outage_id"]))
    assert detail is not None
    assert len(detail["meters"]) == 18
    kinds = [t["kind"] for t in detail["timeline"]]
    assert kinds.count("last_gasp") == 9 and kinds[-1] == "prediction"
    assert engine.outage_detail("nope") is None
