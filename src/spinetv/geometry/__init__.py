"""Grids, masks, margins, booleans and contour conversion."""

from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.labels import LabelMap
from spinetv.geometry.mask import Mask, bounding_box_of

__all__ = ["BoundingBox", "ImageGrid", "LabelMap", "Mask", "bounding_box_of"]
