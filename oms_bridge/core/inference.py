"""Which devices are open: maximum-likelihood covers of dark meters on the tree.

The model
---------
A hypothesis is a set of open devices with disjoint subtrees. Under it

- an AMI meter below an open device sends its last gasp with an unknown
  delivery probability ``p`` per device, drawn from a Beta prior centred on
  ``EngineSettings.delivery_probability`` (so an area that lost its collectors
  and reports at 30 % is still one outage, not thirty);
- a meter below no open device sends nothing;
- a device opens with prior ``base_rate * share(kind) / count(kind)``
  (:func:`device_priors`): ``EngineSettings.device_prior`` gives the share of
  outages on each kind, spread over the devices of that kind with AMI meters,
  so where service points outnumber transformers five to one, one service drop
  is much less likely than one transformer ("one gasp of three" is then the
  transformer at delivery 0.5, "one of six" still the service point).

Every dark meter (a last gasp, or a restore from a meter that never gasped)
must be covered. The log-likelihood of one open device ``d`` with ``k`` of its
``n`` eligible meters dark is ``log prior(d) + log BetaBinomial(k | n)`` (for a
given pattern): each silent meter below it argues against it, a handful of
meters cannot make a recloser. The best cover is a dynamic programme over the
union of the ancestors of the dark meters only, bottom-up in reverse pre-order:
at each node either open it, or keep the best covers of its children plus one
service-point outage per dark meter fed directly by it. Cost: O(dark meters +
nodes on their paths), never O(meters of the feeder); subtree sizes are
prefix-sum look-ups on the pre-order arrays.

Meters already owned by another active outage are not eligible (they are dark
for another reason: neither evidence for nor against), which the caller
provides as ``excluded(node)``. Meters *known on* (``forbidden_sps``) rule out
every device above them.

Two devices with exactly the same AMI meters cannot be told apart; the
upstream one wins (it covers the non-AMI customers too), enforced by giving a
node the best prior of the single device chain below it with the same meters
and breaking ties upstream.

After a restoration (``solve(..., restored=True)``) a meter below an open device
stays silent only when both its last gasp and its restore were lost, so the
delivery mean becomes ``1 - (1 - p)(1 - restore_delivery)``: the outage's device
is re-read on every meter that told either way.

Restoration splits (:meth:`Scorer.nested`): when a restored outage still has
dark meters, the topmost devices below it whose every eligible meter is still
dark, and whose size makes "all their restores were lost" unlikely, become
nested outages; the rest are unverified stragglers.
"""

from __future__ import annotations

import math
import struct
from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core.kinds import DeviceKind
from oms_bridge.core.topology import Topology
from oms_bridge.settings import EngineSettings

__all__ = ["Choice", "InferenceTuning", "Scorer", "TreeIndex", "device_priors"]

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]

#: Devices an outage may be placed on (switches are pass-through, sources never).
CANDIDATE_KINDS = frozenset({DeviceKind.BREAKER, DeviceKind.RECLOSER, DeviceKind.SECTIONALIZER,
                             DeviceKind.FUSE, DeviceKind.TRANSFORMER})


@dataclass(frozen=True)
class InferenceTuning:
    """Engine constants (defaults tuned on the simulator); those a user may need
    to change come from :class:`EngineSettings` through :meth:`from_settings`."""

    #: expected number of devices opening within one incident (scales the
    #: per-device priors, see :func:`device_priors`)
    base_rate: float = 1.0
    #: pseudo-count of the Beta prior on a device's last-gasp delivery
    delivery_strength: float = 4.0
    #: last gasps further apart than this (event time) start a new incident
    incident_gap_s: float = 20.0
    #: after the first restore of an outage, wait this long for the others before
    #: splitting off nested outages and publishing the restoration
    settle_s: float = 180.0
    #: chance, for the whole family of devices below a restored one, of naming
    #: one nested by bad luck (all its restores lost): a Bonferroni bound split
    #: over every candidate device below with ``min_nested_meters`` AMI meters
    nested_prior: float = 0.05
    #: a nested outage needs at least this many eligible AMI meters still dark
    min_nested_meters: int = 2
    #: restore delivery assumed when the outage itself does not tell
    restore_delivery: float = 0.9
    #: restores this close to an outage's first restore are read together (a
    #: complete outage closes this long after its first restore)
    restore_window_s: float = 15.0


    @classmethod
    def from_settings(cls, settings: EngineSettings) -> InferenceTuning:
        """The defaults, with the ``[engine]`` keys users set taken from ``settings``."""
        return cls(base_rate=settings.base_rate, incident_gap_s=settings.incident_gap_s,
                   settle_s=settings.settle_s, restore_window_s=settings.restore_window_s)


