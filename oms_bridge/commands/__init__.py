"""Sub-commands of ``oms-bridge``; see :mod:`oms_bridge.cli`."""
