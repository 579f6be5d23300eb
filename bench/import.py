#!/usr/bin/env python3
"""Benchmark the GIS import on a synthetic utility-scale export.

    python bench/import.py --service-points 1000000

Generates (or reuses from ``bench/out/import-cache/``) a synthetic export, then
in this one process:

1. parses every layer file with ``orjson.loads`` and nothing else (the floor:
   what merely reading the same bytes costs);
2. runs the full import: ``read_export`` + ``build_topology`` (read, snap,
   trace, validate, compile).

It prints wall time and peak memory of each phase, the import/parse ratio and
the compiled topology's bytes per service point, against the targets of issue 2
(under 90 s, under 3 GB peak, under 300 bytes per service point). Peak memory
is the resident high-water mark (``VmHWM``), reset between phases where Linux
allows it (``/proc/self/clear_refs``), else the process-wide ``ru_maxrss``.

``--verify`` also checks every service point's path against the generator's
truth (not timed); ``--profile FILE`` writes a cProfile of the import phase.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402 - after the path fix so a bare checkout works

from gis_import.build import build_topology  # noqa: E402
from gis_import.paths import paths_of  # noqa: E402
from gis_import.readers import read_export  # noqa: E402
from gis_import.synth import LAYERS, SynthSpec, write_export  # noqa: E402

TARGET_WALL_S = 90.0
TARGET_PEAK_BYTES = 3 * 1024**3
TARGET_BYTES_PER_SP = 300.0
CACHE = REPO / "bench" / "out" / "import-cache"


# ------------------------------------------------------------------ memory
def _reset_peak() -> bool:
    """Reset the resident high-water mark (Linux >= 4.0); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _gb(n: float) -> str:
    return f"{n / 1024**3:.2f} GB"


# ------------------------------------------------------------------ phases
def _generator_fingerprint() -> str:
    source = (REPO / "gis_import" / "synth.py").read_bytes()
    return hashlib.sha256(source).hexdigest()[:12]


def ensure_export(spec: SynthSpec, regenerate: bool) -> tuple[Path, Path, float | None]:
    """The cached export folder and truth file for ``spec`` (generating when needed)."""
    key = f"sp{spec.service_points}-f{spec.feeders}-s{spec.seed}-{_generator_fingerprint()}"
    folder = CACHE / key
    truth = CACHE / f"{key}.paths.json"
    marker = folder / ".complete"
    if marker.is_file() and truth.is_file() and not regenerate:
        return folder, truth, None
    t0 = time.perf_counter()
    summary = write_export(spec, folder, paths_truth=truth)
    marker.write_text(json.dumps(summary.to_dict()))
    return folder, truth, time.perf_counter() - t0


def parse_only(folder: Path) -> tuple[float, int, int]:
    """Seconds to read and ``orjson.loads`` every layer; bytes read; features seen.

    The cyclic garbage collector is off meanwhile: with it on, the millions of
    fresh dicts trigger collections that triple the time, and the reference is
    meant to be the floor.
    """
    gc.disable()
    try:
        t0 = time.perf_counter()
        total = features = 0
        for name in LAYERS:
            data = (folder / f"{name}.geojson").read_bytes()
            total += len(data)
            doc = orjson.loads(data)
            features += len(doc["features"])
            del doc, data
        return time.perf_counter() - t0, total, features
    finally:
        gc.enable()


def full_import(
    folder: Path, profile: Path | None, gc_off: bool = False
) -> tuple[Any, dict[str, float], list[tuple[float, str]]]:
    """Read and build; returns the result, phase seconds and per-stage seconds."""
    if gc_off:
        gc.disable()
    try:
        return _full_import(folder, profile)
    finally:
        gc.enable()


def _full_import(
    folder: Path, profile: Path | None
) -> tuple[Any, dict[str, float], list[tuple[float, str]]]:
    stages: dict[str, float] = {}
    started: list[tuple[float, str]] = []

    def progress(message: str) -> None:
        started.append((time.perf_counter(), message))

    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    export = read_export(folder, progress=progress)
    t1 = time.perf_counter()
    result = build_topology(export, tolerance_m=0.5, near_miss_m=5.0, progress=progress)
    t2 = time.perf_counter()
    if prof:
        prof.disable()
        prof.dump_stats(str(profile))
    del export
    stages["read_s"] = t1 - t0
    stages["build_s"] = t2 - t1
    stages["total_s"] = t2 - t0
    ends = [t for t, _ in started[1:]] + [t2]
    marks = [(end - t, msg) for (t, msg), end in zip(started, ends, strict=True)]
    return result, stages, marks


