"""The local frame of a vertebra: origin on the canal centreline, axes following the spine.

The superior-inferior (SI) axis runs along the spinal canal's local direction, so lordosis,
kyphosis and scoliotic tilt are followed; the anterior-posterior (AP) axis points from the
vertebral body to the canal centre, so an axial rotation of the vertebra is followed too; the
left-right (LR) axis completes a right-handed frame and points to the patient's left, like +x
in DICOM LPS.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spinetv.errors import AnatomyError, GeometryWarning
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask

__all__ = ["LocalFrame", "local_frame", "fit_axis_through_slices", "patient_frame"]

_E_Y = np.array([0.0, 1.0, 0.0])
_E_Z = np.array([0.0, 0.0, 1.0])
# Beyond this angle between the body-to-canal direction and patient posterior, the vertebra is
# more likely mis-segmented than rotated.
_MAX_AP_DEVIATION_DEG = 30.0
# The body's centroid is taken within this multiple of the canal's half-width of the midline.
_BODY_HALF_WIDTH_RATIO = 3.0
_IDENTITY = np.eye(3)


@dataclass(frozen=True, eq=False)
class LocalFrame:
    """An orthonormal frame in LPS millimetres.

    Parameters
    ----------
    origin_lps : ndarray, shape (3,)
        Origin in LPS mm (on the canal centreline at the vertebra's height).
    lr_axis : ndarray, shape (3,)
        Unit vector towards the patient's left (+x-ish in LPS).
    ap_axis : ndarray, shape (3,)
        Unit vector towards posterior (+y-ish).
    si_axis : ndarray, shape (3,)
        Unit vector towards superior (+z-ish); ``lr = ap x si``.
    """

    origin_lps: NDArray[np.float64]
    lr_axis: NDArray[np.float64]
    ap_axis: NDArray[np.float64]
    si_axis: NDArray[np.float64]

    def __post_init__(self) -> None:
        vectors = []
        for name in ("origin_lps", "lr_axis", "ap_axis", "si_axis"):
            value = np.array(getattr(self, name), dtype=np.float64).reshape(3)
            if not np.all(np.isfinite(value)):
                raise AnatomyError(f"local frame {name} is not finite: {value}")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
            vectors.append(value)
        basis = np.stack(vectors[1:], axis=1)
        # Plain maxima rather than np.allclose: the axis search builds hundreds of frames.
        if float(np.abs(basis.T @ basis - _IDENTITY).max()) > 1e-6:
            raise AnatomyError(f"local frame axes are not orthonormal:\n{basis}")
        lr, ap, si = vectors[1:]
        cross = (
            ap[1] * si[2] - ap[2] * si[1],
            ap[2] * si[0] - ap[0] * si[2],
            ap[0] * si[1] - ap[1] * si[0],
        )
        if max(abs(c - x) for c, x in zip(cross, lr)) > 1e-6:
            raise AnatomyError("local frame is not right-handed (expected lr = ap x si)")

    @property
    def rotation(self) -> NDArray[np.float64]:
        """3x3 matrix whose rows are the LR, AP and SI axes (LPS to local)."""
        return np.stack([self.lr_axis, self.ap_axis, self.si_axis])

    def to_local(self, points_lps: ArrayLike) -> NDArray[np.float64]:
        """LPS mm points, shape (..., 3), to local (lr, ap, si) mm about the origin.

        Parameters
        ----------
        points_lps : array_like, shape (..., 3)
            Points in patient LPS, mm.

        Returns
        -------
        ndarray of float, shape (..., 3)
            The points in this frame (lr, ap, si), mm from ``origin_lps``.
        """
        points = np.asarray(points_lps, dtype=np.float64) - self.origin_lps
        return points @ self.rotation.T

    def to_lps(self, points_local: ArrayLike) -> NDArray[np.float64]:
        """Local (lr, ap, si) mm points, shape (..., 3), back to LPS mm.

        Parameters
        ----------
        points_local : array_like, shape (..., 3)
            Points in this frame (lr, ap, si), mm from ``origin_lps``.

        Returns
        -------
        ndarray of float, shape (..., 3)
            The points in patient LPS, mm.
        """
        return np.asarray(points_local, dtype=np.float64) @ self.rotation + self.origin_lps

    def describe(self) -> str:
        """One line: origin and the tilt of each axis from its patient axis, in degrees.

        Returns
        -------
        str
            The origin in LPS mm (one decimal) and the angles of the LR, AP and SI axes from
            patient x, y and z, degrees (one decimal).
        """
        tilts = [
            float(np.degrees(np.arccos(np.clip(axis[i], -1.0, 1.0))))
            for i, axis in enumerate((self.lr_axis, self.ap_axis, self.si_axis))
        ]
        origin = ", ".join(f"{v:.1f}" for v in self.origin_lps)
        return (
            f"origin ({origin}) LPS mm; LR/AP/SI tilted {tilts[0]:.1f}/{tilts[1]:.1f}/"
            f"{tilts[2]:.1f} deg from x/y/z"
        )


def _unit(vector: NDArray[np.float64]) -> NDArray[np.float64]:
    return vector / float(np.linalg.norm(vector))


def _perpendicular(vector: NDArray[np.float64], axis: NDArray[np.float64]) -> NDArray[np.float64]:
    return vector - float(vector @ axis) * axis


def patient_frame(origin_lps: ArrayLike, si_axis: ArrayLike) -> LocalFrame:
    """The frame with the given SI axis whose AP axis is patient posterior projected on its plane.

    Parameters
    ----------
    origin_lps : array_like, shape (3,)
        Origin in LPS mm.
    si_axis : array_like, shape (3,)
        Superior direction (normalised and turned towards +z here).

    Returns
    -------
    LocalFrame
        Origin ``origin_lps``; axes are unit vectors, LR = AP x SI.

    Raises
    ------
    AnatomyError
        When the SI axis runs along patient AP, so no AP axis can be projected.
    """
    si = _unit(np.asarray(si_axis, dtype=np.float64))
    if si[2] < 0:
        si = -si
    ap_raw = _perpendicular(_E_Y, si)
    if np.linalg.norm(ap_raw) < 1e-6:
        raise AnatomyError(f"the SI axis {si} runs along patient AP; no vertebra lies like that")
    ap = _unit(ap_raw)
    return LocalFrame(np.asarray(origin_lps, dtype=np.float64), np.cross(ap, si), ap, si)


def _si_array_axis(grid: ImageGrid) -> int:
    return grid.axis_of(2)[0]


def fit_axis_through_slices(
    mask: Mask, *, slice_range: tuple[int, int] | None = None, min_area_fraction: float = 0.6
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """A line through the centroids of a tube's cross-sections on the grid's axial slices.

    Parameters
    ----------
    mask : Mask
        A tube-like mask (canal, cord).
    slice_range : (int, int), optional
        Indices ``[start, stop)`` on the array axis closest to patient SI to use.
    min_area_fraction : float
        Slices with fewer voxels than this fraction of the median are left out (partial
        cross-sections at the ends of a cut tube bias the centroid).

    Returns
    -------
    (point, direction) or None
        A point on the line (the weighted mean centroid, LPS mm) and its unit direction turned
        towards superior; ``None`` when fewer than two usable slices exist.

    Notes
    -----
    The centroids of the axial cross-sections of a straight tilted tube lie exactly on its
    axis, whereas a principal axis of a short wide tube segment leans towards the cutting
    planes; hence a line through slice centroids.
    """
    if mask.is_empty:
        return None
    axis = _si_array_axis(mask.grid)
    ijk = np.argwhere(mask.box_array) + np.asarray(mask.box.start)
    if slice_range is not None:
        keep = (ijk[:, axis] >= slice_range[0]) & (ijk[:, axis] < slice_range[1])
        ijk = ijk[keep]
    if ijk.shape[0] == 0:
        return None
    slices, inverse, counts = np.unique(ijk[:, axis], return_inverse=True, return_counts=True)
    sums = np.zeros((slices.size, 3))
    np.add.at(sums, inverse, ijk.astype(np.float64))
    centroids_ijk = sums / counts[:, None]
    usable = counts >= min_area_fraction * float(np.median(counts))
    if int(usable.sum()) < 2:
        return None
    centroids = mask.grid.index_to_lps(centroids_ijk[usable])
    weights = counts[usable].astype(np.float64)
    centre = (centroids * weights[:, None]).sum(axis=0) / weights.sum()
    offsets = (centroids - centre) * np.sqrt(weights)[:, None]
    _, _, vt = np.linalg.svd(offsets, full_matrices=False)
    direction = vt[0]
    if direction[2] < 0:
        direction = -direction
    return centre, _unit(direction)


def _slice_range_of(box: BoundingBox, grid: ImageGrid) -> tuple[int, int]:
    axis = _si_array_axis(grid)
    return box.start[axis], box.stop[axis]


def local_frame(
    vertebra: Mask,
    canal: Mask,
    *,
    iterations: int = 3,
    level: str | None = None,
    axis: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> LocalFrame:
    """The local frame of one vertebra from its canal.

    Parameters
    ----------
    vertebra : Mask
        The vertebra.
    canal : Mask
        The spinal canal (contoured or derived); only its part at the vertebra's height is
        used. Same grid as ``vertebra``.
    iterations : int
        Refinements of the AP axis (each re-measures the body from the previous frame).
    level : str, optional
        Level name, for messages.
    axis : (point, direction), optional
        The canal's axis at this vertebra (LPS mm and a unit vector) when already known (a
        derived canal's projection axis through its cross-section's centre); it replaces the
        line fitted through the canal's slice centroids.

    Returns
    -------
    LocalFrame
        SI: line through the canal's slice centroids within the vertebra's slice range, turned
        superior. Origin: the point of that line nearest the vertebra's centroid. AP: from the
        centroid of the bone anterior to the canal's anterior wall and within 3 canal
        half-widths of its midline (the body; the anterior arch at C1) to the origin, in the
        plane perpendicular to SI, turned posterior. LR: ``ap x si``, which points to the
        patient's left.

    Raises
    ------
    AnatomyError
        When the vertebra is empty or the canal does not reach its height.
    """
    name = level or "vertebra"
    if vertebra.is_empty:
        raise AnatomyError(f"{name}: the vertebra mask is empty")
    vertebra.grid.require_same(canal.grid, what=f"{name} vertebra and canal")
    slice_range = _slice_range_of(vertebra.box, vertebra.grid)
    fitted = axis if axis is not None else fit_axis_through_slices(canal, slice_range=slice_range)
    centroid = vertebra.centroid_lps()
    if fitted is None:
        window = canal.in_box(_slab_box(vertebra.grid, canal.box, slice_range))
        if not window.any():
            raise AnatomyError(
                f"{name}: the spinal canal does not reach the vertebra's height "
                f"(slices {slice_range[0]}..{slice_range[1] - 1}); expected a canal there"
            )
        # One usable slice: the axis is the slice normal.
        normal_axis = _si_array_axis(vertebra.grid)
        direction = vertebra.grid.direction[:, normal_axis].copy()
        point = _mask_points_in_slices(canal, slice_range).mean(axis=0)
    else:
        point, direction = fitted
    si = _unit(direction if direction[2] >= 0 else -direction)
    origin = point + float((centroid - point) @ si) * si
    frame = patient_frame(origin, si)
    initial_ap = frame.ap_axis
    bone = vertebra.points_lps()
    canal_points = _mask_points_in_slices(canal, slice_range)
    # Every frame tried shares the SI axis and origin: the points' coordinates in the plane
    # across it are taken once, in the first frame, and turned with the AP axis.
    plane = np.stack([frame.lr_axis, frame.ap_axis], axis=1)
    bone_uv = (bone - origin) @ plane
    canal_uv = (canal_points - origin) @ plane
    for _ in range(max(0, iterations)):
        turn = plane.T @ np.stack([frame.lr_axis, frame.ap_axis], axis=1)
        canal_local = canal_uv @ turn
        bone_local = bone_uv @ turn
        anterior_wall = float(np.min(canal_local[:, 1]))
        lr_low, lr_high = float(canal_local[:, 0].min()), float(canal_local[:, 0].max())
        lr_centre, half_width = 0.5 * (lr_low + lr_high), 0.5 * (lr_high - lr_low)
        # The body only: alae and transverse processes lie further out than the canal is wide.
        body = bone[
            (bone_local[:, 1] < anterior_wall)
            & (np.abs(bone_local[:, 0] - lr_centre) <= _BODY_HALF_WIDTH_RATIO * half_width)
        ]
        if body.shape[0] < 3:
            break
        ap_raw = _perpendicular(origin - body.mean(axis=0), si)
        if np.linalg.norm(ap_raw) < 1e-6:
            break
        ap = _unit(ap_raw)
        deviation = float(np.degrees(np.arccos(np.clip(ap @ initial_ap, -1.0, 1.0))))
        if deviation > _MAX_AP_DEVIATION_DEG:
            warnings.warn(
                f"{name}: the body lies {deviation:.0f} deg away from anterior of the canal; "
                "keeping the patient AP axis",
                GeometryWarning,
                stacklevel=2,
            )
            frame = patient_frame(origin, si)
            break
        frame = LocalFrame(origin, np.cross(ap, si), ap, si)
    if frame.lr_axis[0] <= 0:
        raise AnatomyError(f"{name}: the local LR axis {frame.lr_axis} does not point left")
    return frame


def _slab_box(grid: ImageGrid, box: BoundingBox, slice_range: tuple[int, int]) -> BoundingBox:
    axis = _si_array_axis(grid)
    start = list(box.start)
    stop = list(box.stop)
    start[axis] = max(start[axis], slice_range[0])
    stop[axis] = max(start[axis], min(stop[axis], slice_range[1]))
    return BoundingBox(tuple(start), tuple(stop))  # type: ignore[arg-type]


def _mask_points_in_slices(mask: Mask, slice_range: tuple[int, int]) -> NDArray[np.float64]:
    box = _slab_box(mask.grid, mask.box, slice_range)
    if box.is_empty:
        return np.zeros((0, 3))
    ijk = np.argwhere(mask.in_box(box)) + np.asarray(box.start)
    return mask.grid.index_to_lps(ijk)
