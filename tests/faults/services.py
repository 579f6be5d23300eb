"""Throw-away PostgreSQL and Redis servers on spare loopback ports.

The fault harness stops and starts them at will, so it never touches the
machine's own services (5432, 6379). Each instance lives in its own temporary
folder, removed on :meth:`close` whatever happened; ``with`` blocks call it.
PostgreSQL runs as the ``postgres`` user when the harness runs as root (it
refuses to run as root), with trust authentication on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis
from sqlalchemy import create_engine, text

from tests.e2e.helpers import free_port

__all__ = ["PostgresInstance", "RedisInstance", "pg_bindir", "services_available"]


def pg_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (``OMS_BRIDGE_PG_BIN`` wins)."""
    env = os.environ.get("OMS_BRIDGE_PG_BIN")
    candidates = [env] if env else []
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin")
                if p.parent.name.isdigit()]
    candidates += [str(p) for p in sorted(versions, key=lambda p: int(p.parent.name),
                                          reverse=True)]
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def services_available() -> str | None:
    """None when both servers can be started here, else why not."""
    if pg_bindir() is None:
        return "PostgreSQL binaries (initdb, pg_ctl) not found; set OMS_BRIDGE_PG_BIN"
    if shutil.which("redis-server") is None:
        return "redis-server not found"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to switch to the postgres user"
    return None


class PostgresInstance:
    """``initdb`` once, then ``start`` / ``stop`` as often as wanted."""

    def __init__(self, *, port: int | None = None, user: str = "postgres") -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries not found")
        self.bindir = bindir
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="omsb-faults-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.as_root = os.geteuid() == 0
        self.os_user = user
        if self.as_root:
            shutil.chown(self.root, user=user)
        self.running = False
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, timeout_s: float = 120.0) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        done = subprocess.run(cmd, check=False, capture_output=True, timeout=timeout_s,
                              cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): "
                               f"{done.stderr.decode(errors='replace')[-2000:]}")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c max_connections=200 -c shared_buffers=256MB")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", opts,
                  "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``fast``: roll back open transactions and close every connection."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def create_database(self, name: str) -> str:
        engine = create_engine(self.admin_url.replace("postgresql://", "postgresql+psycopg2://"),
                               isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def close(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresInstance:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class RedisInstance:
    """``redis-server`` without persistence as a child process: a restart loses
    every stream, as a Redis without AOF does."""

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="omsb-faults-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 20.0) -> None:
        with (self.root / "redis.log").open("ab") as out:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--dir", str(self.root)], stdout=out, stderr=out)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RedisInstance:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
