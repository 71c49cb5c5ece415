"""The spinal canal, derived from the vertebrae (and the cord) when it is not contoured.

On real CT masks the bony ring around the canal is open on most single axial slices (on the
3 mm TotalSegmentator mask of L1-L5 it closes on 0-3 slices of about 16): the pedicles, laminae
and articular processes close it only over the vertebra's whole height. So hole filling per
slice does not work. Here each vertebra is projected along its local SI axis onto the plane
perpendicular to it (a maximum-intensity projection of the bone over the vertebra's height);
the hole of that projected ring is the canal's cross-section, which is extruded back over the
vertebra's height.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinetv.anatomy.frame import LocalFrame, fit_axis_through_slices, patient_frame
from spinetv.anatomy.levels import level_order, parse_level, region_of
from spinetv.errors import AnatomyError
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask

__all__ = [
    "CanalOptions",
    "CanalResult",
    "ProjectedCanal",
    "derive_canal",
    "project_canal",
    "prism_box",
    "METHOD_CONTOURED",
    "METHOD_CORD_RING",
    "METHOD_RING",
    "METHOD_ARCH",
    "METHOD_CORD",
]

_AXIS_GAIN = 1.05
METHOD_CONTOURED = "contoured"
METHOD_CORD_RING = "cord-seeded ring closure"
METHOD_RING = "ring closure"
METHOD_ARCH = "estimated from arch"
METHOD_CORD = "estimated from cord"


@dataclass(frozen=True)
class CanalOptions:
    """Tunables of the canal derivation.

    Parameters
    ----------
    max_gap_mm : float
        Widest gap in the projected bony ring bridged by a 2-D closing (tried from 0 upward),
        in mm. Default 8 mm.
    min_area_mm2 : float
        Smallest projected hole taken for a canal, in mm^2 (the cervical transverse foramina,
        about 30 mm^2, stay below it; the smallest canal is about 100 mm^2). Default 50.
    min_sacral_area_mm2 : float
        The same for sacral segments, whose canal narrows to about 40 mm^2 at S3. Default 20.
    axis_search_deg : float
        Without a cord, the projection axis estimated from the neighbouring vertebrae is
        refined by trying tilts up to this angle (steps of half of it, sagittal then coronal)
        and keeping the one with the largest canal cross-section: projecting along the canal
        sees through it best, a tilted projection narrows the hole. 0 disables. Default 12.
    pixel_mm : float or None
        Pixel size of the projection plane in mm; default the middle voxel spacing (the
        in-plane spacing of an axial series).
    extend_mm : float
        Length the canal is extruded beyond the vertebra's SI extent at each end, in mm, so
        that neighbouring levels meet across the disc. Default 3 mm.
    cord_margin_mm : float
        Margin around the cord for the last-resort "estimated from cord" canal, in mm.
    """

    max_gap_mm: float = 8.0
    min_area_mm2: float = 50.0
    min_sacral_area_mm2: float = 20.0
    axis_search_deg: float = 12.0
    pixel_mm: float | None = None
    extend_mm: float = 3.0
    cord_margin_mm: float = 3.0

    def __post_init__(self) -> None:
        for name in (
            "max_gap_mm", "min_area_mm2", "min_sacral_area_mm2", "axis_search_deg",
            "extend_mm", "cord_margin_mm",
        ):
            if getattr(self, name) < 0:
                raise AnatomyError(f"CanalOptions.{name} must be >= 0, got {getattr(self, name)}")
        if self.pixel_mm is not None and self.pixel_mm <= 0:
            raise AnatomyError(f"CanalOptions.pixel_mm must be > 0, got {self.pixel_mm}")


@dataclass(frozen=True, eq=False)
class ProjectedCanal:
    """The canal cross-section of one vertebra in its projection plane.

    Parameters
    ----------
    frame : LocalFrame
        Projection frame (AP = patient posterior projected; not rotation-corrected).
    hole : ndarray of bool, shape (n_lr, n_ap)
        Canal pixels; pixel ``(i, j)`` is centred at ``lr = lr0 + i * pixel_mm``,
        ``ap = ap0 + j * pixel_mm``.
    lr0_mm, ap0_mm, pixel_mm : float
        Placement of the pixel grid in the frame, mm.
    si_range_mm : (float, float)
        SI extent of the vertebra in the frame, mm.
    method : str
        How the hole was found.
    bridged_gap_mm : float
        Width of the ring gap bridged (0 when the projected ring was closed).
    axis_source : str
        Where the SI axis came from ("cord", "neighbours", "vertebra", "patient").
    wall_offset_mm : float
        How far the canal wall lies beyond the centre of the outermost hole pixel, mm.
    """

    frame: LocalFrame
    hole: NDArray[np.bool_]
    lr0_mm: float
    ap0_mm: float
    pixel_mm: float
    si_range_mm: tuple[float, float]
    method: str
    bridged_gap_mm: float
    axis_source: str
    wall_offset_mm: float = 0.0

    def contains(self, local: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which local points (n, 3), in the frame, lie in the canal prism (without extension)."""
        i = np.rint((local[:, 0] - self.lr0_mm) / self.pixel_mm).astype(np.int64)
        j = np.rint((local[:, 1] - self.ap0_mm) / self.pixel_mm).astype(np.int64)
        inside = (i >= 0) & (i < self.hole.shape[0]) & (j >= 0) & (j < self.hole.shape[1])
        result = np.zeros(local.shape[0], dtype=bool)
        result[inside] = self.hole[i[inside], j[inside]]
        return result

    def hole_points_lps(self) -> NDArray[np.float64]:
        """LPS mm centres of the hole's pixels, placed at the vertebra's mid-height."""
        ij = np.argwhere(self.hole).astype(np.float64)
        mid_si = 0.5 * (self.si_range_mm[0] + self.si_range_mm[1])
        local = np.column_stack(
            [
                self.lr0_mm + ij[:, 0] * self.pixel_mm,
                self.ap0_mm + ij[:, 1] * self.pixel_mm,
                np.full(ij.shape[0], mid_si),
            ]
        )
        return self.frame.to_lps(local)

    def centre_lps(self) -> NDArray[np.float64]:
        """The centroid of the hole at the vertebra's mid-height, LPS mm."""
        ij = np.argwhere(self.hole).mean(axis=0)
        local = np.array(
            [
                self.lr0_mm + ij[0] * self.pixel_mm,
                self.ap0_mm + ij[1] * self.pixel_mm,
                0.5 * (self.si_range_mm[0] + self.si_range_mm[1]),
            ]
        )
        return self.frame.to_lps(local)


