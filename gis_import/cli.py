"""``gis-import``: check, load and synthesise GIS topology exports.

    gis-import check EXPORT [--json] [--paths FILE] [--verify] [--tolerance-m M]
    gis-import load EXPORT [--database-url URL] [--json]
    gis-import versions | activate VERSION | rollback [--database-url URL]
    gis-import synth OUT_DIR --service-points N --feeders F [--seed S] [--zip]

Exit codes: 0 done (defects are reported, not fatal); 2 the export cannot be
read or nothing in it can be traced; 1 the database refused. Errors are one
line on stderr naming the file. Progress goes to stderr when it is a terminal
or ``--progress`` is given.

``load`` and the version commands are the only ones that touch a database;
they import ``oms_bridge.store`` lazily, so ``check`` stays a pure file tool.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from oms_bridge.errors import ConfigError, ExportError, OmsBridgeError, StoreError

if TYPE_CHECKING:
    from gis_import.build import ImportResult
    from oms_bridge.settings import Settings

__all__ = ["ProgressPrinter", "format_summary", "main"]

PROG = "gis-import"
EXIT_OK = 0
EXIT_DATABASE = 1
EXIT_UNREADABLE = 2
DEFECTS_SHOWN_PER_KIND = 5
FEEDERS_SHOWN = 40


class ProgressPrinter:
    """Stage messages with elapsed time, to a stream, or nothing when disabled."""

    def __init__(self, enabled: bool, stream: IO[str] | None = None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.started
            print(f"[{elapsed:7.1f}s] {message}", file=self.stream, flush=True)


# ------------------------------------------------------------------ summary
def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def _coverage(f: dict[str, Any]) -> float:
    sp = int(f["service_points"])
    return int(f["ami_meters"]) / sp if sp else 0.0


def _feeder_table(feeders: list[dict[str, Any]], max_feeders: int) -> list[str]:
    """Per-feeder coverage; past ``max_feeders`` only the least covered are listed."""
    shown = feeders
    head = f"feeders: {len(feeders):,}"
    if len(feeders) > max_feeders:
        shown = sorted(feeders, key=_coverage)[:max_feeders]
        head += f" (the {max_feeders} with the lowest AMI coverage; --json lists all)"
    fw = max(6, *(len(str(f["feeder_id"])) for f in shown))
    sw = max(6, *(len(str(f.get("source_id", ""))) for f in shown))
    lines = [
        head,
        f"  {'feeder':<{fw}}  {'source':<{sw}}  {'service pts':>11}  {'AMI':>9}  "
        f"{'coverage':>8}  {'protective':>10}  {'blind':>5}",
    ]
    for f in shown:
        sp, ami = int(f["service_points"]), int(f["ami_meters"])
        lines.append(
            f"  {f['feeder_id']:<{fw}}  {f.get('source_id', ''):<{sw}}  {sp:>11,}  "
            f"{ami:>9,}  {_pct(_coverage(f)):>8}  "
            f"{int(f.get('protective_devices', 0)):>10,}  {len(f.get('blind_devices', [])):>5}"
        )
    if len(feeders) > 1:
        tot_sp = sum(int(f["service_points"]) for f in feeders)
        tot_ami = sum(int(f["ami_meters"]) for f in feeders)
        blind = sum(len(f.get("blind_devices", [])) for f in feeders)
        lines.append(
            f"  {'total':<{fw}}  {'':<{sw}}  {tot_sp:>11,}  {tot_ami:>9,}  "
            f"{_pct(tot_sp and tot_ami / tot_sp):>8}  {'':>10}  {blind:>5}"
        )
    return lines


def format_summary(
    report: dict[str, Any], *, shown_per_kind: int = DEFECTS_SHOWN_PER_KIND,
    max_feeders: int = FEEDERS_SHOWN,
) -> str:
    """A readable summary of an import report (``ImportReport.to_dict()`` form)."""
    lines = [f"export: {report.get('source', '?')}"]
    counts: dict[str, int] = report.get("counts", {})
    if counts:
        width = max(len(k) for k in counts)
        lines.append("features read:")
        lines.extend(f"  {name:<{width}}  {n:>10,}" for name, n in counts.items())
    feeders: list[dict[str, Any]] = report.get("feeders", [])
    if feeders:
        lines.extend(_feeder_table(feeders, max_feeders))
    defects: list[dict[str, Any]] = report.get("defects", [])
    by_kind: dict[str, int] = report.get("defects_by_kind", {})
    if not defects:
        lines.append("defects: none")
    else:
        lines.append(
            f"defects: {len(defects):,} ("
            + ", ".join(f"{k} {n:,}" for k, n in by_kind.items()) + ")"
        )
        grouped: dict[str, list[dict[str, Any]]] = {}
        for d in defects:
            grouped.setdefault(str(d["kind"]), []).append(d)
        for kind, items in grouped.items():
            lines.append(f"  {kind} ({len(items):,})")
            for d in items[:shown_per_kind]:
                fid = d.get("facility_id") or "-"
                lines.append(f"    {d['layer']} {fid}: {d['message']}")
            if len(items) > shown_per_kind:
                lines.append(f"    ... and {len(items) - shown_per_kind:,} more")
    notes: list[str] = report.get("notes", [])
    if notes:
        lines.append("notes:")
        lines.extend(f"  {n}" for n in notes)
    if not report.get("traced", True):
        lines.append("nothing could be traced from any CircuitSource")
    return "\n".join(lines)


# ------------------------------------------------------------------ helpers
def _settings(args: argparse.Namespace) -> Settings:
    from oms_bridge.settings import load_settings  # noqa: PLC0415 - settings only when needed

    return load_settings(getattr(args, "config", None))


def _progress(args: argparse.Namespace) -> ProgressPrinter:
    return ProgressPrinter(bool(args.progress) or sys.stderr.isatty())


def _run_import(args: argparse.Namespace, settings: Settings, say: ProgressPrinter
                ) -> ImportResult:
    from gis_import.build import build_topology  # noqa: PLC0415 - heavy (shapely, numpy)
    from gis_import.readers import read_export  # noqa: PLC0415

    tolerance_m = settings.gis.tolerance_m if args.tolerance_m is None else args.tolerance_m
    near_miss_m = settings.gis.near_miss_m if args.near_miss_m is None else args.near_miss_m
    if tolerance_m <= 0 or near_miss_m < tolerance_m:
        raise ConfigError("need 0 < --tolerance-m <= --near-miss-m", key="gis.tolerance_m")
    say(f"reading {args.export}")
    export = read_export(
        args.export, max_uncompressed_bytes=settings.gis.max_uncompressed_bytes, progress=say
    )
    say(f"building topology (tolerance {tolerance_m} m, near miss {near_miss_m} m)")
    result = build_topology(export, tolerance_m=tolerance_m, near_miss_m=near_miss_m,
                            progress=say)
    topo = result.topology
    if topo is not None:
        say(f"compiled {len(topo.feeder_ids):,} feeders, {topo.n_nodes:,} devices, "
            f"{topo.n_service_points:,} service points ({topo.nbytes / 1e6:.1f} MB)")
    return result


def _write_json(data: Any, stream: IO[str] | None = None) -> None:
    out = stream if stream is not None else sys.stdout
    out.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _untraceable(args: argparse.Namespace) -> int:
    print(f"{PROG}: error: {args.export}: nothing could be traced from any CircuitSource",
          file=sys.stderr)
    return EXIT_UNREADABLE


# ----------------------------------------------------------------- commands
def _cmd_check(args: argparse.Namespace) -> int:
    say = _progress(args)
    result = _run_import(args, _settings(args), say)
    report = result.report.to_dict()
    if args.paths is not None:
        from gis_import.paths import paths_of  # noqa: PLC0415

        paths = paths_of(result.topology) if result.topology is not None else {}
        Path(args.paths).write_bytes(orjson.dumps(paths))
        say(f"wrote paths of {len(paths):,} service points to {args.paths}")
    if args.verify and result.topology is not None:
        from gis_import.verify import verify_topology  # noqa: PLC0415 - networkx on demand

        say("verifying the compiled topology against a networkx graph")
        report["verification"] = verify_topology(result.topology)
    if args.json:
        _write_json(report)
    else:
        print(format_summary(report))
        if "verification" in report:
            print("verification: " + ("; ".join(report["verification"]) or "ok"))
    say("done")
    if report.get("verification"):
        return EXIT_UNREADABLE
    return EXIT_OK if result.topology is not None else _untraceable(args)


def _database_url(args: argparse.Namespace, settings: Settings) -> str:
    url: str = args.database_url or settings.database_url
    return url


def _cmd_load(args: argparse.Namespace) -> int:
    from oms_bridge.store import migrate, topology_repo  # noqa: PLC0415 - database only here
    from oms_bridge.store.engine import create_sync_engine  # noqa: PLC0415

    settings = _settings(args)
    url = _database_url(args, settings)
    say = _progress(args)
    result = _run_import(args, settings, say)
    report = result.report.to_dict()
    if result.topology is None:
        if args.json:
            _write_json({"version_id": None, "report": report})
        else:
            print(format_summary(report))
        return _untraceable(args)
    say("migrating the database")
    migrate.upgrade(url)
    engine = create_sync_engine(url)
    try:
        say("storing and activating the topology")
        with engine.begin() as conn:  # one transaction: stored and active, or neither
            version_id = topology_repo.save_version(conn, result, str(args.export))
            topology_repo.activate(conn, version_id)
    finally:
        engine.dispose()
    if args.json:
        _write_json({"version_id": version_id, "report": report})
    else:
        print(format_summary(report))
        print(f"stored and activated topology version {version_id}")
    say("done")
    return EXIT_OK


def _cmd_versions(args: argparse.Namespace) -> int:
    from oms_bridge.store import migrate, topology_repo  # noqa: PLC0415
    from oms_bridge.store.engine import create_sync_engine  # noqa: PLC0415

    url = _database_url(args, _settings(args))
    migrate.upgrade(url)
    engine = create_sync_engine(url)
    try:
        with engine.begin() as conn:
            if args.command == "activate":
                topology_repo.activate(conn, args.version)
                print(f"activated topology version {args.version}")
                return EXIT_OK
            if args.command == "rollback":
                back_to = topology_repo.rollback(conn)
                print(f"rolled back to topology version {back_to}")
                return EXIT_OK
            versions = topology_repo.list_versions(conn)
    finally:
        engine.dispose()
    if args.json:
        _write_json([v.to_dict() for v in versions])
        return EXIT_OK
    if not versions:
        print("no topology versions stored")
    for v in versions:
        mark = "*" if v.active else " "
        print(f"{mark} {v.version_id:>5}  {v.created_at:%Y-%m-%d %H:%M:%S}  "
              f"{v.feeders:>4} feeders  {v.service_points:>10,} service points  "
              f"{v.defects:>6,} defects  {v.source}")
    return EXIT_OK


def _cmd_synth(args: argparse.Namespace) -> int:
    from gis_import.synth import SynthSpec, write_export  # noqa: PLC0415

    try:
        spec = SynthSpec(
            service_points=args.service_points, feeders=args.feeders, seed=args.seed,
            ami_coverage=args.ami_coverage, missing_transformer_id=args.missing_transformer_id,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    out = Path(args.out_dir)
    if args.zip and out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    say = _progress(args)
    say(f"generating {spec.service_points:,} service points on {spec.feeders:,} feeders")
    summary = write_export(spec, out, as_zip=args.zip,
                           paths_truth=Path(args.paths_truth) if args.paths_truth else None)
    say("done")
    if args.json:
        _write_json({"out": str(out), **summary.to_dict()})
    else:
        counts = ", ".join(f"{k} {v:,}" for k, v in summary.counts.items())
        print(f"wrote {out}: {counts}")
        print(f"meters: AMI {summary.ami:,}, AMR {summary.amr:,}, MANUAL {summary.manual:,}; "
              f"{summary.no_transformer_id:,} service points without TRANSFORMERID")
    return EXIT_OK


# ------------------------------------------------------------------- parser
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help="settings file (TOML) over the defaults")
    p.add_argument("--progress", action="store_true",
                   help="stage messages on stderr even when it is not a terminal")


def _import_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("export", metavar="EXPORT", help="folder, .zip or .gpkg of the layers")
    p.add_argument("--tolerance-m", type=float, default=None,
                   help="snapping tolerance in metres (default from settings: 0.5)")
    p.add_argument("--near-miss-m", type=float, default=None,
                   help="report end points closer than this but beyond tolerance (default 5)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    _common(p)


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", metavar="URL", default=None,
                   help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
                        "(default: OMS_BRIDGE_DATABASE_URL or the settings)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="read, trace and validate an export; store nothing")
    _import_options(p)
    p.add_argument("--paths", metavar="FILE",
                   help="write every service point's feeder and upstream devices as JSON")
    p.add_argument("--verify", action="store_true",
                   help="re-derive the compiled tree with networkx and report any disagreement")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("load", help="import an export, store it as a version and activate it")
    _import_options(p)
    _db_option(p)
    p.set_defaults(func=_cmd_load)

    p = sub.add_parser("versions", help="list stored topology versions (* marks the active)")
    _db_option(p)
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(func=_cmd_versions)

    p = sub.add_parser("activate", help="activate a stored topology version")
    p.add_argument("version", type=int, metavar="VERSION")
    _db_option(p)
    _common(p)
    p.set_defaults(func=_cmd_versions)

    p = sub.add_parser("rollback", help="re-activate the previously active version")
    _db_option(p)
    _common(p)
    p.set_defaults(func=_cmd_versions)

    p = sub.add_parser("synth", help="write a synthetic utility-scale export")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--service-points", type=int, required=True)
    p.add_argument("--feeders", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ami-coverage", type=float, default=0.9)
    p.add_argument("--missing-transformer-id", type=float, default=0.02,
                   help="share of service points without TRANSFORMERID")
    p.add_argument("--zip", action="store_true", help="write OUT_DIR.zip instead of a folder")
    p.add_argument("--paths-truth", metavar="FILE",
                   help="also write the true paths (the shape of check --paths)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _common(p)
    p.set_defaults(func=_cmd_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ExportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except StoreError as exc:
        print(f"{PROG}: database error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_DATABASE
    except OmsBridgeError as exc:
        where = getattr(args, "export", None)
        prefix = f"{where}: " if where and str(where) not in str(exc) else ""
        print(f"{PROG}: error: {prefix}{_one_line(exc)}", file=sys.stderr)
        return EXIT_UNREADABLE
    except OSError as exc:
        target = exc.filename or getattr(args, "export", None) or getattr(args, "out_dir", "")
        print(f"{PROG}: error: {target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        return 130
    return code


def _one_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