def verify(result: Any, truth: Path) -> tuple[int, int]:
    """(service points compared, mismatches) of the importer's paths against the truth."""
    got = paths_of(result.topology)
    want = orjson.loads(truth.read_bytes())
    bad = sum(1 for k, v in want.items() if got.get(k) != v) + len(set(got) - set(want))
    return len(want), bad


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--service-points", type=int, default=1_000_000)
    ap.add_argument("--feeders", type=int, default=None,
                    help="default: one per 2,500 service points")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--regenerate", action="store_true", help="ignore the cached export")
    ap.add_argument("--verify", action="store_true", help="compare paths with the truth")
    ap.add_argument("--profile", type=Path, default=None, help="cProfile the import to FILE")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    ap.add_argument("--gc-off", action="store_true",
                    help="disable the cyclic GC during the import (shows what it costs)")
    args = ap.parse_args(argv)

    feeders = args.feeders or max(1, args.service_points // 2500)
    spec = SynthSpec(service_points=args.service_points, feeders=feeders, seed=args.seed)
    print(f"bench/import: {spec.service_points:,} service points on {feeders:,} feeders "
          f"(python {platform.python_version()}, {os.cpu_count()} CPUs)")
    folder, truth, gen_s = ensure_export(spec, args.regenerate)
    size = sum((folder / f"{n}.geojson").stat().st_size for n in LAYERS)
    if gen_s is None:
        print(f"  export   cached, {size / 1e6:,.0f} MB")
    else:
        print(f"  export   generated in {gen_s:.1f} s, {size / 1e6:,.0f} MB")

    gc.collect()
    base_rss = _rss_bytes()
    precise = _reset_peak()
    parse_s, parsed_bytes, n_features = parse_only(folder)
    parse_peak = _peak_bytes()
    gc.collect()
    print(f"  parse    {parse_s:7.2f} s  peak {_gb(parse_peak)}  "
          f"({n_features:,} features, {parsed_bytes / 1e6 / parse_s:,.0f} MB/s, "
          "orjson only, gc off)")

    precise = _reset_peak() and precise
    result, stages, marks = full_import(folder, args.profile, args.gc_off)
    import_peak = _peak_bytes()
    topo = result.topology
    if topo is None:
        print("  import   traced nothing", file=sys.stderr)
        return 2
    n_sp = topo.n_service_points
    bytes_per_sp = topo.nbytes / max(1, n_sp)
    image = len(topo.to_bytes())
    ratio = stages["total_s"] / parse_s
    print(f"  import   {stages['total_s']:7.2f} s  peak {_gb(import_peak)}  "
          f"(read {stages['read_s']:.2f} s + build {stages['build_s']:.2f} s"
          f"{', gc off' if args.gc_off else ''})")
    for seconds, message in marks:
        if seconds >= 0.5:
            print(f"           {seconds:6.2f} s  {message}")
    print(f"  ratio    import / parse = {ratio:.1f}x")
    print(f"  topology {topo.nbytes / 1e6:,.1f} MB in arrays = {bytes_per_sp:.0f} bytes per "
          f"service point ({n_sp:,} service points, {topo.n_nodes:,} devices; "
          f"stored image {image / 1e6:,.1f} MB)")
    defects = result.report.defects_by_kind()
    print(f"  report   {len(result.report.defects):,} defects {defects or ''}")
    if not precise:
        print("  (peak memory is process-wide: the high-water mark could not be reset)")
    print(f"  baseline RSS before the phases {_gb(base_rss)}")

    checks = {
        "wall": stages["total_s"] < TARGET_WALL_S,
        "peak": import_peak < TARGET_PEAK_BYTES,
        "bytes_per_sp": bytes_per_sp < TARGET_BYTES_PER_SP,
    }
    verdict = ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in checks.items())
    print(f"  targets  <{TARGET_WALL_S:.0f} s, <{_gb(TARGET_PEAK_BYTES)}, "
          f"<{TARGET_BYTES_PER_SP:.0f} B/SP: {verdict}")
    if n_sp != spec.service_points:
        print(f"  NOTE     {spec.service_points - n_sp:,} service points were not compiled")

    figures: dict[str, Any] = {
        "service_points": spec.service_points, "feeders": feeders,
        "export_bytes": size, "parse_s": round(parse_s, 3),
        "import_s": round(stages["total_s"], 3), "read_s": round(stages["read_s"], 3),
        "build_s": round(stages["build_s"], 3), "ratio": round(ratio, 2),
        "parse_peak_bytes": parse_peak, "import_peak_bytes": import_peak,
        "topology_bytes": topo.nbytes, "bytes_per_sp": round(bytes_per_sp, 1),
        "image_bytes": image, "defects": defects, "targets_met": checks,
        "gc_off": args.gc_off,
    }
    if args.verify:
        compared, bad = verify(result, truth)
        print(f"  verify   {compared - bad:,} of {compared:,} paths equal the truth")
        figures["verify_mismatches"] = bad
    if args.json:
        print(json.dumps(figures))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
