"""The compiled topology: the radial feeder forest the engine reasons on.

Built once by ``gis_import`` (or by :class:`TopologyBuilder` in tests), queried
millions of times. Everything is a numpy array indexed by position, never one
Python object per meter, so a utility with millions of service points fits in a
few hundred megabytes and queries are array look-ups.

Layout
------
*Nodes* are the point devices of every feeder plus one ``SOURCE`` root per
feeder, stored in depth-first **pre-order**: the subtree of node ``i`` is the
contiguous range ``[i, node_end[i])``. That one fact answers "is A upstream of
B" (``A <= B < node_end[A]``) and "which nodes are below A" without a graph.

*Service points* are sorted by the pre-order position of the node that feeds
them (their transformer), so the service points below node ``i`` are the range
``[node_sp_lo[i], node_sp_hi[i])`` and the AMI meters below it are counted by a
prefix sum (``ami_cum``).

Meter ids are looked up by binary search in a sorted fixed-width byte array
(``meter_keys``/``meter_sp``), which costs 20 bytes a meter instead of ~100 for
a dict entry and works on whole batches at once.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core.kinds import DeviceKind, MeterType
from oms_bridge.errors import TopologyError

__all__ = ["Topology", "TopologyBuilder", "compile_topology"]

I32 = NDArray[np.int32]
U8 = NDArray[np.uint8]
F64 = NDArray[np.float64]
Bytes = NDArray[np.bytes_]

_FORMAT_VERSION = 1
_AMI = MeterType.AMI.code
_SOURCE = DeviceKind.SOURCE.code
_SWITCH = DeviceKind.SWITCH.code


def _as_bytes_array(values: Iterable[str | bytes | None]) -> Bytes:
    encoded = [
        b"" if v is None else (v if isinstance(v, bytes) else v.encode("utf-8")) for v in values
    ]
    width = max((len(v) for v in encoded), default=1) or 1
    return np.array(encoded, dtype=f"S{width}")


@dataclass(frozen=True, eq=False)
class Topology:
    """Immutable arrays describing the energised radial network.

    Construct with :func:`compile_topology` or :class:`TopologyBuilder`; the
    field invariants (pre-order, sorted service points) are checked there.
    """

    feeder_ids: tuple[str, ...]
    feeder_substation: tuple[str, ...]
    feeder_root: I32
    node_ids: Bytes
    node_kind: U8
    node_parent: I32
    node_feeder: I32
    node_end: I32
    node_depth: I32
    node_xy: F64
    node_sp_lo: I32
    node_sp_hi: I32
    sp_ids: Bytes
    sp_meter: Bytes
    sp_meter_type: U8
    sp_node: I32
    sp_xy: F64
    ami_cum: I32
    meter_keys: Bytes
    meter_sp: I32
    _node_lookup: dict[str, int] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- sizes
    @property
    def n_nodes(self) -> int:
        return int(self.node_ids.shape[0])

    @property
    def n_service_points(self) -> int:
        return int(self.sp_ids.shape[0])

    @property
    def n_ami(self) -> int:
        return int(self.ami_cum[-1])

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (what "bytes per service point" measures)."""
        return sum(
            int(v.nbytes) for v in vars(self).values() if isinstance(v, np.ndarray)
        )

    # ------------------------------------------------------------ look-ups
    # (``.item`` gives the bytes, trailing NULs stripped as a scalar's are,
    # without making a numpy scalar first)
    def node_id(self, node: int) -> str:
        raw: bytes = self.node_ids.item(node)
        return raw.decode("utf-8")

    def node_kind_of(self, node: int) -> DeviceKind:
        return DeviceKind.from_code(int(self.node_kind[node]))

    def sp_id(self, sp: int) -> str:
        raw: bytes = self.sp_ids.item(sp)
        return raw.decode("utf-8")

    def meter_id(self, sp: int) -> str | None:
        raw: bytes = self.sp_meter.item(sp)
        return raw.decode("utf-8") if raw else None

    def feeder_of_node(self, node: int) -> str:
        return self.feeder_ids[int(self.node_feeder[node])]

    def feeder_of_sp(self, sp: int) -> str:
        return self.feeder_of_node(int(self.sp_node[sp]))

    def node_index(self, facility_id: str) -> int:
        """Position of a device by FACILITYID, -1 when unknown."""
        lookup = self._node_lookup
        if not lookup and self.n_nodes:
            lookup.update(
                (bytes(v).decode("utf-8"), i) for i, v in enumerate(self.node_ids.tolist())
            )
        return lookup.get(facility_id, -1)

    def sp_index(self, facility_id: str) -> int:
        """Position of a service point by FACILITYID, -1 when unknown (linear: API use only)."""
        hits = np.flatnonzero(self.sp_ids == facility_id.encode("utf-8"))
        return int(hits[0]) if hits.size else -1

    def meter_index(self, meter_id: str) -> int:
        """Service point of an AMI meter, -1 when the meter is unknown or not AMI."""
        return int(self.meters_index([meter_id])[0])

    def meters_index(self, meter_ids: Sequence[str] | Bytes) -> I32:
        """Vectorised :meth:`meter_index` for a whole batch of events."""
        keys = (
            meter_ids
            if isinstance(meter_ids, np.ndarray)
            else np.array([m.encode("utf-8") for m in meter_ids], dtype=np.bytes_)
        )
        if keys.size == 0 or self.meter_keys.size == 0:
            return np.full(keys.shape[0], -1, dtype=np.int32)
        pos = np.searchsorted(self.meter_keys, keys)
        pos_c = np.minimum(pos, self.meter_keys.shape[0] - 1)
        found = self.meter_keys[pos_c] == keys
        return np.where(found, self.meter_sp[pos_c], -1).astype(np.int32)

    # -------------------------------------------------------------- the tree
    def is_ancestor(self, upper: int, lower: int) -> bool:
        """True when ``upper`` is ``lower`` or upstream of it."""
        return upper <= lower < int(self.node_end[upper])

    def children(self, node: int) -> Iterator[int]:
        child = node + 1
        end = int(self.node_end[node])
        while child < end:
            yield child
            child = int(self.node_end[child])

    def ancestors(self, node: int) -> Iterator[int]:
        """``node`` and every node upstream of it, nearest first, source last."""
        while node >= 0:
            yield node
            node = int(self.node_parent[node])

    def path(self, sp: int) -> list[int]:
        """Upstream devices of a service point, breaker first (contract ``--paths``).

        The source root is left out; switches are kept, since only closed ones
        are ever in the traced tree.
        """
        chain = [n for n in self.ancestors(int(self.sp_node[sp])) if self.node_kind[n] != _SOURCE]
        chain.reverse()
        return chain

    def sp_range(self, node: int) -> range:
        return range(int(self.node_sp_lo[node]), int(self.node_sp_hi[node]))

    def sp_count(self, node: int) -> int:
        return int(self.node_sp_hi[node] - self.node_sp_lo[node])

    def ami_count(self, node: int) -> int:
        return int(self.ami_cum[self.node_sp_hi[node]] - self.ami_cum[self.node_sp_lo[node]])

    def ami_counts(self) -> I32:
        """AMI meters below every node, as one array."""
        return (self.ami_cum[self.node_sp_hi] - self.ami_cum[self.node_sp_lo]).astype(np.int32)

    def is_ami(self, sp: int) -> bool:
        return int(self.sp_meter_type[sp]) == _AMI

    # ------------------------------------------------------------ persistence
    def to_bytes(self) -> bytes:
        """A self-describing ``.npz`` image (no pickle), for the topology store."""
        arrays: dict[str, Any] = {
            k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)
        }
        arrays["feeder_ids_"] = _as_bytes_array(self.feeder_ids)
        arrays["feeder_substation_"] = _as_bytes_array(self.feeder_substation)
        arrays["format_version_"] = np.array([_FORMAT_VERSION], dtype=np.int32)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Topology:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, KeyError) as exc:
            raise TopologyError(f"not a compiled topology image: {exc}") from exc
        version = int(arrays.pop("format_version_", np.array([0]))[0])
        if version != _FORMAT_VERSION:
            raise TopologyError(
                f"compiled topology format {version} is not supported (expected {_FORMAT_VERSION})"
            )
        feeders = tuple(bytes(v).decode() for v in arrays.pop("feeder_ids_").tolist())
        subs = tuple(bytes(v).decode() for v in arrays.pop("feeder_substation_").tolist())
        return cls(feeder_ids=feeders, feeder_substation=subs, **arrays)


