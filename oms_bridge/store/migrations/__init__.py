"""Alembic migration scripts of the store (run through ``oms_bridge.store.migrate``)."""
