"""Thin file I/O around the pure generator: events JSONL and the truth JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from oms_bridge.sim.scenario import Scenario

__all__ = ["read_truth", "write_events", "write_scenario", "write_truth"]


def write_events(path: str | Path, scenario: Scenario) -> int:
    """Write the events file in arrival order; returns the number of lines."""
    n = 0
    with Path(path).open("w", encoding="utf-8", newline="\n") as fh:
        batch: list[str] = []
        for line in scenario.lines():
            batch.append(line)
            if len(batch) >= 50_000:
                fh.write("\n".join(batch) + "\n")
                n += len(batch)
                batch.clear()
        if batch:
            fh.write("\n".join(batch) + "\n")
            n += len(batch)
    return n


def write_truth(path: str | Path, scenario: Scenario, *, with_ids: bool = True) -> None:
    """Write the truth; ``with_ids`` lists affected service points and meters."""
    data = scenario.truth.to_dict(scenario.topology if with_ids else None)
    Path(path).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


def write_scenario(events_path: str | Path, truth_path: str | Path, scenario: Scenario,
                   *, with_ids: bool = True) -> int:
    write_truth(truth_path, scenario, with_ids=with_ids)
    return write_events(events_path, scenario)


def read_truth(path: str | Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(Path(path).read_bytes())
    return data
