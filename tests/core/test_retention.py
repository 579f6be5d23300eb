"""Bounded memory in a long run: evidence retention and the event-id horizon.

Counts entries of the engine's internal structures (not bytes): after an
outage has been closed for ``evidence_retention_s`` of event time its evidence
is gone, and event ids ``dedupe_horizon_s`` behind the watermark are forgotten.
Neither changes an answer: the outage list keeps every outage with its fields,
later events about a compacted outage are read as before, and an old duplicate
is applied as late evidence, which changes nothing.
"""

from __future__ import annotations

from typing import Any

from oms_bridge.core.engine import Engine, Verdict
from oms_bridge.core.events import MeterEvent, parse_event
from oms_bridge.core.replay import replay
from oms_bridge.settings import EngineSettings

from .feeders import radial, two_laterals
from .helpers import CODES, T0, stamp

SMALL = EngineSettings(evidence_retention_s=600.0, dedupe_horizon_s=1200.0)
FOREVER = EngineSettings(evidence_retention_s=1e12, dedupe_horizon_s=1e12)
T0_S = T0.timestamp()


def ev(eid: str, meter: str, kind: str, at_s: float) -> dict[str, Any]:
    return {"event_id": eid, "meter_id": meter, "type": kind, "occurred_at": stamp(at_s)}


def parsed(objs: list[dict[str, Any]]) -> list[MeterEvent]:
    return [parse_event(o, CODES) for o in objs]


def outage_events(tag: str, xf: str, start: float, back: float, *, lost: int = 0,
                  n: int = 5) -> list[dict[str, Any]]:
    """Every meter of transformer ``xf`` gasps at ``start`` and comes back at
    ``back``, except the last ``lost`` restores."""
    out = [ev(f"{tag}-g{i}", f"M-{xf}-{i}", "last_gasp", start + 0.1 * i) for i in range(n)]
    out += [ev(f"{tag}-r{i}", f"M-{xf}-{i}", "power_restored", back + 0.1 * i)
            for i in range(n - lost)]
    return out


def held(engine: Engine) -> dict[str, int]:
    """Entries of the structures that grow with evidence."""
    book = engine._book
    dark = sum(len(o.incident.dark) for o in book.by_id.values() if o.incident is not None)
    return {
        "incidents": sum(len(x) for x in engine._incidents.values()),
        "incident_of": sum(x is not None for x in engine._incident_of),
        "outage_dark": dark,
        "on_events": sum(len(o.on_events) for o in book.by_id.values()),
        "known_on": sum(len(o.known_on) for o in book.by_id.values()),
        "seen": len(engine._seen),
    }


def test_evidence_of_closed_outages_is_dropped_after_retention() -> None:
    engine = Engine(radial(), SMALL)
    engine.ingest_many(parsed(outage_events("a", "XF-0", 0, 900)
                              + outage_events("b", "XF-1", 100, 1000)))
    engine.tick(T0_S + 1500)     # both closed (settled), not yet retained long
    before = held(engine)
    assert before["incidents"] == 2
    assert before["on_events"] == before["known_on"] == before["outage_dark"] == 10
    rows, feed = engine.outages(), engine.restorations()
    assert [r["status"] for r in rows] == ["restored", "restored"]
    assert len(feed) == 2
    detail = engine.outage_detail(rows[0]["outage_id"])
    assert detail is not None
    assert not detail["timeline_compacted"]
    assert {e["kind"] for e in detail["timeline"]} == {"last_gasp", "power_restored",
                                                       "prediction"}

    engine.tick(T0_S + 1500 + SMALL.evidence_retention_s)   # watermark alone: no new incident
    after = held(engine)
    assert after["incidents"] == after["incident_of"] == 0
    assert after["on_events"] == after["known_on"] == after["outage_dark"] == 0
    # the list and the feed are unchanged: every contract field kept
    assert engine.outages() == rows
    assert engine.restorations() == feed
    assert all(o.compacted and o.incident is None for o in engine._book.by_id.values())
    detail = engine.outage_detail(rows[0]["outage_id"])
    assert detail is not None
    assert detail["timeline_compacted"]
    assert {e["kind"] for e in detail["timeline"]} == {"prediction"}
    assert len(detail["meters"]) == 5


def test_a_compacted_outage_reads_later_evidence_as_before() -> None:
    """A straggler whose restore comes long after compaction still reveals the
    nested outage (with its gasp counted), a late gasp from inside it is still
    absorbed: same answer as with the evidence kept forever."""
    objs = outage_events("a", "XF-MAIN", 0, 900, lost=1, n=6)
    objs += outage_events("b", "XF-HEAD", 3000, 3400)                 # time passes
    objs.append(ev("late-g", "M-XF-MAIN-5", "last_gasp", 2.0))        # hours late
    objs += outage_events("c", "XF-HEAD", 9000, 9400, n=6)
    objs.append(ev("strag-r", "M-XF-MAIN-5", "power_restored", 9600))
    small = replay(two_laterals(), objs, SMALL, chunk_size=3)
    forever = replay(two_laterals(), objs, FOREVER)
    assert small == forever
    nested = [o for o in small["outages"] if o["parent_outage_id"] is not None]
    assert nested and nested[0]["meters_reporting"] == 1


