"""Sacral segments S1-S5, their compartments, the sacral canal and the sacral foramina.

The Dunne et al. consensus (Radiother Oncol 2020;145:21) contours per sacral segment: body (1),
left/right ala or lateral mass (2/6), left/right lamina or posterior elements (3/5), median
crest (4); the sacral canal and the foramina are separate structures. The segments are fused
(no disc between them), so they are cut along the sacrum's curved axis.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinetv.anatomy.canal import CanalOptions, CanalResult, derive_canal
from spinetv.anatomy.frame import local_frame
from spinetv.anatomy.levels import is_sacral, parse_level
from spinetv.anatomy.sectors import SectorOptions, VertebraSectors, label_sectors
from spinetv.errors import AnatomyError
from spinetv.frozen import FrozenMap
from spinetv.geometry.mask import Mask

__all__ = [
    "SEGMENT_HEIGHTS_MM",
    "sacral_centreline",
    "split_sacrum",
    "split_sacrum_detailed",
    "SacralSplit",
    "derive_sacral_canal",
    "label_sacral_segment",
    "sacral_left_axis",
    "derive_sacral_foramina",
    "SacralBodyBorders",
    "sacral_body_borders",
]


def _kd_tree(points: NDArray[np.generic]) -> Any:
    """A k-d tree of points; scipy.spatial is imported here, on first use: it takes about
    0.1 s to import and only sacral cases need it."""
    from scipy.spatial import cKDTree

    return cKDTree(points)

#: Typical heights of S1..S5 along the sacral axis, mm; the segments are cut in these
#: proportions (S1 is the tallest, S5 the shortest).
SEGMENT_HEIGHTS_MM: tuple[float, ...] = (28.0, 25.0, 22.0, 19.0, 16.0)
#: A border between sacral segments at a row of foramina (see :func:`_foramen_rows`).
BORDER_FORAMINA = "foramina"
#: A border at a dip of the bone's cross-section along the axis (the waist of the fused disc).
BORDER_DIP = "cross-section dip"
#: A border where the typical segment heights put it: no anatomical mark was found.
BORDER_PROPORTIONAL = "proportional"
_STEP_MM = 0.5
#: Bone within this distance (mm) of the sacral axis counts as central (body, canal).
_CENTRAL_MM = 15.0
#: Bone of the sacrum this far (mm) or more above the cut below a given S1 joins S1.
_ABOVE_S1_MM = 3.0
#: Bin (mm of geodesic distance) of the central column's centroids that trace the axis.
_COLUMN_BIN_MM = 4.0


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

    Raises
    ------
    AnatomyError
        When ``mask`` is empty.

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
    return _resampled(points)


def _resampled(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """A polyline resampled every :data:`_STEP_MM` of its length (unchanged if < 2 points)."""
    if points.shape[0] < 2:
        return points
    segment = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(segment)])
    samples = np.arange(0.0, arc[-1] + 1e-9, _STEP_MM)
    return np.column_stack([np.interp(samples, arc, points[:, k]) for k in range(3)])


#: How the border below a given S1 was found (:attr:`SacralSplit.s1_border`).
S1_BORDER_FACE = "S1's lower face"
S1_BORDER_AXIS = "a plane normal to the sacral axis (S1's lower face could not be fitted)"


@dataclass(frozen=True, eq=False)
class SacralSplit:
    """A sacrum cut into its segments, and how.

    Parameters
    ----------
    segments : mapping of str to Mask
        "S1".. top to bottom (only the segments the sacrum holds); kept read-only.
    borders_mm : tuple of float
        Arc length (mm from the top of the part that was cut) of each cut, top to bottom.
    border_methods : tuple of str
        Per cut, "foramina" (at a dip of the bone's cross-section along the axis: the sacral
        foramina and the waist of the fused disc lie at the borders between segments) or
        "proportional" (no dip near the expected place: the cut keeps the typical
        proportions of :data:`SEGMENT_HEIGHTS_MM`).
    arc_length_mm : float
        Length of the part that was cut, along its axis, mm.
    truncated : str or None
        Why fewer than five segments were made (the sacrum reaches the image's edge, or it is
        shorter than a whole sacrum of its S1's size), or None.
    s1_border : str or None
        How the border below a given S1 was found: :data:`S1_BORDER_FACE` (S1's lower face,
        fitted where it rests on the sacrum) or :data:`S1_BORDER_AXIS` (a fallback: a plane
        normal to the traced axis, when S1 rests on too few faces to fit one); None when S1
        was not given apart.
    axes : mapping of str to ndarray, shape (2, 3)
        Per segment, the point of the traced axis (LPS mm) at the segment's middle and the
        axis' unit direction there (LPS, pointing down the sacrum); for a given S1, the top
        of the axis. Empty when no axis was traced (S1 alone). A canal carried from one
        segment to another follows the sacrum's curve along it (see
        :func:`~spinetv.anatomy.canal.derive_canal`).
    """

    segments: Mapping[str, Mask]
    borders_mm: tuple[float, ...]
    border_methods: tuple[str, ...]
    arc_length_mm: float
    truncated: str | None
    s1_border: str | None = None
    axes: Mapping[str, NDArray[np.float64]] = field(default_factory=FrozenMap)

    @property
    def s1_border_is_fallback(self) -> bool:
        """Whether the border below a given S1 is the fallback plane normal to the axis."""
        return self.s1_border == S1_BORDER_AXIS

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", FrozenMap(self.segments))
        object.__setattr__(self, "borders_mm", tuple(float(b) for b in self.borders_mm))
        object.__setattr__(self, "border_methods", tuple(self.border_methods))
        axes = {}
        for name, value in self.axes.items():
            array = np.array(value, dtype=np.float64).reshape(2, 3)
            array.setflags(write=False)
            axes[name] = array
        object.__setattr__(self, "axes", FrozenMap(axes))

    def describe(self) -> str:
        """One line for reports.

        Returns
        -------
        str
            The segments made and each cut's method and arc length (mm, whole), plus why the
            split was truncated, if it was.
        """
        cuts = ", ".join(
            f"{m} at {b:.0f} mm" for b, m in zip(self.borders_mm, self.border_methods)
        )
        text = f"sacrum cut into {', '.join(self.segments)} ({cuts or 'no cut'})"
        if self.s1_border is not None:
            text += f"; below S1 on {self.s1_border}"
        return text + (f"; {self.truncated}" if self.truncated else "")


def split_sacrum(
    sacrum: Mask,
    *,
    s1: Mask | None = None,
    canal: Mask | None = None,
    n_segments: int = 5,
) -> dict[str, Mask]:
    """Cut a sacrum into its segments along its curved axis (see :func:`split_sacrum_detailed`).

    Parameters
    ----------
    sacrum : Mask
        The sacrum; when ``s1`` is given, the sacrum below S1 (as TotalSegmentator gives it).
    s1 : Mask, optional
        S1 contoured apart; kept as S1, and the rest is cut into S2 .. S``n_segments``.
    canal : Mask, optional
        Sacral canal (not needed: the axis is found on the bone; kept for the signature).
    n_segments : int, default 5
        Largest number of segments, 1..5.

    Returns
    -------
    dict of str to Mask
        "S1" .. top to bottom, partitioning the sacrum (and ``s1``).

    Raises
    ------
    AnatomyError
        When ``n_segments`` is not 1..5 or the sacrum is empty.
    GeometryMismatchError
        When ``s1`` is on another grid than ``sacrum``.
    """
    return dict(split_sacrum_detailed(sacrum, s1=s1, canal=canal, n_segments=n_segments).segments)


def split_sacrum_detailed(
    sacrum: Mask,
    *,
    s1: Mask | None = None,
    canal: Mask | None = None,
    n_segments: int = 5,
) -> SacralSplit:
    """Cut a sacrum into its segments along its curved axis, where its anatomy puts the borders.

    Parameters
    ----------
    sacrum : Mask
        The sacrum; when ``s1`` is given, the sacrum below S1 (as TotalSegmentator gives it).
    s1 : Mask, optional
        S1 contoured apart; it is kept (and removed from ``sacrum``), with the bone of the
        sacrum lying at its level (its alae, which TotalSegmentator's ``vertebrae_S1`` leaves
        in ``sacrum``), and the rest is cut into S2 .. S``n_segments``.
    canal : Mask, optional
        Sacral canal (not needed: the axis is found on the bone; kept for the signature).
    n_segments : int
        Largest number of segments, 1..5 (default 5).

    Returns
    -------
    SacralSplit

    Raises
    ------
    AnatomyError
        When ``n_segments`` is not 1..5 or the sacrum is empty.
    GeometryMismatchError
        When ``s1`` is on another grid than ``sacrum``.

    Notes
    -----
    The axis is traced through the sacrum's central column (see :func:`_column_centreline`),
    so a sacrum turning by 60-90 degrees is followed, and each voxel is carried onto it
    perpendicularly (arc length along it), from its projection on the sacrum's mid-sagittal
    plane (see :func:`_onto_midplane`): the cut planes hold the sacrum's own LR axis, and
    both alae of a segment fall in it. For a whole sacrum the cut below
    S1 is normal to the axis at S2's lower border (see :func:`_recut_below_s1`). The fused
    segments show no disc, but the sacral foramina and the waist of the fused disc lie at
    their borders: the bone's cross-section along the axis dips there. Walking down from the
    top (or from the cut below a given S1), each border is looked for around where the
    typical heights of
    :data:`SEGMENT_HEIGHTS_MM` (scaled by the segments already found between two dips) put
    it, and taken at the deepest dip there; where there is none, it stays where the
    proportions put it ("proportional"). A sacrum shorter than the segments it should hold
    (cut by the image, or contoured only in part) keeps only the segments it reaches; the
    last one may be partial and ``truncated`` says so.
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
        return SacralSplit(result, (), (), 0.0, None)
    if rest.is_empty:
        raise AnatomyError("nothing of the sacrum is left below S1; expected S2 and below")
    line = _column_centreline(rest, s1)
    rest_points = rest.points_lps()
    s1_points = None if s1 is None else s1.points_lps()
    arc_rest = _arc_coordinate(rest_points, line)
    if s1_points is not None:
        arc_s1 = _arc_coordinate(s1_points, line)
        # The cut below S1 is oblique to the axis: between S1's lowest and the rest's highest.
        origin = 0.5 * (float(np.percentile(arc_s1, 98)) + float(np.percentile(arc_rest, 2)))
    else:
        origin = float(np.percentile(arc_rest, 1))
    arc = arc_rest - origin
    length = float(np.percentile(arc, 99.5))
    at_edge = _touches_inferior_edge(rest)
    dips = [d for d in _cross_section_dips(arc) if 4.0 <= d[0] <= length - 4.0]
    # The borders are placed on the profile along the axis; the voxels are then assigned on
    # planes holding the sacrum's own LR axis (see :func:`_onto_midplane`).
    lr_axis, mid_point = _bilateral_axis(
        rest_points if s1_points is None else np.concatenate([rest_points, s1_points])
    )
    on_midplane = _onto_midplane(rest_points, lr_axis, mid_point)
    arc = _arc_coordinate(on_midplane, line) - origin
    lateral = (rest_points - mid_point) @ lr_axis
    holes = [h for h in _foramen_rows(arc, lateral) if 4.0 <= h[0] <= length - 4.0]
    cuts, methods = _place_cuts(
        length, np.asarray(heights, dtype=np.float64), holes, dips, starts_with_s1=s1 is None
    )
    count = len(cuts) + 1
    truncated: str | None = None
    if count < len(names) or at_edge:
        cause = (
            "it reaches the image's inferior edge"
            if at_edge
            else "no room for another segment below"
        )
        truncated = (
            f"the sacrum below {'S1' if s1 is not None else 'its top'} spans {length:.0f} mm "
            f"along its axis and ends within {names[count - 1]} ({cause}): only "
            f"{', '.join(names[:count])} are made, and {names[count - 1]} may be partial"
        )
    segment_of = np.searchsorted(np.asarray(cuts), arc, side="right")
    if s1 is None and len(cuts) >= 2:
        # The axis of a whole sacrum is traced from its top corner and bends over S1 (see
        # :func:`_column_centreline`): the cut below S1 is normal to the axis at S2's lower
        # border instead, set through the point of the axis where the cut falls.
        segment_of = _recut_below_s1(segment_of, on_midplane, line, origin, cuts)
    ijk = np.argwhere(rest.box_array)
    s1_border: str | None = None
    if s1 is not None:
        # Bone of the sacrum clearly above S1's lower face lies at S1's level: its alae,
        # which TotalSegmentator leaves in its sacrum label (vertebrae_S1 is the body and
        # arch). It joins S1. The face is the plane fitted to where S1 rests on the sacrum;
        # a plane normal to the axis instead tilts by the axis' error (7-10 degrees), and
        # across a 50 mm body that put 650 voxels of S2's body into S1.
        face = _s1_lower_face(s1, rest, line, lr_axis)
        s1_border = S1_BORDER_AXIS if face is None else S1_BORDER_FACE
        if face is None:
            above = arc < -_ABOVE_S1_MM
        else:
            point, normal = face
            above = (rest_points - point) @ normal < -_ABOVE_S1_MM
        if above.any():
            union_box = s1.box.union(rest.box)
            array = s1.in_box(union_box)
            chosen = ijk[above] + np.asarray(rest.box.start) - np.asarray(union_box.start)
            array[tuple(chosen.T)] = True
            result["S1"] = Mask.from_box(grid, union_box, array)
        segment_of = np.where(above, -1, segment_of)
    for number, name in enumerate(names[:count]):
        array = np.zeros(rest.box.shape, dtype=bool)
        chosen = ijk[segment_of == number]
        array[tuple(chosen.T)] = True
        result[name] = Mask.from_box(grid, rest.box, array)
    axes = _segment_axes(line, origin, cuts, length, names[:count])
    if s1 is not None:
        axes["S1"] = _axis_at(line, 0.0)
    return SacralSplit(result, tuple(cuts), tuple(methods), length, truncated, s1_border, axes)


