"""What a GIS export holds once read: one :class:`Layer` per feature class.

Pure data, no I/O. The readers (``gis_import.readers``) fill these from GeoJSON,
GeoPackage or Shapefile; the network builder consumes them. A layer keeps its
features column-wise so a million service points cost a few arrays and lists,
not a million objects:

- ``ids[i]`` is the FACILITYID of feature ``i`` (stripped, ``''`` -> ``None``);
- ``attrs[NAME][i]`` its attribute ``NAME`` under the canonical full name
  (Shapefile's 10-character names are mapped back, names match
  case-insensitively, strings are stripped, ``''`` and NaN -> ``None``); every
  attribute of the class spec is present, filled with ``None`` where the file
  lacks the column; other columns are kept under their own names;
  ``attrs["FACILITYID"]`` is the ``ids`` list itself;
- Points: ``xy[i]`` is (lon, lat) WGS84; LineStrings: vertices of line ``i`` are
  ``coords[offsets[i]:offsets[i + 1]]`` (lon, lat).

Features whose geometry is null, empty, malformed or of the wrong type are not
in a layer at all: the reader reports each as a ``BAD_GEOMETRY`` defect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gis_import.report import Defect

__all__ = [
    "CLASS_NAMES",
    "LAYER_SPECS",
    "LINE",
    "POINT",
    "REQUIRED_LAYERS",
    "SHAPEFILE_FIELD_CHARS",
    "WGS84",
    "Export",
    "Layer",
    "LayerSpec",
    "canonical_class",
    "offsets_from_counts",
    "shapefile_field_name",
]

POINT = "Point"
LINE = "LineString"
WGS84 = "EPSG:4326"

#: dBASE (Shapefile) field names are cut to this many characters.
SHAPEFILE_FIELD_CHARS = 10

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def shapefile_field_name(name: str) -> str:
    """The name ArcGIS gives ``name`` in a Shapefile (cut to 10 characters)."""
    return name[:SHAPEFILE_FIELD_CHARS]


@dataclass(frozen=True)
class LayerSpec:
    """One feature class of the export (contract section 1)."""

    name: str
    geom_type: str                      # POINT or LINE
    required: tuple[str, ...]           # attributes the builder cannot do without
    optional: tuple[str, ...] = ()
    #: a missing required layer is a MISSING_LAYER defect; others are just empty
    required_layer: bool = False

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def aliases(self) -> dict[str, str]:
        """Upper-cased alternative field name -> canonical name (Shapefile cuts)."""
        out: dict[str, str] = {}
        for attr in self.attributes:
            out[attr.upper()] = attr
            short = shapefile_field_name(attr).upper()
            out.setdefault(short, attr)
        return out

    def canonical(self, field_name: str) -> str:
        """The canonical attribute name for a field as found in a file.

        Matches case-insensitively, maps Shapefile 10-character names back to the
        full name, and leaves unknown fields as they are.
        """
        return self.aliases.get(field_name.strip().upper(), field_name)


LAYER_SPECS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec("CircuitSource", POINT, ("FACILITYID", "FEEDERID"),
                  ("SUBSTATION", "NOMINALKV"), required_layer=True),
        LayerSpec("PrimaryConductor", LINE, ("FACILITYID",),
                  ("PHASEDESIGNATION", "CONSTRUCTION", "FEEDERID"), required_layer=True),
        LayerSpec("SecondaryConductor", LINE, ("FACILITYID",)),
        LayerSpec("DynamicProtectiveDevice", POINT, ("FACILITYID", "SUBTYPE", "NORMALSTATUS"),
                  ("FEEDERID",)),
        LayerSpec("Fuse", POINT, ("FACILITYID", "NORMALSTATUS"), ("RATING",)),
        LayerSpec("Switch", POINT, ("FACILITYID", "NORMALSTATUS")),
        LayerSpec("Transformer", POINT, ("FACILITYID",), ("KVA", "PHASEDESIGNATION"),
                  required_layer=True),
        LayerSpec("ServicePoint", POINT, ("FACILITYID", "METERTYPE"),
                  ("METERNUMBER", "TRANSFORMERID"), required_layer=True),
    )
}

CLASS_NAMES: tuple[str, ...] = tuple(LAYER_SPECS)
REQUIRED_LAYERS: tuple[str, ...] = tuple(n for n, s in LAYER_SPECS.items() if s.required_layer)
_CLASS_BY_FOLDED = {name.lower(): name for name in CLASS_NAMES}


def canonical_class(name: str) -> str | None:
    """The class name matching ``name`` case-insensitively, or None."""
    return _CLASS_BY_FOLDED.get(name.strip().lower())


def offsets_from_counts(counts: npt.ArrayLike) -> IntArray:
    """Ragged-array offsets (n + 1, starting at 0) from vertex counts per line."""
    c = np.asarray(counts, dtype=np.int64)
    out = np.zeros(len(c) + 1, dtype=np.int64)
    np.cumsum(c, out=out[1:])
    return out


def _empty_xy() -> FloatArray:
    return np.empty((0, 2), dtype=np.float64)


def _zero_offsets() -> IntArray:
    return np.zeros(1, dtype=np.int64)


@dataclass
class Layer:
    """The features of one class, column-wise (see the module docstring)."""

    name: str
    source: str
    geom_type: str
    ids: list[str | None] = field(default_factory=list)
    attrs: dict[str, list[Any]] = field(default_factory=dict)
    #: Points: (n, 2) lon/lat
    xy: FloatArray = field(default_factory=_empty_xy)
    #: LineStrings: all vertices (k, 2) lon/lat, line i = coords[offsets[i]:offsets[i+1]]
    coords: FloatArray = field(default_factory=_empty_xy)
    offsets: IntArray = field(default_factory=_zero_offsets)
    #: CRS of the file as given (coordinates here are always WGS84 lon/lat)
    crs: str = WGS84
    #: features of the file not in the layer (each reported as a defect)
    dropped: int = 0
    #: False when the whole layer had to be skipped (e.g. not lon/lat, no CRS)
    usable: bool = True

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def is_point(self) -> bool:
        return self.geom_type == POINT

    def line(self, i: int) -> FloatArray:
        """Vertices (lon, lat) of line ``i``."""
        return self.coords[self.offsets[i]:self.offsets[i + 1]]

    def endpoints(self) -> tuple[FloatArray, FloatArray]:
        """First and last vertex of every line, two (n, 2) arrays."""
        if len(self) == 0:
            return _empty_xy(), _empty_xy()
        return self.coords[self.offsets[:-1]], self.coords[self.offsets[1:] - 1]

    def subset(self, keep: npt.ArrayLike) -> Layer:
        """The features where ``keep`` (one bool per feature) is True."""
        mask = np.asarray(keep, dtype=bool)
        if mask.shape != (len(self),):
            raise ValueError(f"{self.name}: keep mask has shape {mask.shape}, not ({len(self)},)")
        if mask.all():
            return self
        idx = np.flatnonzero(mask).tolist()
        ids = [self.ids[i] for i in idx]
        attrs = {k: [v[i] for i in idx] for k, v in self.attrs.items()}
        if "FACILITYID" in attrs:
            attrs["FACILITYID"] = ids
        out = Layer(self.name, self.source, self.geom_type, ids, attrs, crs=self.crs,
                    dropped=self.dropped + int((~mask).sum()), usable=self.usable)
        if self.geom_type == POINT:
            out.xy = self.xy[mask]
        else:
            counts = np.diff(self.offsets)
            out.coords = self.coords[np.repeat(mask, counts)]
            out.offsets = offsets_from_counts(counts[mask])
        return out

    def check(self) -> None:
        """Raise ``ValueError`` if the columns disagree in length or shape."""
        n = len(self.ids)
        for name, values in self.attrs.items():
            if len(values) != n:
                raise ValueError(f"{self.name}: attribute {name} has {len(values)} values, not {n}")
        if self.geom_type == POINT:
            if self.xy.shape != (n, 2):
                raise ValueError(f"{self.name}: xy has shape {self.xy.shape}, not ({n}, 2)")
        elif self.geom_type == LINE:
            if self.offsets.shape != (n + 1,) or self.offsets[0] != 0:
                raise ValueError(f"{self.name}: offsets do not describe {n} lines")
            if int(self.offsets[-1]) != len(self.coords) or np.any(np.diff(self.offsets) < 2):
                raise ValueError(f"{self.name}: offsets disagree with coords")
        else:
            raise ValueError(f"{self.name}: unknown geometry type {self.geom_type!r}")


@dataclass
class Export:
    """Every layer read from one export, plus what the reader found wrong."""

    source: str
    layers: dict[str, Layer] = field(default_factory=dict)
    crs: str = WGS84
    defects: list[Defect] = field(default_factory=list)
    #: "geojson", "gpkg" or "shapefile"
    format: str = "geojson"

    def layer(self, name: str) -> Layer:
        """The layer ``name``, or an empty one when the export lacks it."""
        found = self.layers.get(name)
        if found is not None:
            return found
        spec = LAYER_SPECS[name]
        return Layer(name, self.source, spec.geom_type,
                     attrs={a: [] for a in spec.attributes})

    def counts(self) -> dict[str, int]:
        return {name: len(layer) for name, layer in self.layers.items()}
