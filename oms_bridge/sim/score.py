"""Score a replay result against the truth of a simulated storm (pure: dicts in, dict out).

Devices are compared the way AMI sees them: by the range of AMI meters below
them (laminar on a radial tree). A prediction is *right* when its device has
the same AMI meters as the true device (the true FACILITYID, or one AMI cannot
tell apart from it) and its time span overlaps the true one; a prediction on a
device whose AMI meters strictly contain (ancestor) or are strictly contained
in (descendant) the true ones is counted separately.

Inputs are the truth JSON (:meth:`Truth.to_dict`), the replay result of contract
section 6 and the topology both were made on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oms_bridge.core.topology import Topology
from oms_bridge.sim.truth import device_ranges, parse_iso_ms

__all__ = ["TARGETS", "check_targets", "combine", "score", "stats"]

_INF = 2**62
#: slack when comparing predicted and true time spans
OVERLAP_GRACE_MS = 120_000
#: a prediction on a momentary's device within this after it counts as dispatching it
MOMENTARY_GRACE_MS = 120_000
#: an outage published this soon after a confirmation still holds its dark meters
COVER_GRACE_MS = 300_000
PUBLISHED = frozenset({"active", "restored"})

#: Acceptance targets at last-gasp delivery 0.5 (issue 3).
TARGETS: dict[str, float] = {
    "device_f1": 0.95,
    "false_confirmations": 0,
    "nested_found": 0.95,
    "momentary_not_dispatched": 0.99,
    "first_gasp_to_prediction_slack_s": 5.0,
}


@dataclass
class _Span:
    ident: str
    device_id: str
    device_type: str
    feeder_id: str
    start: int
    end: int
    ami_lo: int = -1
    ami_hi: int = -1
    known: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)

    def same(self, other: _Span) -> bool:
        return self.known and other.known and (self.ami_lo, self.ami_hi) == (
            other.ami_lo, other.ami_hi)

    def contains(self, other: _Span) -> bool:
        """Strictly upstream of ``other`` as AMI sees it."""
        return (self.known and other.known and self.ami_lo <= other.ami_lo
                and other.ami_hi <= self.ami_hi and not self.same(other))

    def intersects(self, other: _Span) -> bool:
        return (self.known and other.known and self.ami_lo < other.ami_hi
                and other.ami_lo < self.ami_hi)

    def overlaps(self, start: int, end: int, grace: int = OVERLAP_GRACE_MS) -> bool:
        return self.start <= end + grace and self.end >= start - grace


def _ms(value: Any) -> int | None:
    return parse_iso_ms(value) if isinstance(value, str) and value else None


def stats(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "p90": None, "max": None}
    arr = np.asarray(values, dtype=np.float64)
    return {"n": int(arr.size), "median": round(float(np.median(arr)), 3),
            "p90": round(float(np.percentile(arr, 90)), 3), "max": round(float(arr.max()), 3)}


def _ratio(num: int, den: int, empty: float = 1.0) -> float:
    return round(num / den, 6) if den else empty


class _Resolver:
    def __init__(self, topology: Topology):
        self.t = topology
        self._sp: dict[str, int] | None = None

    def fill(self, span: _Span) -> None:
        node = self.t.node_index(span.device_id)
        lookup = None
        if node < 0:
            if self._sp is None:
                self._sp = {bytes(v).decode("utf-8"): i
                            for i, v in enumerate(self.t.sp_ids.tolist())}
            lookup = self._sp
        found = device_ranges(self.t, span.device_id, lookup)
        if found is not None:
            _, _, span.ami_lo, span.ami_hi, _ = found
            span.known = span.ami_hi > span.ami_lo


def score(truth: Mapping[str, Any], result: Mapping[str, Any], topology: Topology,
          ) -> dict[str, Any]:
    """Device precision/recall/F1, momentaries, false confirmations, nested, delays."""
    res = _Resolver(topology)
    trues: list[_Span] = []
    for o in truth.get("outages", []):
        span = _Span(o["id"], o["device_id"], o["device_type"], o.get("feeder_id", ""),
                     parse_iso_ms(o["started_at"]), parse_iso_ms(o["restored_at"]), raw=o)
        res.fill(span)
        trues.append(span)
    preds: list[_Span] = []
    for p in result.get("outages", []):
        start = _ms(p.get("started_at")) or _ms(p.get("predicted_at")) or 0
        end = _ms(p.get("confirmed_at")) or _ms(p.get("restored_at")) or _INF
        span = _Span(str(p.get("outage_id")), str(p.get("device_id")),
                     str(p.get("device_type")), str(p.get("feeder_id")), start, end, raw=p)
        res.fill(span)
        preds.append(span)

    sustained = [t for t in trues if not t.raw.get("momentary") and t.known]
    momentary = [t for t in trues if t.raw.get("momentary") and t.known]
    published = [p for p in preds if p.raw.get("status") in PUBLISHED]
    reported_momentary = [p for p in preds if p.raw.get("status") == "momentary"]
    by_true: dict[str, _Span] = {}

    # ---------------------------------------------------------- device matching
    taken: set[str] = set()
    for t in sorted(sustained, key=lambda s: (s.start, s.ident)):
        cands = [p for p in published if p.ident not in taken and p.same(t)
                 and p.overlaps(t.start, t.end)]
        if cands:
            best = max(cands, key=lambda p: (min(p.end, t.end) - max(p.start, t.start),
                                             -p.start))
            taken.add(best.ident)
            by_true[t.ident] = best
    cases: list[dict[str, Any]] = []
    counts = {"on_ancestor": 0, "on_descendant": 0, "duplicate": 0, "spurious": 0,
              "unknown_device": 0}
    for p in published:
        if p.ident in taken:
            continue
        near = [t for t in trues if t.overlaps(p.start, p.end)]
        if not p.known:
            what = "unknown_device"
        elif any(p.same(t) for t in near if not t.raw.get("momentary")):
            what = "duplicate"
        elif any(p.contains(t) for t in near):
            what = "on_ancestor"
        elif any(t.contains(p) for t in near):
            what = "on_descendant"
        else:
            what = "spurious"
        counts[what] += 1
        if what != "duplicate":
            related = [t for t in near if t.intersects(p)]
            cases.append({"problem": f"predicted_{what}", "outage_id": p.ident,
                          "device_id": p.device_id, "device_type": p.device_type,
                          "feeder_id": p.feeder_id, "status": p.raw.get("status"),
                          "true": [_brief_true(t) for t in related]})
    index = {t.ident: t for t in trues}
    missed = 0
    silent: list[_Span] = []
    for t in sustained:
        if t.ident in by_true:
            continue
        if _silent(t, index):
            silent.append(t)
            continue
        missed += 1
        related = [p for p in preds if p.intersects(t) and p.overlaps(t.start, t.end)]
        cases.append({"problem": "missed", **_brief_true(t),
                      "predicted": [_brief_pred(p) for p in related]})
    tp = len(by_true)
    n_true = len(sustained) - len(silent)
    precision = _ratio(tp, len(published))
    recall = _ratio(tp, n_true)
    f1 = round(2 * precision * recall / (precision + recall), 6) if precision + recall else 0.0

    # --------------------------------------------------------------- momentaries
    dispatched = 0
    as_momentary = 0
    for t in momentary:
        window_end = t.end + MOMENTARY_GRACE_MS
        rel = [p for p in preds if p.intersects(t) and t.start - 5_000 <= p.start <= window_end]
        if any(p.raw.get("status") in PUBLISHED for p in rel):
            dispatched += 1
            cases.append({"problem": "momentary_dispatched", **_brief_true(t),
                          "predicted": [_brief_pred(p) for p in rel]})
        if any(p.raw.get("status") == "momentary" for p in rel):
            as_momentary += 1
    false_momentary = 0
    for p in reported_momentary:
        if not any(p.intersects(t) and p.overlaps(t.start, t.end, MOMENTARY_GRACE_MS)
                   for t in momentary):
            false_momentary += 1
            cases.append({"problem": "false_momentary", **_brief_pred(p),
                          "true": [_brief_true(t) for t in trues
                                   if t.intersects(p) and t.overlaps(p.start, p.end)]})

    # ------------------------------------------------------ false confirmations
    false_conf = _false_confirmations(trues, preds, cases)

    # -------------------------------------------------------------------- nested
    nested = [t for t in sustained if t.raw.get("parent") in index]
    hidden = [t for t in nested if _hidden_nested(t, index)]
    nested = [t for t in nested if t not in hidden]
    found = found_with_parent = 0
    for t in nested:
        parent = index[str(t.raw["parent"])]
        hits = [p for p in published if p.same(t) and p.start <= t.end + OVERLAP_GRACE_MS
                and p.end > parent.end]
        if hits:
            found += 1
            found_with_parent += any(p.raw.get("parent_outage_id") for p in hits)
        else:
            cases.append({"problem": "nested_not_found", **_brief_true(t),
                          "parent": _brief_true(parent),
                          "predicted": [_brief_pred(p) for p in preds
                                        if p.intersects(t) and p.overlaps(t.start, t.end)]})

    # -------------------------------------------------------------------- delays
    to_first_gasp: list[float] = []
    to_start: list[float] = []
    to_confirm: list[float] = []
    unconfirmed = 0
    for t in sustained:
        p = by_true.get(t.ident)
        if p is None:
            continue
        predicted = _ms(p.raw.get("predicted_at"))
        first = _ms(t.raw.get("first_gasp_at"))
        if predicted is not None and t.raw.get("parent") is None:
            to_start.append((predicted - t.start) / 1000)
            if first is not None:
                to_first_gasp.append((predicted - first) / 1000)
        confirmed = _ms(p.raw.get("confirmed_at"))
        if confirmed is None:
            unconfirmed += 1
        else:
            to_confirm.append((confirmed - t.end) / 1000)

    events = truth.get("events", {})
    return {
        "sustained": {"true": n_true, "silent": len(silent),
                      "predicted": len(published), "matched": tp,
                      "precision": precision, "recall": recall, "f1": f1,
                      "missed": missed, **counts},
        "momentary": {"true": len(momentary), "dispatched": dispatched,
                      "not_dispatched": len(momentary) - dispatched,
                      "not_dispatched_fraction": _ratio(len(momentary) - dispatched,
                                                        len(momentary)),
                      "reported_momentary": as_momentary, "false_momentary": false_momentary},
        "false_confirmations": false_conf,
        "nested": {"true": len(nested), "found": found, "found_with_parent": found_with_parent,
                   "fraction": _ratio(found, len(nested)), "unobservable": len(hidden)},
        "delay_first_gasp_to_prediction_s": stats(to_first_gasp),
        "delay_start_to_prediction_s": stats(to_start),
        "delay_restoration_to_confirmation_s": stats(to_confirm),
        "unconfirmed": unconfirmed,
        "samples": {"first_gasp_to_prediction_s": to_first_gasp,
                    "start_to_prediction_s": to_start,
                    "restoration_to_confirmation_s": to_confirm},
        "events": {
            "expected": {k: events.get(k) for k in
                         ("accepted", "duplicate", "unknown_meter", "invalid")},
            "reported": dict(result.get("events", {})),
        },
        "invisible_true_outages": sum(1 for t in trues if not t.known),
        "cases": cases,
    }


def _false_confirmations(trues: list[_Span], preds: list[_Span],
                         cases: list[dict[str, Any]]) -> int:
    """Outages confirmed while one of their AMI meters was still dark and no other
    open outage held that meter.

    "Still" dark: by an interruption that began before the outage's restoration
    began. A meter that came back and went dark again later (a new interruption,
    say the next shot of a recloser, or an outage whose every last gasp was lost)
    is a new outage's customer, not one this confirmation left in the dark.
    """
    shots: list[tuple[int, int, _Span]] = []
    for t in trues:
        for s, e in t.raw.get("shots") or [[t.raw["started_at"], t.raw["restored_at"]]]:
            shots.append((parse_iso_ms(s), parse_iso_ms(e), t))
    bad = 0
    for p in preds:
        confirmed = _ms(p.raw.get("confirmed_at"))
        if confirmed is None or not p.known:
            continue
        width = p.ami_hi - p.ami_lo
        dark = np.zeros(width, dtype=bool)
        culprits: list[_Span] = []
        back = _ms(p.raw.get("restored_at"))
        began_by = confirmed if back is None else min(back, confirmed)
        for s, e, t in shots:
            if s <= began_by and s <= confirmed < e and t.intersects(p):
                dark[max(t.ami_lo, p.ami_lo) - p.ami_lo:min(t.ami_hi, p.ami_hi) - p.ami_lo] = True
                culprits.append(t)
        if not dark.any():
            continue
        for q in preds:
            if q is p or not q.intersects(p) or q.raw.get("status") == "momentary":
                continue
            child = q.raw.get("parent_outage_id") == p.ident
            if (child or q.start <= confirmed + COVER_GRACE_MS) and confirmed < q.end:
                dark[max(q.ami_lo, p.ami_lo) - p.ami_lo:min(q.ami_hi, p.ami_hi) - p.ami_lo] = False
        if dark.any():
            bad += 1
            cases.append({"problem": "false_confirmation", **_brief_pred(p),
                          "dark_meters": int(dark.sum()),
                          "true": [_brief_true(t) for t in culprits]})
    return bad


def _silent(t: _Span, index: Mapping[str, _Span]) -> bool:
    """An outage AMI cannot see (left out of recall unless something predicted it
    anyway): one of its own whose every last gasp was lost (AMI never saw it start),
    or a nested one that :func:`_hidden_nested` rules out."""
    if t.raw.get("parent") is None:
        return bool(t.raw.get("gasps_delivered", 1) == 0)
    return _hidden_nested(t, index)


def _hidden_nested(t: _Span, index: Mapping[str, _Span]) -> bool:
    """A nested outage AMI cannot tell from its parent: one AMI meter whose restore
    was lost (it looks like a lost restore of its parent, which must just stay
    unconfirmed), or a parent whose every own restore was lost (AMI never saw the
    parent come back before the nested one, so they look like one longer outage)."""
    if t.ami_hi - t.ami_lo == 1 and t.raw.get("restores_delivered", 1) == 0:
        return True
    parent = index.get(str(t.raw.get("parent")))
    return parent is not None and parent.raw.get("restores_delivered", 1) == 0


def _brief_true(t: _Span) -> dict[str, Any]:
    return {"true_id": t.ident, "device_id": t.device_id, "device_type": t.device_type,
            "feeder_id": t.feeder_id, "started_at": t.raw.get("started_at"),
            "restored_at": t.raw.get("restored_at"), "momentary": t.raw.get("momentary"),
            "ami_meters": t.ami_hi - t.ami_lo}


def _brief_pred(p: _Span) -> dict[str, Any]:
    return {"outage_id": p.ident, "device_id": p.device_id, "device_type": p.device_type,
            "status": p.raw.get("status"), "started_at": p.raw.get("started_at"),
            "predicted_at": p.raw.get("predicted_at"), "confirmed_at": p.raw.get("confirmed_at"),
            "parent_outage_id": p.raw.get("parent_outage_id"), "ami_meters": p.ami_hi - p.ami_lo}


def check_targets(result: Mapping[str, Any], hold_window_s: float) -> list[str]:
    """Targets missed by a :func:`score` result (empty when all are met)."""
    missed: list[str] = []
    f1 = float(result["sustained"]["f1"])
    if f1 < TARGETS["device_f1"]:
        missed.append(f"device F1 {f1:.3f} < {TARGETS['device_f1']}")
    if result["false_confirmations"] > TARGETS["false_confirmations"]:
        missed.append(f"{result['false_confirmations']} false restoration confirmation(s)")
    nested = float(result["nested"]["fraction"])
    if nested < TARGETS["nested_found"]:
        missed.append(f"nested found {nested:.3f} < {TARGETS['nested_found']}")
    mom = float(result["momentary"]["not_dispatched_fraction"])
    if mom < TARGETS["momentary_not_dispatched"]:
        missed.append(f"momentaries not dispatched {mom:.3f} < "
                      f"{TARGETS['momentary_not_dispatched']}")
    median = result["delay_first_gasp_to_prediction_s"]["median"]
    limit = hold_window_s + TARGETS["first_gasp_to_prediction_slack_s"]
    if median is not None and (math.isnan(median) or median > limit):
        missed.append(f"median first gasp to prediction {median:.1f} s > {limit:.1f} s")
    return missed


def combine(scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pool several :func:`score` results (storms, seeds) into one."""
    sus: dict[str, Any] = {}
    for key in ("true", "silent", "predicted", "matched", "missed", "on_ancestor",
                "on_descendant", "duplicate", "spurious", "unknown_device"):
        sus[key] = sum(int(s["sustained"][key]) for s in scores)
    precision = _ratio(sus["matched"], sus["predicted"])
    recall = _ratio(sus["matched"], sus["true"])
    sus["precision"], sus["recall"] = precision, recall
    sus["f1"] = round(2 * precision * recall / (precision + recall), 6) if (
        precision + recall) else 0.0
    mom: dict[str, float] = {k: sum(int(s["momentary"][k]) for s in scores)
           for k in ("true", "dispatched", "not_dispatched", "reported_momentary",
                     "false_momentary")}
    mom["not_dispatched_fraction"] = _ratio(int(mom["not_dispatched"]), int(mom["true"]))
    nested: dict[str, float] = {k: sum(int(s["nested"][k]) for s in scores)
              for k in ("true", "found", "found_with_parent", "unobservable")}
    nested["fraction"] = _ratio(int(nested["found"]), int(nested["true"]))
    samples = {k: [v for s in scores for v in s["samples"][k]]
               for k in ("first_gasp_to_prediction_s", "start_to_prediction_s",
                         "restoration_to_confirmation_s")}
    return {
        "sustained": sus,
        "momentary": mom,
        "false_confirmations": sum(int(s["false_confirmations"]) for s in scores),
        "nested": nested,
        "delay_first_gasp_to_prediction_s": stats(samples["first_gasp_to_prediction_s"]),
        "delay_start_to_prediction_s": stats(samples["start_to_prediction_s"]),
        "delay_restoration_to_confirmation_s": stats(samples["restoration_to_confirmation_s"]),
        "unconfirmed": sum(int(s["unconfirmed"]) for s in scores),
        "samples": samples,
        "invisible_true_outages": sum(int(s["invisible_true_outages"]) for s in scores),
        "cases": [c for s in scores for c in s["cases"]],
    }
