"""Bearer tokens, one per role (contract section 7), and who may call what.

Every handler declares the roles it admits with :func:`requires`; the auth
middleware resolves the caller's role and answers

* **401** when no credentials came, they are malformed, or the token is not
  recognised (with ``WWW-Authenticate: Bearer`` and the reason), and
* **403** when the token is valid but its role is not admitted (naming both).

Tokens are compared with :func:`hmac.compare_digest` against *every* configured
token, so the time taken says nothing about which token nearly matched.

The dispatcher page's ``EventSource`` cannot send headers, so
``GET /api/v1/stream`` alone also accepts ``?ticket=``: a random single-use
value, valid for :data:`TICKET_TTL_S` seconds, that a signed-in page obtains
from ``POST /api/v1/stream/tickets`` with its bearer token. Tokens themselves
never travel in URLs (and so never land in access logs).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware

from oms_bridge.api.problems import ApiError

__all__ = [
    "OPEN",
    "READERS",
    "ROLE",
    "TICKET_TTL_S",
    "Authenticator",
    "TicketBook",
    "make_auth_middleware",
    "requires",
    "roles_of",
]

TICKET_TTL_S = 60.0
#: Marker for endpoints open to anyone (health, readiness, metrics, OpenAPI).
OPEN: frozenset[str] = frozenset()
#: Roles that may read outages, restorations, coverage and the stream.
READERS: frozenset[str] = frozenset({"dispatcher", "oms"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ROLES_ATTR = "__oms_roles__"
#: The caller's role, set on the request by the auth middleware.
ROLE = web.RequestKey("role", str)
_TICKET_ATTR = "__oms_ticket__"


def requires(*roles: str, ticket: bool = False) -> Callable[[Handler], Handler]:
    """Declare the roles a handler admits; no roles means the endpoint is open."""

    def mark(handler: Handler) -> Handler:
        setattr(handler, _ROLES_ATTR, frozenset(roles))
        setattr(handler, _TICKET_ATTR, ticket)
        return handler

    return mark


def roles_of(handler: object) -> frozenset[str] | None:
    """The roles a handler declared, ``None`` when it declared nothing."""
    roles = getattr(handler, _ROLES_ATTR, None)
    return roles if isinstance(roles, frozenset) else None


@dataclass
class TicketBook:
    """Single-use, short-lived stream tickets, kept in memory."""

    ttl_s: float = TICKET_TTL_S
    _tickets: dict[str, tuple[str, float]] = field(default_factory=dict)

    def issue(self, role: str) -> str:
        now = time.monotonic()
        self._tickets = {k: v for k, v in self._tickets.items() if v[1] > now}
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = (role, now + self.ttl_s)
        return ticket

    def redeem(self, ticket: str) -> str | None:
        entry = self._tickets.pop(ticket, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]


class Authenticator:
    """Maps a presented token to its role in constant time per configured token."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = [(role, tok.encode()) for role, tok in sorted(tokens.items()) if tok]

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(role for role, _ in self._tokens)

    def role_for(self, token: str) -> str | None:
        presented = token.encode()
        found: str | None = None
        for role, expected in self._tokens:
            if hmac.compare_digest(presented, expected):
                found = role
        return found


def _unauthorised(reason: str) -> ApiError:
    return ApiError(
        401, "Unauthorized", reason,
        headers={"WWW-Authenticate": f'Bearer realm="oms-bridge", error_description="{reason}"'},
    )


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorised("Authorization header must be 'Bearer <token>'")
    return token.strip()


def make_auth_middleware(authenticator: Authenticator, tickets: TicketBook) -> Middleware:
    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        target = _route_handler(request)
        admitted = roles_of(target)
        if not admitted:  # open endpoint, or a 404/405 that carries no handler
            return await handler(request)
        token = _bearer(request)
        role: str | None
        if token is None:
            ticket = request.query.get("ticket")
            if ticket and getattr(target, _TICKET_ATTR, False):
                role = tickets.redeem(ticket)
                if role is None:
                    raise _unauthorised("stream ticket unknown, used or expired")
            else:
                raise _unauthorised("missing bearer token")
        else:
            role = authenticator.role_for(token)
            if role is None:
                raise _unauthorised("token not recognised")
        if role not in admitted:
            raise ApiError(
                403, "Forbidden",
                f"role {role!r} may not {request.method} {request.path}; "
                f"needs one of {sorted(admitted)}",
                role=role, required=sorted(admitted),
            )
        request[ROLE] = role
        return await handler(request)

    return auth_middleware


def _route_handler(request: web.Request) -> object:
    info = request.match_info
    route = info.route if isinstance(info, web.UrlMappingMatchInfo) else None
    return route.handler if route is not None else None
