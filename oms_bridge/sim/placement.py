"""Where and when devices open in a simulated storm (the true outages).

Outages are placed one by one at random devices and times, and a candidate is
kept only when the story stays *observable*: two outages whose AMI meter sets
are related (one device upstream of the other) may overlap in time only when
the downstream one stays out at least ten minutes longer (so AMI can see it),
and momentaries are kept clear of every related outage. A downstream device
that is still out when the upstream one is restored is a nested outage; its
``parent`` is set afterwards from the timeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core.kinds import DeviceKind
from oms_bridge.core.topology import Topology
from oms_bridge.sim.params import StormParams
from oms_bridge.sim.truth import TrueOutage

__all__ = ["place_outages"]

_MIN = 60_000
_NEAR_MS = 2 * _MIN          # starts this close to a related restore are ambiguous
_SEPARATE_MS = 5 * _MIN      # a descendant that started first leads by at least this
_VISIBLE_MS = 10 * _MIN      # a nested outage outlasts its parent by at least this
_MOMENTARY_CLEAR_MS = 10 * _MIN
_ATTEMPTS = 40

_PROTECTIVE = ("breaker", "recloser", "sectionalizer", "fuse")
_MOMENTARY_WEIGHTS = {"recloser": 0.5, "breaker": 0.2, "sectionalizer": 0.3}
_CHILD_WEIGHTS = {"transformer": 0.5, "service_point": 0.35, "fuse": 0.15}


@dataclass
class _Device:
    node: int  # -1 for a service point
    sp: int    # -1 for a node
    kind: str


class _Placer:
    def __init__(self, topology: Topology, rng: np.random.Generator, params: StormParams):
        self.t = topology
        self.rng = rng
        self.p = params
        self.start_ms = round(params.start.timestamp() * 1000)
        self.span_ms = round(params.duration_h * 3_600_000)
        ami_nodes = topology.ami_counts() > 0
        self.by_kind: dict[str, NDArray[np.int64]] = {}
        for kind in DeviceKind:
            if kind in (DeviceKind.SOURCE, DeviceKind.SWITCH, DeviceKind.SERVICE_POINT):
                continue
            hits = np.flatnonzero((topology.node_kind == kind.code) & ami_nodes)
            if hits.size:
                self.by_kind[kind.value] = hits
        ami_sp = np.flatnonzero(np.diff(topology.ami_cum) > 0)
        if ami_sp.size:
            self.by_kind["service_point"] = ami_sp
        self.outages: list[TrueOutage] = []
        # growing columns (ami_lo, ami_hi, start, end) for the vectorised conflict search
        self._cols = np.zeros((4, 256), dtype=np.int64)
        self._n = 0

    # ------------------------------------------------------------ sampling
    def _pick_kind(self, weights: dict[str, float]) -> str | None:
        kinds = [k for k in weights if k in self.by_kind and weights[k] > 0]
        if not kinds:
            return None
        w = np.array([weights[k] for k in kinds], dtype=np.float64)
        return kinds[int(self.rng.choice(len(kinds), p=w / w.sum()))]

    def _device(self, kind: str, pool: NDArray[np.int64] | None = None) -> _Device:
        choices = self.by_kind[kind] if pool is None else pool
        idx = int(choices[int(self.rng.integers(choices.size))])
        return _Device(-1, idx, kind) if kind == "service_point" else _Device(idx, -1, kind)

    def _duration_ms(self, kind: str) -> int:
        median = self.p.median_duration_min.get(kind, 90.0) * _MIN
        value = median * math.exp(float(self.rng.normal(0.0, 0.5)))
        lo, hi = self.p.min_sustained_min * _MIN, self.p.max_sustained_h * 60 * _MIN
        return round(min(max(value, lo), hi))

    def _storm_time(self) -> int:
        # storms build up, peak in the first half and trail off
        return self.start_ms + round(float(self.rng.beta(2.0, 3.0)) * self.span_ms)

    # ------------------------------------------------------------ outages
    def _make(self, dev: _Device, start: int, end: int, momentary: bool,
              shots: list[tuple[int, int]] | None = None) -> TrueOutage:
        t = self.t
        if dev.node >= 0:
            lo, hi = int(t.node_sp_lo[dev.node]), int(t.node_sp_hi[dev.node])
            device_id, feeder = t.node_id(dev.node), t.feeder_of_node(dev.node)
        else:
            lo, hi = dev.sp, dev.sp + 1
            device_id, feeder = t.sp_id(dev.sp), t.feeder_of_sp(dev.sp)
        return TrueOutage(
            outage_id="", device_id=device_id, device_type=dev.kind, feeder_id=feeder,
            started_ms=start, restored_ms=end, momentary=momentary,
            sp_lo=lo, sp_hi=hi, ami_lo=int(t.ami_cum[lo]), ami_hi=int(t.ami_cum[hi]),
            shots=shots or [(start, end)],
        )

    def _related(self, o: TrueOutage, margin: int) -> list[int]:
        if not self._n:
            return []
        lo, hi, s, r = self._cols[:, : self._n]
        hit = (lo < o.ami_hi) & (o.ami_lo < hi) & (s < o.restored_ms + margin) & (
            o.started_ms - margin < r)
        return [int(i) for i in np.flatnonzero(hit)]

    def _fits(self, o: TrueOutage) -> bool:
        """Keep ``o`` observable against every related outage; may lengthen it."""
        for _ in range(4):
            changed = False
            margin = _MOMENTARY_CLEAR_MS
            for i in self._related(o, margin):
                e = self.outages[i]
                if o.momentary or e.momentary:
                    return False
                if not (e.started_ms < o.restored_ms + _NEAR_MS
                        and o.started_ms - _NEAR_MS < e.restored_ms):
                    continue  # only near a sustained one in time: no interaction
                if (e.ami_lo, e.ami_hi) == (o.ami_lo, o.ami_hi):
                    return False
                if e.ami_lo <= o.ami_lo and o.ami_hi <= e.ami_hi:   # o inside e
                    if o.started_ms >= e.restored_ms - _NEAR_MS:
                        return False
                    if o.started_ms < e.started_ms < o.started_ms + _SEPARATE_MS:
                        return False
                    if o.restored_ms < e.restored_ms + _VISIBLE_MS:
                        extra = int(self.rng.integers(_VISIBLE_MS, 12 * _VISIBLE_MS))
                        o.restored_ms = e.restored_ms + extra
                        o.shots = [(o.started_ms, o.restored_ms)]
                        changed = True
                else:                                               # e inside o
                    if e.started_ms >= o.restored_ms - _NEAR_MS:
                        return False
                    if e.started_ms < o.started_ms < e.started_ms + _SEPARATE_MS:
                        return False
                    if e.restored_ms < o.restored_ms + _VISIBLE_MS:
                        return False
            if not changed:
                return True
        return False

    def _add(self, o: TrueOutage) -> None:
        self.outages.append(o)
        if self._n == self._cols.shape[1]:
            self._cols = np.concatenate((self._cols, np.zeros_like(self._cols)), axis=1)
        self._cols[:, self._n] = (o.ami_lo, o.ami_hi, o.started_ms, o.restored_ms)
        self._n += 1

    def place_sustained(self) -> None:
        for _ in range(self.p.outages):
            for _attempt in range(_ATTEMPTS):
                kind = self._pick_kind(self.p.kind_weights)
                if kind is None:
                    return
                dev = self._device(kind)
                start = self._storm_time()
                o = self._make(dev, start, start + self._duration_ms(kind), False)
                if self._fits(o):
                    self._add(o)
                    if kind in _PROTECTIVE and self.rng.random() < self.p.nested_probability:
                        self._place_children(o, dev)
                    break

    def _place_children(self, parent: TrueOutage, dev: _Device) -> None:
        t = self.t
        node = dev.node
        lo, hi = node + 1, int(t.node_end[node])
        for _ in range(int(self.rng.integers(1, 4))):
            pools: dict[str, NDArray[np.int64]] = {}
            for k in _CHILD_WEIGHTS:
                cands = self.by_kind.get(k)
                if cands is None:
                    continue
                a, b = (parent.sp_lo, parent.sp_hi) if k == "service_point" else (lo, hi)
                inside = cands[np.searchsorted(cands, a):np.searchsorted(cands, b)]
                if inside.size:
                    pools[k] = inside
            kind = self._pick_kind({k: w for k, w in _CHILD_WEIGHTS.items() if k in pools})
            if kind is None:
                return
            child_dev = self._device(kind, pools[kind])
            if self.rng.random() < 0.6:    # damaged by the same fault
                start = parent.started_ms
            else:                          # fails later, inside the dark area
                frac = float(self.rng.uniform(0.1, 0.8))
                start = parent.started_ms + round(frac * (parent.restored_ms - parent.started_ms))
            end = parent.restored_ms + int(self.rng.integers(_VISIBLE_MS, 12 * _VISIBLE_MS))
            child = self._make(child_dev, start, end, False)
            if (child.ami_lo, child.ami_hi) != (parent.ami_lo, parent.ami_hi) and self._fits(
                    child):
                self._add(child)

    def place_momentaries(self) -> None:
        weights = dict(_MOMENTARY_WEIGHTS)
        if not any(k in self.by_kind for k in weights):
            weights = {"fuse": 1.0}
        window = round(self.p.momentary_window_s * 1000)
        for _ in range(self.p.n_momentaries):
            for _attempt in range(5 * _ATTEMPTS):
                kind = self._pick_kind(weights)
                if kind is None:
                    return
                dev = self._device(kind)
                start = self._storm_time()
                shots: list[tuple[int, int]] = []
                t0 = start
                for _shot in range(1 if self.rng.random() < 0.7 else 2):
                    dark = int(self.rng.integers(500, max(window // 4, 501)))
                    shots.append((t0, t0 + dark))
                    t0 += dark + int(self.rng.integers(1000, max(window // 5, 1001)))
                o = self._make(dev, start, shots[-1][1], True, shots)
                if self._fits(o):
                    self._add(o)
                    break

    def finish(self) -> list[TrueOutage]:
        out = sorted(self.outages, key=lambda o: (o.started_ms, -o.ami_meters, o.device_id))
        width = max(4, len(str(len(out))))
        for i, o in enumerate(out, 1):
            o.outage_id = f"T-{i:0{width}d}"
        _set_parents(out)
        return out


def _set_parents(outages: list[TrueOutage]) -> None:
    """A parent is the nearest upstream sustained outage already out when this one
    began and restored before it."""
    if not outages:
        return
    lo = np.array([o.ami_lo for o in outages])
    hi = np.array([o.ami_hi for o in outages])
    s = np.array([o.started_ms for o in outages])
    r = np.array([o.restored_ms for o in outages])
    sustained = ~np.array([o.momentary for o in outages])
    size = hi - lo
    for child in outages:
        if child.momentary:
            continue
        ok = (sustained & (lo <= child.ami_lo) & (child.ami_hi <= hi)
              & (size > child.ami_meters) & (s <= child.started_ms)
              & (child.started_ms < r) & (r < child.restored_ms))
        hits = np.flatnonzero(ok)
        child.parent = (outages[int(hits[np.argmin(size[hits])])].outage_id
                        if hits.size else None)


def place_outages(topology: Topology, rng: np.random.Generator,
                  params: StormParams) -> list[TrueOutage]:
    """True outages of a storm, sorted by start, ids ``T-0001``…, parents set."""
    placer = _Placer(topology, rng, params)
    placer.place_sustained()
    placer.place_momentaries()
    return placer.finish()
