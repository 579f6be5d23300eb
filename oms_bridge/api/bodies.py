"""Request bodies read with a hard size limit, and event batches decoded.

``Content-Encoding: gzip`` is decoded by aiohttp as the body streams in; the
limit applies to the decoded bytes and is enforced while reading, so neither an
oversized body nor a gzip bomb is ever held whole. A declared
``Content-Length`` above the limit is refused before reading anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from aiohttp import web

from oms_bridge.api.problems import ApiError

__all__ = ["decode_events", "read_limited", "spool_limited"]

_NDJSON_TYPES = {"application/x-ndjson", "application/jsonl", "application/x-jsonlines",
                 "application/ndjson", "application/json-seq", "text/plain"}


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "Request body too large",
                    f"the body exceeds the limit of {limit} bytes (after decompression); "
                    "send smaller batches", limit_bytes=limit)


def _check_declared(request: web.Request, limit: int) -> None:
    declared = request.content_length
    if declared is not None and declared > limit and "gzip" not in (
            request.headers.get("Content-Encoding", "")):
        raise _too_large(limit)


async def _limited_chunks(
    request: web.Request, limit: int, chunk_size: int
) -> AsyncIterator[bytes]:
    """The body in chunks, refused with a 413 as soon as it passes ``limit``."""
    _check_declared(request, limit)
    size = 0
    async for chunk in request.content.iter_chunked(chunk_size):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk


async def read_limited(request: web.Request, limit: int) -> bytes:
    return b"".join([c async for c in _limited_chunks(request, limit, 1 << 16)])


async def spool_limited(request: web.Request, limit: int, fh: IO[bytes]) -> int:
    """Stream the body into ``fh`` (a temporary file); returns its size."""
    size = 0
    async for chunk in _limited_chunks(request, limit, 1 << 20):
        size += len(chunk)
        fh.write(chunk)
    fh.flush()
    return size


def decode_events(body: bytes, content_type: str) -> Iterator[tuple[int, Any, str | None]]:
    """``(line, object, error)`` per event: 1-based line (NDJSON) or item (array).

    A line that is not JSON yields ``(line, None, reason)``; it never stops the
    others. A JSON array body that does not parse at all is a 400.
    """
    stripped = body.lstrip()
    as_array = content_type == "application/json" or (
        content_type not in _NDJSON_TYPES and stripped[:1] == b"[")
    if as_array and stripped[:1] in (b"[", b"{"):
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "Body is not JSON",
                           f"{exc}; send a JSON array or NDJSON (one event per line)") from exc
        items = doc if isinstance(doc, list) else [doc]
        for i, obj in enumerate(items, start=1):
            yield i, obj, None
        return
    numbered = [(i, line) for i, line in enumerate(body.split(b"\n"), start=1)
                if line.strip()]
    try:  # every line JSON (the usual case): decoded in one C-level pass
        objs = list(map(orjson.loads, [line for _, line in numbered]))
    except orjson.JSONDecodeError:
        pass
    else:
        for (i, _), obj in zip(numbered, objs, strict=True):
            yield i, obj, None
        return
    for i, line in numbered:
        try:
            yield i, orjson.loads(line), None
        except orjson.JSONDecodeError as exc:
            yield i, None, f"not valid JSON: {exc}"


def safe_name(name: str) -> str:
    return Path(name).name or "upload.zip"
