"""No secret appears in logs.

A real ``oms-bridge serve`` with known tokens goes through a session of
requests (every role, failed sign-ins with near-miss tokens, a token in the
query string and in Basic auth, refused uploads) and is stopped; nothing it
wrote, from startup to shutdown, may contain a token or a long piece of one,
and no answer may echo a presented token back.

Generated tokens are printed once, at first start, by design: that must be
the only place, on the terminal (``print`` to stderr), never through the
logging system (which may be shipped to a log store).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from oms_bridge.commands import serve
from oms_bridge.settings import ROLES
from tests.gis_import.test_read_archive import Entry, raw_zip, tiny_entries
from tests.security.service import Service, running_service

#: a line the service's logging configuration wrote
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


def _pieces(token: str) -> list[str]:
    """The token and any long slice a careless log line might keep."""
    n = 12
    return [token, token[:n], token[-n:], token[len(token) // 2 - n // 2:][:n]]


def _leaks(text: str, tokens: dict[str, str]) -> list[str]:
    return [f"{role}: {piece!r}" for role, token in tokens.items()
            for piece in _pieces(token) if piece in text]


def _session(service: Service) -> list[str]:
    """Requests of every kind; returns the answers' bodies, but for those whose
    URL path carried a token (a 404 names its path: the client's own words)."""
    base = service.base_url
    tok = service.tokens
    bodies: list[str] = []

    def call(method: str, path: str, headers: dict[str, str] | None = None,
             **kwargs: object) -> None:
        resp = requests.request(method, base + path, headers=headers or {}, timeout=30,
                                **kwargs)  # type: ignore[arg-type]
        if not any(t in path for t in tok.values()):
            bodies.append(resp.text)

    for role in ROLES:
        h = service.headers(role)
        call("GET", "/api/v1/outages", h)
        call("GET", "/api/v1/topology/versions", h)
        call("POST", "/api/v1/events", h, data=b'{"event_id": "E1"}\nnot json\n',
             params={"x": "y"})
        call("POST", "/api/v1/stream/tickets", h)
    head_end = service.headers("head-end")
    call("POST", "/api/v1/events", {**head_end, "Content-Type": "application/json"},
         data=b"[{bad json")
    call("POST", "/api/v1/topology", service.headers("gis-admin"), data=b"not a zip")
    traversal = raw_zip([*tiny_entries(), Entry("../evil.geojson", b"{}")])
    call("POST", "/api/v1/topology", service.headers("gis-admin"), data=traversal)
    for token in tok.values():
        for wrong in (token + "x", token[:-1], "x" + token, token.upper()):
            call("GET", "/api/v1/outages", {"Authorization": f"Bearer {wrong}"})
            call("POST", "/api/v1/events", {"Authorization": f"Bearer {wrong}"}, data=b"[]")
        call("GET", "/api/v1/outages", {"Authorization": f"Basic {token}"})
        call("GET", "/api/v1/outages", {"Authorization": token})
        call("GET", "/api/v1/outages", params={"token": token, "access_token": token})
        call("GET", "/api/v1/stream", params={"ticket": token})
        call("GET", f"/api/v1/outages/{token}", service.headers("oms"))
        call("GET", f"/no/such/{token}")
    for role in ROLES:  # wrong roles
        call("POST", "/api/v1/topology", service.headers(role) if role != "gis-admin"
             else {}, data=b"x")
    return bodies


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, list[str]]]:
    with running_service(tmp_path_factory.mktemp("logs")) as svc:
        bodies = _session(svc)
        yield svc, bodies


def test_no_token_in_anything_the_service_wrote(configured: tuple[Service, list[str]]) -> None:
    service, _ = configured
    service.process.terminate()         # the shutdown is part of the session
    service.process.wait(15)
    text = service.text()
    assert "oms-bridge serving on" in text and len(text) > 200
    assert not _leaks(text, service.tokens), _leaks(text, service.tokens)
    for f in service.data_dir.rglob("*"):
        if f.is_file() and f.suffix in {".log", ".txt", ".out"}:
            assert not _leaks(f.read_text(errors="replace"), service.tokens), f


def test_no_answer_echoes_a_presented_token(configured: tuple[Service, list[str]]) -> None:
    service, bodies = configured
    echoed = [b for b in bodies if _leaks(b, service.tokens)]
    assert not echoed, echoed[:3]


def test_generated_tokens_are_printed_once_on_the_terminal(tmp_path: Path) -> None:
    with running_service(tmp_path, tokens={}) as first:
        generated = dict(first.tokens)
        _session(first)
    text = first.text()
    assert set(generated) == set(ROLES)
    for role, token in generated.items():
        assert text.count(token) == 1, role
        (line,) = [ln for ln in text.splitlines() if token in ln]
        assert not LOG_LINE.match(line), line          # a print, not a log record
        assert line.split() == [role, token]
    # pieces of the tokens appear nowhere else
    rest = "\n".join(ln for ln in text.splitlines()
                     if not any(t in ln for t in generated.values()))
    assert not _leaks(rest, generated)
    with running_service(tmp_path, tokens={}) as second:      # a later start: silent
        assert second.tokens == generated
        _session(second)
    assert not _leaks(second.text(), generated)


def test_generated_tokens_go_to_stderr_not_to_the_logger(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    for var in [v for v in os.environ if v.startswith("OMS_BRIDGE_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("OMS_BRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OMS_BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setattr("aiohttp.web.run_app", lambda *a, **k: None)
    args = argparse.Namespace(config=None, host="127.0.0.1", port=1, idle_tick_s=0.0,
                              tick_rate=1.0, consumer_name=None)
    caplog.set_level(logging.DEBUG)
    assert serve.run(args) == 0
    err = capsys.readouterr().err
    tokens = json.loads((tmp_path / "data" / "tokens.json").read_text())
    assert set(tokens) == set(ROLES)
    records = "\n".join(r.getMessage() for r in caplog.records)
    for token in tokens.values():
        assert err.count(token) == 1
        assert token not in records
    caplog.clear()
    assert serve.run(args) == 0                     # second start: nothing printed
    err = capsys.readouterr().err
    assert not any(t in err for t in tokens.values())
