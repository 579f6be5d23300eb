"""Outages, incidents and the book that keeps them: lifecycle, nesting, feed.

Lifecycle of an outage
----------------------
- An **incident** gathers the dark evidence of one feeder within one window of
  event time (gasps less than ``incident_gap_s`` apart, at most
  ``hold_window_s`` after its first). When the hold window expires the incident
  is solved (:mod:`oms_bridge.core.inference`) into one outage per open
  device; ``predicted_at`` is that expiry. Late evidence re-solves it; the
  prediction may move up or down and the outage keeps its id. Ids derive from
  the feeder and the first evidence event id, so a replay gives the same ids.
- ``phase`` ``open``: no restore yet (status ``active``). The first restore from
  one of its meters (``restored_at``) moves it to ``restoring``; it stays
  ``active`` until every affected AMI meter is known on (a restore, or any later
  event) — then it closes ``restore_window_s`` after its first restore, so that
  restores of unclaimed meters arriving with it can still move it up to the
  device that really opened — or until ``settle_s`` after that first restore.
  Then it is ``closed``: status ``restored`` (``momentary`` when the first
  restore came within ``momentary_s`` of the start). An interruption already
  back when its hold window expires is published directly as ``momentary`` and
  is never ``active``; a momentary outage is never in the restoration feed. An
  outage that only restores told of (every gasp lost: when it began is unknown)
  is never ``momentary`` and never dispatched: it is recorded ``restored``.
- At close, meters still dark are split (:meth:`Scorer.nested`) into **nested
  outages** (active, ``parent_outage_id`` set, a device below, only when "all
  their restores were lost" is unlikely even counting how many subtrees were
  tested) and unexplained **stragglers** (``meters_unverified``). Meters held by
  a nested outage that may still move are stragglers too. ``confirmed_at`` is
  set only when no affected meter may still be dark; it is then the time of the
  last restore (a straggler vouched for by a later last gasp counts as on
  ``incident_gap_s`` before that gasp, never at it).
- The **restoration feed** gets one item per outage, when an outage that was
  ever ``active`` closes. It carries ``confirmed_at`` only when nothing is
  unverified. Later restores of stragglers update the outage (and set
  ``confirmed_at`` when the last one comes back) but add no second item. A
  straggler whose restore comes more than ``settle_s`` after its siblings'
  stayed dark: it reveals a nested outage, recorded then (already restored) on
  the topmost device whose meters were all stragglers.
- Restores from meters no outage claims, with every last gasp lost and no
  outage or incident nearby, form a *retro* incident: its outages are recorded
  as ``restored`` (never ``active``, never in the feed).
- **Restoration-time placement.** When an outage closes, its device is checked
  once more against what the restoration showed: every meter that gasped or
  came back was out, and a meter below an open device stays silent through
  both only when its gasp *and* its restore were lost
  (:meth:`Scorer.loglik_restored`). Restores of unclaimed meters arriving with
  the outage's move it up; meters below it that never said anything move it
  down to the one device that holds every meter that did (a transformer
  predicted from one gasp whose siblings never come back was one service
  drop). It never moves onto a device another open outage holds.

Lost restores and late gasps (what the utility sees)
----------------------------------------------------
A meter whose restore was lost is never a new outage on that account: it is
listed as unverified (``meters_unverified``, ``confirmed_at`` null) on the
outage it was dark in, which is not dispatched again; a momentary with such a
straggler stays ``momentary``. The customer is not forgotten either: the
outage stays unconfirmed until the meter says anything (a restore, or a later
last gasp, which proves power shortly before it), so a dispatcher can ping the
meter or call. In particular:

- a last gasp that arrives late from inside an outage already back (its time
  before that outage's first restore, or within the window in which it would
  have joined that outage's incident, e.g. the next shot of a recloser) is
  evidence of that outage, never a new one;
- a straggler's restore is its own late restore unless an incident pending at
  that time has dark meters below the straggler's lowest protective device;
- a straggler of a *momentary* whose restore comes much later is verified,
  never recorded as a nested outage (its restore was lost far more likely than
  a fault below survived the reclose unseen). A straggler of a sustained outage
  that comes back more than ``settle_s`` after its siblings reveals a nested
  outage, recorded then; that applies inside nested outages too.

Counting
--------
Nested outages are disjoint: a meter belongs to the deepest open outage above
it, and ``meters_affected`` (all service points, AMI or not, below the device)
excludes the service points of open outages nested inside.
"""

