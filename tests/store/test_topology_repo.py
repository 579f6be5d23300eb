"""Topology versions on SQLite and PostgreSQL: save, activate, roll back, round-trip."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, select, update

from gis_import.report import DefectKind, ImportReport
from oms_bridge.core.topology import Topology, TopologyBuilder
from oms_bridge.errors import StoreError
from oms_bridge.store import migrate, topology_repo
from oms_bridge.store.engine import create_sync_engine
from oms_bridge.store.schema import metadata, topology_versions


@dataclass
class Outcome:
    topology: Topology | None
    report: ImportReport


def _topology(n_sp: int, feeder: str = "FDR-1") -> Topology:
    b = TopologyBuilder()
    src = b.feeder(feeder, substation="NORTH")
    brk = b.device(f"BRK-{feeder}", "breaker", src)
    fuse = b.device(f"FUSE-{feeder}", "fuse", brk)
    xf = b.device(f"XF-{feeder}", "transformer", fuse)
    for i in range(n_sp):
        b.service_point(f"SP-{feeder}-{i}", xf, meter=f"M{feeder}{i:04d}" if i % 3 else None,
                        meter_type="ami" if i % 3 else "amr")
    return b.build()


def _outcome(n_sp: int = 5, feeder: str = "FDR-1", defects: int = 0) -> Outcome:
    report = ImportReport(source=f"{feeder}.zip", counts={"ServicePoint": n_sp})
    for i in range(defects):
        report.add(DefectKind.NO_TRANSFORMER, "ServicePoint", f"SP-X{i}", "no transformer")
    return Outcome(_topology(n_sp, feeder), report)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate.upgrade(db_url)
    eng = create_sync_engine(db_url)
    yield eng
    eng.dispose()


def _save(engine: Engine, outcome: Outcome, source: str = "export") -> int:
    with engine.begin() as conn:
        return topology_repo.save_version(conn, outcome, source)


def _same(a: Topology, b: Topology) -> None:
    assert a.feeder_ids == b.feeder_ids
    assert a.feeder_substation == b.feeder_substation
    for name, value in vars(a).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, getattr(b, name), err_msg=name)


def test_migrations_reach_head_and_go_back(db_url: str) -> None:
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()
    eng = create_sync_engine(db_url)
    try:
        tables = set(inspect(eng).get_table_names())
        assert {"topology_versions", "active_topology", "topology_activations"} <= tables
    finally:
        eng.dispose()
    migrate.upgrade(db_url)  # idempotent
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None


def test_nothing_active_on_a_fresh_database(engine: Engine) -> None:
    with engine.connect() as conn:
        assert topology_repo.active(conn) is None
        assert topology_repo.list_versions(conn) == []
        with pytest.raises(StoreError, match="nothing to roll back"):
            topology_repo.rollback(conn)


def test_save_activate_and_round_trip(engine: Engine) -> None:
    outcome = _outcome(n_sp=7, defects=2)
    vid = _save(engine, outcome, "feeder one.zip")
    with engine.connect() as conn:
        assert topology_repo.active(conn) is None  # saving does not activate
    with engine.begin() as conn:
        topology_repo.activate(conn, vid)
    with engine.connect() as conn:
        found = topology_repo.active(conn)
        assert found is not None
        assert found[0] == vid
        assert outcome.topology is not None
        _same(found[1], outcome.topology)
        assert found[1].meter_index("MFDR-10001") >= 0
        info = topology_repo.version(conn, vid)
        assert (info.source, info.service_points, info.ami_meters, info.defects) == (
            "feeder one.zip", 7, 4, 2,
        )
        assert info.active
        assert len(info.sha256) == 64
        stored = topology_repo.report(conn, vid)
        assert stored == outcome.report.to_dict()


def test_activation_is_atomic_with_the_caller_transaction(engine: Engine) -> None:
    first = _save(engine, _outcome(feeder="A"))
    with engine.begin() as conn:
        topology_repo.activate(conn, first)
    second = _save(engine, _outcome(feeder="B"))
    with pytest.raises(RuntimeError), engine.begin() as conn:
        topology_repo.activate(conn, second)
        assert topology_repo.active_version_id(conn) == second
        raise RuntimeError("crash before commit")
    with engine.connect() as conn:
        assert topology_repo.active_version_id(conn) == first
        assert [v for v, *_ in topology_repo.activation_history(conn)] == [first]


def test_activate_unknown_version_fails(engine: Engine) -> None:
    with pytest.raises(StoreError, match="does not exist"), engine.begin() as conn:
        topology_repo.activate(conn, 999)


def test_rollback_walks_back_through_history(engine: Engine) -> None:
    ids = [_save(engine, _outcome(feeder=f"F{i}")) for i in range(3)]
    for vid in ids:
        with engine.begin() as conn:
            topology_repo.activate(conn, vid)
    with engine.begin() as conn:
        assert topology_repo.rollback(conn) == ids[1]
    with engine.begin() as conn:
        assert topology_repo.rollback(conn) == ids[0]
        found = topology_repo.active(conn)
        assert found is not None
        assert found[1].feeder_ids == ("F0",)
    with pytest.raises(StoreError, match="no previous version"), engine.begin() as conn:
        topology_repo.rollback(conn)
    with engine.connect() as conn:
        versions = topology_repo.list_versions(conn)
        assert [v.version_id for v in versions] == sorted(ids, reverse=True)  # all kept
        assert [v.active for v in versions] == [False, False, True]
        actions = [a for _, a, _ in topology_repo.activation_history(conn)]
        assert actions == ["activate", "activate", "activate", "rollback", "rollback"]


def test_reactivating_the_active_version_is_a_no_op(engine: Engine) -> None:
    vid = _save(engine, _outcome())
    for _ in range(2):
        with engine.begin() as conn:
            topology_repo.activate(conn, vid)
    with engine.connect() as conn:
        assert len(topology_repo.activation_history(conn)) == 1


def test_untraceable_import_is_refused(engine: Engine) -> None:
    report = ImportReport(source="empty", traced=False)
    with pytest.raises(StoreError, match="nothing could be traced"), engine.begin() as conn:
        topology_repo.save_version(conn, Outcome(None, report), "empty")


def test_corrupted_image_is_detected(engine: Engine) -> None:
    vid = _save(engine, _outcome())
    with engine.begin() as conn:
        conn.execute(
            update(topology_versions)
            .where(topology_versions.c.id == vid)
            .values(image=b"garbage")
        )
    with pytest.raises(StoreError, match="SHA-256"), engine.connect() as conn:
        topology_repo.load(conn, vid)


def test_version_metadata_serialises(engine: Engine) -> None:
    vid = _save(engine, _outcome())
    with engine.connect() as conn:
        doc = topology_repo.version(conn, vid).to_dict()
        assert doc["version_id"] == vid
        assert doc["created_at"].endswith("+00:00")
        assert topology_repo.count_versions(conn) == 1


def test_works_through_run_sync_shape(engine: Engine) -> None:
    """Repository functions only need a Connection (what ``run_sync`` hands over)."""

    def save_and_activate(conn: Connection) -> int:
        vid = topology_repo.save_version(conn, _outcome(), "run_sync")
        topology_repo.activate(conn, vid)
        return vid

    with engine.begin() as conn:
        vid = save_and_activate(conn)
    with engine.connect() as conn:
        ids = conn.execute(select(topology_versions.c.id)).scalars().all()
        assert ids == [vid]


def test_migrations_match_the_schema_module(db_url: str) -> None:
    """``schema.py`` and the migration scripts describe the same tables (no drift)."""
    migrate.upgrade(db_url)
    eng = create_sync_engine(db_url)
    try:
        with eng.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, metadata)
    finally:
        eng.dispose()
    assert diff == []
