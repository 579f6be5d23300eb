"""SQL only through bound parameters.

Statically: no SQL string is built by formatting (f-strings, ``%``,
``.format``, concatenation) and handed to ``text()`` or an ``execute`` call,
anywhere in ``oms_bridge`` or ``gis_import`` (migrations included). The
scanner is tested on bad snippets first, so it can fail.

Behaviourally, on SQLite and PostgreSQL: hostile strings as event and meter
ids, as the feeder filter, as outage and version ids in paths, round-trip
verbatim and widen nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, select

from oms_bridge.settings import Settings
from oms_bridge.store.schema import events
from oms_bridge.store.urls import sync_url
from tests.security.conftest import Client, auth

REPO = Path(__file__).resolve().parents[2]
SQL_CALLS = {"text", "execute", "exec_driver_sql", "executemany", "executescript",
             "literal_column", "TextClause"}


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


#: builtins a SQL text built from constants may use (``len(COLUMNS)``)
_PURE_BUILTINS = {"len", "str", "tuple", "sorted"}


def _static(node: ast.AST) -> bool:
    """Whether ``node`` only uses UPPER_CASE constants, literals and pure builtins
    (identifiers fixed in the code, e.g. column names), never a run-time value."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and not (sub.id.isupper() or sub.id in _PURE_BUILTINS):
            return False
        if isinstance(sub, ast.Attribute) and sub.attr != "join":
            return False
    return True


