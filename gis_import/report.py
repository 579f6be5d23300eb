"""The import report: every defect with its layer, FACILITYID and what is wrong.

A defect never aborts an import by itself; the report travels with the
topology version so a GIS admin can fix the source data.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_MESSAGE_CHARS", "Defect", "DefectKind", "FeederSummary", "ImportReport"]

#: Longer defect messages (quoting huge attribute values) are cut in the middle.
MAX_MESSAGE_CHARS = 1000


class DefectKind(enum.Enum):
    """What is wrong with a feature. Values are stable: reports and tests pin them."""

    NEAR_MISS = "near_miss"                    # end points close, but beyond tolerance
    DUPLICATE_ID = "duplicate_id"              # FACILITYID repeated within a class
    UNREACHED = "unreached"                    # no source reaches the feature
    LOOP = "loop"                              # a closed device joins two paths
    DEVICE_OFF_CONDUCTOR = "device_off_conductor"  # point device on no conductor
    NO_TRANSFORMER = "no_transformer"          # service point with no transformer
    MULTI_SOURCE = "multi_source"              # feeder energised from two sources
    MISSING_ATTRIBUTE = "missing_attribute"    # required attribute absent or invalid
    NON_WGS84 = "non_wgs84"                    # GeoJSON not in WGS84 lon/lat
    BAD_GEOMETRY = "bad_geometry"              # empty/invalid geometry of a feature
    MISSING_LAYER = "missing_layer"            # a feature class is absent from the export


@dataclass(frozen=True, order=True)
class Defect:
    kind: DefectKind = field(compare=False)
    layer: str
    facility_id: str | None
    message: str
    sort_kind: str = field(default="", repr=False)
    #: how far apart, for a NEAR_MISS (metres); None for other kinds
    distance_m: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sort_kind", self.kind.value)
        if len(self.message) > MAX_MESSAGE_CHARS:
            # a message quotes attribute values; a megabyte SUBTYPE must not make a
            # megabyte report line. Keep both ends: the tail says what was done.
            half = (MAX_MESSAGE_CHARS - 5) // 2
            cut = f"{self.message[:half]} ... {self.message[-half:]}"
            object.__setattr__(self, "message", cut)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "layer": self.layer,
            "facility_id": self.facility_id,
            "message": self.message,
        }
        if self.distance_m is not None:
            out["distance_m"] = round(self.distance_m, 3)
        return out


@dataclass
class FeederSummary:
    feeder_id: str
    source_id: str
    service_points: int
    ami_meters: int
    protective_devices: int
    blind_devices: list[str]

    @property
    def coverage(self) -> float:
        return self.ami_meters / self.service_points if self.service_points else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "feeder_id": self.feeder_id,
            "source_id": self.source_id,
            "service_points": self.service_points,
            "ami_meters": self.ami_meters,
            "coverage": round(self.coverage, 4),
            "protective_devices": self.protective_devices,
            "blind_devices": list(self.blind_devices),
        }


@dataclass
class ImportReport:
    source: str
    counts: dict[str, int] = field(default_factory=dict)   # features read, per layer
    feeders: list[FeederSummary] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)          # information, not defects
    traced: bool = True

    def add(self, kind: DefectKind, layer: str, facility_id: str | None, message: str) -> None:
        self.defects.append(Defect(kind, layer, facility_id, message))

    def defects_by_kind(self) -> dict[str, int]:
        return dict(sorted(Counter(d.kind.value for d in self.defects).items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "traced": self.traced,
            "counts": dict(self.counts),
            "feeders": [f.to_dict() for f in self.feeders],
            "defects_by_kind": self.defects_by_kind(),
            "defects": [d.to_dict() for d in sorted(self.defects, key=_defect_order)],
            "notes": list(self.notes),
        }


def _defect_order(d: Defect) -> tuple[str, str, str, str]:
    """The dataclass order of :class:`Defect`, with a missing FACILITYID sorting first
    (comparing None with a string would raise)."""
    return (d.layer, d.facility_id or "", d.message, d.kind.value)
