from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from oms_bridge.cli import main
from oms_bridge.commands import replay as replay_cmd
from oms_bridge.core.topology import Topology

from .feeders import two_laterals
from .helpers import Stream


def _files(tmp_path: Path) -> tuple[Path, Path]:
    topo = tmp_path / "topology.npz"
    topo.write_bytes(two_laterals().to_bytes())
    s = Stream()
    for j in range(3):
        s.gasps([f"M-XF-A{j}-{i}" for i in range(0, 6, 2)], 1.0 * j)
    s.add("NOT-A-METER", "last_gasp", 3.0)
    s.add("M-XF-A0-0", "last_gasp", 0.0, event_id="E000000")
    lines = [orjson.dumps(o) for o in s.objs]
    lines.insert(2, b"{not json")
    lines.insert(3, b"")
    lines.append(orjson.dumps({"event_id": "X", "meter_id": "M", "type": "last_gasp",
                               "occurred_at": "2026-11-26T07:00:00"}))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    return topo, events


def test_replay_command_writes_the_contract_result(tmp_path: Path) -> None:
    topo, events = _files(tmp_path)
    out = tmp_path / "result.json"
    assert main(["replay", "--topology", str(topo), "--events", str(events),
                 "--out", str(out)]) == 0
    result = orjson.loads(out.read_bytes())
    assert set(result) == {"outages", "restorations", "coverage", "events"}
    assert result["events"] == {"accepted": 9, "duplicate": 1, "unknown_meter": 1,
                                "invalid": 2}
    assert [o["device_id"] for o in result["outages"]] == ["FUSE-A"]
    assert result["coverage"][0]["feeder_id"] == "FDR-2"
    again = tmp_path / "again.json"
    assert main(["replay", "--topology", str(topo), "--events", str(events),
                 "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_replay_command_uses_gis_import_for_exports(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    topo, events = _files(tmp_path)
    seen: list[Path] = []

    def fake_loader(path: str | Path, settings: object) -> Topology:
        seen.append(Path(path))
        return Topology.from_bytes(topo.read_bytes())

    monkeypatch.setattr(replay_cmd, "load_topology", fake_loader)
    out = tmp_path / "r.json"
    assert main(["replay", "--topology", str(tmp_path), "--events", str(events),
                 "--out", str(out)]) == 0
    assert seen == [tmp_path]


def test_replay_command_missing_events_file(tmp_path: Path) -> None:
    topo, _ = _files(tmp_path)
    assert main(["replay", "--topology", str(topo), "--events", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o.json")]) == 2


@pytest.mark.shared
def test_replay_on_a_shared_feeder_export(shared_feeders: Path, tmp_path: Path) -> None:
    _, events = _files(tmp_path)
    out = tmp_path / "r.json"
    assert main(["replay", "--topology", str(shared_feeders / "ckt7"), "--events",
                 str(events), "--out", str(out)]) == 0
    result = orjson.loads(out.read_bytes())
    assert result["coverage"][0]["service_points"] > 0
