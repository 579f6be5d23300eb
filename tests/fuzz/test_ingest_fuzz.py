"""Fuzzing ``POST /api/v1/events`` on a running service: bad lines never reject good ones.

Batches mix valid events, events with one field broken and lines that are
not JSON at all, sent as NDJSON or as a JSON array to a real ``oms-bridge
serve``. The answer must be 202 and account for every line: each good one
accepted (or a duplicate, or from an unknown meter), each bad one counted
invalid and explained with its line number and the field at fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from oms_bridge.core.events import EventCodes, parse_event
from oms_bridge.errors import EventError
from oms_bridge.settings import EngineSettings, ServiceSettings
from tests.fuzz.event_strategies import Broken, Valid, broken_events, valid_events
from tests.fuzz.profile import fuzz_settings, long_settings
from tests.security.service import Service, running_service

CODES = EventCodes.from_settings(EngineSettings())
MAX_BODY_BYTES = ServiceSettings().max_body_bytes   # the service runs on its defaults
NOT_JSON = [b"{", b"not json", b'{"event_id": "x",}', b"[1,", b"\xff\xfe", b"NaN x"]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("ingest-fuzz")) as svc:
        yield svc


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


Line = Valid | Broken | bytes
lines = st.lists(st.one_of(valid_events(), broken_events(), st.sampled_from(NOT_JSON)),
                 min_size=1, max_size=10)


def _encode(line: Line) -> bytes:
    if isinstance(line, bytes):
        return line
    return json.dumps(line.obj).encode()  # NaN and inf become bare tokens: not JSON


def _expected(raw: bytes) -> tuple[bool, str | None]:
    """(valid, field at fault) as the service should judge one line."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False, None
    try:
        parse_event(obj, CODES)
    except EventError as exc:
        return False, exc.field
    return True, None


def check_batch(service: Service, session: requests.Session, batch: list[Line],
                as_array: bool) -> None:
    raws = [_encode(line) for line in batch]
    verdicts = [_expected(raw) for raw in raws]
    if as_array and all(v[0] or v[1] is not None for v in verdicts):
        # every line is JSON: the array form is possible
        body = b"[" + b",".join(raws) + b"]"
        content_type = "application/json"
    else:
        body = b"\n".join(raws) + b"\n"
        content_type = "application/x-ndjson"
    resp = session.post(f"{service.base_url}/api/v1/events", data=body, timeout=60,
                        headers={**service.headers("head-end"), "Content-Type": content_type})
    if len(body) > MAX_BODY_BYTES:     # 1 MB values escaped by json.dumps add up
        assert resp.status_code == 413, (resp.status_code, resp.text[:500])
        return
    assert resp.status_code == 202, (resp.status_code, resp.text[:500])
    result: dict[str, Any] = resp.json()
    good = sum(ok for ok, _ in verdicts)
    bad = len(verdicts) - good
    assert result["received"] == len(batch)
    assert result["invalid"] == bad, result
    assert result["accepted"] + result["duplicate"] + result["unknown_meter"] == good, result
    expected_errors = [(i, field) for i, (ok, field) in enumerate(verdicts, start=1) if not ok]
    got = [(e["line"], e["field"]) for e in result["errors"]]
    assert got == expected_errors, (got, expected_errors)
    assert all(e["reason"] and len(e["reason"]) <= 300 for e in result["errors"])


@given(lines, st.booleans())
@fuzz_settings(60)
def test_bad_lines_never_reject_good_ones(service: Service, session: requests.Session,
                                          batch: list[Line], as_array: bool) -> None:
    check_batch(service, session, batch, as_array)


@pytest.mark.slow
@given(lines, st.booleans())
@long_settings(5_000)
def test_bad_lines_never_reject_good_ones_long(service: Service, session: requests.Session,
                                               batch: list[Line], as_array: bool) -> None:
    check_batch(service, session, batch, as_array)
