"""The read caches answer exactly what a query on the stored rows would, across commits."""

from __future__ import annotations

import gc
import random
import sys
import tracemalloc

import orjson

from oms_bridge.api.read_cache import FeedCache, OutageCache, OutageRowText

STATUSES = ("active", "restored", "momentary")
FEEDERS = ("F1", "F2", "F3")


class Store:
    """Stored rows plus a count of loads, standing in for the database."""

    def __init__(self) -> None:
        self.feed: dict[int, str] = {}
        self.outages: dict[int, tuple[str, str, str]] = {}  # ord -> status, feeder, doc
        self.loads = 0

    async def load_feed(self, lo: int, hi: int) -> list[tuple[int, str]]:
        self.loads += 1
        return [(s, d) for s, d in sorted(self.feed.items()) if lo < s <= hi]

    async def load_outages(self, lo: int, hi: int) -> list[OutageRowText]:
        self.loads += 1
        return [(o, st, f, d) for o, (st, f, d) in sorted(self.outages.items()) if lo < o <= hi]

    def feed_page(self, after: int, limit: int, upto: int | None = None,
                  ) -> tuple[list[bytes], int]:
        seqs = sorted(s for s in self.feed if s > after and (upto is None or s <= upto))[:limit]
        return [self.feed[s].encode() for s in seqs], (seqs[-1] if seqs else after)

    def outage_page(self, status: str | None, feeder: str | None, after: int,
                    limit: int) -> tuple[list[bytes], int | None]:
        ords = [o for o, (st, f, _) in sorted(self.outages.items())
                if o > after and status in (None, st) and feeder in (None, f)]
        page = ords[:limit]
        return ([self.outages[o][2].encode() for o in page],
                page[-1] if len(ords) > limit else None)


def held(cache: FeedCache | OutageCache) -> int:
    """Bytes of the documents the cache's kept chunks hold, counted afresh."""
    return sum(sys.getsizeof(d) for chunk in cache._chunks.values() for d in chunk.docs)


async def test_feed_pages_match_the_store_as_items_are_committed() -> None:
    store, rng = Store(), random.Random(3)
    cache = FeedCache(store.load_feed, chunk=8, max_chunks=4)
    seq = 0
    for _ in range(30):
        for _ in range(rng.randrange(0, 12)):
            seq += 1
            store.feed[seq] = orjson.dumps({"seq": seq}).decode()
        # stored but not yet announced by the writer: the cache must not serve it
        for _ in range(20):
            after, limit = rng.randrange(0, seq + 2), rng.randrange(1, 20)
            assert await cache.page(after, limit) == store.feed_page(after, limit, cache.high)
        cache.committed(seq)
        for _ in range(20):
            after, limit = rng.randrange(0, seq + 2), rng.randrange(1, 20)
            assert await cache.page(after, limit) == store.feed_page(after, limit)
        assert cache.nbytes == held(cache)


async def test_feed_serves_repeated_pages_without_loading() -> None:
    store = Store()
    store.feed = {s: f'{{"seq":{s}}}' for s in range(1, 101)}
    cache = FeedCache(store.load_feed, chunk=16)
    cache.committed(100)
    first = await cache.page(10, 30)
    loads = store.loads
    assert await cache.page(10, 30) == first == store.feed_page(10, 30)
    assert store.loads == loads


async def test_outage_pages_match_the_store_across_writes() -> None:
    store, rng = Store(), random.Random(5)
    cache = OutageCache(store.load_outages, chunk=8, max_chunks=6, max_loads=3)
    high = 0
    for _ in range(40):
        written = []
        for _ in range(rng.randrange(0, 10)):  # new outages
            high += 1
            written.append(high)
        for _ in range(rng.randrange(0, 4)):  # updates of older ones
            if high:
                written.append(rng.randrange(1, high + 1))
        for o in written:
            st, f = rng.choice(STATUSES), rng.choice(FEEDERS)
            store.outages[o] = (st, f, orjson.dumps({"ord": o, "status": st}).decode())
        cache.committed(written)
        cache.set_high(high)
        for _ in range(25):
            status = rng.choice((None, *STATUSES))
            feeder = rng.choice((None, *FEEDERS))
            after, limit = rng.randrange(0, high + 2), rng.randrange(1, 15)
            found = await cache.page(status, feeder, after, limit)
            if found is not None:  # None: too cold, the caller asks the database
                assert found == store.outage_page(status, feeder, after, limit)
        assert cache.nbytes == held(cache)