from __future__ import annotations

import enum
import hashlib
import math
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core.events import format_time
from oms_bridge.core.inference import TreeIndex
from oms_bridge.core.kinds import DeviceKind, OutageStatus

__all__ = ["Incident", "Outage", "OutageBook", "Phase", "Timeline", "make_outage_id"]


class Phase(enum.Enum):
    OPEN = "open"
    RESTORING = "restoring"
    CLOSED = "closed"


def make_outage_id(*parts: str) -> str:
    digest = hashlib.blake2b("|".join(parts).encode("utf-8"), digest_size=8).hexdigest()
    return f"OUT-{digest}"


class Timeline:
    """Evidence events of an outage in arrival order: (time, meter, event id).

    Three flat lists rather than a tuple per event (about 64 bytes more each).
    Lists, not typed arrays: an array parses every item appended
    (``PyArg_Parse``, about 1,000 instructions an event with the call), and
    the time and meter objects a list keeps are mostly held anyway (the meter
    by the outage's known-on set, the time by the meter's latest event).
    """

    __slots__ = ("_eid", "_sp", "_t")

    def __init__(self) -> None:
        self._t: list[float] = []
        self._sp: list[int] = []
        self._eid: list[str] = []

    def add(self, t: float, sp: int, eid: str) -> None:
        self._t.append(t)
        self._sp.append(sp)
        self._eid.append(eid)

    def extend(self, other: Timeline) -> None:
        self._t.extend(other._t)
        self._sp.extend(other._sp)
        self._eid.extend(other._eid)

    def __len__(self) -> int:
        return len(self._eid)

    def __iter__(self) -> Iterator[tuple[float, int, str]]:
        return zip(self._t, self._sp, self._eid, strict=True)


@dataclass(eq=False, slots=True)
class Incident:
    """Dark evidence of one feeder in one window of event time."""

    feeder: int
    t_first: float
    t_last: float
    first_key: tuple[float, str]
    #: meter (service point) -> (time, event id) of its first dark evidence
    dark: dict[int, tuple[float, str]] = field(default_factory=dict)
    #: restores seen while the incident was pending: meter -> time
    restored: dict[int, tuple[float, str]] = field(default_factory=dict)
    #: meters dark only by a restore (their last gasp lost): when they went dark
    #: is unknown
    restore_only: set[int] = field(default_factory=set)
    known_on: set[int] = field(default_factory=set)
    outages: list[Outage] = field(default_factory=list)
    decided: bool = False
    uncovered: int = 0
    #: made of restores only (every last gasp lost): its outages are already over
    retro: bool = False
    #: the start it is filed under in the engine's per-feeder lists (NaN: not
    #: filed, or forgotten)
    filed_at: float = math.nan

    @property
    def frozen(self) -> bool:
        return any(o.phase is not Phase.OPEN for o in self.outages)


