"""A replay whose engine work is shared by feeder gives the bytes of one engine.

Each part applies every release, passing over other feeders' events, so its
timers fire where one engine's would; the keys of its actions put the parts'
restoration feeds back in one engine's order.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from oms_bridge import split_replay
from oms_bridge.cli import main
from oms_bridge.core.engine import Engine
from oms_bridge.core.events import EventCodes
from oms_bridge.core.reorder import Release, Sequencer
from oms_bridge.core.replay import feed, replay
from oms_bridge.core.topology import Topology, TopologyBuilder
from oms_bridge.settings import EngineSettings
from oms_bridge.sim.fixtures import synthetic_utility
from oms_bridge.split_replay import (
    ReplayError,
    _packed,
    _pipes_busy,
    _unpacked,
    front_share,
    merge_parts,
    part_held,
    part_view,
    parts_of,
    parts_replay,
    replay_with,
)

from .test_chunked import storm

SETTINGS = EngineSettings()
CODES = EventCodes.from_settings(SETTINGS)

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="a parts replay forks")


def utility(feeders: int = 6) -> Topology:
    return synthetic_utility(feeders * 120, np.random.default_rng(feeders), sp_per_feeder=120)


def utility_storm(seed: int, feeders: int = 6) -> tuple[Topology, list[str]]:
    """Overlapping outages on several feeders, late and lost evidence."""
    topo = utility(feeders)
    return topo, storm(topo, seed, outages=14, duration_h=3.0, late_fraction=0.2)


def one_engine(topo: Topology, lines: list[str]) -> bytes:
    return orjson.dumps(replay(topo, lines, SETTINGS, chunk_size=97))


def in_parts(topo: Topology, lines: list[str], n: int, chunk_size: int, *,
             shares: list[float] | None = None, tuned: EngineSettings = SETTINGS) -> bytes:
    """The parts protocol in one process, as the front runs it: part 0 beside
    the front (the release's ids as they are), the others through the pipe's
    pickling (no ids of other parts' events)."""
    part_of_sp, n = parts_of(topo, n, shares)
    front = Engine(topo, tuned)
    parts = [Engine(topo, tuned) for _ in range(n)]
    for p in parts:
        p.as_part()
    over = front.passed_over_sp

    def across(release: Release) -> None:
        part = part_of_sp[release.sp]
        ids = np.array(release.event_id, dtype=object)
        parts[0].apply_release(part_view(release, None, part == 0, over))
        for i, p in enumerate(parts[1:], 1):
            view = part_view(release, ids, part == i, over)
            p.apply_release(_unpacked(pickle.loads(pickle.dumps(_packed(view)))))

    front.hand_off(across)
    feed(front, lines, EventCodes.from_settings(tuned), chunk_size)
    state = front.front_state()
    for i, p in enumerate(parts):
        p.take_front(part_held(state, part_of_sp[state.buffered.sp] == i, over))
        p.flush()
    outages, restorations = merge_parts([p.part_result() for p in parts])
    return orjson.dumps({"outages": outages, "restorations": restorations,
                         "coverage": front.coverage(), "events": state.stats})


def test_the_storm_reaches_every_part_with_feed_items_to_merge() -> None:
    """(The comparisons below mean something: several parts close outages.)"""
    topo, lines = utility_storm(3)
    _part_of_sp, n = parts_of(topo, 3)
    assert n == 3
    result = replay(topo, lines, SETTINGS)
    assert len(result["restorations"]) >= 5
    feeders = {r["feeder_id"] for r in result["restorations"]}
    assert len(feeders) >= 3
    assert one_engine(topo, lines) == in_parts(topo, lines, 3, 256)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(2, 4),
       chunk_size=st.sampled_from([1, 7, 64, 4096]),
       front=st.sampled_from([0.0, 0.2, 0.5]))
def test_parts_give_the_bytes_of_one_engine(seed: int, n: int, chunk_size: int,
                                            front: float) -> None:
    topo, lines = utility_storm(seed)
    shares = [front] + [1.0] * (n - 1)
    assert in_parts(topo, lines, n, chunk_size, shares=shares) == one_engine(topo, lines)


def test_a_part_passes_over_other_feeders_events_and_has_no_outage_there() -> None:
    topo, lines = utility_storm(5)
    part_of_sp, _n = parts_of(topo, 2)
    engine = Engine(topo, SETTINGS)
    engine.as_part()
    over = engine.passed_over_sp
    front = Engine(topo, SETTINGS)

    def mine_only(release: Release) -> None:
        ids = np.array(release.event_id, dtype=object)
        engine.apply_release(part_view(release, ids, part_of_sp[release.sp] == 0, over))

    front.hand_off(mine_only)
    feed(front, lines, CODES, 512)
    state = front.front_state()
    engine.take_front(part_held(state, part_of_sp[state.buffered.sp] == 0, over))
    engine.flush()
    outages, _ = engine.part_result()
    ours = {topo.feeder_ids[f] for f in np.unique(topo.node_feeder[topo.sp_node[
        part_of_sp == 0]]).tolist()}
    assert outages
    assert {row["feeder_id"] for _, _, row in outages} <= ours


def test_parts_of_keeps_feeders_of_one_tree_together_and_follows_shares() -> None:
    b = TopologyBuilder()
    for f in range(4):
        src = b.feeder(f"F{f}")
        xf = b.device(f"XF{f}", "transformer", src)
        for m in range(10 * (f + 1)):
            b.service_point(f"SP{f}-{m}", xf, meter=f"M{f}-{m}")
    topo = b.build()
    part, n = parts_of(topo, 2)
    assert n == 2
    feeder = topo.node_feeder[topo.sp_node]
    for f in range(4):   # a feeder's meters in one part
        assert len(set(part[feeder == f].tolist())) == 1
    # dealt by meters, largest first: 40 | 30, then 20 -> the lighter, 10 -> the lighter
    sizes = sorted(int((part == i).sum()) for i in range(2))
    assert sizes == [50, 50]
    # a part with no share takes nothing, and is not counted
    part0, n0 = parts_of(topo, 3, [0.0, 1.0, 1.0])
    assert n0 == 2
    assert set(part0.tolist()) == {0, 1}
    # more parts than feeders: as many as feeders
    assert parts_of(topo, 9)[1] == 4
    with pytest.raises(ValueError, match="shares"):
        parts_of(topo, 2, [1.0])
    with pytest.raises(ValueError, match="1 to 127 parts"):
        parts_of(topo, 0)


def test_a_node_of_another_feeder_in_a_tree_joins_the_feeders() -> None:
    """A dirty export: a device labelled with feeder 1 hangs in feeder 0's tree."""
    b = TopologyBuilder()
    s0, s1 = b.feeder("F0"), b.feeder("F1")
    odd = b.device("XF-odd", "transformer", s0)
    b._feeder[odd] = 1   # (the builder copies its parent's feeder)
    b.service_point("SP-a", odd, meter="Ma")
    b.service_point("SP-b", b.device("XF1", "transformer", s1), meter="Mb")
    b.service_point("SP-c", b.device("XF0", "transformer", s0), meter="Mc")
    part, n = parts_of(b.build(), 2)
    assert n == 1
    assert set(part.tolist()) == {0}


def test_front_share_balances_the_fronts_process() -> None:
    assert front_share(2, 0.6) == pytest.approx(0.2)
    assert front_share(3, 0.6) == 0.0
    assert front_share(2, 0.0) == pytest.approx(0.5)


def test_a_keyed_sequencer_takes_releases_only() -> None:
    seq = Sequencer(60.0, lambda *a: None)
    seq.keyed()
    with pytest.raises(RuntimeError, match="keyed"):
        seq.push(1.0, "e", 0, 0)
    with pytest.raises(RuntimeError, match="keyed"):
        seq.tick(1.0)
    late = Sequencer(60.0, lambda *a: None)
    late.schedule(5.0, lambda due, token: None)
    with pytest.raises(RuntimeError, match="already"):
        late.keyed()


def test_part_result_needs_a_part() -> None:
    with pytest.raises(RuntimeError, match="not a part"):
        Engine(utility(2), SETTINGS).part_result()


@needs_fork
@pytest.mark.parametrize("processes", [2, 3, 4])
def test_a_forked_parts_replay_gives_the_bytes_of_one_engine(tmp_path: Path,
                                                            processes: int) -> None:
    topo, lines = utility_storm(11)
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(lines) + "\n")
    usage: list[dict[str, float]] = []
    with path.open("rb") as fh:
        got = parts_replay(topo, fh, SETTINGS, processes=processes, usage=usage)
    assert orjson.dumps(got) == orjson.dumps(replay(topo, lines, SETTINGS))
    assert len(usage) == processes
    assert all(u["cpu_s"] > 0 and u["max_rss_bytes"] > 0 for u in usage)


