"""A real PostgreSQL server stopped under the running service, then started again.

The server is a scratch one of this test's own (``initdb`` and ``pg_ctl`` as the
``postgres`` user, a spare loopback port, a temporary folder), never the
machine's server on 5432. While it is down, ``POST /api/v1/events`` answers 503
with ``Retry-After`` within seconds, ``/readyz`` says so, and entries XADDed to
the stream stay pending; once it is back, ingest answers 202 again and the
consumer stores every pending entry exactly once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from oms_bridge.api.runtime import RuntimeOptions
from oms_bridge.settings import DatabaseSettings, RedisSettings, Settings
from tests.api.conftest import AppFactory, auth, event
from tests.api.standin import small_topology
from tests.conftest import seed_topology, unavailable

pytestmark = [pytest.mark.slow, pytest.mark.redis]
Client = TestClient[web.Request, web.Application]


class ScratchPostgres:
    """``initdb`` + ``pg_ctl`` as the postgres user in a temporary folder."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found or shutil.which("su") is None:
            unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bin = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="omsb-pg-"))
        self.data = self.root / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        shutil.chown(self.root, "postgres")
        self.root.chmod(0o700)
        self._as_postgres(f"{self.bin}/initdb -D {self.data} -A trust -U postgres "
                          "--no-sync -E UTF8")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/omsb"

    def _as_postgres(self, command: str) -> None:
        subprocess.run(["su", "postgres", "-c", command], check=True, capture_output=True,
                       timeout=120)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(f"{self.bin}/pg_ctl -D {self.data} -o '{opts}' -w -t 60 "
                          f"-l {self.root}/log start")

    def stop(self) -> None:
        self._as_postgres(f"{self.bin}/pg_ctl -D {self.data} -m fast -w -t 60 stop")

    def create_database(self) -> None:
        conn = psycopg2.connect(self.url.rsplit("/", 1)[0] + "/postgres", connect_timeout=5)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE omsb")
        conn.close()

    def remove(self) -> None:
        subprocess.run(["su", "postgres", "-c",
                        f"{self.bin}/pg_ctl -D {self.data} -m immediate stop"],
                       capture_output=True, check=False, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def scratch_pg() -> Iterator[ScratchPostgres]:
    server = ScratchPostgres()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.remove()


async def test_postgres_stopped_and_started_under_the_service(
    aiohttp_client: Callable[..., Awaitable[Client]], make_app: AppFactory,
    scratch_pg: ScratchPostgres, redis_test_url: str, tmp_path: Path,
) -> None:
    seed_topology(scratch_pg.url, small_topology())
    stream = f"omsb-test:{uuid.uuid4().hex[:12]}"
    settings = Settings(database=DatabaseSettings(url=scratch_pg.url),
                        redis=RedisSettings(url=redis_test_url, stream=stream, block_ms=50,
                                            batch_size=10),
                        tokens={"head-end": "he-secret", "oms": "oms-secret"})
    settings = dataclasses.replace(settings, service=dataclasses.replace(
        settings.service, data_dir=str(tmp_path / "data"), demo_topology=False))
    client = await aiohttp_client(make_app(settings, consumer_name="c1",
                                           options=RuntimeOptions(idle_tick_s=0)))
    rclient = Redis.from_url(redis_test_url)

    async def post(events: list[dict[str, str]]) -> Any:
        return await client.post("/api/v1/events", data=orjson.dumps(events),
                                 headers={"Content-Type": "application/json",
                                          **auth("head-end")})

    async def xadd(first: int, n: int) -> None:
        for i in range(first, first + n):
            await rclient.xadd(stream, {"event": orjson.dumps(event(f"R{i}", f"M{i % 6 + 1}"))})

    try:
        assert (await post([event("H1", "M1")])).status == 202
        await xadd(0, 20)
        await asyncio.to_thread(scratch_pg.stop)

        started = time.monotonic()
        resp = await post([event("H2", "M2")])
        assert resp.status == 503, await resp.text()
        assert int(resp.headers["Retry-After"]) > 0
        assert time.monotonic() - started < 10
        ready = await client.get("/readyz")
        assert ready.status == 503 and "Retry-After" in ready.headers
        await xadd(20, 30)
        await asyncio.sleep(1.0)
        assert int((await rclient.xpending(stream, "oms-bridge"))["pending"]) > 0

        await asyncio.to_thread(scratch_pg.start)
        async with asyncio.timeout(30):
            while (resp := await post([event("H2", "M2")])).status != 202:
                assert resp.status == 503, await resp.text()
                await asyncio.sleep(0.5)

            async def stats() -> dict[str, int]:
                body: dict[str, int] = await (await client.get(
                    "/api/v1/events/stats", headers=auth("oms"))).json()
                return body

            while True:
                body = await stats()
                pending = int((await rclient.xpending(stream, "oms-bridge"))["pending"])
                if body["log_seq"] >= 52 and pending == 0:
                    break
                await asyncio.sleep(0.2)
        assert body["log_seq"] == 52  # 2 posted + 50 streamed, each once
        assert (body["accepted"], body["duplicate"]) == (52, 0)
    finally:
        await client.close()
        await rclient.delete(stream)
        await rclient.aclose()
