"""Set operations and overlap measures on masks of one grid, done on bounding boxes only.

Every function takes :class:`Mask` values on the same grid (else
:class:`GeometryMismatchError` naming both grids), never touches the full image array, and
accepts empty masks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinetv.errors import GeometryError
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask

__all__ = ["union", "intersection", "subtract", "xor", "dice", "overlap_cc", "contains"]


def _common_grid(masks: tuple[Mask, ...], operation: str) -> ImageGrid:
    if not masks:
        raise GeometryError(f"{operation} needs at least one mask, got none")
    for index, mask in enumerate(masks):
        if not isinstance(mask, Mask):
            raise GeometryError(
                f"{operation}: argument {index + 1} must be a Mask, got {type(mask).__name__}"
            )
    grid = masks[0].grid
    for index, mask in enumerate(masks[1:], start=2):
        grid.require_same(mask.grid, what=f"{operation}: mask 1 and mask {index}")
    return grid


def _box_union(masks: tuple[Mask, ...]) -> BoundingBox:
    box = BoundingBox((0, 0, 0), (0, 0, 0))
    for mask in masks:
        if not mask.is_empty:
            box = box.union(mask.box)
    return box


def _intersection_count(a: Mask, b: Mask) -> int:
    common = a.box.intersection(b.box)
    if common.is_empty:
        return 0
    return int(np.count_nonzero(a.in_box(common) & b.in_box(common)))


def union(*masks: Mask) -> Mask:
    """The voxels in any of the masks.

    Parameters
    ----------
    *masks : Mask
        One or more masks on the same grid.

    Returns
    -------
    Mask
        The union, on the grid of the first mask.
    """
    grid = _common_grid(masks, "union")
    box = _box_union(masks)
    if box.is_empty:
        return Mask.empty(grid)
    out: NDArray[np.bool_] = np.zeros(box.shape, dtype=bool)
    for mask in masks:
        if not mask.is_empty:
            out |= mask.in_box(box)
    return Mask.from_box(grid, box, out)


def intersection(*masks: Mask) -> Mask:
    """The voxels in every one of the masks.

    Parameters
    ----------
    *masks : Mask
        One or more masks on the same grid.

    Returns
    -------
    Mask
        The intersection (empty when any mask is empty), on the grid of the first mask.
    """
    grid = _common_grid(masks, "intersection")
    if any(mask.is_empty for mask in masks):
        return Mask.empty(grid)
    box = masks[0].box
    for mask in masks[1:]:
        box = box.intersection(mask.box)
        if box.is_empty:
            return Mask.empty(grid)
    out = masks[0].in_box(box)
    for mask in masks[1:]:
        out &= mask.in_box(box)
    return Mask.from_box(grid, box, out)


def subtract(a: Mask, *others: Mask) -> Mask:
    """The voxels of ``a`` that are in none of ``others``.

    Parameters
    ----------
    a : Mask
        The mask to subtract from.
    *others : Mask
        Masks on the same grid to remove from ``a`` (none returns ``a``).

    Returns
    -------
    Mask
        ``a`` minus the union of ``others``, on ``a``'s grid.
    """
    grid = _common_grid((a, *others), "subtract")
    if a.is_empty:
        return a
    out = np.array(a.box_array, dtype=bool, copy=True)
    for other in others:
        if not other.is_empty and not other.box.intersection(a.box).is_empty:
            out &= ~other.in_box(a.box)
    return Mask.from_box(grid, a.box, out)


def xor(a: Mask, b: Mask) -> Mask:
    """The voxels in exactly one of ``a`` and ``b`` (symmetric difference).

    Parameters
    ----------
    a, b : Mask
        Masks on the same grid; either may be empty.

    Returns
    -------
    Mask
        The symmetric difference, on ``a``'s grid.

    Raises
    ------
    GeometryMismatchError
        When ``a`` and ``b`` are on different grids.
    GeometryError
        When an argument is not a :class:`Mask`.
    """
    grid = _common_grid((a, b), "xor")
    box = _box_union((a, b))
    if box.is_empty:
        return Mask.empty(grid)
    return Mask.from_box(grid, box, a.in_box(box) ^ b.in_box(box))


def dice(a: Mask, b: Mask) -> float:
    """The Dice similarity coefficient ``2 |a & b| / (|a| + |b|)``, counted in voxels.

    Two empty masks are identical, so their Dice coefficient is 1.0.

    Parameters
    ----------
    a, b : Mask
        Masks on the same grid; either may be empty.

    Returns
    -------
    float
        The coefficient, dimensionless, from 0.0 (disjoint) to 1.0 (identical).

    Raises
    ------
    GeometryMismatchError
        When ``a`` and ``b`` are on different grids.
    GeometryError
        When an argument is not a :class:`Mask`.
    """
    _common_grid((a, b), "dice")
    total = a.voxel_count + b.voxel_count
    if total == 0:
        return 1.0
    return 2.0 * _intersection_count(a, b) / total


def overlap_cc(a: Mask, b: Mask) -> float:
    """The volume of the intersection of ``a`` and ``b``, in cubic centimetres.

    Parameters
    ----------
    a, b : Mask
        Masks on the same grid; either may be empty.

    Returns
    -------
    float
        The overlap volume in cm³ (voxel count times the grid's voxel volume); 0.0 when the
        masks do not overlap.

    Raises
    ------
    GeometryMismatchError
        When ``a`` and ``b`` are on different grids.
    GeometryError
        When an argument is not a :class:`Mask`.
    """
    grid = _common_grid((a, b), "overlap_cc")
    return _intersection_count(a, b) * grid.voxel_volume_cc


def contains(a: Mask, b: Mask) -> bool:
    """True when every voxel of ``b`` is in ``a`` (an empty ``b`` is contained in anything).

    Parameters
    ----------
    a : Mask
        The candidate container.
    b : Mask
        The mask that should lie inside ``a``, on the same grid.

    Returns
    -------
    bool
        Whether ``b`` is a subset of ``a``, voxel for voxel.

    Raises
    ------
    GeometryMismatchError
        When ``a`` and ``b`` are on different grids.
    GeometryError
        When an argument is not a :class:`Mask`.
    """
    _common_grid((a, b), "contains")
    if b.is_empty:
        return True
    return _intersection_count(a, b) == b.voxel_count
