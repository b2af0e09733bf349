"""Configuration of `kino serve`: storage, served models (with Runway-name aliases), prices, tiers, plans.

One frozen dataclass per part (style.md). A config file (TOML or JSON) overrides the defaults; every
field is checked at load with an error naming it. Prices and tier limits follow what Runway publishes
(../shared/design/api.md); the Kino default checkpoint is served under its own name and under the
aliases `gen4.5` and `gen4_turbo`, which accept Runway's ratios and durations for those names but render
at the model's native size of the same aspect (reported in every task's `kino.size`).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

__all__ = ["ConfigError", "ServedModel", "Plan", "Limits", "ServerConfig", "load_config", "DEFAULT_MODELS", "DEFAULT_PLANS"]


class ConfigError(ValueError):
    """A configuration field is invalid; the message names it."""


# Runway ratio strings (pixel sizes of *their* output) → the Kino ratio rendered natively.
RUNWAY_RATIOS = {
    "1280:720": "16:9",
    "720:1280": "9:16",
    "960:960": "1:1",
    "1104:832": "4:3",
    "832:1104": "3:4",
    "1584:672": "21:9",
}
KINO_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9")


@dataclass(frozen=True)
class ServedModel:
    """One API model name and what it runs. `alias_of` documents that the name is Runway's, not ours."""

    name: str
    checkpoint: str | None = None  # None: the shipped Kino default checkpoint
    steps: int = 4  # decoder steps per chunk (fewer = faster, cheaper)
    credits_per_second: int = 12
    modes: tuple[str, ...] = ("text_to_video", "image_to_video", "video_to_video")
    ratios: tuple[str, ...] = KINO_RATIOS + tuple(RUNWAY_RATIOS)  # accepted ratio strings
    min_seconds: int = 2
    max_seconds: int = 10
    alias_of: str | None = None
    max_concurrent: int | None = 2  # per organization; over it tasks wait as THROTTLED
    max_daily: int | None = 500  # per organization per UTC day; over it → 429

    def kino_ratio(self, ratio: str) -> str:
        return RUNWAY_RATIOS.get(ratio, ratio)


@dataclass(frozen=True)
class Plan:
    """How an organization's credits are topped up: `one_time`, `monthly` (reset), `rollover` (carry up to `rollover_months`)."""

    name: str
    kind: str = "one_time"
    credits: int = 0
    rollover_months: int = 0
    max_monthly_spend: int = 1_000_000


@dataclass(frozen=True)
class Limits:
    """Media limits Runway documents (bytes), plus pixel/frame caps that stop decompression bombs."""

    image_url_bytes: int = 16 * 2**20
    video_url_bytes: int = 32 * 2**20
    image_data_uri_bytes: int = 5 * 2**20
    video_data_uri_bytes: int = 16 * 2**20
    upload_bytes: int = 200 * 2**20
    image_pixels: int = 4096 * 4096
    video_pixels: int = 4096 * 2160
    video_frames: int = 16 * 60 * 10
    url_chars: int = 2048
    prompt_units: int = 1000  # UTF-16 code units
    max_keyframes: int = 16
    fetch_timeout_s: float = 15.0


@dataclass(frozen=True)
class ServerConfig:
    data_dir: str = "kino-data"
    database_url: str | None = None  # default: sqlite:///<data_dir>/kino.db; a postgresql:// URL works too
    public_url: str | None = None  # base of signed output URLs; default: the URL the request came in on
    workers: int = 1  # generations at once in this process (a CPU generation already uses every core)
    url_ttl_s: int = 24 * 3600  # signed output URLs
    upload_ttl_s: int = 24 * 3600  # runway:// upload URIs
    max_attempts: int = 2  # runs of one task across restarts before it fails with a refund
    trusted_hosts: tuple[str, ...] = ()  # test/intranet only: hosts exempt from the SSRF address check
    ca_file: str | None = None  # extra CA bundle for fetching media (e.g. an intranet CA)
    default_plan: str = "free"
    models: tuple[ServedModel, ...] = ()
    plans: tuple[Plan, ...] = ()
    limits: Limits = field(default_factory=Limits)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'kino.db'}"

    def model(self, name: str) -> ServedModel | None:
        return next((m for m in self.models if m.name == name), None)

    def plan(self, name: str) -> Plan:
        p = next((p for p in self.plans if p.name == name), None)
        if p is None:
            raise ConfigError(f"plan: unknown plan {name!r}; configured: {[p.name for p in self.plans]}")
        return p


