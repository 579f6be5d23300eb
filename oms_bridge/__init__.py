"""oms-bridge: AMI meter events in, outage knowledge out.

The package is layered so the inference core stays pure:

* ``oms_bridge.core`` — plain data in, plain data out (topology arrays, events,
  inference, outage lifecycle). No I/O, no asyncio.
* ``gis_import`` — reads GIS exports and compiles them into
  :class:`oms_bridge.core.topology.Topology`. It may import ``oms_bridge.errors``
  and ``oms_bridge.core`` (both pure), never the service layers.
* ``oms_bridge.store``, ``oms_bridge.bus``, ``oms_bridge.api`` — adapters.

Importing this package must stay cheap: no aiohttp, redis or SQLAlchemy here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
