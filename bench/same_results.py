"""Do two versions of the engine give the same bytes? And which is faster?

    python bench/same_results.py OLD NEW [--workdir bench/out/same] [--cpu ROUNDS]

OLD and NEW are source trees or git revisions (a revision is checked out in a
temporary worktree, removed afterwards). A speed change must not change a
single byte of any result, so this is the check to run before and after one:

1. Simulate 26 storms (once, kept in ``--workdir``): four kinds of storm on
   each feeder of ``../shared/feeders`` (skipped when absent) and on the
   bundled demo (default; 20 % delivery with 20 % late events; 80 % delivery
   with 10 % duplicates and many nested outages; many short outages with 60 %
   restore delivery), plus a 500-outage storm on ckt24 and a 400-outage one
   at 35 % delivery on ieee8500, and the four kinds (300-600 outages) on a
   synthetic utility of 20 feeders, where the replay shares its engine's
   work by feeder.
2. Replay every storm with ``oms-bridge replay`` from each tree and compare the
   result files byte for byte. Exit status 1 on any difference.
   ``--big`` adds the storm of ``bench/replay.py`` (2M events, made by it).
3. With ``--cpu N``: replay ``bench/out/replay`` (made by ``bench/replay.py``)
   with each tree in turn, N rounds alternated, and print the median CPU
   seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "feeders"
FEEDERS = ("ckt24", "ckt5", "ckt7", "ieee8500")
#: storm kind -> simulate options (seeded: the same storms every time)
KINDS: dict[str, list[str]] = {
    "a": ["--seed", "1"],
    "b": ["--seed", "2", "--delivery", "0.2", "--late-fraction", "0.2"],
    "c": ["--seed", "3", "--delivery", "0.8", "--duplicate-fraction", "0.1",
          "--nested-probability", "0.4"],
    "d": ["--seed", "4", "--outages", "60", "--duration-h", "3", "--restore-delivery", "0.6"],
}
LARGE: dict[str, list[str]] = {
    "ckt24": ["--seed", "5", "--outages", "500", "--duration-h", "6"],
    "ieee8500": ["--seed", "6", "--outages", "400", "--duration-h", "4", "--delivery", "0.35"],
}

#: a synthetic utility of 20 feeders (the replay shares its engine's work by
#: feeder: the shared feeders and the demo are one or few feeders each)
_UTILITY = """
import sys
from pathlib import Path
import numpy as np
from oms_bridge.sim.fixtures import synthetic_utility
topo = synthetic_utility(60_000, np.random.default_rng(7), sp_per_feeder=3_000)
Path(sys.argv[1]).write_bytes(topo.to_bytes())
"""
UTILITY_KINDS: dict[str, list[str]] = {
    kind: [*opts, "--outages", "300"] if kind != "d" else [*opts[:2], "--outages", "600",
                                                               *opts[4:]]
    for kind, opts in KINDS.items()
}

_TIMED = """
import sys, time
from pathlib import Path
from oms_bridge.core.replay import replay
from oms_bridge.core.topology import Topology
w = Path(sys.argv[1])
topo = Topology.from_bytes((w / "topology.npz").read_bytes())
t0 = time.process_time()
with (w / "events.jsonl").open("rb") as fh:
    replay(topo, fh)
print(time.process_time() - t0)
"""


@contextlib.contextmanager
def source_tree(spec: str) -> Iterator[Path]:
    """A directory as it is, or a git revision checked out for the duration."""
    if Path(spec).is_dir():
        yield Path(spec).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="same-results-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree),
                        spec], check=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(tree)], check=False)


def _cli(tree: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-m", "oms_bridge.cli", *args], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"oms-bridge {args[0]} failed with {tree}:\n{done.stderr}")


_COMPILE = """
import sys
from pathlib import Path
from oms_bridge.commands.replay import load_topology
from oms_bridge.settings import load_settings
Path(sys.argv[2]).write_bytes(load_topology(sys.argv[1], load_settings(None)).to_bytes())
"""


def make_storms(workdir: Path) -> list[tuple[Path, Path]]:
    """(topology, events) pairs, simulated with this checkout's code once (the
    topologies compiled once too: the engine is what is compared)."""
    sources = {"demo": REPO / "oms_bridge" / "demo"}
    if SHARED.is_dir():
        sources |= {f: SHARED / f for f in FEEDERS if (SHARED / f).is_dir()}
    else:
        print(f"({SHARED} not found: the demo's storms only)")
    storms: list[tuple[Path, Path]] = []
    for name, export in sources.items():
        kinds = dict(KINDS)
        if name in LARGE:
            kinds["e"] = LARGE[name]
        storms += _simulated(workdir, name, [_COMPILE, str(export)], kinds)
    storms += _simulated(workdir, "utility", [_UTILITY], UTILITY_KINDS)
    return storms


def _simulated(workdir: Path, name: str, build: list[str],
               kinds: dict[str, list[str]]) -> list[tuple[Path, Path]]:
    """The topology ``name`` (made by running ``build`` with its path last, once)
    and a storm of each kind on it (simulated once)."""
    src = workdir / f"{name}.npz"
    if not src.is_file():
        subprocess.run([sys.executable, "-c", *build, str(src)],
                       env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    storms = []
    for kind, opts in kinds.items():
        events = workdir / f"{name}-{kind}.jsonl"
        if not events.is_file():
            _cli(REPO, "simulate", "--topology", str(src), "--out-events", str(events),
                 "--out-truth", os.devnull, *opts)
        storms.append((src, events))
    return storms


def digest(tree: Path, topology: Path, events: Path, out: Path) -> str:
    _cli(tree, "replay", "--topology", str(topology), "--events", str(events),
         "--out", str(out))
    return hashlib.sha256(out.read_bytes()).hexdigest()


def cpu_seconds(tree: Path, storm: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-c", _TIMED, str(storm)], env=env, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--workdir", type=Path, default=REPO / "bench" / "out" / "same")
    ap.add_argument("--cpu", type=int, default=0, metavar="ROUNDS",
                    help="also time the bench/replay.py storm, alternated")
    ap.add_argument("--big", action="store_true",
                    help="also compare the results of the bench/replay.py storm (2M events)")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    storms = make_storms(args.workdir)
    big = REPO / "bench" / "out" / "replay"
    if args.big and (big / "events.jsonl").is_file():
        storms.append((big / "topology.npz", big / "events.jsonl"))
    different = 0
    with source_tree(args.old) as old, source_tree(args.new) as new:
        for topology, events in storms:
            a = digest(old, topology, events, args.workdir / "old.json")
            b = digest(new, topology, events, args.workdir / "new.json")
            same = a == b
            different += not same
            name = events.parent.name if events.parent == big else events.stem
            print(f"{name:<12} {'same' if same else 'DIFFERENT'}  {a[:16]}"
                  + ("" if same else f" -> {b[:16]}"))
        print(f"{len(storms) - different} of {len(storms)} results byte-identical")
        if args.cpu and (big / "events.jsonl").is_file():
            times: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(args.cpu):
                times["old"].append(cpu_seconds(old, big))
                times["new"].append(cpu_seconds(new, big))
            mo, mn = statistics.median(times["old"]), statistics.median(times["new"])
            print(f"bench/replay storm, CPU s: old median {mo:.2f} {times['old']}, "
                  f"new median {mn:.2f} {times['new']}; new/old {mn / mo:.3f}")
        elif args.cpu:
            print(f"no {big}/events.jsonl: run bench/replay.py first for --cpu")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
