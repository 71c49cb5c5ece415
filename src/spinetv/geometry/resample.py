"""Moving masks between grids: in-plane refinement and nearest-centre resampling."""

from __future__ import annotations

import numpy as np

from spinetv.errors import GeometryMismatchError
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask

__all__ = ["refine_in_plane", "resample_nearest"]


def refine_in_plane(mask: Mask, factor: int) -> Mask:
    """The same voxels on ``mask.grid.refined_in_plane(factor)``: each pixel becomes a block.

    The region covered is unchanged (each pixel's square is tiled by its sub-pixels), so
    volumes are equal; only later operations (margins) gain resolution.

    Parameters
    ----------
    mask : Mask
        The mask to refine; may be empty.
    factor : int
        How many sub-pixels each pixel is split into along each in-plane axis (rows and
        columns); slices are not split. 1 returns ``mask`` itself.

    Returns
    -------
    Mask
        The same region on the refined grid, whose in-plane spacing (mm) is divided by
        ``factor``.

    Raises
    ------
    GeometryError
        When ``factor`` is less than 1.
    """
    fine_grid = mask.grid.refined_in_plane(factor)
    if factor == 1:
        return mask
    if mask.is_empty:
        return Mask.empty(fine_grid)
    block = np.repeat(np.repeat(mask.box_array, factor, axis=1), factor, axis=2)
    start = (mask.box.start[0], mask.box.start[1] * factor, mask.box.start[2] * factor)
    stop = (mask.box.stop[0], mask.box.stop[1] * factor, mask.box.stop[2] * factor)
    return Mask(fine_grid, BoundingBox(start, stop), block)


def resample_nearest(mask: Mask, grid: ImageGrid) -> Mask:
    """``mask`` on another grid of the same frame: a target voxel is inside when the source
    voxel nearest to its centre is.

    Only the target voxels around the mask's extent are visited, so this stays cheap for a
    small structure on a large grid.

    Parameters
    ----------
    mask : Mask
        The mask to move; may be empty.
    grid : ImageGrid
        The target grid. It may differ in shape, spacing, origin and direction but must be in
        the same frame of reference when both grids name one.

    Returns
    -------
    Mask
        The resampled mask on ``grid`` (empty when ``mask`` is empty or lies outside
        ``grid``).

    Raises
    ------
    GeometryMismatchError
        When both grids name a frame of reference and the two differ.
    """
    if (
        mask.grid.frame_of_reference_uid
        and grid.frame_of_reference_uid
        and mask.grid.frame_of_reference_uid != grid.frame_of_reference_uid
    ):
        raise GeometryMismatchError(
            f"cannot resample between frames of reference {mask.grid.frame_of_reference_uid} "
            f"and {grid.frame_of_reference_uid}"
        )
    if mask.grid.matches(grid):
        return Mask(grid, mask.box, mask.box_array)
    if mask.is_empty:
        return Mask.empty(grid)
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float) * (
        np.asarray(mask.box.shape) - 1
    ) + np.asarray(mask.box.start)
    half_voxel = 0.5 * np.asarray(mask.grid.spacing_mm)
    spread = np.abs(mask.grid.direction * half_voxel).sum(axis=1)
    corners_lps = mask.grid.index_to_lps(corners)
    low = (corners_lps.min(axis=0) - spread)[np.newaxis, :]
    high = (corners_lps.max(axis=0) + spread)[np.newaxis, :]
    box_corners = np.array(
        [
            [x, y, z]
            for x in (low[0, 0], high[0, 0])
            for y in (low[0, 1], high[0, 1])
            for z in (low[0, 2], high[0, 2])
        ]
    )
    target_ijk = grid.lps_to_index(box_corners)
    start = np.clip(np.floor(target_ijk.min(axis=0)).astype(int), 0, np.asarray(grid.shape))
    stop = np.clip(np.ceil(target_ijk.max(axis=0)).astype(int) + 1, 0, np.asarray(grid.shape))
    box = BoundingBox(tuple(int(v) for v in start), tuple(int(v) for v in stop))  # type: ignore[arg-type]
    if box.is_empty:
        return Mask.empty(grid)
    ijk = np.indices(box.shape).reshape(3, -1).T + start
    source = np.rint(mask.grid.lps_to_index(grid.index_to_lps(ijk))).astype(np.int64)
    source -= np.asarray(mask.box.start)
    inside = np.all((source >= 0) & (source < np.asarray(mask.box.shape)), axis=1)
    values = np.zeros(len(source), dtype=bool)
    hits = source[inside]
    values[inside] = mask.box_array[hits[:, 0], hits[:, 1], hits[:, 2]]
    return Mask.from_box(grid, box, values.reshape(box.shape))