class TreeIndex:
    """The topology as typed arrays (:mod:`array`), for per-event scalar access,
    and as numpy arrays for the vectorised covers of :class:`Scorer`.

    A replay reads a few thousand entries of each per-node or per-meter table,
    not the hundreds of thousands a topology holds: a typed array is a copy of
    the numpy memory (a ``memcpy``), where a list made a Python int for every
    entry (most of the engine's construction time); a read makes its int then.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.parent: memoryview = _typed(topology.node_parent)
        self.end: memoryview = _typed(topology.node_end)
        #: a kind code per node (codes are bytes)
        self.kind: bytes = _as_bytes(topology.node_kind)
        self.feeder: memoryview = _typed(topology.node_feeder)
        self.sp_lo: memoryview = _typed(topology.node_sp_lo)
        self.sp_hi: memoryview = _typed(topology.node_sp_hi)
        # read per outage, not per event
        self.ami_cum: memoryview = _typed(topology.ami_cum)
        self.sp_node: memoryview = _typed(topology.sp_node)
        cand = np.zeros(256, dtype=np.bool_)
        cand[[k.code for k in CANDIDATE_KINDS]] = True
        self.candidate_np: NDArray[np.bool_] = cand[topology.node_kind]
        #: per node, 1 for a candidate device, else 0
        self.candidate: bytes = _as_bytes(self.candidate_np)
        #: per service point, whether it has an AMI meter
        self.sp_ami_np: NDArray[np.bool_] = np.diff(topology.ami_cum) > 0
        #: the same, 1 or 0 a byte
        self.sp_is_ami: bytes = _as_bytes(self.sp_ami_np)
        self.n_sp_ami = int(np.count_nonzero(self.sp_ami_np))
        # the feeder of a meter is asked for every event: one C-level look-up in
        # a typed array (4 bytes a meter) instead of a method and two lists
        sp_feeders = _typed(topology.node_feeder[topology.sp_node])
        #: ``sp_feeder(sp)``: the feeder of a service point
        self.sp_feeder: Callable[[int], int] = sp_feeders.__getitem__
        #: the same as a numpy view of that array's memory
        self.sp_feeder_np: NDArray[np.signedinteger] = np.frombuffer(
            sp_feeders, dtype=np.intc if sp_feeders.format == "i" else np.int64)
        self.parent_np: I32 = topology.node_parent
        self.end_np: I32 = topology.node_end
        self.sp_lo_np: I32 = topology.node_sp_lo
        self.sp_hi_np: I32 = topology.node_sp_hi
        self.sp_node_np: I32 = topology.sp_node
        self.ami_np: I64 = (topology.ami_cum[topology.node_sp_hi].astype(np.int64)
                            - topology.ami_cum[topology.node_sp_lo])
        #: the layout the vectorised covers rely on holds (see :func:`_preorder_layout`)
        self.preorder = _preorder_layout(self.parent_np, self.end_np, self.sp_lo_np,
                                         self.sp_hi_np, self.sp_node_np)

    def ami(self, node: int) -> int:
        return self.ami_cum[self.sp_hi[node]] - self.ami_cum[self.sp_lo[node]]

    def sp_total(self, node: int) -> int:
        return self.sp_hi[node] - self.sp_lo[node]



def _typed(values: NDArray[np.integer]) -> memoryview:
    """Integer ``values`` as a memory view of C ints when every value of their
    type fits one, else of 64-bit ints: no copy (of an array of that type), no
    Python object per entry (a read makes its int)."""
    small = np.can_cast(values.dtype, np.intc)
    raw = np.ascontiguousarray(values, dtype=np.intc if small else np.int64).data.cast("B")
    return raw.cast("i") if small else raw.cast("q")


def _typed_floats(values: NDArray[np.float64]) -> array[float]:
    """``values`` as a typed array of doubles (bit for bit)."""
    out: array[float] = array("d")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float64).data.cast("B"))
    return out


def _as_bytes(values: NDArray[np.bool_] | NDArray[np.uint8]) -> bytes:
    """One byte per entry of a boolean (0 or 1) or ``uint8`` array."""
    return np.ascontiguousarray(values).view(np.uint8).tobytes()


def _preorder_layout(parent: I32, end: I32, sp_lo: I32, sp_hi: I32, sp_node: I32) -> bool:
    """Whether nodes are in pre-order with subtrees ``[v, end[v])`` and service
    points sorted by their node with ranges ``[sp_lo[v], sp_hi[v])`` matching.

    :class:`Topology` promises this; the vectorised covers read a node's dark
    meters, its forbidden meters and its children's order off these ranges, so
    they are used only when it really holds (else the scalar programme runs).
    """
    n = parent.shape[0]
    if n == 0:
        return int(sp_node.shape[0]) == 0
    idx = np.arange(n, dtype=np.int64)
    if not (bool(np.all(end > idx)) and bool(np.all(end <= n)) and bool(np.all(parent < idx))
            and bool(np.all(parent >= -1)) and int(parent[0]) == -1):
        return False
    # end[parent[v]], a root's end[n - 1] (n): a node's subtree lies in its
    # parent's (it starts inside it, as parent[v] < v < end[v])
    up_end = np.take(end, parent, mode="wrap")
    if not bool(np.all(end <= up_end)):
        return False
    # the node after v is its first child when v has one
    if not bool(np.all((parent[1:] == idx[:-1]) | (end[:-1] <= idx[1:]))):
        return False
    # the node after v's subtree, when it is inside v's parent's subtree (the
    # forest's for a root), is v's next sibling
    if not bool(np.all((np.take(parent, end, mode="clip") == parent) | (end >= up_end))):
        return False
    m = sp_node.shape[0]
    if m and not (bool(np.all(sp_node[1:] >= sp_node[:-1]))
                  and int(sp_node[0]) >= 0 and int(sp_node[-1]) < n):
        return False
    if sp_lo.shape != (n,) or sp_hi.shape != end.shape:
        return False
    if not m:
        return not (bool(sp_lo.any()) or bool(sp_hi.any()))
    # sp_lo[v] is the number of service points of nodes [0, v): the one place
    # in the sorted sp_node where v would go (read off two of its entries)
    if not bool(np.all((sp_lo >= 0) & (sp_lo <= m))):
        return False
    if not (bool(np.all((sp_lo == 0) | (np.take(sp_node, sp_lo - 1, mode="clip") < idx)))
            and bool(np.all((sp_lo == m) | (np.take(sp_node, sp_lo, mode="clip") >= idx)))):
        return False
    # and sp_hi[v] that of nodes [0, end[v])
    return bool(np.all(sp_hi == np.where(end < n, np.take(sp_lo, end, mode="clip"), m)))


@dataclass(slots=True)
class Choice:
    """One open device of a cover: a node, or a service point (``node == -1``)."""

    node: int
    sp: int
    dark: list[int]
    margin: float

    @property
    def position(self) -> int:
        return self.node


def _by_node(dark: Iterable[int], sp_node: Sequence[int]) -> dict[int, list[int]]:
    """Dark service points grouped by the node they hang from, in input order."""
    direct: dict[int, list[int]] = {}
    for sp in dark:
        node = sp_node[sp]
        lst = direct.get(node)
        if lst is None:
            direct[node] = [sp]
        else:
            lst.append(sp)
    return direct


class Scorer:
    """Scores covers on one topology with fixed settings."""

    #: covers of at least this many dark meters run vectorised; below it the
    #: per-call numpy overhead (some 30 array calls) exceeds the scalar cost
    vector_min = 256

    def __init__(self, tree: TreeIndex, settings: EngineSettings,
                 tuning: InferenceTuning) -> None:
        self.tree = tree
        self.tuning = tuning
        p0 = min(max(settings.delivery_probability, 0.01), 0.99)
        kappa = max(tuning.delivery_strength, 0.1)
        self._a = p0 * kappa
        self._b = (1.0 - p0) * kappa
        self._lbeta_ab = _lbeta(self._a, self._b)
        # after a restoration a meter below the open device was seen dark by a
        # last gasp *or* a restore: it stays silent with (1 - p)(1 - r) only
        r0 = min(max(tuning.restore_delivery, 0.0), 0.99)
        q0 = min(1.0 - (1.0 - p0) * (1.0 - r0), 0.995)
        self._qa = q0 * kappa
        self._qb = (1.0 - q0) * kappa
        self._lbeta_q = _lbeta(self._qa, self._qb)
        topo = tree.topology
        ami_np = tree.ami_np
        # per kind code, not per node: a topology has a handful of kinds and
        # hundreds of thousands of nodes
        present = np.bincount(topo.node_kind)
        codes: list[int] = np.flatnonzero(present).tolist()
        names = {c: DeviceKind.from_code(c).value for c in codes}
        metered = np.bincount(topo.node_kind[ami_np > 0], minlength=present.shape[0])
        counts: dict[str, int] = {}
        for c in codes:
            if metered[c]:
                counts[names[c]] = counts.get(names[c], 0) + int(metered[c])
        self.per_device_prior = _priors_of_counts(settings.device_prior, counts,
                                                  tree.n_sp_ami, tuning.base_rate)

        def log_prior(kind: str) -> float:
            return math.log(max(self.per_device_prior.get(kind, 0.0), 1e-300))

        self.sp_log_prior = log_prior(DeviceKind.SERVICE_POINT.value)
        self.sp_score = self.sp_log_prior + self.loglik(1, 1)
        table = np.zeros(present.shape[0], dtype=np.float64)
        for c in codes:
            table[c] = log_prior(names[c])
        own = table[topo.node_kind]
        if tree.preorder:
            eff = _inherit_priors(own, tree, self.sp_log_prior)
        else:
            eff = self._inherit_priors_scalar(own.tolist())
        self.log_prior: array[float] = _typed_floats(eff)
        self._log_prior_np = eff
        self._ami: memoryview = _typed(ami_np)
        # per node in pre-order, how many nodes before it could be declared nested
        # (candidate kinds with at least min_nested_meters AMI meters): the size of
        # the family :meth:`nested` tests below a device is a difference of two
        testable = tree.candidate_np & (ami_np >= self.tuning.min_nested_meters)
        cum = np.zeros(testable.shape[0] + 1, dtype=np.int64)
        np.cumsum(testable, dtype=np.int64, out=cum[1:])
        self._testable_cum: memoryview = _typed(cum)
        # lgamma(i + a), lgamma(i + b) by integer i, grown on demand
        self._lg: dict[float, list[float]] = {}
        self._lg_np: dict[float, NDArray[np.float64]] = {}
        #: lgamma((k + a) + (m + b)) for small k and m (most devices of a cover)
        self._lg_pairs: dict[tuple[float, float], NDArray[np.float64]] = {}
        # the scalar programmes' :meth:`loglik` / :meth:`loglik_restored` by
        # (k, n) for devices of fewer than _MEMO_N meters (a few thousand pairs
        # cover nearly every device scored), and their service-point scores:
        # flat lists at ``n * _MEMO_N + k`` (a list read, no key tuple), filled
        # on demand
        self._memo: tuple[list[float | None], list[float | None]] = (
            [None] * (_MEMO_N * _MEMO_N), [None] * (_MEMO_N * _MEMO_N))
        self._sp_scores = (self.sp_score, self.sp_log_prior + self.loglik_restored(1, 1))

    def _inherit_priors_scalar(self, own: list[float]) -> NDArray[np.float64]:
        """A node with the same AMI meters as its only metered child inherits
        the child's prior when better, so ties go upstream (any node order)."""
        tree, ami = self.tree, self.tree.ami_np.tolist()
        eff = list(own)
        for v in range(len(own) - 1, -1, -1):
            if not tree.candidate[v] or ami[v] == 0:
                continue
            c = v + 1
            best = -math.inf
            direct = ami[v]
            while c < tree.end[v]:
                direct -= ami[c]
                if ami[c] == ami[v]:
                    best = eff[c]
                c = tree.end[c]
            if direct == ami[v] == 1:
                best = max(best, self.sp_log_prior)  # one metered customer fed directly
            eff[v] = max(own[v], best)
        return np.array(eff, dtype=np.float64)

    # ------------------------------------------------------------------ model
    def loglik(self, k: int, n: int) -> float:
        """log P(this pattern of ``k`` dark among ``n`` | device open), p integrated."""
        return _lbeta(k + self._a, n - k + self._b) - self._lbeta_ab

    def loglik_restored(self, k: int, n: int) -> float:
        """As :meth:`loglik` once the device is back: ``k`` of ``n`` meters told
        (a last gasp or a restore), the others silent through both."""
        return _lbeta(k + self._qa, n - k + self._qb) - self._lbeta_q

    def _lgamma_table(self, shift: float, size: int) -> NDArray[np.float64]:
        """``lgamma(i + shift)`` for ``i < size`` (at least), each computed as the
        scalar :meth:`loglik` computes it, so table reads are bit-identical."""
        vals = self._lg.get(shift)
        if vals is None:
            vals = self._lg[shift] = []
        if len(vals) < size:
            size = max(size, 2 * len(vals), 64)
            vals.extend(math.lgamma(i + shift) for i in range(len(vals), size))
            self._lg_np[shift] = np.array(vals, dtype=np.float64)
        return self._lg_np[shift]

    def _logliks(self, k: I64, n: I64, restored: bool) -> NDArray[np.float64]:
        """:meth:`loglik` (or :meth:`loglik_restored`) of many ``(k, n)`` at once,
        with the scalar's operations in the scalar's order."""
        a, b, lb = ((self._qa, self._qb, self._lbeta_q) if restored
                    else (self._a, self._b, self._lbeta_ab))
        m = n - k
        lgx = self._lgamma_table(a, int(k.max()) + 1)[k]
        lgy = self._lgamma_table(b, int(m.max()) + 1)[m]
        pairs = self._lg_pairs.get((a, b))
        if pairs is None:
            pairs = self._lg_pairs[(a, b)] = _lgamma_sums(
                np.arange(_PAIRS, dtype=np.int64)[:, None], np.arange(_PAIRS, dtype=np.int64),
                a, b)
        small = (k < _PAIRS) & (m < _PAIRS)
        if bool(small.all()):
            lgxy = pairs[k, m]
        else:
            lgxy = np.empty(k.shape[0], dtype=np.float64)
            lgxy[small] = pairs[k[small], m[small]]
            big = ~small
            lgxy[big] = _lgamma_sums(k[big], m[big], a, b)
        out: NDArray[np.float64] = ((lgx + lgy) - lgxy) - lb
        return out

    # ------------------------------------------------------------------ cover
    def solve(self, dark: Iterable[int], *, excluded: Callable[[int], int],
              forbidden_sps: Iterable[int] = (), restored: bool = False) -> list[Choice]:
        """The best cover of the dark meters (service point indices).

        With ``restored`` the evidence is read after the restoration: ``dark``
        holds every meter that gasped or came back (:meth:`loglik_restored`).
        ``excluded(node)`` counts meters, so it is never negative; it is asked
        at most once per node, and not at all where every meter below is dark
        (the count cannot change the score there).
        """
        dark = dark if isinstance(dark, list) else list(dark)
        if len(dark) >= self.vector_min and self.tree.preorder:
            d = _increasing(dark, len(self.tree.sp_node))
            if d is not None:
                return self._solve_vector(d, excluded, forbidden_sps, restored)
        return self._solve_scalar(dark, excluded, forbidden_sps, restored)

    def solve_keys(self, dark: Collection[int], *, excluded: Callable[[int], int],
                   forbidden_sps: Iterable[int] = ()) -> list[Choice]:
        """:meth:`solve` of ``sorted(dark)``, for distinct meters (a dict's keys).

        An incident holds thousands of dark meters: sorted by numpy, they go
        to the vectorised cover without a sorted list (Python's sort of ints
        costs about twice numpy's conversion and sort together).
        """
        if len(dark) >= self.vector_min and self.tree.preorder:
            d = sorted_ints(dark)
            if (d is not None and d.shape[0] and d[0] >= 0 and d[-1] < len(self.tree.sp_node)
                    and bool((d[1:] > d[:-1]).all())):
                return self._solve_vector(d, excluded, forbidden_sps, False)
        return self.solve(sorted(dark), excluded=excluded, forbidden_sps=forbidden_sps)

    def _solve_scalar(self, dark: list[int], excluded: Callable[[int], int],
                      forbidden_sps: Iterable[int], restored: bool) -> list[Choice]:
        """The dynamic programme node by node (any input order, any layout)."""
        loglik = self.loglik_restored if restored else self.loglik
        memo = self._memo[restored]
        sp_score = self._sp_scores[restored]
        tree = self.tree
        parent, sp_node = tree.parent, tree.sp_node
        direct = _by_node(dark, sp_node)
        if not direct:
            return []
        children: dict[int, list[int]] = {}
        seen: set[int] = set()
        roots: list[int] = []
        for node in direct:
            v = node
            while v not in seen:
                seen.add(v)
                up = parent[v]
                if up < 0:
                    roots.append(v)
                    break
                kids = children.get(up)
                if kids is None:
                    children[up] = [v]
                else:
                    kids.append(v)
                v = up
        forbidden: set[int] = set()
        for sp in forbidden_sps:
            v = sp_node[sp]
            while v >= 0 and v not in forbidden:
                forbidden.add(v)
                v = parent[v]
        candidate, log_prior, ami = tree.candidate, self.log_prior, self._ami
        count: dict[int, int] = {}
        best: dict[int, float] = {}
        opened: dict[int, float] = {}   # node -> open score minus split score
        for v in sorted(seen, reverse=True):
            own = direct.get(v)
            k = len(own) if own else 0
            split = k * sp_score
            for c in children.get(v, ()):
                k += count[c]
                split += best[c]
            count[v] = k
            score = split
            if candidate[v] and v not in forbidden:
                # excluded meters are a count (>= 0): with every meter dark it
                # cannot change n, so it is not asked
                n = ami[v]
                if n > k:
                    n -= excluded(v)
                    if n < k:  # noqa: PLR1730 (a builtin call costs more here)
                        n = k
                else:
                    n = k
                if n < _MEMO_N:
                    ll = memo[n * _MEMO_N + k]
                    if ll is None:
                        ll = memo[n * _MEMO_N + k] = loglik(k, n)
                else:
                    ll = loglik(k, n)
                open_score = log_prior[v] + ll
                if open_score >= split:
                    score = open_score
                opened[v] = open_score - split
            best[v] = score
        out: list[Choice] = []
        stack = sorted(roots, reverse=True)
        while stack:
            v = stack.pop()
            gain = opened.get(v)
            if gain is not None and gain >= 0:
                up = parent[v]
                lose_up = -opened.get(up, -math.inf) if up >= 0 else math.inf
                out.append(Choice(v, -1, self._collect(v, direct, children),
                                  lose_up if lose_up < gain else gain))
                continue
            for sp in direct.get(v, ()):
                out.append(Choice(-1, sp, [sp], -gain if gain is not None else 10.0))
            stack.extend(sorted(children.get(v, ()), reverse=True))
        return out

    def _solve_vector(self, d: I64, excluded: Callable[[int], int],
                      forbidden_sps: Iterable[int], restored: bool) -> list[Choice]:
        """:meth:`_solve_scalar` for strictly increasing meters on a pre-order
        layout, where arrays replace the per-meter dictionaries.

        Then the meters of a node's subtree are one slice of ``d`` (its dark
        count and its members are two binary searches), the nodes of the
        programme sorted ascending are in pre-order (the cover's output order)
        and each node's children come in ascending order (the order in which
        the scalar programme adds their scores, kept for bit-identical sums).
        Only the nodes with children in the programme need a Python step; the
        leaves' scores are computed in bulk with the scalar's operations.
        """
        tree = self.tree
        sp_score = self._sp_scores[restored]
        nodes = tree.sp_node_np[d]
        starts = np.flatnonzero(np.diff(nodes)) + 1
        starts = np.concatenate((np.zeros(1, dtype=np.int64), starts))
        stops = np.append(starts[1:], d.shape[0])
        dn = nodes[starts]
        seen = _ancestors(dn.tolist(), tree.parent)
        prog = np.array(seen, dtype=np.int64)
        prog.sort()
        m = prog.shape[0]
        group = np.full(m, -1, dtype=np.int64)
        where_direct = np.searchsorted(prog, dn)
        group[where_direct] = np.arange(dn.shape[0])
        kd = np.zeros(m, dtype=np.int64)
        kd[where_direct] = stops - starts
        # the subtree of prog[i] is prog[i:past[i]], its meters d[lo_i[i]:hi_i[i]]
        past = np.searchsorted(prog, tree.end_np[prog])
        before = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(kd, out=before[1:])
        lo_i, hi_i = before[:m], before[past]
        k = hi_i - lo_i
        cand = tree.candidate_np[prog]
        fb = _forbidden_mask(forbidden_sps, tree, prog)
        if fb is not None:
            cand &= ~fb
        ci = np.flatnonzero(cand)
        cnodes = prog[ci]
        open_score = np.zeros(m, dtype=np.float64)
        if ci.shape[0]:
            kc = k[ci]
            n = kc.copy()
            ami = tree.ami_np[cnodes]
            ask = np.flatnonzero(ami > kc)   # else every meter is dark: n == k
            if ask.shape[0]:
                xs = np.fromiter(map(excluded, cnodes[ask].tolist()), dtype=np.int64,
                                 count=ask.shape[0])
                n[ask] = np.maximum(ami[ask] - xs, kc[ask])
            open_score[ci] = self._log_prior_np[cnodes] + self._logliks(kc, n, restored)
        split = kd * sp_score
        best = np.where(cand & (open_score >= split), open_score, split)
        # children in the programme, grouped by parent, ascending within a group
        par = tree.parent_np[prog]
        has_up = par >= 0
        ppos = np.full(m, -1, dtype=np.int64)
        ppos[has_up] = np.searchsorted(prog, par[has_up])
        kids_of = np.flatnonzero(has_up)
        order = kids_of[np.argsort(ppos[kids_of], kind="stable")]
        if order.shape[0]:
            keyed = ppos[order]
            cut = np.flatnonzero(keyed[1:] != keyed[:-1]) + 1
            first = np.concatenate((np.zeros(1, dtype=np.int64), cut))
            inner = keyed[first]
            last = np.append(cut, keyed.shape[0])
            split_l: list[float] = split.tolist()
            best_l: list[float] = best.tolist()
            open_l: list[float] = open_score.tolist()
            cand_l: list[bool] = cand.tolist()
            order_l: list[int] = order.tolist()
            for i, a, b in zip(inner[::-1].tolist(), first[::-1].tolist(), last[::-1].tolist(),
                               strict=True):
                s = split_l[i]
                for j in order_l[a:b]:
                    s += best_l[j]
                split_l[i] = s
                o = open_l[i]
                best_l[i] = o if cand_l[i] and o >= s else s
            split = np.array(split_l, dtype=np.float64)
        gain = open_score - split
        chosen = cand & (gain >= 0)
        # a chosen node hides every node of its subtree
        depth = np.zeros(m + 1, dtype=np.int64)
        cpos = np.flatnonzero(chosen)
        np.add.at(depth, cpos + 1, 1)
        np.add.at(depth, past[cpos], -1)
        # only the nodes no chosen node hides reach the output: read just those
        vis = np.flatnonzero(np.cumsum(depth[:m]) == 0)
        up = ppos[vis]
        up_open = np.zeros(vis.shape[0], dtype=np.bool_)
        up_open[up >= 0] = cand[up[up >= 0]]
        lose_up = np.full(vis.shape[0], math.inf)
        lose_up[up_open] = -gain[up[up_open]]
        grp = group[vis]
        grp_lo = np.where(grp >= 0, starts[grp], 0)
        grp_hi = np.where(grp >= 0, stops[grp], 0)
        out: list[Choice] = []
        for v, g, lose, is_chosen, is_cand, lo, hi, sp_lo, sp_hi in zip(
                prog[vis].tolist(), gain[vis].tolist(), lose_up.tolist(), chosen[vis].tolist(),
                cand[vis].tolist(), lo_i[vis].tolist(), hi_i[vis].tolist(), grp_lo.tolist(),
                grp_hi.tolist(), strict=True):
            if is_chosen:
                out.append(Choice(v, -1, d[lo:hi].tolist(), min(g, lose)))
            elif sp_hi > sp_lo:
                margin = -g if is_cand else 10.0
                out.extend(Choice(-1, sp, [sp], margin) for sp in d[sp_lo:sp_hi].tolist())
        return out

    @staticmethod
    def _collect(v: int, direct: dict[int, list[int]], children: dict[int, list[int]]) -> list[int]:
        out: list[int] = []
        stack = [v]
        while stack:
            u = stack.pop()
            out.extend(direct.get(u, ()))
            stack.extend(children.get(u, ()))
        out.sort()
        return out

    # ------------------------------------------------------------ restoration
    def nested(self, top: int, dark: Sequence[int], *, excluded: Callable[[int], int],
               restore_rate: float, on_counts: tuple[int, int] | None = None,
               ) -> tuple[list[Choice], list[int]]:
        """Split the still-dark meters of a restored outage at node ``top``.

        Returns nested devices (topmost first) and the unexplained stragglers.
        ``excluded`` is called only for candidate devices with enough dark meters
        to be nested, at most once each. ``on_counts`` (AMI meters known on, AMI
        meters affected): each candidate's chance that all its restores were lost
        is then read from the rate among the meters outside it (what the rate is
        if that device is out: a transformer silent under a fuse whose every other
        meter came back is no bad luck); else ``restore_rate`` serves for all.
        """
        tree = self.tree
        least = self.tuning.min_nested_meters
        if top < 0 or len(dark) < least or not dark:
            # (fewer dark meters than a nested outage needs: none can be found,
            # and no candidate is asked about; half the settles of a storm)
            return [], sorted(dark)
        if len(dark) >= self.vector_min and tree.preorder:
            d = _increasing(dark, len(tree.sp_node))
            if d is not None and tree.sp_lo[top] <= d[0] and d[-1] < tree.sp_hi[top]:
                return self._nested_vector(top, d, excluded, restore_rate, on_counts)
        parent, sp_node, ami = tree.parent, tree.sp_node, self._ami
        direct = _by_node(dark, sp_node)
        children: dict[int, list[int]] = {}
        seen: set[int] = set()
        for node in direct:
            v = node
            while v != top and v not in seen and v >= 0:
                seen.add(v)
                up = parent[v]
                kids = children.get(up)
                if kids is None:
                    children[up] = [v]
                else:
                    kids.append(v)
                v = up
        count: dict[int, int] = {}
        for v in sorted(seen, reverse=True):
            k = len(direct.get(v, ()))
            for c in children.get(v, ()):
                k += count[c]
            count[v] = k
        lost, threshold = self._nested_bounds(restore_rate, self._family(top, len(seen)))
        found: list[Choice] = []
        covered: set[int] = set()
        candidate = tree.candidate
        stack = sorted(children.get(top, ()), reverse=True)
        while stack:
            v = stack.pop()
            k = count[v]
            if candidate[v] and k >= least:
                n = ami[v] - excluded(v)
                # log P(all n restores lost)
                if on_counts is None:
                    evidence = n * lost
                else:
                    # _lost_outside(on_counts, n), inlined (comparisons, not
                    # max/min: the same values)
                    known, affected = on_counts
                    rest = affected - n
                    rate = known / (rest if rest >= 1 else 1)
                    rate = 0.3 if rate < 0.3 else rate
                    rate = 0.995 if rate > 0.995 else rate
                    evidence = n * math.log(1.0 - rate)
                if k >= n >= least and evidence < threshold:
                    members = self._collect(v, direct, children)
                    found.append(Choice(v, -1, members, threshold - evidence))
                    covered.update(members)
                    continue
            stack.extend(sorted(children.get(v, ()), reverse=True))
        if not covered:
            return found, sorted(dark)
        stragglers = sorted(sp for sp in dark if sp not in covered)
        return found, stragglers

    def _family(self, top: int, touched: int) -> int:
        """How many devices below ``top`` the split tests: every candidate one
        with enough AMI meters to be declared nested, whether or not any of its
        meters is still dark (on a layout that is not pre-order, the ``touched``
        nodes above the dark meters, a smaller family)."""
        if not self.tree.preorder:
            return touched
        cum = self._testable_cum
        return cum[self.tree.end[top]] - cum[top + 1]

    def _nested_bounds(self, restore_rate: float, tests: int) -> tuple[float, float]:
        lost = _lost(restore_rate)
        # many subtrees are tested at once: the chance that one of them lost every
        # restore by bad luck grows with their number (a Bonferroni bound over all
        # of them: counting only those with a dark meter would pick the family
        # after seeing the data, and under a wide momentary find a transformer
        # whose two or three restores were lost about once in a hundred)
        alpha = self.tuning.nested_prior
        return lost, math.log(alpha / max(1, tests))

    def _nested_vector(self, top: int, d: I64, excluded: Callable[[int], int],
                       restore_rate: float, on_counts: tuple[int, int] | None = None,
                       ) -> tuple[list[Choice], list[int]]:
        """:meth:`nested` for strictly increasing meters below ``top`` on a
        pre-order layout: subtrees are slices of ``d``, and the nodes below
        ``top`` sorted ascending are the scalar walk's visiting order."""
        tree = self.tree
        nodes = tree.sp_node_np[d]
        heads = np.concatenate((np.zeros(1, dtype=np.int64), np.flatnonzero(np.diff(nodes)) + 1))
        seen = _ancestors_below(nodes[heads].tolist(), tree.parent, top)
        lost, threshold = self._nested_bounds(restore_rate, self._family(top, len(seen)))
        least = self.tuning.min_nested_meters
        found: list[Choice] = []
        spans: list[tuple[int, int]] = []
        if seen:
            prog = np.array(seen, dtype=np.int64)
            prog.sort()
            lo_i = np.searchsorted(d, tree.sp_lo_np[prog])
            hi_i = np.searchsorted(d, tree.sp_hi_np[prog])
            k = hi_i - lo_i
            able = np.flatnonzero(tree.candidate_np[prog] & (k >= least))
            if able.shape[0]:
                ami, end = self._ami, tree.end
                k_l: list[int] = k[able].tolist()
                lo_l: list[int] = lo_i[able].tolist()
                hi_l: list[int] = hi_i[able].tolist()
                below = -1   # nodes before this one are inside a nested outage found
                known, affected = on_counts if on_counts is not None else (0, 0)
                for j, v in enumerate(prog[able].tolist()):
                    if v < below:
                        continue
                    kv = k_l[j]
                    n = ami[v] - excluded(v)
                    if on_counts is None:
                        evidence = n * lost
                    else:
                        # _lost_outside(on_counts, n) inlined as in nested (two
                        # calls and two builtins a node cost more than the rest)
                        rest = affected - n
                        rate = known / (rest if rest >= 1 else 1)
                        rate = 0.3 if rate < 0.3 else rate
                        rate = 0.995 if rate > 0.995 else rate
                        evidence = n * math.log(1.0 - rate)
                    if kv >= n >= least and evidence < threshold:
                        found.append(Choice(v, -1, d[lo_l[j]:hi_l[j]].tolist(),
                                            threshold - evidence))
                        spans.append((lo_l[j], hi_l[j]))
                        below = end[v]
        if not found:
            return found, d.tolist()
        keep = np.ones(d.shape[0], dtype=np.bool_)
        for lo, hi in spans:
            keep[lo:hi] = False
        return found, d[keep].tolist()


