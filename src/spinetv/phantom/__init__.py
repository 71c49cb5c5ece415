"""Synthetic spine CT phantoms with exact ground truth (vertebrae, ISRC sectors, canal, GTV).

See :func:`make_spine_phantom` and :mod:`spinetv.phantom.generator` for how the anatomy is
built, and ``data/vertebrae.toml`` for the dimensions and their sources.
"""

from spinetv.phantom.generator import (
    HU,
    ORIENTATIONS,
    GtvSpec,
    LevelFrame,
    SpinePhantom,
    make_spine_phantom,
    parse_levels,
    phantom_grid,
)
from spinetv.phantom.writer import write_phantom

__all__ = [
    "HU",
    "ORIENTATIONS",
    "GtvSpec",
    "LevelFrame",
    "SpinePhantom",
    "make_spine_phantom",
    "parse_levels",
    "phantom_grid",
    "write_phantom",
]