@dataclass(eq=False, slots=True)
class Outage:
    outage_id: str
    feeder: int
    node: int                  # -1 for a service-point outage
    sp: int                    # -1 for a device outage
    lo: int                    # service points of the device: [lo, hi)
    hi: int
    started_at: float
    incident: Incident | None
    status: OutageStatus = OutageStatus.ACTIVE
    phase: Phase = Phase.OPEN
    predicted_at: float | None = None
    restored_at: float | None = None
    confirmed_at: float | None = None
    last_on_at: float = -math.inf
    parent: Outage | None = None
    children: list[Outage] = field(default_factory=list)
    reporting: int = 0
    ami_affected: int = 0
    sp_affected: int = 0
    confidence: float = 0.0
    known_on: set[int] = field(default_factory=set)
    on_events: Timeline = field(default_factory=Timeline)
    unverified: list[int] = field(default_factory=list)
    moves: list[tuple[float, str, str]] = field(default_factory=list)
    ever_active: bool = False
    #: a nested outage found after the fact, from a straggler's late restore
    retro: bool = False
    settle_token: int = 0
    #: its evidence was dropped ``evidence_retention_s`` after it closed
    compacted: bool = False
    #: its index in the book's owner slots while open (-1: never opened)
    slot: int = -1

    def told_span(self, dark: dict[int, tuple[float, str]]) -> tuple[int, int, int] | None:
        """How many meters told (dark evidence ``dark`` in its range, or known
        on: what ``Engine._told`` builds), the least and the greatest, when
        every dark meter lies in its range; ``None`` otherwise. Then they are
        the dark meters and the known ones not dark, counted without building
        their union (thousands of meters for a breaker's outage, at each close)."""
        if not dark or self.hi - self.lo < len(dark):
            return None
        first, last = min(dark), max(dark)
        if first < self.lo or last >= self.hi:
            return None
        rest = self.known_on.difference(dark)
        if rest:
            first, last = min(first, *rest), max(last, *rest)
        return len(dark) + len(rest), first, last

    @property
    def position(self) -> int:
        """Node used for subtree queries (the transformer of a service point)."""
        return self.node

    def compact(self) -> None:
        """Drop the evidence of a closed outage, keep what later events may read.

        Its contract fields, counts, children and prediction moves stay. The
        incident is replaced by a stub with the same window (``t_first``,
        ``t_last``, ``first_key``, ``retro``) and only the dark evidence of the
        meters still unverified, which is all a closed outage reads again (a
        late gasp absorbed by it, a straggler revealing a nested outage): so a
        compacted outage answers later events exactly as before. The restore
        timeline and the set of meters known on (written, never read, once
        closed) go.
        """
        self.compacted = True
        inc = self.incident
        if inc is not None and self.unverified:
            keep = [s for s in self.unverified if s in inc.dark]
            stub = Incident(inc.feeder, inc.t_first, inc.t_last, inc.first_key,
                            decided=True, retro=inc.retro)
            stub.dark = {s: inc.dark[s] for s in keep}
            stub.restore_only = {s for s in keep if s in inc.restore_only}
            stub.outages = [self]
            self.incident = stub
        else:
            # nothing unverified: no later event reaches it (it owns no meter)
            self.incident = None
        # never read again once closed (a verified straggler is not recorded)
        self.known_on = _NO_METERS
        self.on_events = _NO_EVENTS


#: service points up to which an owner hand-over loops instead of using numpy
_SHORT = 32
#: a hand-over of more service points than _TINY, up to _UNIFORM, first checks
#: whether they all change owner (one slice write then)
_TINY = 4
_UNIFORM = 256

#: shared by compacted outages (never written: see :meth:`Outage.compact`)
_NO_METERS: set[int] = set()
#: contract names by device kind code and by status (an enum's ``.value`` is a
#: descriptor call; these are read for every changed outage of every drain)
_KIND_NAMES: tuple[str, ...] = tuple(k.value for k in DeviceKind)
_SP_NAME = DeviceKind.SERVICE_POINT.value
_STATUS_NAMES: dict[OutageStatus, str] = {s: s.value for s in OutageStatus}
_NO_EVENTS = Timeline()


def _roots(parent: NDArray[np.integer], *, preorder: bool = False) -> NDArray[np.int64]:
    """The root of each node's tree (pointer jumping; any node order). In
    pre-order (``preorder``: :attr:`TreeIndex.preorder` holds) each tree is
    the run of nodes from its root to the next root: the greatest root at or
    before each node, in one pass."""
    if preorder:
        idx = np.arange(parent.shape[0], dtype=np.int64)
        return np.maximum.accumulate(np.where(parent < 0, idx, 0))
    up = np.asarray(parent, dtype=np.int64).copy()
    top = up < 0
    up[top] = np.flatnonzero(top)
    while True:
        nxt = up[up]
        if np.array_equal(nxt, up):
            return up
        up = nxt


