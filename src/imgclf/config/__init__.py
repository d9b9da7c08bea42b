"""One source of defaults (``default.yaml``) and strict overrides; a run saves its resolved copy.

Every setting is checked (type and range) when it is loaded, before any work: a bad value raises one
:class:`ConfigError` that repeats the value and says what is allowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from imgclf.errors import ImgclfError

__all__ = ["MAX_INPUT_SIZE", "MIN_INPUT_SIZE", "Config", "ConfigError", "default_config", "load_config"]

RECIPES = ("fast", "classic")
AUGMENT_PRESETS = ("none", "light", "classic", "strong")
PRECISIONS = (False, "auto", "bfloat16", "float16")
SCHEDULES = ("cosine", "plateau", "constant")
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 32, 1024
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
    "feature_views": 0,
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
    feature_views: int
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


# --- one parser per kind of value: each returns the clean value or raises a ConfigError naming it ----------


def _integer(low: int, high: int | None = None) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        allowed = f"a whole number from {low} to {high}" if high is not None else f"a whole number of {low} or more"
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            raise ConfigError(f"{name}={value!r} is not valid; use {allowed}.")
        return value

    return parse


def _real(low: float, high: float, *, open_low: bool = False, open_high: bool = False) -> Callable[[str, Any], float]:
    """A number from ``low`` to ``high`` (YAML reads ``1e-3`` as text, so numeric text counts)."""
    interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"

    def parse(name: str, value: Any) -> float:
        number = math.nan
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            with contextlib.suppress(ValueError):
                number = float(value)
        above = number > low if open_low else number >= low
        below = number < high if open_high else number <= high
        if not (above and below):
            raise ConfigError(f"{name}={value!r} is not valid; use a number in {interval}.")
        return number

    return parse


def _choice(allowed: tuple) -> Callable[[str, Any], Any]:
    def parse(name: str, value: Any) -> Any:
        if (isinstance(value, int | float) and not isinstance(value, bool)) or value not in allowed:
            names = ", ".join(str(a).lower() if isinstance(a, bool) else str(a) for a in allowed)
            raise ConfigError(f"{name}={value!r} is not valid; use one of {names}.")
        return value

    return parse


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name}={value!r} is not valid; use a name (text).")
    return value.strip()


def _weights(name: str, value: Any) -> str:
    text = str(value) if value is not None else "none"
    if text not in ("imagenet", "none") and not Path(text).expanduser().is_file():
        raise ConfigError(
            f"{name}={value!r} is neither 'imagenet', 'none' nor an existing file; pass the path of a Keras "
            ".weights.h5 file."
        )
    return text


def _input_size(name: str, value: Any) -> int | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not MIN_INPUT_SIZE <= value <= MAX_INPUT_SIZE
    ):
        raise ConfigError(
            f"{name}={value!r} is not valid; use a whole number of pixels from {MIN_INPUT_SIZE} to {MAX_INPUT_SIZE}, "
            "or null for the backbone's training size (`imgclf backbones`)."
        )
    return value


def _head_units(name: str, value: Any) -> tuple[int, ...]:
    units = [] if value is None else value
    if not isinstance(units, list | tuple):
        raise ConfigError(f"{name}={value!r} is not valid; use a list of layer sizes such as [256], or [].")
    return tuple(_integer(1, 65536)(f"{name} entry", u) for u in units)


def _split(name: str, value: Any) -> tuple[float, float, float]:
    shape = "three fractions for train, val and test that sum to 1, e.g. [0.7, 0.15, 0.15]"
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ConfigError(f"{name}={value!r} is not valid; use {shape}.")
    fractions = tuple(_real(0.0, 1.0)(f"{name} entry", f) for f in value)
    if abs(sum(fractions) - 1) > 1e-6 or fractions[0] <= 0 or fractions[1] <= 0:
        raise ConfigError(f"{name}={list(value)} is not valid; use {shape} (train and val above 0).")
    return fractions  # type: ignore[return-value]


def _unfreeze(name: str, value: Any) -> str | int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if value in ("default", "all") or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ConfigError(f"{name}={value!r} is not valid; use 'default', 'all' or a number of layers (0 or more).")


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "backbone": _text,
    "weights": _weights,
    "input_size": _input_size,
    "head_units": _head_units,
    "dropout": _real(0.0, 1.0, open_high=True),
    "mixed_precision": _choice(PRECISIONS),
    "recipe": _choice(RECIPES),
    "seed": _integer(0, 2**32 - 1),
    "batch_size": _integer(1, 65536),
    "split": _split,
    "augment": _choice(AUGMENT_PRESETS),
    "phase1_epochs": _integer(0, 100000),
    "phase1_lr": _real(0.0, 1.0, open_low=True),
    "cache_views": _integer(0, 64),
    "feature_views": _integer(0, 64),
    "activation_cache_gb": _real(0.0, math.inf),
    "label_smoothing": _real(0.0, 1.0, open_high=True),
    "class_weights": _choice(("auto", True, False)),
    "phase2_epochs": _integer(0, 100000),
    "phase2_lr": _real(0.0, 1.0, open_low=True),
    "unfreeze": _unfreeze,
    "patience": _integer(0, 100000),
    "lr_schedule": _choice(SCHEDULES),
    "max_pixels": _integer(1),
    "min_side": _integer(1),
}


def _check_together(cfg: Config) -> None:
    """Checks that involve more than one setting, or the backbone registry."""
    if cfg.phase1_epochs == 0 and cfg.phase2_epochs == 0:
        raise ConfigError(
            "phase1_epochs=0 and phase2_epochs=0 would save an untrained model; train at least one epoch "
            "(e.g. --epochs 10 2)."
        )
    from imgclf.models.registry import get_backbone, resolve_input_size

    spec = get_backbone(cfg.backbone)  # an unknown name raises ConfigError with a suggestion
    resolve_input_size(cfg, spec)


def _resolve(values: Mapping[str, Any]) -> Config:
    missing = [f.name for f in dataclasses.fields(Config) if f.name not in values]
    if missing:
        raise ConfigError(f"Settings {missing} are missing; the packaged default.yaml is damaged. Reinstall imgclf.")
    cfg = Config(**{name: parse(name, values[name]) for name, parse in _PARSERS.items()})
    _check_together(cfg)
    return cfg


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist; pass a YAML file of settings.")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"Config file '{path}' is not readable YAML ({exc}); fix it or pass another.") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping of setting: value.")
    _check_keys(loaded, f"'{path}'")
    return loaded


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (``None`` values are ignored)."""
    values = _defaults()
    loaded = _read_yaml(Path(path)) if path is not None else {}
    values.update(loaded)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_keys(given, "the overrides")
    values.update(given)
    if values["recipe"] == "classic":
        explicit = set(given) | set(loaded)
        values.update({k: v for k, v in CLASSIC_RECIPE.items() if k not in explicit})
    return _resolve(values)


def default_config() -> Config:
    """The defaults from ``default.yaml``."""
    return load_config()