async def test_a_chunk_loaded_across_a_commit_is_not_kept() -> None:
    store = Store()
    store.outages = {o: ("active", "F1", f'{{"o":{o}}}') for o in range(1, 5)}

    cache: OutageCache

    async def racing_load(lo: int, hi: int) -> list[OutageRowText]:
        rows = await store.load_outages(lo, hi)
        if store.loads == 1:  # the writer commits while the first load is in flight
            store.outages[1] = ("restored", "F1", '{"o":1,"r":1}')
            cache.committed([1])
        return rows

    cache = OutageCache(racing_load, chunk=8)
    cache.set_high(4)
    await cache.page("active", None, 0, 10)
    assert await cache.page("active", None, 0, 10) == store.outage_page("active", None, 0, 10)


async def test_feed_concurrent_pollers_share_one_load_and_tail_loads_only_new_items() -> None:
    import asyncio  # noqa: PLC0415

    store = Store()
    ranges: list[tuple[int, int]] = []

    async def slow_load(lo: int, hi: int) -> list[tuple[int, str]]:
        ranges.append((lo, hi))
        await asyncio.sleep(0.01)
        return await store.load_feed(lo, hi)

    store.feed = {s: f'{{"seq":{s}}}' for s in range(1, 41)}
    cache = FeedCache(slow_load, chunk=64)
    cache.committed(40)
    pages = await asyncio.gather(*(cache.page(30, 100) for _ in range(50)))
    assert all(p == store.feed_page(30, 100) for p in pages)
    assert ranges == [(0, 64)]
    for s in range(41, 46):
        store.feed[s] = f'{{"seq":{s}}}'
    cache.committed(45)
    pages = await asyncio.gather(*(cache.page(40, 100) for _ in range(50)))
    assert all(p == store.feed_page(40, 100) for p in pages)
    assert ranges == [(0, 64), (40, 64)]  # only the items past the complete part
    assert await cache.page(0, 100) == store.feed_page(0, 100)


async def test_feed_load_survives_the_cancelled_request_that_started_it() -> None:
    import asyncio  # noqa: PLC0415

    store = Store()
    store.feed = {s: f'{{"seq":{s}}}' for s in range(1, 11)}
    gate = asyncio.Event()

    async def gated(lo: int, hi: int) -> list[tuple[int, str]]:
        await gate.wait()
        return await store.load_feed(lo, hi)

    cache = FeedCache(gated, chunk=16)
    cache.committed(10)
    first = asyncio.ensure_future(cache.page(0, 5))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(cache.page(0, 5))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == store.feed_page(0, 5)
    assert store.loads == 1


async def test_an_outage_chunk_holds_each_document_once() -> None:
    """A chunk keeps each row's document as bytes, not also the text it was loaded as
    (that doubled the cache's memory: 128 chunks of 512 rows)."""
    docs = {o: orjson.dumps({"ord": o, "pad": "x" * 2000}).decode() for o in range(1, 65)}

    async def load(lo: int, hi: int) -> list[OutageRowText]:
        # fresh texts, as a database driver returns them
        return [(o, "active", "F1", "".join(docs[o])) for o in sorted(docs) if lo < o <= hi]

    cache = OutageCache(load, chunk=64)
    cache.set_high(64)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        page = await cache.page(None, None, 0, 10)
        assert page is not None
        del page
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    payload = sum(len(d) for d in docs.values())
    assert cache.nbytes == held(cache) >= payload
    assert kept < 1.3 * payload, (kept, payload)
