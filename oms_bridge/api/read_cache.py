"""Per-process caches of the two hot reads: the restoration feed and the outage list.

Both keep stored rows in *chunks* of :data:`CHUNK` consecutive keys (feed
``seq``, outage ``ord``), each document as the JSON bytes stored, so a page is
a slice of a chunk or two joined: no query, no decoding, no re-encoding.
Chunks live in a bounded LRU; pages overlap, so chunks hold each row once.

**Feed.** Items never change once written and ``seq`` only grows, and the
single writer commits them in ``seq`` order, so every item with ``seq`` at or
below the committed high-water mark (:attr:`FeedCache.high`, set by the writer
after each commit) is stored for good. A chunk records up to which ``seq`` it
is complete; it serves items up to there, and when a page needs items past it
that have been committed since, only those (past the complete part) are loaded
and appended. Concurrent requests that need the same chunk share one load
(single flight). Nothing is ever invalidated.

**Outages.** Rows change (status, restored_at), so the writer hands the
``ord`` of every outage it wrote to :meth:`OutageCache.committed` right after
the commit: their chunks are dropped and the commit counter bumped; a chunk
loaded while a commit happened is used for that request but not kept. A
request that starts after a commit therefore never sees data older than it.
Each chunk indexes its rows by ``(status, feeder)`` on first use.

**Memory.** Each cache counts the bytes of the documents it holds
(:attr:`FeedCache.nbytes`, :attr:`OutageCache.nbytes`: the size of each stored
``bytes`` object, header included), kept up to date as chunks come and go, for
the ``omsb_read_cache_bytes`` gauge. Both fill up to their chunk bound and stay
there; until then their growth is part of the service's.

Assumes one writer per database (today's design), which feeds both caches.
Several workers would read the high-water mark and a commit counter from the
database instead, one cheap query per request, or subscribe to the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["CHUNK", "FeedCache", "OutageCache", "OutageRowText", "ReadCaches"]

#: Feed seqs per chunk: a page of 100 spans one or two chunks.
CHUNK = 128
#: Feed chunks kept: 512 x 128 items, some 20-25 MB of stored JSON.
MAX_CHUNKS = 512
#: Outage ords per chunk: larger, so a page of a sparse status (momentary,
#: active) walks a few chunks, not a dozen; a write reloads 512 rows (~1 ms).
OUTAGE_CHUNK = 512
#: Outage chunks kept: 128 x 512 rows, some 30-40 MB of stored JSON.
OUTAGE_MAX_CHUNKS = 128
#: Most chunk loads one outage-list request may do; past it the page comes
#: from the database (a rare filter on a cold cache), later requests go on warming.
MAX_LOADS = 8

#: ``(ord, status, feeder_id, doc JSON text)`` as loaded for the outage cache.
OutageRowText = tuple[int, str, str | None, str]
#: ``(ord, status, feeder_id)``: what an outage chunk keeps of a row beside its bytes.
_OutageKey = tuple[int, str, str | None]
#: Size of an empty ``bytes`` object: a document of ``n`` bytes takes this plus ``n``.
_BYTES_HEADER = sys.getsizeof(b"")


FeedLoader = Callable[[int, int], Awaitable[list[tuple[int, str]]]]
OutageLoader = Callable[[int, int], Awaitable[list[OutageRowText]]]


def _held(docs: list[bytes]) -> int:
    """Bytes the ``bytes`` objects of ``docs`` take (as :func:`sys.getsizeof` counts)."""
    return sum(map(len, docs)) + _BYTES_HEADER * len(docs)


@dataclass
class _FeedChunk:
    seqs: list[int]
    docs: list[bytes]
    complete_to: int
    #: Bytes of ``docs`` (see :func:`_held`).
    nbytes: int = 0

    def __post_init__(self) -> None:
        self.nbytes = _held(self.docs)


class FeedCache:
    """Restoration feed pages ``(after, limit)`` from immutable chunks."""

    def __init__(self, load: FeedLoader, *, chunk: int = CHUNK,
                 max_chunks: int = MAX_CHUNKS) -> None:
        self._load = load
        self._size = chunk
        self._max = max_chunks
        self._chunks: OrderedDict[int, _FeedChunk] = OrderedDict()
        #: Loads in flight: chunk -> (seq it completes the chunk to, the load).
        self._flights: dict[int, tuple[int, asyncio.Task[_FeedChunk]]] = {}
        #: Every item with ``seq`` at or below it is committed (set by the writer).
        self.high = 0
        #: Bytes of the documents the kept chunks hold.
        self.nbytes = 0

    def committed(self, high: int) -> None:
        self.high = max(self.high, high)

    async def page(self, after: int, limit: int) -> tuple[list[bytes], int]:
        """Items with ``seq > after``, at most ``limit``; ``next`` as the feed defines it."""
        high = self.high
        out: list[bytes] = []
        last = after
        pos = after
        size = self._size
        while len(out) < limit and pos < high:
            k = pos // size
            end = (k + 1) * size
            need_to = min(end, high)
            chunk = await self._chunk(k, need_to)
            i = bisect_right(chunk.seqs, pos)
            j = min(len(chunk.seqs), i + limit - len(out))
            # only what is known complete: seqs above need_to may still be filling
            while j > i and chunk.seqs[j - 1] > need_to:
                j -= 1
            if j > i:
                out += chunk.docs[i:j]
                last = chunk.seqs[j - 1]
            pos = end
        return out, last

    async def _chunk(self, k: int, need_to: int) -> _FeedChunk:
        """Chunk ``k`` complete to at least ``need_to``: cached, awaited or loaded."""
        while True:
            chunk = self._chunks.get(k)
            if chunk is not None and chunk.complete_to >= need_to:
                self._chunks.move_to_end(k)
                return chunk
            flight = self._flights.get(k)
            if flight is None or flight[1].done():
                break
            # someone loads this chunk already: wait for it (not for a cancelled
            # request: the load is a task of its own), then look again
            done = await asyncio.shield(flight[1])
            if flight[0] >= need_to:
                return done
        task = asyncio.ensure_future(self._fill(k, need_to))
        self._flights[k] = (need_to, task)
        task.add_done_callback(lambda t: self._landed(k, t))
        return await asyncio.shield(task)

    def _landed(self, k: int, task: asyncio.Task[_FeedChunk]) -> None:
        if self._flights.get(k, (0, None))[1] is task:
            del self._flights[k]
        if not task.cancelled():
            with contextlib.suppress(Exception):
                task.exception()  # retrieved: a failed load is raised to its waiters

    async def _fill(self, k: int, need_to: int) -> _FeedChunk:
        """Load chunk ``k`` up to ``need_to``; only its missing tail when it is cached."""
        size = self._size
        end = (k + 1) * size
        old = self._chunks.get(k)
        if old is None:
            rows = await self._load(k * size, end)
            chunk = _FeedChunk([r[0] for r in rows], [r[1].encode() for r in rows], need_to)
        else:
            lo = old.complete_to
            keep = bisect_right(old.seqs, lo)
            rows = await self._load(lo, end)
            chunk = _FeedChunk(old.seqs[:keep] + [r[0] for r in rows],
                               old.docs[:keep] + [r[1].encode() for r in rows], need_to)
        self._keep(k, chunk)
        return chunk

    def _keep(self, k: int, chunk: _FeedChunk) -> None:
        self.nbytes += _store(self._chunks, k, chunk, self._max, newest=True)


@dataclass
class _OutageChunk:
    #: ``(ord, status, feeder_id)`` of each row: the JSON text loaded with it
    #: is kept once, as ``docs[i]``, not a second time as text.
    rows: list[_OutageKey]
    docs: list[bytes]
    index: dict[tuple[str | None, str | None], tuple[list[int], list[bytes]]] = field(
        default_factory=dict)
    #: Bytes of ``docs`` (see :func:`_held`; the index lists share them).
    nbytes: int = 0

    def __post_init__(self) -> None:
        self.nbytes = _held(self.docs)

    def select(self, status: str | None, feeder: str | None) -> tuple[list[int], list[bytes]]:
        key = (status, feeder)
        found = self.index.get(key)
        if found is None:
            picked = [i for i, r in enumerate(self.rows)
                      if (status is None or r[1] == status) and (feeder is None or r[2] == feeder)]
            found = ([self.rows[i][0] for i in picked], [self.docs[i] for i in picked])
            self.index[key] = found
        return found


#: A chunk of either cache (both count the bytes of their documents).
_C = TypeVar("_C", _FeedChunk, _OutageChunk)


class OutageCache:
    """Outage list pages by ``(status, feeder, after, limit)``, dropped chunk-wise on commit."""

    def __init__(self, load: OutageLoader, *, chunk: int = OUTAGE_CHUNK,
                 max_chunks: int = OUTAGE_MAX_CHUNKS, max_loads: int = MAX_LOADS) -> None:
        self._load = load
        self._size = chunk
        self._max = max_chunks
        self._max_loads = max_loads
        self._chunks: OrderedDict[int, _OutageChunk] = OrderedDict()
        #: Highest ``ord`` committed (set by the writer).
        self.high = 0
        #: Bumped after every outage write the writer committed.
        self.commits = 0
        #: Bytes of the documents the kept chunks hold.
        self.nbytes = 0

    def committed(self, ords: Iterable[int]) -> None:
        """The writer committed these outages: forget their chunks."""
        size = self._size
        for k in {(o - 1) // size for o in ords}:
            dropped = self._chunks.pop(k, None)
            if dropped is not None:
                self.nbytes -= dropped.nbytes
        self.commits += 1

    def set_high(self, high: int) -> None:
        self.high = max(self.high, high)

    async def page(self, status: str | None, feeder: str | None, after: int,
                   limit: int) -> tuple[list[bytes], int | None] | None:
        """One page, ``next`` the cursor or ``None``; ``None`` when too cold to answer."""
        high = self.high
        out: list[bytes] = []
        last = 0  # ord of the limit-th item, once the page holds that many
        want = limit + 1
        pos = after
        size = self._size
        loads = 0
        while len(out) < want and pos < high:
            k = pos // size
            chunk = self._chunks.get(k)
            if chunk is None:
                if loads == self._max_loads:
                    return None
                loads += 1
                chunk = await self._fetch(k)
            else:
                self._chunks.move_to_end(k)
            keys, docs = chunk.select(status, feeder)
            i = bisect_right(keys, pos)
            j = min(len(keys), i + want - len(out))
            if len(out) < limit <= len(out) + j - i:
                last = keys[i + limit - len(out) - 1]
            out += docs[i:j]
            pos = (k + 1) * size
        if len(out) > limit:
            del out[limit:]
            return out, last
        return out, None

    async def _fetch(self, k: int) -> _OutageChunk:
        commits = self.commits
        rows = await self._load(k * self._size, (k + 1) * self._size)
        chunk = _OutageChunk([(r[0], r[1], r[2]) for r in rows], [r[3].encode() for r in rows])
        del rows  # the texts: each document is kept once, as bytes
        if commits == self.commits:  # nothing written meanwhile: keep it
            self.nbytes += _store(self._chunks, k, chunk, self._max, newest=False)
        return chunk


def _store(chunks: OrderedDict[int, _C], k: int, chunk: _C, limit: int, *,
           newest: bool) -> int:
    """Keep ``chunk`` under ``k`` (``newest``: moved to the end of the LRU order
    even if ``k`` was there), evict the oldest past ``limit``; the change in
    the bytes held."""
    old = chunks.get(k)
    delta = chunk.nbytes - (old.nbytes if old is not None else 0)
    chunks[k] = chunk
    if newest:
        chunks.move_to_end(k)
    while len(chunks) > limit:
        delta -= chunks.popitem(last=False)[1].nbytes
    return delta


class ReadCaches:
    """The two caches, fed by the writer after each commit."""

    def __init__(self, feed: FeedCache, outages: OutageCache) -> None:
        self.feed = feed
        self.outages = outages

    def committed(self, feed_high: int, ords: Iterable[int], max_ord: int) -> None:
        """Call right after a commit, before the next await: feed mark, then outages."""
        self.outages.committed(ords)
        self.outages.set_high(max_ord)
        self.feed.committed(feed_high)
