"""The networkx re-derivation agrees with the compiled arrays, and catches a bug."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import orjson
import pytest

from gis_import.build import build_topology
from gis_import.cli import main as gis_import
from gis_import.readers import read_export
from gis_import.verify import verify_topology
from oms_bridge.core.topology import Topology
from tests.conftest import FEEDER_NAMES

DEMO = Path(__file__).resolve().parents[2] / "oms_bridge" / "demo"


def _demo() -> Topology:
    topology = build_topology(read_export(DEMO)).topology
    assert topology is not None
    return topology


def test_demo_topology_verifies_clean() -> None:
    assert verify_topology(_demo()) == []


def test_a_wrong_subtree_range_is_reported_by_device() -> None:
    topo = _demo()
    end = topo.node_end.copy()
    victim = int(np.flatnonzero(end - np.arange(topo.n_nodes) > 2)[-1])
    end[victim] -= 1
    problems = verify_topology(dataclasses.replace(topo, node_end=end))
    assert any(topo.node_id(victim) in p and "subtree range" in p for p in problems)


def test_a_cycle_is_reported_as_not_radial() -> None:
    topo = _demo()
    parent = topo.node_parent.copy()
    root = int(topo.feeder_root[0])
    parent[root] = root + 1  # the source now hangs below its own breaker
    problems = verify_topology(dataclasses.replace(topo, node_parent=parent))
    assert problems == [
        "the network is not radial: it holds a cycle or a node with two parents"
    ]


def test_check_verify_prints_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert gis_import(["check", str(DEMO), "--json", "--verify"]) == 0
    assert orjson.loads(capsys.readouterr().out)["verification"] == []


@pytest.mark.shared
@pytest.mark.parametrize("name", FEEDER_NAMES)
def test_shared_feeders_verify_clean(shared_feeders: Path, name: str) -> None:
    topology = build_topology(read_export(shared_feeders / name)).topology
    assert topology is not None
    assert verify_topology(topology) == []
