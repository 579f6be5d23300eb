"""Uploads refuse zip bombs, path traversal and oversized bodies before reading them whole.

Two levels: the in-process app (``POST /api/v1/topology`` with hostile
archives, memory traced), and a real ``oms-bridge serve`` spoken to over a raw
socket, so that "before reading it whole" is observable: the 413 must arrive
while most of the announced body has not even been sent, and the server's
resident memory must not grow with what the client pushes.
"""

from __future__ import annotations

import dataclasses
import gzip
import select
import socket
import stat
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from oms_bridge.api.app import create_app
from oms_bridge.api.runtime import RuntimeOptions
from oms_bridge.settings import GisSettings, Settings
from tests.api.standin import StandInPort
from tests.gis_import.test_read_archive import Entry, raw_zip, tiny_entries
from tests.security.conftest import MAX_UPLOAD_BYTES, Client, ClientMaker, auth
from tests.security.service import Service, running_service

MiB = 1024 * 1024
GIS = auth("gis-admin")


@pytest.fixture
async def gis_client(aiohttp_client: ClientMaker, settings: Settings) -> Client:
    """The app with an 8 MiB budget for what an archive may inflate to."""
    small = dataclasses.replace(settings, gis=GisSettings(max_uncompressed_bytes=8 * MiB))
    app: web.Application = create_app(small, port=StandInPort(small),
                                      options=RuntimeOptions(idle_tick_s=0))
    return await aiohttp_client(app)


