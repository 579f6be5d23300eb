"""Settings: defaults file, then a config file, then the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms_bridge.errors import ConfigError
from oms_bridge.settings import load_settings


def test_embedded_defaults_use_sqlite_in_the_data_folder() -> None:
    s = load_settings(env={})
    assert s.database_url.startswith("sqlite:///")
    assert s.redis.url == ""
    assert s.engine.hold_window_s == 60.0
    assert s.tokens == {}


def test_environment_wins_over_files(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text('[service]\nport = 9001\n[engine]\nmomentary_s = 300\n')
    s = load_settings(cfg, env={"OMS_BRIDGE_PORT": "9002", "OMS_BRIDGE_TOKEN_GIS_ADMIN": "t0k"})
    assert s.service.port == 9002
    assert s.engine.momentary_s == 300.0
    assert s.tokens == {"gis-admin": "t0k"}


def test_unknown_key_names_the_valid_ones(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[engine]\nhold_windw_s = 5\n")
    with pytest.raises(ConfigError, match=r"hold_windw_s.*hold_window_s"):
        load_settings(cfg, env={})


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"service\.port"):
        load_settings(env={"OMS_BRIDGE_PORT": "eighty"})


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.toml"
    cfg.write_text("[service\n")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_settings(cfg, env={})


def test_tile_layer_is_optional_and_set_by_environment() -> None:
    assert load_settings(env={}).web.tile_url == ""
    url = "http://tiles.local/{z}/{x}/{y}.png"
    assert load_settings(env={"OMS_BRIDGE_TILE_URL": url}).web.tile_url == url
