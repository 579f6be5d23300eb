"""The service fixtures of ``tests/api``, for tests that run the app with Redis."""

from tests.api.conftest import make_app, service_db, settings

__all__ = ["make_app", "service_db", "settings"]
