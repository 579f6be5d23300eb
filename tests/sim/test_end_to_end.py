"""simulate -> replay -> score on the hand-made storm feeder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from oms_bridge.cli import main
from oms_bridge.core import replay as engine
from oms_bridge.core.topology import Topology
from oms_bridge.settings import EngineSettings
from oms_bridge.sim.fixtures import storm_feeder
from oms_bridge.sim.score import check_targets, combine, score


def _simulate(tmp_path: Path, topo: Topology, seed: int) -> tuple[dict[str, Any], Path]:
    image = tmp_path / "topo.npz"
    image.write_bytes(topo.to_bytes())
    events, truth = tmp_path / f"events-{seed}.jsonl", tmp_path / f"truth-{seed}.json"
    assert main(["simulate", "--topology", str(image), "--seed", str(seed),
                 "--out-events", str(events), "--out-truth", str(truth),
                 "--outages", "25", "--delivery", "0.5"]) == 0
    return orjson.loads(truth.read_bytes()), events


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], Any]]:
    topo = storm_feeder()
    tmp = tmp_path_factory.mktemp("e2e")
    out = []
    for seed in (1, 2):
        truth, events = _simulate(tmp, topo, seed)
        with events.open("rb") as fh:
            result = engine.replay(topo, fh, EngineSettings())
        out.append((truth, result))
    return out


def test_every_line_is_accounted_for(scores: list[tuple[dict[str, Any], Any]]) -> None:
    for truth, result in scores:
        expected = {k: truth["events"][k]
                    for k in ("accepted", "duplicate", "unknown_meter", "invalid")}
        assert {k: result["events"][k] for k in expected} == expected


def test_scoring_a_real_replay(scores: list[tuple[dict[str, Any], Any]]) -> None:
    topo = storm_feeder()
    pooled = combine([score(t, r, topo) for t, r in scores])
    sus = pooled["sustained"]
    assert sus["true"] > 20 and sus["predicted"] > 20
    assert 0.5 <= sus["f1"] <= 1.0
    assert pooled["delay_first_gasp_to_prediction_s"]["median"] == pytest.approx(60.0, abs=5.0)


def test_targets_met(scores: list[tuple[dict[str, Any], Any]]) -> None:
    """Issue 3's accuracy targets hold on the hand-made storm feeder (delivery 0.5)."""
    topo = storm_feeder()
    pooled = combine([score(t, r, topo) for t, r in scores])
    assert check_targets(pooled, EngineSettings().hold_window_s) == []
