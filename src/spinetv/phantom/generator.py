"""Synthetic spine CT phantoms with exact ground truth: vertebrae, ISRC sectors, canal, cord, GTV.

How the phantom is made
-----------------------
1. A canal centreline is laid in the mid-sagittal plane (see :mod:`._centreline`): one arc for
   C1-L5 whose curvature gives ``lordosis_deg`` over the mobile levels of the phantom, and,
   when sacral segments are present, a kyphotic sacral arc hinged at the middle of the L5-S1
   disc. The whole spine is turned by ``axial_rotation_deg`` about the centreline.
2. Each vertebra is defined in its LOCAL frame (u lateral towards the patient's left, v
   posterior, w along the centreline from the level's centre) from anatomical primitives whose
   sizes come from ``data/vertebrae.toml`` (body, pedicles, posterior arch, transverse and
   spinous processes; sacral segments: body, lateral mass / ala, median crest, foramina).
3. The shapes are evaluated at the PATIENT (LPS) position of every voxel centre of the
   vertebra's bounding box, mapped to the local frame, so any orientation or spacing gives the
   same anatomy. The canal, cord and thecal sac are continuous tubes along the centreline.
   The canal is the space the bony ring encloses: its cross-section is constant over each
   level's height (it changes only across the discs; a step between sacral segments), the
   body's posterior wall and the laminae lie on it, and at the pedicles' height a bony shell
   lines its front half (lateral recesses), so a projection of the bone along the level's
   axis has exactly the canal's cross-section as its hole. Cord and thecal sac lie inside it.
4. Ground-truth parts are assigned after the bone is built, by the geometric sector rule of
   the clinical rules (section 2) in the local frame -- see :func:`._shapes.label_parts` --
   so the parts partition each vertebra by construction. The body (sector 1) is restricted
   to the body's own width: bone in front of the canal lateral to it (cervical anterolateral
   transverse processes; sacral alae) goes to the pedicle/ala sector of its side (not C1,
   whose anterior arch is its "body"). A voxel centre lying on a wall counts as posterior to
   it, as in :mod:`spinetv.anatomy.sectors`.
5. Bone voxels belong to the first level (top to bottom) that claims them, so vertebrae are
   disjoint; intervertebral discs belong to no vertebra.

Orientation conventions (``orientation``; columns of ``grid.direction`` = slice, row, column):

====  =========================  =================  ================
name  ImageOrientationPatient    slice index runs   screen
====  =========================  =================  ================
HFS   [1, 0, 0, 0, 1, 0]         +z (superior)      patient left on screen right
FFS   [-1, 0, 0, 0, 1, 0]        -z (inferior)      patient left on screen right
HFP   [-1, 0, 0, 0, -1, 0]       +z                 prone
FFP   [1, 0, 0, 0, -1, 0]        -z                 prone
====  =========================  =================  ================

The slice axis is the cross product of the two in-plane directions (a right-handed grid). All
orientations share the same voxel-centre positions in patient space, so masks agree exactly.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinetv.errors import SpinetvError
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.labels import LabelMap
from spinetv.geometry.mask import Mask
from spinetv.phantom import _shapes
from spinetv.phantom._centreline import Arc, Centreline
from spinetv.phantom._dims import LEVEL_NAMES, LevelDims, SpineTable, spine_table
from spinetv.structure import Provenance, RoiType, Structure

__all__ = [
    "ORIENTATIONS",
    "HU",
    "GtvSpec",
    "LevelFrame",
    "SpinePhantom",
    "make_spine_phantom",
    "parse_levels",
    "phantom_grid",
]

FloatArray = NDArray[np.float64]
Orientation = Literal["HFS", "FFS", "HFP", "FFP"]
BodySide = Literal["left", "right", "diffuse", "focal"]

# (first IOP triplet: column direction, second: row direction)
ORIENTATIONS: Mapping[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = (
    MappingProxyType(
        {
            "HFS": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
            "FFS": ((-1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
            "HFP": ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
            "FFP": ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
        }
    )
)

# Tissue codes of the label volume and their CT numbers (HU).
_AIR, _FAT, _SOFT, _DISC, _CSF, _CORD, _CAUDA, _MARROW, _CORTEX = range(9)
_GTV_LYTIC, _GTV_BLASTIC, _GTV_SOFT = 9, 10, 11
HU: Mapping[str, int] = MappingProxyType(
    {
        "air": -1000,
        "fat": -100,
        "soft_tissue": 40,
        "disc": 80,
        "csf": 10,
        "cord": 35,
        "cauda_equina": 25,
        "marrow": 250,
        "cortical_bone": 1100,
        "gtv_lytic": 60,
        "gtv_blastic": 900,
        "gtv_soft_tissue": 55,
    }
)
_HU_TABLE = np.array(list(HU.values()), dtype=np.int16)

_MAX_LORDOSIS_DEG = 30.0
_MAX_ROTATION_DEG = 20.0
_MAX_TILT_DEG = 60.0
_FAT_LAYER_MM = 15.0
_MARGIN_MM = 15.0
_CONUS_TAPER_MM = 20.0
_SAC_SCALE = 0.78
_CAUDA_SCALE = 0.6
_LATERAL_CLEARANCE_MM = 4.0
# Half-length of the ramp between the canals of touching (sacral) segments, mm.
_CANAL_STEP_MM = 1e-3
_SECTORS = (1, 2, 3, 4, 5, 6)
_RING = ((1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 1))


# ---------------------------------------------------------------------------------------------
# public values
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GtvSpec:
    """A metastasis placed in the phantom.

    Parameters
    ----------
    level : str
        The (first) involved level, "C1".."L5" or "S1".."S5".
    sectors : sequence of int
        ISRC sectors 1-6 the bony lesion occupies; the bony GTV overlaps exactly these.
    body_side : {"left", "right", "diffuse", "focal"} or None
        Where the lesion sits inside the body (sector 1): one side of the mid-sagittal plane
        (clear of it by 4 mm), most of the body, or a small lesion crossing the midline. None
        picks the side of the requested pedicle/lamina sectors, else "focal".
    to_level : str or None
        Last involved level of a lesion spanning several levels (inclusive; same sectors on each).
    epidural_mm : float
        Epidural extension: canal voxels within this distance (mm) of the involved sectors,
        over the lesion's craniocaudal extent, kept 1 mm clear of the spinal cord.
    paraspinal_mm : float
        Paraspinal extension: soft tissue within this distance (mm) of the involved sectors,
        over the lesion's craniocaudal extent (never bone, canal or disc).
    radius_mm : float or None
        Radius of the lesion inside each sector (default per region: 5 mm cervical, 7 mm
        thoracic, 9 mm lumbar and sacral).
    kind : {"lytic", "blastic"}
        CT appearance of the bony lesion.
    """

    level: str
    sectors: tuple[int, ...] = (1,)
    body_side: BodySide | None = None
    to_level: str | None = None
    epidural_mm: float = 0.0
    paraspinal_mm: float = 0.0
    radius_mm: float | None = None
    kind: Literal["lytic", "blastic"] = "lytic"

    def __post_init__(self) -> None:
        level = _check_level(self.level, what="GtvSpec.level")
        object.__setattr__(self, "level", level)
        if self.to_level is not None:
            object.__setattr__(
                self, "to_level", _check_level(self.to_level, what="GtvSpec.to_level")
            )
        sectors = tuple(sorted({int(s) for s in self.sectors}))
        if not sectors or any(s not in _SECTORS for s in sectors):
            raise SpinetvError(
                f"GtvSpec.sectors: expected a non-empty subset of 1..6, got {self.sectors!r}"
            )
        object.__setattr__(self, "sectors", sectors)
        if self.body_side not in (None, "left", "right", "diffuse", "focal"):
            raise SpinetvError(
                "GtvSpec.body_side: expected left, right, diffuse, focal or None, "
                f"got {self.body_side!r}"
            )
        for name in ("epidural_mm", "paraspinal_mm"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise SpinetvError(f"GtvSpec.{name}: expected a distance >= 0 mm, got {value!r}")
            object.__setattr__(self, name, value)
        if self.radius_mm is not None and not float(self.radius_mm) > 0:
            raise SpinetvError(
                f"GtvSpec.radius_mm: expected a positive radius in mm, got {self.radius_mm!r}"
            )
        if self.kind not in ("lytic", "blastic"):
            raise SpinetvError(f"GtvSpec.kind: expected 'lytic' or 'blastic', got {self.kind!r}")

    @property
    def levels(self) -> tuple[str, ...]:
        """Every level the lesion spans, cranial first."""
        if self.to_level is None:
            return (self.level,)
        i, j = sorted((LEVEL_NAMES.index(self.level), LEVEL_NAMES.index(self.to_level)))
        return LEVEL_NAMES[i : j + 1]


@dataclass(frozen=True)
class LevelFrame:
    """The ground-truth local frame of one level, at the middle of its body height.

    Parameters
    ----------
    origin_lps_mm : ndarray, shape (3,)
        Canal centre at the level's centre, LPS mm.
    axes_lps : ndarray, shape (3, 3)
        Columns: the local lateral (towards patient left), posterior and superior unit axes.
    canal_half_width_mm, canal_half_depth_mm : float
        Half-width (``w``) and half-depth (``p - c``) of the canal at the level's centre.
    """

    origin_lps_mm: FloatArray
    axes_lps: FloatArray
    canal_half_width_mm: float
    canal_half_depth_mm: float

    def to_local(self, points_lps_mm: FloatArray) -> FloatArray:
        """Local (u, v, w) mm of LPS points (rigid approximation at the level's centre).

        Parameters
        ----------
        points_lps_mm : ndarray, shape (..., 3)
            Patient positions in LPS mm.

        Returns
        -------
        ndarray, shape (..., 3)
            Coordinates in mm from the canal centre along the local lateral (u, towards the
            patient's left), posterior (v) and superior (w) axes.
        """
        return (np.asarray(points_lps_mm, dtype=float) - self.origin_lps_mm) @ self.axes_lps


@dataclass(frozen=True, eq=False)
class SpinePhantom:
    """A generated spine CT and its ground truth, all on ``grid``.

    Attributes
    ----------
    grid : ImageGrid
        Geometry with a freshly generated FrameOfReferenceUID.
    hu : ndarray of int16
        CT numbers in array order (slice, row, column), read-only.
    levels : tuple of str
        The levels present, cranial first.
    vertebrae : mapping of str to Mask
        Bone of each level (sacral segments S1-S5 split along the curved sacral axis).
    parts : mapping of str to mapping of int to Mask
        The six parts of each level (sector numbers 1-6); they partition the vertebra. At the
        sacral hiatus part 4 (median crest) is empty.
    canal : Mask
        Spinal canal, continuous over the levels, including the sacral canal.
    cord : Mask
        Spinal cord, ending at the conus (disc below L1); empty when all levels are lower.
    thecal_sac, cauda_equina : Mask or None
        Dural sac and the cauda equina within it, from the conus to the middle of S2; None when
        no level reaches below the conus.
    sacral_foramina : Mask or None
        The bony sacral foramina (None without sacral segments).
    discs : Mask
        Intervertebral discs between the levels (belonging to no vertebra).
    gtv : Mask or None
        The union of the requested lesions.
    body_outline : Mask
        The patient outline (everything that is not air).
    frames : mapping of str to LevelFrame
        The ground-truth local frame of each level.
    gtv_specs : tuple of GtvSpec
        The lesions as requested.
    """

    grid: ImageGrid
    hu: NDArray[np.int16]
    levels: tuple[str, ...]
    vertebrae: Mapping[str, Mask]
    parts: Mapping[str, Mapping[int, Mask]]
    canal: Mask
    cord: Mask
    thecal_sac: Mask | None
    cauda_equina: Mask | None
    sacral_foramina: Mask | None
    discs: Mask
    gtv: Mask | None
    body_outline: Mask
    frames: Mapping[str, LevelFrame]
    gtv_specs: tuple[GtvSpec, ...] = ()
    settings: Mapping[str, object] = field(default_factory=dict)

    def sector_labels(self, level: str) -> LabelMap:
        """The parts of ``level`` as one label map (0 outside, 1-6 inside).

        Parameters
        ----------
        level : str
            One of :attr:`levels`, in canonical form (``"L2"``); another name raises
            ``KeyError``.

        Returns
        -------
        LabelMap
            Sector numbers 1-6 on :attr:`grid`, held as the vertebra's bounding box.
        """
        vertebra = self.vertebrae[level]
        labels = np.zeros(vertebra.box.shape, dtype=np.uint8)
        for number, part in self.parts[level].items():
            labels[part.in_box(vertebra.box)] = number
        return LabelMap.from_box(self.grid, vertebra.box, labels)

    def structures(
        self, *, sacrum_names: Literal["split_s1", "segments"] = "split_s1"
    ) -> list[Structure]:
        """The phantom as named structures, ready for an RTSTRUCT.

        Names: one ROI per level ("L1", "T12", ...); sacral segments as "S1" plus "Sacrum" for
        S2-S5 (``sacrum_names="split_s1"``, as TotalSegmentator delivers them) or "S1".."S5"
        (``"segments"``); then "SpinalCanal", "SpinalCord", "ThecalSac", "CaudaEquina",
        "SacralForamina", "GTV" (type GTV) and "BODY" (type EXTERNAL). Empty or absent
        structures are left out.

        Parameters
        ----------
        sacrum_names : {"split_s1", "segments"}, default "split_s1"
            How the sacral segments are named, as above.

        Returns
        -------
        list of Structure
            The non-empty structures in the order above, each with a colour and the
            generator's settings as provenance.

        Raises
        ------
        SpinetvError
            When ``sacrum_names`` is neither ``"split_s1"`` nor ``"segments"``.
        """
        if sacrum_names not in ("split_s1", "segments"):
            raise SpinetvError(
                f"sacrum_names: expected 'split_s1' or 'segments', got {sacrum_names!r}"
            )
        provenance = Provenance(
            algorithm="AUTOMATIC",
            description="spinetv synthetic spine phantom (ground truth)",
            details={"generator": "spinetv.phantom", **dict(self.settings)},
        )
        named: list[tuple[str, Mask, RoiType, tuple[int, int, int]]] = []
        sacral = [lv for lv in self.levels if lv.startswith("S")]
        for level in self.levels:
            if level in sacral and sacrum_names == "split_s1" and level != "S1":
                continue
            named.append((level, self.vertebrae[level], RoiType.ORGAN, _level_colour(level)))
        rest = [lv for lv in sacral if lv != "S1"]
        if sacrum_names == "split_s1" and rest:
            union = _union([self.vertebrae[lv] for lv in rest], self.grid)
            named.append(("Sacrum", union, RoiType.ORGAN, (200, 170, 120)))
        named += [
            ("SpinalCanal", self.canal, RoiType.ORGAN, (0, 160, 255)),
            ("SpinalCord", self.cord, RoiType.ORGAN, (255, 255, 0)),
        ]
        if self.thecal_sac is not None:
            named.append(("ThecalSac", self.thecal_sac, RoiType.ORGAN, (0, 255, 200)))
        if self.cauda_equina is not None:
            named.append(("CaudaEquina", self.cauda_equina, RoiType.ORGAN, (255, 200, 0)))
        if self.sacral_foramina is not None:
            named.append(
                ("SacralForamina", self.sacral_foramina, RoiType.AVOIDANCE, (120, 80, 255))
            )
        if self.gtv is not None:
            named.append(("GTV", self.gtv, RoiType.GTV, (255, 0, 0)))
        named.append(("BODY", self.body_outline, RoiType.EXTERNAL, (0, 255, 0)))
        return [
            Structure(name, mask, roi_type, colour, provenance)
            for name, mask, roi_type, colour in named
            if not mask.is_empty
        ]


# ---------------------------------------------------------------------------------------------
# helpers: levels, grid, boxes
# ---------------------------------------------------------------------------------------------
def _check_level(name: str, *, what: str) -> str:
    level = str(name).strip().upper()
    if level not in LEVEL_NAMES:
        raise SpinetvError(
            f"{what}: unknown vertebral level {name!r}; "
            "expected one of C1..C7, T1..T12, L1..L5, S1..S5"
        )
    return level


def parse_levels(text: str | Sequence[str]) -> tuple[str, ...]:
    """Levels from "L1,L2,L3", "T10-L3" or a sequence of names; checked to be consecutive.

    Parameters
    ----------
    text : str or sequence of str
        Comma-separated names and ranges (spaces ignored, any case), or a sequence of names
        or ranges. A range may be written either way round (``"L3-T10"``); repeats are
        merged.

    Returns
    -------
    tuple of str
        The canonical level names (C1..C7, T1..T12, L1..L5, S1..S5), cranial first.

    Raises
    ------
    SpinetvError
        When a name is not a level, no level is given, or the levels are not consecutive.
    """
    items = (
        [p for p in text.replace(" ", "").split(",") if p] if isinstance(text, str) else list(text)
    )
    levels: list[str] = []
    for item in items:
        if isinstance(item, str) and "-" in item:
            first, last = (_check_level(p, what="levels") for p in item.split("-", 1))
            i, j = sorted((LEVEL_NAMES.index(first), LEVEL_NAMES.index(last)))
            levels += LEVEL_NAMES[i : j + 1]
        else:
            levels.append(_check_level(item, what="levels"))
    if not levels:
        raise SpinetvError("levels: expected at least one vertebral level, got none")
    indices = sorted(set(LEVEL_NAMES.index(lv) for lv in levels))
    if indices != list(range(indices[0], indices[-1] + 1)):
        raise SpinetvError(f"levels: expected consecutive levels, got {', '.join(levels)}")
    return tuple(LEVEL_NAMES[i] for i in indices)


def phantom_grid(
    orientation: str,
    shape: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    centre_lps_mm: Sequence[float],
    frame_of_reference_uid: str = "",
) -> ImageGrid:
    """An axial grid in ``orientation`` whose centre voxel position is ``centre_lps_mm``.

    Parameters
    ----------
    orientation : str
        Patient position, one of :data:`ORIENTATIONS` (``"HFS"``, ``"FFS"``, ``"HFP"``,
        ``"FFP"``, any case); it sets the direction cosines, feet-first slices running
        inferior.
    shape : tuple of int
        Voxels in numpy order (slice, row, column).
    spacing_mm : tuple of float
        Distance between voxel centres along (slice, row, column), in mm.
    centre_lps_mm : sequence of 3 float
        Patient position, LPS mm, of the midpoint of the voxel centres (the centre voxel's
        centre when every size is odd; between voxels otherwise).
    frame_of_reference_uid : str, default ""
        The FrameOfReferenceUID of the grid ("" for none).

    Returns
    -------
    ImageGrid
        The grid.

    Raises
    ------
    SpinetvError
        When ``orientation`` is not one of :data:`ORIENTATIONS`.
    GeometryError
        When ``shape`` or ``spacing_mm`` is not 3 positive values, or the centre is not
        finite.
    """
    key = str(orientation).upper()
    if key not in ORIENTATIONS:
        raise SpinetvError(
            f"orientation: expected one of {', '.join(ORIENTATIONS)}, got {orientation!r}"
        )
    col_dir, row_dir = (np.asarray(v) for v in ORIENTATIONS[key])
    normal = np.cross(col_dir, row_dir)
    direction = np.column_stack([normal, row_dir, col_dir])
    half = (np.asarray(shape, dtype=float) - 1.0) / 2.0 * np.asarray(spacing_mm, dtype=float)
    origin = np.asarray(centre_lps_mm, dtype=float) - direction @ half
    return ImageGrid(shape, spacing_mm, tuple(origin), direction, frame_of_reference_uid)


def _box_lps(grid: ImageGrid, box: BoundingBox) -> tuple[FloatArray, FloatArray, FloatArray]:
    """LPS x, y, z of the voxel centres of ``box`` as broadcastable arrays (zero terms dropped)."""
    axes = [
        np.arange(start, stop, dtype=float).reshape([-1 if a == k else 1 for a in range(3)])
        * grid.spacing_mm[k]
        for k, (start, stop) in enumerate(zip(box.start, box.stop))
    ]
    coords = []
    for j in range(3):
        total: FloatArray = np.full((1, 1, 1), grid.origin_lps_mm[j])
        for k in range(3):
            if abs(grid.direction[j, k]) > 1e-12:
                total = total + grid.direction[j, k] * axes[k]
        coords.append(total)
    return coords[0], coords[1], coords[2]


def _full(array: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    return np.broadcast_to(array, shape)


def _box_of_points(grid: ImageGrid, points_lps: FloatArray, pad: int = 2) -> BoundingBox:
    ijk = grid.lps_to_index(points_lps.reshape(-1, 3))
    low = np.floor(ijk.min(axis=0)).astype(int) - pad
    high = np.ceil(ijk.max(axis=0)).astype(int) + pad + 1
    start = np.clip(low, 0, grid.shape)
    stop = np.clip(high, start, grid.shape)
    return BoundingBox(tuple(start), tuple(stop))


def _sample_box_points(
    line: Centreline,
    arc: Arc,
    u_range: tuple[float, float],
    v_range: tuple[float, float],
    s_range: tuple[float, float],
) -> FloatArray:
    u = np.linspace(*u_range, 5)
    v = np.linspace(*v_range, 5)
    n_s = max(3, int(abs(s_range[1] - s_range[0]) / 4.0) + 2)
    s = np.linspace(*s_range, n_s)
    uu, vv, ss = np.meshgrid(u, v, s, indexing="ij")
    return line.to_lps(arc, uu.ravel(), vv.ravel(), ss.ravel())


def _union(masks: Sequence[Mask], grid: ImageGrid) -> Mask:
    boxes = [m.box for m in masks if not m.is_empty]
    if not boxes:
        return Mask.empty(grid)
    box = boxes[0]
    for other in boxes[1:]:
        box = box.union(other)
    array = np.zeros(box.shape, dtype=bool)
    for mask in masks:
        array |= mask.in_box(box)
    return Mask.from_box(grid, box, array)


def _level_colour(level: str) -> tuple[int, int, int]:
    palette = [(230, 200, 150), (200, 230, 150), (150, 200, 230), (230, 150, 200), (200, 150, 230)]
    return palette[LEVEL_NAMES.index(level) % len(palette)]


# ---------------------------------------------------------------------------------------------
# the column: positions of the levels along the centreline
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Column:
    table: SpineTable
    s_centre: dict[str, float]
    levels: tuple[str, ...]
    line: Centreline
    canal_range: tuple[float, float]
    s_conus: float
    s_sac_end: float

    def dims(self, level: str) -> LevelDims:
        return self.table[level]

    def arc(self, level: str) -> Arc:
        return self.line.arc_for(level.startswith("S"))

    def _interp(self, s: FloatArray, values: Sequence[float], names: Sequence[str]) -> FloatArray:
        centres = np.array([self.s_centre[n] for n in names])
        order = np.argsort(centres)
        return np.interp(s, centres[order], np.asarray(values, dtype=float)[order])

    def canal_half(self, s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Canal half-width and half-depth along the centreline, mm.

        Constant over each level's height, so that the canal of a level is exactly the space
        its bony ring encloses (the bone is built around that one cross-section); it changes
        linearly only across the discs (between touching sacral segments: a step).
        """
        knots: list[float] = []
        widths: list[float] = []
        depths: list[float] = []
        for name in sorted(LEVEL_NAMES, key=lambda n: self.s_centre[n]):
            dims = self.table[name]
            half_h = dims.body_height / 2 - _CANAL_STEP_MM
            for knot in (self.s_centre[name] - half_h, self.s_centre[name] + half_h):
                knots.append(knot)
                widths.append(dims.canal_width / 2)
                depths.append(dims.canal_depth / 2)
        return np.interp(s, knots, widths), np.interp(s, knots, depths)

    def cord_half(self, s: FloatArray) -> tuple[FloatArray, FloatArray]:
        names = [n for n in LEVEL_NAMES if not n.startswith("S")]
        width = self._interp(s, [self.table[n].cord_width / 2 for n in names], names)
        depth = self._interp(s, [self.table[n].cord_depth / 2 for n in names], names)
        return width, depth

    def sacral(self, s: FloatArray, attribute: str) -> FloatArray:
        names = [n for n in LEVEL_NAMES if n.startswith("S")]
        return self._interp(s, [float(getattr(self.table[n], attribute)) for n in names], names)


def _build_column(
    levels: tuple[str, ...],
    lordosis_deg: float,
    rotation_deg: float,
    tilt_deg: float = 0.0,
    sacral_kyphosis_deg: float | None = None,
    sacral_hiatus: str | None = None,
) -> _Column:
    table = spine_table()
    if sacral_kyphosis_deg is not None or sacral_hiatus is not None:
        table = replace(
            table,
            sacrum=replace(
                table.sacrum,
                kyphosis_deg=(
                    table.sacrum.kyphosis_deg
                    if sacral_kyphosis_deg is None
                    else float(sacral_kyphosis_deg)
                ),
                hiatus=table.sacrum.hiatus if sacral_hiatus is None else sacral_hiatus,
            ),
        )
    s_centre: dict[str, float] = {}
    s = 0.0
    previous: LevelDims | None = None
    for name in LEVEL_NAMES:
        dims = table[name]
        if previous is not None:
            s -= previous.body_height / 2 + previous.disc_below + dims.body_height / 2
        s_centre[name] = s
        previous = dims

    def top(name: str) -> float:
        return s_centre[name] + table[name].body_height / 2

    def bottom(name: str) -> float:
        return s_centre[name] - table[name].body_height / 2

    mobile = [lv for lv in levels if not lv.startswith("S")]
    sacral = [lv for lv in levels if lv.startswith("S")]
    junction = bottom("L5") - table["L5"].disc_below / 2
    if mobile:
        span_top, span_bottom = top(mobile[0]), bottom(mobile[-1])
        kappa = math.radians(lordosis_deg) / (span_top - span_bottom)
        upper = Arc(0.5 * (span_top + span_bottom), np.zeros(3), math.radians(tilt_deg), kappa)
    else:
        upper = Arc(junction, np.zeros(3), math.radians(tilt_deg), 0.0)
    lower = None
    if sacral:
        settings = table.sacrum
        angle = upper.angle_rad + upper.curvature_per_mm * (junction - upper.s_anchor)
        length = top("S1") - bottom("S5")
        lower = Arc(
            junction,
            upper.point(junction),
            angle - math.radians(settings.lumbosacral_kink_deg),
            -math.radians(settings.kyphosis_deg) / length,
        )
    line = Centreline(upper, lower, junction, math.radians(rotation_deg))
    first, last = levels[0], levels[-1]
    index_first = LEVEL_NAMES.index(first)
    disc_above = table[LEVEL_NAMES[index_first - 1]].disc_below if index_first > 0 else 0.0
    # The canal runs on past the end levels as far as their bone reaches (a thoracic lamina
    # hangs below its body), so that no bone of an end level is painted into it.
    canal_top = max(
        top(first) + disc_above / 2, s_centre[first] + _local_extent(table[first])[2][1]
    )
    if last.startswith("S"):
        # The sacral canal runs on to the apex as the open groove of the hiatus, floored by
        # S5's body; stopping it halfway down S5 filled its lower half with the lateral
        # masses' bone, which the ground-truth rule then called ala in the midline.
        canal_bottom = bottom(last)
    else:
        canal_bottom = min(
            bottom(last) - table[last].disc_below / 2,
            s_centre[last] + _local_extent(table[last])[2][0],
        )
    conus = table.sacrum.conus_level
    s_conus = bottom(conus) - table[conus].disc_below / 2
    return _Column(
        table=table,
        s_centre=s_centre,
        levels=levels,
        line=line,
        canal_range=(canal_bottom, canal_top),
        s_conus=s_conus,
        s_sac_end=s_centre[table.sacrum.dural_sac_end],
    )


def _local_extent(
    dims: LevelDims,
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """Conservative local (u, v, w) bounds of one level's bone, mm."""
    d = dims
    cd = d.canal_depth / 2
    if d.is_sacral:
        u_max = d.ala_half_width + 2
        v_range = (-cd - d.body_depth - 4, cd + d.lamina_thickness + d.crest + 3)
        w_range = (-d.body_height / 2 - 2, d.body_height / 2 + 2)
        return (-u_max, u_max), v_range, w_range
    tilt = math.radians(d.spinous_tilt_deg)
    u_max = max(d.tp_span / 2, d.body_width / 2, d.canal_width / 2 + d.pedicle_width + 8) + 3
    v_back = cd + d.lamina_thickness + d.spinous_length * math.cos(tilt) + d.spinous_height / 2 + 3
    v_front = -cd - d.body_depth - 3
    w_low = (
        min(
            -d.body_height / 2,
            d.lamina_offset - d.lamina_height / 2,
            d.lamina_offset - d.spinous_length * math.sin(tilt) - d.spinous_height / 2,
        )
        - 3
    )
    w_high = max(d.body_height / 2, d.lamina_offset + d.lamina_height / 2) + 3
    return (-u_max, u_max), (v_front, v_back), (w_low, w_high)


def _level_points(column: _Column, level: str) -> FloatArray:
    u_range, v_range, w_range = _local_extent(column.dims(level))
    s0 = column.s_centre[level]
    return _sample_box_points(
        column.line, column.arc(level), u_range, v_range, (s0 + w_range[0], s0 + w_range[1])
    )


# ---------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------
def _check_inputs(
    spacing_mm: Sequence[float],
    shape: Sequence[int] | None,
    orientation: str,
    lordosis_deg: float,
    axial_rotation_deg: float,
    noise_hu: float,
    tilt_deg: float = 0.0,
) -> tuple[tuple[float, float, float], tuple[int, int, int] | None, str]:
    spacing = tuple(float(v) for v in spacing_mm)
    if len(spacing) != 3 or not all(math.isfinite(v) and 0.1 <= v <= 10.0 for v in spacing):
        raise SpinetvError(
            f"spacing_mm: expected 3 values (slice, row, column) in 0.1-10 mm, got {spacing_mm!r}"
        )
    grid_shape = None
    if shape is not None:
        grid_shape = tuple(int(n) for n in shape)
        if len(grid_shape) != 3 or any(n < 1 for n in grid_shape):
            raise SpinetvError(
                f"shape: expected 3 positive voxel counts (slice, row, column), got {shape!r}"
            )
    key = str(orientation).upper()
    if key not in ORIENTATIONS:
        raise SpinetvError(
            f"orientation: expected one of {', '.join(ORIENTATIONS)}, got {orientation!r}"
        )
    if not (math.isfinite(lordosis_deg) and abs(lordosis_deg) <= _MAX_LORDOSIS_DEG):
        raise SpinetvError(f"lordosis_deg: expected -30..30 degrees, got {lordosis_deg!r}")
    if not (math.isfinite(axial_rotation_deg) and abs(axial_rotation_deg) <= _MAX_ROTATION_DEG):
        raise SpinetvError(
            f"axial_rotation_deg: expected -20..20 degrees, got {axial_rotation_deg!r}"
        )
    if not (math.isfinite(tilt_deg) and abs(tilt_deg) <= _MAX_TILT_DEG):
        raise SpinetvError(f"tilt_deg: expected -60..60 degrees, got {tilt_deg!r}")
    if not (math.isfinite(noise_hu) and noise_hu >= 0):
        raise SpinetvError(f"noise_hu: expected a standard deviation >= 0 HU, got {noise_hu!r}")
    return spacing, grid_shape, key  # type: ignore[return-value]


@dataclass(frozen=True)
class _OutlineModel:
    """The canal's y as a function of z, and the levels' heights and outline sizes."""

    z_line: FloatArray
    y_line: FloatArray
    z_levels: FloatArray
    half_width: FloatArray
    half_depth: FloatArray
    posterior: FloatArray

    @classmethod
    def of(cls, column: _Column) -> _OutlineModel:
        line = column.line
        s_low, s_high = column.canal_range
        s = np.arange(s_low - 250.0, s_high + 250.0, 1.0)
        points = line.upper.point(s)
        if line.lower is not None:
            below = s < line.junction_s
            points[below] = line.lower.point(s[below])
        order = np.argsort(points[:, 2])
        dims = [column.dims(lv) for lv in column.levels]
        return cls(
            z_line=points[order, 2],
            y_line=points[order, 1],
            z_levels=np.array(
                [column.arc(lv).point(column.s_centre[lv])[2] for lv in column.levels]
            ),
            half_width=np.array([d.outline_half_width for d in dims]),
            half_depth=np.array([d.outline_half_depth for d in dims]),
            posterior=np.array([d.outline_posterior for d in dims]),
        )

    def at(self, z: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Outline centre y, half width and half depth at patient heights ``z`` (mm)."""
        y_canal = np.interp(z, self.z_line, self.y_line)
        nearest = np.abs(np.asarray(z)[..., None] - self.z_levels).argmin(axis=-1)
        half_d = self.half_depth[nearest]
        centre_y = y_canal + self.posterior[nearest] - half_d
        return centre_y, self.half_width[nearest], half_d


def _content_bounds(column: _Column) -> tuple[FloatArray, FloatArray]:
    points = np.concatenate([_level_points(column, lv) for lv in column.levels])
    low, high = points.min(axis=0), points.max(axis=0)
    low[2] -= _MARGIN_MM
    high[2] += _MARGIN_MM
    z = np.linspace(low[2], high[2], 64)
    centre_y, half_w, half_d = _OutlineModel.of(column).at(z)
    low[0] = min(low[0], -float(half_w.max())) - 10.0
    high[0] = max(high[0], float(half_w.max())) + 10.0
    low[1] = min(low[1], float((centre_y - half_d).min())) - 10.0
    high[1] = max(high[1], float((centre_y + half_d).max())) + 10.0
    return low, high


def _paint_outline(tissue: NDArray[np.uint8], grid: ImageGrid, column: _Column) -> None:
    model = _OutlineModel.of(column)
    chunk = max(1, int(8_000_000 // (grid.shape[1] * grid.shape[2])))
    for start in range(0, grid.shape[0], chunk):
        stop = min(grid.shape[0], start + chunk)
        box = BoundingBox((start, 0, 0), (stop, grid.shape[1], grid.shape[2]))
        x, y, z = _box_lps(grid, box)
        centre_y, half_w, half_d = model.at(z)
        outer = (x / half_w) ** 2 + ((y - centre_y) / half_d) ** 2 <= 1.0
        inner_w = np.maximum(half_w - _FAT_LAYER_MM, 1.0)
        inner_d = np.maximum(half_d - _FAT_LAYER_MM, 1.0)
        inner = (x / inner_w) ** 2 + ((y - centre_y) / inner_d) ** 2 <= 1.0
        outer, inner = np.broadcast_arrays(outer, inner)
        region = tissue[start:stop]
        region[outer] = _FAT
        region[inner] = _SOFT


@dataclass
class _Work:
    """Mutable full-grid label volumes, private to one generator run."""

    grid: ImageGrid
    tissue: NDArray[np.uint8]
    owner: NDArray[np.uint8]
    canal: NDArray[np.bool_]
    foramina: NDArray[np.bool_]
    disc: NDArray[np.bool_]
    boxes: dict[str, BoundingBox] = field(default_factory=dict)
    part_arrays: dict[str, NDArray[np.uint8]] = field(default_factory=dict)


def _local_in_box(
    work: _Work, column: _Column, box: BoundingBox, arc: Arc | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, y, z = _box_lps(work.grid, box)
    shape = box.shape
    x, y, z = (np.ascontiguousarray(_full(c, shape)) for c in (x, y, z))
    if arc is None:
        return column.line.local(x, y, z)
    return column.line.local_on_arc(arc, x, y, z)


def _paint_neural(work: _Work, column: _Column) -> tuple[Mask, Mask, Mask | None, Mask | None]:
    """Canal, cord, thecal sac and cauda equina: continuous tubes along the centreline."""
    grid = work.grid
    s_low, s_high = column.canal_range
    line = column.line
    cw_max = max(column.dims(lv).canal_width for lv in LEVEL_NAMES) / 2 + 2
    cd_max = max(column.dims(lv).canal_depth for lv in LEVEL_NAMES) / 2 + 2
    pieces = []
    if line.lower is None or s_high >= line.junction_s:
        low = s_low if line.lower is None else max(s_low, line.junction_s - 10)
        pieces.append(
            _sample_box_points(
                line, line.upper, (-cw_max, cw_max), (-cd_max, cd_max), (low, s_high)
            )
        )
    if line.lower is not None and s_low < line.junction_s:
        high = min(s_high, line.junction_s + 10)
        pieces.append(
            _sample_box_points(
                line, line.lower, (-cw_max, cw_max), (-cd_max, cd_max), (s_low, high)
            )
        )
    box = _box_of_points(grid, np.concatenate(pieces), pad=3)
    if box.is_empty:
        empty = Mask.empty(grid)
        return empty, empty, None, None
    u, v, s = _local_in_box(work, column, box, None)
    half_w, half_d = column.canal_half(s)
    in_range = (s >= s_low) & (s <= s_high)
    canal = in_range & ((u / half_w) ** 2 + (v / half_d) ** 2 <= 1.0)
    # Cord: tapers to a point over the conus.
    cord_w, cord_d = column.cord_half(s)
    taper = np.sqrt(np.clip((s - column.s_conus) / _CONUS_TAPER_MM, 0.0, 1.0))
    cord_w, cord_d = cord_w * taper, cord_d * taper
    cord = (
        canal
        & (taper > 0)
        & ((u / np.maximum(cord_w, 1e-6)) ** 2 + (v / np.maximum(cord_d, 1e-6)) ** 2 <= 1.0)
    )
    # Dural sac below the conus (ends at the middle of S2) and the cauda equina inside it.
    sac_taper = np.sqrt(np.clip((s - column.s_sac_end) / 10.0, 0.0, 1.0))
    sac_w = np.maximum(half_w * _SAC_SCALE * sac_taper, 1e-6)
    sac_d = np.maximum(half_d * _SAC_SCALE * sac_taper, 1e-6)
    in_sac = (u / sac_w) ** 2 + (v / sac_d) ** 2 <= 1.0
    sac = canal & in_sac & (s <= column.s_conus + _CONUS_TAPER_MM) & (sac_taper > 0)
    in_cauda = (u / (sac_w * _CAUDA_SCALE)) ** 2 + (
        (v - 0.15 * sac_d) / (sac_d * _CAUDA_SCALE)
    ) ** 2 <= 1.0
    cauda = sac & in_cauda & (s <= column.s_conus) & ~cord
    region = work.tissue[box.slices]
    region[canal] = _CSF
    region[cauda] = _CAUDA
    region[cord] = _CORD
    work.canal[box.slices] |= canal
    sac_mask = Mask.from_box(grid, box, sac)
    cauda_mask = Mask.from_box(grid, box, cauda)
    return (
        Mask.from_box(grid, box, canal),
        Mask.from_box(grid, box, cord),
        None if sac_mask.is_empty else sac_mask,
        None if cauda_mask.is_empty else cauda_mask,
    )


def _paint_level(work: _Work, column: _Column, level: str, index: int, hiatus: bool) -> None:
    dims = column.dims(level)
    arc = column.arc(level)
    box = _box_of_points(work.grid, _level_points(column, level), pad=2)
    work.boxes[level] = box
    if box.is_empty:
        work.part_arrays[level] = np.zeros(box.shape, dtype=np.uint8)
        return
    u, v, s = _local_in_box(work, column, box, arc)
    w = s - column.s_centre[level]
    half_w, half_d = column.canal_half(s)
    canal = work.canal[box.slices]
    body_half_width: FloatArray | float | None = None
    if dims.is_sacral:
        body_width = column.sacral(s, "body_width")
        solid = _shapes.sacral_segment_bone(
            u,
            v,
            w,
            dims,
            body_width=body_width,
            body_depth=column.sacral(s, "body_depth"),
            ala_half_width=column.sacral(s, "ala_half_width"),
            lamina_thickness=column.sacral(s, "lamina_thickness"),
            canal_half_width=half_w,
            canal_half_depth=half_d,
            hiatus=hiatus,
        )
        holes = np.zeros(box.shape, dtype=bool)
        position = LEVEL_NAMES.index(level)
        for border, upper_name in (
            (column.s_centre[level] + dims.body_height / 2, LEVEL_NAMES[position - 1]),
            (column.s_centre[level] - dims.body_height / 2, level),
        ):
            upper_dims = column.dims(upper_name)
            if not upper_dims.is_sacral or upper_dims.foramen_radius <= 0:
                continue
            bw = float(column.sacral(np.array(border), "body_width")) / 2
            cw = float(column.canal_half(np.array(border))[0])
            holes |= _shapes.sacral_foramina(
                u,
                v,
                s,
                boundary_s=border,
                radius=upper_dims.foramen_radius,
                body_half_width=bw,
                canal_half_width=cw,
            )
        holes &= solid & ~canal
        work.foramina[box.slices] |= holes
        solid &= ~holes
        body_half_width = body_width / 2
    else:
        solid = _shapes.vertebra_bone(u, v, w, dims, half_w, half_d)
        if level != "C1":
            body_half_width = dims.body_width / 2
    owner = work.owner[box.slices]
    bone = solid & ~canal & (owner == 0)
    parts = _shapes.label_parts(u, v, bone, half_w, half_d, body_half_width=body_half_width)
    work.part_arrays[level] = parts
    owner[bone] = index + 1
    region = work.tissue[box.slices]
    region[bone] = _MARROW
    if not dims.is_sacral:
        _paint_cortex(region, bone)


def _paint_cortex(region: NDArray[np.uint8], bone: NDArray[np.bool_]) -> None:
    """A one-voxel cortical shell on the surface of ``bone``."""
    region[bone & ~ndimage.binary_erosion(bone, border_value=0)] = _CORTEX


def _paint_sacral_cortex(work: _Work, levels: Sequence[str]) -> None:
    """The sacral segments are fused: one cortical shell around all of them, none between."""
    sacral = [(i, lv) for i, lv in enumerate(levels) if lv.startswith("S")]
    boxes = [work.boxes[lv] for _, lv in sacral if not work.boxes[lv].is_empty]
    if not boxes:
        return
    box = boxes[0]
    for other in boxes[1:]:
        box = box.union(other)
    owner = work.owner[box.slices]
    bone = np.isin(owner, [i + 1 for i, _ in sacral])
    _paint_cortex(work.tissue[box.slices], bone)


def _paint_discs(work: _Work, column: _Column) -> None:
    levels = column.levels
    for upper_name, lower_name in zip(levels[:-1], levels[1:]):
        if lower_name.startswith("S") and upper_name != "L5":
            continue
        upper, lower = column.dims(upper_name), column.dims(lower_name)
        arc_up, arc_low = column.arc(upper_name), column.arc(lower_name)
        s_up, s_low = column.s_centre[upper_name], column.s_centre[lower_name]
        width = 0.5 * (upper.body_width + lower.body_width)
        depth = 0.5 * (upper.body_depth + lower.body_depth)
        cd = upper.canal_depth / 2
        u_range = (-width / 2 - 2, width / 2 + 2)
        v_range = (-cd - depth - 3, -cd + 2)
        gap = upper.disc_below + 0.6 * depth
        points = np.concatenate(
            [
                _sample_box_points(
                    column.line,
                    arc_up,
                    u_range,
                    v_range,
                    (s_up - upper.body_height / 2 - gap, s_up - upper.body_height / 2 + 1),
                ),
                _sample_box_points(
                    column.line,
                    arc_low,
                    u_range,
                    v_range,
                    (s_low + lower.body_height / 2 - 1, s_low + lower.body_height / 2 + gap),
                ),
            ]
        )
        box = _box_of_points(work.grid, points, pad=2)
        if box.is_empty:
            continue
        u, v, s = _local_in_box(work, column, box, arc_up)
        _, _, s2 = _local_in_box(work, column, box, arc_low)
        w_up = s - s_up
        w_low = s2 - s_low
        _, half_d = column.canal_half(s)
        section = _shapes.body(
            u,
            v,
            w_up,
            width=width,
            depth=depth,
            height=1.0,
            posterior_wall=-half_d,
            waist=0.0,
            w_range=(-np.inf, np.inf),
        )
        disc = section & (w_up < -upper.body_height / 2) & (w_low >= lower.body_height / 2)
        disc &= w_up > -upper.body_height / 2 - gap
        disc &= (work.owner[box.slices] == 0) & ~work.canal[box.slices]
        work.disc[box.slices] |= disc
        work.tissue[box.slices][disc] = _DISC


def _gtv_for_level(
    work: _Work, column: _Column, spec: GtvSpec, level: str
) -> tuple[BoundingBox, NDArray[np.bool_], NDArray[np.bool_]] | None:
    """Bony lesion and soft-tissue extension of ``spec`` at ``level``, in a padded box."""
    dims = column.dims(level)
    box0 = work.boxes.get(level)
    parts0 = work.part_arrays.get(level)
    if box0 is None or parts0 is None or box0.is_empty:
        return None
    reach = max(spec.epidural_mm, spec.paraspinal_mm)
    box = box0.padded(work.grid.voxels_for_distance(reach + 2.0), work.grid.shape)
    parts = np.zeros(box.shape, dtype=np.uint8)
    inner = tuple(slice(a - b, a - b + n) for a, b, n in zip(box0.start, box.start, box0.shape))
    parts[inner] = parts0
    u, v, s = _local_in_box(work, column, box, column.arc(level))
    w = s - column.s_centre[level]
    radius = float(spec.radius_mm) if spec.radius_mm is not None else dims.gtv_radius
    voxel_cc = work.grid.voxel_volume_cc
    requested = np.isin(parts, spec.sectors)
    lesion = np.zeros(box.shape, dtype=bool)
    centres: dict[int, tuple[float, float, float]] = {}
    side = spec.body_side
    if side is None:
        left = any(s in spec.sectors for s in (2, 3))
        right = any(s in spec.sectors for s in (5, 6))
        side = "left" if left and not right else "right" if right and not left else "focal"
    for sector in spec.sectors:
        part = parts == sector
        if not part.any():
            continue
        pu, pv, pw = (float(c[part].mean()) for c in (u, v, w))
        if sector == 1:
            half_width = float(np.abs(u[part]).max())
            if side == "diffuse":
                blob = part & (
                    (u / (0.9 * half_width)) ** 2 + ((v - pv) / (0.9 * (np.ptp(v[part]) / 2))) ** 2
                    <= 1.0
                )
                blob &= np.abs(w - pw) <= 0.45 * float(np.ptp(w[part]))
            elif side in ("left", "right"):
                sign = 1.0 if side == "left" else -1.0
                pu = sign * half_width / 2
                ball = (u - pu) ** 2 + (v - pv) ** 2 + (w - pw) ** 2 <= radius**2
                blob = part & ball & (sign * u >= _LATERAL_CLEARANCE_MM)
            else:
                focal_radius = min(radius + 2.0, half_width / 3 + 3.5)
                pu = half_width / 3
                blob = part & ((u - pu) ** 2 + (v - pv) ** 2 + (w - pw) ** 2 <= focal_radius**2)
        else:
            blob = part & ((u - pu) ** 2 + (v - pv) ** 2 + (w - pw) ** 2 <= radius**2)
            if np.count_nonzero(blob) * voxel_cc < min(
                0.15, 0.5 * np.count_nonzero(part) * voxel_cc
            ):
                blob = part
        lesion |= blob
        centres[sector] = (pu, pv, pw)
    for first, second in _RING:
        if first in centres and second in centres:
            a, b = np.array(centres[first]), np.array(centres[second])
            axis = b - a
            t = np.clip(
                ((u - a[0]) * axis[0] + (v - a[1]) * axis[1] + (w - a[2]) * axis[2])
                / (axis @ axis),
                0,
                1,
            )
            dist2 = (
                (u - a[0] - t * axis[0]) ** 2
                + (v - a[1] - t * axis[1]) ** 2
                + (w - a[2] - t * axis[2]) ** 2
            )
            lesion |= requested & (dist2 <= (0.6 * radius) ** 2)
    soft = np.zeros(box.shape, dtype=bool)
    if reach > 0 and lesion.any():
        w_low, w_high = float(w[lesion].min()) - 2.0, float(w[lesion].max()) + 2.0
        band = (w >= w_low) & (w <= w_high)
        distance = ndimage.distance_transform_edt(~requested, sampling=work.grid.spacing_mm)
        # Extensions stay next to the lesion, not around the whole involved sectors.
        near_lesion = ndimage.distance_transform_edt(~lesion, sampling=work.grid.spacing_mm)
        band &= near_lesion <= reach + radius
        canal = work.canal[box.slices]
        if spec.epidural_mm > 0:
            cord = work.tissue[box.slices] == _CORD
            cord_zone = ndimage.binary_dilation(cord) if cord.any() else cord
            soft |= canal & band & (distance <= spec.epidural_mm) & ~cord_zone
        if spec.paraspinal_mm > 0:
            tissue = work.tissue[box.slices]
            outside = (tissue == _SOFT) | (tissue == _FAT)
            soft |= outside & band & (distance <= spec.paraspinal_mm) & ~canal
    return box, lesion, soft


def _paint_gtvs(work: _Work, column: _Column, specs: Sequence[GtvSpec]) -> Mask | None:
    if not specs:
        return None
    gtv = np.zeros(work.grid.shape, dtype=bool)
    for spec in specs:
        missing = [lv for lv in spec.levels if lv not in column.levels]
        if missing:
            raise SpinetvError(
                f"GtvSpec at {spec.level}: level(s) {', '.join(missing)} are not in the phantom "
                f"(levels {', '.join(column.levels)})"
            )
        bone_hu = _GTV_LYTIC if spec.kind == "lytic" else _GTV_BLASTIC
        for level in spec.levels:
            result = _gtv_for_level(work, column, spec, level)
            if result is None:
                continue
            box, lesion, soft = result
            region = work.tissue[box.slices]
            region[soft & ~gtv[box.slices]] = _GTV_SOFT
            region[lesion] = bone_hu
            gtv[box.slices] |= lesion | soft
    mask = Mask.from_array(work.grid, gtv)
    return None if mask.is_empty else mask


def _frames(column: _Column) -> dict[str, LevelFrame]:
    frames = {}
    for level in column.levels:
        arc = column.arc(level)
        s = column.s_centre[level]
        half_w, half_d = column.canal_half(np.array(s))
        frames[level] = LevelFrame(
            origin_lps_mm=arc.point(s),
            axes_lps=column.line.axes_lps(arc, s),
            canal_half_width_mm=float(half_w),
            canal_half_depth_mm=float(half_d),
        )
    return frames


def make_spine_phantom(
    *,
    levels: Sequence[str] | str = ("L1", "L2", "L3"),
    spacing_mm: Sequence[float] = (1.0, 1.0, 1.0),
    shape: Sequence[int] | None = None,
    orientation: Orientation | str = "HFS",
    lordosis_deg: float = 0.0,
    axial_rotation_deg: float = 0.0,
    tilt_deg: float = 0.0,
    sacral_kyphosis_deg: float | None = None,
    sacral_hiatus: str | None = None,
    gtv: GtvSpec | Sequence[GtvSpec] | None = None,
    noise_hu: float = 0.0,
    seed: int = 0,
) -> SpinePhantom:
    """Make a synthetic spine CT with exact ground-truth vertebrae, parts, canal, cord and GTV.

    Parameters
    ----------
    levels : sequence of str or str, default ("L1", "L2", "L3")
        Consecutive levels, e.g. ``("L1", "L2", "L3")``, ``"T10-L3"`` or ``"L4,L5,S1"``.
    spacing_mm : sequence of 3 float, default (1.0, 1.0, 1.0)
        Voxel spacing (slice, row, column), mm, each 0.1-10 mm.
    shape : sequence of 3 int or None, default None
        Grid size in voxels (slice, row, column). None fits the levels (plus 15 mm above and
        below) and the whole body outline; an explicit size is centred on the levels.
    orientation : {"HFS", "FFS", "HFP", "FFP"}, default "HFS"
        Patient position, setting the grid's direction (see the module notes). The anatomy in
        patient (LPS) space does not depend on it.
    lordosis_deg : float, default 0.0
        Sagittal curvature over the mobile levels, degrees (-30..30; + lordosis, - kyphosis).
    axial_rotation_deg : float, default 0.0
        Rotation of the spine about its axis, degrees (-20..20; + turns the vertebral bodies
        towards the patient's left).
    tilt_deg : float, default 0.0
        Sagittal tilt of the whole mobile spine, degrees (-60..60): the canal's direction at
        the middle of the mobile levels leans this far from +z towards posterior (+ as the
        lower lumbar spine and S1 lean in lordosis). With ``lordosis_deg`` it poses a lone
        vertebra the way it lies in a patient.
    sacral_kyphosis_deg : float or None, default None
        Total sagittal curvature of the sacrum from the top of S1 to the bottom of S5, degrees
        (0..60; default the table's 30): each segment leans this divided by five more than
        the one above it.
    sacral_hiatus : str or None, default None
        First sacral segment without laminae or median crest (the sacral hiatus), "S1".."S5"
        (default the table's S5; "S1" gives an open S1 arch, as in spina bifida occulta).
    gtv : GtvSpec or sequence of GtvSpec or None, default None
        Lesions to place (None: no lesion).
    noise_hu : float, default 0.0
        Standard deviation of Gaussian noise added to the CT numbers, HU (>= 0).
    seed : int, default 0
        Seed of the noise (the geometry does not depend on it); equal inputs give equal
        voxels (only the grid's FrameOfReferenceUID is new each time).

    Returns
    -------
    SpinePhantom
        The CT (int16 HU) on a new grid and its ground truth on the same grid.

    Raises
    ------
    SpinetvError
        When a value is out of its range above, a level is unknown or the levels are not
        consecutive, ``orientation`` is unknown, ``sacral_hiatus`` is not S1..S5, or ``gtv``
        holds something other than :class:`GtvSpec`.
    """
    spacing, grid_shape, key = _check_inputs(
        spacing_mm,
        shape,
        str(orientation),
        float(lordosis_deg),
        float(axial_rotation_deg),
        float(noise_hu),
        float(tilt_deg),
    )
    level_tuple = parse_levels(levels)
    specs: tuple[GtvSpec, ...]
    if gtv is None:
        specs = ()
    elif isinstance(gtv, GtvSpec):
        specs = (gtv,)
    else:
        specs = tuple(gtv)
        if not all(isinstance(g, GtvSpec) for g in specs):
            raise SpinetvError("gtv: expected a GtvSpec or a sequence of GtvSpec")
    if sacral_kyphosis_deg is not None and not (
        math.isfinite(sacral_kyphosis_deg) and 0.0 <= sacral_kyphosis_deg <= 60.0
    ):
        raise SpinetvError(
            f"sacral_kyphosis_deg: expected 0..60 degrees, got {sacral_kyphosis_deg!r}"
        )
    if sacral_hiatus is not None and sacral_hiatus not in ("S1", "S2", "S3", "S4", "S5"):
        raise SpinetvError(f"sacral_hiatus: expected S1..S5, got {sacral_hiatus!r}")
    column = _build_column(
        level_tuple,
        float(lordosis_deg),
        float(axial_rotation_deg),
        float(tilt_deg),
        sacral_kyphosis_deg,
        sacral_hiatus,
    )
    low, high = _content_bounds(column)
    if grid_shape is None:
        extent = high - low  # x, y, z
        grid_shape = (
            int(math.ceil(extent[2] / spacing[0])) + 1,
            int(math.ceil(extent[1] / spacing[1])) + 1,
            int(math.ceil(extent[0] / spacing[2])) + 1,
        )
    centre = tuple(float(c) for c in 0.5 * (low + high))
    grid = phantom_grid(key, grid_shape, spacing, centre, f"2.25.{uuid.uuid4().int}")
    work = _Work(
        grid=grid,
        tissue=np.zeros(grid.shape, dtype=np.uint8),
        owner=np.zeros(grid.shape, dtype=np.uint8),
        canal=np.zeros(grid.shape, dtype=bool),
        foramina=np.zeros(grid.shape, dtype=bool),
        disc=np.zeros(grid.shape, dtype=bool),
    )
    _paint_outline(work.tissue, grid, column)
    canal, cord, sac, cauda = _paint_neural(work, column)
    hiatus_index = LEVEL_NAMES.index(column.table.sacrum.hiatus)
    for index, level in enumerate(level_tuple):
        _paint_level(work, column, level, index, LEVEL_NAMES.index(level) >= hiatus_index)
    _paint_sacral_cortex(work, level_tuple)
    _paint_discs(work, column)
    gtv_mask = _paint_gtvs(work, column, specs)

    hu = _HU_TABLE[work.tissue]
    if noise_hu > 0:
        rng = np.random.default_rng(seed)
        chunk = max(1, int(4_000_000 // (grid.shape[1] * grid.shape[2])))
        for start in range(0, grid.shape[0], chunk):
            block = hu[start : start + chunk]
            noise = rng.standard_normal(block.shape, dtype=np.float32) * np.float32(noise_hu)
            block[...] = np.clip(np.rint(block + noise), -1024, 3071).astype(np.int16)
    hu.setflags(write=False)

    vertebrae: dict[str, Mask] = {}
    parts: dict[str, Mapping[int, Mask]] = {}
    for level in level_tuple:
        box, labels = work.boxes[level], work.part_arrays[level]
        if box.is_empty:
            vertebrae[level] = Mask.empty(grid)
            parts[level] = MappingProxyType({n: Mask.empty(grid) for n in _SECTORS})
            continue
        vertebrae[level] = Mask.from_box(grid, box, labels > 0)
        parts[level] = MappingProxyType(
            {n: Mask.from_box(grid, box, labels == n) for n in _SECTORS}
        )
    has_sacrum = any(lv.startswith("S") for lv in level_tuple)
    settings = {
        "levels": ",".join(level_tuple),
        "orientation": key,
        "spacing_mm": list(spacing),
        "lordosis_deg": float(lordosis_deg),
        "axial_rotation_deg": float(axial_rotation_deg),
        "tilt_deg": float(tilt_deg),
        "sacral_kyphosis_deg": column.table.sacrum.kyphosis_deg,
        "sacral_hiatus": column.table.sacrum.hiatus,
        "noise_hu": float(noise_hu),
        "seed": int(seed),
    }
    return SpinePhantom(
        grid=grid,
        hu=hu,
        levels=level_tuple,
        vertebrae=MappingProxyType(vertebrae),
        parts=MappingProxyType(parts),
        canal=canal,
        cord=cord,
        thecal_sac=sac,
        cauda_equina=cauda,
        sacral_foramina=Mask.from_array(grid, work.foramina) if has_sacrum else None,
        discs=Mask.from_array(grid, work.disc),
        gtv=gtv_mask,
        body_outline=Mask.from_array(grid, work.tissue != _AIR),
        frames=MappingProxyType(_frames(column)),
        gtv_specs=specs,
        settings=MappingProxyType(settings),
    )