def _deflated_zeros(n: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MiB)
    return b"".join(comp.compress(chunk) for _ in range(n // MiB)) + comp.flush()


async def _upload(client: Client, body: bytes) -> tuple[int, dict[str, object], int]:
    """Status, problem document and peak traced memory of one upload."""
    tracemalloc.start()
    try:
        resp = await client.post("/api/v1/topology", data=body,
                                 headers={**GIS, "Content-Type": "application/zip"})
        problem = await resp.json()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return resp.status, problem, peak


async def test_a_zip_bomb_by_ratio_is_refused_unread(client: Client) -> None:
    zeros = 64 * MiB
    bomb = Entry("export/ServicePoint.geojson", bytes(0), declared_size=zeros,
                 crc=0, payload=_deflated_zeros(zeros))
    body = raw_zip([*(e for e in tiny_entries() if "ServicePoint" not in e.name), bomb])
    assert len(body) < MAX_UPLOAD_BYTES
    status, problem, peak = await _upload(client, body)   # the default 4 GiB budget
    assert status == 422, problem
    assert problem["title"] == "Unsafe archive"
    assert "compression ratio" in str(problem["detail"])
    assert "ServicePoint.geojson" in str(problem["detail"])
    assert peak < 16 * MiB, peak


async def test_an_archive_over_the_inflate_budget_is_refused_unread(gis_client: Client) -> None:
    parts = [Entry(f"export/part{i}.geojson", bytes(0), declared_size=3 * MiB, crc=0,
                   payload=_deflated_zeros(3 * MiB)) for i in range(4)]
    status, problem, peak = await _upload(gis_client, raw_zip([*tiny_entries(), *parts]))
    assert status == 422, problem
    assert "declared uncompressed size exceeds" in str(problem["detail"])
    assert peak < 16 * MiB, peak


async def test_a_lying_header_is_cut_off_while_inflating(gis_client: Client) -> None:
    liar = Entry("export/ServicePoint.geojson", declared_size=1024, crc=0,
                 payload=_deflated_zeros(64 * MiB))
    body = raw_zip([*(e for e in tiny_entries() if "ServicePoint" not in e.name), liar])
    status, problem, peak = await _upload(gis_client, body)
    assert status == 422, problem
    assert "ServicePoint.geojson" in str(problem["detail"])
    assert peak < 16 * MiB, peak


@pytest.mark.parametrize("member", [
    "../evil.geojson", "export/../../evil.geojson", "/tmp/evil.geojson",
    "C:/evil.geojson", "..\\..\\evil.geojson",
])
async def test_path_traversal_is_refused(gis_client: Client, tmp_path: Path,
                                         member: str) -> None:
    body = raw_zip([*tiny_entries(), Entry(member, b'{"type": "FeatureCollection"}')])
    status, problem, _ = await _upload(gis_client, body)
    assert status == 422, problem
    assert problem["title"] == "Unsafe archive"
    assert not list(tmp_path.parent.rglob("evil.geojson"))


async def test_a_symlink_member_is_refused(gis_client: Client) -> None:
    link = Entry("export/Fuse.geojson", b"/etc/passwd",
                 external_attr=(stat.S_IFLNK | 0o777) << 16)
    body = raw_zip([*(e for e in tiny_entries() if "Fuse" not in e.name), link])
    status, problem, _ = await _upload(gis_client, body)
    assert status == 422 and "symbolic link" in str(problem["detail"]), problem


async def test_an_oversized_upload_is_413(gis_client: Client) -> None:
    async def stream() -> Iterator[bytes]:  # type: ignore[misc]
        for _ in range(64):   # 64 MiB, no Content-Length: chunked
            yield bytes(MiB)

    resp = await gis_client.post("/api/v1/topology", data=stream(), headers=GIS)
    assert resp.status == 413
    resp = await gis_client.post("/api/v1/topology", data=bytes(MAX_UPLOAD_BYTES + 1),
                                 headers=GIS)
    assert resp.status == 413
    assert (await resp.json())["title"] == "Request body too large"


# ----------------------------------------------------------- a real server

LIMIT_BODY = 256 * 1024
LIMIT_UPLOAD = 1024 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    config = f"[service]\nmax_body_bytes = {LIMIT_BODY}\nmax_upload_bytes = {LIMIT_UPLOAD}\n"
    with running_service(tmp_path_factory.mktemp("uploads"), config=config) as svc:
        yield svc


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _connect(service: Service) -> socket.socket:
    host, port = service.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return sock


def _read_status(sock: socket.socket, wait_s: float) -> int | None:
    ready, _, _ = select.select([sock], [], [], wait_s)
    if not ready:
        return None
    try:
        head = sock.recv(4096)
    except ConnectionResetError:
        return -1
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else -1


def _push(sock: socket.socket, total: int, *, chunked: bool) -> tuple[int, int | None]:
    """Send up to ``total`` body bytes; stop at the first answer. (sent, status)."""
    piece = bytes(64 * 1024)
    sent = 0
    while sent < total:
        status = _read_status(sock, 0)
        if status is not None:
            return sent, status
        data = (b"%x\r\n" % len(piece) + piece + b"\r\n") if chunked else piece
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return sent, _read_status(sock, 2.0)
        sent += len(piece)
    return sent, _read_status(sock, 5.0)


@pytest.mark.parametrize(("path", "role", "declared"), [
    ("/api/v1/events", "head-end", 10 * 1024**3),
    ("/api/v1/topology", "gis-admin", 10 * 1024**3),
])
def test_a_huge_declared_length_is_413_before_any_body(service: Service, path: str, role: str,
                                                       declared: int) -> None:
    before = _rss_bytes(service.process.pid)
    with _connect(service) as sock:
        head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                f"{service.tokens[role]}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {declared}\r\n\r\n")
        sock.sendall(head.encode())
        started = time.monotonic()
        status = _read_status(sock, 5.0)
        assert status == 413, status
        assert time.monotonic() - started < 5.0
    assert _rss_bytes(service.process.pid) - before < 32 * MiB


@pytest.mark.parametrize(("path", "role", "limit"), [
    ("/api/v1/events", "head-end", LIMIT_BODY),
    ("/api/v1/topology", "gis-admin", LIMIT_UPLOAD),
])
def test_a_streamed_oversized_body_is_cut_off_early(service: Service, path: str, role: str,
                                                    limit: int) -> None:
    """Chunked, no length announced: refused once the limit is passed, not at the end."""
    before = _rss_bytes(service.process.pid)
    total = 512 * MiB
    with _connect(service) as sock:
        head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                f"{service.tokens[role]}\r\nContent-Type: application/x-ndjson\r\n"
                "Transfer-Encoding: chunked\r\n\r\n")
        sock.sendall(head.encode())
        sent, status = _push(sock, total, chunked=True)
    assert status in (413, -1), status     # -1: cut off (reset) right after the answer
    assert sent < limit + 32 * MiB, sent   # socket buffers, not the whole 512 MiB
    assert _rss_bytes(service.process.pid) - before < 48 * MiB


def test_a_gzip_bomb_of_events_is_413_with_bounded_memory(service: Service) -> None:
    before = _rss_bytes(service.process.pid)
    body = gzip.compress(bytes(128 * MiB), compresslevel=9)
    assert len(body) < LIMIT_BODY
    with _connect(service) as sock:
        head = (f"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                f"{service.tokens['head-end']}\r\nContent-Type: application/x-ndjson\r\n"
                f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n")
        sock.sendall(head.encode() + body)
        status = _read_status(sock, 10.0)
    assert status == 413, status
    assert _rss_bytes(service.process.pid) - before < 48 * MiB
