"""Read GIS topology exports, trace and validate them, compile the topology.

``read_export(path)`` does the file I/O and hands plain layers to
``build_topology(export)``, which is pure: snap, trace, validate, compile.
"""
