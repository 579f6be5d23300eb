"""``oms-bridge simulate``: write a realistic storm (events JSONL and its truth)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import numpy as np

from oms_bridge.errors import ConfigError
from oms_bridge.sim.load import load_topology
from oms_bridge.sim.params import StormParams
from oms_bridge.sim.scenario import generate
from oms_bridge.sim.writer import write_events, write_truth

NAME = "simulate"
HELP = "simulate a storm over a topology: meter events (JSONL) plus the truth behind them"


def _start(text: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topology", required=True, metavar="EXPORT",
                        help="GIS export folder, .zip or .gpkg, or a compiled .npz topology")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out-events", required=True, metavar="EVENTS.jsonl")
    parser.add_argument("--out-truth", required=True, metavar="TRUTH.json")
    parser.add_argument("--delivery", type=float, default=0.5,
                        help="chance a last gasp reaches the head end (default 0.5)")
    parser.add_argument("--restore-delivery", type=float, default=0.9,
                        help="chance a power-restored event reaches it (default 0.9)")
    parser.add_argument("--duration-h", type=float, default=6.0, help="storm length, hours")
    parser.add_argument("--outages", type=int, default=30,
                        help="sustained outages placed (nested ones come on top)")
    parser.add_argument("--momentaries", type=int, default=None,
                        help="momentary interruptions (default: a third of --outages)")
    parser.add_argument("--start", type=_start, default=datetime(2026, 11, 26, 7, tzinfo=UTC),
                        help="storm start, ISO 8601 (default 2026-11-26T07:00:00Z)")
    parser.add_argument("--nested-probability", type=float, default=0.35)
    parser.add_argument("--late-fraction", type=float, default=0.02)
    parser.add_argument("--duplicate-fraction", type=float, default=0.02)
    parser.add_argument("--unknown-fraction", type=float, default=0.005)
    parser.add_argument("--malformed-fraction", type=float, default=0.002)
    parser.add_argument("--momentary-window-s", type=float, default=60.0)
    parser.add_argument("--no-ids", action="store_true",
                        help="leave the affected service point and meter ids out of the truth")


def run(args: argparse.Namespace) -> int:
    for name in ("delivery", "restore_delivery", "nested_probability", "late_fraction",
                 "duplicate_fraction", "unknown_fraction", "malformed_fraction"):
        value = getattr(args, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"must be within 0..1, got {value}", key=name.replace("_", "-"))
    topology = load_topology(args.topology)
    params = StormParams(
        start=args.start, duration_h=args.duration_h, outages=args.outages,
        momentaries=args.momentaries, delivery=args.delivery,
        restore_delivery=args.restore_delivery, nested_probability=args.nested_probability,
        late_fraction=args.late_fraction, duplicate_fraction=args.duplicate_fraction,
        unknown_meter_fraction=args.unknown_fraction,
        malformed_fraction=args.malformed_fraction,
        momentary_window_s=args.momentary_window_s,
    )
    scenario = generate(topology, np.random.default_rng(args.seed), params, seed=args.seed)
    write_truth(args.out_truth, scenario, with_ids=not args.no_ids)
    lines = write_events(args.out_events, scenario)
    truth = scenario.truth
    print(f"{len(truth.outages)} true outages "
          f"({sum(o.momentary for o in truth.outages)} momentary, "
          f"{sum(o.parent is not None for o in truth.outages)} nested); "
          f"{lines} event lines -> {args.out_events}; truth -> {args.out_truth}")
    return 0
