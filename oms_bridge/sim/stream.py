"""From true outages to what the head end delivers: the events file, line by line.

Each AMI meter's dark intervals are the union of the shots of every outage
covering it. An interval yields a last gasp (delivered with the probability of
the outage that started it) and a power-restored event (delivered with the
restore probability). Events are delayed (seconds, a few minutes to hours),
re-sent (duplicates), mixed with events from meters the topology does not know
and with malformed lines, then put in *arrival* order. Everything is columns of
numpy arrays, so a million-meter storm takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core.topology import Topology
from oms_bridge.sim.params import StormParams
from oms_bridge.sim.truth import EventCounts, TrueOutage, iso_ms_array

__all__ = ["EventTable", "LineKind", "build_events"]

I64 = NDArray[np.int64]

_BIG = 10**12  # ms offset separating meters in the merge key (31 years)
GASP, RESTORE = 0, 1
_NAMES = ("last_gasp", "power_restored")
_IEC = ("3.26.0.85", "3.26.0.216")
_BAD_TIMESTAMPS = ("2026-13-45T25:61:00Z", "not-a-timestamp", "", "26/11/2026 07:00")
MALFORMED_KINDS = ("bad_json", "missing_field", "bad_timestamp")


class LineKind:
    """How a correct replay must count a line (contract section 6 ``events``)."""

    ACCEPTED = 0
    DUPLICATE = 1
    UNKNOWN_METER = 2
    INVALID = 3


@dataclass
class EventTable:
    """Every line of the events file, in arrival order, as columns."""

    arrival_ms: I64
    occurred_ms: I64
    event_no: I64
    #: service point index (>= 0) or ``-1 - k`` for ``unknown_ids[k]``
    meter: NDArray[np.int64]
    type_code: NDArray[np.uint8]
    iec: NDArray[np.bool_]
    line_kind: NDArray[np.uint8]
    #: index into ``malformed_text`` for INVALID lines, else -1
    malformed: NDArray[np.int64]
    unknown_ids: list[str] = field(default_factory=list)
    malformed_text: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.arrival_ms.shape[0])

    def lines(self, topology: Topology, chunk: int = 200_000) -> Iterator[str]:
        """The JSONL lines (without newline), in arrival order."""
        unknown = np.array(self.unknown_ids or [""], dtype=np.str_)
        for a in range(0, len(self), chunk):
            b = min(a + chunk, len(self))
            meter = self.meter[a:b]
            known = meter >= 0
            ids = np.where(
                known,
                topology.sp_meter[np.where(known, meter, 0)].astype(np.str_),
                unknown[np.where(known, 0, -1 - meter)],
            )
            stamps = iso_ms_array(self.occurred_ms[a:b])
            code = self.type_code[a:b].astype(np.int64) + 2 * self.iec[a:b]
            names = np.array(_NAMES + _IEC)[code]
            bad = self.malformed[a:b]
            nos = self.event_no[a:b]
            for i in range(b - a):
                if bad[i] >= 0:
                    yield self.malformed_text[int(bad[i])]
                else:
                    yield (f'{{"event_id":"HE-{nos[i]:010d}","meter_id":"{ids[i]}",'
                           f'"type":"{names[i]}","occurred_at":"{stamps[i]}"}}')


def _delays_ms(rng: np.random.Generator, n: int, p: StormParams) -> I64:
    typical = p.delay_median_s * np.exp(rng.normal(0.0, 1.0, n))
    typical = np.minimum(typical, 45.0)
    late = rng.random(n) < p.late_fraction
    late_s = np.exp(rng.uniform(np.log(60.0), np.log(max(p.late_max_s, 61.0)), n))
    return np.round(np.where(late, late_s, typical) * 1000).astype(np.int64)


def _meter_intervals(outages: list[TrueOutage], ami_sp: NDArray[np.int64]
                     ) -> tuple[I64, I64, I64, I64, I64]:
    """Merged dark intervals per AMI meter: (sp, start, end, starter, ender)."""
    parts_m: list[I64] = []
    parts_s: list[I64] = []
    parts_e: list[I64] = []
    parts_o: list[I64] = []
    for k, outage in enumerate(outages):
        ranks = np.arange(outage.ami_lo, outage.ami_hi, dtype=np.int64)
        for shot_start, shot_end in outage.shots:
            parts_m.append(ranks)
            parts_s.append(np.full(ranks.size, shot_start, dtype=np.int64))
            parts_e.append(np.full(ranks.size, shot_end, dtype=np.int64))
            parts_o.append(np.full(ranks.size, k, dtype=np.int64))
    if not parts_m:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, empty
    m = np.concatenate(parts_m)
    s = np.concatenate(parts_s)
    e = np.concatenate(parts_e)
    o = np.concatenate(parts_o)
    size = np.array([x.ami_meters for x in outages], dtype=np.int64)[o]
    # per meter by start; on a tie the bigger (upstream) outage starts the interval
    order = np.lexsort((-size, s, m))
    m, s, e, o = m[order], s[order], e[order], o[order]
    t0 = int(s.min())
    start_key = m * _BIG + (s - t0)
    run = np.maximum.accumulate(m * _BIG + (e - t0))
    prev = np.concatenate(([np.int64(-1)], run[:-1]))
    new = start_key > prev
    first = np.flatnonzero(new)
    interval = np.cumsum(new) - 1
    ends = np.maximum.reduceat(e, first)
    # the outage whose end closes the interval (latest end, last in ties)
    by_end = np.lexsort((e, interval))
    last_rows = by_end[np.r_[first[1:], m.size] - 1]
    return ami_sp[m[first]], s[first], ends, o[first], o[last_rows]


def build_events(topology: Topology, outages: list[TrueOutage], rng: np.random.Generator,
                 p: StormParams) -> tuple[EventTable, EventCounts]:
    """The delivered event stream of ``outages`` plus the counts a replay must report."""
    counts = EventCounts()
    ami_sp = np.flatnonzero(np.diff(topology.ami_cum) > 0).astype(np.int64)
    sp, start, end, starter, ender = _meter_intervals(outages, ami_sp)
    n_int = sp.size
    delivery = np.array([o.delivery for o in outages], dtype=np.float64)
    gasp_ok = rng.random(n_int) < (delivery[starter] if n_int else 0.0)
    rest_ok = rng.random(n_int) < p.restore_delivery
    gasp_at = start + rng.integers(0, 2000, n_int)
    rest_at = end + rng.integers(500, 8000, n_int)
    n_out = len(outages)
    sent = np.bincount(starter, minlength=n_out)
    got = np.bincount(starter[gasp_ok], minlength=n_out)
    first = np.full(n_out, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, starter[gasp_ok], gasp_at[gasp_ok])
    r_sent = np.bincount(ender, minlength=n_out)
    r_got = np.bincount(ender[rest_ok], minlength=n_out)
    for k, o in enumerate(outages):
        o.gasps_sent, o.gasps_delivered = int(sent[k]), int(got[k])
        o.first_gasp_ms = int(first[k]) if got[k] else None
        o.restores_sent, o.restores_delivered = int(r_sent[k]), int(r_got[k])
    counts.gasps_lost = int((~gasp_ok).sum())
    counts.restores_lost = int((~rest_ok).sum())

    meter = np.concatenate((sp[gasp_ok], sp[rest_ok]))
    occurred = np.concatenate((gasp_at[gasp_ok], rest_at[rest_ok]))
    type_code = np.concatenate((np.full(int(gasp_ok.sum()), GASP, np.uint8),
                                np.full(int(rest_ok.sum()), RESTORE, np.uint8)))
    n = meter.size
    delay = _delays_ms(rng, n, p)
    counts.late = int((delay >= 60_000).sum())
    arrival = occurred + delay
    start_ms = round(p.start.timestamp() * 1000)
    end_ms = start_ms + round(p.duration_h * 3_600_000)

    # meters the topology does not know (decommissioned, other utilities' ids)
    n_unknown = round(p.unknown_meter_fraction * n)
    pool = _unknown_meter_ids(topology, rng, max(1, n_unknown // 2)) if n_unknown else []
    u_meter = -1 - rng.integers(0, max(len(pool), 1), n_unknown)
    u_occ = rng.integers(start_ms, end_ms, n_unknown)
    u_arr = u_occ + _delays_ms(rng, n_unknown, p)
    u_type = rng.integers(0, 2, n_unknown).astype(np.uint8)

    # re-sent events keep their event id
    n_dup = round(p.duplicate_fraction * n)
    dup_of = rng.choice(n, n_dup, replace=False) if n_dup and n else np.zeros(0, np.int64)
    dup_arr = arrival[dup_of] + np.round(
        1000 * np.exp(rng.uniform(0.0, np.log(1800.0), dup_of.size))).astype(np.int64)

    base_meter = np.concatenate((meter, u_meter))
    base_occ = np.concatenate((occurred, u_occ))
    base_arr = np.concatenate((arrival, u_arr))
    base_type = np.concatenate((type_code, u_type))
    base_kind = np.concatenate((np.full(n, LineKind.ACCEPTED, np.uint8),
                                np.full(n_unknown, LineKind.UNKNOWN_METER, np.uint8)))
    # event ids follow arrival at the head end
    first_no = int(rng.integers(1_000_000, 9_000_000))
    event_no = np.empty(base_arr.size, dtype=np.int64)
    event_no[np.argsort(base_arr, kind="stable")] = first_no + np.arange(base_arr.size)

    # malformed lines, built from real-looking events
    n_bad = round(p.malformed_fraction * n)
    if p.malformed_fraction > 0 and n:
        n_bad = max(n_bad, len(MALFORMED_KINDS))
    bad_text: list[str] = []
    kinds_count: dict[str, int] = dict.fromkeys(MALFORMED_KINDS, 0)
    bad_arr = rng.integers(start_ms, end_ms, n_bad) if n_bad else np.zeros(0, np.int64)
    next_no = first_no + base_arr.size + 1000
    for i in range(n_bad):
        kind = MALFORMED_KINDS[i % len(MALFORMED_KINDS)]
        kinds_count[kind] += 1
        some_sp = int(ami_sp[rng.integers(ami_sp.size)]) if ami_sp.size else -1
        bad_text.append(_malformed_line(topology, rng, kind, at_ms=int(bad_arr[i]), no=next_no + i,
                                        sp=some_sp))

    base_iec = rng.random(n_base := base_arr.size) < p.iec_code_fraction
    arr_all = np.concatenate((base_arr, dup_arr, bad_arr))
    order = np.argsort(arr_all, kind="stable")
    table = EventTable(
        arrival_ms=arr_all[order],
        occurred_ms=np.concatenate((base_occ, base_occ[dup_of], bad_arr))[order],
        event_no=np.concatenate((event_no, event_no[dup_of], np.zeros(n_bad, np.int64)))[order],
        meter=np.concatenate((base_meter, base_meter[dup_of], np.zeros(n_bad, np.int64)))[order],
        type_code=np.concatenate((base_type, base_type[dup_of],
                                  np.zeros(n_bad, np.uint8)))[order],
        # a re-sent event repeats the code of the original
        iec=np.concatenate((base_iec, base_iec[dup_of], np.zeros(n_bad, np.bool_)))[order],
        line_kind=np.concatenate((base_kind, np.full(dup_of.size, LineKind.DUPLICATE, np.uint8),
                                  np.full(n_bad, LineKind.INVALID, np.uint8)))[order],
        malformed=np.concatenate((np.full(n_base + dup_of.size, -1, np.int64),
                                  np.arange(n_bad, dtype=np.int64)))[order],
        unknown_ids=pool,
        malformed_text=bad_text,
    )
    counts.lines = len(table)
    counts.accepted = n
    counts.duplicate = int(dup_of.size)
    counts.unknown_meter = n_unknown
    counts.invalid = n_bad
    counts.invalid_by_kind = kinds_count
    valid = table.line_kind != LineKind.INVALID
    counts.last_gasp = int(((table.type_code == GASP) & valid).sum())
    counts.power_restored = int(((table.type_code == RESTORE) & valid).sum())
    counts.iec_codes = int((table.iec & valid).sum())
    return table, counts


def _unknown_meter_ids(topology: Topology, rng: np.random.Generator, k: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < k:
        cand = [f"U{int(x):09d}" for x in rng.integers(0, 10**9, k)]
        known = topology.meters_index(cand) >= 0
        ids.extend(c for c, hit in zip(cand, known, strict=True) if not hit and c not in ids)
    return ids[:k]


def _malformed_line(topology: Topology, rng: np.random.Generator, kind: str, *, at_ms: int,
                    no: int, sp: int) -> str:
    meter = topology.meter_id(sp) if sp >= 0 else "M000000000"
    stamp = str(iso_ms_array(np.array([at_ms], dtype=np.int64))[0])
    fields = {"event_id": f"HE-{no:010d}", "meter_id": meter, "type": "last_gasp",
              "occurred_at": stamp}
    if kind == "missing_field":
        del fields[str(rng.choice(list(fields)))]
    elif kind == "bad_timestamp":
        fields["occurred_at"] = str(rng.choice(_BAD_TIMESTAMPS))
    text = "{" + ",".join(f'"{k}":"{v}"' for k, v in fields.items()) + "}"
    if kind == "bad_json":
        cut = int(rng.integers(5, len(text) - 2))
        text = text[:cut] if rng.random() < 0.7 else text.replace(":", " ", 1)
    return text