def compile_topology(
    *,
    feeder_ids: Sequence[str],
    feeder_substation: Sequence[str] | None = None,
    node_ids: Sequence[str] | Bytes,
    node_kind: Sequence[int] | U8,
    node_parent: Sequence[int] | I32,
    node_feeder: Sequence[int] | I32,
    node_xy: Sequence[tuple[float, float]] | F64 | None = None,
    sp_ids: Sequence[str] | Bytes,
    sp_meter: Sequence[str | None] | Bytes,
    sp_meter_type: Sequence[int] | U8,
    sp_node: Sequence[int] | I32,
    sp_xy: Sequence[tuple[float, float]] | F64 | None = None,
) -> Topology:
    """Order a parent-pointer forest into the pre-order arrays of :class:`Topology`.

    Inputs may be in any order; ``node_parent`` and ``sp_node`` index into the
    given node order (-1 for a root). Every root must be a ``SOURCE``. Raises
    :class:`TopologyError` on a cycle or a dangling index.
    """
    n = len(node_ids)
    parent = np.asarray(node_parent, dtype=np.int64)
    kind = np.asarray(node_kind, dtype=np.uint8)
    feeder = np.asarray(node_feeder, dtype=np.int32)
    if parent.shape != (n,) or kind.shape != (n,) or feeder.shape != (n,):
        raise TopologyError("node arrays differ in length")
    if n and (parent.min() < -1 or parent.max() >= n):
        raise TopologyError("node_parent points outside the node list")
    roots = np.flatnonzero(parent < 0)
    if np.any(kind[roots] != _SOURCE):
        bad = _as_bytes_array(node_ids)[roots[kind[roots] != _SOURCE][0]]
        raise TopologyError(f"node {bytes(bad).decode()!r} has no parent but is not a source")

    # Children lists via one stable sort on parent; then an explicit-stack DFS.
    child_order = np.argsort(parent, kind="stable")
    sorted_parent = parent[child_order]
    first = np.searchsorted(sorted_parent, np.arange(n), side="left")
    last = np.searchsorted(sorted_parent, np.arange(n), side="right")
    order = np.empty(n, dtype=np.int64)
    depth_of = np.zeros(n, dtype=np.int32)
    pos = 0
    stack: list[int] = [int(r) for r in roots[::-1]]
    child_order_l = child_order.tolist()
    first_l = first.tolist()
    last_l = last.tolist()
    depth_l = depth_of.tolist()
    while stack:
        v = stack.pop()
        if pos >= n:
            raise TopologyError("cycle in node_parent")
        order[pos] = v
        pos += 1
        kids = child_order_l[first_l[v] : last_l[v]]
        for c in reversed(kids):
            depth_l[c] = depth_l[v] + 1
            stack.append(c)
    if pos != n:
        raise TopologyError(f"{n - pos} nodes are not reachable from any source (cycle)")
    depth_of = np.asarray(depth_l, dtype=np.int32)

    new_of_old = np.empty(n, dtype=np.int64)
    new_of_old[order] = np.arange(n)
    new_parent = np.where(parent[order] >= 0, new_of_old[np.maximum(parent[order], 0)], -1)
    new_depth = depth_of[order]
    # Subtree end in pre-order: the next node at the same or a shallower depth.
    node_end = _subtree_ends(new_depth)

    m = len(sp_ids)
    sp_node_old = np.asarray(sp_node, dtype=np.int64)
    if m and (sp_node_old.min() < 0 or sp_node_old.max() >= n):
        raise TopologyError("sp_node points outside the node list")
    sp_node_new = new_of_old[sp_node_old] if m else np.zeros(0, dtype=np.int64)
    sp_order = np.argsort(sp_node_new, kind="stable")
    sp_node_sorted = sp_node_new[sp_order].astype(np.int32)
    mtype = np.asarray(sp_meter_type, dtype=np.uint8)[sp_order] if m else np.zeros(0, np.uint8)
    meters = _as_bytes_array(sp_meter)[sp_order] if m else np.zeros(0, dtype="S1")
    ids_arr = _as_bytes_array(node_ids)[order]
    sp_ids_arr = _as_bytes_array(sp_ids)[sp_order] if m else np.zeros(0, dtype="S1")

    lo = np.searchsorted(sp_node_sorted, np.arange(n), side="left").astype(np.int32)
    hi = np.searchsorted(sp_node_sorted, node_end, side="left").astype(np.int32)
    is_ami = (mtype == _AMI) & (meters != b"")
    ami_cum = np.zeros(m + 1, dtype=np.int32)
    np.cumsum(is_ami, out=ami_cum[1:])

    ami_sp = np.flatnonzero(is_ami).astype(np.int32)
    key_order = np.argsort(meters[ami_sp], kind="stable")
    meter_keys = meters[ami_sp][key_order]
    meter_sp = ami_sp[key_order]
    dup = np.flatnonzero(meter_keys[1:] == meter_keys[:-1])
    if dup.size:
        raise TopologyError(
            f"AMI meter {bytes(meter_keys[dup[0]]).decode()!r} is on more than one service point"
        )

    roots_new = new_of_old[roots]
    feeders_of_roots = feeder[roots]
    feeder_root = np.full(len(feeder_ids), -1, dtype=np.int32)
    feeder_root[feeders_of_roots] = roots_new
    return Topology(
        feeder_ids=tuple(feeder_ids),
        feeder_substation=tuple(feeder_substation or ("",) * len(feeder_ids)),
        feeder_root=feeder_root,
        node_ids=ids_arr,
        node_kind=kind[order],
        node_parent=new_parent.astype(np.int32),
        node_feeder=feeder[order],
        node_end=node_end,
        node_depth=new_depth,
        node_xy=_xy(node_xy, n)[order],
        node_sp_lo=lo,
        node_sp_hi=hi,
        sp_ids=sp_ids_arr,
        sp_meter=meters,
        sp_meter_type=mtype,
        sp_node=sp_node_sorted,
        sp_xy=_xy(sp_xy, m)[sp_order] if m else np.zeros((0, 2)),
        ami_cum=ami_cum,
        meter_keys=meter_keys,
        meter_sp=meter_sp.astype(np.int32),
    )


