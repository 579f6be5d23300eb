"""One typed settings object, built from ``config/default.toml``, an optional
file and the environment (which wins), then passed in explicitly: nothing reads
settings from a global.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oms_bridge.errors import ConfigError

__all__ = [
    "ROLES",
    "CoverageSettings",
    "DatabaseSettings",
    "EngineSettings",
    "GisSettings",
    "RedisSettings",
    "ServiceSettings",
    "Settings",
    "WebSettings",
    "default_config_path",
    "load_settings",
]

#: Roles a bearer token can carry (contract section 7).
ROLES: tuple[str, ...] = ("head-end", "oms", "gis-admin", "dispatcher")


@dataclass(frozen=True)
class ServiceSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "data"
    max_body_bytes: int = 16 * 1024 * 1024
    max_upload_bytes: int = 256 * 1024 * 1024
    demo_topology: bool = True


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""


@dataclass(frozen=True)
class RedisSettings:
    url: str = ""
    stream: str = "oms-bridge:events"
    group: str = "oms-bridge"
    batch_size: int = 5000
    block_ms: int = 1000


@dataclass(frozen=True)
class EngineSettings:
    hold_window_s: float = 60.0
    momentary_s: float = 60.0
    lateness_s: float = 30.0
    delivery_probability: float = 0.6
    last_gasp_codes: tuple[str, ...] = ("last_gasp", "3.26.0.85")
    restore_codes: tuple[str, ...] = ("power_restored", "3.26.0.216")
    device_prior: dict[str, float] = field(
        default_factory=lambda: {
            "breaker": 0.02, "recloser": 0.05, "sectionalizer": 0.05,
            "fuse": 0.3, "transformer": 0.2, "service_point": 0.1,
        }
    )
    #: restores this close to an outage's first restore are read together
    restore_window_s: float = 15.0
    #: after an outage's first restore, wait this long for the others before
    #: splitting off nested outages and publishing the restoration
    settle_s: float = 180.0
    #: last gasps further apart than this (event time) start a new incident
    incident_gap_s: float = 20.0
    #: expected number of devices opening in one incident (scales the priors)
    base_rate: float = 1.0
    #: event time after an outage closes (leaves ``active``) after which its
    #: evidence is dropped: it keeps its contract fields and counts, its
    #: detail timeline says it was compacted (the service's database keeps it)
    evidence_retention_s: float = 21600.0
    #: event ids older than this behind the watermark are forgotten (in
    #: buckets): a duplicate that old counts as accepted and is applied as
    #: late evidence, which changes nothing (see the engine docstring)
    dedupe_horizon_s: float = 86400.0


@dataclass(frozen=True)
class CoverageSettings:
    flag_below: float = 0.8


@dataclass(frozen=True)
class GisSettings:
    tolerance_m: float = 0.5
    near_miss_m: float = 5.0
    max_uncompressed_bytes: int = 4 * 1024**3


@dataclass(frozen=True)
class WebSettings:
    """The dispatcher page: an optional tile layer (empty: plain background, no internet)."""

    tile_url: str = ""
    tile_attribution: str = ""
    tile_max_zoom: int = 19


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    coverage: CoverageSettings = field(default_factory=CoverageSettings)
    gis: GisSettings = field(default_factory=GisSettings)
    web: WebSettings = field(default_factory=WebSettings)
    #: role -> token; roles without a token cannot be used.
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        """The configured URL, or the SQLite file in the data folder."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{Path(self.service.data_dir) / 'oms-bridge.db'}"


_ENV_KEYS: dict[str, tuple[str, str]] = {
    "OMS_BRIDGE_DATABASE_URL": ("database", "url"),
    "OMS_BRIDGE_REDIS_URL": ("redis", "url"),
    "OMS_BRIDGE_REDIS_STREAM": ("redis", "stream"),
    "OMS_BRIDGE_HOST": ("service", "host"),
    "OMS_BRIDGE_PORT": ("service", "port"),
    "OMS_BRIDGE_DATA_DIR": ("service", "data_dir"),
    "OMS_BRIDGE_TILE_URL": ("web", "tile_url"),
}


def default_config_path() -> Path:
    """``config/default.toml`` of a checkout, else the copy inside the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "config" / "default.toml", here / "default.toml"):
        if candidate.is_file():
            return candidate
    return here.parent / "config" / "default.toml"


def load_settings(
    config_path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Defaults file, then ``config_path``, then environment variables."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    default = default_config_path()
    if default.is_file():
        _deep_merge(merged, _read_toml(default))
    if config_path is not None:
        _deep_merge(merged, _read_toml(Path(config_path)))
    for var, (section, key) in _ENV_KEYS.items():
        if var in env:
            merged.setdefault(section, {})[key] = env[var]
    tokens = {
        role: env[var]
        for role in ROLES
        if (var := f"OMS_BRIDGE_TOKEN_{role.upper().replace('-', '_')}") in env and env[var]
    }
    merged.setdefault("tokens", {}).update(tokens)
    settings: Settings = _build(Settings, merged, "")
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError("config file not found", source=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(path)) from exc


def _deep_merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _build(cls: type[Any], data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {sorted(unknown)}; valid: {sorted(names)}",
            key=prefix.rstrip(".") or None,
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise ConfigError("expected a table", key=key)
            kwargs[name] = _build(typing.cast(type[Any], hint), value, f"{key}.")
        else:
            kwargs[name] = _coerce(value, hint, key)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in {"1", "true", "yes", "on"}:
                    return True
                if low in {"0", "false", "no", "off"}:
                    return False
                raise ValueError(value)
            if isinstance(value, bool):
                return value
            raise ValueError(value)
        if hint in (int, float):
            if isinstance(value, bool):
                raise ValueError(value)
            number = hint(value)
            if number < 0:
                raise ConfigError("must not be negative", key=key)
            return number
        if hint is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if origin is tuple:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list | tuple):
                raise ValueError(value)
            return tuple(str(v) for v in value)
        if origin is dict:
            if not isinstance(value, Mapping):
                raise ValueError(value)
            _, vtype = typing.get_args(hint)
            return {str(k): _coerce(v, vtype, f"{key}.{k}") for k, v in value.items()}
        if isinstance(hint, types.UnionType):
            return value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{value!r} is not a valid {getattr(hint, '__name__', hint)}",
                          key=key) from exc
    return value