@dataclass(frozen=True, eq=False)
class CanalResult:
    """A spinal canal and how it was obtained.

    Parameters
    ----------
    mask : Mask
        The canal (union over the levels, vertebral bone removed).
    method : str
        Summary of the methods used ("contoured", "cord-seeded ring closure", "ring closure",
        "estimated from arch", "estimated from cord"; several are joined with "; ").
    per_level : dict of str to str
        Method per level.
    centreline_lps : ndarray, shape (n, 3)
        Canal centre per level (at mid-height of each vertebra), top to bottom, LPS mm.
    bridged_gap_mm : dict of str to float
        Width of the ring gap bridged per derived level (0 when the projected ring was closed).
    axis_source : dict of str to str
        Where each derived level's SI axis came from.
    cross_sections : dict of str to ProjectedCanal
        The projected canal cross-section of each derived level, before neighbouring bone is
        removed (so C1's ring keeps the space of the dens); sector labelling measures the canal
        walls on it.
    """

    mask: Mask
    method: str
    per_level: dict[str, str]
    centreline_lps: NDArray[np.float64]
    bridged_gap_mm: dict[str, float] = field(default_factory=dict)
    axis_source: dict[str, str] = field(default_factory=dict)
    cross_sections: dict[str, ProjectedCanal] = field(default_factory=dict)


def _sort_levels(levels: Collection[str]) -> list[str]:
    def key(level: str) -> tuple[int, str]:
        canonical = parse_level(level)
        return (level_order(canonical) if canonical else 1000, level)

    return sorted(levels, key=key)


