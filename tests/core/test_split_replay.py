"""A replay split over two processes gives the bytes of a replay in one.

The front (decoding, meters, duplicates, watermark, release order) hands its
releases to an engine that applies them; the result may not depend on where
the front runs, on chunk sizes, or on anything but the events in arrival order.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_bridge.cli import main
from oms_bridge.core.engine import Engine, result_of
from oms_bridge.core.events import EventCodes
from oms_bridge.core.reorder import Release, Sequencer
from oms_bridge.core.replay import feed, replay
from oms_bridge.core.topology import Topology
from oms_bridge.settings import EngineSettings
from oms_bridge.sim.fixtures import storm_feeder
from oms_bridge.split_replay import (
    ReplayError,
    _packed,
    _unpacked,
    can_split,
    replay_with,
    split_replay,
    usable_cpus,
)

from .test_chunked import per_event, storm

SETTINGS = EngineSettings()
CODES = EventCodes.from_settings(SETTINGS)

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="a split replay forks")


def handed_off(topology: Topology, lines: list[str], chunk_size: int) -> bytes:
    """The split protocol in one process: front, releases, engine, hand-over."""
    front, engine = Engine(topology, SETTINGS), Engine(topology, SETTINGS)

    def across(release: Release) -> None:
        # applied as it comes, in the form and pickling that crossing the pipe means
        engine.apply_release(_unpacked(pickle.loads(pickle.dumps(_packed(release)))))
        # the front's watermark (which its next push reads) is where applying left it
        assert front.watermark == engine.watermark

    front.hand_off(across)
    feed(front, lines, CODES, chunk_size)
    engine.take_front(pickle.loads(pickle.dumps(front.front_state())))
    engine.flush()
    return orjson.dumps(result_of(engine))


def _json(line: str) -> object:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:   # the simulator writes malformed lines too
        return None


def mixed_storm(seed: int) -> tuple[Topology, list[str]]:
    """A storm with late events and the lines a head end also sends: junk,
    unknown meters, repeats."""
    topo = storm_feeder()
    lines = storm(topo, seed, outages=6, duration_h=2.0, late_fraction=0.2)
    meter = next(o["meter_id"] for o in map(_json, lines) if isinstance(o, dict)
                 and isinstance(o.get("meter_id"), str))
    odd = ["", "not json", "{}",
           orjson.dumps({"event_id": "U1", "meter_id": "nobody", "type": "last_gasp",
                         "occurred_at": "2026-11-26T07:00:03Z"}).decode(),
           orjson.dumps({"event_id": "X1", "meter_id": meter, "type": "last_gasp",
                         "occurred_at": "2026-11-26T07:00:03Z"}).decode()]
    return topo, lines[:40] + odd + lines[40:] + odd + lines[:25]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), chunk=st.sampled_from([1, 5, 64, 4096]))
def test_releases_applied_by_another_engine_give_the_same_result(seed: int,
                                                                 chunk: int) -> None:
    topo, lines = mixed_storm(seed)
    assert handed_off(topo, lines, chunk) == per_event(topo, lines)


def test_single_events_into_a_front_are_released_as_a_bulk_push_would() -> None:
    topo, lines = mixed_storm(4)
    want = per_event(topo, lines)
    front, engine = Engine(topo, SETTINGS), Engine(topo, SETTINGS)
    front.hand_off(engine.apply_release)
    # Engine.ingest_lines of one line at a time: bulk pushes of one event
    for line in lines:
        front.ingest_lines([line])
    engine.take_front(front.front_state())
    engine.flush()
    assert orjson.dumps(result_of(engine)) == want


@pytest.mark.parametrize("ids", [[], ["E1"], ["E1", "E2", ""], ["A\x00B", "C"], ["\x00", ""],
                                 ["A\x00"]])
def test_a_release_crosses_the_pipe_unchanged(ids: list[str]) -> None:
    n = len(ids)
    release = Release(np.arange(n, dtype=np.int64), np.linspace(0.0, 1.0, n), ids,
                      np.arange(n, dtype=np.int64) * 7, np.ones(n, dtype=np.int8),
                      [bool(i % 2) for i in range(n)], -1.0, np.linspace(0.0, 1.0, n))
    back = _unpacked(pickle.loads(pickle.dumps(_packed(release))))
    assert back.event_id == ids and back.late == release.late
    assert back.clock0 == release.clock0
    for a, b in ((back.step, release.step), (back.t, release.t), (back.sp, release.sp),
                 (back.kind, release.kind), (back.after, release.after)):
        assert np.array_equal(a, b)


def test_a_front_can_neither_tick_nor_flush() -> None:
    front = Engine(storm_feeder(), SETTINGS)
    front.hand_off(lambda r: None)
    with pytest.raises(RuntimeError, match="tick"):
        front.tick(1.0e9)
    with pytest.raises(RuntimeError, match="flush"):
        front.flush()


def test_a_sequencer_that_applied_events_one_by_one_cannot_hand_off() -> None:
    seq = Sequencer(60.0, lambda *a: None)
    seq.push(100.0, "E1", 0, 0)   # held in its heap
    with pytest.raises(RuntimeError, match="one by one"):
        seq.hand_off(lambda r: None)


@needs_fork
@pytest.mark.parametrize("chunk", [3, 4096])
def test_split_replay_of_a_file_equals_replay(tmp_path: Path, chunk: int) -> None:
    topo, lines = mixed_storm(11)
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with path.open("rb") as fh:
        one = orjson.dumps(replay(topo, fh, SETTINGS, chunk_size=chunk))
    usage: dict[str, float] = {}
    with path.open("rb") as fh:
        two = orjson.dumps(split_replay(topo, fh, SETTINGS, chunk_size=chunk,
                                        front_usage=usage))
    assert two == one
    assert usage["cpu_s"] > 0 and usage["max_rss_bytes"] > 0


@needs_fork
def test_split_replay_on_a_small_utility_equals_replay() -> None:
    from oms_bridge.sim.fixtures import synthetic_utility  # noqa: PLC0415

    topo = synthetic_utility(6000, np.random.default_rng(5))
    lines = storm(topo, 5, outages=40, duration_h=3.0, late_fraction=0.05)
    assert (orjson.dumps(split_replay(topo, lines, SETTINGS, chunk_size=256))
            == orjson.dumps(replay(topo, lines, SETTINGS, chunk_size=256)))


def _failing(lines: list[str], after: int) -> Iterator[str]:
    for i, line in enumerate(lines):
        if i == after:
            raise ValueError("the events source broke at line 31")
        yield line


@needs_fork
def test_an_error_in_the_front_is_raised_here_with_its_traceback() -> None:
    topo, lines = mixed_storm(2)
    with pytest.raises(ValueError, match="broke at line 31") as info:
        split_replay(topo, _failing(lines, 30), SETTINGS, chunk_size=8)
    assert any("front process" in note for note in getattr(info.value, "__notes__", []))


def _dying(lines: list[str], after: int) -> Iterator[str]:
    for i, line in enumerate(lines):
        if i == after:
            os._exit(3)
        yield line


@needs_fork
def test_a_front_that_dies_is_a_replay_error_naming_its_exit_code() -> None:
    topo, lines = mixed_storm(2)
    with pytest.raises(ReplayError, match="exit code 3"):
        split_replay(topo, _dying(lines, 30), SETTINGS, chunk_size=8)


def test_a_cgroup_quota_caps_the_cpus_a_replay_counts_on(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("100000 100000\n")   # docker run --cpus 1
    assert usable_cpus(cpu_max) <= 1.0
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == len(os.sched_getaffinity(0))
    cpu_max.write_text("garbage")
    assert usable_cpus(cpu_max) == usable_cpus(tmp_path / "absent")


def test_one_worker_is_the_one_process_replay() -> None:
    topo, lines = mixed_storm(1)
    assert (orjson.dumps(replay_with(topo, lines, SETTINGS, workers=1))
            == orjson.dumps(replay(topo, lines, SETTINGS)))


@needs_fork
def test_replay_command_writes_the_same_file_with_one_or_two_workers(tmp_path: Path) -> None:
    topo, lines = mixed_storm(8)
    (tmp_path / "t.npz").write_bytes(topo.to_bytes())
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n")
    outs = []
    for workers in ("1", "2", "auto"):
        out = tmp_path / f"r{workers}.json"
        assert main(["replay", "--topology", str(tmp_path / "t.npz"), "--events",
                     str(tmp_path / "e.jsonl"), "--out", str(out), "--workers", workers]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    assert isinstance(can_split(), bool)


@needs_fork
def test_replay_from_standard_input_splits_too(tmp_path: Path) -> None:
    """multiprocessing closes ``sys.stdin`` in a forked child: the front reads a
    duplicate of its descriptor."""
    topo, lines = mixed_storm(9)
    (tmp_path / "t.npz").write_bytes(topo.to_bytes())
    data = ("\n".join(lines) + "\n").encode()
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"r{workers}.json"
        done = subprocess.run(
            [sys.executable, "-m", "oms_bridge.cli", "replay", "--topology",
             str(tmp_path / "t.npz"), "--events", "-", "--out", str(out), "--workers", workers],
            input=data, capture_output=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


@needs_fork
def test_an_engine_failure_here_ends_the_front_too(monkeypatch: pytest.MonkeyPatch) -> None:
    topo, lines = mixed_storm(6)
    calls = []

    def broken(self: Engine, release: Release) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("engine broke on the third stretch")

    monkeypatch.setattr(Engine, "apply_release", broken)
    with pytest.raises(RuntimeError, match="third stretch"):
        split_replay(topo, lines * 4, SETTINGS, chunk_size=2)
    import multiprocessing  # noqa: PLC0415

    assert not multiprocessing.active_children()   # joined or ended, not left running
