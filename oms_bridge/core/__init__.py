"""Pure inference core: no I/O, no asyncio, plain data in and out."""
