"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import redis
from sqlalchemy import create_engine, text

from gis_import.build import ImportResult
from gis_import.report import ImportReport
from oms_bridge.core.topology import Topology
from oms_bridge.store import migrate, topology_repo
from oms_bridge.store.engine import create_sync_engine
from oms_bridge.store.urls import sync_url

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_FEEDERS = SHARED / "feeders"
FEEDER_NAMES = ("ckt5", "ckt7", "ckt24", "ieee8500")


@pytest.fixture(scope="session")
def shared_feeders() -> Path:
    """``../shared/feeders`` beside the checkout, or skip where it is absent."""
    if not (SHARED_FEEDERS / "ckt7" / "ServicePoint.geojson").is_file():
        pytest.skip("../shared/feeders is not beside this checkout")
    return SHARED_FEEDERS


# --------------------------------------------------------------- real services
# PostgreSQL and Redis tests skip where the servers are unreachable, except in
# CI (.ci/run sets OMS_BRIDGE_REQUIRE_SERVICES=1), where a missing server fails.

PG_ADMIN_URL = os.environ.get(
    "OMS_BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_TEST_URL = os.environ.get("OMS_BRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(reason: str) -> None:
    """Skip, or fail where CI promised the service."""
    if os.environ.get("OMS_BRIDGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_scratch_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"oms_bridge_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(PG_ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        unavailable(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}".strip())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def redis_test_url() -> str:
    """The Redis server, checked reachable; tests use their own key names."""
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis unreachable at {REDIS_TEST_URL}: {exc}")
    finally:
        client.close()
    return REDIS_TEST_URL


def reset_pg_schema(url: str) -> None:
    """Empty a scratch PostgreSQL database between tests that share it."""
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def seed_topology(url: str, topology: Topology, source: str = "test") -> int:
    """Store ``topology`` as the active version of a fresh (migrated) database."""
    migrate.upgrade(url)
    engine = create_sync_engine(url)
    try:
        with engine.begin() as conn:
            result = ImportResult(topology=topology, report=ImportReport(source=source))
            vid = topology_repo.save_version(conn, result, source=source)
            topology_repo.activate(conn, vid)
    finally:
        engine.dispose()
    return vid
