"""Sacral segments S1-S5, their compartments, the sacral canal and the sacral foramina.

The Dunne et al. consensus (Radiother Oncol 2020;145:21) contours per sacral segment: body (1),
left/right ala or lateral mass (2/6), left/right lamina or posterior elements (3/5), median
crest (4); the sacral canal and the foramina are separate structures. The segments are fused
(no disc between them), so they are cut along the sacrum's curved axis.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from spinetv.anatomy.canal import CanalOptions, CanalResult, derive_canal
from spinetv.anatomy.frame import local_frame
from spinetv.anatomy.levels import is_sacral, parse_level
from spinetv.anatomy.sectors import SectorOptions, VertebraSectors, label_sectors
from spinetv.errors import AnatomyError
from spinetv.geometry.mask import Mask

__all__ = [
    "SEGMENT_HEIGHTS_MM",
    "sacral_centreline",
    "split_sacrum",
    "derive_sacral_canal",
    "label_sacral_segment",
    "derive_sacral_foramina",
]

#: Typical heights of S1..S5 along the sacral axis, mm; the segments are cut in these
#: proportions (S1 is the tallest, S5 the shortest).
SEGMENT_HEIGHTS_MM: tuple[float, ...] = (28.0, 25.0, 22.0, 19.0, 16.0)
_STEP_MM = 0.5


def sacral_centreline(mask: Mask, *, smooth_mm: float = 6.0) -> NDArray[np.float64]:
    """The curved axis of a sacrum (or of its canal): the centroids of its axial slices.

    Parameters
    ----------
    mask : Mask
        Sacrum bone or sacral canal.
    smooth_mm : float
        Width of the running mean along the slices, mm.

    Returns
    -------
    ndarray, shape (n, 3)
        Points in LPS mm from superior to inferior, resampled every 0.5 mm of arc length.

    Notes
    -----
    The sacrum runs down and back monotonically, so each axial slice cuts it once; its slice
    centroids trace its curve (alae left and right balance out).
    """
    if mask.is_empty:
        raise AnatomyError("the sacrum mask is empty; expected its voxels")
    axis = mask.grid.axis_of(2)[0]
    ijk = np.argwhere(mask.box_array) + np.asarray(mask.box.start)
    slices, inverse, counts = np.unique(ijk[:, axis], return_inverse=True, return_counts=True)
    sums = np.zeros((slices.size, 3))
    np.add.at(sums, inverse, ijk.astype(np.float64))
    points = mask.grid.index_to_lps(sums / counts[:, None])
    points = points[np.argsort(-points[:, 2])]
    if points.shape[0] >= 3:
        spacing = float(np.median(np.abs(np.diff(points[:, 2])))) or 1.0
        size = max(1, int(round(smooth_mm / spacing)))
        if size > 1:
            points = ndimage.uniform_filter1d(points, size=size, axis=0, mode="nearest")
    if points.shape[0] < 2:
        return points
    segment = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(segment)])
    samples = np.arange(0.0, arc[-1] + 1e-9, _STEP_MM)
    return np.column_stack([np.interp(samples, arc, points[:, k]) for k in range(3)])


def _arc_length_of(points: NDArray[np.float64], line: NDArray[np.float64]) -> NDArray[np.float64]:
    """Arc length (mm) along ``line`` of the nearest line point to each point."""
    _, index = cKDTree(line).query(points)
    return np.asarray(index, dtype=np.float64) * _STEP_MM


def split_sacrum(
    sacrum: Mask,
    *,
    s1: Mask | None = None,
    canal: Mask | None = None,
    n_segments: int = 5,
) -> dict[str, Mask]:
    """Cut a sacrum into its segments along its curved axis.

    Parameters
    ----------
    sacrum : Mask
        The sacrum; when ``s1`` is given, the sacrum below S1 (as TotalSegmentator gives it).
    s1 : Mask, optional
        S1 contoured apart; it is kept as is (and removed from ``sacrum``) and the rest is cut
        into S2 .. S``n_segments``.
    canal : Mask, optional
        Sacral canal; its axis is used when it spans the sacrum, else the bone's.
    n_segments : int
        Number of segments, 1..5 (default 5; a sacrum of 4 segments exists).

    Returns
    -------
    dict of str to Mask
        "S1" .. "S<n>", top to bottom, partitioning the sacrum (and ``s1``).

    Notes
    -----
    Each voxel is carried to the nearest point of the centreline (slice centroids, smoothed),
    so the cuts are perpendicular to the curve, and the arc length the sacrum spans is cut in
    the proportions of :data:`SEGMENT_HEIGHTS_MM`. This ignores the individual anatomy (the
    remnant discs would give the true borders): the borders are approximate to a few mm.
    """
    if not 1 <= n_segments <= len(SEGMENT_HEIGHTS_MM):
        raise AnatomyError(f"n_segments must be 1..5, got {n_segments}")
    if sacrum.is_empty:
        raise AnatomyError("the sacrum mask is empty; expected its voxels")
    grid = sacrum.grid
    names = [f"S{k}" for k in range(1, n_segments + 1)]
    result: dict[str, Mask] = {}
    rest = sacrum
    if s1 is not None:
        grid.require_same(s1.grid, what="sacrum and S1")
        result["S1"] = s1
        box = rest.box
        rest = Mask.from_box(grid, box, rest.box_array & ~s1.in_box(box))
        names = names[1:]
        heights = SEGMENT_HEIGHTS_MM[1:n_segments]
    else:
        heights = SEGMENT_HEIGHTS_MM[:n_segments]
    if not names:
        return result
    if rest.is_empty:
        raise AnatomyError("nothing of the sacrum is left below S1; expected S2 and below")
    axis_source = rest
    if canal is not None and not canal.is_empty:
        grid.require_same(canal.grid, what="sacrum and sacral canal")
        # Only the canal within the sacrum's extent (a whole-spine canal would bend the axis).
        within = Mask.from_box(grid, rest.box, canal.in_box(rest.box))
        if not within.is_empty:
            axis_source = within
    line = sacral_centreline(axis_source)
    if line.shape[0] < 2:
        line = sacral_centreline(rest)
    ijk = np.argwhere(rest.box_array)
    arc = _arc_length_of(grid.index_to_lps(ijk + np.asarray(rest.box.start)), line)
    low, high = float(arc.min()), float(arc.max())
    fractions = np.cumsum(heights)[:-1] / float(np.sum(heights))
    cuts = low + fractions * (high - low)
    segment_of = np.searchsorted(cuts, arc, side="right")
    for number, name in enumerate(names):
        array = np.zeros(rest.box.shape, dtype=bool)
        chosen = ijk[segment_of == number]
        array[tuple(chosen.T)] = True
        result[name] = Mask.from_box(grid, rest.box, array)
    return result


def derive_sacral_canal(
    segments: Mapping[str, Mask],
    *,
    cord: Mask | None = None,
    contoured: Mask | None = None,
    neighbours: Mapping[str, Mask] | None = None,
    required: Collection[str] | None = None,
    options: CanalOptions = CanalOptions(),
) -> CanalResult:
    """The sacral canal through the given segments (ring closure per segment).

    Parameters
    ----------
    segments : mapping of str to Mask
        "S1".."S5" -> segment (see :func:`split_sacrum`).
    cord : Mask, optional
        Cord / thecal sac / cauda equina, to pick the hole.
    contoured : Mask, optional
        A contoured sacral canal, used as is.
    neighbours : mapping of str to Mask, optional
        Other vertebrae (L5...) that help find the SI direction of the upper segments.
    required : collection of str, optional
        Segments whose canal must be found (default all); the others are left out when it
        cannot be (see :func:`~spinetv.anatomy.canal.derive_canal`).
    options : CanalOptions
        Tunables (the sacral minimum area applies).

    Returns
    -------
    CanalResult
        For the sacral levels only (the neighbours inform the axes).
    """
    for name in segments:
        level = parse_level(name)
        if level is None or not is_sacral(level):
            raise AnatomyError(f"{name!r} is not a sacral segment; expected S1..S5")
    vertebrae = {**dict(neighbours or {}), **dict(segments)}
    return derive_canal(
        vertebrae,
        cord=cord,
        contoured=contoured,
        levels=list(segments),
        required=required,
        options=options,
    )


def label_sacral_segment(
    segment: Mask,
    *,
    level: str,
    canal: Mask | CanalResult | None = None,
    cord: Mask | None = None,
    neighbours: Mapping[str, Mask] | None = None,
    options: SectorOptions = SectorOptions(),
) -> VertebraSectors:
    """Compartments 1..6 of one sacral segment (1 body, 2/6 left/right ala, 3/5 left/right
    lamina, 4 median crest); see :mod:`spinetv.anatomy.sectors` for the rule.

    Raises
    ------
    AnatomyError
        When ``level`` is not S1..S5.
    """
    canonical = parse_level(level)
    if canonical is None or canonical == "Sacrum" or not is_sacral(canonical):
        raise AnatomyError(f"level {level!r} is not a sacral segment; expected S1..S5")
    return label_sectors(
        segment, canal=canal, cord=cord, level=canonical, neighbours=neighbours, options=options
    )


def derive_sacral_foramina(
    segments: Mapping[str, Mask],
    canal: Mask,
    *,
    closing_mm: float = 6.0,
) -> Mask:
    """The sacral foramina, approximately: gaps in the sacrum lateral to the canal.

    Parameters
    ----------
    segments : mapping of str to Mask
        The sacral segments (their union is the sacrum).
    canal : Mask
        The sacral canal.
    closing_mm : float
        Radius of the closing that fills the foramina (about the largest foramen radius).

    Returns
    -------
    Mask
        Voxels that the closing of the sacrum adds (not bone, not canal) and that lie lateral
        to the canal in the local frame of the segment nearest to them.

    Notes
    -----
    The foramina run from the canal between the bodies and the alae to the pelvic and dorsal
    surfaces; a closing of the bone fills these tunnels and small concavities alike, so the
    result is approximate (it may also hold surface notches lateral to the canal).
    """
    if not segments:
        raise AnatomyError("no sacral segment given; expected S1..S5 masks")
    masks = list(segments.values())
    grid = masks[0].grid
    box = masks[0].box
    for mask in masks[1:]:
        grid.require_same(mask.grid, what="sacral segments")
        box = box.union(mask.box)
    grid.require_same(canal.grid, what="sacral segments and canal")
    pad = grid.voxels_for_distance(closing_mm + 2.0)
    box = box.padded(pad, grid.shape)
    bone = np.zeros(box.shape, dtype=bool)
    owner = np.zeros(box.shape, dtype=np.int16)
    for index, mask in enumerate(masks):
        inside = mask.in_box(box)
        bone |= inside
        owner[inside] = index + 1
    radius = np.asarray(grid.voxels_for_distance(closing_mm))
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radius)]
    ball = sum((g * s / closing_mm) ** 2 for g, s in zip(grids, grid.spacing_mm)) <= 1.0
    closed = ndimage.binary_closing(bone, structure=ball)
    canal_box = canal.in_box(box)
    candidates = closed & ~bone & ~canal_box
    if not candidates.any():
        return Mask.empty(grid)
    # Each candidate voxel is judged in the frame of the nearest segment.
    _, nearest = ndimage.distance_transform_edt(owner == 0, return_indices=True)
    nearest_owner = owner[tuple(nearest)]
    keep = np.zeros(box.shape, dtype=bool)
    for index, mask in enumerate(masks):
        members = candidates & (nearest_owner == index + 1)
        if not members.any():
            continue
        try:
            frame = local_frame(mask, canal)
        except AnatomyError:
            continue
        ijk = np.argwhere(members) + np.asarray(box.start)
        local = frame.to_local(grid.index_to_lps(ijk))
        canal_local = frame.to_local(canal.points_lps())
        near = np.abs(canal_local[:, 2]) <= 20.0
        if not near.any():
            continue
        lr = canal_local[near, 0]
        lateral = (local[:, 0] > lr.max()) | (local[:, 0] < lr.min())
        chosen = ijk[lateral] - np.asarray(box.start)
        keep[tuple(chosen.T)] = True
    return Mask.from_box(grid, box, keep)