def _axis_at(line: NDArray[np.float64], arc_mm: float) -> NDArray[np.float64]:
    """The point of ``line`` at ``arc_mm`` (from its start; clipped to it) and its unit
    direction there, stacked (2, 3)."""
    index = int(np.clip(round(arc_mm / _STEP_MM), 0, line.shape[0] - 1))
    tangent = np.gradient(line, axis=0)[index] if line.shape[0] > 1 else np.array([0, 0, -1.0])
    return np.stack([line[index], tangent / np.linalg.norm(tangent)])


def _segment_axes(
    line: NDArray[np.float64],
    origin: float,
    cuts: list[float],
    length: float,
    names: list[str],
) -> dict[str, NDArray[np.float64]]:
    """Per segment, :func:`_axis_at` the middle of its span along the axis (cuts and
    ``length`` in arc mm from ``origin``)."""
    edges = [0.0, *cuts, length]
    return {
        name: _axis_at(line, origin + 0.5 * (edges[k] + edges[k + 1]))
        for k, name in enumerate(names)
    }


def _s1_lower_face(
    s1: Mask, rest: Mask, line: NDArray[np.float64], lr_axis: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """The plane where a given S1 rests on the sacrum below it: a point and its unit normal
    (LPS mm), pointing down the sacrum; None when the contact is too small to fit.

    The plane holds the sacrum's own left axis ``lr_axis`` (unit, LPS), as every cut does
    (see :func:`_onto_midplane`): fitted freely to the real CT's contact it leaned 8.5
    degrees to one side, which over alae 45 mm long put one ala in S1 and the other in S2.

    The contact is the set of voxel faces between S1 and the sacrum facing down the axis
    (their normal within 70 degrees of the axis at its top): the faces beside S1, where
    TotalSegmentator's sacrum holds S1's alae, face left or right and are left out. The
    plane is fitted by least squares, twice, the second time without faces more than
    :data:`_FACE_OUTLIER_MM` off the first.
    """
    grid = s1.grid
    box = s1.box.union(rest.box).padded((1, 1, 1), grid.shape)
    upper = s1.in_box(box)
    lower = rest.in_box(box)
    down = line[min(4, line.shape[0] - 1)] - line[0]
    if not np.linalg.norm(down) > 0:
        return None
    down = down / np.linalg.norm(down)
    steps = grid.direction * np.asarray(grid.spacing_mm)[None, :]
    centres: list[NDArray[np.float64]] = []
    for axis in range(3):
        for sign in (1, -1):
            step_lps = sign * steps[:, axis]
            if step_lps @ down / np.linalg.norm(step_lps) < _FACE_MIN_COSINE:
                continue
            neighbour = np.roll(lower, -sign, axis=axis)
            ijk = np.argwhere(upper & neighbour).astype(np.float64)
            ijk[:, axis] += 0.5 * sign
            centres.append(grid.index_to_lps(ijk + np.asarray(box.start)))
    faces = np.concatenate(centres) if centres else np.empty((0, 3))
    if faces.shape[0] < _FACE_MIN_COUNT:
        return None
    # The plane's in-plane directions are lr_axis and one in the sagittal plane: fit a line
    # to the faces seen along lr_axis.
    sagittal = np.linalg.svd(np.eye(3) - np.outer(lr_axis, lr_axis))[0][:, :2]
    keep = np.ones(faces.shape[0], dtype=bool)
    for _ in range(2):
        point = faces[keep].mean(axis=0)
        flat = (faces[keep] - point) @ sagittal
        normal = sagittal @ np.linalg.svd(flat, full_matrices=False)[2][1]
        normal = normal if normal @ down >= 0 else -normal
        keep = np.abs((faces - point) @ normal) <= _FACE_OUTLIER_MM
        if keep.sum() < _FACE_MIN_COUNT:
            return None
    if normal @ down < _FACE_MIN_COSINE:
        return None
    return faces[keep].mean(axis=0), normal


#: Fewest contact faces between a given S1 and the sacrum to fit S1's lower face to.
_FACE_MIN_COUNT = 30
#: Contact faces (and the fitted face) within 70 degrees of the sacral axis count as S1's
#: lower face.
_FACE_MIN_COSINE = 0.34
#: Faces this far (mm) off the first fit are left out of the second.
_FACE_OUTLIER_MM = 4.0


def _place_cuts(
    length: float,
    heights: NDArray[np.float64],
    holes: list[tuple[float, float]],
    dips: list[tuple[float, float]],
    *,
    starts_with_s1: bool,
) -> tuple[list[float], list[str]]:
    """Cuts between segments from the top (arc mm) and how each was placed.

    Walking down, the next border is expected one typical segment height below the last
    cut (the heights scaled by the last segment found between two anatomical borders: sacra
    differ in size; S1 does not set the scale, its superior articular processes and oblique
    top make it look taller along the axis). From 40% of a segment above to 45% of the next
    one below it, the deepest row of foramina (``holes``, see :func:`_foramen_rows`) is
    taken, else the deepest dip of the cross-section (``dips``, see
    :func:`_cross_section_dips`), else the expected place. No cut is made where less than
    half of the next segment would remain (a third where the anatomy marks the border): a
    sacrum cut short keeps only the segments it reaches.
    """
    cuts: list[float] = []
    methods: list[str] = []
    position = 0.0
    scale = 1.0
    for k in range(heights.size - 1):
        expected, following = heights[k] * scale, heights[k + 1] * scale
        guess = position + expected
        room = guess <= length - 0.5 * following
        last = length - (0.5 if room else 0.35) * following
        window = (guess - 0.4 * expected, min(guess + 0.45 * following, last))
        found = [
            ([d for d in marks if window[0] <= d[0] <= window[1] and d[0] > position + 3.0], name)
            for marks, name in ((holes, BORDER_FORAMINA), (dips, BORDER_DIP))
        ]
        inside, method = next(((f, n) for f, n in found if f), ([], BORDER_PROPORTIONAL))
        if not room and not inside:
            break
        if inside:
            cut = min(inside, key=lambda d: d[1])[0]
            # The segment just cut is bounded by two anatomical borders: it sets the scale.
            top_is_anatomical = (
                methods[-1] != BORDER_PROPORTIONAL if k > 0 else not starts_with_s1
            )
            if top_is_anatomical:
                scale = (cut - position) / heights[k]
        else:
            cut = guess
        methods.append(method)
        cuts.append(cut)
        position = cut
    return cuts, methods


def _foramen_rows(
    arc_mm: NDArray[np.float64],
    lateral_mm: NDArray[np.float64],
    *,
    bin_mm: float = 0.5,
) -> list[tuple[float, float]]:
    """Where holes cross the sacrum's lateral parts along its axis: the sacral foramina.

    The bone is counted in bands :data:`_HOLE_BAND_MM` wide across the sacrum (by
    ``lateral_mm``, its offset along the sacrum's own LR axis) and 0.5 mm along it (by
    ``arc_mm``), smoothed over 1.5 mm along it. A band's count at a row, against the lesser
    of its fullest rows within :data:`_HOLE_REACH_MM` above and below, is its hole depth
    there: bone above and below, none between, is a foramen. The profile's depth at a row is
    the deepest of its bands (bands whose bone above and below holds less than
    :data:`_HOLE_MIN_SUPPORT` of their fullest row left out: the edges of the bone).

    Returns
    -------
    list of (float, float)
        (arc mm, depth ratio) of each local minimum of that profile below
        :data:`_FORAMEN_MAX_DEPTH`.

    Notes
    -----
    The whole cross-section dips by 8-35% at a row of foramina, which is little above the
    aliasing of the voxel lattice (rows of a 1.5 mm lattice, cut obliquely, swing by 30%):
    the dip of the whole section, against its smoothed trend, fell 2-7 mm from the border on
    phantom sacra. Band by band the foramen empties its band (depth 0.01-0.2), the lattice
    swings every band alike, and the row falls within 1 mm of the border.
    """
    if arc_mm.size == 0:
        return []
    reach = int(round(_HOLE_REACH_MM / bin_mm))
    arc_edges = np.arange(
        float(arc_mm.min()) - _HOLE_REACH_MM,
        float(arc_mm.max()) + _HOLE_REACH_MM + bin_mm,
        bin_mm,
    )
    span = float(np.abs(lateral_mm).max()) + _HOLE_BAND_MM
    band_edges = np.arange(-span, span + _HOLE_BAND_MM, _HOLE_BAND_MM)
    count = np.histogram2d(arc_mm, lateral_mm, bins=[arc_edges, band_edges])[0]
    count = ndimage.gaussian_filter1d(count, 1.5 / bin_mm, axis=0, mode="constant")
    above = ndimage.maximum_filter1d(count, reach + 1, axis=0, origin=reach // 2, mode="constant")
    below = ndimage.maximum_filter1d(
        count, reach + 1, axis=0, origin=-(reach // 2), mode="constant"
    )
    support = np.minimum(above, below)
    counted = support > _HOLE_MIN_SUPPORT * count.max(axis=0, keepdims=True)
    depth = np.where(counted, count / np.maximum(support, 1e-9), 1.0).min(axis=1)
    return _local_minima(0.5 * (arc_edges[:-1] + arc_edges[1:]), depth, _FORAMEN_MAX_DEPTH)


def _local_minima(
    centres: NDArray[np.float64], profile: NDArray[np.float64], below: float
) -> list[tuple[float, float]]:
    """(centre, value) of each local minimum of ``profile`` (the first of a flat run, ends
    excluded) whose value is below ``below``."""
    return [
        (float(centres[i]), float(profile[i]))
        for i in range(1, profile.size - 1)
        if profile[i] <= profile[i - 1] and profile[i] < profile[i + 1] and profile[i] < below
    ]


#: Width (mm) of the bands across the sacrum in which foramina are looked for.
_HOLE_BAND_MM = 3.0
#: How far (mm) above and below a row the bone around a foramen is looked for.
_HOLE_REACH_MM = 8.0
#: A band counts only where the bone above and below holds this share of its fullest row.
_HOLE_MIN_SUPPORT = 0.15
#: A row of foramina empties a band to below this share of the bone above and below it.
_FORAMEN_MAX_DEPTH = 0.3


def _column_centreline(rest: Mask, s1: Mask | None) -> NDArray[np.float64]:
    """The sacrum's curved axis, top to bottom, every 0.5 mm (LPS mm).

    The central column is the bone within :data:`_CENTRAL_MM` of the sacrum's mid-sagittal
    plane (bodies, canal walls, crest): a curved tube. The geodesic distance through it, from
    the bone touching S1 (else from its top), orders it however far it turns (a kyphotic
    sacrum turns by 60-90 degrees, and the coccyx may hang straight down); the centroids of
    its voxels binned by that distance (4 mm bins) trace the axis. Cuts are then made
    perpendicular to this axis (see :func:`_arc_coordinate`).
    """
    from skimage.graph import MCP_Geometric

    grid = rest.grid
    box = rest.box.padded((1, 1, 1), grid.shape)
    bone = rest.in_box(box)
    ijk = np.argwhere(bone)
    points = grid.index_to_lps(ijk + np.asarray(box.start))
    midline = float(np.median(points[:, 0]))
    near = np.abs(points[:, 0] - midline) <= _CENTRAL_MM
    central = np.zeros(box.shape, dtype=bool)
    central[tuple(ijk[near].T)] = True
    seeds = np.empty((0, 3), dtype=np.int64)
    if s1 is not None:
        touching = ndimage.binary_dilation(s1.in_box(box), structure=np.ones((3, 3, 3), bool))
        seeds = np.argwhere(touching & central)
    if seeds.shape[0] == 0:
        z = points[near, 2]
        seeds = ijk[near][z >= float(z.max()) - 2.0 * max(grid.spacing_mm)]
    costs = np.where(central, 1.0, np.inf)
    finder = MCP_Geometric(costs, sampling=tuple(float(v) for v in grid.spacing_mm))
    cumulative, _ = finder.find_costs([tuple(int(v) for v in seed) for seed in seeds])
    column = ijk[near]
    distance = cumulative[tuple(column.T)]
    finite = np.isfinite(distance)
    if finite.sum() < 2:
        raise AnatomyError("the sacrum has no central column to follow; check its contour")
    column_points = points[near][finite]
    distance = distance[finite]
    index = (distance // _COLUMN_BIN_MM).astype(np.int64)
    counts = np.bincount(index).astype(np.float64)
    sums = np.stack([np.bincount(index, weights=column_points[:, k]) for k in range(3)], axis=1)
    keep = counts > 0
    centres = sums[keep] / counts[keep, None]
    if s1 is None and centres.shape[0] > _AXIS_DEGREE + 2:
        # Seeded at the top voxels of a whole sacrum (a corner of its oblique top), the
        # shells of equal geodesic distance are round, split by the canal into body and arch,
        # and their centroids wander by several mm over S1-S2; the axis is a smooth curve, so
        # a low-degree fit keeps it. From S1's contact face the shells are near slabs.
        bins = np.flatnonzero(keep).astype(np.float64)
        fits = [
            np.polynomial.Polynomial.fit(bins, centres[:, k], _AXIS_DEGREE, w=np.sqrt(counts[keep]))
            for k in range(3)
        ]
        dense = np.linspace(bins[0], bins[-1], 4 * bins.size)
        centres = np.column_stack([fit(dense) for fit in fits])
    elif centres.shape[0] >= 3:
        centres = ndimage.uniform_filter1d(centres, size=3, axis=0, mode="nearest")
    return _resampled(centres)


#: Degree of the polynomial (per coordinate, in geodesic distance) fitted as the axis of a
#: whole sacrum (no S1 given apart).
_AXIS_DEGREE = 3


def sacral_left_axis(segments: Mapping[str, Mask]) -> NDArray[np.float64]:
    """The sacrum's own left axis: the normal of its mid-sagittal plane, towards patient left.

    The whole bone (every segment given, with S1) is halved by its mid-sagittal plane and the
    axis taken between the halves' centroids, refined a few times (see
    :func:`split_sacrum_detailed`, which cuts the segments on planes holding this axis).

    Parameters
    ----------
    segments : mapping of str to Mask
        The sacral segments (or the sacrum and S1), on one grid.

    Returns
    -------
    ndarray, shape (3,)
        Unit vector, LPS.

    Raises
    ------
    AnatomyError
        When every mask is empty.
    """
    masks = [m for m in segments.values() if not m.is_empty]
    if not masks:
        raise AnatomyError("sacrum: no bone given; cannot find its left axis")
    points = np.concatenate([m.points_lps() for m in masks])
    return _bilateral_axis(points)[0]


def _bilateral_axis(
    bone_lps: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The sacrum's own left-right axis (unit, LPS) and a point of its mid-sagittal plane.

    The sacrum is bilaterally symmetric: the line between the centroids of its left and its
    right half is normal to its mid-sagittal plane. Starting from the image's LR axis, the
    bone is split by the plane through its centroid normal to the current axis, and the axis
    is taken again between the halves' centroids (:data:`_BILATERAL_ITERATIONS` times), so
    that a pelvis rotated or tilted in the image is followed. Bone within
    :data:`_BILATERAL_MARGIN_MM` of that plane is left out: the midline column, halved by a
    plane tilted ever so slightly, would tilt the next axis further.

    Parameters
    ----------
    bone_lps : ndarray, shape (n, 3)
        Voxel centres of the sacrum (with S1), LPS mm.
    """
    points = bone_lps
    centroid = points.mean(axis=0)
    axis = np.array([1.0, 0.0, 0.0])
    centred = points - centroid
    for _ in range(_BILATERAL_ITERATIONS):
        offset = centred @ axis
        left = (offset > _BILATERAL_MARGIN_MM).astype(np.float64)
        right = (offset < -_BILATERAL_MARGIN_MM).astype(np.float64)
        n_left, n_right = float(left.sum()), float(right.sum())
        if n_left == 0.0 or n_right == 0.0:
            break
        between = (left @ centred) / n_left - (right @ centred) / n_right
        norm = float(np.linalg.norm(between))
        if norm == 0.0:
            break
        previous, axis = axis, between / norm
        if float(np.abs(axis - previous).max()) < 1e-6:
            break
    return axis, centroid


#: Refinements of the sacrum's own left-right axis (see :func:`_bilateral_axis`).
_BILATERAL_ITERATIONS = 4
#: Bone this close (mm) to the current mid-sagittal plane does not weigh on the LR axis.
_BILATERAL_MARGIN_MM = 10.0


def _onto_midplane(
    points: NDArray[np.float64], lr_axis: NDArray[np.float64], mid_point: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Points moved along ``lr_axis`` onto the mid-sagittal plane through ``mid_point``.

    A voxel's arc length is taken at its projection: every cut plane then holds the sacrum's
    own LR axis, and both alae of a segment fall in it. Carried onto the axis from where it
    lies, a voxel 50 mm lateral goes to the axis point nearest to its own side: the axis
    wanders a few mm left and right along the sacrum (3 mm on the real CT), which moves that
    point along the axis by several mm, up for one ala and down for the other (the left ala
    of the real CT's S1 went to S2). The sacrum's own LR axis also follows a pelvis rotated
    in the image."""
    offset = (points - mid_point) @ lr_axis
    return points - offset[:, None] * lr_axis[None, :]


def _arc_coordinate(points: NDArray[np.float64], line: NDArray[np.float64]) -> NDArray[np.float64]:
    """Arc length (mm) of each point along ``line``: the nearest line point, plus the offset
    along the local tangent (so voxels do not snap to the 0.5 mm line samples, and the cuts
    are perpendicular to the axis); beyond the ends the line runs on straight."""
    if line.shape[0] < 2:
        return np.zeros(points.shape[0])
    _, index = _kd_tree(line).query(points)
    tangent = np.gradient(line, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    offset = np.einsum("ij,ij->i", points - line[index], tangent[index])
    return np.asarray(index, dtype=np.float64) * _STEP_MM + offset


def _recut_below_s1(
    segment_of: NDArray[np.int64],
    points: NDArray[np.float64],
    line: NDArray[np.float64],
    origin: float,
    cuts: list[float],
) -> NDArray[np.int64]:
    """``segment_of`` with S1 (0) and S2 (1) parted by a plane normal to the axis at the
    second cut (S2's lower border), through the axis point at the first cut (arc mm from
    ``origin``), or up to :data:`_RECUT_SEARCH_MM` above it where the cross-section taken
    along that normal dips.

    The first cut stands at a dip of the cross-section taken along the axis, and the axis of
    a whole sacrum, traced from its top, turns toward the promontory over S1: its planes
    cross the border obliquely, and the dip they find lies at or below it (0-3.9 mm below on
    eight phantom sacra tilted 0-60 degrees, never above). The trace still bends over S2's
    upper half; at S2's lower border it is clear of that bend. Its normal there crosses the
    S1/S2 border nearer parallel than the normal at S2's middle, the previous choice:
    - on 12 phantom sacra tilted 30-60 degrees, S2's body Dice was at least 0.875 and 0.919
      on average; it is now at least 0.920 and 0.952 on average;
    - on the real CT's sacrum with its S1 merged in, the share of TotalSegmentator's S1 kept
      in S1 rose from 0.898 to 0.943;
    - on 8 phantom sacra tilted 0-20 degrees, it is mixed (S2 body 0.866-0.957, was
      0.879-0.946).
    The dip along this normal lies as often below the border as above: the plane moves up to
    it only, never down."""
    tangent = np.gradient(line, axis=0)
    at = [int(np.clip(round((origin + c) / _STEP_MM), 0, line.shape[0] - 1)) for c in cuts[:2]]
    normal = tangent[at[1]] / np.linalg.norm(tangent[at[1]])
    height = (points - line[at[0]]) @ normal
    shift, depth = _deepest_notch(height, _RECUT_SEARCH_MM)
    below = height >= (min(shift, 0.0) if depth < _DIP_MAX_RATIO else 0.0)
    top_two = segment_of <= 1
    return np.where(top_two, below.astype(np.int64), segment_of)


def _deepest_notch(
    height: NDArray[np.float64], reach_mm: float, bin_mm: float = 0.5
) -> tuple[float, float]:
    """Where the bone's cross-section along ``height`` dips deepest below the line joining
    its highest points above and below: (position mm, within ``reach_mm`` of 0; the area's
    ratio to that line there), or (0.0, 1.0) without a dip.

    Measured against that line rather than a smoothed trend, the dip of the foramina is not
    pulled toward the smaller segment by the step of the cross-section between segments
    (1-2 mm on the phantom sacra)."""
    edges = np.arange(-2.0 * reach_mm, 2.0 * reach_mm + bin_mm, bin_mm)
    area = ndimage.gaussian_filter1d(
        np.histogram(height, edges)[0].astype(np.float64), 1.5 / bin_mm, mode="nearest"
    )
    centres = 0.5 * (edges[:-1] + edges[1:])
    best, depth = 0.0, 1.0
    for i in np.flatnonzero(np.abs(centres) <= reach_mm):
        left = int(area[: i + 1].argmax())
        right = i + int(area[i:].argmax())
        if left == i or right == i:
            continue
        span = centres[right] - centres[left]
        base = area[left] + (area[right] - area[left]) * (centres[i] - centres[left]) / span
        if area[i] < depth * base:
            best, depth = float(centres[i]), float(area[i] / base)
    return best, depth


#: A dip (or notch) of the cross-section counts when the area there is below this share of
#: its trend (or of the line over it): 8% or more below.
_DIP_MAX_RATIO = 0.92
#: How far (mm) from the first cut the cut below S1 of a whole sacrum may move to the dip of
#: the cross-section taken along its own normal.
_RECUT_SEARCH_MM = 6.0


def _touches_inferior_edge(mask: Mask) -> bool:
    """Whether the mask reaches the image's first or last plane along the axis nearest SI,
    at its inferior end."""
    axis, sign = mask.grid.axis_of(2)
    inferior_at_start = sign > 0
    if inferior_at_start:
        return mask.box.start[axis] == 0
    return mask.box.stop[axis] == mask.grid.shape[axis]


def _cross_section_dips(
    arc_mm: NDArray[np.float64], *, bin_mm: float = 0.5
) -> list[tuple[float, float]]:
    """Where the bone's cross-section along the axis dips: (arc mm, depth ratio) of each local
    minimum of the area profile (smoothed over 1.5 mm) against its trend (over 8 mm) that
    lies at least 8% below it."""
    bins = np.arange(0.0, float(arc_mm.max()) + 2 * bin_mm, bin_mm)
    area = np.histogram(arc_mm, bins)[0].astype(np.float64)
    smooth = ndimage.gaussian_filter1d(area, 1.5 / bin_mm, mode="nearest")
    trend = ndimage.gaussian_filter1d(area, 8.0 / bin_mm, mode="nearest")
    ratio = np.where(trend > 0, smooth / np.maximum(trend, 1e-9), 1.0)
    return _local_minima(0.5 * (bins[:-1] + bins[1:]), ratio, _DIP_MAX_RATIO)


def derive_sacral_canal(
    segments: Mapping[str, Mask],
    *,
    cord: Mask | None = None,
    contoured: Mask | None = None,
    neighbours: Mapping[str, Mask] | None = None,
    required: Collection[str] | None = None,
    options: CanalOptions = CanalOptions(),
    axes: Mapping[str, NDArray[np.float64]] | None = None,
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
    axes : mapping of str to ndarray (2, 3), optional
        The sacrum's traced axis per segment (:attr:`SacralSplit.axes`): a canal carried
        from a closed segment to an open one follows it (default: carried straight).

    Returns
    -------
    CanalResult
        For the sacral levels only (the neighbours inform the axes).

    Raises
    ------
    AnatomyError
        When a key of ``segments`` is not S1..S5, or (from
        :func:`~spinetv.anatomy.canal.derive_canal`) a segment is empty, an entry of
        ``axes`` is not a finite point and a non-zero direction, or no canal can be found at
        a required segment.
    GeometryMismatchError
        When the masks are on different grids.
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
        sacral_axes=axes,
    )


def label_sacral_segment(
    segment: Mask,
    *,
    level: str,
    canal: Mask | CanalResult | None = None,
    cord: Mask | None = None,
    neighbours: Mapping[str, Mask] | None = None,
    options: SectorOptions = SectorOptions(),
    left_axis: NDArray[np.float64] | None = None,
) -> VertebraSectors:
    """Compartments 1..6 of one sacral segment (1 body, 2/6 left/right ala, 3/5 left/right
    lamina, 4 median crest); see :mod:`spinetv.anatomy.sectors` for the rule.

    Parameters
    ----------
    segment : Mask
        The sacral segment's bone.
    level : str
        Its level, S1..S5 (any spelling :func:`parse_level` accepts, such as "Vertebra_S2").
    canal : Mask or CanalResult, optional
        The sacral canal (contoured, or from :func:`derive_canal`); derived when absent.
    cord : Mask, optional
        Spinal cord, used only to derive the canal.
    neighbours : mapping of str to Mask, optional
        Neighbouring segments or vertebrae by level name (for the canal's SI direction).
    options : SectorOptions
        Tunables (default ``SectorOptions()``).
    left_axis : ndarray, shape (3,), optional
        The sacrum's own left axis (:func:`sacral_left_axis` of every segment), onto which
        the segment's frame is turned; None keeps the segment's own.

    Returns
    -------
    VertebraSectors
        Labels 1..6 exactly on the segment's voxels.

    Raises
    ------
    AnatomyError
        When ``level`` is not S1..S5, or (from :func:`label_sectors`) the segment is empty or
        no canal can be found at its height.
    GeometryMismatchError
        When the masks are on different grids.
    """
    canonical = parse_level(level)
    if canonical is None or canonical == "Sacrum" or not is_sacral(canonical):
        raise AnatomyError(f"level {level!r} is not a sacral segment; expected S1..S5")
    return label_sectors(
        segment,
        canal=canal,
        cord=cord,
        level=canonical,
        neighbours=neighbours,
        options=options,
        left_axis=left_axis,
    )


#: Distances are compared with this much slack (mm): the transform works in single precision,
#: and a voxel centre at exactly the closing's radius must fall inside the dilation whatever
#: the rounding. scipy's double-precision sums left such ties out at some spacings: of 600
#: random closings on six spacings, the 100 at (0.8, 2.0, 0.8) mm differed from this one, every
#: differing voxel of the dilation (1,994 checked exactly) lying at exactly the radius; none of
#: six phantom sacra (0.6-3 mm) differed.
_TIE_MM = 1e-4


def _distance_outside_mm(
    mask: NDArray[np.bool_], spacing_mm: tuple[float, float, float]
) -> NDArray[np.float32]:
    """Euclidean distance (mm) from each voxel centre outside ``mask`` to the nearest one
    inside it; meaningless inside ``mask``.

    SimpleITK's signed Maurer transform, which runs on every core: on a whole sacrum (1.2
    million voxels) it took half the time of :func:`scipy.ndimage.distance_transform_edt`,
    with the same distances outside the mask (to 4e-6 mm; in single precision, which
    :data:`_TIE_MM` absorbs). An empty mask gives infinite distances.
    """
    if not mask.any():
        return np.full(mask.shape, np.inf, dtype=np.float32)
    import SimpleITK as sitk  # only the sacrum needs it: kept out of a cold start

    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    # SimpleITK orders the axes x, y, z: the array's last axis first.
    image.SetSpacing(tuple(float(v) for v in spacing_mm[::-1]))
    distance = sitk.SignedMaurerDistanceMap(
        image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True
    )
    # A copy: a view would outlive the image it points into.
    return np.asarray(sitk.GetArrayFromImage(distance), dtype=np.float32)


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

    Raises
    ------
    AnatomyError
        When ``segments`` is empty.

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
    # Closing by a ball of closing_mm (mm, on the real spacing) from two distance transforms:
    # a structuring element of that size costs far more on a whole sacrum.
    dilated = bone | (_distance_outside_mm(bone, grid.spacing_mm) <= closing_mm + _TIE_MM)
    closed = dilated & (_distance_outside_mm(~dilated, grid.spacing_mm) > closing_mm + _TIE_MM)
    canal_box = canal.in_box(box)
    candidates = closed & ~bone & ~canal_box
    if not candidates.any():
        return Mask.empty(grid)
    # Each candidate voxel is judged in the frame of the nearest segment (nearest bone voxel,
    # in voxel units; a tree over the bone costs far less than a feature transform of the
    # whole box).
    bone_ijk = np.argwhere(bone)
    candidate_ijk = np.argwhere(candidates)
    _, nearest = _kd_tree(bone_ijk).query(candidate_ijk)
    nearest_owner = owner[tuple(bone_ijk[nearest].T)]
    canal_lps = canal.points_lps()
    keep = np.zeros(box.shape, dtype=bool)
    for index, mask in enumerate(masks):
        members = nearest_owner == index + 1
        if not members.any():
            continue
        try:
            frame = local_frame(mask, canal)
        except AnatomyError:
            continue
        ijk = candidate_ijk[members] + np.asarray(box.start)
        local = frame.to_local(grid.index_to_lps(ijk))
        canal_local = frame.to_local(canal_lps)
        near = np.abs(canal_local[:, 2]) <= 20.0
        if not near.any():
            continue
        lr = canal_local[near, 0]
        lateral = (local[:, 0] > lr.max()) | (local[:, 0] < lr.min())
        chosen = ijk[lateral] - np.asarray(box.start)
        keep[tuple(chosen.T)] = True
    return Mask.from_box(grid, box, keep)


@dataclass(frozen=True)
class SacralBodyBorders:
    """Lateral borders of a sacral body in its segment's local frame (all mm).

    Parameters
    ----------
    top_s_mm, bottom_s_mm : float
        Local SI positions of the segment's top and bottom edges, where the borders are
        measured.
    left_mm, right_mm : (float or None, float or None)
        Local ``u`` of the body's left (``u`` high) and right border at the top and the bottom
        edge; None where none was found.
    centre_mm : float
        Local ``u`` of the body's central column (its deepest bone in front of the canal).
    method : str
        "foramina" (every border from the medial edges of the anterior foramina), "foramina,
        carried" (some carried from the other edge or mirrored about the central column),
        "foramina, top from the segment above" (the top edge showed no notch of its own and
        took the borders the segment above measured on the same foramina) or "none" (no
        foramen found: the caller falls back).
    measured : (bool, bool)
        Whether both borders at the top and at the bottom edge were measured on this
        segment's own notches (not carried, mirrored or taken from a neighbour).
    front_mm : float
        Local ``v`` (mm) in the middle of the band of bone in front of the canal on which the
        notches are read (where a border is placed in space, see :meth:`edge_points_local`).
    """

    top_s_mm: float
    bottom_s_mm: float
    left_mm: tuple[float | None, float | None]
    right_mm: tuple[float | None, float | None]
    centre_mm: float
    method: str
    measured: tuple[bool, bool] = (False, False)
    front_mm: float = 0.0

    def edge_points_local(self, end: int) -> NDArray[np.float64] | None:
        """The left and right border at one edge as local points (mm) in front of the canal.

        Parameters
        ----------
        end : int
            0 for the top edge, 1 for the bottom edge.

        Returns
        -------
        ndarray, shape (2, 3), or None
            Rows (``u``, ``v``, ``s``) of the left and the right border, mm; None unless both
            were measured at that edge (see ``measured``).
        """
        if not self.measured[end]:
            return None
        left, right = self.left_mm[end], self.right_mm[end]
        assert left is not None and right is not None
        edge = self.top_s_mm if end == 0 else self.bottom_s_mm
        return np.array([[left, self.front_mm, edge], [right, self.front_mm, edge]])

    @property
    def found(self) -> bool:
        """Whether any border was found."""
        return self.method != "none"

    def bounds_at(
        self, si_mm: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(low, high) ``u`` of the body at each local SI position: linear between the top
        and bottom borders, constant beyond them.

        Parameters
        ----------
        si_mm : ndarray of float
            Local SI positions, mm (any shape).

        Returns
        -------
        low, high : ndarray of float
            The right (low ``u``) and left (high ``u``) borders, mm, shaped like ``si_mm``
            (halfway between top and bottom when the two edges coincide).

        Raises
        ------
        AnatomyError
            When a top or bottom border is missing (check :attr:`found` first).
        """
        span = self.top_s_mm - self.bottom_s_mm
        t = np.clip((si_mm - self.bottom_s_mm) / span, 0.0, 1.0) if span > 0 else 0.5
        t = np.broadcast_to(t, si_mm.shape)
        out = []
        for top, bottom in (self.right_mm, self.left_mm):
            if top is None or bottom is None:
                raise AnatomyError("no sacral body border was found; check `found` first")
            out.append(np.asarray(bottom + t * (top - bottom), dtype=np.float64))
        return out[0], out[1]


def sacral_body_borders(
    bone_local: NDArray[np.float64],
    anterior_mm: NDArray[np.float64],
    *,
    pixel_mm: float,
    min_depth_mm: float = 2.0,
    max_width_mm: float = 14.0,
    band_fraction: float = 0.4,
    canal_centre_mm: float | None = None,
    canal_half_width_mm: float | None = None,
    outline_max_ratio: float = 1.25,
    top_from_above_mm: tuple[float, float] | None = None,
) -> SacralBodyBorders:
    """The lateral borders of a sacral body: the medial edges of the anterior foramina.

    Parameters
    ----------
    bone_local : ndarray, shape (n, 3)
        The segment's bone in its local frame (``u`` left, ``v`` posterior, ``s`` superior),
        mm.
    anterior_mm : ndarray, shape (n,)
        The canal's anterior wall ``a`` at each point, mm.
    pixel_mm : float
        Pixel of the projection (the voxel lattice), mm.
    min_depth_mm : float
        Least depth (mm, along ``s``) of a notch in the segment's top or bottom edge taken for
        a foramen (a smaller one is the voxels' jitter); never less than one pixel.
    max_width_mm : float
        Widest notch (mm, along ``u``) taken for an anterior foramen.
    band_fraction : float
        The edges are read on the bone in front of ``a`` up to this fraction of the body's
        depth (the most anterior bone sets it): there the lateral masses lie beside the body.
    canal_centre_mm, canal_half_width_mm : float, optional
        The canal's lateral centre ``uc`` and half-width ``w`` (mm). Given, the body's central
        column is looked for within ``2 w`` of ``uc`` (the body lies in front of the canal,
        the alae beside it may reach as deep), and borders are kept only when that column
        lies within ``w`` of ``uc`` and between them; else none is found.
    outline_max_ratio : float
        Largest change of the body's width between its edges read from its outline (see
        :func:`_outline_ratio`).
    top_from_above_mm : (float, float), optional
        The left and right border (``u``, mm, in this segment's frame) that the segment above
        measured at its bottom edge, on the foramina this segment's top edge shares with it.
        Taken for a side of the top edge that shows no notch of its own (a cut placed a
        little below the foramina's middle leaves only their lower tips in this segment,
        too shallow to tell from the voxels' jitter).

    Returns
    -------
    SacralBodyBorders

    Notes
    -----
    The body is the central column between the anterior sacral foramina; the lateral masses
    (alae) lie beyond them. The foramina open at the borders between segments, so the
    segment's bone just in front of the canal, projected along the AP axis, shows them as
    notches in its top and bottom edges: beside the body's column its edge recedes, then
    comes back at the ala. Only a band of the bone in front of ``a`` is read (the body
    bulges further forward than the alae, and on a segment whose axis is not quite normal to
    its cut, its edge there lies higher or lower). Walking out from the body's central
    column (the median ``u`` of the bone at least half the body's depth in front of ``a``),
    the first column whose edge lies ``min_depth_mm`` inside the body's edge starts the
    foramen when further out, within ``max_width_mm``, the edge comes back by at least as
    much; the border lies half a voxel beyond the body's outermost voxel centre in the
    column before. An edge without a pair of foramina (the top of S1, the bottom of S5, a
    cut short sacrum) takes the border of the other edge, at the top scaled by the ratio of
    the body's own outline there to that at the other edge (:func:`_outline_ratio`); a side
    found only on the other side of the body at that edge takes it mirrored about the
    central column.
    """
    depth = anterior_mm - bone_local[:, 1]
    none = SacralBodyBorders(0.0, 0.0, (None, None), (None, None), 0.0, "none")
    if int((depth > 0.0).sum()) < 3:
        return none
    uc, w = canal_centre_mm, canal_half_width_mm
    near_canal = np.ones(depth.shape, dtype=bool)
    if uc is not None and w is not None:
        near_canal = np.abs(bone_local[:, 0] - uc) <= 2.0 * w
        if not (near_canal & (depth > 0.0)).any():
            return none
    deepest = float(depth[near_canal].max())
    core = (depth >= 0.5 * deepest) & near_canal
    centre = float(np.median(bone_local[core, 0]))
    if uc is not None and w is not None and abs(centre - uc) > w:
        return none
    front = bone_local[(depth > 0.0) & (depth <= band_fraction * deepest)]
    if front.shape[0] < 3:
        return none
    low_u = float(front[:, 0].min())
    column = np.floor((front[:, 0] - low_u) / pixel_mm).astype(np.int64)
    n = int(column.max()) + 1
    top = np.full(n, -np.inf)
    bottom = np.full(n, np.inf)
    u_high = np.full(n, -np.inf)
    u_low = np.full(n, np.inf)
    np.maximum.at(top, column, front[:, 2])
    np.minimum.at(bottom, column, front[:, 2])
    np.maximum.at(u_high, column, front[:, 0])
    np.minimum.at(u_low, column, front[:, 0])
    centre_column = int(np.clip(np.floor((centre - low_u) / pixel_mm), 0, n - 1))
    core_u = bone_local[core, 0]
    middle = np.abs(column - centre_column) * pixel_mm <= 0.25 * float(np.ptp(core_u))
    middle_columns = np.unique(column[middle])
    threshold = max(min_depth_mm, pixel_mm)
    max_columns = max(1, int(np.ceil(max_width_mm / pixel_mm)))
    edges: dict[tuple[int, int], float | None] = {}
    references: list[float] = []
    for end, profile in ((0, top), (1, -bottom)):
        reference = float(np.median(profile[middle_columns]))
        references.append(reference if end == 0 else -reference)
        inside = reference - profile  # inf where the column holds no such bone
        for side in (1, -1):
            found_column = _last_body_column(
                inside, centre_column, side, threshold, max_columns, pixel_mm
            )
            if found_column is not None:
                last, sunk = found_column
                outermost = u_high[last] if side > 0 else u_low[last]
                # Half a voxel beyond the body's outermost voxel centre, or on it where the
                # notch starts in that column.
                reach = 0.0 if sunk else 0.5 * pixel_mm
                edges[(end, side)] = float(outermost) + side * reach
            else:
                edges[(end, side)] = None
    measured = (
        edges[(0, 1)] is not None and edges[(0, -1)] is not None,
        edges[(1, 1)] is not None and edges[(1, -1)] is not None,
    )
    found = sum(value is not None for value in edges.values())
    from_above = False
    if top_from_above_mm is not None:
        for side, given in zip((1, -1), top_from_above_mm):
            if edges[(0, side)] is None:
                edges[(0, side)] = float(given)
                from_above = True
    if found == 0 and not from_above:
        return none
    for end in (0, 1):
        for side in (1, -1):
            other = edges[(end, -side)]
            if edges[(end, side)] is None and other is not None:
                edges[(end, side)] = 2.0 * centre - other
    for end in (0, 1):
        # Carried up to a top without foramina (S1's endplate, where the body is widest),
        # the border is scaled by the body's own outline (its core) at both edges; carried
        # down (S5 tapering to its apex, the coccyx perhaps joined) it is kept.
        scale = (
            _outline_ratio(bone_local[core], centre, references, end, outline_max_ratio)
            if end == 0
            else _outline_ratio(front, centre, references, end, outline_max_ratio)
        )
        for side in (1, -1):
            carried = edges[(1 - end, side)]
            if edges[(end, side)] is None and carried is not None:
                edges[(end, side)] = centre + scale * (carried - centre)
    borders = SacralBodyBorders(
        references[0],
        references[1],
        (edges[(0, 1)], edges[(1, 1)]),
        (edges[(0, -1)], edges[(1, -1)]),
        centre,
        "foramina, top from the segment above"
        if from_above
        else "foramina" if found == 4 else "foramina, carried",
        measured,
        float(np.median(anterior_mm) - 0.5 * band_fraction * deepest),
    )
    if uc is not None:
        lows = [v for v in borders.right_mm if v is not None]
        highs = [v for v in borders.left_mm if v is not None]
        if max(lows) >= uc or min(highs) <= uc:
            return none
    return borders


def _outline_ratio(
    core: NDArray[np.float64],
    centre: float,
    edges_s: list[float],
    end: int,
    max_ratio: float,
) -> float:
    """Ratio of the body core's half-width (its bone at least half the body's depth in front
    of the canal, within a quarter of its height of an edge; 95th percentile of the distance
    from the central column) at edge ``end`` to that at the other edge, within
    [1 / ``max_ratio``, ``max_ratio``]; 1 without such bone."""
    height = float(np.ptp(core[:, 2])) if core.shape[0] else 0.0
    widths = []
    for which, toward in ((0, 1.0), (1, -1.0)):
        near = toward * (edges_s[which] - core[:, 2]) <= 0.25 * height
        if not near.any():
            return 1.0
        widths.append(float(np.percentile(np.abs(core[near, 0] - centre), 95)))
    if min(widths) <= 0.0:
        return 1.0
    ratio = widths[end] / widths[1 - end]
    return float(np.clip(ratio, 1.0 / max_ratio, max_ratio))


#: A column whose edge lies this many pixels below its inner neighbour's, just before a notch
#: deep enough to be a foramen, is already in the foramen.
_NOTCH_START_PIXELS = 0.5


def _last_body_column(
    inside: NDArray[np.float64],
    start: int,
    side: int,
    threshold: float,
    max_columns: int,
    pixel_mm: float,
) -> tuple[int, bool] | None:
    """The body's outermost column before the first notch out from column ``start``
    towards ``side`` (see :func:`sacral_body_borders`), and whether the notch already starts
    in it; None when there is no notch."""
    n = inside.size
    k = start
    while 0 <= k < n and inside[k] < threshold:
        k += side
    if not 0 <= k < n or k == start or not np.isfinite(inside[k - side]):
        return None
    deepest = float(inside[k])
    for j in range(k + side, k + side * (max_columns + 1), side):
        if not 0 <= j < n:
            return None
        if inside[j] <= deepest - threshold:
            # The notch is told from the jitter only where it is ``threshold`` deep; a round
            # foramen's edge lies further in, where the notch starts: in the column before it
            # when that one is sunk below its inner neighbour. Measured against the
            # neighbour, not the body's middle: on a coarse real mask the cut edge steps down
            # beside the middle and then runs level (S3 of the sample CT lost half its body
            # to a rule that took every column below the middle's into the notch).
            last = k - side
            sunk = (
                last != start
                and inside[last] - inside[last - side] >= _NOTCH_START_PIXELS * pixel_mm
            )
            return last, bool(sunk)
        deepest = max(deepest, float(inside[j]))
    return None
