"""Accuracy benchmark: simulate storms, replay them through the engine, score.

    python bench/accuracy.py [--check] [--seeds 3] [--outages 40] [--no-sweep]

For every feeder of ``../shared/feeders`` (skipped with a message when absent)
and the project's own fixtures (the demo export when present, the hand-made
storm feeder, a synthetic feeder), simulate storms at last-gasp delivery 0.5,
replay each through ``oms_bridge.core.replay.replay`` and print a table per
feeder. Then sweep device F1 against delivery 0.1..0.9 and save
``bench/out/accuracy_sweep.csv`` and ``bench/out/accuracy_sweep.png``.
With ``--check`` the exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from oms_bridge.core.topology import Topology
from oms_bridge.settings import EngineSettings
from oms_bridge.sim.fixtures import storm_feeder, synthetic_utility
from oms_bridge.sim.load import load_topology
from oms_bridge.sim.params import StormParams
from oms_bridge.sim.scenario import generate
from oms_bridge.sim.score import TARGETS, check_targets, combine, score

REPO = Path(__file__).resolve().parents[1]
SHARED_FEEDERS = REPO.parent / "shared" / "feeders"
OUT = REPO / "bench" / "out"
OWN_FIXTURES = ("demo", "storm-fixture", "synthetic-20k")
DELIVERIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def feeders(shared: Path) -> list[tuple[str, Callable[[], Topology]]]:
    out: list[tuple[str, Callable[[], Topology]]] = []
    if shared.is_dir():
        for folder in sorted(p for p in shared.iterdir() if (p / "ServicePoint.geojson").is_file()):
            out.append((folder.name, functools.partial(load_topology, folder)))
    else:
        print(f"note: {shared} is absent: shared feeders skipped", file=sys.stderr)
    demo = REPO / "oms_bridge" / "demo"
    demo_export = next((p.parent for p in demo.rglob("ServicePoint.geojson")), None) if (
        demo.is_dir()) else None
    if demo_export is not None:
        out.append(("demo", lambda: load_topology(demo_export)))
    out.append(("storm-fixture", storm_feeder))
    out.append(("synthetic-20k",
                lambda: synthetic_utility(20_000, np.random.default_rng(1), sp_per_feeder=5_000)))
    return out


def replay(topology: Topology, lines: Iterable[str], settings: EngineSettings) -> dict[str, Any]:
    """The contract section 6 result of the engine for these JSONL lines."""
    engine = importlib.import_module("oms_bridge.core.replay")
    result: dict[str, Any] = engine.replay(topology, lines, settings)
    return result


def storm(topology: Topology, seed: int, params: StormParams,
          settings: EngineSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    scenario = generate(topology, np.random.default_rng(seed), params, seed=seed)
    truth = orjson.loads(orjson.dumps(scenario.truth.to_dict()))
    result = replay(topology, scenario.lines(), settings)
    return truth, result


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def row(name: str, s: dict[str, Any], events_ok: bool) -> list[str]:
    sus, mom, nes = s["sustained"], s["momentary"], s["nested"]
    d1, d2, d3 = (s["delay_first_gasp_to_prediction_s"], s["delay_start_to_prediction_s"],
                  s["delay_restoration_to_confirmation_s"])
    return [name, str(sus["true"]), str(sus["predicted"]), _fmt(sus["precision"]),
            _fmt(sus["recall"]), _fmt(sus["f1"]), str(sus["on_ancestor"]),
            str(sus["on_descendant"]), str(sus["spurious"] + sus["duplicate"]),
            f"{mom['not_dispatched']}/{mom['true']}", str(mom["false_momentary"]),
            str(s["false_confirmations"]), f"{nes['found']}/{nes['true']}",
            f"{_fmt(d1['median'], '.1f')}/{_fmt(d1['p90'], '.1f')}",
            f"{_fmt(d2['median'], '.1f')}/{_fmt(d2['p90'], '.1f')}",
            f"{_fmt(d3['median'], '.1f')}/{_fmt(d3['p90'], '.1f')}",
            str(s["unconfirmed"]), "ok" if events_ok else "MISMATCH"]


HEADER = ["feeder", "true", "pred", "prec", "recall", "F1", "anc", "desc", "fp",
          "mom ok", "false mom", "false conf", "nested", "gasp->pred s med/p90",
          "start->pred", "restore->confirm", "unconf", "event counts"]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    for r in [HEADER, *rows]:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def events_match(truth: dict[str, Any], result: dict[str, Any]) -> bool:
    got = result.get("events", {})
    return all(got.get(k) == truth["events"][k]
               for k in ("accepted", "duplicate", "unknown_meter", "invalid"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--seeds", type=int, default=3, help="storms per feeder (default 3)")
    ap.add_argument("--outages", type=int, default=40, help="sustained outages per storm")
    ap.add_argument("--delivery", type=float, default=0.5)
    ap.add_argument("--sweep-seeds", type=int, default=2)
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--feeders", type=Path, default=SHARED_FEEDERS)
    ap.add_argument("--cases", type=Path, default=OUT / "accuracy_cases.json",
                    help="where to write every scoring failure case")
    args = ap.parse_args(argv)
    try:
        importlib.import_module("oms_bridge.core.replay")
    except ModuleNotFoundError:
        print("oms_bridge.core.replay is not available yet: nothing to replay", file=sys.stderr)
        return 2
    settings = EngineSettings()
    OUT.mkdir(parents=True, exist_ok=True)
    params = StormParams(outages=args.outages, delivery=args.delivery,
                         momentary_window_s=settings.momentary_s)
    rows: list[list[str]] = []
    failures: dict[str, list[str]] = {}
    all_cases: dict[str, Any] = {}
    topologies: dict[str, Topology] = {}
    shared_scores: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for name, load in feeders(args.feeders):
        topo = topologies[name] = load()
        scores, ok = [], True
        for seed in range(args.seeds):
            truth, result = storm(topo, seed, params, settings)
            scores.append(score(truth, result, topo))
            ok &= events_match(truth, result)
        pooled = combine(scores)
        if name not in OWN_FIXTURES:
            shared_scores.append(pooled)
        rows.append(row(name, pooled, ok))
        missed = check_targets(pooled, settings.hold_window_s)
        if not ok:
            missed.append("event counts differ from the truth")
        if missed:
            failures[name] = missed
        all_cases[name] = pooled["cases"]
    if shared_scores:
        rows.append(row("ALL shared", combine(shared_scores), True))
    print(f"\nAccuracy at last-gasp delivery {args.delivery} ({args.seeds} storms per feeder, "
          f"{args.outages} sustained outages each, hold {settings.hold_window_s:g} s, "
          f"momentary {settings.momentary_s:g} s)\n")
    print_table(rows)
    print("\nmom ok: true momentaries never dispatched; nested: true nested outages found;"
          " delays in seconds (median/p90)")
    print(f"targets: F1 >= {TARGETS['device_f1']}, false conf = 0, nested >= "
          f"{TARGETS['nested_found']}, momentaries >= {TARGETS['momentary_not_dispatched']}, "
          f"gasp->pred median <= {settings.hold_window_s + 5:g} s")
    args.cases.write_bytes(orjson.dumps(all_cases, option=orjson.OPT_INDENT_2))
    print(f"failure cases -> {args.cases}")
    for name, missed in failures.items():
        print(f"  MISSED {name}: " + "; ".join(missed))
    if not args.no_sweep:
        sweep(topologies, settings, params, args.sweep_seeds)
    print(f"\n({time.perf_counter() - t_start:.0f} s)")
    return 1 if args.check and failures else 0


def sweep(topologies: dict[str, Topology], settings: EngineSettings, params: StormParams,
          seeds: int) -> None:
    csv_path, png_path = OUT / "accuracy_sweep.csv", OUT / "accuracy_sweep.png"
    rows: list[dict[str, Any]] = []
    for name, topo in topologies.items():
        for delivery in DELIVERIES:
            scores = []
            for seed in range(seeds):
                truth, result = storm(topo, 1000 + seed, replace(params, delivery=delivery),
                                      settings)
                scores.append(score(truth, result, topo))
            s = combine(scores)
            rows.append({"feeder": name, "delivery": delivery, "storms": seeds,
                         "true": s["sustained"]["true"], "f1": s["sustained"]["f1"],
                         "precision": s["sustained"]["precision"],
                         "recall": s["sustained"]["recall"],
                         "false_confirmations": s["false_confirmations"],
                         "nested_found": s["nested"]["fraction"],
                         "momentary_not_dispatched": s["momentary"]["not_dispatched_fraction"],
                         "median_gasp_to_prediction_s":
                             s["delay_first_gasp_to_prediction_s"]["median"]})
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nF1 against last-gasp delivery -> {csv_path}")
    names = list(topologies)
    print("delivery  " + "  ".join(n.rjust(13) for n in names))
    for delivery in DELIVERIES:
        vals = {r["feeder"]: r["f1"] for r in rows if r["delivery"] == delivery}
        print(f"{delivery:8.1f}  " + "  ".join(f"{vals[n]:13.3f}" for n in names))
    import matplotlib  # noqa: PLC0415  (only the sweep needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in names:
        pts = [(r["delivery"], r["f1"]) for r in rows if r["feeder"] == name]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.axhline(TARGETS["device_f1"], color="grey", linestyle="--", linewidth=1,
               label=f"target {TARGETS['device_f1']}")
    ax.set_xlabel("last-gasp delivery probability")
    ax.set_ylabel("device F1 (sustained outages)")
    ax.set_ylim(0, 1.02)
    ax.set_title("oms-bridge outage inference: F1 vs last-gasp delivery")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    print(f"plot -> {png_path}")


if __name__ == "__main__":
    sys.exit(main())
