"""Replay throughput: a utility-scale storm through the whole engine vs bare orjson.

    python bench/replay.py [--events 2000000] [--meters 1000000] [--workdir bench/out/replay]

1. In a child process (so its memory does not count): build a utility-scale
   topology straight from arrays (``oms_bridge.sim.fixtures.synthetic_utility``:
   200 feeders of 5,000 AMI meters, breaker, two reclosers, fuses,
   transformers; no GIS export, which is faster and enough for a replay) and
   simulate a storm over it, writing the compiled topology (``.npz``) and the
   first ``--events`` lines of the storm (JSONL, arrival order).
2. In this process: time merely parsing every line with ``orjson.loads``
   (reference), then the full replay (parse + normalise + engine + flush) via
   ``oms_bridge.core.replay.replay``; print events/s for both, their ratio
   (target >= 0.30) and the peak resident memory of this process (target < 2 GB).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.30
TARGET_RSS_BYTES = 2 * 1024**3


def generate(workdir: Path, n_events: int, n_meters: int, seed: int) -> None:
    """Child-process half: topology image plus the events file."""
    from oms_bridge.sim.fixtures import synthetic_utility  # noqa: PLC0415
    from oms_bridge.sim.params import StormParams  # noqa: PLC0415
    from oms_bridge.sim.scenario import generate as simulate  # noqa: PLC0415

    t0 = time.perf_counter()
    topo = synthetic_utility(n_meters, np.random.default_rng(seed))
    (workdir / "topology.npz").write_bytes(topo.to_bytes())
    print(f"  topology: {topo.n_service_points:,} service points, {topo.n_ami:,} AMI, "
          f"{topo.n_nodes:,} devices, {len(topo.feeder_ids)} feeders "
          f"({time.perf_counter() - t0:.1f} s)")
    outages = max(10, n_events // 400)
    for _ in range(4):
        t0 = time.perf_counter()
        params = StormParams(outages=outages, momentaries=max(5, outages // 40),
                             duration_h=12.0)
        scenario = simulate(topo, np.random.default_rng(seed), params, seed=seed)
        n = len(scenario.events)
        print(f"  storm: {len(scenario.truth.outages):,} true outages -> {n:,} lines "
              f"({time.perf_counter() - t0:.1f} s)")
        if n >= n_events:
            break
        outages = int(outages * n_events / max(n, 1) * 1.1)
    written = 0
    with (workdir / "events.jsonl").open("w") as fh:
        batch: list[str] = []
        for line in scenario.lines():
            batch.append(line)
            written += 1
            if len(batch) == 100_000 or written == n_events:
                fh.write("\n".join(batch) + "\n")
                batch.clear()
            if written == n_events:
                break
        if batch:
            fh.write("\n".join(batch) + "\n")
    print(f"  wrote {written:,} lines")


def parse_only(path: Path) -> tuple[int, float, float]:
    """Lines parsed, wall and CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    loads = orjson.loads
    with path.open("rb") as fh:
        for line in fh:
            with contextlib.suppress(orjson.JSONDecodeError):
                loads(line)
            n += 1
    return n, time.perf_counter() - t0, time.process_time() - c0


def full_replay(topo: Any, path: Path) -> tuple[dict[str, Any], float, float]:
    """The result, wall and CPU seconds."""
    engine = importlib.import_module("oms_bridge.core.replay")
    settings_mod = importlib.import_module("oms_bridge.settings")
    t0, c0 = time.perf_counter(), time.process_time()
    with path.open("rb") as fh:
        result: dict[str, Any] = engine.replay(topo, fh, settings_mod.EngineSettings())
    return result, time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--meters", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=REPO / "bench" / "out" / "replay")
    ap.add_argument("--reuse", action="store_true", help="reuse files from an earlier run")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.generate_only:
        generate(args.workdir, args.events, args.meters, args.seed)
        return 0
    events = args.workdir / "events.jsonl"
    if not (args.reuse and events.is_file()):
        print(f"generating {args.events:,} events over {args.meters:,} meters (child process)")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate-only", "--events",
                        str(args.events), "--meters", str(args.meters), "--seed",
                        str(args.seed), "--workdir", str(args.workdir)], check=True)
        print(f"  ({time.perf_counter() - t0:.1f} s)")
    from oms_bridge.core.topology import Topology  # noqa: PLC0415

    topo = Topology.from_bytes((args.workdir / "topology.npz").read_bytes())
    print(f"events file: {events.stat().st_size / 1e6:.0f} MB; topology arrays "
          f"{topo.nbytes / 1e6:.0f} MB")
    n, t_parse, c_parse = parse_only(events)
    print(f"orjson parse only : {n:>10,} lines in {t_parse:6.2f} s = {n / t_parse:>10,.0f} /s"
          f"  (CPU {c_parse:6.2f} s)")
    try:
        result, t_full, c_full = full_replay(topo, events)
    except ModuleNotFoundError as exc:
        print(f"engine not available ({exc}); nothing more to measure")
        return 2
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    ratio = (n / t_full) / (n / t_parse)
    print(f"full replay       : {n:>10,} lines in {t_full:6.2f} s = {n / t_full:>10,.0f} /s"
          f"  (CPU {c_full:6.2f} s)")
    print(f"ratio replay/parse: {ratio:.3f} (target >= {TARGET_RATIO}); "
          f"in CPU time {c_parse / c_full:.3f} (steadier on a busy machine)")
    print(f"peak RSS          : {rss / 1024**2:,.0f} MB "
          f"(target < {TARGET_RSS_BYTES / 1024**3:.0f} GB)")
    counts = result.get("events", {})
    print(f"engine counted    : {counts}; outages {len(result.get('outages', [])):,}, "
          f"restorations {len(result.get('restorations', [])):,}")
    ok = ratio >= TARGET_RATIO and rss < TARGET_RSS_BYTES
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
