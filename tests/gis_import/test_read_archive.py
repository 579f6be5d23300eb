"""Zip safety: traversal, links, bombs and lying headers are refused by name.

The malicious archives are built here byte by byte (:func:`raw_zip`), because
``zipfile`` will not write a header that lies.
"""

from __future__ import annotations

import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from gis_import.archive import ArchiveLimits, ArchiveReader, member_name_problem, vet_zip
from gis_import.readers import read_export
from oms_bridge.errors import ExportError, UnsafeArchiveError

CASES = Path(__file__).resolve().parents[1] / "data" / "exports"
TINY = CASES / "valid" / "tiny"
GiB = 1024**3


@dataclass
class Entry:
    name: str
    data: bytes = b""               # the real content
    declared_size: int | None = None  # what the headers claim (default: the truth)
    crc: int | None = None
    external_attr: int = (stat.S_IFREG | 0o644) << 16
    flags: int = 0
    #: an already deflated stream to store instead of deflating ``data``
    payload: bytes | None = None


def raw_zip(entries: list[Entry]) -> bytes:
    """A zip archive whose headers say whatever the entries say."""
    body = b""
    central = b""
    for e in entries:
        name = e.name.encode()
        if e.payload is None:
            comp = zlib.compressobj(9, zlib.DEFLATED, -15)
            payload = comp.compress(e.data) + comp.flush()
        else:
            payload = e.payload
        size = len(e.data) if e.declared_size is None else e.declared_size
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        method = 8
        extra = b""
        size32 = size
        if size >= 0xFFFFFFFF:
            size32 = 0xFFFFFFFF
            extra = struct.pack("<HHQ", 1, 8, size)
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, e.flags, method, 0, 0x21,
                            crc, len(payload), size32, len(name), len(extra)) + name + extra
        body += payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", (3 << 8) | 45, 45, e.flags,
                               method, 0, 0x21, crc, len(payload), size32, len(name),
                               len(extra), 0, 0, 0, e.external_attr, offset) + name + extra
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(central), len(body), 0)
    return body + central + end


def tiny_entries(folder: str = "export/") -> list[Entry]:
    return [Entry(folder + f.name, f.read_bytes()) for f in sorted(TINY.iterdir())
            if f.suffix == ".geojson"]


def write(tmp_path: Path, entries: list[Entry], name: str = "export.zip") -> Path:
    out = tmp_path / name
    out.write_bytes(raw_zip(entries))
    return out


def test_raw_zip_of_tiny_reads_like_the_folder(tmp_path: Path) -> None:
    archive = write(tmp_path, tiny_entries())
    from_zip = read_export(archive)
    from_dir = read_export(TINY)
    assert from_zip.counts() == from_dir.counts()
    assert from_zip.defects == []
    assert from_zip.layers["ServicePoint"].source == "export.zip!export/ServicePoint.geojson"


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        ("../evil.geojson", "path traversal"),
        ("export/../../ServicePoint.geojson", "path traversal"),
        ("..\\..\\ServicePoint.geojson", "path traversal"),
        ("/etc/ServicePoint.geojson", "an absolute path"),
        ("\\\\server\\share\\Fuse.geojson", "an absolute path"),
        ("C:/temp/Fuse.geojson", "a drive letter"),
        ("c:Fuse.geojson", "a drive letter"),
    ],
)
def test_unsafe_member_names(tmp_path: Path, member: str, problem: str) -> None:
    archive = write(tmp_path, [*tiny_entries(), Entry(member, b"{}")])
    with pytest.raises(UnsafeArchiveError) as info:
        read_export(archive)
    assert info.value.file == f"export.zip!{member}"
    assert problem in info.value.reason


def test_safe_names_pass() -> None:
    for name in ("a/b/ServicePoint.geojson", "x..y/Fuse.geojson", "..hidden", "a/.../b"):
        assert member_name_problem(name) is None


def test_symlink_member(tmp_path: Path) -> None:
    link = Entry("export/Fuse.geojson", b"/etc/passwd",
                 external_attr=(stat.S_IFLNK | 0o777) << 16)
    entries = [e for e in tiny_entries() if not e.name.endswith("Fuse.geojson")] + [link]
    with pytest.raises(UnsafeArchiveError) as info:
        read_export(write(tmp_path, entries))
    assert info.value.file == "export.zip!export/Fuse.geojson"
    assert info.value.reason == "member is a symbolic link"


def test_encrypted_member(tmp_path: Path) -> None:
    entries = [*tiny_entries(), Entry("export/notes.txt", b"x", flags=0x1)]
    with pytest.raises(UnsafeArchiveError, match="encrypted"):
        read_export(write(tmp_path, entries))


def test_declared_10_gib_member(tmp_path: Path) -> None:
    bomb = Entry("export/ServicePoint.geojson", b"{}", declared_size=10 * GiB)
    entries = [e for e in tiny_entries() if "ServicePoint" not in e.name] + [bomb]
    archive = write(tmp_path, entries)
    with zipfile.ZipFile(archive) as zf:   # the header really says 10 GiB
        assert zf.getinfo("export/ServicePoint.geojson").file_size == 10 * GiB
    with pytest.raises(UnsafeArchiveError) as info:
        read_export(archive)
    assert info.value.file == "export.zip!export/ServicePoint.geojson"
    assert info.value.reason.startswith(f"declared uncompressed size exceeds {4 * GiB} bytes")


