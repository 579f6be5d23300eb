"""Serve the dispatcher page and the map data it draws.

:func:`setup_web` is self-contained: it adds the page at ``/``, its assets under
``/static/``, Leaflet (from the ``xstatic-leaflet`` package, no CDN) under
``/static/leaflet/`` and the read-only map endpoints under ``/api/v1/map/``.
Wire it into the service's app factory with one line::

    setup_web(app, lambda: app[TOPOLOGY_KEY], settings)

The map endpoints admit the ``dispatcher`` and ``oms`` roles. They declare
that with :func:`oms_bridge.api.auth.requires`, so the service's auth
middleware enforces it; where no such middleware ran (an app without it), they
check the bearer token themselves against ``settings.tokens``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from oms_bridge.api.auth import READERS, ROLE, Authenticator, requires
from oms_bridge.api.problems import problem_response
from oms_bridge.core.topology import Topology
from oms_bridge.settings import Settings
from oms_bridge.web import mapdata

__all__ = ["STATIC_DIR", "WebSettings", "setup_web"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_MAX_RESOLVE_IDS = 20_000
_MAX_DARK_RANGES = 100_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TopologyProvider = Callable[[], Topology | None]


@dataclass(frozen=True)
class WebSettings:
    """Dispatcher page options; read from ``settings.web`` when the service has it.

    ``tile_url`` is a Leaflet URL template (``https://tiles.example/{z}/{x}/{y}.png``);
    empty means a plain background, so the page needs no internet.
    """

    tile_url: str = ""
    tile_attribution: str = ""
    tile_max_zoom: int = 19
    budget: mapdata.MapBudget = field(default_factory=mapdata.MapBudget)


def _web_settings(settings: Settings, override: WebSettings | None) -> WebSettings:
    if override is not None:
        return override
    found = getattr(settings, "web", None)
    if found is None:
        return WebSettings()
    return WebSettings(
        tile_url=str(getattr(found, "tile_url", "") or ""),
        tile_attribution=str(getattr(found, "tile_attribution", "") or ""),
        tile_max_zoom=int(getattr(found, "tile_max_zoom", 19)),
    )


def _json(data: Any, status: int = 200) -> web.Response:
    resp = web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _bad_request(request: web.Request, detail: str) -> web.Response:
    return problem_response(400, "Bad Request", detail, instance=request.path)


def _leaflet_dir() -> Path | None:
    try:
        from xstatic.pkg import leaflet  # noqa: PLC0415 - optional until installed
    except ImportError:
        return None
    base = Path(str(leaflet.BASE_DIR))
    return base if base.is_dir() else None


def _csp(web_settings: WebSettings) -> str:
    img = ["'self'", "data:", "blob:"]
    if web_settings.tile_url:
        parts = urlsplit(web_settings.tile_url.replace("{s}", "a"))
        if parts.scheme in {"http", "https"} and parts.netloc:
            host = parts.netloc
            if "{s}" in web_settings.tile_url:
                host = "*." + host.split(".", 1)[-1]
            img.append(f"{parts.scheme}://{host}")
    return ("default-src 'self'; script-src 'self'; "
            "style-src 'self' 'unsafe-inline'; "
            f"img-src {' '.join(img)}; connect-src 'self'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'")


def setup_web(
    app: web.Application,
    topology_provider: TopologyProvider,
    settings: Settings,
    *,
    web_settings: WebSettings | None = None,
) -> None:
    """Register the dispatcher page, its assets and the map endpoints on ``app``."""
    opts = _web_settings(settings, web_settings)
    authenticator = Authenticator(settings.tokens)
    csp = _csp(opts)

    def reader(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            if ROLE not in request:  # the service's auth middleware did not run
                denied = _check_reader(request, authenticator)
                if denied is not None:
                    return denied
            return await handler(request)

        return requires(*sorted(READERS))(guarded)

    def current() -> Topology | None:
        return topology_provider()

    def no_topology(request: web.Request) -> web.Response:
        return problem_response(503, "No active topology",
                                "load a GIS export first (gis-import load or "
                                "POST /api/v1/topology)",
                                instance=request.path, headers={"Retry-After": "5"})

    async def index(request: web.Request) -> web.StreamResponse:
        resp = web.FileResponse(STATIC_DIR / "index.html")
        resp.headers.update({
            "Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
        })
        return resp

    @reader
    async def config(request: web.Request) -> web.StreamResponse:
        topo = current()
        return _json({
            "role": request.get(ROLE),
            "tile_url": opts.tile_url or None,
            "tile_attribution": opts.tile_attribution or None,
            "tile_max_zoom": opts.tile_max_zoom,
            "topology": _topology_key(topo),
        })

    @reader
    async def feeders(request: web.Request) -> web.StreamResponse:
        topo = current()
        if topo is None:
            return no_topology(request)
        return _json({"topology": _topology_key(topo), "items": mapdata.feeder_summaries(topo)})

    async def _view(request: web.Request, params: Mapping[str, Any]) -> web.StreamResponse:
        topo = current()
        if topo is None:
            return no_topology(request)
        try:
            bbox_raw = params.get("bbox")
            if isinstance(bbox_raw, list | tuple):
                bbox_raw = ",".join(str(v) for v in bbox_raw)
            elif bbox_raw is not None and not isinstance(bbox_raw, str):
                raise ValueError("bbox must be minlon,minlat,maxlon,maxlat")
            bbox = mapdata.parse_bbox(bbox_raw)
            zoom = int(params.get("zoom", 14))
            dark = _parse_dark(params.get("dark"))
        except (TypeError, ValueError) as exc:
            return _bad_request(request, str(exc))
        feeder = params.get("feeder") or None
        if feeder is not None and not isinstance(feeder, str):
            return _bad_request(request, "feeder must be a FEEDERID")
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(None, functools.partial(
            mapdata.view, topo, bbox=bbox, zoom=zoom, feeder=feeder, dark=dark,
            budget=opts.budget))
        data["meta"]["topology"] = _topology_key(topo)
        return _json(data)

    @reader
    async def topology_get(request: web.Request) -> web.StreamResponse:
        return await _view(request, request.query)

    @reader
    async def topology_post(request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _bad_request(request, "body must be a JSON object {bbox, zoom, feeder, dark}")
        return await _view(request, body)

    @reader
    async def resolve(request: web.Request) -> web.StreamResponse:
        topo = current()
        if topo is None:
            return no_topology(request)
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _bad_request(request, "body must be a JSON object {devices, meters}")
        devices = body.get("devices") or []
        meters = body.get("meters") or []
        if not (_str_list(devices) and _str_list(meters)):
            return _bad_request(request, "devices and meters must be lists of ids")
        if len(devices) + len(meters) > _MAX_RESOLVE_IDS:
            return _bad_request(request, f"at most {_MAX_RESOLVE_IDS} ids per request")
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(None, functools.partial(
            mapdata.resolve, topo, devices=devices, meters=meters))
        data["topology"] = _topology_key(topo)
        return _json(data)

    router = app.router
    router.add_get("/", index, name="web-index")
    leaflet = _leaflet_dir()
    if leaflet is not None:
        router.add_static("/static/leaflet", leaflet, name="web-leaflet")
    router.add_static("/static", STATIC_DIR, name="web-static")
    router.add_get("/api/v1/map/config", config, name="map-config")
    router.add_get("/api/v1/map/feeders", feeders, name="map-feeders")
    router.add_get("/api/v1/map/topology", topology_get, name="map-topology")
    router.add_post("/api/v1/map/topology", topology_post, name="map-topology-post")
    router.add_post("/api/v1/map/resolve", resolve, name="map-resolve")


def _check_reader(request: web.Request, authenticator: Authenticator) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return problem_response(401, "Unauthorized", "missing bearer token", instance=request.path,
                                headers={"WWW-Authenticate": 'Bearer realm="oms-bridge"'})
    role = authenticator.role_for(token.strip())
    if role is None:
        return problem_response(401, "Unauthorized", "token not recognised",
                                instance=request.path,
                                headers={"WWW-Authenticate": 'Bearer realm="oms-bridge"'})
    if role not in READERS:
        return problem_response(403, "Forbidden",
                                f"role {role!r} may not {request.method} {request.path}; "
                                f"needs one of {sorted(READERS)}", instance=request.path)
    request[ROLE] = role
    return None


def _topology_key(topo: Topology | None) -> str | None:
    if topo is None:
        return None
    return f"{id(topo):x}-{topo.n_nodes}-{topo.n_service_points}"


def _str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return None


def _parse_dark(value: object) -> list[tuple[int, int]]:
    """``[[lo, hi], ...]`` (JSON) or ``"lo-hi,lo-hi"`` (query) -> pairs."""
    if value is None or value == "":
        return []
    pairs: list[tuple[int, int]] = []
    if isinstance(value, str):
        for part in value.split(","):
            lo, sep, hi = part.partition("-")
            if not sep:
                raise ValueError("dark must be lo-hi ranges separated by commas")
            pairs.append((int(lo), int(hi)))
    elif isinstance(value, list):
        for item in value:
            if not (isinstance(item, list) and len(item) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
                raise ValueError("dark must be a list of [lo, hi] integer pairs")
            pairs.append((item[0], item[1]))
    else:
        raise ValueError("dark must be a list of [lo, hi] pairs")
    if len(pairs) > _MAX_DARK_RANGES:
        raise ValueError(f"at most {_MAX_DARK_RANGES} dark ranges")
    if any(not -(2**63) <= v < 2**63 for pair in pairs for v in pair):
        raise ValueError("dark ranges must be 64-bit integers")
    return pairs
