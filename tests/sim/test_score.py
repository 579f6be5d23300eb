"""The scorer on hand-made truths and predictions: exact expected numbers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_bridge.core.topology import Topology
from oms_bridge.sim.fixtures import storm_feeder
from oms_bridge.sim.score import check_targets, score
from oms_bridge.sim.truth import iso_ms

T0 = 1_795_676_400_000  # 2026-11-26T07:00:00Z
TOPO = storm_feeder()


def at(minutes: float) -> str:
    return iso_ms(T0 + round(minutes * 60_000))


def true(ident: str, device: str, start: float, end: float, *, momentary: bool = False,
         parent: str | None = None, kind: str = "fuse") -> dict[str, Any]:
    return {"id": ident, "device_id": device, "device_type": kind, "feeder_id": "FDR-S1",
            "started_at": at(start), "restored_at": at(end), "momentary": momentary,
            "parent": parent, "first_gasp_at": at(start + 0.01)}


def pred(ident: str, device: str, start: float, *, status: str = "restored",
         confirmed: float | None = None, predicted: float | None = None,
         parent: str | None = None) -> dict[str, Any]:
    return {"outage_id": ident, "device_id": device, "device_type": "fuse",
            "feeder_id": "FDR-S1", "status": status, "started_at": at(start),
            "restored_at": None if confirmed is None else at(confirmed),
            "confirmed_at": None if confirmed is None else at(confirmed),
            "predicted_at": at(start + 1 if predicted is None else predicted),
            "meters_affected": 1, "meters_reporting": 1, "confidence": 0.9,
            "parent_outage_id": parent}


# A recloser out 10..70 min with a transformer below it still out until 100;
# a fuse on the other feeder 20..80; a sectionalizer momentary at 200.
TRUTH = [
    true("T1", "REC-S01", 10, 70, kind="recloser"),
    true("T2", "XFMR-S015", 10, 100, parent="T1", kind="transformer"),
    true("T3", "FUSE-S08", 20, 80),
    true("T4", "SEC-S01", 200, 200.3, momentary=True, kind="sectionalizer"),
]
PERFECT = [
    pred("P1", "REC-S01", 10, confirmed=70.1),
    pred("P2", "XFMR-S015", 70.05, confirmed=100.1, parent="P1"),
    pred("P3", "FUSE-S08", 20, confirmed=80.1),
    pred("P4", "SEC-S01", 200, status="momentary", confirmed=200.31),
]


def run(truth: list[dict[str, Any]], preds: list[dict[str, Any]],
        topo: Topology = TOPO) -> dict[str, Any]:
    return score({"outages": truth}, {"outages": preds}, topo)


def test_perfect_prediction() -> None:
    s = run(TRUTH, PERFECT)
    assert (s["sustained"]["precision"], s["sustained"]["recall"], s["sustained"]["f1"]) == (
        1.0, 1.0, 1.0)
    assert s["false_confirmations"] == 0
    assert s["nested"] == {"true": 1, "found": 1, "found_with_parent": 1, "fraction": 1.0,
                           "unobservable": 0}
    assert s["momentary"]["not_dispatched_fraction"] == 1.0
    assert s["momentary"]["reported_momentary"] == 1
    assert s["delay_first_gasp_to_prediction_s"]["median"] == pytest.approx(59.4)
    assert s["delay_restoration_to_confirmation_s"]["median"] == pytest.approx(6.0)
    assert s["cases"] == []
    assert check_targets(s, hold_window_s=60.0) == []


def _swap(preds: list[dict[str, Any]], ident: str, **changes: Any) -> list[dict[str, Any]]:
    return [p | changes if p["outage_id"] == ident else p for p in preds]


CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    ("on ancestor", _swap(PERFECT, "P3", device_id="BRK-S2"),
     {"precision": 0.666667, "recall": 0.666667, "on_ancestor": 1, "missed": 1}),
    ("on descendant", _swap(PERFECT, "P3", device_id="XFMR-S030"),
     {"precision": 0.666667, "recall": 0.666667, "on_descendant": 1, "missed": 1}),
    ("missing", PERFECT[:2] + PERFECT[3:], {"precision": 1.0, "recall": 0.666667,
                                          "f1": 0.8, "missed": 1}),
    ("spurious", [*PERFECT, pred("P9", "FUSE-S04", 300, confirmed=330)],
     {"precision": 0.75, "recall": 1.0, "spurious": 1}),
    ("duplicate", [*PERFECT, pred("P9", "FUSE-S08", 50, confirmed=80.2)],
     {"precision": 0.75, "duplicate": 1}),
    ("time does not overlap", _swap(PERFECT, "P3", started_at=at(300)),
     {"recall": 0.666667, "spurious": 1}),
    ("unknown device", _swap(PERFECT, "P3", device_id="NOPE"),
     {"unknown_device": 1, "missed": 1}),
]


@pytest.mark.parametrize(("name", "preds", "expected"), CASES, ids=[c[0] for c in CASES])
def test_device_matching(name: str, preds: list[dict[str, Any]],
                         expected: dict[str, Any]) -> None:
    assert {k: run(TRUTH, preds)["sustained"][k] for k in expected} == expected


def test_fuse_over_a_single_transformer_is_equivalent() -> None:
    truth = [true("T1", "FUSE-S06", 10, 50)]
    s = run(truth, [pred("P1", "XFMR-S024", 10, confirmed=50.1)])
    assert s["sustained"]["f1"] == 1.0


def test_service_point_equivalent_to_its_single_meter_transformer() -> None:
    truth = [true("T1", "SP-S0027", 10, 50, kind="service_point")]
    s = run(truth, [pred("P1", "XFMR-S008", 10, confirmed=50.1)])
    assert s["sustained"]["f1"] == 1.0


def test_nested_child_never_split_off_is_a_false_confirmation() -> None:
    preds = [pred("P1", "REC-S01", 10, confirmed=70.1), PERFECT[2], PERFECT[3]]
    s = run(TRUTH, preds)
    assert s["false_confirmations"] == 1
    assert s["nested"]["found"] == 0
    case = next(c for c in s["cases"] if c["problem"] == "false_confirmation")
    assert case["device_id"] == "REC-S01" and case["dark_meters"] == 4


def test_nested_found_without_parent_id() -> None:
    preds = _swap(PERFECT, "P2", parent_outage_id=None)
    s = run(TRUTH, preds)
    assert s["nested"] == {"true": 1, "found": 1, "found_with_parent": 0, "fraction": 1.0,
                           "unobservable": 0}
    assert s["false_confirmations"] == 0


def test_what_ami_cannot_see_is_left_out() -> None:
    # every last gasp of the fuse outage lost: left out of recall unless predicted
    truth = [*TRUTH[:2], TRUTH[2] | {"gasps_delivered": 0}, TRUTH[3]]
    s = run(truth, [p for p in PERFECT if p["outage_id"] != "P3"])
    assert (s["sustained"]["true"], s["sustained"]["silent"], s["sustained"]["recall"]) == (
        2, 1, 1.0)
    assert run(truth, PERFECT)["sustained"]["true"] == 3
    # a one-meter nested outage whose restore was lost looks like a lost restore
    truth = [TRUTH[0], true("T2", "SP-S0046", 10, 100, parent="T1", kind="service_point")
             | {"restores_delivered": 0}]
    s = run(truth, [PERFECT[0] | {"confirmed_at": None}])
    assert s["nested"]["true"] == 0 and s["nested"]["unobservable"] == 1
    assert s["false_confirmations"] == 0
    # ... and for the device figures too: not a miss
    assert (s["sustained"]["true"], s["sustained"]["silent"], s["sustained"]["recall"]) == (
        1, 1, 1.0)
    # a parent whose own restores were all lost: AMI saw it come back only with
    # the nested outage, as one longer outage
    truth = [TRUTH[0] | {"restores_delivered": 0}, TRUTH[1]]
    s = run(truth, [PERFECT[0] | {"restored_at": at(100.1), "confirmed_at": at(100.1)}])
    assert s["nested"]["true"] == 0 and s["nested"]["unobservable"] == 1
    assert s["sustained"]["recall"] == 1.0 and s["false_confirmations"] == 0


def test_stuck_meter_after_a_momentary_does_not_dispatch_later_momentaries() -> None:
    truth = [TRUTH[3], true("T5", "SEC-S01", 260, 260.2, momentary=True,
                            kind="sectionalizer")]
    preds = [PERFECT[3], pred("P5", "SP-S0062", 200.01, status="active")]
    s = run(truth, preds)
    assert s["momentary"]["dispatched"] == 1
    assert s["momentary"]["not_dispatched"] == 1


def test_confirmed_while_still_dark() -> None:
    s = run(TRUTH, _swap(PERFECT, "P3", confirmed_at=at(79)))
    assert s["false_confirmations"] == 1
    assert s["delay_restoration_to_confirmation_s"]["n"] == 3


def test_dark_again_in_a_new_interruption_is_no_false_confirmation() -> None:
    # the fuse came back at 80 and its last straggler was vouched for at 95, while a
    # new interruption (begun at 90, after the restoration) held part of it dark
    truth = [TRUTH[2], true("T6", "BRK-S2", 90, 90.4, momentary=True, kind="breaker")]
    late = _swap([PERFECT[2]], "P3", restored_at=at(80.1), confirmed_at=at(90.2))
    assert run(truth, late)["false_confirmations"] == 0
    # begun before the restoration: still dark, so a false confirmation
    truth[1] = true("T6", "XFMR-S030", 60, 95, kind="transformer")
    assert run(truth, late)["false_confirmations"] == 1


def test_momentary_dispatched_and_false_momentary() -> None:
    preds = _swap(PERFECT, "P4", status="active")
    s = run(TRUTH, preds)
    assert s["momentary"]["not_dispatched_fraction"] == 0.0
    assert s["sustained"]["precision"] == 0.75
    preds = _swap(PERFECT, "P3", status="momentary")
    s = run(TRUTH, preds)
    assert s["momentary"]["false_momentary"] == 1
    assert s["sustained"]["recall"] == pytest.approx(0.666667)
    assert any("momentaries" in m for m in check_targets(
        run(TRUTH, _swap(PERFECT, "P4", status="active")), 60.0))


def test_slow_prediction_misses_the_target() -> None:
    preds = _swap(PERFECT, "P1", predicted_at=at(13))
    preds = _swap(preds, "P3", predicted_at=at(23))
    s = run(TRUTH, preds)
    assert s["delay_first_gasp_to_prediction_s"]["median"] == pytest.approx(179.4)
    assert any("first gasp" in m for m in check_targets(s, 60.0))


# ------------------------------------------------------------------ invariants
DEVICES = [TOPO.node_id(n) for n in range(TOPO.n_nodes)
           if TOPO.node_kind_of(n).value not in ("source", "switch") and TOPO.ami_count(n)]


@st.composite
def storms(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 8))
    out = []
    for i in range(n):
        start = draw(st.integers(0, 600))
        out.append(true(f"T{i}", draw(st.sampled_from(DEVICES)), start,
                        start + draw(st.integers(12, 200))))
    return out


def _perfect(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [pred(f"P{t['id']}", t["device_id"], 0, confirmed=None) | {
        "started_at": t["started_at"], "restored_at": t["restored_at"],
        "confirmed_at": None, "status": "active"} for t in truth]


@settings(max_examples=60, deadline=None)
@given(storms(), st.data())
def test_scores_stay_in_range(truth: list[dict[str, Any]], data: st.DataObject) -> None:
    preds = _perfect(truth)
    keep = data.draw(st.lists(st.booleans(), min_size=len(preds), max_size=len(preds)))
    moved = data.draw(st.lists(st.sampled_from(DEVICES), min_size=len(preds),
                               max_size=len(preds)))
    flip = data.draw(st.lists(st.booleans(), min_size=len(preds), max_size=len(preds)))
    mixed = [p | ({"device_id": m} if f else {}) for p, k, m, f in
             zip(preds, keep, moved, flip, strict=True) if k]
    s = run(truth, mixed)["sustained"]
    for key in ("precision", "recall", "f1"):
        assert 0.0 <= s[key] <= 1.0
    assert s["matched"] <= min(s["true"], s["predicted"])
    assert s["matched"] + s["missed"] == s["true"]
    assert s["predicted"] == s["matched"] + sum(
        s[k] for k in ("on_ancestor", "on_descendant", "duplicate", "spurious", "unknown_device"))


@settings(max_examples=40, deadline=None)
@given(storms())
def test_perfect_prediction_scores_one(truth: list[dict[str, Any]]) -> None:
    # identical devices overlapping in time are one outage to AMI: keep them apart
    s = run(truth, _perfect(truth))["sustained"]
    assert s["precision"] == 1.0 and s["recall"] == 1.0 and s["f1"] == 1.0
