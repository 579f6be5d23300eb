"""The bulk path gives byte-identical results to ingesting events one by one.

Determinism contract: the result depends only on the sequence of events in
arrival order, never on batching or chunk size.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_bridge.core.bulk import canonical_stamps
from oms_bridge.core.engine import Engine, result_of
from oms_bridge.core.events import EventCodes, parse_event, parse_timestamp
from oms_bridge.core.replay import replay
from oms_bridge.core.topology import Topology
from oms_bridge.errors import EventError
from oms_bridge.settings import EngineSettings
from oms_bridge.sim.fixtures import storm_feeder, synthetic_utility
from oms_bridge.sim.params import StormParams
from oms_bridge.sim.scenario import generate

SETTINGS = EngineSettings()
CODES = EventCodes.from_settings(SETTINGS)
CHUNKS = (1, 7, 1000)


def per_event(topology: Topology, lines: list[str]) -> bytes:
    """The reference: every line parsed and ``Engine.ingest``-ed on its own."""
    engine = Engine(topology, SETTINGS)
    for line in lines:
        if not line.strip():
            continue
        try:
            event = parse_event(orjson.loads(line), CODES)
        except (orjson.JSONDecodeError, EventError):
            engine.count_invalid()
            continue
        engine.ingest(event)
    engine.flush()
    return orjson.dumps(result_of(engine))


def storm(topology: Topology, seed: int, **params: Any) -> list[str]:
    scenario = generate(topology, np.random.default_rng(seed), StormParams(**params), seed=seed)
    return list(scenario.lines())


def check_all_paths(topology: Topology, lines: list[str]) -> None:
    want = per_event(topology, lines)
    for size in CHUNKS:
        got = orjson.dumps(replay(topology, lines, SETTINGS, chunk_size=size))
        assert got == want, f"chunk size {size}"
    # the service's APIs: ingest_lines in uneven batches, ingest_many, single ingest mixed
    engine = Engine(topology, SETTINGS)
    cuts = [0, 3, 50, 51, 400, len(lines)]
    for a, b in pairwise(cuts):
        engine.ingest_lines(lines[a:b])
    engine.flush()
    assert orjson.dumps(result_of(engine)) == want
    events = []
    invalid = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            events.append(parse_event(orjson.loads(line), CODES))
        except (orjson.JSONDecodeError, EventError):
            invalid += 1
    engine = Engine(topology, SETTINGS)
    engine.count_invalid(invalid)
    for i in range(0, len(events), 13):
        if i % 2:
            for e in events[i:i + 13]:
                engine.ingest(e)
        else:
            engine.ingest_many(events[i:i + 13])
    engine.flush()
    assert orjson.dumps(result_of(engine)) == want
    # per-event verdicts of the bulk API are those of ingest
    one, bulk = Engine(topology, SETTINGS), Engine(topology, SETTINGS)
    assert [one.ingest(e) for e in events] == bulk.ingest_events(events)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), outages=st.integers(1, 12),
       hours=st.sampled_from([0.5, 2.0, 6.0]), late=st.sampled_from([0.0, 0.05, 0.3]))
def test_chunked_equals_per_event_on_random_storms(seed: int, outages: int, hours: float,
                                                   late: float) -> None:
    topo = storm_feeder()
    lines = storm(topo, seed, outages=outages, duration_h=hours, late_fraction=late)
    check_all_paths(topo, lines)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31))
def test_chunked_equals_per_event_on_a_small_utility(seed: int) -> None:
    topo = synthetic_utility(6000, np.random.default_rng(seed))
    check_all_paths(topo, storm(topo, seed, outages=40, duration_h=3.0))


def test_odd_lines_count_exactly_as_before() -> None:
    topo = storm_feeder()
    lines = storm(topo, 3, outages=3, duration_h=1.0)
    meter = orjson.loads(lines[0])["meter_id"]
    def line(eid: object, meter: object, kind: object, at: object) -> str:
        return orjson.dumps({"event_id": eid, "meter_id": meter, "type": kind,
                             "occurred_at": at}).decode()

    at = "2026-11-26T07:00:03.120Z"
    odd = [
        "", "   ", "not json", "[1, 2]", "null", '"text"', "{}",
        line(12, meter, "last_gasp", at),
        line("X1", meter, " LAST_GASP ", at),
        line("X2", meter, "last_gasp", "2026-11-26T07:00:03+00:00"),
        line("X3", meter, "last_gasp", "2026-11-26 07:00:03.5Z"),
        line("X4", meter, "last_gasp", "2026-02-30T07:00:03.120Z"),
        line("X5", meter, "last_gasp", "2026-11-26T07:00:03.120"),
        line("X6", meter, "restore", at),
        line("  ", meter, "last_gasp", at),
        line("X7\x00", meter, "last_gasp", at),
        line("X8", meter, ["last_gasp"], at),
        line("X9", meter, "3.26.0.216", "2026-11-26T07:00:09.000Z"),
        line("X11", meter, "last_gasp", 1764140403.12),
        line("X12", None, "last_gasp", at),
        line("X1", "nobody", "last_gasp", at),
        line("X10", "nobody", "last_gasp", "1989-12-31T23:59:59.999Z"),
    ]
    mixed = lines[:5] + odd + lines[5:] + odd
    check_all_paths(topo, mixed)
    counts = replay(topo, mixed, SETTINGS, chunk_size=7)["events"]
    assert counts == orjson.loads(per_event(topo, mixed))["events"]


def test_canonical_stamps_agree_with_the_parser() -> None:
    rng = np.random.default_rng(5)
    stamps = []
    for _ in range(20000):
        y, mo, d = rng.integers(1985, 2105), rng.integers(0, 14), rng.integers(0, 33)
        h, mi, s = rng.integers(0, 26), rng.integers(0, 61), rng.integers(0, 62)
        ms = rng.integers(0, 1000)
        stamps.append(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{ms:03d}Z")
    stamps += ["2024-02-29T00:00:00.000Z", "2100-02-29T00:00:00.000Z", "2000-02-29T23:59:59.999Z",
               "2026-11-26T07:00:0٣.120Z", "2026-11-26T07:00:03,120Z", "short"]
    ok, seconds = canonical_stamps(stamps)
    assert ok.sum() > 5000
    for text, fast, value in zip(stamps, ok.tolist(), seconds.tolist(), strict=True):
        if fast:
            assert parse_timestamp(text) == value, text


@pytest.mark.shared
@pytest.mark.parametrize("name", ["ckt7", "ckt5"])
def test_chunked_equals_per_event_on_shared_feeders(shared_feeders: Path, name: str) -> None:
    from oms_bridge.commands.replay import load_topology  # noqa: PLC0415
    from oms_bridge.settings import load_settings  # noqa: PLC0415

    topo = load_topology(shared_feeders / name, load_settings(None))
    check_all_paths(topo, storm(topo, 11, outages=25, duration_h=4.0))


def test_meter_table_answers_as_a_dict() -> None:
    from oms_bridge.core.bulk import MeterTable  # noqa: PLC0415

    ids = ["M1", "M10", "M100", "métér-7", "A", "x" * 40, *[f"K{i:05d}" for i in range(3000)]]
    keys = np.array(sorted(i.encode() for i in ids), dtype=np.bytes_)
    sps = np.arange(len(ids), dtype=np.int32)[::-1].copy()
    table = MeterTable(keys, sps)
    assert table.unique
    want = {k.decode(): int(s) for k, s in zip(keys.tolist(), sps.tolist(), strict=True)}
    queries = [*ids, "", "M", "M1 ", " M1", "M1000", "métér-8", "x" * 41, "x" * 39, "K00001",
               "K0000", "K000010", "日本"]
    got = table.lookup(queries).tolist()
    assert got == [want.get(q, -1) for q in queries]
