"""Grids, masks, margins, booleans and contour conversion."""

from spinetv.geometry.booleans import (
    contains,
    dice,
    intersection,
    overlap_cc,
    subtract,
    union,
    xor,
)
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.labels import LabelMap
from spinetv.geometry.margins import Margin, MarginResult, expand, expand_with_report, shrink
from spinetv.geometry.mask import Mask, bounding_box_of

__all__ = [
    "BoundingBox",
    "ImageGrid",
    "LabelMap",
    "Margin",
    "MarginResult",
    "Mask",
    "bounding_box_of",
    "contains",
    "dice",
    "expand",
    "expand_with_report",
    "intersection",
    "overlap_cc",
    "shrink",
    "subtract",
    "union",
    "xor",
]
