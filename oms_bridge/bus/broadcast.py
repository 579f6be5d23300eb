"""Fan-out of outage changes to server-sent-event clients.

Each subscriber has a bounded queue; one that falls too far behind is dropped
(its stream ends, and ``EventSource`` reconnects and takes a fresh snapshot)
rather than slowing the writer or growing memory.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Hub"]

_CLOSED: dict[str, Any] = {"__closed__": True}


class Hub:
    def __init__(self, max_queue: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._max_queue = max_queue

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._max_queue + 1)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def publish(self, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.qsize() >= self._max_queue:
                self._subscribers.discard(queue)
                queue.put_nowait(_CLOSED)
            else:
                queue.put_nowait(message)

    def close(self) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(_CLOSED)
        self._subscribers.clear()

    @staticmethod
    def is_closed(message: dict[str, Any]) -> bool:
        return message is _CLOSED
