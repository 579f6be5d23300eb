"""Replay throughput: a utility-scale storm through the whole engine vs bare orjson.

    python bench/replay.py [--events 2000000] [--meters 1000000] [--workdir bench/out/replay]

1. In a child process (so its memory does not count): build a utility-scale
   topology straight from arrays (``oms_bridge.sim.fixtures.synthetic_utility``:
   200 feeders of 5,000 AMI meters, breaker, two reclosers, fuses,
   transformers; no GIS export, which is faster and enough for a replay) and
   simulate a storm over it, writing the compiled topology (``.npz``) and the
   first ``--events`` lines of the storm (JSONL, arrival order).
2. In a fresh process per round (``--rounds``, medians printed): time merely
   parsing every line with ``orjson.loads`` (reference), then the full replay
   (parse + normalise + engine + flush) as ``oms-bridge replay`` runs it
   (``oms_bridge.split_replay.replay_with``: the engine's work shared by
   feeder over a process per free CPU, see ``--workers``);
   print events/s for both, their ratio (target >= 0.30), the CPU time of
   every process of the replay, and the peak resident memory (target < 2 GB;
   for a split replay, the sum of both processes' peaks, an upper bound, as
   pages shared since the fork count twice).

``--workers 1`` measures the engine on one core (``oms_bridge.core.replay.replay``);
``--workers both`` measures both, alternated round by round. Each round is its
own process, so no round inherits another's heap (a fork from a large heap
costs copy-on-write faults) and each peak RSS is its own.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import resource
import statistics
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


def full_replay(topo: Any, path: Path, workers: int) -> tuple[dict[str, Any], float, float, int]:
    """The result, wall and CPU seconds (every process), peak RSS bytes (summed)."""
    split = importlib.import_module("oms_bridge.split_replay")
    settings_mod = importlib.import_module("oms_bridge.settings")
    children: list[dict[str, float]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    with path.open("rb") as fh:
        result: dict[str, Any] = split.replay_with(topo, fh, settings_mod.EngineSettings(),
                                                   workers=workers, usage=children)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return (result, wall, cpu + sum(c["cpu_s"] for c in children),
            rss + sum(int(c["max_rss_bytes"]) for c in children))


def measure(workdir: Path, workers: int) -> dict[str, Any]:
    """One round, in a fresh process: parse only, then one replay."""
    from oms_bridge.core.topology import Topology  # noqa: PLC0415

    topo = Topology.from_bytes((workdir / "topology.npz").read_bytes())
    events = workdir / "events.jsonl"
    n, t_parse, c_parse = parse_only(events)
    result, t_full, c_full, rss = full_replay(topo, events, workers)
    return {"workers": workers, "lines": n, "parse_s": t_parse, "parse_cpu_s": c_parse,
            "replay_s": t_full, "replay_cpu_s": c_full, "rss_bytes": rss,
            "ratio": t_parse / t_full, "events": result.get("events", {}),
            "outages": len(result.get("outages", [])),
            "restorations": len(result.get("restorations", [])),
            "topology_mb": topo.nbytes / 1e6, "file_mb": events.stat().st_size / 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--meters", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=REPO / "bench" / "out" / "replay")
    ap.add_argument("--reuse", action="store_true", help="reuse files from an earlier run")
    ap.add_argument("--workers", choices=("auto", "1", "2", "3", "both", "all"),
                    default="auto",
                    help="processes of the replay, as oms-bridge replay --workers (auto: "
                         "as it chooses here); both: 1 and 2, all: 1, 2 and 3, alternated")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds (each a fresh process: parse, then replay); medians printed")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--measure", type=int, choices=(1, 2, 3), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.generate_only:
        generate(args.workdir, args.events, args.meters, args.seed)
        return 0
    if args.measure:
        print(orjson.dumps(measure(args.workdir, args.measure)).decode())
        return 0
    events = args.workdir / "events.jsonl"
    if not (args.reuse and events.is_file()):
        print(f"generating {args.events:,} events over {args.meters:,} meters (child process)")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate-only", "--events",
                        str(args.events), "--meters", str(args.meters), "--seed",
                        str(args.seed), "--workdir", str(args.workdir)], check=True)
        print(f"  ({time.perf_counter() - t0:.1f} s)")
    split = importlib.import_module("oms_bridge.split_replay")
    default = split.default_workers()
    if args.workers in {"both", "all"}:
        modes = [1, 2] if args.workers == "both" else [1, 2, 3]
    else:
        modes = [int(args.workers) if args.workers != "auto" else default]
    runs: dict[int, list[dict[str, Any]]] = {m: [] for m in modes}
    for r in range(max(1, args.rounds)):
        for workers in modes:
            out = subprocess.run([sys.executable, __file__, "--measure", str(workers),
                                  "--workdir", str(args.workdir)],
                                 check=True, capture_output=True, text=True).stdout
            m = orjson.loads(out.strip().splitlines()[-1])
            runs[workers].append(m)
            if r == 0 and workers == modes[0]:
                print(f"events file: {m['file_mb']:.0f} MB; topology arrays "
                      f"{m['topology_mb']:.0f} MB; {m['lines']:,} lines")
            print(f"round {r + 1}, {_how(workers):<31}: parse {m['parse_s']:5.2f} s, replay "
                  f"{m['replay_s']:5.2f} s (CPU {m['replay_cpu_s']:5.2f} s), ratio "
                  f"{m['ratio']:.3f}, peak RSS {m['rss_bytes'] / 1024**2:,.0f} MB")
    ok = default not in runs   # (a mode that is not the default is only reported)
    for workers, ms in runs.items():
        n = ms[0]["lines"]
        t_parse = statistics.median(m["parse_s"] for m in ms)
        c_parse = statistics.median(m["parse_cpu_s"] for m in ms)
        t_full = statistics.median(m["replay_s"] for m in ms)
        c_full = statistics.median(m["replay_cpu_s"] for m in ms)
        ratio = statistics.median(m["ratio"] for m in ms)
        rss = max(m["rss_bytes"] for m in ms)
        print(f"\n{_how(workers)}, medians of {len(ms)} round(s):")
        print(f"orjson parse only : {n:>10,} lines in {t_parse:6.2f} s = {n / t_parse:>10,.0f} /s"
              f"  (CPU {c_parse:6.2f} s)")
        print(f"full replay       : {n:>10,} lines in {t_full:6.2f} s = {n / t_full:>10,.0f} /s"
              f"  (CPU {c_full:6.2f} s, every process)")
        print(f"ratio replay/parse: {ratio:.3f} (target >= {TARGET_RATIO}; median of the "
              f"rounds' own ratios); parse CPU / replay CPU {c_parse / c_full:.3f}")
        print(f"peak RSS          : {rss / 1024**2:,.0f} MB, the most of any round "
              f"(target < {TARGET_RSS_BYTES / 1024**3:.0f} GB)")
        last = ms[-1]
        print(f"engine counted    : {last['events']}; outages {last['outages']:,}, "
              f"restorations {last['restorations']:,}")
        if workers == default:   # the target is the replay's as oms-bridge runs it
            ok = ratio >= TARGET_RATIO and rss < TARGET_RSS_BYTES
    print(f"targets met by the replay as run by default ({_how(default)})" if ok
          else f"TARGET MISSED by the replay as run by default ({_how(default)})")
    return 0 if ok else 1


def _how(workers: int) -> str:
    return "one process" if workers == 1 else f"{workers} processes (engine shared by feeder)"


if __name__ == "__main__":
    sys.exit(main())
