"""Event sources and fan-out: the in-process ingest queue, the Redis Streams
consumer group, and the broadcast hub behind the server-sent-events stream."""

__all__: list[str] = []
