"""What really happened in a simulated storm: the ground truth a replay is scored on.

Times are integers, milliseconds since the Unix epoch (UTC), so sums and
comparisons are exact; :func:`iso_ms` and :func:`parse_iso_ms` convert at the
edges. A device is described by the half-open ranges of service points
(``sp_lo:sp_hi``) and of AMI meters (``ami_lo:ami_hi``, ranks in the topology's
AMI order) below it. Ranges of a radial tree are laminar, so two devices are
related (one upstream of the other) exactly when their ranges intersect, and AMI
cannot tell two devices apart exactly when their AMI ranges are equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core.kinds import DeviceKind
from oms_bridge.core.topology import Topology

__all__ = [
    "EventCounts",
    "TrueOutage",
    "Truth",
    "device_ranges",
    "iso_ms",
    "iso_ms_array",
    "parse_iso_ms",
]

TRUTH_FORMAT = "oms-bridge-sim-truth/1"


def iso_ms(ms: int) -> str:
    """``2026-11-26T07:00:03.120Z`` for a millisecond epoch time."""
    stamp = datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z"


def iso_ms_array(ms: NDArray[np.int64]) -> NDArray[np.str_]:
    """Vectorised :func:`iso_ms`."""
    return np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms", timezone="UTC")


def parse_iso_ms(text: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 time; naive times are UTC."""
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return round(stamp.timestamp() * 1000)


def device_ranges(topology: Topology, device_id: str, sp_lookup: dict[str, int] | None = None,
                  ) -> tuple[int, int, int, int, DeviceKind] | None:
    """``(sp_lo, sp_hi, ami_lo, ami_hi, kind)`` of a FACILITYID (device or service point).

    ``sp_lookup`` maps service point FACILITYIDs to positions; without it the
    (linear) :meth:`Topology.sp_index` is used. ``None`` when the id is unknown.
    """
    node = topology.node_index(device_id)
    if node >= 0:
        lo, hi = int(topology.node_sp_lo[node]), int(topology.node_sp_hi[node])
        kind = topology.node_kind_of(node)
    else:
        sp = sp_lookup.get(device_id, -1) if sp_lookup is not None else topology.sp_index(
            device_id)
        if sp < 0:
            return None
        lo, hi, kind = sp, sp + 1, DeviceKind.SERVICE_POINT
    return lo, hi, int(topology.ami_cum[lo]), int(topology.ami_cum[hi]), kind


@dataclass
class TrueOutage:
    """One true interruption of one device (a service point for a single drop)."""

    outage_id: str
    device_id: str
    device_type: str
    feeder_id: str
    started_ms: int
    restored_ms: int
    momentary: bool
    sp_lo: int
    sp_hi: int
    ami_lo: int
    ami_hi: int
    #: dark intervals ``(start, end)``: one, or several recloser shots for a momentary
    shots: list[tuple[int, int]] = field(default_factory=list)
    parent: str | None = None
    #: chance that a last gasp of this outage reaches the head end (area-degraded)
    delivery: float = 0.0
    first_gasp_ms: int | None = None
    gasps_sent: int = 0
    gasps_delivered: int = 0
    restores_sent: int = 0
    restores_delivered: int = 0

    @property
    def ami_meters(self) -> int:
        return self.ami_hi - self.ami_lo

    def to_dict(self, topology: Topology | None = None) -> dict[str, Any]:
        """JSON-ready form; with ``topology`` the affected ids are listed too."""
        out: dict[str, Any] = {
            "id": self.outage_id,
            "device_id": self.device_id,
            "device_type": self.device_type,
            "feeder_id": self.feeder_id,
            "started_at": iso_ms(self.started_ms),
            "restored_at": iso_ms(self.restored_ms),
            "momentary": self.momentary,
            "parent": self.parent,
            "shots": [[iso_ms(s), iso_ms(e)] for s, e in self.shots],
            "service_points_affected": self.sp_hi - self.sp_lo,
            "ami_meters_affected": self.ami_meters,
            "delivery": round(self.delivery, 6),
            "first_gasp_at": None if self.first_gasp_ms is None else iso_ms(self.first_gasp_ms),
            "gasps_sent": self.gasps_sent,
            "gasps_delivered": self.gasps_delivered,
            "restores_sent": self.restores_sent,
            "restores_delivered": self.restores_delivered,
        }
        if topology is not None:
            sps = range(self.sp_lo, self.sp_hi)
            out["service_points"] = [topology.sp_id(s) for s in sps]
            out["ami_meters"] = [
                m for s in sps if topology.is_ami(s) and (m := topology.meter_id(s))
            ]
        return out


@dataclass
class EventCounts:
    """Lines of the events file by what a correct replay must count them as."""

    lines: int = 0
    accepted: int = 0
    duplicate: int = 0
    unknown_meter: int = 0
    invalid: int = 0
    invalid_by_kind: dict[str, int] = field(default_factory=dict)
    last_gasp: int = 0
    power_restored: int = 0
    iec_codes: int = 0
    late: int = 0
    gasps_lost: int = 0
    restores_lost: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Truth:
    """The whole truth of one scenario."""

    seed: int | None
    start_ms: int
    end_ms: int
    params: dict[str, Any]
    outages: list[TrueOutage]
    events: EventCounts
    feeders: tuple[str, ...] = ()

    def to_dict(self, topology: Topology | None = None) -> dict[str, Any]:
        return {
            "format": TRUTH_FORMAT,
            "seed": self.seed,
            "start": iso_ms(self.start_ms),
            "end": iso_ms(self.end_ms),
            "feeders": list(self.feeders),
            "params": self.params,
            "outages": [o.to_dict(topology) for o in self.outages],
            "events": self.events.to_dict(),
        }
