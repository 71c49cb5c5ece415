"""Dose-volume histograms on a structure's own mask.

The dose is sampled where the structure is, not the structure where the dose is: each voxel of
the mask (on the image grid, or on the in-plane refined planning grid of a PTV) is split into
sub-voxels, the dose is interpolated trilinearly at every sub-voxel centre from the dose grid,
and each sample weighs the sub-voxel's volume. The split (:func:`supersampling_for`) makes
sub-voxels no longer than :data:`SUB_VOXEL_MM` along each axis (a 3 mm slice is cut in 6), so
that a steep gradient across a thick slice is not read at the slice's centre only; a small
structure is split further until it holds :data:`MIN_SAMPLES` samples (D0.03cm³ of a 2 cm³ cord
PRV then rests on hundreds of samples, not on 30 voxels), and a large one less, so that no
structure takes more than :data:`MAX_SAMPLES`. A structure larger than that even unsplit (a body
outline of 12 litres on 1 mm voxels) is sampled at every n-th voxel along its finest axes
(:func:`sampling_stride`), each sample standing for the n voxels: its DVH is that of an evenly
spread tenth or so of its voxels, far finer than the 2-3 mm dose grid it is read from.

**End caps.** The mask says which voxels belong to the structure; every voxel counts whole.
For a structure read from an RTSTRUCT this is a slab one slice thick around each contour, so
the structure reaches half a slice beyond its first and last contour planes: the convention of
volume-by-slab planning systems and of dicompyler-core (contour area times slice thickness).

**Outside the dose grid.** A sample outside the dose grid has no dose; its volume is reported
(``outside_cc``) and left out of the histogram, which then covers less than the structure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinetv.errors import GeometryMismatchError
from spinetv.geometry.mask import Mask
from spinetv.io.rtdose import DoseGrid

__all__ = [
    "DVH",
    "MAX_SAMPLES",
    "MAX_SUPERSAMPLING",
    "MIN_SAMPLES",
    "SUB_VOXEL_MM",
    "dvh",
    "sampling_stride",
    "supersampling_for",
]

#: Longest sub-voxel edge aimed at, mm.
SUB_VOXEL_MM = 0.5
#: A structure is sampled with at least this many dose samples (sub-voxels), when
#: :data:`MAX_SUPERSAMPLING` allows.
MIN_SAMPLES = 20_000
#: At most this many samples per structure.
MAX_SAMPLES = 1_000_000
#: Largest sub-division of a voxel along one axis.
MAX_SUPERSAMPLING = 8
#: Samples processed at once (bounds the memory of one batch to tens of MB).
_BATCH = 1_000_000


@dataclass(frozen=True)
class DVH:
    """The dose samples of one structure: a differential and cumulative DVH in one value.

    Parameters
    ----------
    name : str
        The structure.
    doses : ndarray of float64
        Dose of each sample, sorted from the highest down, in the dose's units (Gy).
    weights_cc : ndarray of float64
        Volume each sample stands for, cm³, in the same order.
    volume_cc : float
        The structure's volume, cm³ (its mask's voxels).
    outside_cc : float
        Volume of the structure outside the dose grid, cm³ (not in the samples).
    supersampling : tuple of int
        Sub-voxels per voxel along each axis (slice, row, column).
    units : str
        The dose's units (``"GY"`` or ``"RELATIVE"``).
    """

    name: str
    doses: NDArray[np.float64] = field(repr=False)
    weights_cc: NDArray[np.float64] = field(repr=False)
    volume_cc: float
    outside_cc: float = 0.0
    supersampling: tuple[int, int, int] = (1, 1, 1)
    units: str = "GY"

    @property
    def sampled_cc(self) -> float:
        """Volume covered by dose samples, cm³."""
        return float(self.weights_cc.sum())

    @property
    def max(self) -> float:
        """Largest sampled dose."""
        return float(self.doses[0]) if self.doses.size else float("nan")

    @property
    def min(self) -> float:
        """Smallest sampled dose."""
        return float(self.doses[-1]) if self.doses.size else float("nan")

    @property
    def mean(self) -> float:
        """Volume-weighted mean dose."""
        total = self.sampled_cc
        return float(self.doses @ self.weights_cc / total) if total > 0 else float("nan")

    def _curve(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The cumulative DVH's vertices: distinct doses (descending) and the volume at or
        above each, counting half of the samples at that very dose.

        Samples at one dose (a plane of sub-voxels in a gradient) stand for a slab whose dose
        runs from the plane below to the plane above: taking their middle volume and joining
        the vertices linearly spreads them over that range, which is exact for a linear dose.
        """
        if not self.doses.size:
            return np.zeros(0), np.zeros(0)
        new = np.concatenate([[True], np.diff(self.doses) != 0])
        starts = np.flatnonzero(new)
        doses = self.doses[starts]
        weights = np.add.reduceat(self.weights_cc, starts)
        middles = np.cumsum(weights) - weights / 2
        return doses, middles

    def dose_at_volume_cc(self, volume_cc: float) -> float:
        """The dose the hottest ``volume_cc`` receives at least (D at an absolute volume).

        Parameters
        ----------
        volume_cc : float
            Volume, cm³, between 0 and the sampled volume.

        Returns
        -------
        float
            The dose on the cumulative DVH at ``volume_cc`` (linear between its vertices, see
            :meth:`_curve`); nan for an empty structure.
        """
        doses, middles = self._curve()
        if not doses.size:
            return float("nan")
        return float(np.interp(float(volume_cc), middles, doses))

    def dose_at_fraction(self, fraction: float) -> float:
        """The dose the hottest ``fraction`` of the structure receives at least (D at x%).

        Parameters
        ----------
        fraction : float
            Fraction of the sampled volume, 0-1.

        Returns
        -------
        float
            The dose.
        """
        return self.dose_at_volume_cc(fraction * self.sampled_cc)

    def volume_at_dose_cc(self, dose: float) -> float:
        """Volume that receives at least ``dose``, cm³ (V at a dose).

        Parameters
        ----------
        dose : float
            Dose, in the DVH's units.

        Returns
        -------
        float
            The volume on the cumulative DVH at ``dose`` (linear between its vertices, the
            inverse of :meth:`dose_at_volume_cc`): the whole sampled volume below the lowest
            dose, 0 above the highest.
        """
        doses, middles = self._curve()
        if not doses.size:
            return 0.0
        return float(np.interp(float(dose), doses[::-1], middles[::-1],
                               left=self.sampled_cc, right=0.0))

    def cumulative(self, bins: NDArray[np.float64]) -> NDArray[np.float64]:
        """The cumulative DVH: volume (cm³) receiving at least each dose of ``bins``.

        Parameters
        ----------
        bins : ndarray
            Doses, ascending.

        Returns
        -------
        ndarray
            Volume at or above each dose, cm³.
        """
        ascending = self.doses[::-1]
        # tail[i]: the volume of the samples from the i-th smallest dose up.
        tail = np.concatenate([np.cumsum(self.weights_cc)[::-1], [0.0]])
        index = np.searchsorted(ascending, np.asarray(bins, dtype=np.float64), side="left")
        return tail[index]


