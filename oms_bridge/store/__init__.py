"""Persistence adapters: SQLAlchemy tables, Alembic migrations, repositories.

Everything here runs on a synchronous :class:`sqlalchemy.engine.Connection`; the
async service calls the same functions through ``AsyncConnection.run_sync``.
Import the submodules directly (``oms_bridge.store.topology_repo``); this
package itself stays cheap to import.
"""

__all__: list[str] = []
