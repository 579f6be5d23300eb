"""Seen event ids as 128-bit fingerprints in a numpy open-addressing table.

A set of the id strings costs about 100 bytes an event (the string object
plus its slot) and keeps every string alive for as long as the engine runs.
Here each id is its 128-bit BLAKE2b digest, two ``uint64`` words in a table
of linear probing kept at most two thirds full: 24 to 48 bytes an id, and
no Python object per id.

Exactness. Two different ids are taken for the same one only if their
digests are equal. The all-zero digest marks an empty slot, so the low bit
of every stored digest is forced to 1: 127 bits remain. For ``n`` distinct
ids the chance of any collision is below ``n**2 / 2**128`` (birthday bound):
for a billion ids about ``3e-21``, far below the chance of a memory error
flipping the answer. Ids are hashed with their UTF-8 bytes, so the answer
never depends on the process (no hash randomisation): a replay decides
exactly as the live service did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["SeenIds", "fingerprints"]

_INITIAL_BITS = 12
#: grow when more than this share of the slots is taken
_MAX_LOAD = 2 / 3


def fingerprints(ids: Sequence[str]) -> NDArray[np.uint64]:
    """``(n, 2)`` BLAKE2b-128 digests of the ids (low bit of word 1 forced to 1)."""
    blake = hashlib.blake2b
    raw = b"".join([blake(x.encode("utf-8", "surrogatepass"), digest_size=16).digest()
                    for x in ids])
    fp = np.frombuffer(raw, dtype="<u8").reshape(-1, 2).copy()
    fp[:, 1] |= np.uint64(1)
    return fp


class SeenIds:
    """A set of event ids by fingerprint (see module docstring for the bound)."""

    __slots__ = ("_bits", "_hi", "_lo", "_n")

    def __init__(self) -> None:
        self._bits = _INITIAL_BITS
        self._hi = np.zeros(1 << self._bits, dtype=np.uint64)
        self._lo = np.zeros(1 << self._bits, dtype=np.uint64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return int(self._hi.nbytes + self._lo.nbytes)

    def _slots(self, hi: NDArray[np.uint64]) -> NDArray[np.int64]:
        # the digest is uniform already: its top bits are the home slot
        return (hi >> np.uint64(64 - self._bits)).astype(np.int64)

    def _find(self, fp: NDArray[np.uint64]) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
        """Whether each fingerprint is in the table, and where it is or would go."""
        n = fp.shape[0]
        found = np.zeros(n, dtype=np.bool_)
        where = np.zeros(n, dtype=np.int64)
        hi, lo = fp[:, 0], fp[:, 1]
        mask = (1 << self._bits) - 1
        active = np.arange(n, dtype=np.int64)
        pos = self._slots(hi)
        thi, tlo = self._hi, self._lo
        while active.size:
            shi, slo = thi[pos], tlo[pos]
            hit = (shi == hi[active]) & (slo == lo[active])
            empty = slo == 0
            done = hit | empty
            found[active[hit]] = True
            where[active[done]] = pos[done]
            keep = ~done
            active, pos = active[keep], (pos[keep] + 1) & mask
        return found, where

    def _insert(self, fp: NDArray[np.uint64]) -> None:
        """Store distinct fingerprints not in the table yet."""
        if (self._n + fp.shape[0]) > _MAX_LOAD * (1 << self._bits):
            self._grow(self._n + fp.shape[0])
        mask = (1 << self._bits) - 1
        thi, tlo = self._hi, self._lo
        pending = np.arange(fp.shape[0], dtype=np.int64)
        pos = self._slots(fp[:, 0])
        while pending.size:
            free = tlo[pos] == 0
            slots, first = np.unique(pos[free], return_index=True)
            took = np.flatnonzero(free)[first]
            thi[slots] = fp[pending[took], 0]
            tlo[slots] = fp[pending[took], 1]
            placed = np.zeros(pending.size, dtype=np.bool_)
            placed[took] = True
            pending, pos = pending[~placed], (pos[~placed] + 1) & mask
        self._n += fp.shape[0]

    def _grow(self, need: int) -> None:
        old = np.stack([self._hi[self._lo != 0], self._lo[self._lo != 0]], axis=1)
        bits = self._bits
        while need > _MAX_LOAD * (1 << bits):
            bits += 1
        self._bits = bits
        self._hi = np.zeros(1 << bits, dtype=np.uint64)
        self._lo = np.zeros(1 << bits, dtype=np.uint64)
        self._n = 0
        if old.shape[0]:
            self._insert(old)

    def add_new(self, ids: Sequence[str], record: NDArray[np.bool_] | None = None,
                ) -> NDArray[np.bool_]:
        """Which ids were seen before (earlier in ``ids`` included), in order.

        Exactly the outcome of ``for each id: repeat = id in seen; if not
        repeat and record[i]: seen.add(id)`` (``record`` defaults to all).
        """
        n = len(ids)
        if n == 0:
            return np.zeros(0, dtype=np.bool_)
        fp = fingerprints(ids)
        dup, _ = self._find(fp)
        rec = np.ones(n, dtype=np.bool_) if record is None else np.asarray(record, np.bool_)
        # within the chunk: a repeat of an earlier id that was recorded
        rows = fp.view(np.dtype((np.void, 16))).reshape(-1)
        _, inverse = np.unique(rows, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.lexsort((np.arange(n), ~rec, inverse))
        # first recorded occurrence per group (groups sorted; recorded first)
        grp = inverse[order]
        start = np.ones(n, dtype=np.bool_)
        start[1:] = grp[1:] != grp[:-1]
        head = order[start]                       # per group: a recorded one if any
        head_rec = rec[head]
        first_rec = np.full(int(inverse.max()) + 1, n, dtype=np.int64)
        first_rec[grp[start][head_rec]] = head[head_rec]
        dup |= np.arange(n) > first_rec[inverse]
        new = np.flatnonzero(~dup & rec)
        if new.size:
            self._insert(fp[new])
        return dup

    def __contains__(self, event_id: object) -> bool:
        if not isinstance(event_id, str):
            return False
        found, _ = self._find(fingerprints([event_id]))
        return bool(found[0])
