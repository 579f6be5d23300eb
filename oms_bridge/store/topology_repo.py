"""Topology versions: save, activate atomically, load the active one, roll back.

Every function takes a synchronous :class:`~sqlalchemy.engine.Connection` and
works inside the caller's transaction, never committing on its own, so the
caller decides what is atomic::

    with engine.begin() as conn:            # one transaction
        vid = save_version(conn, result, source="feeders.zip")
        activate(conn, vid)

and the async service does the same with
``await conn.run_sync(topology_repo.activate, vid)`` inside
``async with engine.begin() as conn``. Activation locks the single pointer row
(``SELECT ... FOR UPDATE`` on PostgreSQL), so two concurrent activations
serialise instead of interleaving. Versions are never deleted by activation:
the previous one stays for :func:`rollback`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, func, insert, select, update

from oms_bridge.core.topology import Topology
from oms_bridge.errors import StoreError
from oms_bridge.store.schema import (
    ACTIVE_ROW_ID,
    active_topology,
    topology_activations,
    topology_versions,
)

__all__ = [
    "IMAGE_FORMAT",
    "ImportOutcome",
    "VersionInfo",
    "activate",
    "activation_history",
    "active",
    "active_version_id",
    "count_versions",
    "list_versions",
    "load",
    "report",
    "rollback",
    "save_version",
    "version",
]

#: What ``topology_versions.image`` holds: ``Topology.to_bytes()`` (an ``.npz``).
IMAGE_FORMAT = "npz-v1"


class _Report(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class ImportOutcome(Protocol):
    """What ``gis_import.build.build_topology`` returns (``ImportResult``)."""

    @property
    def topology(self) -> Topology | None: ...

    @property
    def report(self) -> _Report: ...


@dataclass(frozen=True)
class VersionInfo:
    """One stored topology version, without its image."""

    version_id: int
    created_at: datetime
    source: str
    sha256: str
    image_bytes: int
    feeders: int
    nodes: int
    service_points: int
    ami_meters: int
    defects: int
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "version_id": self.version_id,
            "created_at": self.created_at.isoformat(),
            "source": self.source,
            "sha256": self.sha256,
            "image_bytes": self.image_bytes,
            "feeders": self.feeders,
            "nodes": self.nodes,
            "service_points": self.service_points,
            "ami_meters": self.ami_meters,
            "defects": self.defects,
            "active": self.active,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def save_version(conn: Connection, result: ImportOutcome, source: str) -> int:
    """Store an import (image, checksum, counts, report); returns the new version id.

    Raises :class:`StoreError` when the import traced nothing (no topology).
    The version is not activated: call :func:`activate`.
    """
    topology = result.topology
    if topology is None:
        raise StoreError(f"{source}: nothing could be traced, so there is no topology to store")
    report_doc = result.report.to_dict()
    image = topology.to_bytes()
    row = {
        "created_at": _now(),
        "source": source,
        "sha256": hashlib.sha256(image).hexdigest(),
        "image_format": IMAGE_FORMAT,
        "image_bytes": len(image),
        "feeders": len(topology.feeder_ids),
        "nodes": topology.n_nodes,
        "service_points": topology.n_service_points,
        "ami_meters": topology.n_ami,
        "defects": len(report_doc.get("defects", ())),
        "report": report_doc,
        "image": image,
    }
    new_id = conn.execute(
        insert(topology_versions).values(**row).returning(topology_versions.c.id)
    ).scalar_one()
    return int(new_id)


def _lock_pointer(conn: Connection) -> int | None:
    """Lock the pointer row (creating it if a bare ``create_all`` left none)."""
    stmt = (
        select(active_topology.c.version_id)
        .where(active_topology.c.id == ACTIVE_ROW_ID)
        .with_for_update()
    )
    found = conn.execute(stmt).first()
    if found is None:
        conn.execute(insert(active_topology).values(id=ACTIVE_ROW_ID, version_id=None))
        found = conn.execute(stmt).first()
        assert found is not None
    return None if found.version_id is None else int(found.version_id)


def _point_to(conn: Connection, version_id: int, action: str) -> None:
    now = _now()
    conn.execute(
        update(active_topology)
        .where(active_topology.c.id == ACTIVE_ROW_ID)
        .values(version_id=version_id, activated_at=now)
    )
    conn.execute(
        insert(topology_activations).values(version_id=version_id, action=action, at=now)
    )


def _exists(conn: Connection, version_id: int) -> bool:
    stmt = select(topology_versions.c.id).where(topology_versions.c.id == version_id)
    return conn.execute(stmt).first() is not None


def activate(conn: Connection, version_id: int) -> None:
    """Make ``version_id`` the active topology (the previous one stays stored).

    Activating the version already active is a no-op.
    """
    current = _lock_pointer(conn)
    if not _exists(conn, version_id):
        raise StoreError(f"topology version {version_id} does not exist")
    if current == version_id:
        return
    _point_to(conn, version_id, "activate")


def _stack(conn: Connection) -> list[int]:
    """Replay the activation log: ``activate`` pushes, ``rollback`` pops."""
    stack: list[int] = []
    rows = conn.execute(
        select(topology_activations.c.version_id, topology_activations.c.action).order_by(
            topology_activations.c.id
        )
    )
    for vid, action in rows:
        if action == "rollback":
            if stack:
                stack.pop()
        else:
            stack.append(int(vid))
    return stack


def rollback(conn: Connection) -> int:
    """Re-activate the version that was active before the current one; returns its id.

    Repeated rollbacks walk further back through the activation history.
    Raises :class:`StoreError` when there is nothing to go back to.
    """
    current = _lock_pointer(conn)
    if current is None:
        raise StoreError("no topology is active, so there is nothing to roll back")
    stack = _stack(conn)
    if len(stack) < 2:
        raise StoreError(f"topology version {current} has no previous version to roll back to")
    target = stack[-2]
    _point_to(conn, target, "rollback")
    return target


def active_version_id(conn: Connection) -> int | None:
    """Id of the active version, without loading its image."""
    found = conn.execute(
        select(active_topology.c.version_id).where(active_topology.c.id == ACTIVE_ROW_ID)
    ).first()
    return None if found is None or found.version_id is None else int(found.version_id)


def load(conn: Connection, version_id: int) -> Topology:
    """The compiled topology of a version, checked against its SHA-256."""
    found = conn.execute(
        select(
            topology_versions.c.image,
            topology_versions.c.sha256,
            topology_versions.c.image_format,
        ).where(topology_versions.c.id == version_id)
    ).first()
    if found is None:
        raise StoreError(f"topology version {version_id} does not exist")
    image = bytes(found.image)
    if found.image_format != IMAGE_FORMAT:
        raise StoreError(
            f"topology version {version_id} is stored as {found.image_format!r}; "
            f"this code reads {IMAGE_FORMAT!r}"
        )
    if hashlib.sha256(image).hexdigest() != found.sha256:
        raise StoreError(f"topology version {version_id}: stored image fails its SHA-256 check")
    return Topology.from_bytes(image)


def active(conn: Connection) -> tuple[int, Topology] | None:
    """``(version_id, topology)`` of the active version, or ``None`` when none is."""
    vid = active_version_id(conn)
    if vid is None:
        return None
    return vid, load(conn, vid)


def _info(row: Any, active_id: int | None) -> VersionInfo:
    created = row.created_at
    if created.tzinfo is None:  # SQLite hands back naive datetimes
        created = created.replace(tzinfo=UTC)
    return VersionInfo(
        version_id=int(row.id),
        created_at=created,
        source=row.source,
        sha256=row.sha256,
        image_bytes=int(row.image_bytes),
        feeders=int(row.feeders),
        nodes=int(row.nodes),
        service_points=int(row.service_points),
        ami_meters=int(row.ami_meters),
        defects=int(row.defects),
        active=int(row.id) == active_id,
    )


_INFO_COLUMNS = (
    topology_versions.c.id,
    topology_versions.c.created_at,
    topology_versions.c.source,
    topology_versions.c.sha256,
    topology_versions.c.image_bytes,
    topology_versions.c.feeders,
    topology_versions.c.nodes,
    topology_versions.c.service_points,
    topology_versions.c.ami_meters,
    topology_versions.c.defects,
)


def list_versions(conn: Connection) -> list[VersionInfo]:
    """Every stored version, newest first, flagged with which one is active."""
    active_id = active_version_id(conn)
    rows = conn.execute(select(*_INFO_COLUMNS).order_by(topology_versions.c.id.desc()))
    return [_info(r, active_id) for r in rows]


def version(conn: Connection, version_id: int) -> VersionInfo:
    """One version's metadata (no image)."""
    row = conn.execute(
        select(*_INFO_COLUMNS).where(topology_versions.c.id == version_id)
    ).first()
    if row is None:
        raise StoreError(f"topology version {version_id} does not exist")
    return _info(row, active_version_id(conn))


def report(conn: Connection, version_id: int) -> dict[str, Any]:
    """The import report stored with a version (``ImportReport.to_dict()``)."""
    found = conn.execute(
        select(topology_versions.c.report).where(topology_versions.c.id == version_id)
    ).first()
    if found is None:
        raise StoreError(f"topology version {version_id} does not exist")
    doc: dict[str, Any] = found.report
    return doc


def activation_history(conn: Connection) -> list[tuple[int, str, datetime]]:
    """``(version_id, "activate" | "rollback", at)``, oldest first."""
    rows = conn.execute(
        select(
            topology_activations.c.version_id,
            topology_activations.c.action,
            topology_activations.c.at,
        ).order_by(topology_activations.c.id)
    )
    return [(int(v), str(a), t) for v, a, t in rows]


def count_versions(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(topology_versions)).scalar_one())
