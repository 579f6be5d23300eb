"""Run the real service (``create_app``) on a free port in a background thread.

The browser tests drive it from the main thread: the page talks to it over
HTTP like any dispatcher's browser, and the tests post events through the API
with the head-end token.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from oms_bridge.api import keys
from oms_bridge.api.app import create_app
from oms_bridge.api.runtime import RuntimeOptions
from oms_bridge.settings import (
    CoverageSettings,
    DatabaseSettings,
    ServiceSettings,
    Settings,
)
from oms_bridge.web import setup_web

TOKENS = {"head-end": "he-token-web", "oms": "oms-token-web", "gis-admin": "gis-token-web",
          "dispatcher": "dispatcher-token-web"}




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iso(moment: datetime) -> str:
    stamp = moment.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def ago(seconds: float) -> str:
    return iso(datetime.now(UTC) - timedelta(seconds=seconds))


class Service:
    """One running service; ``stop()`` ends it, ``Service(...)`` again restarts on the same DB."""

    def __init__(self, db_url: str, data_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(
            service=ServiceSettings(data_dir=str(data_dir), demo_topology=False,
                                    max_body_bytes=8 * 1024 * 1024),
            database=DatabaseSettings(url=db_url),
            coverage=CoverageSettings(flag_below=0.8),
            tokens=dict(TOKENS),
        )
        self.app = create_app(self.settings, options=RuntimeOptions(idle_tick_s=1.0))
        if "web-index" not in self.app.router.named_resources():
            app = self.app
            setup_web(app, lambda: app[keys.RUNTIME].topology, self.settings)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=0.5)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="oms-web-service", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("service did not start within 30 s")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self._loop.run_until_complete(site.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    # ------------------------------------------------------------- client
    def request(self, method: str, path: str, role: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {TOKENS[role]}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def post_events(self, events: list[dict[str, str]]) -> Any:
        return self.request("POST", "/api/v1/events", "head-end", events)

    def outages(self, status: str = "all") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after = None
        while True:
            q = f"/api/v1/outages?status={status}&limit=1000" + (f"&after={after}" if after else "")
            page = self.request("GET", q, "dispatcher")
            items.extend(page["items"])
            after = page["next"]
            if after is None or not page["items"]:
                return items


def event(eid: str, meter: str, kind: str, at: str) -> dict[str, str]:
    return {"event_id": eid, "meter_id": meter, "type": kind, "occurred_at": at}