def device_priors(shares: dict[str, float], kinds: Sequence[str], ami: Sequence[int],
                  ami_service_points: int, base_rate: float) -> dict[str, float]:
    """Prior chance that one given device of each kind opens within an incident.

    ``shares`` (``EngineSettings.device_prior``) says how outages split between
    device kinds; one device's prior divides its kind's share by the number of
    devices of that kind with AMI meters below (the only ones AMI can see), so a
    feeder with five times more service points than transformers makes one
    service drop five times less likely than one transformer. ``base_rate`` is
    the expected number of devices opening in one incident.
    """
    counts: dict[str, int] = {}
    for kind, n_ami in zip(kinds, ami, strict=True):
        if n_ami > 0:
            counts[kind] = counts.get(kind, 0) + 1
    return _priors_of_counts(shares, counts, ami_service_points, base_rate)


def _priors_of_counts(shares: dict[str, float], counts: dict[str, int],
                      ami_service_points: int, base_rate: float) -> dict[str, float]:
    """:func:`device_priors` from the number of metered devices of each kind."""
    total = sum(v for v in shares.values() if v > 0) or 1.0
    counts = {**counts, DeviceKind.SERVICE_POINT.value: ami_service_points}
    return {kind: base_rate * max(share, 0.0) / total / max(counts.get(kind, 0), 1)
            for kind, share in shares.items()}