@needs_fork
def test_the_replay_command_writes_the_same_file_whatever_the_workers(tmp_path: Path) -> None:
    topo, lines = utility_storm(12)
    (tmp_path / "t.npz").write_bytes(topo.to_bytes())
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n")
    outs = []
    for workers in ("1", "2", "3", "auto"):
        out = tmp_path / f"r{workers}.json"
        assert main(["replay", "--topology", str(tmp_path / "t.npz"), "--events",
                     str(tmp_path / "e.jsonl"), "--out", str(out), "--workers", workers]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2] == outs[3]


@needs_fork
def test_a_part_that_fails_is_raised_here_with_its_traceback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    topo, lines = utility_storm(13)

    def broken(self: Engine) -> object:
        raise ArithmeticError("part broke")

    monkeypatch.setattr(Engine, "part_result", broken)   # (the forked children inherit it)
    with pytest.raises(ArithmeticError, match="part broke") as info:
        parts_replay(topo, lines, SETTINGS, processes=3)
    assert any("oms-bridge-replay" in note for note in info.value.__notes__)


@needs_fork
def test_a_front_that_fails_is_raised_here(monkeypatch: pytest.MonkeyPatch) -> None:
    topo, lines = utility_storm(14)

    def lines_then_trouble() -> object:
        yield from lines[:500]
        raise LookupError("the events file went away")

    with pytest.raises(LookupError, match="went away"):
        parts_replay(topo, lines_then_trouble(), SETTINGS, processes=2)
    with pytest.raises(LookupError, match="went away"):
        parts_replay(topo, lines_then_trouble(), SETTINGS, processes=3)


