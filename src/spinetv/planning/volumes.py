"""Planning volumes from a CTV and the organs at risk: PTV, PTV_Eval, PRV, cord evaluation volume.

Pure functions on :class:`~spinetv.geometry.mask.Mask` values; the protocol presets in
:mod:`spinetv.planning.protocols` say which to make and with which margins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spinetv.errors import GeometryError, SpinetvWarning
from spinetv.geometry.booleans import subtract
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.margins import SIDE_LPS_AXIS, Margin, expand_with_report
from spinetv.geometry.mask import Mask

__all__ = [
    "PlanningWarning",
    "VolumeResult",
    "effective_margin_mm",
    "make_ptv",
    "make_ptv_eval",
    "make_prv",
    "cord_evaluation_volume",
    "restrict_to_si_range",
    "si_extent_mm",
]


class PlanningWarning(SpinetvWarning):
    """A planning volume was made, but something about it deserves a look (a margin that
    reaches more or less than asked, a volume not made, an empty one)."""


@dataclass(frozen=True)
class VolumeResult:
    """A planning volume and how it was made.

    Parameters
    ----------
    mask : Mask
        The volume.
    steps : tuple of str
        The operations in order, readable by a planner (for the report and ROI description).
    clipped_sides : tuple of str
        Patient sides where a margin reached the image edge and was cut (empty when none).
    """

    mask: Mask
    steps: tuple[str, ...]
    clipped_sides: tuple[str, ...] = ()


def make_ptv(
    ctv: Mask,
    margin: Margin,
    *,
    subtract_masks: Sequence[tuple[str, Mask]] = (),
) -> VolumeResult:
    """PTV = CTV expanded by ``margin`` (exact Minkowski sum), minus the given structures.

    Parameters
    ----------
    ctv : Mask
        The clinical target volume.
    margin : Margin
        Margin per patient direction, in mm.
    subtract_masks : sequence of (name, Mask), default ()
        Structures the PTV is trimmed at (for example the spinal cord, ISRC 2012), on the
        CTV's grid; the names go into the steps.

    Returns
    -------
    VolumeResult
        The PTV, its steps and the patient sides where the image edge cut the margin.

    Raises
    ------
    GeometryMismatchError
        When a structure to subtract is on another grid than the CTV.

    Warns
    -----
    GeometryWarning
        When the image edge cuts the expansion.
    """
    expanded = expand_with_report(ctv, margin)
    steps = [f"CTV + {margin.describe()}"]
    mask = expanded.mask
    for name, other in subtract_masks:
        mask = subtract(mask, other)
        steps.append(f"minus {name}")
    return VolumeResult(mask, tuple(steps), tuple(expanded.clipped_sides))


def effective_margin_mm(grid: ImageGrid, margin: Margin) -> dict[str, float]:
    """How far a margin really reaches on ``grid``'s voxel centres, per patient side (mm).

    A margin is exact on voxel centres, so along an axis with spacing ``s`` a margin ``m``
    moves the surface by ``floor(m / s) * s``: a 2 mm margin on 3 mm pixels adds nothing
    in-plane. Planners need to know; the pipeline reports these figures.

    Parameters
    ----------
    grid : ImageGrid
        The grid the margin is applied on; each side uses the spacing of the array axis most
        aligned with it (exact on axis-aligned grids).
    margin : Margin
        The asked margin, mm per patient side.

    Returns
    -------
    dict of str to float
        Patient side (``"left"``, ``"right"``, ``"anterior"``, ``"posterior"``,
        ``"superior"``, ``"inferior"``) to the distance the surface really moves, in mm,
        rounded to 0.001 mm.
    """
    reach = {}
    for side, (lps_axis, _) in SIDE_LPS_AXIS.items():
        axis, _ = grid.axis_of(lps_axis)
        spacing = grid.spacing_mm[axis]
        requested = margin.towards(side)
        reach[side] = round(float(np.floor(requested / spacing + 1e-6) * spacing), 3)
    return reach


def make_ptv_eval(ptv: Mask, exclusions: Sequence[tuple[str, Mask]]) -> VolumeResult:
    """PTV_Eval = PTV minus the exclusions (spinal canal; sacral canal and foramina).

    Parameters
    ----------
    ptv : Mask
        The planning target volume.
    exclusions : sequence of (name, Mask)
        Structures removed from the PTV, on its grid; the names go into the steps.

    Returns
    -------
    VolumeResult
        PTV_Eval and its steps (no clipped sides).

    Raises
    ------
    GeometryMismatchError
        When an exclusion is on another grid than the PTV.
    """
    mask = ptv
    steps = ["PTV"]
    for name, other in exclusions:
        mask = subtract(mask, other)
        steps.append(f"minus {name}")
    return VolumeResult(mask, tuple(steps))


def make_prv(
    organ: Mask, margin_mm: float | Margin, *, organ_name: str = "organ"
) -> VolumeResult:
    """An organ-at-risk PRV: the organ expanded by ``margin_mm``.

    Parameters
    ----------
    organ : Mask
        The organ at risk (for example the spinal cord).
    margin_mm : float or Margin
        An isotropic margin in mm, or a :class:`Margin` per patient side (for example the
        isotropic margin made whole voxels by :func:`~spinetv.geometry.margins.round_to_grid`).
    organ_name : str, default "organ"
        For the description of the steps.

    Returns
    -------
    VolumeResult
        The PRV, its one step and the patient sides where the image edge cut the margin.

    Raises
    ------
    GeometryError
        When a float ``margin_mm`` is negative, not finite or above 50 mm.

    Warns
    -----
    GeometryWarning
        When the image edge cuts the expansion.
    """
    margin = margin_mm if isinstance(margin_mm, Margin) else Margin.isotropic(margin_mm)
    expanded = expand_with_report(organ, margin)
    return VolumeResult(
        expanded.mask, (f"{organ_name} + {margin.describe()}",), tuple(expanded.clipped_sides)
    )


def si_extent_mm(mask: Mask) -> tuple[float, float]:
    """Lowest and highest patient z (superior, mm) of the mask's voxel centres.

    Parameters
    ----------
    mask : Mask
        A non-empty mask.

    Returns
    -------
    (float, float)
        The lowest and highest LPS z of the voxel centres, in mm (+z is superior).

    Raises
    ------
    GeometryError
        The mask is empty (it has no extent).
    """
    if mask.is_empty:
        raise GeometryError("an empty mask has no superior-inferior extent")
    z_mm = mask.points_lps()[:, 2]
    return float(z_mm.min()), float(z_mm.max())


def restrict_to_si_range(mask: Mask, low_z_mm: float, high_z_mm: float) -> Mask:
    """The voxels of ``mask`` whose centres lie between two patient z positions (inclusive).

    Parameters
    ----------
    mask : Mask
        The mask to cut; may be empty (returned as is).
    low_z_mm, high_z_mm : float
        The inferior and superior limits, as LPS z in mm (+z is superior); a centre within
        1e-6 mm of a limit is kept.

    Returns
    -------
    Mask
        The kept voxels, on ``mask``'s grid.
    """
    if mask.is_empty:
        return mask
    ijk = np.argwhere(mask.box_array) + np.asarray(mask.box.start)
    z_mm = mask.grid.index_to_lps(ijk)[:, 2]
    keep = (z_mm >= low_z_mm - 1e-6) & (z_mm <= high_z_mm + 1e-6)
    kept = np.zeros(mask.box.shape, dtype=bool)
    local = ijk[keep] - np.asarray(mask.box.start)
    kept[tuple(local.T)] = True
    return Mask.from_box(mask.grid, mask.box, kept)


def cord_evaluation_volume(
    cord: Mask, target: Mask, *, above_mm: float, below_mm: float, target_name: str = "target"
) -> VolumeResult:
    """The cord from ``above_mm`` above to ``below_mm`` below the target (Ryu, RTOG 0631).

    The extent is measured along the patient's superior-inferior axis between voxel centres:
    cord voxels from the target's lowest centre minus ``below_mm`` to its highest centre plus
    ``above_mm`` are kept.

    Parameters
    ----------
    cord : Mask
        The spinal cord.
    target : Mask
        The target whose superior-inferior extent is used (for example the PTV).
    above_mm : float
        Distance kept above the target's highest voxel centre, in mm.
    below_mm : float
        Distance kept below the target's lowest voxel centre, in mm.
    target_name : str, default "target"
        For the description of the step.

    Returns
    -------
    VolumeResult
        The cord evaluation volume and its one step; empty when the target or the cord is
        empty.
    """
    if target.is_empty or cord.is_empty:
        return VolumeResult(Mask.empty(cord.grid), ("empty: no target or no cord",))
    low, high = si_extent_mm(target)
    mask = restrict_to_si_range(cord, low - below_mm, high + above_mm)
    step = (
        f"cord from {below_mm:g} mm below to {above_mm:g} mm above the {target_name}"
        f" (z {low:.1f}..{high:.1f} mm)"
    )
    return VolumeResult(mask, (step,))