def _inherit_priors(own: NDArray[np.float64], tree: TreeIndex,
                    sp_log_prior: float) -> NDArray[np.float64]:
    """Each node's prior, raised to the best of the chain of single metered
    children with the same AMI meters (ties go upstream), on a pre-order layout.

    A node's child with all of its meters is unique when it has any, so these
    chains are paths; their maxima come by pointer doubling (max is exact, so
    the order of the comparisons does not matter) instead of a Python pass over
    every node.
    """
    ami, parent = tree.ami_np, tree.parent_np
    n = own.shape[0]
    kid = np.flatnonzero(parent >= 0)
    up = parent[kid]
    ami_kid, ami_up = ami[kid], ami[up]
    # whether a node has a child with AMI meters (counts are never negative)
    fed = np.zeros(n, dtype=np.bool_)
    fed[up[ami_kid > 0]] = True
    same = (ami_kid == ami_up) & (ami_up > 0)
    chain = np.full(n, -1, dtype=np.int64)
    chain[up[same]] = kid[same]
    active = tree.candidate_np & (ami > 0)
    best = own.copy()
    single = active & (ami == 1) & ~fed   # one metered customer fed directly
    best[single] = np.maximum(own[single], sp_log_prior)
    jump = np.where(active, chain, -1)
    while True:
        live = np.flatnonzero(jump >= 0)
        if not live.shape[0]:
            return best
        nxt = jump[live]
        best[live] = np.maximum(best[live], best[nxt])
        jump[live] = jump[nxt]


