"""Closed vocabularies shared by the importer, the engine and the API.

Lookups by value fail with a message listing the valid values, so a typo in a
GIS attribute or a settings file says what would have been accepted.
"""

from __future__ import annotations

import enum

__all__ = ["PROTECTIVE_KINDS", "DeviceKind", "MeterType", "OutageStatus"]


class _Vocabulary(enum.Enum):
    @classmethod
    def _missing_(cls, value: object) -> _Vocabulary:
        if isinstance(value, str):
            folded = value.strip().lower()
            for member in cls:
                if member.value == folded:
                    return member
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{value!r} is not a valid {cls.__name__}; valid: {valid}")


class DeviceKind(_Vocabulary):
    """What a node of the compiled topology is. Stored as its index (uint8)."""

    SOURCE = "source"
    BREAKER = "breaker"
    RECLOSER = "recloser"
    SECTIONALIZER = "sectionalizer"
    FUSE = "fuse"
    SWITCH = "switch"
    TRANSFORMER = "transformer"
    SERVICE_POINT = "service_point"

    @property
    def code(self) -> int:
        return _KIND_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> DeviceKind:
        return _KINDS_BY_CODE[code]


_KINDS_BY_CODE: tuple[DeviceKind, ...] = tuple(DeviceKind)
_KIND_CODES: dict[DeviceKind, int] = {k: i for i, k in enumerate(_KINDS_BY_CODE)}

#: Devices that open on their own to clear a fault, so an outage can be placed on
#: them. Switches are operated by crews, not by faults; a source is never "out"
#: as far as AMI can tell (that is a breaker lockout).
PROTECTIVE_KINDS: frozenset[DeviceKind] = frozenset(
    {DeviceKind.BREAKER, DeviceKind.RECLOSER, DeviceKind.SECTIONALIZER, DeviceKind.FUSE}
)


class MeterType(_Vocabulary):
    """METERTYPE of a service point; only AMI meters send events."""

    AMI = "ami"
    AMR = "amr"
    MANUAL = "manual"
    NONE = "none"

    @property
    def code(self) -> int:
        return _METER_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> MeterType:
        return _METERS_BY_CODE[code]


_METERS_BY_CODE: tuple[MeterType, ...] = tuple(MeterType)
_METER_CODES: dict[MeterType, int] = {k: i for i, k in enumerate(_METERS_BY_CODE)}


class OutageStatus(_Vocabulary):
    """Lifecycle of an inferred outage as published (contract section 3)."""

    PENDING = "pending"  # inside the hold window, not yet published
    ACTIVE = "active"
    RESTORED = "restored"
    MOMENTARY = "momentary"