def _pad_box(mask: Mask, margin_mm: float) -> BoundingBox:
    pad = mask.grid.voxels_for_distance(margin_mm)
    return mask.box.padded(pad, mask.grid.shape)


def _points_in_box(mask: Mask, box: BoundingBox) -> NDArray[np.float64]:
    ijk = np.argwhere(mask.in_box(box)) + np.asarray(box.start)
    return mask.grid.index_to_lps(ijk)


def _si_axis_estimate(
    level: str,
    vertebra: Mask,
    ordered: list[str],
    vertebrae: Mapping[str, Mask],
    cord: Mask | None,
) -> tuple[NDArray[np.float64], str]:
    """SI direction for the projection: cord, else the neighbours' centroids, else patient z."""
    axis = vertebra.grid.axis_of(2)[0]
    slice_range = (vertebra.box.start[axis], vertebra.box.stop[axis])
    if cord is not None and not cord.is_empty:
        fitted = fit_axis_through_slices(cord, slice_range=slice_range)
        if fitted is not None and (slice_range[1] - slice_range[0]) >= 3:
            return fitted[1], "cord"
    index = ordered.index(level)
    canonical = parse_level(level)
    neighbours: list[NDArray[np.float64]] = []
    for other_index in (index - 1, index + 1):
        if not 0 <= other_index < len(ordered):
            neighbours.append(np.full(3, np.nan))
            continue
        other = ordered[other_index]
        other_canonical = parse_level(other)
        contiguous = (
            canonical is not None
            and other_canonical is not None
            and abs(level_order(other_canonical) - level_order(canonical)) == 1
        )
        neighbours.append(
            vertebrae[other].centroid_lps() if contiguous and not vertebrae[other].is_empty
            else np.full(3, np.nan)
        )
    own = vertebra.centroid_lps()
    above, below = neighbours
    if np.all(np.isfinite(above)) and np.all(np.isfinite(below)):
        direction = above - below
    elif np.all(np.isfinite(above)):
        direction = above - own
    elif np.all(np.isfinite(below)):
        direction = own - below
    else:
        return np.array([0.0, 0.0, 1.0]), "patient"
    norm = float(np.linalg.norm(direction))
    # Centroids that are not above one another are not a spine (or the labels are wrong).
    if norm < 1e-6 or abs(direction[2]) / norm < np.cos(np.radians(60.0)):
        return np.array([0.0, 0.0, 1.0]), "patient"
    direction = direction / norm
    return (direction if direction[2] > 0 else -direction), "neighbours"


def _disk(radius_px: int) -> NDArray[np.bool_]:
    r = np.arange(-radius_px, radius_px + 1)
    return np.asarray((r[:, None] ** 2 + r[None, :] ** 2) <= radius_px**2 + 0.5)


def _rasterise(
    local: NDArray[np.float64], lr0: float, ap0: float, pixel: float, shape: tuple[int, int]
) -> NDArray[np.bool_]:
    image = np.zeros(shape, dtype=bool)
    i = np.rint((local[:, 0] - lr0) / pixel).astype(np.int64)
    j = np.rint((local[:, 1] - ap0) / pixel).astype(np.int64)
    ok = (i >= 0) & (i < shape[0]) & (j >= 0) & (j < shape[1])
    image[i[ok], j[ok]] = True
    return image


def _pick_hole(
    holes: NDArray[np.bool_],
    min_pixels: int,
    seed: NDArray[np.bool_] | None,
    bone: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_] | None:
    labels, count = ndimage.label(holes)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    candidates = np.flatnonzero(sizes >= max(1, min_pixels))
    if candidates.size == 0:
        return None
    if seed is not None and seed.any():
        hits = np.bincount(labels[seed], minlength=count + 1)
        seeded = [c for c in candidates if hits[c] > 0]
        if seeded:
            best = max(seeded, key=lambda c: (hits[c], sizes[c]))
            return np.asarray(labels == best)
    if bone is not None and bone.any() and candidates.size > 1:
        # The canal lies on the midline; paired holes (sacral or transverse foramina) do not.
        lr_bone = np.argwhere(bone)[:, 0]
        midline = float(lr_bone.mean())
        tolerance = 0.15 * float(lr_bone.max() - lr_bone.min())
        centres = ndimage.center_of_mass(holes, labels, candidates)
        central = [
            int(c) for c, centre in zip(candidates, centres)
            if abs(centre[0] - midline) <= tolerance
        ]
        if central:
            candidates = np.asarray(central)
    chosen = int(candidates[np.argmax(sizes[candidates])])
    return np.asarray(labels == chosen)