def supersampling_for(mask: Mask) -> tuple[int, int, int]:
    """Sub-voxels per voxel along each axis for a structure (see the module docstring).

    Parameters
    ----------
    mask : Mask
        The structure on its grid.

    Returns
    -------
    tuple of int
        Splits along (slice, row, column), each 1 to :data:`MAX_SUPERSAMPLING`.
    """
    count = max(mask.voxel_count, 1)
    split = [
        int(np.clip(np.ceil(s / SUB_VOXEL_MM - 1e-9), 1, MAX_SUPERSAMPLING))
        for s in mask.grid.spacing_mm
    ]
    while count * int(np.prod(split)) < MIN_SAMPLES and min(split) < MAX_SUPERSAMPLING:
        smallest = int(np.argmin(split))
        split[smallest] += 1
    while count * int(np.prod(split)) > MAX_SAMPLES and max(split) > 1:
        largest = int(np.argmax(split))
        split[largest] -= 1
    return (split[0], split[1], split[2])


def sampling_stride(mask: Mask) -> tuple[int, int, int]:
    """Every how many voxels a structure too large for :data:`MAX_SAMPLES` is sampled.

    Parameters
    ----------
    mask : Mask
        The structure on its grid.

    Returns
    -------
    tuple of int
        Steps along (slice, row, column): (1, 1, 1) unless the structure holds more than
        :data:`MAX_SAMPLES` voxels; then the finest axes are stepped first.
    """
    count = mask.voxel_count
    stride = [1, 1, 1]
    spacing = list(mask.grid.spacing_mm)
    while count / int(np.prod(stride)) > MAX_SAMPLES:
        finest = int(np.argmin([s * k for s, k in zip(spacing, stride)]))
        stride[finest] += 1
    return (stride[0], stride[1], stride[2])