def _xy(values: Sequence[tuple[float, float]] | F64 | None, n: int) -> F64:
    if values is None:
        return np.full((n, 2), np.nan)
    return np.asarray(values, dtype=np.float64).reshape(n, 2)


def _subtree_ends(depth: I32) -> I32:
    """For a pre-order depth sequence, the index where each subtree ends."""
    n = depth.shape[0]
    end = np.full(n, n, dtype=np.int32)
    stack: list[int] = []
    depth_l = depth.tolist()
    for i, d in enumerate(depth_l):
        while stack and depth_l[stack[-1]] >= d:
            end[stack.pop()] = i
        stack.append(i)
    return end


class TopologyBuilder:
    """Readable construction of small topologies for tests, fixtures and the demo.

    >>> b = TopologyBuilder()
    >>> src = b.feeder("FDR-1")
    >>> brk = b.device("BRK-1", "breaker", src)
    >>> xf = b.device("XF-1", "transformer", brk)
    >>> b.service_point("SP-1", xf, meter="M1")
    >>> b.build().n_ami
    1
    """

    def __init__(self) -> None:
        self._feeders: list[str] = []
        self._subs: list[str] = []
        self._ids: list[str] = []
        self._kind: list[int] = []
        self._parent: list[int] = []
        self._feeder: list[int] = []
        self._xy: list[tuple[float, float]] = []
        self._sp: list[tuple[str, str | None, int, int, tuple[float, float]]] = []

    def feeder(
        self, feeder_id: str, *, source_id: str | None = None, substation: str = "",
        xy: tuple[float, float] = (float("nan"), float("nan")),
    ) -> int:
        self._feeders.append(feeder_id)
        self._subs.append(substation)
        return self._add(source_id or f"SRC-{feeder_id}", DeviceKind.SOURCE, -1,
                         len(self._feeders) - 1, xy)

    def device(
        self, facility_id: str, kind: DeviceKind | str, parent: int,
        xy: tuple[float, float] = (float("nan"), float("nan")),
    ) -> int:
        return self._add(facility_id, DeviceKind(kind), parent, self._feeder[parent], xy)

    def service_point(
        self, facility_id: str, node: int, *, meter: str | None = None,
        meter_type: MeterType | str | None = None,
        xy: tuple[float, float] = (float("nan"), float("nan")),
    ) -> None:
        mt = MeterType(meter_type) if meter_type is not None else (
            MeterType.AMI if meter else MeterType.NONE
        )
        self._sp.append((facility_id, meter, mt.code, node, xy))

    def _add(self, fid: str, kind: DeviceKind, parent: int, feeder: int,
             xy: tuple[float, float]) -> int:
        self._ids.append(fid)
        self._kind.append(kind.code)
        self._parent.append(parent)
        self._feeder.append(feeder)
        self._xy.append(xy)
        return len(self._ids) - 1

    def build(self) -> Topology:
        return compile_topology(
            feeder_ids=self._feeders,
            feeder_substation=self._subs,
            node_ids=self._ids,
            node_kind=self._kind,
            node_parent=self._parent,
            node_feeder=self._feeder,
            node_xy=self._xy,
            sp_ids=[s[0] for s in self._sp],
            sp_meter=[s[1] for s in self._sp],
            sp_meter_type=[s[2] for s in self._sp],
            sp_node=[s[3] for s in self._sp],
            sp_xy=[s[4] for s in self._sp] if self._sp else None,
        )