def project_canal(
    vertebra: Mask,
    si_axis: NDArray[np.float64],
    *,
    cord: Mask | None = None,
    options: CanalOptions = CanalOptions(),
    level: str = "vertebra",
    axis_source: str = "given",
    frame: LocalFrame | None = None,
    seed_lps: NDArray[np.float64] | None = None,
    points_lps: NDArray[np.float64] | None = None,
) -> ProjectedCanal | None:
    """Find the canal cross-section of one vertebra by projecting it along ``si_axis``.

    Parameters
    ----------
    vertebra : Mask
        The vertebra.
    si_axis : ndarray, shape (3,)
        Projection direction (LPS unit vector, roughly superior).
    cord : Mask, optional
        Spinal cord; chooses the hole that holds it, and seeds the arch estimate.
    options : CanalOptions
        Tunables.
    level, axis_source : str
        For the result and messages.
    frame : LocalFrame, optional
        Projection frame (its SI axis replaces ``si_axis``); default the patient frame about
        the vertebra's centroid. Projecting in a vertebra's final local frame aligns the
        pixels with its LR and AP axes, so the canal walls are measured to half a pixel.
    seed_lps : ndarray, shape (n, 3), optional
        Points (LPS mm) that pick the hole holding them, like the cord does.
    points_lps : ndarray, shape (n, 3), optional
        The vertebra's voxel centres (``vertebra.points_lps()``) when already at hand, so
        that trying several axes does not recompute them.

    Returns
    -------
    ProjectedCanal or None
        ``None`` when no canal can be found (no hole even after bridging ``max_gap_mm``,
        and no arch-based estimate).

    Notes
    -----
    The bone of the whole vertebra is rasterised on the projection plane (its maximum
    intensity projection). Closings with disks of growing radius (0 first) bridge gaps of
    the ring up to ``max_gap_mm``; the first radius giving a hole of at least
    ``min_area_mm2`` wins. With a cord, the hole holding the most cord pixels wins
    ("cord-seeded ring closure"); else the largest ("ring closure"). If none closes, the
    canal is estimated as the midline concavity of the projected bone (its convex hull minus
    the bone), the component holding the cord if any ("estimated from arch").
    """
    spacing = sorted(vertebra.grid.spacing_mm)
    lattice_mm = spacing[1]
    pixel = options.pixel_mm or 0.5 * lattice_mm
    # Projected voxel centres form a (possibly rotated) lattice of step ``lattice_mm``: a disk
    # of its covering radius around each centre covers the bone without aliasing gaps.
    cover_mm = lattice_mm / np.sqrt(2.0)
    wall_offset = 0.5 * pixel + cover_mm - 0.5 * lattice_mm
    points = vertebra.points_lps() if points_lps is None else points_lps
    if frame is None:
        frame = patient_frame(points.mean(axis=0), si_axis)
    bone = frame.to_local(points)
    max_radius = int(np.ceil(0.5 * options.max_gap_mm / pixel))
    pad = max_radius + 2
    lr0 = float(bone[:, 0].min()) - pad * pixel
    ap0 = float(bone[:, 1].min()) - pad * pixel
    shape = (
        int(np.ceil((bone[:, 0].max() - lr0) / pixel)) + pad + 1,
        int(np.ceil((bone[:, 1].max() - ap0) / pixel)) + pad + 1,
    )
    projection = _rasterise(bone, lr0, ap0, pixel, shape)
    projection = ndimage.distance_transform_edt(~projection) * pixel <= cover_mm + 1e-6
    si_range = (float(bone[:, 2].min()), float(bone[:, 2].max()))
    seed = None
    if cord is not None and not cord.is_empty:
        cord_local = frame.to_local(_points_in_box(cord, _pad_box(vertebra, 0.0)))
        within = (cord_local[:, 2] >= si_range[0]) & (cord_local[:, 2] <= si_range[1])
        if within.any():
            seed = _rasterise(cord_local[within], lr0, ap0, pixel, shape)
    if seed_lps is not None and len(seed_lps):
        seed = _rasterise(frame.to_local(seed_lps), lr0, ap0, pixel, shape)
    canonical = parse_level(level)
    min_area = (
        options.min_sacral_area_mm2
        if canonical is not None and region_of(canonical) == "sacral"
        else options.min_area_mm2
    )
    min_pixels = int(np.ceil(min_area / pixel**2))
    seeded_method = METHOD_CORD_RING if seed is not None else METHOD_RING
    for radius in range(max_radius + 1):
        closed = (
            projection
            if radius == 0
            else ndimage.binary_closing(projection, structure=_disk(radius))
        )
        holes = ndimage.binary_fill_holes(closed) & ~closed
        hole = _pick_hole(holes, min_pixels, seed, projection)
        if hole is not None:
            return ProjectedCanal(
                frame, hole, lr0, ap0, pixel, si_range, seeded_method,
                float(2 * radius * pixel), axis_source, wall_offset,
            )
    hole = _arch_estimate(projection, max_radius, min_pixels, seed, lr0, pixel)
    if hole is not None:
        return ProjectedCanal(
            frame, hole, lr0, ap0, pixel, si_range, METHOD_ARCH, float("nan"), axis_source,
            wall_offset,
        )
    return None


