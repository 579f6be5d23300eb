"""``oms-bridge replay``: run the engine over an events file, no server (contract §6).

The events file is streamed in chunks of lines (bounded memory whatever its length);
blank lines are skipped, lines that are not JSON or not a valid event are
counted as ``invalid``. The result is deterministic for the same inputs.
Where two CPUs are free, the reading, checking and ordering of the events
runs in one process and the engine's work is shared by feeder between it and
another (:mod:`oms_bridge.split_replay`): the same result, sooner;
``--workers 1`` keeps it to one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from oms_bridge.core.topology import Topology
from oms_bridge.errors import ConfigError, TopologyError
from oms_bridge.settings import Settings, load_settings
from oms_bridge.split_replay import replay_with

NAME = "replay"
HELP = "replay a meter events file (JSONL) through the engine and write the result JSON"

__all__ = ["HELP", "NAME", "add_arguments", "iter_events", "load_topology", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topology", required=True, metavar="EXPORT_DIR_OR_ZIP",
                        help="GIS export folder, .zip or .gpkg, or a compiled .npz topology")
    parser.add_argument("--events", required=True, metavar="EVENTS.jsonl",
                        help="one JSON event per line, in arrival order ('-': stdin)")
    parser.add_argument("--out", required=True, metavar="RESULT.json",
                        help="where to write the result ('-': stdout)")
    parser.add_argument("--config", "--settings", dest="config", metavar="PATH", default=None,
                        help="settings file (TOML, same keys as config/default.toml)")
    parser.add_argument("--workers", choices=("auto", "1", "2", "3", "4"), default="auto",
                        help="processes: 1 does everything in one; more read and order "
                             "the events in one and share the engine's work by feeder; "
                             "auto: one per free CPU, up to 4 (the result is the same)")


def load_topology(path: str | Path, settings: Settings) -> Topology:
    """A compiled ``.npz`` image, or a GIS export read and built by ``gis_import``."""
    p = Path(path)
    if p.suffix.lower() == ".npz":
        try:
            return Topology.from_bytes(p.read_bytes())
        except OSError as exc:
            raise TopologyError(f"cannot read {p}: {exc.strerror}") from exc
    from gis_import.build import build_topology  # noqa: PLC0415 - heavy, only when needed
    from gis_import.readers import read_export  # noqa: PLC0415

    export = read_export(p, max_uncompressed_bytes=settings.gis.max_uncompressed_bytes)
    result = build_topology(export, tolerance_m=settings.gis.tolerance_m,
                            near_miss_m=settings.gis.near_miss_m)
    if result.topology is None:
        raise TopologyError(f"nothing could be traced in {p}")
    return result.topology


def iter_events(lines: Iterator[bytes]) -> Iterator[Any]:
    """Decoded JSON objects, ``None`` for a line that is not JSON (counted invalid)."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    for line in lines:
        if not line or line.isspace():
            continue
        try:
            yield loads(line)
        except decode_error:
            yield None


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    topology = load_topology(args.topology, settings)
    workers = None if args.workers == "auto" else int(args.workers)
    # raw lines: the engine decodes and validates them in chunks (its bulk path)
    if args.events == "-":
        result = replay_with(topology, sys.stdin.buffer, settings.engine, settings.coverage,
                             workers=workers)
    else:
        try:
            fh = Path(args.events).open("rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ConfigError(f"cannot read events: {exc.strerror}", source=args.events) from exc
        with fh:
            result = replay_with(topology, fh, settings.engine, settings.coverage,
                                 workers=workers)
    data = orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n"
    if args.out == "-":
        sys.stdout.buffer.write(data)
    else:
        Path(args.out).write_bytes(data)
    counts = result["events"]
    print(f"replayed: {counts['accepted']} accepted, {counts['duplicate']} duplicate, "
          f"{counts['unknown_meter']} unknown meter, {counts['invalid']} invalid; "
          f"{len(result['outages'])} outages, {len(result['restorations'])} restorations",
          file=sys.stderr)
    return 0
