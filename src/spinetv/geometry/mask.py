"""Binary masks on an image grid, stored as their bounding box.

A 60 cc vertebra on a 512x512x200 CT covers a fraction of a percent of the grid, so a
:class:`Mask` keeps only the voxels of its bounding box; the full array is made on request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spinetv.errors import GeometryError
from spinetv.geometry.grid import BoundingBox, ImageGrid

__all__ = ["Mask", "bounding_box_of"]

_EMPTY_BOX = BoundingBox((0, 0, 0), (0, 0, 0))


def bounding_box_of(array: NDArray[np.bool_]) -> BoundingBox:
    """The tightest box holding every true voxel of a 3-D boolean array (empty box if none).

    Parameters
    ----------
    array : ndarray of bool, 3-D
        A boolean array in numpy order (slice, row, column).

    Returns
    -------
    BoundingBox
        Half-open voxel index bounds ``[start, stop)`` of the true voxels; the empty box
        ``(0, 0, 0)``–``(0, 0, 0)`` when there are none.

    Raises
    ------
    GeometryError
        When ``array`` is not 3-D.
    """
    if array.ndim != 3:
        raise GeometryError(f"a mask must be 3-D, got an array of shape {array.shape}")
    start: list[int] = []
    stop: list[int] = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        occupied = np.flatnonzero(array.any(axis=other))
        if occupied.size == 0:
            return _EMPTY_BOX
        start.append(int(occupied[0]))
        stop.append(int(occupied[-1]) + 1)
    return BoundingBox(tuple(start), tuple(stop))  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class Mask:
    """A binary mask on an :class:`ImageGrid`, held as the contents of a bounding box.

    Parameters
    ----------
    grid : ImageGrid
        The grid the mask lives on.
    box : BoundingBox
        Where ``box_array`` sits in the grid. Voxels outside it are false.
    box_array : ndarray of bool
        The mask inside ``box`` (made read-only on construction).

    Notes
    -----
    Build masks with :meth:`from_array` (a full-grid array) or :meth:`from_box` (a sub-box);
    both trim to the tightest box. An empty mask is a valid value.
    """

    grid: ImageGrid
    box: BoundingBox
    box_array: NDArray[np.bool_]

    def __post_init__(self) -> None:
        array = np.asarray(self.box_array)
        if array.dtype != np.bool_:
            array = array.astype(bool)
        if array.shape != self.box.shape:
            raise GeometryError(
                f"mask array of shape {array.shape} does not fill its box of shape {self.box.shape}"
            )
        if any(b > n for b, n in zip(self.box.stop, self.grid.shape)):
            raise GeometryError(f"mask box {self.box} reaches outside {self.grid.describe()}")
        if array.flags.writeable:
            array = array.copy()
            array.setflags(write=False)
        object.__setattr__(self, "box_array", array)

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def empty(cls, grid: ImageGrid) -> Mask:
        """The mask with no voxel on ``grid``.

        Parameters
        ----------
        grid : ImageGrid
            The grid the empty mask lives on.

        Returns
        -------
        Mask
            An empty mask (empty box, volume 0 cm³).
        """
        return cls(grid, _EMPTY_BOX, np.zeros((0, 0, 0), dtype=bool))

    @classmethod
    def from_array(cls, grid: ImageGrid, array: ArrayLike) -> Mask:
        """A mask from a full-grid array (non-zero is inside); the input is not kept or changed.

        Parameters
        ----------
        grid : ImageGrid
            The grid the mask lives on.
        array : array_like, shape ``grid.shape``
            Full-grid values in numpy order (slice, row, column); non-zero means inside.

        Returns
        -------
        Mask
            The mask, trimmed to the tightest box of its voxels.

        Raises
        ------
        GeometryError
            When ``array``'s shape is not ``grid.shape``.
        """
        full = np.asarray(array)
        if full.shape != grid.shape:
            raise GeometryError(f"array of shape {full.shape} does not match {grid.describe()}")
        full = full.astype(bool, copy=False)
        box = bounding_box_of(full)
        if box.is_empty:
            return cls.empty(grid)
        return cls(grid, box, full[box.slices].copy())

    @classmethod
    def from_box(cls, grid: ImageGrid, box: BoundingBox, array: ArrayLike) -> Mask:
        """A mask from the contents of a sub-box of the grid, trimmed to its tightest box.

        Parameters
        ----------
        grid : ImageGrid
            The grid the mask lives on.
        box : BoundingBox
            Where ``array`` sits in the grid, in voxel indices.
        array : array_like, shape ``box.shape``
            The values inside ``box``; non-zero means inside. Not kept or changed.

        Returns
        -------
        Mask
            The mask, trimmed to the tightest box of its voxels.

        Raises
        ------
        GeometryError
            When ``array``'s shape is not ``box.shape``, or the voxels reach outside ``grid``.
        """
        sub = np.asarray(array).astype(bool, copy=False)
        if sub.shape != box.shape:
            raise GeometryError(f"array of shape {sub.shape} does not fill box {box}")
        inner = bounding_box_of(sub) if sub.size else _EMPTY_BOX
        if inner.is_empty:
            return cls.empty(grid)
        shifted = BoundingBox(
            tuple(s + a for s, a in zip(box.start, inner.start)),  # type: ignore[arg-type]
            tuple(s + b for s, b in zip(box.start, inner.stop)),  # type: ignore[arg-type]
        )
        return cls(grid, shifted, sub[inner.slices].copy())

    # ---- measures -------------------------------------------------------------------------
    @property
    def voxel_count(self) -> int:
        """Number of voxels inside."""
        return int(np.count_nonzero(self.box_array))

    @property
    def volume_cc(self) -> float:
        """Volume in cubic centimetres (voxel count times voxel volume)."""
        return self.voxel_count * self.grid.voxel_volume_cc

    @property
    def is_empty(self) -> bool:
        """True when no voxel is inside."""
        return self.box.is_empty or not bool(self.box_array.any())

    def centroid_lps(self) -> NDArray[np.float64]:
        """Centre of mass of the inside voxels in LPS mm (raises for an empty mask).

        Returns
        -------
        ndarray of float64, shape (3,)
            The mean of the voxel centres, in patient LPS mm.

        Raises
        ------
        GeometryError
            When the mask is empty.
        """
        if self.is_empty:
            raise GeometryError("an empty mask has no centroid")
        ijk = np.argwhere(self.box_array).mean(axis=0) + np.asarray(self.box.start)
        return self.grid.index_to_lps(ijk)

    def points_lps(self) -> NDArray[np.float64]:
        """LPS mm positions of every inside voxel centre, shape (n, 3).

        Returns
        -------
        ndarray of float64, shape (n, 3)
            One patient LPS position in mm per inside voxel, in array (slice, row, column)
            order; ``(0, 3)`` for an empty mask.
        """
        ijk = np.argwhere(self.box_array) + np.asarray(self.box.start)
        return self.grid.index_to_lps(ijk)

    # ---- views ----------------------------------------------------------------------------
    def to_array(self) -> NDArray[np.bool_]:
        """A new full-grid boolean array (writeable, owned by the caller).

        Returns
        -------
        ndarray of bool, shape ``grid.shape``
            The mask in numpy order (slice, row, column).
        """
        full = np.zeros(self.grid.shape, dtype=bool)
        if not self.box.is_empty:
            full[self.box.slices] = self.box_array
        return full

    def in_box(self, box: BoundingBox) -> NDArray[np.bool_]:
        """A new boolean array of ``box``'s shape holding the mask's voxels inside ``box``.

        Parameters
        ----------
        box : BoundingBox
            Any box of the mask's grid, in voxel indices; it need not contain the mask.

        Returns
        -------
        ndarray of bool, shape ``box.shape``
            The mask's voxels within ``box``; false elsewhere.
        """
        out = np.zeros(box.shape, dtype=bool)
        common = self.box.intersection(box)
        if common.is_empty:
            return out
        target = tuple(slice(a - b, c - b) for a, c, b in zip(common.start, common.stop, box.start))
        source = tuple(
            slice(a - b, c - b) for a, c, b in zip(common.start, common.stop, self.box.start)
        )
        out[target] = self.box_array[source]
        return out

    def with_grid(self, grid: ImageGrid) -> Mask:
        """The same voxels on an equal grid (for example one naming its frame of reference).

        Parameters
        ----------
        grid : ImageGrid
            A grid matching this mask's grid (see :meth:`ImageGrid.matches`).

        Returns
        -------
        Mask
            The same voxels, carrying ``grid``.

        Raises
        ------
        GeometryMismatchError
            When ``grid`` does not match the mask's grid.
        """
        self.grid.require_same(grid, what="mask and target grid")
        return Mask(grid, self.box, self.box_array)

    def __repr__(self) -> str:
        return f"Mask({self.voxel_count} voxels, {self.volume_cc:.3f} cc, box={self.box})"