def _tilted(
    axis: NDArray[np.float64], about: NDArray[np.float64], deg: float
) -> NDArray[np.float64]:
    """``axis`` turned by ``deg`` degrees about the unit vector ``about`` (Rodrigues)."""
    t = np.radians(deg)
    return (
        axis * np.cos(t)
        + np.cross(about, axis) * np.sin(t)
        + about * float(about @ axis) * (1.0 - np.cos(t))
    )


def _best_projection(
    vertebra: Mask,
    si_axis: NDArray[np.float64],
    cord: Mask | None,
    options: CanalOptions,
    level: str,
    source: str,
) -> ProjectedCanal | None:
    """Project along ``si_axis``; without a cord, also along nearby tilts, keep the widest."""

    points = vertebra.points_lps()

    def run(axis: NDArray[np.float64]) -> ProjectedCanal | None:
        return project_canal(
            vertebra, axis, cord=cord, options=options, level=level, axis_source=source,
            points_lps=points,
        )

    def area(result: ProjectedCanal | None) -> float:
        if result is None or result.method != METHOD_RING or result.bridged_gap_mm > 0:
            return -1.0
        return float(result.hole.sum())

    best = run(si_axis)
    if source == "cord" or options.axis_search_deg <= 0 or area(best) < 0:
        return best
    step = 0.5 * options.axis_search_deg
    frame = patient_frame(np.zeros(3), si_axis)
    for about in (frame.lr_axis, frame.ap_axis):
        centre = best.frame.si_axis if best is not None else si_axis
        for deg in (-2 * step, -step, step, 2 * step):
            candidate = run(_tilted(centre, about, deg))
            # A clear gain only: on coarse voxels the hole area jitters by a few pixels.
            if area(candidate) > _AXIS_GAIN * area(best):
                best = candidate
    if best is not None and best.frame.si_axis @ si_axis < np.cos(np.radians(1e-3)):
        best = ProjectedCanal(
            best.frame, best.hole, best.lr0_mm, best.ap0_mm, best.pixel_mm, best.si_range_mm,
            best.method, best.bridged_gap_mm, f"{source}, refined", best.wall_offset_mm,
        )
    return best


