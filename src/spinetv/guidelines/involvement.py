"""Which sectors a GTV involves, and how it involves the vertebral body.

Definitions [lib] (the papers give no numbers; every threshold is a named guideline parameter):

- a sector is **involved** when the GTV overlaps it by at least ``min_overlap_cc`` **and**
  penetrates it by at least ``min_penetration_mm`` (see :func:`penetration_depth_mm`). The
  penetration depth is what makes the decision a property of the anatomy rather than of the
  CT's voxels: a GTV whose edge grazes a neighbouring sector fills one layer of that sector's
  voxels whatever the voxel size, so on 3 mm voxels the graze weighs 27 times what it weighs on
  1 mm voxels in cc, but its penetration (a lower bound of how far the GTV reaches into the
  sector beyond the GTV outside it) stays below half a voxel plus the true graze;
- the body's **mid-sagittal plane** passes through the body's centroid with its normal along the
  level's left-right axis (a unit LPS vector to the patient's left);
- body involvement is **diffuse** when the GTV fills at least ``diffuse_fraction`` of the body or
  reaches both lateral thirds of the body (thirds of the body's extent along the left-right
  axis); else **lateralized** when every GTV voxel inside the body lies on one side of the plane,
  allowing ``midline_tolerance_mm`` across it; else **focal**.

Sides are always the patient's (from the left-right axis in LPS), never the image's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from spinetv.errors import AnatomyError, GeometryMismatchError
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask
from spinetv.vocabulary import (
    SACRUM,
    BodyClass,
    Side,
    is_sacral,
    level_order,
    region_of,
    require_level,
)

__all__ = [
    "BodyInvolvement",
    "LevelInvolvement",
    "LevelSectors",
    "as_level_sectors",
    "classify_body",
    "measure_involvement",
    "normalize_levels",
    "abutted_sectors",
    "outside_bone",
    "penetration_depth_mm",
    "PENETRATION_CAP_MM",
]



@dataclass(frozen=True, eq=False)
class LevelSectors:
    """The six sectors of one vertebra (or sacral segment), as the engine's input.

    Parameters
    ----------
    level : str
        Level name (``L2``, ``Vertebra_L2``, ``S1``...); stored in canonical form.
    sectors : mapping of int to Mask
        Sector number 1-6 to its mask. Vertebrae: 1 body, 2 left pedicle, 3 left TP+lamina,
        4 spinous process, 5 right TP+lamina, 6 right pedicle. Sacral segments: 1 body, 2 left
        ala, 3 left lamina, 4 median crest, 5 right lamina, 6 right ala. All six must be present
        and non-empty, on one grid.
    lr_axis_lps : array_like of 3 float
        Unit LPS vector to the patient's left at this level (default +x), used for the body's
        mid-sagittal plane; normalised on construction.
    canal : Mask or None
        The spinal (or sacral) canal at this level, when known; keeps a soft-tissue margin off
        the cord.
    """

    level: str
    sectors: Mapping[int, Mask]
    lr_axis_lps: tuple[float, float, float] = (1.0, 0.0, 0.0)
    canal: Mask | None = None

    def __post_init__(self) -> None:
        canonical = require_level(self.level)
        if canonical == SACRUM:
            raise AnatomyError(
                f"{self.level!r} is not a vertebral level with sectors: split a whole sacrum into "
                "its segments S1-S5 first (spinetv.anatomy.split_sacrum)"
            )
        given = dict(self.sectors)
        missing = [k for k in range(1, 7) if k not in given]
        if missing:
            raise AnatomyError(
                f"level {canonical}: sector(s) {missing} missing; expected sectors 1-6, "
                f"found {sorted(given)}"
            )
        extra = sorted(k for k in given if k not in range(1, 7))
        if extra:
            raise AnatomyError(f"level {canonical}: unknown sector number(s) {extra}; expected 1-6")
        for k in range(1, 7):
            if not isinstance(given[k], Mask):
                raise AnatomyError(
                    f"level {canonical}: sector {k} must be a Mask, got {type(given[k]).__name__}"
                )
        # The median crest ends at the sacral hiatus, so a lower sacral segment may lack it.
        may_be_empty = {4} if canonical.startswith("S") else set()
        empty = [k for k in range(1, 7) if given[k].is_empty and k not in may_be_empty]
        if empty:
            raise AnatomyError(
                f"level {canonical}: sector(s) {empty} are empty masks; every sector must hold "
                "bone (only the median crest, 4, of a sacral segment may be empty)"
            )
        grid = given[1].grid
        for k in range(2, 7):  # an empty mask still carries its grid
            grid.require_same(given[k].grid, what=f"level {canonical} sectors 1 and {k}")
        axis = np.asarray(self.lr_axis_lps, dtype=float).reshape(-1)
        norm = float(np.linalg.norm(axis)) if axis.size == 3 else 0.0
        if axis.size != 3 or not np.isfinite(norm) or norm < 1e-6:
            raise AnatomyError(
                f"level {canonical}: lr_axis_lps must be a non-zero 3-vector, "
                f"got {self.lr_axis_lps}"
            )
        if self.canal is not None:
            if not isinstance(self.canal, Mask):
                raise AnatomyError(f"level {canonical}: canal must be a Mask or None")
            grid.require_same(self.canal.grid, what=f"level {canonical} sectors and canal")
        object.__setattr__(self, "level", canonical)
        object.__setattr__(self, "sectors", MappingProxyType({k: given[k] for k in range(1, 7)}))
        object.__setattr__(self, "lr_axis_lps", tuple(float(v) for v in axis / norm))

    @property
    def grid(self) -> ImageGrid:
        """The grid of the sector masks."""
        return self.sectors[1].grid

    @property
    def region(self) -> str:
        """cervical, thoracic, lumbar or sacral."""
        return region_of(self.level)

    @property
    def order(self) -> int:
        """Cranio-caudal rank (C1 = 0; see :func:`spinetv.vocabulary.level_order`)."""
        return level_order(self.level)


def as_level_sectors(item: Any) -> LevelSectors:
    """Adapt a level description to :class:`LevelSectors`.

    Accepts a :class:`LevelSectors`, or any object with ``level``, ``labels`` (a
    :class:`~spinetv.geometry.LabelMap` holding sectors 1-6) and optionally ``frame.lr_axis``
    and ``canal`` (such as ``spinetv.anatomy.sectors.VertebraSectors``).

    Parameters
    ----------
    item : LevelSectors or VertebraSectors-like
        The level description; without a frame the left-right axis is +x LPS.

    Returns
    -------
    LevelSectors
        ``item`` itself, or the level built from its labels (a sacral segment without a median
        crest label gets an empty sector 4).

    Raises
    ------
    AnatomyError
        When ``item`` has no ``level`` or ``labels``, the level name is not a level (or is the
        whole sacrum), or a sector is missing or empty.
    GeometryMismatchError
        When the sectors or the canal are not on one grid.
    """
    if isinstance(item, LevelSectors):
        return item
    level = getattr(item, "level", None)
    labels = getattr(item, "labels", None)
    if level is None or labels is None or not hasattr(labels, "mask_of"):
        raise AnatomyError(
            "a level must be a LevelSectors or have 'level' and 'labels' (a LabelMap of sectors "
            f"1-6); got {type(item).__name__}"
        )
    name = level if isinstance(level, str) else getattr(level, "name", str(level))
    frame = getattr(item, "frame", None)
    lr_axis = getattr(frame, "lr_axis", None) if frame is not None else None
    if lr_axis is None:
        lr_axis = getattr(frame, "lr_axis_lps", (1.0, 0.0, 0.0)) if frame is not None else (
            1.0, 0.0, 0.0)
    present = set(getattr(labels, "labels", range(1, 7)))
    name_text = str(name)
    sacral = is_sacral(name_text)
    # An absent crest label at the sacral hiatus is an empty sector, not a missing one.
    sectors = {k: labels.mask_of(k) for k in range(1, 7) if k in present or (sacral and k == 4)}
    canal = getattr(item, "canal", None)
    return LevelSectors(name_text, sectors, tuple(np.asarray(lr_axis, dtype=float).reshape(-1)),
                        canal if isinstance(canal, Mask) else None)


def normalize_levels(
    levels: Sequence[Any] | Mapping[str, Mapping[int, Mask]],
) -> tuple[LevelSectors, ...]:
    """Adapt the engine's ``levels`` argument to a cranio-caudally sorted tuple of LevelSectors.

    Parameters
    ----------
    levels : sequence or mapping
        LevelSectors / VertebraSectors-like objects, or a mapping ``{"L2": {1: Mask, ...}}``.

    Returns
    -------
    tuple of LevelSectors
        The levels, cranio-caudal order (C1 first).

    Raises
    ------
    AnatomyError
        When no level is given, a level is given twice, or a level is invalid (see
        :func:`as_level_sectors`).
    GeometryMismatchError
        When the levels are not all on one grid.
    """
    if isinstance(levels, Mapping):
        items: Iterable[Any] = (
            LevelSectors(str(name), sectors) for name, sectors in levels.items()
        )
    else:
        items = levels
    out = [as_level_sectors(item) for item in items]
    if not out:
        raise AnatomyError("no vertebral level was given; expected at least one level's sectors")
    names = [lv.level for lv in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AnatomyError(f"level(s) {duplicates} given more than once")
    grid = out[0].grid
    for lv in out[1:]:
        grid.require_same(lv.grid, what=f"levels {out[0].level} and {lv.level}")
    return tuple(sorted(out, key=lambda lv: lv.order))


# ---- mask arithmetic on bounding boxes ------------------------------------------------------
def overlap_voxels(a: Mask, b: Mask) -> int:
    """Number of voxels in both masks (only their common box is visited)."""
    common = a.box.intersection(b.box)
    if common.is_empty:
        return 0
    return int(np.count_nonzero(a.in_box(common) & b.in_box(common)))


def union_of(grid: ImageGrid, masks: Iterable[Mask]) -> Mask:
    """Union of masks on ``grid`` (an empty mask when none has a voxel)."""
    chosen = [m for m in masks if not m.is_empty]
    if not chosen:
        return Mask.empty(grid)
    box = chosen[0].box
    for m in chosen[1:]:
        box = box.union(m.box)
    out = np.zeros(box.shape, dtype=bool)
    for m in chosen:
        out |= m.in_box(box)
    return Mask.from_box(grid, box, out)


def difference_of(a: Mask, b: Mask) -> Mask:
    """Voxels of ``a`` not in ``b``."""
    if a.is_empty:
        return a
    return Mask.from_box(a.grid, a.box, a.box_array & ~b.in_box(a.box))


def require_grid(grid: ImageGrid, mask: Mask, what: str) -> None:
    """Raise :class:`GeometryMismatchError` unless ``mask`` lies on ``grid``."""
    if not grid.matches(mask.grid):
        raise GeometryMismatchError(
            f"{what} is on {mask.grid.describe()}, but the sectors are on {grid.describe()}"
        )


# ---- body classification --------------------------------------------------------------------
@dataclass(frozen=True)
class BodyInvolvement:
    """How the GTV involves the vertebral body (or sacral body).

    Parameters
    ----------
    body_class : BodyClass
        ``focal``, ``lateralized`` or ``diffuse`` (a string is taken and checked).
    side : Side or None
        ``left`` / ``right`` (patient) for a lateralized lesion, else None.
    fraction : float
        GTV volume inside the body over body volume.
    offset_range_mm : tuple of float
        Least and greatest signed distance (mm) of the GTV's voxels in the body from the
        mid-sagittal plane (outermost centres plus half a voxel along the left-right axis);
        positive is the patient's left.
    reaches_left_third, reaches_right_third : bool
        Whether the GTV reaches each lateral third of the body.
    """

    body_class: BodyClass
    side: Side | None
    fraction: float
    offset_range_mm: tuple[float, float]
    reaches_left_third: bool
    reaches_right_third: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "body_class", BodyClass(self.body_class))
        if self.side is not None:
            object.__setattr__(self, "side", Side(self.side))
        if (self.side is None) == (self.body_class is BodyClass.LATERALIZED):
            raise AnatomyError(
                f"body involvement {self.body_class}: a side goes with a lateralized lesion "
                f"only, got {self.side!r}"
            )


def _points_lps(grid: ImageGrid, box: BoundingBox, array: NDArray[np.bool_]) -> NDArray[np.float64]:
    ijk = np.argwhere(array) + np.asarray(box.start)
    return grid.index_to_lps(ijk)


def classify_body(
    body: Mask,
    gtv: Mask,
    *,
    lr_axis_lps: ArrayLike = (1.0, 0.0, 0.0),
    midline_tolerance_mm: float = 2.0,
    diffuse_fraction: float = 0.5,
) -> BodyInvolvement | None:
    """Classify the GTV's involvement of the body (None when the GTV misses the body).

    Parameters
    ----------
    body : Mask
        Sector 1.
    gtv : Mask
        The GTV, on the body's grid.
    lr_axis_lps : array_like of 3 float, default (1, 0, 0)
        Unit LPS vector to the patient's left (normalised here; must be non-zero).
    midline_tolerance_mm : float, default 2.0
        How far (mm) a lateralized lesion may cross the mid-sagittal plane.
    diffuse_fraction : float, default 0.5
        Fraction of the body volume (0-1, dimensionless) from which the involvement is
        diffuse.

    Returns
    -------
    BodyInvolvement or None
        The class (``focal``, ``lateralized``, ``diffuse``), side, filled fraction and offsets
        (mm); None when no GTV voxel is in the body.

    Notes
    -----
    Raises
    ------
    GeometryMismatchError
        ``gtv`` is not on ``body``'s grid.
    """
    body.grid.require_same(gtv.grid, what="GTV and the vertebral body")
    inside = body.box_array & gtv.in_box(body.box)
    count = int(np.count_nonzero(inside))
    if count == 0:
        return None
    axis = np.asarray(lr_axis_lps, dtype=float)
    axis = axis / np.linalg.norm(axis)
    body_points = _points_lps(body.grid, body.box, body.box_array)
    centre = body_points.mean(axis=0)
    # Voxels, not their centres, are what the masks hold: extents reach half a voxel beyond the
    # outermost centres along the axis, so they do not shrink with coarser voxels.
    half_voxel = 0.5 * float(
        np.abs(axis @ body.grid.direction) @ np.asarray(body.grid.spacing_mm, dtype=float)
    )
    body_offsets = (body_points - centre) @ axis
    gtv_offsets = (_points_lps(body.grid, body.box, inside) - centre) @ axis
    low = float(gtv_offsets.min()) - half_voxel
    high = float(gtv_offsets.max()) + half_voxel
    body_low = float(body_offsets.min()) - half_voxel
    body_high = float(body_offsets.max()) + half_voxel
    third = (body_high - body_low) / 3.0
    reaches_left = high > body_high - third + 1e-6  # enters the third, not only meets it
    reaches_right = low < body_low + third - 1e-6
    fraction = count / int(np.count_nonzero(body.box_array))
    tolerance = midline_tolerance_mm + 1e-6  # an extent exactly at the tolerance is within it
    # Diffuse is tested first: a lesion filling most of the body is not "lateralized" even
    # when it happens to stop short of the midline by less than the tolerance.
    side: Side | None = None
    if fraction >= diffuse_fraction or (reaches_left and reaches_right):
        body_class = BodyClass.DIFFUSE
    elif low >= -tolerance and high > tolerance:
        body_class, side = BodyClass.LATERALIZED, Side.LEFT
    elif high <= tolerance and low < -tolerance:
        body_class, side = BodyClass.LATERALIZED, Side.RIGHT
    else:
        # Crosses the midline, or sits on it within the tolerance: no side to favour.
        body_class = BodyClass.FOCAL
    return BodyInvolvement(body_class, side, fraction, (low, high), reaches_left, reaches_right)


# ---- per level ------------------------------------------------------------------------------
@dataclass(frozen=True)
class LevelInvolvement:
    """The GTV's involvement of one level.

    Parameters
    ----------
    level, region : str
        The level's canonical name and its region (cervical, thoracic, lumbar or sacral).
    sector_volumes_cc : mapping of int to float
        Volume of each sector in cc.
    overlaps_cc : mapping of int to float
        GTV volume inside each sector in cc.
    involved : tuple of int
        Sectors with overlap >= ``min_overlap_cc`` and penetration >= ``min_penetration_mm``,
        ascending.
    body : BodyInvolvement or None
        Body classification when the body is involved.
    penetration_mm : mapping of int to float
        Penetration depth of the GTV into each sector (mm, see :func:`penetration_depth_mm`):
        0 where the GTV misses the sector, ``math.inf`` where the whole GTV lies inside it.
    min_overlap_cc, min_penetration_mm : float
        The thresholds the decision used.
    abutted : tuple of int
        Sectors taken as involved because a GTV lying wholly outside the bone abuts them (see
        ``abutting_mm`` in :func:`spinetv.guidelines.build_ctv`); empty otherwise.
    """

    level: str
    region: str
    sector_volumes_cc: Mapping[int, float]
    overlaps_cc: Mapping[int, float]
    involved: tuple[int, ...]
    body: BodyInvolvement | None
    penetration_mm: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))
    min_overlap_cc: float = 0.0
    min_penetration_mm: float = 0.0
    abutted: tuple[int, ...] = ()

    def decision(self, sector: int) -> dict[str, Any]:
        """The measured values next to the thresholds for one sector (JSON-ready).

        ``penetration_mm`` is None when the whole GTV lies inside the sector (no GTV outside it
        to measure from: the penetration is the GTV's own extent).

        Parameters
        ----------
        sector : int
            Sector number, 1-6.

        Returns
        -------
        dict of str to Any
            ``overlap_cc`` and ``min_overlap_cc`` (cm³), ``penetration_mm`` and
            ``min_penetration_mm`` (mm), ``involved`` and ``abutted`` (bool).
        """
        depth = self.penetration_mm.get(sector, 0.0)
        return {
            "overlap_cc": round(self.overlaps_cc[sector], 4),
            "min_overlap_cc": self.min_overlap_cc,
            "penetration_mm": None if math.isinf(depth) else round(depth, 2),
            "min_penetration_mm": self.min_penetration_mm,
            "involved": sector in self.involved,
            "abutted": sector in self.abutted,
        }

    @property
    def touched(self) -> bool:
        """True when the GTV has any voxel in any sector of the level."""
        return any(v > 0 for v in self.overlaps_cc.values())


#: Penetration depths are measured up to this many mm; deeper ones are reported as this value.
PENETRATION_CAP_MM = 15.0


def _window(mask: Mask, start: NDArray[np.intp], shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """The mask's voxels in an index window that may reach beyond the image (outside: False)."""
    out = np.zeros(shape, dtype=bool)
    if mask.is_empty:
        return out
    box_start = np.asarray(mask.box.start)
    box_stop = box_start + np.asarray(mask.box.shape)
    low = np.maximum(start, box_start)
    high = np.minimum(start + np.asarray(shape), box_stop)
    if np.any(high <= low):
        return out
    dst = tuple(slice(int(a - b), int(c - b)) for a, b, c in zip(low, start, high))
    src = tuple(slice(int(a - b), int(c - b)) for a, b, c in zip(low, box_start, high))
    out[dst] = mask.box_array[src]
    return out


def _cube_distance_sq(
    features: NDArray[np.bool_],
    spacing: NDArray[np.float64],
    reach: NDArray[np.intp],
    *,
    gap_voxels: float = 0.5,
    border: NDArray[np.intp] | None = None,
) -> NDArray[np.float64]:
    """Squared distance (mm^2) from every voxel centre to the nearest feature voxel's cube.

    Exact, by a separable min-plus convolution with ``((|o| - g) h)^2`` per axis (0 for
    ``o = 0``), over offsets up to ``reach`` voxels per axis; farther features, and any beyond
    the array, count as absent (inf). ``g = 1/2`` (``gap_voxels``) measures from the voxel's
    centre to the feature's cube, ``g = 1`` from the voxel's cube to the feature's cube
    (touching voxels: 0).

    ``border`` (voxels per axis, at most ``reach``; default none) leaves that many voxels of
    each face out of the result, which then has the array's shape less ``2 border``: a caller
    that needs distances only in the middle of a window padded by ``reach`` skips most of the
    work (each pass is computed only where a later pass or the result reads it).
    """
    edge = np.zeros(3, dtype=np.intp) if border is None else np.asarray(border, dtype=np.intp)
    padding = [(int(r - e), int(r - e)) for r, e in zip(reach, edge)]
    dist = np.pad(np.where(features, 0.0, np.inf), padding, constant_values=np.inf)
    for axis in range(3):
        r = int(reach[axis])
        n = dist.shape[axis]
        out = _along(dist, axis, r, n - r).copy()
        for offset in range(1, r + 1):
            cost = (max(offset - gap_voxels, 0.0) * spacing[axis]) ** 2
            np.minimum(out, _along(dist, axis, r + offset, n - r + offset) + cost, out=out)
            np.minimum(out, _along(dist, axis, r - offset, n - r - offset) + cost, out=out)
        dist = out
    return dist


def _along(array: NDArray[np.float64], axis: int, first: int, stop: int) -> NDArray[np.float64]:
    """A view of ``array`` cut to ``first:stop`` along ``axis``."""
    index: list[slice] = [slice(None)] * array.ndim
    index[axis] = slice(first, stop)
    return array[tuple(index)]


def penetration_depth_mm(gtv: Mask, sector: Mask) -> float:
    """How deeply the GTV's part inside a sector lies, past the contour's edge (mm).

    For every voxel centre of the GTV inside the sector three distances are measured, each
    to the nearest voxel (its cube, not its centre) of a kind: a voxel outside the **sector**
    (how deep in the sector's bone it lies), a voxel outside the **GTV** (how deep in tumour it
    lies: a sector engulfed by tumour) and a voxel of the **GTV outside the sector** (how far
    the GTV has run on into the sector from where it entered). The penetration is the largest
    of the three, over the voxels, capped at :data:`PENETRATION_CAP_MM`.

    A GTV whose edge grazes the sector puts one layer of voxels in it, and each of those voxels
    touches a voxel of every kind: all three distances are at most half a voxel diagonal
    (1.5 mm through a face and 2.6 mm through a corner of 3 mm voxels; 0.5 to 0.87 mm on 1 mm
    voxels), whatever the voxel size. A GTV that reaches ``D`` mm into the sector, fills it, or
    surrounds it measures within about a voxel of ``D`` on any grid.

    Parameters
    ----------
    gtv, sector : Mask
        On one grid.

    Returns
    -------
    float
        Penetration in mm; 0.0 when the GTV misses the sector, ``math.inf`` when the whole GTV
        lies inside the sector (no edge of the GTV crosses the sector's surface).
    """
    if gtv.is_empty or sector.is_empty:
        return 0.0
    in_sector = sector.in_box(gtv.box)
    inside = gtv.box_array & in_sector
    if not inside.any():
        return 0.0
    if not (gtv.box_array & ~in_sector).any():
        return math.inf
    spacing = np.asarray(gtv.grid.spacing_mm, dtype=float)
    reach = np.ceil(PENETRATION_CAP_MM / spacing).astype(np.intp) + 1
    points = np.argwhere(inside) + np.asarray(gtv.box.start)
    start = points.min(axis=0) - reach
    shape = tuple(int(v) for v in points.max(axis=0) - start + reach + 1)
    tumour = _window(gtv, start, shape)
    bone = _window(sector, start, shape)
    # The window is padded by ``reach`` around the points, which is all the distances need.
    local = tuple((points - start - reach).T)
    deepest = np.zeros(len(points))
    for features in (tumour & ~bone, ~tumour, ~bone):
        distance_sq = _cube_distance_sq(features, spacing, reach, border=reach)
        deepest = np.maximum(deepest, distance_sq[local])
    return float(min(math.sqrt(float(deepest.max())), PENETRATION_CAP_MM))


def measure_involvement(
    gtv: Mask,
    level: LevelSectors,
    *,
    min_overlap_cc: float = 0.02,
    min_penetration_mm: float = 0.0,
    midline_tolerance_mm: float = 2.0,
    diffuse_fraction: float = 0.5,
) -> LevelInvolvement:
    """Overlaps, penetration depths, involved sectors and body class of one level.

    Parameters
    ----------
    gtv : Mask
        The GTV on the sectors' grid.
    level : LevelSectors
        The level's six sectors.
    min_overlap_cc : float, default 0.02
        Overlap (cm³) from which a sector is involved.
    min_penetration_mm : float, default 0.0
        Penetration (mm, :func:`penetration_depth_mm`) from which a sector is involved; 0 keeps
        every overlap (the decision then follows the CT's voxels).
    midline_tolerance_mm : float, default 2.0
        See :func:`classify_body` (mm).
    diffuse_fraction : float, default 0.5
        See :func:`classify_body` (fraction of the body volume).

    Returns
    -------
    LevelInvolvement
        Sector volumes and overlaps (cm³), penetration depths (mm), the involved sectors and
        the body class (when the body is involved); no abutted sectors.

    Raises
    ------
    GeometryMismatchError
        When the GTV is not on the sectors' grid.
    """
    require_grid(level.grid, gtv, "the GTV")
    voxel_cc = level.grid.voxel_volume_cc
    overlaps = {k: overlap_voxels(gtv, m) * voxel_cc for k, m in level.sectors.items()}
    volumes = {k: m.volume_cc for k, m in level.sectors.items()}
    depths = {
        k: penetration_depth_mm(gtv, m) if overlaps[k] > 0 else 0.0
        for k, m in level.sectors.items()
    }
    # A small epsilon keeps an overlap of exactly min_overlap_cc (voxel-count * voxel volume)
    # from failing on floating-point round-off; likewise for the depth.
    involved = tuple(
        k for k in range(1, 7)
        if overlaps[k] > 0 and overlaps[k] >= min_overlap_cc - 1e-9
        and depths[k] >= min_penetration_mm - 1e-6
    )
    body = None
    if 1 in involved:
        body = classify_body(
            level.sectors[1], gtv, lr_axis_lps=level.lr_axis_lps,
            midline_tolerance_mm=midline_tolerance_mm, diffuse_fraction=diffuse_fraction,
        )
    return LevelInvolvement(
        level=level.level, region=level.region,
        sector_volumes_cc=MappingProxyType(volumes), overlaps_cc=MappingProxyType(overlaps),
        involved=involved, body=body, penetration_mm=MappingProxyType(depths),
        min_overlap_cc=float(min_overlap_cc), min_penetration_mm=float(min_penetration_mm),
    )


# ---- GTV outside the bone -------------------------------------------------------------------
#: How far (mm) outside GTV is searched for the nearest level's bone in :func:`outside_bone`.
_NEAREST_LEVEL_MM = 30.0

def abutted_sectors(extraosseous: Mask, level: LevelSectors, abutting_mm: float) -> tuple[int, ...]:
    """Sectors of a level whose bone lies within ``abutting_mm`` of an extraosseous GTV.

    Gaps are measured between voxels, cube to cube (touching voxels are 0 mm apart), so the
    answer does not follow the voxel size.

    Parameters
    ----------
    extraosseous : Mask
        The GTV's part outside every sector (epidural, paraspinal), on the level's grid.
    level : LevelSectors
        The level whose sectors are tested.
    abutting_mm : float
        Largest gap (mm) between the GTV and a sector's bone for the sector to be abutted;
        a negative value abuts nothing.

    Returns
    -------
    tuple of int
        The abutted sector numbers (1-6), ascending; empty when ``extraosseous`` is empty.

    Notes
    -----
    The grids are not checked here: ``extraosseous`` must be on the level's grid.
    """
    extraosseous.grid.require_same(level.grid, what=f"GTV and level {level.level}")
    if extraosseous.is_empty or abutting_mm < 0:
        return ()
    spacing = np.asarray(extraosseous.grid.spacing_mm, dtype=float)
    reach = np.ceil(abutting_mm / spacing).astype(np.intp) + 2
    start = np.asarray(extraosseous.box.start) - reach
    shape = tuple(int(v) for v in np.asarray(extraosseous.box.shape) + 2 * reach)
    gap_sq = _cube_distance_sq(_window(extraosseous, start, shape), spacing, reach,
                               gap_voxels=1.0)
    out = []
    for k, sector in level.sectors.items():
        bone = _window(sector, start, shape)
        if bone.any() and float(gap_sq[bone].min()) <= (abutting_mm + 1e-6) ** 2:
            out.append(k)
    return tuple(out)


def outside_bone(
    gtv: Mask, levels: Sequence[LevelSectors], canal: Mask | None = None
) -> dict[str, Any]:
    """How much of the GTV lies outside the vertebrae given, and where (JSON-ready).

    Parameters
    ----------
    gtv : Mask
        The GTV, on the levels' grid (not checked here).
    levels : sequence of LevelSectors
        Their sectors are the bone; their canals (and ``canal``) the epidural space.
    canal : Mask, optional
        A spinal or sacral canal beyond the levels' own; None adds none.

    Returns
    -------
    dict
        ``outside_cc`` (GTV volume in no sector of any level), ``epidural_cc`` (of it, in the
        spinal or sacral canal, when a canal is known), ``paraspinal_cc`` (the rest: paraspinal
        soft tissue, or bone of a level not given), and ``by_level``: for each level, the
        outside volume whose nearest bone is that level's, with the farthest distance (mm) of
        it from that bone.
    """
    for level in levels:
        gtv.grid.require_same(level.grid, what=f"GTV and level {level.level}")
    grid = gtv.grid
    bone = union_of(grid, [m for lv in levels for m in lv.sectors.values()])
    outside = difference_of(gtv, bone)
    canals = [lv.canal for lv in levels if lv.canal is not None]
    if canal is not None:
        canals.append(canal)
    voxel_cc = grid.voxel_volume_cc
    result: dict[str, Any] = {
        "outside_cc": round(outside.volume_cc, 4),
        "epidural_cc": 0.0 if canals else None,
        "paraspinal_cc": round(outside.volume_cc, 4),
        "by_level": {},
    }
    if outside.is_empty:
        return result
    epidural = np.zeros(outside.box.shape, dtype=bool)
    if canals:
        epidural = outside.box_array & union_of(grid, canals).in_box(outside.box)
        result["epidural_cc"] = round(int(np.count_nonzero(epidural)) * voxel_cc, 4)
        result["paraspinal_cc"] = round(
            (int(np.count_nonzero(outside.box_array)) - int(np.count_nonzero(epidural)))
            * voxel_cc, 4)
    in_canal = epidural[outside.box_array]
    spacing = np.asarray(grid.spacing_mm, dtype=float)
    pad = np.ceil(_NEAREST_LEVEL_MM / spacing).astype(np.intp)
    start = np.asarray(outside.box.start) - pad
    shape = tuple(int(v) for v in np.asarray(outside.box.shape) + 2 * pad)
    local = tuple((np.argwhere(outside.box_array) + pad).T)
    nearest: list[NDArray[np.float64]] = []
    for lv in levels:
        level_bone = _window(union_of(grid, lv.sectors.values()), start, shape)
        if not level_bone.any():
            nearest.append(np.full(len(local[0]), np.inf))
            continue
        nearest.append(ndimage.distance_transform_edt(~level_bone, sampling=spacing)[local])
    distances = np.vstack(nearest)
    owner = distances.argmin(axis=0)
    far = ~np.isfinite(distances.min(axis=0))
    if far.any():
        result["by_level"]["none within 30 mm"] = {
            "outside_cc": round(int(far.sum()) * voxel_cc, 4),
            "epidural_cc": round(int((far & in_canal).sum()) * voxel_cc, 4) if canals else None,
            "farthest_from_bone_mm": None,
        }
    for index, lv in enumerate(levels):
        mine = (owner == index) & ~far
        if not mine.any():
            continue
        result["by_level"][lv.level] = {
            "outside_cc": round(int(mine.sum()) * voxel_cc, 4),
            "epidural_cc": round(int((mine & in_canal).sum()) * voxel_cc, 4) if canals else None,
            "farthest_from_bone_mm": round(float(distances[index, mine].max()), 1),
        }
    return result