class OutageBook:
    """Every published outage, the open ones indexed by device, changes and feed."""

    def __init__(self, tree: TreeIndex) -> None:
        self.tree = tree
        topo = tree.topology
        self.by_id: dict[str, Outage] = {}
        self.at_node: dict[int, Outage] = {}
        self.at_sp: dict[int, Outage] = {}
        #: sorted keys of ``at_node`` / ``at_sp`` and the order in which each key
        #: entered its dict (range queries without scanning every open outage)
        self._node_keys: list[int] = []
        self._sp_keys: list[int] = []
        self._node_serial: dict[int, int] = {}
        self._sp_serial: dict[int, int] = {}
        self._serial = 0
        self.stragglers: dict[int, Outage] = {}
        # Owner of each service point (the deepest open outage above it) as a
        # slot number, -1 for none: the per-event look-up is one array read.
        # Kept by add_open/remove_open with one vectorised pass over the
        # device's range (rare) through a numpy view of the same memory.
        self._own = array("i", [-1]) * topo.n_service_points
        self._own_np: NDArray[np.int32] = np.frombuffer(self._own, dtype=np.int32)
        self._slots: list[Outage | None] = []
        # Per node, the AMI meters and service points held by the open outages
        # of its subtree (each outage counted at its node, a service-point
        # outage at its meter's node): kept by adding a change along the path
        # to the root (a few nodes), so the scorer's question, asked for most
        # devices of every cover and answered 0 nearly always, is one C-level
        # read (no Python frame, no range sum).
        n = topo.n_nodes
        self._xa = array("q", bytes(8 * n))
        self._xs = array("q", bytes(8 * n))
        #: ``excluded_ami(node)``: AMI meters held by open outages at ``node`` or below
        self.excluded_ami: Callable[[int], int] = self._xa.__getitem__
        #: ``excluded_sp(node)``: service points held by open outages at ``node`` or below
        self.excluded_sp: Callable[[int], int] = self._xs.__getitem__
        # Owner memo per node, each stamped with the version of the node's tree:
        # a change of the open index touches only the nodes of one tree (a
        # node's owner lies in it), so it gives that tree a new version and
        # leaves the others' memos.
        # (read only where the open index changes: a typed array, not a list
        # of an int object per node)
        self._root = array("q", _roots(topo.node_parent, preorder=tree.preorder).tobytes())
        self._clock = 0
        self._tree_ver: list[int] = [0] * n
        self._memo_ver: list[int] = [-1] * n
        self._memo: list[Outage | None] = [None] * n
        self._changes: dict[str, str] = {}
        self._removed: dict[str, dict[str, Any]] = {}
        #: restoration feed items, kept compact (rendered by :meth:`feed_items`):
        #: (outage, started_at, restored_at, confirmed_at, meters_restored,
        #: unverified meters, nested outage ids), as at its close
        self.feed: list[tuple[Outage, float, float | None, float | None, int,
                              tuple[int, ...], tuple[str, ...]]] = []
        self._feed_drained = 0
        self._feeder_ids = topo.feeder_ids
        #: device ids decoded when first rendered (a few thousand of a topology's
        #: hundreds of thousands of nodes ever have an outage)
        self._node_ids: dict[int, str] = {}

    # ------------------------------------------------------------ ownership
    def owner_of(self, sp: int) -> Outage | None:
        """The deepest open (or restoring) outage above a service point."""
        slot = self._own[sp]
        return self._slots[slot] if slot >= 0 else None

    @property
    def owner_slots(self) -> array[int]:
        """Per service point, the slot (in :attr:`slots`) of its owner, -1: none."""
        return self._own

    @property
    def slots(self) -> list[Outage | None]:
        return self._slots

    def owner_walk(self, sp: int) -> Outage | None:
        """:meth:`owner_of` found from the open index itself (tests check both agree)."""
        o = self.at_sp.get(sp)
        if o is not None:
            return o
        return self._node_owner(self.tree.sp_node[sp])

    def _slot(self, o: Outage) -> int:
        if o.slot < 0:
            o.slot = len(self._slots)
            self._slots.append(o)
        else:
            self._slots[o.slot] = o
        return o.slot

    def _hand_over(self, lo: int, hi: int, old: Outage | None, new: Outage | None) -> None:
        """Service points of ``[lo, hi)`` owned by ``old`` now belong to ``new``
        (a short range, a transformer's, in a loop: numpy's setup costs more)."""
        was = old.slot if old is not None else -1
        now = new.slot if new is not None else -1
        own = self._own
        width = hi - lo
        if _TINY < width <= _UNIFORM and own[lo:hi].count(was) == width:
            # the usual case, nothing open inside: a count and a slice write
            # (C loops, no numpy set-up)
            own[lo:hi] = array("i", (now,)) * width
            return
        if width <= _SHORT:
            for s in range(lo, hi):
                if own[s] == was:
                    own[s] = now
            return
        part = self._own_np[lo:hi]
        part[part == was] = now

    def _node_owner(self, v: int) -> Outage | None:
        """The open outage at node ``v`` or nearest above it (``v`` may be -1).

        Memoised per node and stamped with the version of its tree, which every
        change of :attr:`at_node` there bumps: between changes (thousands of
        events) a look-up is a list read, not a walk up the tree with a dict
        probe at each level.
        """
        if v < 0:
            return None
        ver, stamp, memo = self._tree_ver[self._root[v]], self._memo_ver, self._memo
        at_node, parent = self.at_node, self.tree.parent
        path: list[int] = []
        o: Outage | None = None
        while v >= 0:
            if stamp[v] == ver:
                o = memo[v]
                break
            path.append(v)
            o = at_node.get(v)
            if o is not None:
                break
            v = parent[v]
        for u in path:
            stamp[u] = ver
            memo[u] = o
        return o

    def owner_above(self, node: int) -> Outage | None:
        return self._node_owner(self.tree.parent[node])

    def _count(self, pos: int, d_ami: int, d_sp: int, stop: int = -1) -> None:
        """Meters held at node ``pos`` change: so do the counts of every node
        above it, up to (not including) ``stop``, an ancestor of ``pos`` or
        ``pos`` itself whose holdings change by the opposite amount."""
        xa, xs, parent = self._xa, self._xs, self.tree.parent
        v = pos
        while v != stop and v >= 0:
            xa[v] += d_ami
            xs[v] += d_sp
            v = parent[v]

    def _changed(self, node: int) -> None:
        """Invalidate the owner memos of ``node``'s tree (its open index moved)."""
        self._clock += 1
        self._tree_ver[self._root[node]] = self._clock

    def nested_open(self, o: Outage) -> list[Outage]:
        """Open outages strictly inside ``o``'s subtree."""
        if o.node < 0:
            return []
        keys, sp_keys = self._node_keys, self._sp_keys
        end = self.tree.end[o.node]
        a = bisect_right(keys, o.node)
        c = bisect_left(sp_keys, o.lo)
        # (most outages: nothing open inside, told by the first key after each
        # start without the second binary search)
        if ((a == len(keys) or keys[a] >= end)
                and (c == len(sp_keys) or sp_keys[c] >= o.hi)):
            return []
        b = bisect_left(keys, end, a)
        d = bisect_left(sp_keys, o.hi, c)
        nodes = keys[a:b]
        if len(nodes) > 1:
            nodes.sort(key=self._node_serial.__getitem__)   # dict order, as before
        inner = list(map(self.at_node.__getitem__, nodes))
        sps = sp_keys[c:d]
        if len(sps) > 1:
            sps.sort(key=self._sp_serial.__getitem__)
        inner.extend(map(self.at_sp.__getitem__, sps))
        return inner

    def add_open(self, o: Outage) -> None:
        """Index an open outage and compute its disjoint affected counts."""
        tree = self.tree
        if o.node >= 0:
            pos = o.node
            o.ami_affected = tree.ami(pos) - self._xa[pos]
            o.sp_affected = tree.sp_total(pos) - self._xs[pos]
            # (what is open at pos itself does not change what is above it)
            above = self.owner_above(pos)
            prev = self.at_node.get(pos)
            if prev is None:
                insort(self._node_keys, pos)
                self._serial += 1
                self._node_serial[pos] = self._serial
                prev = above
            self._slot(o)
            self._hand_over(tree.sp_lo[pos], tree.sp_hi[pos], prev, o)
            self.at_node[pos] = o
            self._changed(pos)
        else:
            pos = tree.sp_node[o.sp]
            o.ami_affected = 1 if tree.sp_is_ami[o.sp] else 0
            o.sp_affected = 1
            if o.sp not in self.at_sp:
                insort(self._sp_keys, o.sp)
                self._serial += 1
                self._sp_serial[o.sp] = self._serial
            self.at_sp[o.sp] = o
            self._own[o.sp] = self._slot(o)
            above = self._sp_owner(o.sp)
        d_ami, d_sp = o.ami_affected, o.sp_affected
        if above is not None:
            # its meters were the open outage's above: they move from that
            # node's count to pos's, which only the nodes in between see
            above.ami_affected -= d_ami
            above.sp_affected -= d_sp
            self._count(pos, d_ami, d_sp, above.node)
            if o.parent is None:
                o.parent = above
                above.children.append(o)
        else:
            self._count(pos, d_ami, d_sp)
        for inner in self.nested_open(o):
            if inner.parent is None:
                inner.parent = o
                o.children.append(inner)
                self.touch(inner)

    def _owner_excluding(self, o: Outage) -> Outage | None:
        if o.node >= 0:
            return self.owner_above(o.node)
        return self._sp_owner(o.sp)

    def _sp_owner(self, sp: int) -> Outage | None:
        return self._node_owner(self.tree.sp_node[sp])

    def _shift(self, o: Outage, d_ami: int, d_sp: int) -> None:
        o.ami_affected += d_ami
        o.sp_affected += d_sp
        self._count(o.node if o.node >= 0 else self.tree.sp_node[o.sp], d_ami, d_sp)

    def remove_open(self, o: Outage) -> None:
        """Drop an outage from the open index (closing, moving or merging)."""
        tree = self.tree
        # (what is open at its node or meter itself does not change this)
        above = self._owner_excluding(o)
        if o.node >= 0:
            if self.at_node.get(o.node) is o:
                del self.at_node[o.node]
                self._changed(o.node)
                del self._node_serial[o.node]
                keys = self._node_keys
                del keys[bisect_left(keys, o.node)]
                self._hand_over(tree.sp_lo[o.node], tree.sp_hi[o.node], o, above)
                self._slots[o.slot] = None
            pos = o.node
        else:
            if self.at_sp.get(o.sp) is o:
                del self.at_sp[o.sp]
                del self._sp_serial[o.sp]
                keys = self._sp_keys
                del keys[bisect_left(keys, o.sp)]
                self._own[o.sp] = above.slot if above is not None else -1
                self._slots[o.slot] = None
            pos = tree.sp_node[o.sp]
        d_ami, d_sp = o.ami_affected, o.sp_affected
        if above is not None:
            # its meters fall back to the open outage above (dark because of it now)
            above.ami_affected += d_ami
            above.sp_affected += d_sp
            self._count(pos, -d_ami, -d_sp, above.node)
        else:
            self._count(pos, -d_ami, -d_sp)

    def shrink(self, o: Outage, d_ami: int, d_sp: int) -> None:
        """Take nested meters out of an outage (open or closed)."""
        if o.phase is Phase.CLOSED:
            o.ami_affected -= d_ami
            o.sp_affected -= d_sp
        else:
            self._shift(o, -d_ami, -d_sp)

    # -------------------------------------------------------------- publish
    def publish(self, o: Outage) -> None:
        self.by_id[o.outage_id] = o
        self.touch(o, "created")

    def touch(self, o: Outage, change: str = "updated") -> None:
        oid = o.outage_id
        was = self._changes.get(oid)
        # "created" stays; so does a change already recorded (no dict write).
        # (Two comparisons: ``was not in (change, "created")`` builds a tuple
        # every call, and this runs for nearly every event.)
        if was != change and was != "created" and oid in self.by_id:  # noqa: PLR1714
            self._changes[oid] = change

    def remove(self, o: Outage, merged_into: Outage) -> None:
        self.by_id.pop(o.outage_id, None)
        was_new = self._changes.pop(o.outage_id, None) == "created"
        if not was_new:
            self._changes[o.outage_id] = "removed"
            row = self.to_dict(o)
            row["merged_into"] = merged_into.outage_id
            self._removed[o.outage_id] = row

    def drain_changes(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for oid, change in self._changes.items():
            o = self.by_id.get(oid)
            if o is None:
                row = self._removed.pop(oid, None)
                if row is None:
                    continue
            else:
                row = self.to_dict(o)
            row["change"] = change
            out.append(row)
        self._changes.clear()
        self._removed.clear()
        return out

    def add_feed_item(self, o: Outage) -> None:
        """One feed item per outage, when it closes (its values as then)."""
        self.feed.append((o, o.started_at, o.restored_at, o.confirmed_at,
                          max(o.sp_affected - len(o.unverified), 0),
                          tuple(o.unverified) if o.unverified else (),
                          tuple(sorted(c.outage_id for c in o.children)) if o.children else ()))

    def feed_items(self, start: int = 0) -> list[dict[str, Any]]:
        """The feed from item ``start`` (0-based), rendered."""
        feeder_ids = self._feeder_ids
        items = self.feed[start:]
        # the unverified meters of every item, named in one gather (a storm
        # leaves over a hundred thousand), then handed out item by item
        flat = array("q")
        for it in items:
            if it[5]:
                flat.extend(it[5])
        names = iter(self.meter_ids(flat))
        return [{
            "seq": seq,
            "outage_id": o.outage_id,
            "device_id": self.device_id(o),
            "feeder_id": feeder_ids[o.feeder],
            "started_at": format_time(started),
            "restored_at": format_time(restored),
            "confirmed_at": format_time(confirmed),
            "meters_restored": n_restored,
            "meters_unverified": list(islice(names, len(unverified))) if unverified else [],
            "nested_outage_ids": list(nested),
        } for seq, (o, started, restored, confirmed, n_restored, unverified, nested)
            in enumerate(items, start + 1)]

    def drain_feed(self) -> list[dict[str, Any]]:
        out = self.feed_items(self._feed_drained)
        self._feed_drained = len(self.feed)
        return out

    # -------------------------------------------------------------- render
    def device_id(self, o: Outage) -> str:
        if o.node >= 0:
            name = self._node_ids.get(o.node)
            if name is None:
                name = self._node_ids[o.node] = self.tree.topology.node_id(o.node)
            return name
        return self.tree.topology.sp_id(o.sp)

    def device_type(self, o: Outage) -> str:
        if o.node >= 0:
            return _KIND_NAMES[self.tree.kind[o.node]]
        return _SP_NAME

    def meter_id(self, sp: int) -> str:
        return self.tree.topology.meter_id(sp) or self.tree.topology.sp_id(sp)

    def meter_ids(self, sps: Sequence[int]) -> list[str]:
        """:meth:`meter_id` of many service points (one numpy gather)."""
        if not len(sps):
            return []
        topo = self.tree.topology
        raw = topo.sp_meter[np.asarray(sps, dtype=np.int64)]
        raws: list[bytes] = raw.tolist()
        if bool(np.all(raw != b"")):
            return list(map(bytes.decode, raws))   # (UTF-8, as meter_id decodes)
        return [r.decode("utf-8") if r else topo.sp_id(sp)
                for sp, r in zip(sps, raws, strict=True)]

    def to_dict(self, o: Outage) -> dict[str, Any]:
        # (device_id and device_type inlined: every outage is rendered at least once)
        node = o.node
        if node >= 0:
            device = self._node_ids.get(node)
            if device is None:
                device = self._node_ids[node] = self.tree.topology.node_id(node)
            kind = _KIND_NAMES[self.tree.kind[node]]
        else:
            device = self.tree.topology.sp_id(o.sp)
            kind = _SP_NAME
        return {
            "outage_id": o.outage_id,
            "device_id": device,
            "device_type": kind,
            "feeder_id": self._feeder_ids[o.feeder],
            "status": _STATUS_NAMES[o.status],
            "started_at": format_time(o.started_at),
            "restored_at": format_time(o.restored_at),
            "confirmed_at": format_time(o.confirmed_at),
            "predicted_at": format_time(o.predicted_at),
            "meters_affected": o.sp_affected,
            "meters_reporting": o.reporting,
            "confidence": round(o.confidence, 3),
            "parent_outage_id": o.parent.outage_id if o.parent is not None else None,
            "ami_affected": o.ami_affected,
            "meters_unverified": len(o.unverified),
        }