def _arch_estimate(
    projection: NDArray[np.bool_],
    max_radius: int,
    min_pixels: int,
    seed: NDArray[np.bool_] | None,
    lr0: float,
    pixel: float,
) -> NDArray[np.bool_] | None:
    from skimage.morphology import convex_hull_image

    closed = (
        ndimage.binary_closing(projection, structure=_disk(max_radius))
        if max_radius
        else projection
    )
    if not closed.any():
        return None
    concavity = convex_hull_image(closed) & ~closed
    concavity = ndimage.binary_opening(concavity, structure=_disk(1))
    labels, count = ndimage.label(concavity)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    if seed is not None and seed.any():
        hits = np.bincount(labels[seed], minlength=count + 1)
        hits[0] = 0
        if hits.max() > 0:
            return np.asarray(labels == int(np.argmax(hits)))
    # The canal is the concavity on the midline of the bone.
    midline_px = float(np.argwhere(closed)[:, 0].mean())
    best = None
    for component in range(1, count + 1):
        if sizes[component] < min_pixels:
            continue
        lr_centre = float(np.argwhere(labels == component)[:, 0].mean())
        if abs(lr_centre - midline_px) * pixel > 10.0:
            continue
        if best is None or sizes[component] > sizes[best]:
            best = component
    return None if best is None else np.asarray(labels == best)


def prism_box(projected: ProjectedCanal, grid: ImageGrid, extend_mm: float) -> BoundingBox:
    """The voxel box around the canal prism (a few percent of the vertebra's box)."""
    ij = np.argwhere(projected.hole)
    px = projected.pixel_mm
    lr0, ap0 = projected.lr0_mm, projected.ap0_mm
    lr = (lr0 + (ij[:, 0].min() - 1) * px, lr0 + (ij[:, 0].max() + 1) * px)
    ap = (ap0 + (ij[:, 1].min() - 1) * px, ap0 + (ij[:, 1].max() + 1) * px)
    si = (projected.si_range_mm[0] - extend_mm, projected.si_range_mm[1] + extend_mm)
    corners = np.array([[a, b, c] for a in lr for b in ap for c in si])
    ijk = grid.lps_to_index(projected.frame.to_lps(corners))
    start = np.clip(np.floor(ijk.min(axis=0)).astype(int) - 1, 0, np.asarray(grid.shape))
    stop = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 2, 0, np.asarray(grid.shape))
    stop = np.maximum(stop, start)
    return BoundingBox(
        (int(start[0]), int(start[1]), int(start[2])), (int(stop[0]), int(stop[1]), int(stop[2]))
    )


def _extrude(
    projected: ProjectedCanal, grid: ImageGrid, extend_mm: float
) -> tuple[BoundingBox, NDArray[np.bool_]]:
    """The canal prism, as a box of the grid and its contents."""
    box = prism_box(projected, grid, extend_mm)
    ijk = np.indices(box.shape).reshape(3, -1).T + np.asarray(box.start)
    local = projected.frame.to_local(grid.index_to_lps(ijk))
    low, high = projected.si_range_mm
    inside = (local[:, 2] >= low - extend_mm) & (local[:, 2] <= high + extend_mm)
    inside[inside] = projected.contains(local[inside])
    return box, inside.reshape(box.shape)


def _contoured_result(
    canal: Mask, vertebrae: Mapping[str, Mask], ordered: list[str]
) -> CanalResult:
    if canal.is_empty:
        raise AnatomyError("the contoured spinal canal is empty; expected a non-empty mask")
    centres = []
    axis = canal.grid.axis_of(2)[0]
    for level in ordered:
        box = vertebrae[level].box
        fitted = fit_axis_through_slices(canal, slice_range=(box.start[axis], box.stop[axis]))
        if fitted is not None:
            centres.append(fitted[0])
    return CanalResult(
        canal,
        METHOD_CONTOURED,
        dict.fromkeys(ordered, METHOD_CONTOURED),
        np.asarray(centres, dtype=np.float64).reshape(-1, 3),
    )


