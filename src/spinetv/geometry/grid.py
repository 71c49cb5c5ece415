"""The image grid: how voxel indices map to DICOM patient (LPS) millimetres."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spinetv.errors import GeometryError, GeometryMismatchError

__all__ = ["AXIAL_HFS_DIRECTION", "ImageGrid", "BoundingBox"]

_ORTHONORMAL_TOLERANCE = 1e-4

#: Direction of an axial head-first supine series: slices run superior (+z), rows posterior (+y),
#: columns to the patient's left (+x).
AXIAL_HFS_DIRECTION: NDArray[np.float64] = np.array(
    [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
)
AXIAL_HFS_DIRECTION.setflags(write=False)


@dataclass(frozen=True)
class BoundingBox:
    """A box of voxel indices, ``start`` inclusive and ``stop`` exclusive, in array order.

    Parameters
    ----------
    start : tuple of int
        First index on each array axis (slice, row, column).
    stop : tuple of int
        One past the last index on each array axis.
    """

    start: tuple[int, int, int]
    stop: tuple[int, int, int]

    def __post_init__(self) -> None:
        if len(self.start) != 3 or len(self.stop) != 3:
            raise GeometryError(f"a bounding box needs 3 start and 3 stop indices, got {self}")
        object.__setattr__(self, "start", tuple(int(v) for v in self.start))
        object.__setattr__(self, "stop", tuple(int(v) for v in self.stop))
        if any(b < a for a, b in zip(self.start, self.stop)):
            raise GeometryError(f"a bounding box stop lies before its start: {self}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Size of the box in voxels on each array axis."""
        return (
            self.stop[0] - self.start[0],
            self.stop[1] - self.start[1],
            self.stop[2] - self.start[2],
        )

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The box as a tuple of slices, to index a full-grid array."""
        return (
            slice(self.start[0], self.stop[0]),
            slice(self.start[1], self.stop[1]),
            slice(self.start[2], self.stop[2]),
        )

    @property
    def is_empty(self) -> bool:
        """True when the box holds no voxel."""
        return any(n == 0 for n in self.shape)

    def union(self, other: BoundingBox) -> BoundingBox:
        """The smallest box holding both boxes (an empty box counts as nothing).

        Parameters
        ----------
        other : BoundingBox
            The box to join with this one, in the same grid's voxel indices.

        Returns
        -------
        BoundingBox
            The enclosing box, in voxel indices.
        """
        if self.is_empty:
            return other
        if other.is_empty:
            return self
        start = tuple(min(a, b) for a, b in zip(self.start, other.start))
        stop = tuple(max(a, b) for a, b in zip(self.stop, other.stop))
        return BoundingBox(start, stop)  # type: ignore[arg-type]

    def intersection(self, other: BoundingBox) -> BoundingBox:
        """The common part of both boxes (possibly empty).

        Parameters
        ----------
        other : BoundingBox
            The box to intersect with this one, in the same grid's voxel indices.

        Returns
        -------
        BoundingBox
            The overlap in voxel indices; an empty box (zero size on some axis) when the boxes
            are disjoint.
        """
        start = tuple(max(a, b) for a, b in zip(self.start, other.start))
        stop = tuple(max(s, min(a, b)) for s, a, b in zip(start, self.stop, other.stop))
        return BoundingBox(start, stop)  # type: ignore[arg-type]

    def padded(self, pad_voxels: tuple[int, int, int], shape: tuple[int, int, int]) -> BoundingBox:
        """The box grown by ``pad_voxels`` on each side, clipped to a grid of ``shape``.

        Parameters
        ----------
        pad_voxels : tuple of int
            Voxels added before the start and after the stop on each array axis (slice, row,
            column).
        shape : tuple of int
            Size of the grid in voxels (slice, row, column); the result stays inside it.

        Returns
        -------
        BoundingBox
            The padded box, in voxel indices.
        """
        start = tuple(max(0, a - p) for a, p in zip(self.start, pad_voxels))
        stop = tuple(min(n, b + p) for b, p, n in zip(self.stop, pad_voxels, shape))
        return BoundingBox(start, stop)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class ImageGrid:
    """Geometry of a 3-D image in DICOM patient coordinates (LPS, millimetres).

    Parameters
    ----------
    shape : tuple of int
        Number of voxels in numpy order (slice, row, column).
    spacing_mm : tuple of float
        Distance between voxel centres along each array axis (slice, row, column), in mm.
    origin_lps_mm : tuple of float
        Patient position of the centre of voxel (0, 0, 0), in mm (LPS).
    direction : array_like, shape (3, 3)
        Orthonormal matrix whose columns are the unit LPS directions of the array axes
        (slice, row, column). For a DICOM axial series, column 2 is the first triplet of
        ImageOrientationPatient, column 1 the second, column 0 the slice normal in the
        direction of increasing slice index. The default is the axial head-first supine
        direction (slices superior, rows posterior, columns to the patient's left).
    frame_of_reference_uid : str
        The DICOM FrameOfReferenceUID the coordinates refer to ("" when unknown, as for
        NIfTI images).

    Notes
    -----
    The affine maps an index ``ijk`` (slice, row, column) to ``origin + direction @ (ijk *
    spacing)``. Every conversion between indices and millimetres uses the direction, so prone,
    feet-first and oblique grids are handled alike.
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_lps_mm: tuple[float, float, float]
    direction: NDArray[np.float64] = field(default_factory=lambda: AXIAL_HFS_DIRECTION.copy())
    frame_of_reference_uid: str = ""

    def __post_init__(self) -> None:
        shape = tuple(int(v) for v in self.shape)
        spacing = tuple(float(v) for v in self.spacing_mm)
        origin = tuple(float(v) for v in self.origin_lps_mm)
        direction = np.array(self.direction, dtype=np.float64).reshape(3, 3)
        if len(shape) != 3 or any(n < 1 for n in shape):
            raise GeometryError(f"grid shape must be 3 positive sizes, got {self.shape}")
        if len(spacing) != 3 or not all(np.isfinite(spacing)) or any(s <= 0 for s in spacing):
            raise GeometryError(f"grid spacing must be 3 positive mm values, got {self.spacing_mm}")
        if len(origin) != 3 or not all(np.isfinite(origin)):
            raise GeometryError(f"grid origin must be 3 finite mm values, got {self.origin_lps_mm}")
        if not np.allclose(direction.T @ direction, np.eye(3), atol=_ORTHONORMAL_TOLERANCE):
            raise GeometryError(f"grid direction is not orthonormal:\n{direction}")
        direction.setflags(write=False)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing_mm", spacing)
        object.__setattr__(self, "origin_lps_mm", origin)
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "frame_of_reference_uid", str(self.frame_of_reference_uid))

    # ---- identity -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageGrid):
            return NotImplemented
        return self.matches(other)

    def __hash__(self) -> int:
        # Equality allows a tolerance, so only what equal grids share exactly may be hashed.
        return hash(self.shape)

    def matches(self, other: ImageGrid, *, tolerance_mm: float = 1e-3) -> bool:
        """True when both grids place every voxel at the same position (within tolerance).

        The frame of reference is compared only when both grids name one.

        Parameters
        ----------
        other : ImageGrid
            The grid to compare with.
        tolerance_mm : float, default 1e-3
            Largest allowed distance, in mm, between the positions of the first and last
            voxel centres of the two grids. Directions must agree to 1e-5.

        Returns
        -------
        bool
            Whether the grids have the same shape, voxel positions and direction (and frame of
            reference, when both name one).
        """
        if self.shape != other.shape:
            return False
        if (
            self.frame_of_reference_uid
            and other.frame_of_reference_uid
            and self.frame_of_reference_uid != other.frame_of_reference_uid
        ):
            return False
        corners = np.array([[0, 0, 0], [n - 1 for n in self.shape]], dtype=float)
        return bool(
            np.allclose(self.index_to_lps(corners), other.index_to_lps(corners), atol=tolerance_mm)
            and np.allclose(self.direction, other.direction, atol=1e-5)
        )

    def require_same(self, other: ImageGrid, *, what: str = "masks") -> None:
        """Raise :class:`GeometryMismatchError` unless ``other`` matches this grid.

        Parameters
        ----------
        other : ImageGrid
            The grid that must match this one (see :meth:`matches`, default tolerance).
        what : str, default "masks"
            What is being compared, for the start of the error message.

        Raises
        ------
        GeometryMismatchError
            When the grids differ; the message names both grids, or both frames of reference
            when only those differ.
        """
        if not self.matches(other):
            mine, theirs = self.describe(), other.describe()
            if (
                mine == theirs
                and self.frame_of_reference_uid
                and other.frame_of_reference_uid
                and self.frame_of_reference_uid != other.frame_of_reference_uid
            ):
                raise GeometryMismatchError(
                    f"{what} are in different frames of reference "
                    f"({self.frame_of_reference_uid} versus {other.frame_of_reference_uid}) on "
                    f"the same geometry {mine}"
                )
            raise GeometryMismatchError(f"{what} are on different grids: {mine} versus {theirs}")

    def describe(self) -> str:
        """A one-line human-readable summary of the grid.

        Returns
        -------
        str
            Shape in voxels, spacing in mm and origin in LPS mm.
        """
        spacing = "x".join(f"{s:g}" for s in self.spacing_mm)
        origin = ", ".join(f"{v:.2f}" for v in self.origin_lps_mm)
        return f"grid {self.shape} spacing {spacing} mm origin ({origin}) LPS mm"

    # ---- conversions ----------------------------------------------------------------------
    @property
    def affine(self) -> NDArray[np.float64]:
        """The 4x4 matrix taking homogeneous ``ijk`` (array order) to LPS millimetres."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction * np.asarray(self.spacing_mm)[np.newaxis, :]
        matrix[:3, 3] = self.origin_lps_mm
        return matrix

    @property
    def voxel_volume_cc(self) -> float:
        """Volume of one voxel in cubic centimetres."""
        return float(np.prod(self.spacing_mm)) / 1000.0

    def index_to_lps(self, ijk: ArrayLike) -> NDArray[np.float64]:
        """Convert voxel indices (slice, row, column; may be fractional) to LPS millimetres.

        Parameters
        ----------
        ijk : array_like, shape (..., 3)
            Indices in array order.

        Returns
        -------
        ndarray, shape (..., 3)
            Patient positions in mm (LPS).
        """
        ijk_arr = np.asarray(ijk, dtype=np.float64)
        scaled = ijk_arr * np.asarray(self.spacing_mm)
        return scaled @ self.direction.T + np.asarray(self.origin_lps_mm)

    def lps_to_index(self, points_lps_mm: ArrayLike) -> NDArray[np.float64]:
        """Convert LPS millimetres to fractional voxel indices (slice, row, column).

        Parameters
        ----------
        points_lps_mm : array_like, shape (..., 3)
            Patient positions in mm.

        Returns
        -------
        ndarray, shape (..., 3)
            Fractional indices in array order; voxel centres are whole numbers.
        """
        points = np.asarray(points_lps_mm, dtype=np.float64) - np.asarray(self.origin_lps_mm)
        return (points @ self.direction) / np.asarray(self.spacing_mm)

    def axis_of(self, lps_axis: int) -> tuple[int, float]:
        """The array axis most aligned with a patient axis, and the sign of the alignment.

        Parameters
        ----------
        lps_axis : int
            0 for x (patient left), 1 for y (posterior), 2 for z (superior).

        Returns
        -------
        (int, float)
            The array axis (0 slice, 1 row, 2 column) and +1.0 or -1.0.
        """
        row = self.direction[lps_axis]
        axis = int(np.argmax(np.abs(row)))
        return axis, float(np.sign(row[axis]))

    @property
    def slice_normal_lps(self) -> NDArray[np.float64]:
        """Unit LPS direction of increasing slice index."""
        return np.asarray(self.direction[:, 0])

    @property
    def is_axis_aligned(self) -> bool:
        """True when every array axis runs along a patient axis (no obliquity)."""
        return bool(np.allclose(np.abs(self.direction).max(axis=0), 1.0, atol=1e-6))

    # ---- sub-grids ------------------------------------------------------------------------
    @property
    def full_box(self) -> BoundingBox:
        """The bounding box covering the whole grid."""
        return BoundingBox((0, 0, 0), self.shape)

    def crop(self, box: BoundingBox) -> ImageGrid:
        """The grid of a sub-box of this grid (same spacing and direction, moved origin).

        Parameters
        ----------
        box : BoundingBox
            The sub-box, in this grid's voxel indices.

        Returns
        -------
        ImageGrid
            A grid of ``box.shape`` whose voxel (0, 0, 0) is this grid's voxel ``box.start``.

        Raises
        ------
        GeometryError
            When ``box`` is empty.
        """
        if box.is_empty:
            raise GeometryError(f"cannot crop {self.describe()} to the empty box {box}")
        origin = self.index_to_lps(np.asarray(box.start, dtype=float))
        return ImageGrid(
            box.shape,
            self.spacing_mm,
            (float(origin[0]), float(origin[1]), float(origin[2])),
            self.direction,
            self.frame_of_reference_uid,
        )

    def with_frame_of_reference(self, uid: str) -> ImageGrid:
        """The same grid naming another frame of reference.

        Parameters
        ----------
        uid : str
            The DICOM FrameOfReferenceUID to use ("" for unknown).

        Returns
        -------
        ImageGrid
            A grid with this grid's geometry and ``uid``.
        """
        return ImageGrid(self.shape, self.spacing_mm, self.origin_lps_mm, self.direction, uid)

    def refined_in_plane(self, factor: int) -> ImageGrid:
        """This grid with each pixel split into ``factor`` x ``factor``; slices unchanged.

        The sub-pixels tile the original pixels exactly: the first sub-pixel centre lies a
        ``(factor - 1) / (2 * factor)`` pixel before the original first centre. RTSTRUCT
        contours live on the image's slices but not on its pixels, so masks on a refined grid
        can be written against the original series.

        Parameters
        ----------
        factor : int
            Number of sub-pixels along each in-plane axis (rows and columns); 1 returns this
            grid.

        Returns
        -------
        ImageGrid
            The refined grid: in-plane spacing (mm) divided by ``factor``, in-plane shape
            multiplied by it.

        Raises
        ------
        GeometryError
            When ``factor`` is less than 1.
        """
        if factor < 1:
            raise GeometryError(f"refinement factor must be a positive integer, got {factor}")
        if factor == 1:
            return self
        spacing = (self.spacing_mm[0], self.spacing_mm[1] / factor, self.spacing_mm[2] / factor)
        shift = (factor - 1) / (2 * factor)
        origin = self.index_to_lps([0.0, -shift, -shift])
        return ImageGrid(
            (self.shape[0], self.shape[1] * factor, self.shape[2] * factor),
            spacing,
            (float(origin[0]), float(origin[1]), float(origin[2])),
            self.direction,
            self.frame_of_reference_uid,
        )

    def shares_slices_with(self, other: ImageGrid, *, tolerance_mm: float = 1e-3) -> bool:
        """True when both grids have the same slice planes (pixels within a slice may differ).

        That is what an RTSTRUCT referencing ``other``'s slices needs of a mask's grid.

        Parameters
        ----------
        other : ImageGrid
            The grid to compare with.
        tolerance_mm : float, default 1e-3
            Largest allowed offset, in mm along the slice normal, between the first slices.

        Returns
        -------
        bool
            Whether both grids have the same number of slices, direction, slice spacing and
            first-slice position (and frame of reference, when both name one).
        """
        if self.shape[0] != other.shape[0] or not np.allclose(
            self.direction, other.direction, atol=1e-5
        ):
            return False
        if (
            self.frame_of_reference_uid
            and other.frame_of_reference_uid
            and self.frame_of_reference_uid != other.frame_of_reference_uid
        ):
            return False
        normal = self.slice_normal_lps
        first = float(np.dot(np.subtract(self.origin_lps_mm, other.origin_lps_mm), normal))
        return abs(first) <= tolerance_mm and abs(self.spacing_mm[0] - other.spacing_mm[0]) <= 1e-6

    def voxels_for_distance(self, distance_mm: float) -> tuple[int, int, int]:
        """How many voxels along each array axis cover ``distance_mm`` (rounded up).

        Parameters
        ----------
        distance_mm : float
            A distance in mm.

        Returns
        -------
        tuple of int
            Voxel counts along (slice, row, column).
        """
        return tuple(int(np.ceil(distance_mm / s - 1e-9)) for s in self.spacing_mm)  # type: ignore[return-value]