def test_total_size_over_the_budget(tmp_path: Path) -> None:
    archive = write(tmp_path, tiny_entries())
    total = sum(len(e.data) for e in tiny_entries())
    read_export(archive, max_uncompressed_bytes=total)
    with pytest.raises(UnsafeArchiveError, match="declared uncompressed size exceeds"):
        read_export(archive, max_uncompressed_bytes=total - 1)


def test_absurd_compression_ratio(tmp_path: Path) -> None:
    zeros = bytes(20 * 1024 * 1024)
    entries = [*tiny_entries(), Entry("export/padding.bin", zeros)]
    with pytest.raises(UnsafeArchiveError) as info:
        read_export(write(tmp_path, entries))
    assert info.value.file == "export.zip!export/padding.bin"
    assert "compression ratio" in info.value.reason
    # the same ratio on a small member is harmless
    entries = [*tiny_entries(), Entry("export/padding.bin", bytes(1024 * 1024))]
    assert read_export(write(tmp_path, entries, "small.zip")).defects == []


def _lying(tmp_path: Path, real: int, crc_of_prefix: bool) -> Path:
    """A member that declares 1 KiB but whose deflate stream inflates to ``real`` bytes."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1024 * 1024)
    payload = b"".join(comp.compress(chunk) for _ in range(real // len(chunk)))
    payload += comp.flush()
    crc = zlib.crc32(bytes(1024)) if crc_of_prefix else 0
    liar = Entry("export/ServicePoint.geojson", declared_size=1024, crc=crc, payload=payload)
    return write(tmp_path, [*(e for e in tiny_entries() if "ServicePoint" not in e.name), liar])


@pytest.mark.parametrize("crc_of_prefix", [False, True])
def test_lying_header_is_cut_at_the_declared_size(tmp_path: Path, crc_of_prefix: bool) -> None:
    archive = _lying(tmp_path, 64 * 1024 * 1024, crc_of_prefix)
    with ArchiveReader(archive) as reader:
        if crc_of_prefix:   # the CRC matches the declared prefix: we get just that
            assert reader.read("export/ServicePoint.geojson") == bytes(1024)
        else:
            with pytest.raises(UnsafeArchiveError) as info:
                reader.read("export/ServicePoint.geojson")
            assert info.value.file == "export.zip!export/ServicePoint.geojson"
            assert "corrupt member" in info.value.reason
    with pytest.raises(ExportError) as exc:
        read_export(archive)
    assert exc.value.file == "export.zip!export/ServicePoint.geojson"


@pytest.mark.slow
def test_lying_header_over_a_2_gib_stream(tmp_path: Path) -> None:
    archive = _lying(tmp_path, 2 * GiB, crc_of_prefix=False)
    with pytest.raises(UnsafeArchiveError, match="corrupt member"):
        read_export(archive)


def test_reader_budget_is_a_hard_cap(tmp_path: Path) -> None:
    archive = write(tmp_path, tiny_entries())
    name = "export/ServicePoint.geojson"
    with ArchiveReader(archive) as reader:
        size = reader.info(name).file_size
        reader._budget = size - 1    # as if other members had used the rest
        with pytest.raises(UnsafeArchiveError, match="decompresses beyond"):
            reader.read(name)


def test_too_many_members(tmp_path: Path) -> None:
    entries = [Entry(f"export/f{i}.txt", b"") for i in range(11)]
    with zipfile.ZipFile(write(tmp_path, entries)) as zf:
        with pytest.raises(UnsafeArchiveError, match="11 members"):
            vet_zip(zf, "export.zip", ArchiveLimits(max_members=10))
        assert len(vet_zip(zf, "export.zip", ArchiveLimits(max_members=11))) == 11


def test_not_a_zip(tmp_path: Path) -> None:
    bad = tmp_path / "export.zip"
    bad.write_bytes(b"PK\x03\x04 this is no archive")
    with pytest.raises(ExportError) as info:
        read_export(bad)
    assert info.value.file == str(bad)
    assert info.value.reason.startswith("not a readable zip archive")


def test_macos_junk_and_hidden_files_are_ignored(tmp_path: Path) -> None:
    entries = [*tiny_entries(),
               Entry("__MACOSX/export/._ServicePoint.geojson", b"\x00\x05junk"),
               Entry("export/.ServicePoint.geojson", b"junk"),
               Entry("export/", b"", external_attr=(stat.S_IFDIR | 0o755) << 16)]
    export = read_export(write(tmp_path, entries))
    assert export.counts()["ServicePoint"] == 2


def test_zip_at_top_level_and_case_insensitive_names(tmp_path: Path) -> None:
    entries = [Entry(e.name.split("/")[1].lower(), e.data) for e in tiny_entries()]
    export = read_export(write(tmp_path, entries))
    assert export.counts()["Fuse"] == 1


def test_two_exports_in_one_zip(tmp_path: Path) -> None:
    entries = tiny_entries("a/") + tiny_entries("b/")
    with pytest.raises(ExportError, match="more than one file for CircuitSource"):
        read_export(write(tmp_path, entries))


def test_progress_messages(tmp_path: Path) -> None:
    said: list[str] = []
    read_export(write(tmp_path, tiny_entries()), progress=said.append)
    assert said[0] == "reading export.zip!export/CircuitSource.geojson (1 KB)"
    assert len(said) == 8
    said.clear()
    read_export(TINY, progress=said.append)
    assert said[-1].startswith("reading ServicePoint.geojson (")