def derive_canal(
    vertebrae: Mapping[str, Mask],
    *,
    cord: Mask | None = None,
    contoured: Mask | None = None,
    levels: Collection[str] | None = None,
    options: CanalOptions = CanalOptions(),
) -> CanalResult:
    """The spinal canal at the given vertebrae.

    Parameters
    ----------
    vertebrae : mapping of str to Mask
        Level name -> vertebra mask, all on one grid. Neighbouring levels help to find the
        local SI direction even when only some levels are derived.
    cord : Mask, optional
        The spinal cord: it gives the SI direction where it runs through a vertebra and picks
        the canal among the holes of the projected ring.
    contoured : Mask, optional
        A contoured canal; when given it is used as is (method "contoured").
    levels : collection of str, optional
        The levels whose canal is derived (default: all).
    options : CanalOptions
        Tunables.

    Returns
    -------
    CanalResult
        The canal mask (every derived level's prism, extended ``extend_mm`` past the vertebra,
        minus every vertebra's bone), the method per level and the centreline.

    Raises
    ------
    AnatomyError
        When no vertebra is given, a vertebra is empty, or no canal can be found at a level.
    GeometryMismatchError
        When the masks are on different grids.
    """
    if not vertebrae:
        raise AnatomyError("no vertebra given; expected at least one vertebra mask")
    ordered = _sort_levels(list(vertebrae))
    grid = vertebrae[ordered[0]].grid
    for level in ordered:
        grid.require_same(vertebrae[level].grid, what=f"vertebra {level} and {ordered[0]}")
        if vertebrae[level].is_empty:
            raise AnatomyError(f"vertebra {level} is empty; expected a non-empty mask")
    if cord is not None:
        grid.require_same(cord.grid, what="spinal cord and vertebrae")
    wanted = ordered if levels is None else [lv for lv in ordered if lv in set(levels)]
    missing = set(levels or ()) - set(ordered)
    if missing:
        raise AnatomyError(f"levels {sorted(missing)} requested but no vertebra given for them")
    if contoured is not None:
        grid.require_same(contoured.grid, what="contoured spinal canal and vertebrae")
        return _contoured_result(contoured, vertebrae, wanted)

    per_level: dict[str, str] = {}
    bridged: dict[str, float] = {}
    sources: dict[str, str] = {}
    centres: list[NDArray[np.float64]] = []
    sections: dict[str, ProjectedCanal] = {}
    pieces: list[tuple[BoundingBox, NDArray[np.bool_]]] = []
    for level in wanted:
        vertebra = vertebrae[level]
        si_axis, source = _si_axis_estimate(level, vertebra, ordered, vertebrae, cord)
        projected = _best_projection(vertebra, si_axis, cord, options, level, source)
        if projected is None:
            projected = _cord_estimate(level, vertebra, si_axis, cord, options, source)
        sources[level] = source
        sections[level] = projected
    _refine_axes_from_canal(wanted, vertebrae, cord, options, sections, sources)
    for level in wanted:
        projected = sections[level]
        per_level[level] = projected.method
        bridged[level] = projected.bridged_gap_mm
        centres.append(projected.centre_lps())
        pieces.append(_extrude(projected, grid, options.extend_mm))

    union_box = pieces[0][0]
    for box, _ in pieces[1:]:
        union_box = union_box.union(box)
    canal = np.zeros(union_box.shape, dtype=bool)
    for box, piece in pieces:
        target = tuple(
            slice(a - b, c - b) for a, c, b in zip(box.start, box.stop, union_box.start)
        )
        canal[target] |= piece
    for level in ordered:
        canal &= ~vertebrae[level].in_box(union_box)
    methods = list(dict.fromkeys(per_level[level] for level in wanted))
    return CanalResult(
        Mask.from_box(grid, union_box, canal),
        "; ".join(methods),
        per_level,
        np.asarray(centres, dtype=np.float64).reshape(-1, 3),
        bridged,
        sources,
        sections,
    )