DEFAULT_MODELS = (
    ServedModel("kino-tiny", credits_per_second=1),
    ServedModel("gen4.5", credits_per_second=12, ratios=tuple(RUNWAY_RATIOS), alias_of="Runway gen4.5 (served by kino-tiny, 4 steps)"),
    ServedModel("gen4_turbo", steps=2, credits_per_second=5, modes=("image_to_video",), ratios=tuple(RUNWAY_RATIOS), alias_of="Runway gen4_turbo (served by kino-tiny, 2 steps)"),
    ServedModel("aleph2", credits_per_second=15, modes=("video_to_video",), alias_of="Runway aleph2 video-to-video (served by kino-tiny)"),
)
DEFAULT_PLANS = (
    Plan("free", "one_time", 125, max_monthly_spend=125),
    Plan("standard", "monthly", 625, max_monthly_spend=625),
    Plan("pro", "monthly", 2250, max_monthly_spend=2250),
    Plan("max", "rollover", 9500, rollover_months=1, max_monthly_spend=19000),
    Plan("unlimited", "one_time", 0),
)


def _build(cls, data: dict, where: str):
    """Dataclass `cls` from a dict, with errors that name the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a table/object, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown field; known: {sorted(known)}")
    kwargs = {}
    for key, value in data.items():
        default = getattr(cls(**({"name": "x"} if "name" in known else {})), key) if key != "name" else ""
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        if value is None and "None" in str(known[key].type):
            kwargs[key] = None
            continue
        if default is not None and not isinstance(value, type(default)) and not (isinstance(default, float) and isinstance(value, int)):
            raise ConfigError(f"{where}.{key}: expected {type(default).__name__}, got {value!r}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check(cfg: ServerConfig) -> ServerConfig:
    names = [m.name for m in cfg.models]
    if len(set(names)) != len(names):
        raise ConfigError(f"models: duplicate names in {names}")
    for i, m in enumerate(cfg.models):
        bad = [r for r in m.ratios if m.kino_ratio(r) not in KINO_RATIOS]
        if bad:
            raise ConfigError(f"models[{i}].ratios: unsupported {bad}; use {list(KINO_RATIOS)} or Runway's {list(RUNWAY_RATIOS)}")
        if not 1 <= m.min_seconds <= m.max_seconds <= 600:
            raise ConfigError(f"models[{i}]: need 1 <= min_seconds <= max_seconds <= 600")
        if m.steps not in (1, 2, 4, 8):
            raise ConfigError(f"models[{i}].steps: must be 1, 2, 4 or 8")
        if m.credits_per_second < 0:
            raise ConfigError(f"models[{i}].credits_per_second: must be >= 0")
        unknown = set(m.modes) - {"text_to_video", "image_to_video", "video_to_video"}
        if unknown:
            raise ConfigError(f"models[{i}].modes: unknown {sorted(unknown)}")
    for i, p in enumerate(cfg.plans):
        if p.kind not in ("one_time", "monthly", "rollover"):
            raise ConfigError(f"plans[{i}].kind: must be one_time, monthly or rollover, got {p.kind!r}")
    cfg.plan(cfg.default_plan)
    if cfg.workers < 1:
        raise ConfigError("workers: must be >= 1")
    return cfg


def load_config(path: str | Path | None = None, **overrides) -> ServerConfig:
    """Defaults ← config file (TOML or JSON) ← keyword overrides (from the command line)."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text()
            data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--config: cannot read {str(p)!r}: {exc}") from None
    models = data.pop("models", None)
    plans = data.pop("plans", None)
    limits = data.pop("limits", {})
    cfg = _build(ServerConfig, data, "config")
    cfg = replace(
        cfg,
        models=tuple(_build(ServedModel, m, f"models[{i}]") for i, m in enumerate(models)) if models is not None else DEFAULT_MODELS,
        plans=tuple(_build(Plan, p, f"plans[{i}]") for i, p in enumerate(plans)) if plans is not None else DEFAULT_PLANS,
        limits=_build(Limits, limits, "limits"),
    )
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    return _check(cfg)