def test_event_ids_are_forgotten_behind_the_horizon() -> None:
    engine = Engine(radial(), SMALL)
    first = outage_events("a", "XF-0", 0, 900)
    engine.ingest_many(parsed(first))
    engine.tick(T0_S + 1000)
    assert len(engine._seen) == 10
    # a recent duplicate is still one
    assert engine.ingest(parsed(first[:1])[0]) is Verdict.DUPLICATE
    engine.tick(T0_S + 900 + SMALL.dedupe_horizon_s * (1 + 1 / 8) + 31)
    assert len(engine._seen) == 0 and not engine._id_buckets


def test_an_old_duplicate_is_harmless_late_evidence() -> None:
    """Documented: an id older than the horizon is forgotten, so its duplicate
    counts as accepted; applied as late evidence it changes nothing (a gasp or
    restore not newer than what its meter said since opens nothing)."""
    objs = outage_events("a", "XF-0", 0, 900) + outage_events("b", "XF-1", 5000, 5300)
    engine = Engine(radial(), SMALL)
    engine.ingest_many(parsed(objs))
    engine.tick(T0_S + 5600)
    rows, feed, stats = engine.outages(), engine.restorations(), engine.event_stats()
    old = parsed(objs[:10])          # every gasp and restore of the first outage again
    assert engine.ingest_events(old) == [Verdict.ACCEPTED] * 10
    recent = parsed(objs[10:11])
    assert engine.ingest_events(recent) == [Verdict.DUPLICATE]
    engine.flush()
    assert engine.outages() == rows
    assert engine.restorations() == feed
    assert engine.event_stats() == {**stats, "accepted": stats["accepted"] + 10,
                                    "duplicate": stats["duplicate"] + 1}


def test_same_answer_under_any_batching_across_expiries() -> None:
    """Ids expire at watermark positions, never at chunk boundaries."""
    objs: list[dict[str, Any]] = []
    for k in range(12):
        xf = f"XF-{k % 4}"
        objs += outage_events(f"s{k}", xf, k * 400.0, k * 400.0 + 250.0, lost=k % 2)
        # duplicates of earlier storms, of every age
        objs += [dict(o) for o in objs[max(0, len(objs) - 60):len(objs) - 40]]
    results = [replay(radial(), objs, SMALL, chunk_size=c) for c in (1, 5, 64, 4096)]
    assert all(r == results[0] for r in results)
    one_by_one = Engine(radial(), SMALL)
    for e in parsed(objs):
        one_by_one.ingest(e)
    one_by_one.flush()
    assert one_by_one.event_stats() == results[0]["events"]
    assert results[0]["events"]["accepted"] > len({o["event_id"] for o in objs})


def test_short_storm_unchanged_by_retention() -> None:
    objs = outage_events("a", "XF-0", 0, 900, lost=2) + outage_events("b", "XF-2", 50, 60)
    assert replay(radial(), objs, EngineSettings()) == replay(radial(), objs, FOREVER)


def test_a_long_chunk_spanning_many_id_buckets_is_one_loop_not_a_recursion() -> None:
    """Thousands of events in one chunk, each a bucket of event time later than
    the last: from unknown meters (the watermark never moves) and from known
    ones (it moves at every arrival), with a repeated id now and then. The chunk
    is split wherever a bucket may expire, in a loop (it used to recurse once
    per split and ran out of stack), with the verdicts of one-by-one ingestion."""
    settings = EngineSettings(evidence_retention_s=60.0, dedupe_horizon_s=80.0,
                              lateness_s=0.0)
    step = 80.0 / 8 + 1.0   # just over one id bucket per event
    meters = ["NOT-IN-TOPOLOGY", "M-XF-0-0", "M-XF-1-1", "M-XF-2-0"]
    objs = [ev(f"E{i if i % 50 else i - 1}", meters[(i // 500) % len(meters)],
               "last_gasp" if i % 2 else "power_restored", step * i)
            for i in range(3000)]
    events = parsed(objs)
    one = Engine(radial(), settings)
    want = [one.ingest(e) for e in events]
    bulk = Engine(radial(), settings)
    assert bulk.ingest_events(events) == want
    assert bulk.event_stats() == one.event_stats()
    stats = bulk.event_stats()
    assert stats["unknown_meter"] >= 900 and stats["accepted"] >= 1800
    assert stats["duplicate"] > 0