def test_workers_must_be_at_least_one() -> None:
    topo, lines = utility_storm(1)
    with pytest.raises(ValueError, match="at least 1"):
        replay_with(topo, lines, SETTINGS, workers=0)


@needs_fork
def test_parts_read_standard_input_too(tmp_path: Path) -> None:
    topo, lines = utility_storm(15)
    (tmp_path / "t.npz").write_bytes(topo.to_bytes())
    data = ("\n".join(lines) + "\n").encode()
    outs = []
    for workers in ("1", "2", "3"):
        out = tmp_path / f"r{workers}.json"
        done = subprocess.run(
            [sys.executable, "-m", "oms_bridge.cli", "replay", "--topology",
             str(tmp_path / "t.npz"), "--events", "-", "--out", str(out), "--workers", workers],
            input=data, capture_output=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


@needs_fork
@pytest.mark.parametrize("lines", [[], ["", "not json", "{}"]], ids=["empty", "junk only"])
def test_parts_of_nothing_are_one_engines_nothing(lines: list[str]) -> None:
    topo = utility(4)
    got = parts_replay(topo, lines, SETTINGS, processes=3)
    assert orjson.dumps(got) == orjson.dumps(replay(topo, lines, SETTINGS))


@needs_fork
def test_a_dying_part_is_a_replay_error_and_nothing_is_left_running(
        monkeypatch: pytest.MonkeyPatch) -> None:
    topo, lines = utility_storm(16)

    def die(self: Engine) -> None:
        os._exit(7)

    monkeypatch.setattr(Engine, "flush", die)   # (in the parts only: the parent never flushes)
    with pytest.raises(ReplayError, match="exit code 7"):
        parts_replay(topo, lines, SETTINGS, processes=3)
    import multiprocessing  # noqa: PLC0415

    assert not multiprocessing.active_children()


def _tied_storm(topo: Topology, rng: np.random.Generator, n: int) -> list[str]:
    """Gasps and restores at whole seconds of a few minutes: many events share
    a time, across feeders."""
    meters = [m.decode() for m in topo.meter_keys.tolist()]
    out = []
    for i in range(n):
        m = meters[int(rng.integers(len(meters)))]
        second = int(rng.integers(0, 900))
        kind = "power_restored" if rng.random() < 0.4 else "last_gasp"
        out.append(orjson.dumps({
            "event_id": f"E{i}", "meter_id": m, "type": kind,
            "occurred_at": f"2026-11-01T10:{second // 60:02d}:{second % 60:02d}Z"}).decode())
    return out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), lateness=st.sampled_from([30.0, 1e7]),
       n=st.integers(2, 3))
# (storms where held events without their ids came out of order)
@example(seed=1, lateness=30.0, n=2)
@example(seed=5, lateness=1e7, n=2)
@example(seed=0, lateness=1e7, n=3)
def test_ties_in_time_at_the_end_of_input_keep_one_engines_order(seed: int, lateness: float,
                                                                 n: int) -> None:
    """With a reorder buffer longer than the storm, every event waits for the
    end of input, where the held events go by (time, id): each part must pass
    over the others' in that order."""
    topo = utility(4)
    lines = _tied_storm(topo, np.random.default_rng(seed), 1500)
    tuned = EngineSettings(lateness_s=lateness)
    want = orjson.dumps(replay(topo, lines, tuned))
    got = in_parts(topo, lines, n, 256, tuned=tuned)
    assert got == want


@pytest.mark.skipif(sys.platform != "linux", reason="pipe sizes are Linux's")
def test_a_pipe_is_busy_when_half_full() -> None:
    import fcntl  # noqa: PLC0415 - POSIX only

    read, write = os.pipe()
    try:
        busy = _pipes_busy([write])
        assert not busy()
        size = fcntl.fcntl(write, fcntl.F_GETPIPE_SZ)   # (64 kB, unless the system is short)
        os.write(write, b"x" * (size // 2 - 1))
        assert not busy()
        os.write(write, b"xx")
        assert busy()
    finally:
        os.close(read)
        os.close(write)
    assert not _pipes_busy([])()


@needs_fork
@pytest.mark.parametrize(("limit", "always_busy"), [(0, False), (3, False), (10_000, True),
                                                    (10_000, False)])
def test_the_fronts_own_part_may_wait_and_gives_the_same_bytes(
        monkeypatch: pytest.MonkeyPatch, limit: int, always_busy: bool) -> None:
    """Applied at once, a few behind, only while the other part is busy, or
    all at the end of input: the same result."""
    topo, lines = utility_storm(17)
    monkeypatch.setattr(split_replay, "_BACKLOG", limit)
    monkeypatch.setattr(split_replay, "_pipes_busy", lambda fds: lambda: always_busy)
    got = parts_replay(topo, lines, SETTINGS, processes=2, chunk_size=64)
    assert orjson.dumps(got) == orjson.dumps(replay(topo, lines, SETTINGS))
