"""Vertebral dimensions of the phantom, read from ``data/vertebrae.toml``."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

from spinetv.errors import SpinetvError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["LEVEL_NAMES", "LevelDims", "SacrumSettings", "SpineTable", "spine_table"]

LEVEL_NAMES: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    *(f"S{i}" for i in range(1, 6)),
)

_DATA_FILE = "vertebrae.toml"


@dataclass(frozen=True)
class LevelDims:
    """Dimensions of one vertebra or sacral segment, all in mm (angles in degrees)."""

    name: str
    region: str
    body_width: float
    body_depth: float
    body_height: float
    disc_below: float
    canal_width: float
    canal_depth: float
    pedicle_width: float = 0.0
    pedicle_height: float = 0.0
    lamina_thickness: float = 0.0
    lamina_height: float = 0.0
    lamina_offset: float = 0.0
    tp_span: float = 0.0
    tp_height: float = 0.0
    tp_thickness: float = 0.0
    tp_angle_deg: float = 0.0
    tp_offset: float = 0.0
    spinous_length: float = 0.0
    spinous_height: float = 0.0
    spinous_thickness: float = 0.0
    spinous_tilt_deg: float = 0.0
    body_waist: float = 0.0
    articular_pillar: bool = False
    cord_width: float = 0.0
    cord_depth: float = 0.0
    ala_half_width: float = 0.0
    crest: float = 0.0
    foramen_radius: float = 0.0
    outline_half_width: float = 160.0
    outline_half_depth: float = 115.0
    outline_posterior: float = 90.0
    gtv_radius: float = 8.0

    @property
    def is_sacral(self) -> bool:
        """True for the sacral segments S1-S5."""
        return self.region == "sacral"


@dataclass(frozen=True)
class SacrumSettings:
    """Whole-sacrum settings: axis shape and where the neural structures end."""

    lumbosacral_kink_deg: float
    kyphosis_deg: float
    conus_level: str
    dural_sac_end: str
    hiatus: str


@dataclass(frozen=True)
class SpineTable:
    """Every level's dimensions (C1 to S5 in order) plus the sacrum settings and sources."""

    levels: tuple[LevelDims, ...]
    sacrum: SacrumSettings
    citations: tuple[str, ...]

    def __getitem__(self, name: str) -> LevelDims:
        return self.levels[LEVEL_NAMES.index(name)]


def _expand(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Turn the compact per-level keys of the data file into :class:`LevelDims` fields."""
    values = dict(entry)
    pairs = {
        "body": ("body_width", "body_depth", "body_height"),
        "canal": ("canal_width", "canal_depth"),
        "pedicle": ("pedicle_width", "pedicle_height"),
        "cord": ("cord_width", "cord_depth"),
    }
    for key, fields in pairs.items():
        if key in values:
            items = values.pop(key)
            if len(items) != len(fields):
                raise SpinetvError(
                    f"{_DATA_FILE}: level {name} key {key!r} needs {len(fields)} values, "
                    f"found {items!r}"
                )
            values.update({f: float(v) for f, v in zip(fields, items)})
    return values


@functools.lru_cache(maxsize=1)
def spine_table() -> SpineTable:
    """The dimensions of every level, read once from the packaged data file."""
    source = resources.files("spinetv.phantom").joinpath("data").joinpath(_DATA_FILE)
    text = source.read_text("utf-8")
    data = tomllib.loads(text)
    regions: dict[str, dict[str, Any]] = dict(data["regions"])
    regions["sacral"] = dict(data["sacrum"]["region"])
    sacral_rows = data["sacrum"]["segments"]
    levels: list[LevelDims] = []
    for name in LEVEL_NAMES:
        if name.startswith("S"):
            entry = {"region": "sacral", "disc_below": 0.0, **sacral_rows[name]}
        else:
            entry = dict(data["levels"][name])
        values = _expand(name, entry)
        merged = {**regions[values["region"]], **values}
        merged.pop("cord", None)
        if "cord" in regions[values["region"]] and "cord_width" not in values:
            merged["cord_width"], merged["cord_depth"] = regions[values["region"]]["cord"]
        try:
            levels.append(LevelDims(name=name, **merged))
        except TypeError as error:
            raise SpinetvError(f"{_DATA_FILE}: level {name}: {error}") from None
    sacrum = data["sacrum"]
    settings = SacrumSettings(
        lumbosacral_kink_deg=float(sacrum["lumbosacral_kink_deg"]),
        kyphosis_deg=float(sacrum["kyphosis_deg"]),
        conus_level=str(sacrum["conus_level"]),
        dural_sac_end=str(sacrum["dural_sac_end"]),
        hiatus=str(sacrum["hiatus"]),
    )
    return SpineTable(tuple(levels), settings, tuple(data["source"]["citations"]))
