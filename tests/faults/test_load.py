"""The load benchmark in a short form (5 s at 2,000 events/s, 5 pollers, 2
streams): every event durable, lag p99 under 2 s, pollers never see a seq out
of order. The full form is ``python bench/load.py`` (20,000/s for 60 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.shared]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "load.py"


def test_short_load(fault_topology: Path, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    subprocess.run([sys.executable, str(BENCH), "--rate", "2000", "--duration-s", "5",
                    "--pollers", "5", "--streams", "2", "--topology", str(fault_topology),
                    "--json", str(out)], check=False, timeout=600)
    fig = json.loads(out.read_text())
    print(fig)
    assert fig["events_logged"] == fig["events_offered"] == 10_000
    assert fig["http_batches_failed"] == 0
    assert fig["ingest_lag_p99_s"] < 2.0
    assert fig["feed_out_of_order"] == 0
    assert fig["feed_requests"] > 0 and min(fig["sse_events_per_stream"]) > 0
