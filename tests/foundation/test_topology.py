"""The compiled topology answers tree questions from arrays alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_bridge.core.kinds import DeviceKind
from oms_bridge.core.topology import Topology, TopologyBuilder, compile_topology
from oms_bridge.errors import TopologyError


def two_laterals() -> Topology:
    """Breaker -> recloser -> two fused laterals, plus a transformer on the backbone."""
    b = TopologyBuilder()
    src = b.feeder("FDR-1", substation="SUB")
    brk = b.device("BRK-1", "breaker", src)
    rec = b.device("REC-1", "recloser", brk)
    f1 = b.device("FUSE-1", "fuse", rec)
    f2 = b.device("FUSE-2", "fuse", rec)
    x1 = b.device("XF-1", "transformer", f1)
    x2 = b.device("XF-2", "transformer", f2)
    x3 = b.device("XF-3", "transformer", brk)
    b.service_point("SP-1", x1, meter="M1")
    b.service_point("SP-2", x1, meter="M2")
    b.service_point("SP-3", x2, meter="M3")
    b.service_point("SP-4", x2, meter=None, meter_type="manual")
    b.service_point("SP-5", x3, meter="M5", meter_type="amr")
    return b.build()


def test_subtree_ranges_cover_exactly_the_downstream_service_points() -> None:
    t = two_laterals()
    rec = t.node_index("REC-1")
    assert sorted(t.sp_id(s) for s in t.sp_range(rec)) == ["SP-1", "SP-2", "SP-3", "SP-4"]
    assert t.sp_count(t.node_index("BRK-1")) == 5
    assert t.ami_count(rec) == 3
    assert t.ami_count(t.node_index("XF-3")) == 0  # AMR meters send no events


def test_path_lists_devices_breaker_first_without_the_source() -> None:
    t = two_laterals()
    sp = t.meter_index("M3")
    assert [t.node_id(n) for n in t.path(sp)] == ["BRK-1", "REC-1", "FUSE-2", "XF-2"]
    assert t.feeder_of_sp(sp) == "FDR-1"


def test_only_ami_meters_are_found_by_meter_id() -> None:
    t = two_laterals()
    assert t.meter_index("M5") == -1
    assert t.meter_index("nope") == -1
    found = t.meters_index(["M1", "nope", "M3"])
    assert [t.sp_id(int(i)) if i >= 0 else None for i in found] == ["SP-1", None, "SP-3"]


def test_children_and_ancestry() -> None:
    t = two_laterals()
    rec = t.node_index("REC-1")
    assert [t.node_id(c) for c in t.children(rec)] == ["FUSE-1", "FUSE-2"]
    assert t.is_ancestor(rec, t.node_index("XF-2"))
    assert not t.is_ancestor(t.node_index("FUSE-1"), t.node_index("XF-2"))
    assert t.node_kind_of(rec) is DeviceKind.RECLOSER


def test_image_round_trips() -> None:
    t = two_laterals()
    back = Topology.from_bytes(t.to_bytes())
    assert back.feeder_ids == t.feeder_ids
    assert back.feeder_substation == ("SUB",)
    for name, value in vars(t).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(back, name), value, err_msg=name)


def test_garbage_image_is_a_topology_error() -> None:
    with pytest.raises(TopologyError, match="not a compiled topology"):
        Topology.from_bytes(b"not an npz")


def test_cycle_is_refused() -> None:
    with pytest.raises(TopologyError):
        compile_topology(
            feeder_ids=["F"], node_ids=["S", "A", "B"],
            node_kind=[DeviceKind.SOURCE.code, DeviceKind.FUSE.code, DeviceKind.FUSE.code],
            node_parent=[-1, 2, 1], node_feeder=[0, 0, 0],
            sp_ids=[], sp_meter=[], sp_meter_type=[], sp_node=[],
        )


def test_root_that_is_not_a_source_is_refused() -> None:
    with pytest.raises(TopologyError, match="not a source"):
        compile_topology(
            feeder_ids=["F"], node_ids=["A"], node_kind=[DeviceKind.FUSE.code],
            node_parent=[-1], node_feeder=[0],
            sp_ids=[], sp_meter=[], sp_meter_type=[], sp_node=[],
        )


def test_duplicate_ami_meter_is_refused() -> None:
    b = TopologyBuilder()
    x = b.device("XF", "transformer", b.feeder("F"))
    b.service_point("SP-1", x, meter="M1")
    b.service_point("SP-2", x, meter="M1")
    with pytest.raises(TopologyError, match="M1"):
        b.build()


@st.composite
def random_forest(draw: st.DrawFn) -> tuple[list[int], list[int], list[int]]:
    """Parent pointers in a random order, plus a random node for each service point."""
    n_feeders = draw(st.integers(1, 3))
    n_dev = draw(st.integers(0, 40))
    parents = [-1] * n_feeders
    for i in range(n_dev):
        parents.append(draw(st.integers(0, n_feeders + i - 1)))
    perm = draw(st.permutations(range(len(parents))))
    inv = {old: new for new, old in enumerate(perm)}
    shuffled = [inv[parents[old]] if parents[old] >= 0 else -1 for old in perm]
    sps = draw(st.lists(st.integers(0, len(parents) - 1), max_size=60))
    return shuffled, [inv[s] for s in sps], list(perm)


@settings(max_examples=150, deadline=None)
@given(random_forest())
def test_preorder_ranges_agree_with_parent_pointers(
    forest: tuple[list[int], list[int], list[int]],
) -> None:
    parents, sp_nodes, _ = forest
    n = len(parents)
    kinds = [DeviceKind.SOURCE.code if p < 0 else DeviceKind.FUSE.code for p in parents]
    feeder_of: dict[int, int] = {}
    roots = [i for i, p in enumerate(parents) if p < 0]

    def feeder(i: int) -> int:
        while parents[i] >= 0:
            i = parents[i]
        return roots.index(i)

    feeder_of = {i: feeder(i) for i in range(n)}
    t = compile_topology(
        feeder_ids=[f"F{i}" for i in range(len(roots))],
        node_ids=[f"N{i}" for i in range(n)], node_kind=kinds, node_parent=parents,
        node_feeder=[feeder_of[i] for i in range(n)],
        sp_ids=[f"SP{i}" for i in range(len(sp_nodes))],
        sp_meter=[f"M{i}" for i in range(len(sp_nodes))],
        sp_meter_type=[0] * len(sp_nodes), sp_node=sp_nodes,
    )
    for node in range(n):
        # node_end agrees with following parent pointers upward
        for other in range(n):
            upward = set(t.ancestors(other))
            assert (node in upward) == t.is_ancestor(node, other)
        below = {t.sp_id(s) for s in t.sp_range(node)}
        expected = {
            t.sp_id(s) for s in range(t.n_service_points)
            if t.is_ancestor(node, int(t.sp_node[s]))
        }
        assert below == expected
        assert t.ami_count(node) == len(expected)
