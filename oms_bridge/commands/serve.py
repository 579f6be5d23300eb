"""``oms-bridge serve``: run the HTTP service (and the Redis consumer if configured).

On embedded defaults it needs nothing: SQLite in the data folder, the
in-process queue, the bundled demo topology when none is active. When no token
is configured at all, it generates one per role at first start, keeps them in
``<data_dir>/tokens.json`` (mode 0600) and prints them once; later starts read
that file silently. PostgreSQL and Redis come from settings alone
(``OMS_BRIDGE_DATABASE_URL``, ``OMS_BRIDGE_REDIS_URL``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import secrets
import sys
from pathlib import Path

from oms_bridge.settings import ROLES, Settings, load_settings

__all__ = ["HELP", "NAME", "add_arguments", "ensure_tokens", "run"]

NAME = "serve"
HELP = "run the HTTP service (event ingest, outages, restoration feed, stream)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="settings file (TOML)")
    parser.add_argument("--host", help="listen address (default from settings)")
    parser.add_argument("--port", type=int, help="listen port (default from settings)")
    parser.add_argument("--idle-tick-s", type=float, default=5.0,
                        help="advance event time after this many idle wall seconds "
                             "(0: never; see the runtime docs on replay determinism)")
    parser.add_argument("--tick-rate", type=float, default=1.0,
                        help="event seconds an idle tick advances per wall second "
                             "(above 1 only for tests and demos)")
    parser.add_argument("--consumer-name",
                        help="Redis consumer name (default: group@hostname, stable across "
                             "restarts so pending entries are resumed)")


def ensure_tokens(settings: Settings) -> tuple[Settings, dict[str, str] | None]:
    """Settings with tokens; the second value is the new tokens to print, if any."""
    if settings.tokens:
        return settings, None
    path = Path(settings.service.data_dir) / "tokens.json"
    if path.is_file():
        tokens = {k: str(v) for k, v in json.loads(path.read_text()).items() if k in ROLES}
        return dataclasses.replace(settings, tokens=tokens), None
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens = {role: secrets.token_urlsafe(32) for role in ROLES}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(tokens, fh, indent=2)
    return dataclasses.replace(settings, tokens=tokens), tokens


def run(args: argparse.Namespace) -> int:
    from aiohttp import web  # noqa: PLC0415 - only serve pays for aiohttp

    from oms_bridge.api.app import create_app  # noqa: PLC0415
    from oms_bridge.api.runtime import RuntimeOptions  # noqa: PLC0415
    from oms_bridge.store.urls import redact  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    settings = load_settings(args.config)
    settings, fresh = ensure_tokens(settings)
    if fresh:
        path = Path(settings.service.data_dir) / "tokens.json"
        print(f"generated API tokens (stored in {path}, mode 0600; shown only now):",
              file=sys.stderr)
        for role, token in fresh.items():
            print(f"  {role:<11} {token}", file=sys.stderr)
    host = args.host or settings.service.host
    port = args.port or settings.service.port
    app = create_app(settings, options=RuntimeOptions(idle_tick_s=args.idle_tick_s,
                                                   tick_rate=args.tick_rate),
                     consumer_name=args.consumer_name)
    print(f"oms-bridge serving on http://{host}:{port} "
          f"(database {redact(settings.database_url)}, "
          f"queue {'redis ' + redact(settings.redis.url) if settings.redis.url else 'in-process'})",
          file=sys.stderr, flush=True)
    web.run_app(app, host=host, port=port, print=None, access_log=None)
    return 0
