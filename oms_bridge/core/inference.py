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
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from oms_bridge.core.kinds import DeviceKind
from oms_bridge.core.topology import Topology
from oms_bridge.settings import EngineSettings

__all__ = ["Choice", "InferenceTuning", "Scorer", "TreeIndex", "device_priors"]

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
    #: prior chance that a device below a restored one is still open
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
    """The topology as flat Python lists, for per-event scalar access."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.parent: list[int] = topology.node_parent.tolist()
        self.end: list[int] = topology.node_end.tolist()
        self.kind: list[int] = topology.node_kind.tolist()
        self.feeder: list[int] = topology.node_feeder.tolist()
        self.sp_lo: list[int] = topology.node_sp_lo.tolist()
        self.sp_hi: list[int] = topology.node_sp_hi.tolist()
        self.ami_cum: list[int] = topology.ami_cum.tolist()
        self.sp_node: list[int] = topology.sp_node.tolist()
        cand_codes = {k.code for k in CANDIDATE_KINDS}
        self.candidate: list[bool] = [k in cand_codes for k in self.kind]
        ami = np.diff(topology.ami_cum)
        self.sp_is_ami: list[bool] = (ami > 0).tolist()

    def ami(self, node: int) -> int:
        return self.ami_cum[self.sp_hi[node]] - self.ami_cum[self.sp_lo[node]]

    def sp_total(self, node: int) -> int:
        return self.sp_hi[node] - self.sp_lo[node]

    def sp_feeder(self, sp: int) -> int:
        return self.feeder[self.sp_node[sp]]


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


class Scorer:
    """Scores covers on one topology with fixed settings."""

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
        kinds = [DeviceKind.from_code(k).value for k in tree.kind]
        ami = np.asarray(tree.topology.ami_counts()).tolist()
        self.per_device_prior = device_priors(settings.device_prior, kinds, ami,
                                              sum(tree.sp_is_ami), tuning.base_rate)

        def log_prior(kind: str) -> float:
            return math.log(max(self.per_device_prior.get(kind, 0.0), 1e-300))

        self.sp_log_prior = log_prior(DeviceKind.SERVICE_POINT.value)
        self.sp_score = self.sp_log_prior + self.loglik(1, 1)
        own = [log_prior(k) for k in kinds]
        # a node with the same AMI meters as its only metered child inherits the
        # child's prior when better, so ties go upstream
        eff = list(own)
        n = len(kinds)
        for v in range(n - 1, -1, -1):
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
        self.log_prior = eff
        self._ami = ami

    # ------------------------------------------------------------------ model
    def loglik(self, k: int, n: int) -> float:
        """log P(this pattern of ``k`` dark among ``n`` | device open), p integrated."""
        return _lbeta(k + self._a, n - k + self._b) - self._lbeta_ab

    def loglik_restored(self, k: int, n: int) -> float:
        """As :meth:`loglik` once the device is back: ``k`` of ``n`` meters told
        (a last gasp or a restore), the others silent through both."""
        return _lbeta(k + self._qa, n - k + self._qb) - self._lbeta_q

    # ------------------------------------------------------------------ cover
    def solve(self, dark: Iterable[int], *, excluded: Callable[[int], int],
              forbidden_sps: Iterable[int] = (), restored: bool = False) -> list[Choice]:
        """The best cover of the dark meters (service point indices).

        With ``restored`` the evidence is read after the restoration: ``dark``
        holds every meter that gasped or came back (:meth:`loglik_restored`).
        """
        loglik = self.loglik_restored if restored else self.loglik
        sp_score = self.sp_log_prior + loglik(1, 1)
        tree = self.tree
        parent, sp_node = tree.parent, tree.sp_node
        direct: dict[int, list[int]] = {}
        for sp in dark:
            node = sp_node[sp]
            lst = direct.get(node)
            if lst is None:
                direct[node] = [sp]
            else:
                lst.append(sp)
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
                n = max(ami[v] - excluded(v), k)
                open_score = log_prior[v] + loglik(k, n)
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
                out.append(Choice(v, -1, self._collect(v, direct, children), min(gain, lose_up)))
                continue
            for sp in direct.get(v, ()):
                out.append(Choice(-1, sp, [sp], -gain if gain is not None else 10.0))
            stack.extend(sorted(children.get(v, ()), reverse=True))
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
               restore_rate: float) -> tuple[list[Choice], list[int]]:
        """Split the still-dark meters of a restored outage at node ``top``.

        Returns nested devices (topmost first) and the unexplained stragglers.
        """
        tree = self.tree
        if top < 0 or not dark:
            return [], sorted(dark)
        parent, sp_node, ami = tree.parent, tree.sp_node, self._ami
        direct: dict[int, list[int]] = {}
        for sp in dark:
            direct.setdefault(sp_node[sp], []).append(sp)
        children: dict[int, list[int]] = {}
        seen: set[int] = set()
        for node in direct:
            v = node
            while v != top and v not in seen and v >= 0:
                seen.add(v)
                up = parent[v]
                children.setdefault(up, []).append(v)
                v = up
        count: dict[int, int] = {}
        for v in sorted(seen, reverse=True):
            k = len(direct.get(v, ()))
            for c in children.get(v, ()):
                k += count[c]
            count[v] = k
        r = min(max(restore_rate, 0.3), 0.995)
        lost = math.log(1.0 - r)
        # many subtrees are tested at once: the chance that one of them lost every
        # restore by bad luck grows with their number (a Bonferroni bound)
        tests = max(1, len(seen))
        alpha = self.tuning.nested_prior
        threshold = math.log(alpha / tests)
        found: list[Choice] = []
        covered: set[int] = set()
        stack = sorted(children.get(top, ()), reverse=True)
        while stack:
            v = stack.pop()
            k = count[v]
            n = ami[v] - excluded(v)
            evidence = n * lost  # log P(all n restores lost)
            if (tree.candidate[v] and k >= n >= self.tuning.min_nested_meters
                    and evidence < threshold):
                members = self._collect(v, direct, children)
                found.append(Choice(v, -1, members, threshold - evidence))
                covered.update(members)
                continue
            stack.extend(sorted(children.get(v, ()), reverse=True))
        stragglers = sorted(sp for sp in dark if sp not in covered)
        return found, stragglers


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
    total = sum(v for v in shares.values() if v > 0) or 1.0
    counts: dict[str, int] = {}
    for kind, n_ami in zip(kinds, ami, strict=True):
        if n_ami > 0:
            counts[kind] = counts.get(kind, 0) + 1
    counts[DeviceKind.SERVICE_POINT.value] = ami_service_points
    return {kind: base_rate * max(share, 0.0) / total / max(counts.get(kind, 0), 1)
            for kind, share in shares.items()}


def _lbeta(x: float, y: float) -> float:
    return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)


def count_in(sorted_sps: Sequence[int], lo: int, hi: int) -> int:
    """How many of ``sorted_sps`` fall in ``[lo, hi)``."""
    return bisect_left(sorted_sps, hi) - bisect_left(sorted_sps, lo)
