"""The scenario generator: deterministic, consistent with the topology, honest counts."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import pytest

from oms_bridge.core.topology import Topology
from oms_bridge.sim import StormParams, generate
from oms_bridge.sim.fixtures import storm_feeder, synthetic_utility
from oms_bridge.sim.scenario import Scenario, area_delivery
from oms_bridge.sim.truth import parse_iso_ms
from oms_bridge.sim.writer import read_truth, write_scenario

VALID_TYPES = {"last_gasp", "power_restored", "3.26.0.85", "3.26.0.216"}


@pytest.fixture(scope="module")
def topo() -> Topology:
    return storm_feeder()


@pytest.fixture(scope="module")
def scenario(topo: Topology) -> Scenario:
    params = StormParams(outages=25, momentaries=6, malformed_fraction=0.01,
                         unknown_meter_fraction=0.02, duplicate_fraction=0.05)
    return generate(topo, np.random.default_rng(7), params, seed=7)


@pytest.fixture(scope="module")
def utility() -> Topology:
    return synthetic_utility(20_000, np.random.default_rng(3), sp_per_feeder=2_000)


def test_same_seed_same_scenario(topo: Topology) -> None:
    a = generate(topo, np.random.default_rng(11), StormParams(outages=15), seed=11)
    b = generate(topo, np.random.default_rng(11), StormParams(outages=15), seed=11)
    c = generate(topo, np.random.default_rng(12), StormParams(outages=15), seed=12)
    assert list(a.lines()) == list(b.lines())
    assert a.truth.to_dict(topo) == b.truth.to_dict(topo)
    assert list(a.lines()) != list(c.lines())


def test_files_round_trip(tmp_path: Path, scenario: Scenario) -> None:
    n = write_scenario(tmp_path / "e.jsonl", tmp_path / "t.json", scenario)
    assert n == len(scenario.events) == len((tmp_path / "e.jsonl").read_text().splitlines())
    truth = read_truth(tmp_path / "t.json")
    assert truth == orjson.loads(orjson.dumps(scenario.truth.to_dict(scenario.topology)))


def _ami_meters_below(topo: Topology, device_id: str) -> set[str]:
    out = set()
    for sp in range(topo.n_service_points):
        meter = topo.meter_id(sp)
        if not topo.is_ami(sp) or not meter:
            continue
        upstream = {topo.node_id(n) for n in topo.path(sp)} | {topo.sp_id(sp)}
        if device_id in upstream:
            out.add(meter)
    return out


def test_affected_meters_are_the_ami_meters_below(scenario: Scenario) -> None:
    topo = scenario.topology
    truth = scenario.truth.to_dict(topo)
    assert truth["outages"]
    for o in truth["outages"]:
        assert set(o["ami_meters"]) == _ami_meters_below(topo, o["device_id"]), o["id"]
        assert o["ami_meters_affected"] == len(o["ami_meters"]) > 0
        assert parse_iso_ms(o["started_at"]) < parse_iso_ms(o["restored_at"])


def test_every_device_kind_and_story_occurs(utility: Topology) -> None:
    sc = generate(utility, np.random.default_rng(5), StormParams(outages=80), seed=5)
    kinds = Counter(o.device_type for o in sc.truth.outages if not o.momentary)
    assert {"fuse", "transformer", "service_point", "recloser"} <= set(kinds)
    assert kinds["fuse"] > kinds["recloser"]
    assert any(o.momentary for o in sc.truth.outages)
    assert any(o.parent for o in sc.truth.outages)
    # overlapping outages: some pairs are out at the same time
    spans = sorted((o.started_ms, o.restored_ms) for o in sc.truth.outages)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans))


def test_nested_outages_sit_inside_their_parent(utility: Topology) -> None:
    sc = generate(utility, np.random.default_rng(9), StormParams(outages=80,
                                                                 nested_probability=0.8), seed=9)
    by_id = {o.outage_id: o for o in sc.truth.outages}
    nested = [o for o in sc.truth.outages if o.parent]
    assert len(nested) >= 5
    for child in nested:
        parent = by_id[child.parent or ""]
        assert not child.momentary and not parent.momentary
        assert parent.ami_lo <= child.ami_lo and child.ami_hi <= parent.ami_hi
        assert parent.ami_meters > child.ami_meters
        assert parent.started_ms <= child.started_ms < parent.restored_ms
        assert child.restored_ms >= parent.restored_ms + 10 * 60_000


def test_momentaries_are_short_and_clear_of_related_outages(utility: Topology) -> None:
    params = StormParams(outages=60, momentaries=20)
    sc = generate(utility, np.random.default_rng(2), params, seed=2)
    moms = [o for o in sc.truth.outages if o.momentary]
    assert moms
    for m in moms:
        assert m.device_type in {"recloser", "breaker", "sectionalizer"}
        assert m.restored_ms - m.started_ms <= params.momentary_window_s * 1000
        for o in sc.truth.outages:
            if o is m or not (o.ami_lo < m.ami_hi and m.ami_lo < o.ami_hi):
                continue
            clear = 600_000
            assert o.restored_ms + clear <= m.started_ms or o.started_ms >= m.restored_ms + clear


def test_delivery_rate_matches_the_parameter(utility: Topology) -> None:
    for delivery in (0.3, 0.7):
        params = StormParams(outages=80, delivery=delivery, restore_delivery=0.8)
        sc = generate(utility, np.random.default_rng(4), params, seed=4)
        sent = np.array([o.gasps_sent for o in sc.truth.outages], dtype=float)
        got = np.array([o.gasps_delivered for o in sc.truth.outages], dtype=float)
        p = np.array([o.delivery for o in sc.truth.outages])
        for o in sc.truth.outages:
            assert o.delivery == pytest.approx(area_delivery(params, o.ami_meters))
            assert o.delivery <= delivery
        expected = float((sent * p).sum())
        sd = float(np.sqrt((sent * p * (1 - p)).sum()))
        assert abs(got.sum() - expected) < 4 * sd + 1
        small = p == delivery
        assert got[small].sum() / sent[small].sum() == pytest.approx(delivery, abs=0.05)
        r_sent = sum(o.restores_sent for o in sc.truth.outages)
        r_got = sum(o.restores_delivered for o in sc.truth.outages)
        assert r_got / r_sent == pytest.approx(0.8, abs=0.03)


def _classify(lines: list[str], topo: Topology) -> Counter[str]:
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for line in lines:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            counts["invalid"] += 1
            counts["bad_json"] += 1
            continue
        if set(obj) != {"event_id", "meter_id", "type", "occurred_at"}:
            counts["invalid"] += 1
            counts["missing_field"] += 1
            continue
        try:
            stamp = datetime.fromisoformat(obj["occurred_at"])
            assert stamp.tzinfo is not None and obj["occurred_at"].endswith("Z")
        except ValueError:
            counts["invalid"] += 1
            counts["bad_timestamp"] += 1
            continue
        assert obj["type"] in VALID_TYPES
        if obj["event_id"] in seen:
            counts["duplicate"] += 1
            continue
        seen.add(obj["event_id"])
        counts["unknown_meter" if topo.meter_index(obj["meter_id"]) < 0 else "accepted"] += 1
    return counts


def test_counts_in_the_file_equal_the_truth(scenario: Scenario) -> None:
    counts = _classify(list(scenario.lines()), scenario.topology)
    ev = scenario.truth.events
    assert ev.duplicate > 0 and ev.unknown_meter > 0 and ev.invalid >= 3
    for key in ("accepted", "duplicate", "unknown_meter", "invalid"):
        assert counts[key] == getattr(ev, key), key
    for kind, n in ev.invalid_by_kind.items():
        assert counts[kind] == n, kind
    assert ev.lines == sum(counts[k] for k in ("accepted", "duplicate", "unknown_meter",
                                               "invalid"))


def test_events_tell_the_true_story(scenario: Scenario) -> None:
    """Every known-meter event sits at the edge of one of that meter's true dark spans;
    lines are in arrival order, and some arrive out of event-time order."""
    topo = scenario.topology
    spans: dict[str, list[tuple[int, int]]] = {}
    for o in scenario.truth.outages:
        for sp in range(o.sp_lo, o.sp_hi):
            meter = topo.meter_id(sp)
            if topo.is_ami(sp) and meter:
                spans.setdefault(meter, []).extend(o.shots)
    occurred: list[int] = []
    for line in scenario.lines():
        try:
            obj = orjson.loads(line)
            at = parse_iso_ms(obj["occurred_at"])
            kind = obj["type"]
        except (orjson.JSONDecodeError, KeyError, ValueError):
            continue
        if topo.meter_index(obj["meter_id"]) < 0:
            continue
        occurred.append(at)
        mine = spans[obj["meter_id"]]
        if kind in {"last_gasp", "3.26.0.85"}:
            assert any(s <= at <= s + 2000 for s, _ in mine)
        else:
            assert any(e <= at <= e + 8000 for _, e in mine)
    assert occurred != sorted(occurred)
    assert np.all(np.diff(scenario.events.arrival_ms) >= 0)
