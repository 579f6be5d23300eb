"""Zip archives of GIS exports, opened defensively.

An export uploaded over HTTP is untrusted. Before anything is read, every
member of the archive is vetted (:func:`vet_zip`): no absolute paths, drive
letters or ``..`` components, no symbolic links, no encrypted members, not too
many members, a total declared size under the budget and no member with an
absurd compression ratio. Members are then read streaming with a hard cap
(:func:`read_member`), so a central directory that under-declares a member's
size cannot blow memory or disk either. Every refusal is an
:class:`~oms_bridge.errors.UnsafeArchiveError` naming the archive and member.
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from oms_bridge.errors import ExportError, UnsafeArchiveError

__all__ = [
    "DEFAULT_MAX_UNCOMPRESSED_BYTES",
    "ArchiveLimits",
    "ArchiveReader",
    "vet_zip",
]

DEFAULT_MAX_UNCOMPRESSED_BYTES = 4 * 1024**3
_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may hold. The ratio test only applies to large members:
    a small, very repetitive file is harmless; deflate peaks near 1032:1."""

    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    max_ratio: float = 1000.0
    ratio_min_bytes: int = 16 * 1024 * 1024
    max_members: int = 10_000


def member_name_problem(name: str) -> str | None:
    """Why a member name is unsafe to honour, or None."""
    if "\x00" in name:
        return "a NUL character in its name"
    posix = name.replace("\\", "/")
    if posix.startswith("/"):
        return "an absolute path"
    if _DRIVE.match(posix):
        return "a drive letter"
    if any(part == ".." for part in posix.split("/")):
        return "a '..' path component (path traversal)"
    return None


def vet_zip(zf: zipfile.ZipFile, source: str, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    """Check every member of ``zf``; return the regular-file members."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise UnsafeArchiveError(
            f"{len(infos)} members, more than the {limits.max_members} allowed", file=source
        )
    total = 0
    files: list[zipfile.ZipInfo] = []
    for info in infos:
        where = f"{source}!{info.filename}"
        problem = member_name_problem(info.filename)
        if problem:
            raise UnsafeArchiveError(f"member has {problem}", file=where)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError("member is a symbolic link", file=where)
        if info.flag_bits & 0x1:
            raise UnsafeArchiveError("member is encrypted", file=where)
        if info.is_dir():
            continue
        if mode and not stat.S_ISREG(mode):
            raise UnsafeArchiveError("member is not a regular file", file=where)
        total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise UnsafeArchiveError(
                f"declared uncompressed size exceeds {limits.max_uncompressed_bytes} bytes "
                f"(at this member, {total} bytes in all)",
                file=where,
            )
        if info.file_size >= limits.ratio_min_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise UnsafeArchiveError(
                    f"compression ratio {ratio:.0f}:1 is absurd (zip bomb?)", file=where
                )
        files.append(info)
    return files


class ArchiveReader:
    """A vetted zip archive whose members are read with a hard size cap.

    The budget is shared: all members read through one reader together never
    exceed ``limits.max_uncompressed_bytes``, whatever their headers say.
    """

    def __init__(self, path: Path, limits: ArchiveLimits | None = None) -> None:
        self.path = path
        self.source = path.name
        self.limits = limits or ArchiveLimits()
        try:
            self._zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ExportError(f"not a readable zip archive ({exc})", file=str(path)) from None
        try:
            self.members = vet_zip(self._zf, self.source, self.limits)
        except BaseException:
            self._zf.close()
            raise
        self._budget = self.limits.max_uncompressed_bytes

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zf.close()

    def names(self) -> list[str]:
        """Member names of the regular files, with ``/`` separators."""
        return [info.filename.replace("\\", "/") for info in self.members]

    def info(self, name: str) -> zipfile.ZipInfo:
        for info in self.members:
            if info.filename.replace("\\", "/") == name:
                return info
        raise KeyError(name)

    def read(self, name: str) -> bytes:
        """The member's bytes, read in chunks and cut off beyond its declared size."""
        chunks = list(self._stream(name))
        return b"".join(chunks)

    def extract(self, names: Iterable[str], dest: Path) -> dict[str, Path]:
        """Copy the members to ``dest`` under their base names (flat, never
        their archive paths), capped like :meth:`read`. Returns name -> file."""
        out: dict[str, Path] = {}
        for name in names:
            target = dest / Path(name).name
            with target.open("wb") as fh:
                for chunk in self._stream(name):
                    fh.write(chunk)
            out[name] = target
        return out

    def _stream(self, name: str) -> Iterable[bytes]:
        info = self.info(name)
        where = f"{self.source}!{name}"
        cap = min(info.file_size, self._budget)
        got = 0
        try:
            with self._zf.open(info) as fh:
                while True:
                    chunk = fh.read(_CHUNK)
                    if not chunk:
                        break
                    got += len(chunk)
                    if got > cap:
                        raise UnsafeArchiveError(
                            f"member decompresses beyond {cap} bytes "
                            f"(declared {info.file_size})",
                            file=where,
                        )
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise UnsafeArchiveError(f"corrupt member ({exc})", file=where) from None
        except OSError as exc:
            raise ExportError(f"cannot read member ({exc})", file=where) from None
        self._budget -= got
