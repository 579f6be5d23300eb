"""Errors as RFC 9457 problem documents, in one middleware and nowhere else.

Handlers raise domain errors (:class:`~oms_bridge.errors.OmsBridgeError`
subclasses) or :class:`ApiError`; :func:`problem_middleware` turns each into
``application/problem+json`` with a status that says who has to act: the client
(4xx) or the operator (503 with ``Retry-After`` while the database is away).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy.exc import DBAPIError, OperationalError

from oms_bridge.errors import (
    ConfigError,
    EventError,
    ExportError,
    OmsBridgeError,
    StoreError,
    TopologyError,
    UnsafeArchiveError,
)

__all__ = ["ApiError", "problem_middleware", "problem_response"]

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
_RETRY_AFTER_S = 5

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(OmsBridgeError):
    """A request the API refuses, with its HTTP status and a plain reason."""

    def __init__(
        self, status: int, title: str, detail: str | None = None, *,
        headers: Mapping[str, str] | None = None, **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(
    status: int, title: str, detail: str | None = None, *,
    instance: str | None = None, headers: Mapping[str, str] | None = None, **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return web.Response(
        status=status, body=orjson.dumps(body), content_type=PROBLEM_TYPE,
        headers=dict(headers or {}),
    )


def _from_domain(exc: OmsBridgeError, path: str) -> web.Response:
    if isinstance(exc, ApiError):
        return problem_response(exc.status, exc.title, exc.detail, instance=path,
                                headers=exc.headers, **exc.extra)
    if isinstance(exc, EventError):
        return problem_response(400, "Invalid meter event", str(exc), instance=path,
                                field=exc.field, line=exc.line)
    if isinstance(exc, UnsafeArchiveError):
        return problem_response(422, "Unsafe archive", str(exc), instance=path)
    if isinstance(exc, ExportError):
        return problem_response(422, "Unreadable GIS export", str(exc), instance=path,
                                file=exc.file, layer=exc.layer)
    if isinstance(exc, TopologyError):
        return problem_response(422, "Topology cannot be built", str(exc), instance=path)
    if isinstance(exc, StoreError):
        return problem_response(503, "Database unavailable", str(exc), instance=path,
                                headers={"Retry-After": str(_RETRY_AFTER_S)})
    if isinstance(exc, ConfigError):
        log.error("configuration error while serving %s: %s", path, exc)
        return problem_response(500, "Service misconfigured", str(exc), instance=path)
    log.error("unmapped domain error on %s: %r", path, exc)
    return problem_response(500, "Internal error", type(exc).__name__, instance=path)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where exceptions become HTTP answers."""
    try:
        return await handler(request)
    except OmsBridgeError as exc:
        return _from_domain(exc, request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return problem_response(413, "Request body too large", exc.text or None,
                                    instance=request.path)
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return problem_response(exc.status, exc.reason, None, instance=request.path,
                                headers=headers)
    except (ConnectionError, TimeoutError) as exc:
        log.warning("backend unreachable on %s: %s", request.path, exc)
        return problem_response(503, "Backend unavailable", type(exc).__name__,
                                instance=request.path,
                                headers={"Retry-After": str(_RETRY_AFTER_S)})
    except DBAPIError as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            log.warning("database unreachable on %s: %s", request.path, type(exc).__name__)
            return problem_response(503, "Database unavailable", None, instance=request.path,
                                    headers={"Retry-After": str(_RETRY_AFTER_S)})
        log.exception("database error on %s %s", request.method, request.path)
        return problem_response(500, "Internal error", None, instance=request.path)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "Internal error", None, instance=request.path)
