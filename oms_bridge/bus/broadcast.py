"""Fan-out of outage changes to server-sent-event clients.

Each change is encoded once, by the publisher, and every subscriber's queue
gets the same bytes (no per-client JSON work). Each subscriber has a bounded
queue; one that falls too far behind is dropped (its stream ends, and
``EventSource`` reconnects and takes a fresh snapshot) rather than slowing the
writer or growing memory.
"""

from __future__ import annotations

import asyncio

__all__ = ["Hub"]


class Hub:
    def __init__(self, max_queue: int = 1000) -> None:
        #: ``None`` in a queue: the stream is closed.
        self._subscribers: set[asyncio.Queue[bytes | None]] = set()
        self._max_queue = max_queue

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> asyncio.Queue[bytes | None]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(self._max_queue + 1)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._subscribers.discard(queue)

    def publish(self, data: bytes) -> None:
        """Queue one change (its JSON, encoded once) for every subscriber."""
        for queue in list(self._subscribers):
            if queue.qsize() >= self._max_queue:
                self._subscribers.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(data)

    def close(self) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(None)
        self._subscribers.clear()

    @staticmethod
    def is_closed(message: bytes | None) -> bool:
        return message is None
