"""``oms-bridge serve`` token bootstrap: generated once, mode 0600, reused."""

from __future__ import annotations

import stat
from pathlib import Path

from oms_bridge.commands.serve import ensure_tokens
from oms_bridge.settings import ROLES, ServiceSettings, Settings


def test_tokens_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(service=ServiceSettings(data_dir=str(tmp_path / "d")))
    first, fresh = ensure_tokens(settings)
    assert fresh is not None and set(fresh) == set(ROLES)
    path = tmp_path / "d" / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second, again = ensure_tokens(settings)
    assert again is None and second.tokens == first.tokens
    configured = Settings(service=settings.service, tokens={"oms": "x"})
    assert ensure_tokens(configured) == (configured, None)
