"""Schemathesis against the OpenAPI document the running service serves.

A real ``oms-bridge serve`` (SQLite, demo topology) on a loopback port; the
schema is loaded from its ``/api/v1/openapi.json``. Every operation gets
generated requests (schema-conforming and schema-violating), each sent with
no token and with every role's token. Checks on every answer: no 5xx, the
status code is documented, the content type is documented, the documented
headers are there and the body matches the documented schema.

``GET /api/v1/stream`` is a never-ending event stream: it is fuzzed with no
token and with the roles it refuses only (``tests/api/test_stream.py`` covers
the stream itself).

Short form: a few examples per operation. Long form (``-m slow``, more under
``HYPOTHESIS_PROFILE=long``): many more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from oms_bridge.api.openapi import openapi_document
from tests.fuzz.profile import LONG
from tests.security.service import Service, running_service

ROLES = ("head-end", "oms", "gis-admin", "dispatcher")
AUTHS: tuple[str | None, ...] = (None, *ROLES)
NEVER_ENDING = {("GET", "/api/v1/stream")}

OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in openapi_document()["paths"].items()
    for method in item
)

# the upload is a zip (binary); NDJSON is text
schemathesis.serializer.alias("application/zip", "application/octet-stream")
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

CHECK_NAMES = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_headers_conformance", "response_schema_conformance")


def _checks() -> list[Callable[..., Any]]:
    return [getattr(schemathesis.checks, name) for name in CHECK_NAMES]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # small limits, so an oversized generated body is a quick 413
    config = "[service]\nmax_body_bytes = 262144\nmax_upload_bytes = 1048576\n"
    with running_service(tmp_path_factory.mktemp("schemathesis"), config=config) as svc:
        yield svc


@pytest.fixture(scope="module")
def schema(service: Service) -> Any:
    return schemathesis.openapi.from_url(f"{service.base_url}/api/v1/openapi.json")


def _admitted(path: str, method: str) -> frozenset[str]:
    op = openapi_document()["paths"][path][method.lower()]
    return frozenset(op.get("x-roles") or ROLES)


def _has_inputs(path: str, method: str) -> bool:
    """Whether a request can violate the schema at all (negative mode needs inputs)."""
    op = openapi_document()["paths"][path][method.lower()]
    return bool(op.get("parameters") or op.get("requestBody"))


def fuzz_operation(service: Service, schema: Any, method: str, path: str, *,
                   mode: GenerationMode, examples: int) -> int:
    """Run ``examples`` generated requests x every auth; returns the calls made."""
    operation = schema[path][method]
    checks = _checks()
    session = requests.Session()
    calls = 0
    admitted = _admitted(path, method)
    auths = [a for a in AUTHS if not ((method, path) in NEVER_ENDING and a in admitted)]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        nonlocal calls
        for role in auths:
            case.call_and_validate(base_url=service.base_url, session=session,
                                   headers=service.headers(role), checks=checks, timeout=30)
            calls += 1

    run()
    session.close()
    return calls


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_every_role(service: Service, schema: Any, method: str,
                                    path: str) -> None:
    fuzz_operation(service, schema, method, path, mode=GenerationMode.POSITIVE, examples=8)
    if _has_inputs(path, method):
        fuzz_operation(service, schema, method, path, mode=GenerationMode.NEGATIVE, examples=4)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_every_role_long(service: Service, schema: Any, method: str,
                                         path: str) -> None:
    n = 400 if LONG else 60
    calls = fuzz_operation(service, schema, method, path, mode=GenerationMode.POSITIVE, examples=n)
    if _has_inputs(path, method):
        calls += fuzz_operation(service, schema, method, path, mode=GenerationMode.NEGATIVE,
                                examples=n)
    print(f"{method} {path}: {calls} requests")


def test_the_served_document_is_the_published_one(service: Service) -> None:
    got = requests.get(f"{service.base_url}/api/v1/openapi.json", timeout=10).json()
    assert got == openapi_document()
    assert Path(service.output).is_file()