def dvh(
    mask: Mask,
    dose: DoseGrid,
    *,
    name: str = "",
    supersampling: tuple[int, int, int] | None = None,
    check_frame: bool = True,
) -> DVH:
    """The DVH of a structure, sampling the dose on the structure's own voxels.

    Parameters
    ----------
    mask : Mask
        The structure on its grid (image or planning grid).
    dose : DoseGrid
        The dose and its grid.
    name : str
        The structure's name, for the result and messages.
    supersampling : tuple of int, optional
        Sub-voxels per voxel along (slice, row, column); default :func:`supersampling_for`.
    check_frame : bool
        Refuse a dose whose frame of reference differs from the mask's (both known).

    Returns
    -------
    DVH
        The samples, sorted by dose.

    Raises
    ------
    GeometryMismatchError
        The mask and the dose are in different frames of reference.
    """
    mask_frame = mask.grid.frame_of_reference_uid
    dose_frame = dose.grid.frame_of_reference_uid
    if check_frame and mask_frame and dose_frame and mask_frame != dose_frame:
        raise GeometryMismatchError(
            f"{dose.source or 'dose'}: frame of reference {dose_frame} differs from the "
            f"structures' {mask_frame}"
        )
    split = supersampling_for(mask) if supersampling is None else tuple(supersampling)
    if len(split) != 3 or any(int(k) != k or k < 1 for k in split):
        raise ValueError(f"supersampling {supersampling}: expected three whole numbers >= 1")
    k = (int(split[0]), int(split[1]), int(split[2]))
    voxel_cc = mask.grid.voxel_volume_cc
    if mask.is_empty:
        empty = np.zeros(0)
        return DVH(name, empty, empty, 0.0, 0.0, k, dose.units)
    stride = sampling_stride(mask) if k == (1, 1, 1) else (1, 1, 1)
    picked = mask.box_array[:: stride[0], :: stride[1], :: stride[2]]
    local = np.argwhere(picked).astype(np.float64) * np.asarray(stride) + np.asarray(
        mask.box.start
    )
    axes = [(np.arange(n) + 0.5) / n - 0.5 for n in k]
    sub = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    # Mask index -> dose index is affine: map the voxel centres and the sub-voxel offsets once
    # each, and add them.
    to_dose = _index_map(mask, dose)
    sub_in_dose = sub @ to_dose[:3, :3].T
    upper = np.asarray(dose.grid.shape, dtype=np.float64) - 1
    doses: list[NDArray[np.float32]] = []
    per_voxel = sub.shape[0]
    step = max(1, _BATCH // per_voxel)
    outside = 0
    low, high = -0.5, upper + 0.5
    for begin in range(0, len(local), step):
        centres = local[begin : begin + step] @ to_dose[:3, :3].T + to_dose[:3, 3]
        index = (centres[:, None, :] + sub_in_dose[None, :, :]).reshape(-1, 3)
        if index.min() < low or np.any(index.max(axis=0) > high):
            inside = np.all((index >= low) & (index <= high), axis=1)
            outside += int(index.shape[0] - np.count_nonzero(inside))
            index = index[inside]
        # Within half a voxel beyond the outermost centres the dose grid's edge voxel holds:
        # mode "nearest" reads the edge value there rather than interpolating towards zero.
        doses.append(
            ndimage.map_coordinates(
                dose.values, index.T, order=1, mode="nearest", output=np.float32
            )
        )
    # Every sample weighs the same: sorting the doses is all the DVH needs.
    values = np.sort(np.concatenate(doses))[::-1].astype(np.float64) if doses else np.zeros(0)
    weight = voxel_cc * int(np.prod(stride)) / per_voxel
    return DVH(
        name=name,
        doses=values,
        weights_cc=np.full(values.size, weight),
        volume_cc=mask.volume_cc,
        outside_cc=outside * weight,
        supersampling=k,
        units=dose.units,
    )


def _index_map(mask: Mask, dose: DoseGrid) -> NDArray[np.float64]:
    """The 4x4 affine from the mask grid's indices to the dose grid's (fractional) indices."""
    source, target = mask.grid, dose.grid
    to_lps = np.eye(4)
    to_lps[:3, :3] = source.direction @ np.diag(source.spacing_mm)
    to_lps[:3, 3] = source.origin_lps_mm
    from_lps = np.eye(4)
    from_lps[:3, :3] = np.diag(1 / np.asarray(target.spacing_mm)) @ target.direction.T
    from_lps[:3, 3] = -from_lps[:3, :3] @ np.asarray(target.origin_lps_mm)
    return from_lps @ to_lps
