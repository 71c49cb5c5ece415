"""Integer label maps on an image grid (sectors 1-6 of a vertebra, TotalSegmentator ids...)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spinetv.errors import GeometryError
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask, bounding_box_of

__all__ = ["LabelMap"]


@dataclass(frozen=True, eq=False)
class LabelMap:
    """Non-negative integer labels on an :class:`ImageGrid`, held as their bounding box.

    Parameters
    ----------
    grid : ImageGrid
        The grid the labels live on.
    box : BoundingBox
        Where ``box_array`` sits in the grid; voxels outside it are label 0.
    box_array : ndarray of unsigned int
        The labels inside ``box`` (read-only after construction).
    """

    grid: ImageGrid
    box: BoundingBox
    box_array: NDArray[np.integer]

    def __post_init__(self) -> None:
        array = np.asarray(self.box_array)
        if not np.issubdtype(array.dtype, np.integer):
            raise GeometryError(f"labels must be integers, got dtype {array.dtype}")
        if array.shape != self.box.shape:
            raise GeometryError(f"label array {array.shape} does not fill its box {self.box.shape}")
        if array.size and int(array.min()) < 0:
            raise GeometryError("labels must be non-negative")
        if array.flags.writeable:
            array = array.copy()
            array.setflags(write=False)
        object.__setattr__(self, "box_array", array)

    @classmethod
    def from_array(cls, grid: ImageGrid, array: ArrayLike) -> LabelMap:
        """Labels from a full-grid integer array, trimmed to the box of non-zero labels.

        Parameters
        ----------
        grid : ImageGrid
            The grid the labels live on.
        array : array_like of int, shape ``grid.shape``
            Full-grid labels in numpy order (slice, row, column); 0 is background. Copied.

        Returns
        -------
        LabelMap
            The labels, held as the box of the non-zero ones.

        Raises
        ------
        GeometryError
            When ``array``'s shape is not ``grid.shape``, or it is not integer or has negative
            labels.
        """
        full = np.asarray(array)
        if full.shape != grid.shape:
            raise GeometryError(f"label array {full.shape} does not match {grid.describe()}")
        box = bounding_box_of(full != 0)
        if box.is_empty:
            return cls(grid, box, np.zeros((0, 0, 0), dtype=np.uint8))
        return cls(grid, box, full[box.slices].copy())

    @classmethod
    def from_box(cls, grid: ImageGrid, box: BoundingBox, array: ArrayLike) -> LabelMap:
        """Labels from the contents of a sub-box of the grid (kept as given).

        Parameters
        ----------
        grid : ImageGrid
            The grid the labels live on.
        box : BoundingBox
            Where ``array`` sits in the grid, in voxel indices.
        array : array_like of int, shape ``box.shape``
            The labels inside ``box``; copied, not trimmed.

        Returns
        -------
        LabelMap
            The labels.

        Raises
        ------
        GeometryError
            When ``array``'s shape is not ``box.shape``, or it is not integer or has negative
            labels.
        """
        return cls(grid, box, np.asarray(array).copy())

    @property
    def labels(self) -> tuple[int, ...]:
        """The non-zero labels present, ascending."""
        values = np.unique(self.box_array)
        return tuple(int(v) for v in values if v != 0)

    def mask_of(self, *labels: int) -> Mask:
        """The mask of the voxels carrying any of ``labels``.

        Parameters
        ----------
        *labels : int
            Label values to select; labels not present select nothing.

        Returns
        -------
        Mask
            The selected voxels, on the label map's grid.
        """
        return Mask.from_box(self.grid, self.box, np.isin(self.box_array, labels))

    def to_array(self, dtype: type = np.uint8) -> NDArray[np.integer]:
        """A new full-grid label array.

        Parameters
        ----------
        dtype : numpy integer type, default numpy.uint8
            Type of the returned array; it must hold the largest label.

        Returns
        -------
        ndarray of int, shape ``grid.shape``
            The labels in numpy order (slice, row, column), 0 outside the box.
        """
        top = int(self.box_array.max()) if self.box_array.size else 0
        if top > np.iinfo(dtype).max:
            raise GeometryError(
                f"label {top} does not fit in {np.dtype(dtype).name}; ask for a wider type"
            )
        full: NDArray[np.integer] = np.zeros(self.grid.shape, dtype=dtype)
        if not self.box.is_empty:
            full[self.box.slices] = self.box_array
        return full

    def volumes_cc(self) -> dict[int, float]:
        """Volume in cc of each non-zero label present.

        Returns
        -------
        dict of int to float
            Label value to its volume in cm³.
        """
        values, counts = np.unique(self.box_array, return_counts=True)
        voxel_cc = self.grid.voxel_volume_cc
        return {int(v): float(c) * voxel_cc for v, c in zip(values, counts) if v != 0}