def _formatted(node: ast.AST, dynamic: set[str]) -> bool:
    """Whether ``node`` builds a string from run-time values."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) and not _static(v.value)
                   for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        if _static(node):
            return False
        sides = (node.left, node.right)
        return any(_is_str(s) or isinstance(s, ast.JoinedStr) or _formatted(s, dynamic)
                   for s in sides)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "format" and (_is_str(node.func.value)
                                           or _formatted(node.func.value, dynamic)):
            return True
        if node.func.attr == "join" and _is_str(node.func.value):
            return True
    return isinstance(node, ast.Name) and node.id in dynamic


def formatted_sql(source: str) -> list[tuple[int, str]]:
    """(line, code) of every SQL call fed a formatted string."""
    tree = ast.parse(source)
    dynamic: set[str] = set()
    for node in ast.walk(tree):   # names bound to formatted strings, anywhere
        if isinstance(node, ast.Assign) and _formatted(node.value, set()):
            dynamic.update(t.id for t in node.targets if isinstance(t, ast.Name))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        if name in SQL_CALLS and node.args and _formatted(node.args[0], dynamic):
            found.append((node.lineno, ast.unparse(node)[:120]))
    return found


@pytest.mark.parametrize("snippet", [
    'conn.execute(text(f"SELECT * FROM outages WHERE feeder_id = \'{feeder}\'"))',
    'conn.execute(text("SELECT * FROM t WHERE id = %s" % oid))',
    'conn.execute(text("SELECT * FROM t WHERE id = {}".format(oid)))',
    'cur.execute("DELETE FROM t WHERE id = " + oid)',
    'q = f"DROP TABLE {name}"\nop.execute(q)',
    'conn.exec_driver_sql("SELECT " + col)',
    'SQL = f"INSERT INTO t ({\', \'.join(cols)}) VALUES (?)"\nconn.exec_driver_sql(SQL, rows)',
])
def test_the_scanner_finds_formatted_sql(snippet: str) -> None:
    assert formatted_sql(snippet)


@pytest.mark.parametrize("snippet", [
    'conn.execute(text("SELECT 1"))',
    'conn.execute(text("SELECT * FROM t WHERE id = :id"), {"id": oid})',
    "conn.execute(select(t).where(t.c.id == oid))",
    'cursor.execute("PRAGMA busy_timeout=30000")',
    # identifiers fixed in the code, values bound: fine
    'INS = (f"INSERT INTO t ({\', \'.join(COLUMNS)}) VALUES ({\', \'.join(\'?\' * len(COLUMNS))})")'
    '\nconn.exec_driver_sql(INS, rows)',
])
def test_the_scanner_passes_bound_sql(snippet: str) -> None:
    assert not formatted_sql(snippet)


def test_no_formatted_sql_in_the_code() -> None:
    files = sorted([*(REPO / "oms_bridge").rglob("*.py"), *(REPO / "gis_import").rglob("*.py")])
    assert len(files) > 40
    offenders = [f"{f.relative_to(REPO)}:{line}: {code}" for f in files
                 for line, code in formatted_sql(f.read_text())]
    assert not offenders, "\n".join(offenders)


# ------------------------------------------------------------- behaviour

HOSTILE = [
    "x' OR '1'='1", "'; DROP TABLE outages; --", '" OR ""="', "\\'", "%", "_", "x%' --",
    "1; SELECT 1", "' UNION SELECT doc FROM outages --", "FDR-1' --", "FDR-1'/*", "é'ü\"",
]
#: refused where an id is stored (PostgreSQL text cannot hold NUL), harmless elsewhere
NUL = "FDR-1\x00' OR '1'='1"


def _event(eid: str, meter: str) -> dict[str, str]:
    return {"event_id": eid, "meter_id": meter, "type": "last_gasp",
            "occurred_at": "2026-11-26T07:00:03.120Z"}


async def test_hostile_strings_round_trip_harmlessly(any_client: Client,
                                                     backend_settings: Settings) -> None:
    client = any_client
    batch = [_event("E-real", "M1"), *(_event(h, h) for h in HOSTILE),
             *(_event(f"E-{i}", "M2") for i in range(1))]
    resp = await client.post("/api/v1/events", json=batch, headers=auth("head-end"))
    assert resp.status == 202, await resp.text()
    result = await resp.json()
    assert result["invalid"] == 0 and result["received"] == len(batch)
    reader = auth("oms")
    everything = (await (await client.get("/api/v1/outages", headers=reader)).json())["items"]
    assert everything, "the known meters made outages"
    real = await (await client.get("/api/v1/outages", params={"feeder": "FDR-1"},
                                   headers=reader)).json()
    assert len(real["items"]) == len(everything)
    for hostile in HOSTILE:
        resp = await client.get("/api/v1/outages", params={"feeder": hostile}, headers=reader)
        assert resp.status == 200, (hostile, await resp.text())
        assert (await resp.json())["items"] == [], hostile
        resp = await client.get(f"/api/v1/outages/{quote(hostile, safe='')}", headers=reader)
        assert resp.status == 404, (hostile, resp.status)
        assert repr(hostile) in (await resp.json())["detail"]
        resp = await client.get(f"/api/v1/topology/versions/{quote(hostile, safe='')}",
                                headers=reader)
        assert resp.status in (400, 404), (hostile, resp.status)
        for param in ("since", "until", "status", "after", "limit"):
            resp = await client.get("/api/v1/outages", params={param: hostile},
                                    headers=reader)
            assert resp.status == 400, (param, hostile, resp.status)
        resp = await client.get("/api/v1/map/topology", params={"feeder": hostile},
                                headers=reader)
        assert resp.status in (200, 400, 503), (hostile, resp.status)
    resp = await client.get("/api/v1/outages", params={"feeder": NUL}, headers=reader)
    assert resp.status == 400
    resp = await client.get(f"/api/v1/outages/{quote(NUL, safe='')}", headers=reader)
    assert resp.status == 404
    resp = await client.post("/api/v1/events", json=[_event(NUL, NUL)],
                             headers=auth("head-end"))
    assert resp.status == 202 and (await resp.json())["invalid"] == 1
    # still all there, and the hostile ids were stored verbatim
    after = (await (await client.get("/api/v1/outages", headers=reader)).json())["items"]
    assert after == everything
    engine = create_engine(sync_url(backend_settings.database_url))
    try:
        with engine.connect() as conn:
            stored = set(conn.execute(select(events.c.event_id, events.c.meter_id)).all())
    finally:
        engine.dispose()
    assert {(h, h) for h in HOSTILE} <= {(e, m) for e, m in stored}