#: dark and silent counts below which lgamma of their sum is tabulated
_PAIRS = 64

#: devices with fewer meters than this have their scalar log-likelihoods memoised
_MEMO_N = 256


def _lgamma_sums(k: I64, m: I64, a: float, b: float) -> NDArray[np.float64]:
    """``lgamma((k + a) + (m + b))`` elementwise (broadcast), with the scalar
    :meth:`Scorer.loglik`'s roundings (numpy's float adds are IEEE ones)."""
    xy = (k + a) + (m + b)
    flat = np.array(list(map(math.lgamma, xy.ravel().tolist())), dtype=np.float64)
    return flat.reshape(xy.shape)


def _lost(restore_rate: float) -> float:
    """log P(one restore lost) at a restore rate, kept within [0.3, 0.995]."""
    return math.log(1.0 - min(max(restore_rate, 0.3), 0.995))


def _lost_outside(on_counts: tuple[int, int], n: int) -> float:
    """:func:`_lost` at the rate among the meters outside a device of ``n``."""
    known, affected = on_counts
    return _lost(known / max(affected - n, 1))


def sorted_ints(keys: Collection[int]) -> I64 | None:
    """``sorted(keys)`` as an int64 array (None if one is not an int64 value).

    ``struct.pack`` converts a list of ints at about half the cost of
    ``np.fromiter`` or ``array("q", ...)``.
    """
    items = list(keys)
    try:
        packed = struct.pack(f"{len(items)}q", *items)
    except struct.error:
        return None
    return np.sort(np.frombuffer(packed, dtype=np.int64))


