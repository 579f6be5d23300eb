"""The one exception hierarchy of oms-bridge (and ``gis_import``).

Every error raised on purpose derives from :class:`OmsBridgeError` and carries
its context as attributes, so an adapter can turn it into a clear message (or an
HTTP problem document) without parsing strings.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EventError",
    "ExportError",
    "OmsBridgeError",
    "StoreError",
    "TopologyError",
    "UnsafeArchiveError",
]


class OmsBridgeError(Exception):
    """Root of every deliberate error in oms-bridge."""


class ConfigError(OmsBridgeError):
    """A setting is missing, of the wrong type or out of range."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        where = ", ".join(p for p in (f"key {key!r}" if key else "", source or "") if p)
        super().__init__(f"{message} ({where})" if where else message)
        self.key = key
        self.source = source


class ExportError(OmsBridgeError):
    """A GIS export file cannot be read at all (bad JSON, wrong geometry type...)."""

    def __init__(self, message: str, *, file: str | None = None, layer: str | None = None):
        where = file or layer
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.layer = layer
        self.reason = message


class UnsafeArchiveError(ExportError):
    """An archive tries path traversal, links, or decompresses to an absurd size."""


class TopologyError(OmsBridgeError):
    """Nothing could be traced, or a compiled topology is inconsistent."""


class EventError(OmsBridgeError):
    """A meter event is malformed; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        parts = [p for p in (f"line {line}" if line is not None else "",
                             f"field {field!r}" if field else "") if p]
        super().__init__(f"{', '.join(parts)}: {message}" if parts else message)
        self.field = field
        self.line = line
        self.reason = message


class StoreError(OmsBridgeError):
    """The database refused or lost an operation."""
