"""One command for the fault harness: ``python tests/faults/run.py [--long]``.

The short form (the default, also run by the default test suite) sends about
40,000 events with four faults; ``--long`` sends more than 500,000 with eight
SIGKILLs, three Redis restarts and a 30 s PostgreSQL outage. The harness starts
its own PostgreSQL and Redis on spare loopback ports and removes them (and its
work folder, unless ``--keep``) whatever happens. Exit status 0: every fault
survived and the result equals the replay. ``--load`` runs ``bench/load.py``.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.faults.services import services_available  # noqa: E402
from tests.faults.storm import LONG, SHORT, run_storm  # noqa: E402


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the cleanup of every server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="the 500,000-event form")
    parser.add_argument("--load", action="store_true", help="run bench/load.py instead")
    parser.add_argument("--topology", type=Path,
                        default=REPO.parent / "shared" / "feeders" / "ckt24")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args, rest = parser.parse_known_args(argv)
    if args.load:
        return subprocess.call([sys.executable, str(REPO / "bench" / "load.py"), *rest])
    why = services_available()
    if why is not None:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    work = Path(tempfile.mkdtemp(prefix="omsb-faults-"))
    try:
        report = run_storm(LONG if args.long else SHORT, args.topology, work,
                           say=lambda s: print(s, flush=True))
    except AssertionError:
        traceback.print_exc()
        log = work / "server.log"
        if log.exists():
            print("server log (tail):\n" + log.read_text(errors="replace")[-4000:],
                  file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(report.summary(), flush=True)
    return 0

if __name__ == "__main__":
    sys.exit(main())
