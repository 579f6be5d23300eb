"""Parameters of a simulated storm, with realistic defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["DEFAULT_KIND_WEIGHTS", "DEFAULT_START", "StormParams"]

DEFAULT_START = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)

#: Relative chance that a sustained outage opens each kind of device: breaker
#: lockouts are rare, fuses and transformers common, single service drops frequent.
DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "breaker": 0.02,
    "recloser": 0.06,
    "sectionalizer": 0.05,
    "fuse": 0.42,
    "transformer": 0.25,
    "service_point": 0.20,
}

#: Median sustained duration by kind, minutes (crews go to big outages first).
DEFAULT_MEDIAN_DURATION_MIN: dict[str, float] = {
    "breaker": 45.0,
    "recloser": 60.0,
    "sectionalizer": 70.0,
    "fuse": 95.0,
    "transformer": 130.0,
    "service_point": 150.0,
}


@dataclass(frozen=True)
class StormParams:
    """Everything a scenario depends on besides the topology and the seed."""

    start: datetime = DEFAULT_START
    duration_h: float = 6.0
    #: sustained outages placed independently (nested children come on top)
    outages: int = 30
    #: momentary interruptions (recloser shots); ``None``: a third of ``outages``
    momentaries: int | None = None
    #: chance a dark AMI meter's last gasp reaches the head end
    delivery: float = 0.5
    #: chance a meter's power-restored event reaches the head end
    restore_delivery: float = 0.9
    #: outages with more AMI meters than ``small_area_meters`` lose delivery
    #: (collectors and backhaul dark too), down to ``large_area_factor`` times
    #: ``delivery`` at ``large_area_meters`` and beyond
    small_area_meters: int = 100
    large_area_meters: int = 1000
    large_area_factor: float = 0.6
    #: chance a sustained outage of a protective device leaves nested outages
    nested_probability: float = 0.35
    momentary_window_s: float = 60.0
    min_sustained_min: float = 12.0
    max_sustained_h: float = 8.0
    #: fraction of events delivered minutes to hours late (PLC networks)
    late_fraction: float = 0.02
    late_max_s: float = 3 * 3600.0
    #: median delivery delay of the others, seconds
    delay_median_s: float = 2.0
    duplicate_fraction: float = 0.02
    unknown_meter_fraction: float = 0.005
    malformed_fraction: float = 0.002
    #: fraction of events using the IEC 61968-9 codes instead of the names
    iec_code_fraction: float = 0.1
    kind_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    median_duration_min: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_MEDIAN_DURATION_MIN)
    )

    @property
    def n_momentaries(self) -> int:
        return self.outages // 3 if self.momentaries is None else self.momentaries

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"] = self.start.isoformat().replace("+00:00", "Z")
        out["momentaries"] = self.n_momentaries
        return out