def _refine_axes_from_canal(
    wanted: list[str],
    vertebrae: Mapping[str, Mask],
    cord: Mask | None,
    options: CanalOptions,
    sections: dict[str, ProjectedCanal],
    sources: dict[str, str],
) -> None:
    """Second pass for the levels whose axis came from the neighbours' centroids.

    A vertebra's centroid lies off the canal by an amount that changes from level to level
    (body depth, spinous process), so the line through two centroids leans by a degree or two;
    the centres of the neighbours' canal cross-sections lie on the canal itself. Each such
    level is projected again along the line through its contiguous neighbours' canal centres
    (updates ``sections`` and ``sources`` in place).
    """
    rings = {
        level: sections[level].centre_lps()
        for level in wanted
        if sections[level].method in (METHOD_RING, METHOD_CORD_RING)
    }
    updates: dict[str, tuple[ProjectedCanal, str]] = {}
    for position, level in enumerate(wanted):
        if not sources[level].startswith("neighbours") or level not in rings:
            continue
        canonical = parse_level(level)
        if canonical is None:
            continue
        near: list[NDArray[np.float64] | None] = []
        for other_position in (position - 1, position + 1):
            other = wanted[other_position] if 0 <= other_position < len(wanted) else None
            other_canonical = parse_level(other) if other is not None else None
            contiguous = (
                other_canonical is not None
                and abs(level_order(other_canonical) - level_order(canonical)) == 1
            )
            near.append(rings.get(other) if contiguous and other is not None else None)
        above, below = near
        own = rings[level]
        if above is not None and below is not None:
            direction = above - below
        elif above is not None:
            direction = above - own
        elif below is not None:
            direction = own - below
        else:
            continue
        norm = float(np.linalg.norm(direction))
        if norm < 1e-6 or abs(direction[2]) / norm < np.cos(np.radians(60.0)):
            continue
        direction = direction / norm
        direction = direction if direction[2] > 0 else -direction
        source = "neighbouring canal centres"
        projected = _best_projection(vertebrae[level], direction, cord, options, level, source)
        if projected is not None and projected.method in (METHOD_RING, METHOD_CORD_RING):
            updates[level] = (projected, source)
    for level, (projected, source) in updates.items():
        sections[level] = projected
        sources[level] = source


def _cord_estimate(
    level: str,
    vertebra: Mask,
    si_axis: NDArray[np.float64],
    cord: Mask | None,
    options: CanalOptions,
    source: str,
) -> ProjectedCanal:
    """Last resort: the cord's projection at the vertebra, grown by ``cord_margin_mm``."""
    if cord is None or cord.is_empty:
        raise AnatomyError(
            f"vertebra {level}: no spinal canal found (the projected bony ring does not close "
            f"within a {options.max_gap_mm:g} mm gap and no midline concavity was found) and no "
            "SpinalCord to estimate it from; contour the canal or pass the cord"
        )
    spacing = sorted(vertebra.grid.spacing_mm)
    pixel = options.pixel_mm or spacing[1]
    frame = patient_frame(vertebra.centroid_lps(), si_axis)
    bone = frame.to_local(vertebra.points_lps())
    si_range = (float(bone[:, 2].min()), float(bone[:, 2].max()))
    cord_local = frame.to_local(_points_in_box(cord, _pad_box(vertebra, 0.0)))
    within = (cord_local[:, 2] >= si_range[0]) & (cord_local[:, 2] <= si_range[1])
    if not within.any():
        raise AnatomyError(
            f"vertebra {level}: no spinal canal found and the SpinalCord does not pass through it"
        )
    radius = int(np.ceil(options.cord_margin_mm / pixel))
    pad = radius + 2
    lr0 = float(cord_local[within, 0].min()) - pad * pixel
    ap0 = float(cord_local[within, 1].min()) - pad * pixel
    shape = (
        int(np.ceil((cord_local[within, 0].max() - lr0) / pixel)) + pad + 1,
        int(np.ceil((cord_local[within, 1].max() - ap0) / pixel)) + pad + 1,
    )
    seed = _rasterise(cord_local[within], lr0, ap0, pixel, shape)
    hole = ndimage.binary_dilation(seed, structure=_disk(radius)) if radius else seed
    hole &= ~_rasterise(bone, lr0, ap0, pixel, shape)
    return ProjectedCanal(
        frame, np.asarray(hole), lr0, ap0, pixel, si_range, METHOD_CORD, float("nan"), source
    )
