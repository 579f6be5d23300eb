"""A tiny deterministic stand-in engine, so the service is tested on its own.

It follows the engine's published interface: one outage per dark service point
(created at its last gasp), restored with a feed item at its restore.
"""

from __future__ import annotations

from typing import Any

from oms_bridge.api.engine_port import CorePort, EngineLike
from oms_bridge.core.events import EventKind, MeterEvent, format_time
from oms_bridge.core.topology import Topology, TopologyBuilder


class Verdict:
    def __init__(self, name: str) -> None:
        self.name = name


ACCEPTED, DUPLICATE, UNKNOWN = Verdict("ACCEPTED"), Verdict("DUPLICATE"), Verdict("UNKNOWN_METER")


class StandInEngine:
    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.seen: set[str] = set()
        self.stats = {"accepted": 0, "duplicate": 0, "unknown_meter": 0, "invalid": 0}
        self.by_meter: dict[str, str] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        self.changes: list[dict[str, Any]] = []
        self.feed: list[dict[str, Any]] = []
        self.seq = 0
        self.watermark = 0.0

    def ingest(self, event: MeterEvent) -> Verdict:
        if event.event_id in self.seen:
            self.stats["duplicate"] += 1
            return DUPLICATE
        self.seen.add(event.event_id)
        sp = self.topology.meter_index(event.meter_id)
        if sp < 0:
            self.stats["unknown_meter"] += 1
            return UNKNOWN
        self.stats["accepted"] += 1
        self.watermark = max(self.watermark, event.occurred_at)
        oid = self.by_meter.get(event.meter_id)
        if event.kind is EventKind.LAST_GASP and oid is None:
            oid = f"OUT-{len(self.docs) + 1:04d}"
            self.by_meter[event.meter_id] = oid
            self.docs[oid] = {
                "outage_id": oid, "device_id": self.topology.sp_id(sp),
                "device_type": "service_point", "feeder_id": self.topology.feeder_of_sp(sp),
                "status": "active", "started_at": format_time(event.occurred_at),
                "restored_at": None, "confirmed_at": None,
                "predicted_at": format_time(event.occurred_at), "meters_affected": 1,
                "meters_reporting": 1, "confidence": 0.9, "parent_outage_id": None,
            }
            self.changes.append({**self.docs[oid], "change": "created"})
        elif event.kind is EventKind.POWER_RESTORED and oid is not None:
            del self.by_meter[event.meter_id]
            doc = self.docs[oid]
            doc.update(status="restored", restored_at=format_time(event.occurred_at),
                       confirmed_at=format_time(event.occurred_at))
            self.changes.append({**doc, "change": "restored"})
            self.seq += 1
            self.feed.append({
                "seq": self.seq, "outage_id": oid, "device_id": doc["device_id"],
                "feeder_id": doc["feeder_id"], "started_at": doc["started_at"],
                "restored_at": doc["restored_at"], "confirmed_at": doc["confirmed_at"],
                "meters_restored": 1, "meters_unverified": [], "nested_outage_ids": []})
        return ACCEPTED

    def count_invalid(self, n: int) -> None:
        self.stats["invalid"] += n

    def tick(self, event_time: float) -> None:
        self.watermark = max(self.watermark, event_time)

    def drain_changes(self) -> list[dict[str, Any]]:
        out, self.changes = self.changes, []
        return out

    def drain_restorations(self) -> list[dict[str, Any]]:
        out, self.feed = self.feed, []
        return out

    def outages(self, status: str = "all") -> list[dict[str, Any]]:
        return [d for d in self.docs.values() if status in ("all", d["status"])]

    def outage_detail(self, outage_id: str) -> dict[str, Any] | None:
        doc = self.docs.get(outage_id)
        if doc is None:
            return None
        return {**doc, "affected_meters": [], "evidence": [], "children": []}

    def event_stats(self) -> dict[str, int]:
        return dict(self.stats)


class StandInPort(CorePort):
    def make_engine(self, topology: Topology) -> EngineLike:
        return StandInEngine(topology)


def small_topology() -> Topology:
    """One feeder: breaker, fuse, two transformers, six metered service points."""
    b = TopologyBuilder()
    src = b.feeder("FDR-1")
    brk = b.device("BRK-1", "breaker", src)
    fuse = b.device("FUSE-1", "fuse", brk)
    for t in (1, 2):
        xf = b.device(f"XF-{t}", "transformer", fuse)
        for i in range(1, 4):
            n = (t - 1) * 3 + i
            b.service_point(f"SP-{n}", xf, meter=f"M{n}")
    return b.build()
