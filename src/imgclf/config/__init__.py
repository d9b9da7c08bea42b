"""One source of defaults (``default.yaml``) and strict overrides; a run saves its resolved copy."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from imgclf.errors import ImgclfError

__all__ = ["Config", "ConfigError", "default_config", "load_config"]

RECIPES = ("fast", "classic")
AUGMENT_PRESETS = ("none", "light", "classic", "strong")
PRECISIONS = (False, "auto", "bfloat16", "float16")
SCHEDULES = ("cosine", "plateau", "constant")
# Settings that `recipe: classic` implies unless given explicitly: the original design's training recipe
# (224 x 224 in float32, augmentation through the frozen base every epoch, 10 + 10 epochs, plateau schedule,
# early stopping).
CLASSIC_RECIPE = {
    "input_size": 224,
    "mixed_precision": False,
    "head_units": [256],
    "dropout": 0.5,
    "phase1_epochs": 10,
    "phase2_epochs": 10,
    "cache_views": 0,
    "augment": "classic",
    "lr_schedule": "plateau",
    "patience": 3,
}


class ConfigError(ImgclfError, ValueError):
    """A setting is unknown or has a value that cannot work."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Every training setting, resolved. Field meanings are documented in ``default.yaml``."""

    backbone: str
    weights: str
    input_size: int | None
    head_units: tuple[int, ...]
    dropout: float
    mixed_precision: str | bool
    recipe: str
    seed: int
    batch_size: int
    split: tuple[float, float, float]
    augment: str
    phase1_epochs: int
    phase1_lr: float
    cache_views: int
    activation_cache_gb: float
    label_smoothing: float
    class_weights: str | bool
    phase2_epochs: int
    phase2_lr: float
    unfreeze: str | int
    patience: int
    lr_schedule: str
    max_pixels: int
    min_side: int

    def replace(self, **changes: Any) -> Config:
        """Return a validated copy with ``changes`` applied (unknown keys rejected)."""
        return load_config(overrides={**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML-friendly dict of every setting."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _defaults() -> dict[str, Any]:
    text = resources.files("imgclf.config").joinpath("default.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _check_keys(values: Mapping[str, Any], source: str) -> None:
    known = [f.name for f in dataclasses.fields(Config)]
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else f" Known keys: {', '.join(known)}."
            raise ConfigError(f"Unknown setting '{key}' in {source}.{hint}")


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid; use one of {', '.join(map(str, allowed))}.")


def _validate(cfg: Config) -> None:
    _choice("recipe", cfg.recipe, RECIPES)
    _choice("augment", cfg.augment, AUGMENT_PRESETS)
    _choice("mixed_precision", cfg.mixed_precision, PRECISIONS)
    _choice("lr_schedule", cfg.lr_schedule, SCHEDULES)
    _choice("class_weights", cfg.class_weights, ("auto", True, False))
    if len(cfg.split) != 3 or any(f < 0 for f in cfg.split) or abs(sum(cfg.split) - 1) > 1e-6:
        raise ConfigError(f"split={list(cfg.split)} must be three non-negative fractions that sum to 1.")
    if cfg.split[0] <= 0 or cfg.split[1] <= 0:
        raise ConfigError(f"split={list(cfg.split)} needs a positive train and validation fraction.")
    for name in ("batch_size", "max_pixels", "min_side"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name}={getattr(cfg, name)} must be at least 1.")
    for name in ("phase1_epochs", "phase2_epochs", "cache_views", "patience"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name}={getattr(cfg, name)} must be zero or more.")
    if not 0 <= cfg.dropout < 1 or not 0 <= cfg.label_smoothing < 1:
        raise ConfigError("dropout and label_smoothing must be in [0, 1).")
    if cfg.unfreeze not in ("default", "all") and not (isinstance(cfg.unfreeze, int) and cfg.unfreeze >= 0):
        raise ConfigError(f"unfreeze={cfg.unfreeze!r} must be 'default', 'all' or a number of layers.")


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    out["head_units"] = tuple(int(u) for u in out["head_units"] or ())
    out["split"] = tuple(float(f) for f in out["split"])
    out["weights"] = str(out["weights"])
    if isinstance(out["unfreeze"], str) and out["unfreeze"].isdigit():
        out["unfreeze"] = int(out["unfreeze"])
    for name in ("phase1_lr", "phase2_lr", "dropout", "label_smoothing", "activation_cache_gb"):
        out[name] = float(out[name])
    return out


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (``None`` values are ignored)."""
    values = _defaults()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file '{path}' does not exist; pass a YAML file of settings.")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"Config file '{path}' must hold a mapping of setting: value.")
        _check_keys(loaded, f"'{path}'")
        values.update(loaded)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_keys(given, "the overrides")
    values.update(given)
    if values["recipe"] == "classic":
        explicit = set(given) | set(loaded if path is not None else ())
        values.update({k: v for k, v in CLASSIC_RECIPE.items() if k not in explicit})
    try:
        cfg = Config(**_coerce(values))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Invalid setting: {exc}") from exc
    _validate(cfg)
    return cfg


def default_config() -> Config:
    """The defaults from ``default.yaml``."""
    return load_config()