def _increasing(dark: Sequence[int], n_sp: int) -> I64 | None:
    """``dark`` as an array when it is strictly increasing valid meters, else None."""
    try:
        d: I64 = np.frombuffer(array("q", dark), dtype=np.int64)   # faster than from a list
    except (TypeError, OverflowError):
        return None
    if not d.shape[0] or d[0] < 0 or d[-1] >= n_sp:
        return None
    if not bool(np.all(d[1:] > d[:-1])):
        return None
    return d


def _ancestors(nodes: list[int], parent: Sequence[int]) -> list[int]:
    """``nodes`` and every node above them."""
    seen = set(nodes)
    for v in nodes:
        u = parent[v]
        while u >= 0 and u not in seen:
            seen.add(u)
            u = parent[u]
    return list(seen)


def _ancestors_below(nodes: list[int], parent: Sequence[int], top: int) -> list[int]:
    """``nodes`` and every node above them strictly below ``top``."""
    seen: set[int] = set()
    for node in nodes:
        v = node
        while v != top and v not in seen and v >= 0:
            seen.add(v)
            v = parent[v]
    return list(seen)


def _forbidden_mask(forbidden_sps: Iterable[int], tree: TreeIndex,
                    nodes: I64) -> NDArray[np.bool_] | None:
    """Which of ``nodes`` lie above a meter known on (None: none do)."""
    parent, sp_node = tree.parent, tree.sp_node
    forbidden: set[int] = set()
    for sp in forbidden_sps:
        v = sp_node[sp]
        while v >= 0 and v not in forbidden:
            forbidden.add(v)
            v = parent[v]
    if not forbidden:
        return None
    return np.isin(nodes, np.fromiter(forbidden, dtype=np.int64, count=len(forbidden)))


def _lbeta(x: float, y: float) -> float:
    return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)


def count_in(sorted_sps: Sequence[int], lo: int, hi: int) -> int:
    """How many of ``sorted_sps`` fall in ``[lo, hi)``."""
    return bisect_left(sorted_sps, hi) - bisect_left(sorted_sps, lo)
