"""A real ``oms-bridge serve`` in a subprocess, on a free loopback port.

SQLite in a temporary folder, the in-process queue and the bundled demo
topology: the embedded defaults of contract section 7, with known tokens (or
none, to see the generated ones). Everything the process writes to stdout and
stderr (its log included) is kept in a file, for the no-secrets-in-logs check.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TOKENS", "Service", "free_port", "running_service"]

REPO = Path(__file__).resolve().parents[2]
#: distinctive tokens, so a search of the log cannot miss them
TOKENS: dict[str, str] = {
    "head-end": "tok-HE-7f3a9c1e5b2d4068a1c3e5f7091b2d4f",
    "oms": "tok-OMS-2b4d6f8091a3c5e7f9b1d3f5a7c9e1b3",
    "gis-admin": "tok-GIS-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
    "dispatcher": "tok-DSP-1a2b3c4d5e6f708192a3b4c5d6e7f809",
}


@dataclass
class Service:
    base_url: str
    tokens: dict[str, str]
    output: Path          # stdout and stderr of the process
    data_dir: Path
    process: subprocess.Popen[bytes]

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}

    def text(self) -> str:
        return self.output.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running_service(
    tmp: Path, *, tokens: Mapping[str, str] | None = None, config: str = "",
    startup_s: float = 90.0,
) -> Iterator[Service]:
    """Start the service; stop it (SIGTERM, then SIGKILL) when the block ends.

    ``tokens=None`` configures the four known :data:`TOKENS`; ``{}`` none at all
    (the service then generates its own, read back from ``tokens.json``).
    """
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    chosen = dict(TOKENS if tokens is None else tokens)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_BRIDGE_")}
    port = free_port()
    env.update({
        "OMS_BRIDGE_DATA_DIR": str(data_dir),
        "OMS_BRIDGE_DATABASE_URL": f"sqlite:///{data_dir / 'oms-bridge.db'}",
        "OMS_BRIDGE_REDIS_URL": "",
        "OMS_BRIDGE_HOST": "127.0.0.1",
        "OMS_BRIDGE_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    })
    for role, token in chosen.items():
        env[f"OMS_BRIDGE_TOKEN_{role.upper().replace('-', '_')}"] = token
    args = [sys.executable, "-m", "oms_bridge.cli", "serve", "--idle-tick-s", "0"]
    if config:
        cfg = tmp / "service.toml"
        cfg.write_text(config)
        args += ["--config", str(cfg)]
    output = tmp / "service.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while not _ready(base):
            if proc.poll() is not None:
                raise RuntimeError(f"service exited ({proc.returncode}):\n"
                                   + output.read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError("service not ready in time:\n"
                                   + output.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        if not chosen:
            import json  # noqa: PLC0415

            chosen = dict(json.loads((data_dir / "tokens.json").read_text()))
        yield Service(base, chosen, output, data_dir, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
