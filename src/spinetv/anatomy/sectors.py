"""The six ISRC sectors of a vertebra (Cox et al., IJROBP 2012;83:e597).

=====  ========================================  ===============================
label  vertebra (C1-L5)                          sacral segment (S1-S5, Dunne 2020)
=====  ========================================  ===============================
1      vertebral body (C1: anterior arch)        body
2      left pedicle                              left ala / lateral mass
3      left transverse process and lamina        left lamina / posterior elements
4      spinous process                           median crest
5      right transverse process and lamina       right lamina / posterior elements
6      right pedicle                             right ala / lateral mass
=====  ========================================  ===============================

Left and right are the patient's (+x in LPS is left).

Geometric definition (clinical rules section 2), in the vertebra's :class:`LocalFrame`
(``u`` towards the patient's left, ``v`` posterior, ``s`` superior, mm), with the canal's
anterior wall ``a``, posterior wall ``p``, centre ``c = (a + p) / 2``, lateral centre ``uc`` and
lateral half-width ``w``:

* ``v < a``: sector 1;
* ``a <= v < c``: sector 2 if ``u > uc`` else 6;
* ``v >= c``: sector 4 if ``v > p`` and ``|u - uc| <= w``, else 3 if ``u > uc`` else 5.

Refinements of the reference definition (each tested):

* Sector 1 is only the bone anterior to ``a`` within the body's own lateral extent, measured
  on the body (the bone at least half the body's depth in front of ``a``, see
  :func:`body_lr_bounds`); bone anterior to ``a`` lateral to it (the large anterolateral
  transverse processes of L5, cervical anterior tubercles) goes by side to 2/6. Not for C1
  (no body) nor the sacrum (below). At C2-C7 (``cervical_body_min_height_fraction``; C2's
  body measured below its dens) only the columns of that bone (along the SI axis) at least
  0.7 times as tall as the body's middle count, so that an anterior tubercle reaching as
  deep as the body's mid-depth (C6's carotid tubercle), about half as tall as the body, does
  not widen it.
* A point within ``TIE_MM`` (1e-6 mm) of ``a`` or ``c`` counts as posterior to it, so a row of
  voxels lying on a wall of an axis-aligned grid falls on one defined side.

* Bone between ``a`` and ``c`` inside the canal's lateral bounds (the lateral recesses of a
  trefoil canal) goes by side to 2/6; bone between ``c`` and ``p`` inside the bounds (the
  inner face of the laminae) by side to 3/5. This makes the six sectors a partition.
* Each wall lies midway between the outermost canal voxel centre and the nearest bone voxel
  centre beyond it (bone looked for within two voxels beside the canal's outermost band, and
  at least a tenth of a voxel beyond it), i.e. on the bone's inner surface.
* The canal walls come from the canal's cross-section: for a derived canal, from the projected
  ring of this vertebra over its whole height, with the anterior and posterior walls measured
  again per slab where the bone bounds the canal in that slab (a straight prism is narrower
  than a curved canal; see ``_walls_from_section``); for a contoured canal, measured per slab
  of ``slab_mm`` along the local SI axis, slabs with too small a cross-section taking the
  nearest good slab's walls.
* ``a`` is the posterior wall of the body in the canal's midline (its deepest point): a
  derived canal's per-slab ``a`` and ``p`` are measured within one voxel of the canal's lateral
  centre ``uc`` only, since bone beside a rounded canal lies less deep than that wall and would
  give the body the pedicles' roots. Where the canal's depth does not change from slab to slab
  the wall is one: each slab only bounds it (between its deepest free voxel centre and the bone
  beyond, up to a voxel apart, the lattice's phase drifting from slab to slab on a tilted
  grid; ``a`` is narrowed across a band of the canal's width as far as the voxels show the
  body's back flat there, see ``ap_wall_band_half_width_ratio``), so a slab's wall is the
  middle of what its own bounds and those of its neighbours on either side leave, the
  neighbours taken while their bounds overlap (bounds that only touch, as two rows of an
  axis-aligned lattice do, do not). Where the depth changes (across a disc, a
  curved canal), the bounds stop overlapping and each part keeps its own wall; the wall never
  leaves a slab's own bounds, and stays at their middle when the neighbours would move it by
  less than 0.03 voxel (a row of voxel centres on ``c`` of an axis-aligned grid stays on it).
* Cervical transverse processes (C2-C7, by level name; ``cervical_transverse_foramina``): the
  transverse process lies beside the pedicle, in front of ``c``, and carries the transverse
  foramen. Where a foramen is found (a hole of the bone's projection along the SI axis,
  lateral to the canal and in front of ``c``; :func:`transverse_foramina`), bone in front of
  ``c`` at or beyond its medial edge, and bone in front of ``a`` beside the body (the anterior
  root and tubercle, i.e. the costal element), is transverse process: 3 or 5 by side, not
  2/6. The pedicle is then the bone between the end of the body's posterior wall, the canal,
  the foramen and ``c``; the foramen's medial wall (the pedicle's lateral cortex) stays
  pedicle. A side without a foramen keeps the reference rule (the phantom has none). The
  uncinate processes, above the body's posterolateral corners and in front of ``a`` within
  the body's width, are body by the rule above.
* A foramen's medial edge is placed on a circle fitted to the foramen's wall (the midpoints
  between its free voxel centres and the nearest bone), at the radius that the fewest points
  of its medial half contradict (:func:`_foramen_edge`): each point only bounds the edge, and
  the many points at their own lattice phases narrow it to a small fraction of a voxel. The
  circle's centre is likewise the middle of the centres its points contradict least, and
  the radius is narrowed by the whole wall where it agrees with the medial half.
* Cervical axial rotation (C2-C7; ``cervical_rotation_from_body_core``): the frame's AP axis
  is turned about its SI axis to point from the centroid of the body's core (the bone at
  least half the body's depth in front of ``a``, within 1.5 canal half-widths of the
  midline; :func:`body_core_ap_axis`) to the canal's axis. The frame's own estimate takes
  all bone in front of the canal within three canal half-widths, which at a cervical level
  holds the transverse processes and misses most of a 10 deg rotation. The canal's
  anterior wall is taken in the middle half of the arch's height only (at C2 the box holds
  C1's ring, whose canal with the dens's space reaches far in front of C2's; at the discs a
  derived canal may reach in front of the body).
* A contoured canal's wall in a slab lies midway to the bone beyond it only where that bone
  lies within ``contoured_wall_max_gap_voxels`` (1.5) voxels of the canal; elsewhere on the
  canal's own surface (between the laminae the spinous process behind them would otherwise
  give the posterior wall, moving ``c`` by several mm).
* C1 (detected by level name; ``c1_lateral_masses``, :func:`atlas_labels`) has no body. Its
  frame is turned about the SI axis to the line through its two transverse foramina (the
  frame's own AP estimate, pulled by lateral masses as deep as the arch, can be tens of
  degrees off). Sector 1 is the anterior arch: the bone in front of the hole of the ring's
  projection (which holds the dens), followed column by column where the hole reaches at
  least halfway from the canal behind the dens to the arch in the midline; a contoured
  canal, which lies behind the dens, would give the front of the lateral masses to 1. The
  lateral masses (2/6) reach back to ``c1``, the middle of the canal behind the dens (the
  ring's own middle, dens included, lies several mm further forward); behind ``c1`` the
  posterior arch is 3/5, and 4 behind ``p`` within the canal's lateral bounds; bone at or
  beyond a transverse foramen's medial edge is transverse process (3/5). A derived canal at
  C1 is the whole ring including the space of the dens (measured before C2's bone is
  removed from the canal).
* C2 (detected by level name): the dens belongs to sector 1 (it lies in front of ``a``, and
  bone superior to the highest posterior-element voxel, sectors 3-5, within the canal's
  lateral bounds is set to 1); the body's width is measured below the dens, by the
  body-height rule of C3-C7.
* Sacral segments (S1-S5 by level name): the body is only the bone anterior to ``a`` between
  the medial edges of the anterior sacral foramina, found on the segment's bone
  (:func:`~spinetv.anatomy.sacrum.sacral_body_borders`, ``sacral_body_from_foramina``); bone
  anterior to ``a`` beyond them is ala (2/6), since the alae lie lateral to the bodies. Where
  no foramen is found, with a warning, the body is the bone within
  ``sacral_body_half_width_ratio * w`` of the canal's midline.
* A voxel exactly on the midline (``u == uc``) is counted right.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinetv.anatomy.canal import (
    METHOD_ARCH,
    CanalMethod,
    CanalOptions,
    CanalResult,
    ProjectedCanal,
    derive_canal,
    prism_box,
)
from spinetv.anatomy.frame import LocalFrame, fit_axis_through_slices, local_frame
from spinetv.anatomy.levels import is_sacral, parse_level
from spinetv.errors import AnatomyError, AnatomyWarning
from spinetv.frozen import FrozenMap
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.labels import LabelMap
from spinetv.geometry.mask import Mask
from spinetv.vocabulary import sector_names

if TYPE_CHECKING:
    from spinetv.anatomy.sacrum import SacralBodyBorders

__all__ = [
    "SECTOR_NAMES",
    "SACRAL_SECTOR_NAMES",
    "SectorOptions",
    "CanalWalls",
    "VertebraSectors",
    "label_sectors",
    "label_spine",
    "assign_sectors",
    "body_lr_bounds",
    "transverse_foramina",
    "atlas_labels",
    "symmetry_turn_deg",
]

#: Sector number -> name (one definition: :mod:`spinetv.vocabulary`).
SECTOR_NAMES: Mapping[int, str] = sector_names()
SACRAL_SECTOR_NAMES: Mapping[int, str] = sector_names(sacral=True)

METHOD_GIVEN = CanalMethod.GIVEN
# Points within this distance of a wall count as beyond it (posterior to a or c): a row of voxel
# centres lying exactly on a wall of an axis-aligned grid then goes to one side, not to
# whichever side rounding picks (the phantom's ground truth uses the same tie rule).
TIE_MM = 1e-6
# The canal points within this fraction of a voxel of the outermost one make its extreme band.
_BAND_FRACTION = 0.3
# Bone beside the extreme band bounds the wall there only as far as the wall is flat: a round
# canal's wall recedes beside its apex (an ellipse 7.75 mm wide by 0.25 mm at 2 mm aside, by
# 0.9 mm at 3.6), and bone two voxels aside put the lateral wall of a T8 1.4 mm inside the
# canal at 2.46 mm pixels. Half a voxel keeps the finer sampling of a rotated lattice without
# that (pose benchmark, 600 poses over six seeds: smallest sector Dice better in 60, worse
# in 17, by at most 0.043; poses below 0.95 at pixels up to 3 mm 44 -> 37).
_FACING_LATTICES = 0.5
_BEYOND_FRACTION = 0.1
# How far beyond the straight prism the walls of a derived canal are looked for per slab, mm.
_SLAB_REACH_MM = 1.5
#: A contoured canal's slices that hold less than this fraction of the median cross-section
#: are left out of its axis: a canal contoured over one vertebra ends with the vertebra, and
#: the axial slices through its tilted ends hold part of the cross-section only, whose
#: centroids pull the axis (measured on 37 contoured poses: with 0.6, up to 3.5 deg off,
#: with 0.9 within 0.5 deg).
_COMPLETE_SECTION_FRACTION = 0.9
# A derived canal's AP walls are measured per slab in the strip within this many voxels of the
# canal's lateral centre, where bone lies beyond the free space within this many voxels.
_MIDLINE_STRIP_LATTICES = 1.0
_SLAB_MAX_GAP_LATTICES = 1.5
# Neighbouring slabs move a slab's wall only by more than this fraction of a voxel.
_STEADY_DEADBAND = 0.03
# Levels whose transverse processes carry a foramen that tells them from the pedicle (C1 has
# no pedicle: its lateral masses take 2/6 by the reference rule).
# The body's core for the axial rotation reaches this many canal half-widths from the midline;
# a turn larger than _MAX_TURN_DEG is not trusted (the frame is kept).
_CORE_HALF_WIDTH_RATIO = 1.5
_MAX_TURN_DEG = 25.0
# C1's frame is turned to the line through its transverse foramina up to this angle (degrees).
_MAX_FORAMINA_TURN_DEG = 60.0
# The mirror plane is looked for within this many degrees of the body core's AP axis, on
# about this many of the vertebra's points.
_SYMMETRY_SPAN_DEG = 3.0
# On a grid whose rows run within _ROWS_ALONG_DEG of the frame's LR axis, a smaller turn than
# this is left (degrees).
_SYMMETRY_DEADBAND_DEG = 0.25
_ROWS_ALONG_DEG = 0.5
_SYMMETRY_POINTS = 12000
# A foramen's wall is sampled where a free point and a bone point lie within this many pixels
# of each other; its medial edge is bounded by the points within this angle of the medial
# direction, seen from the centre of the circle fitted to the wall (degrees).
_FORAMEN_PAIR_LATTICES = 1.5
_FORAMEN_ARC_DEG = 90.0
# The circle is refitted without the midpoints off it by more than this many pixels (a
# midpoint lies within half a pixel of the wall, up to 0.75 for a pair 1.5 pixels apart).
_FORAMEN_WALL_OUTLIER_LATTICES = 1.0
_FORAMEN_LEVELS = frozenset({"C2", "C3", "C4", "C5", "C6", "C7"})
# Levels whose body is told from the processes beside it by its height (C2's measured below its
# dens, which makes the middle of the body far taller than its sides).
_TALL_BODY_LEVELS = frozenset({"C2", "C3", "C4", "C5", "C6", "C7"})


@dataclass(frozen=True)
class SectorOptions:
    """Tunables of sector labelling (reported with every result).

    Parameters
    ----------
    slab_mm : float or None
        Thickness of the slabs along the local SI axis in which the walls of a contoured canal
        are measured, in mm; default the largest voxel spacing.
    min_slab_canal_fraction : float
        A slab whose canal cross-section has fewer voxels than this fraction of the median
        slab takes the walls of the nearest good slab. Default 0.5.
    contoured_wall_max_gap_voxels : float or None
        A wall of a contoured canal lies midway between the canal and the bone beyond it only
        where that bone lies within this many voxels (the in-plane spacing) of the canal's
        outermost point in the slab; elsewhere on the canal's own surface. Without it, a slab
        between the laminae takes the spinous process behind them for its posterior wall
        (and moves ``c`` by several mm). Default 1.5; None: no limit.
    ap_wall_band_half_width_ratio : float or None
        The anterior wall ``a`` of each slab (the body's back), measured on the canal's
        midline, is narrowed on the bone and free voxel centres across the band within this
        fraction of the canal's half-width of its midline, as far as the wall is flat there
        (see ``ap_wall_flat_tolerance_mm``): the midline strip alone holds few voxel centres,
        at few phases of the lattice, and left the cervical model's wall up to 0.4 mm off
        at 0.7-1.1 mm pixels and 2-2.4 mm slices. Default 0.8 (about 10 mm at a cervical
        canal 24 mm wide, whose body's back is flat about as far); None: the midline strip
        only.
    ap_wall_flat_tolerance_mm : float
        The band is narrowed to where the largest curvature of the wall the voxels leave
        possible moves it by at most this from its depth on the midline, mm. Default 0.05
        (a tenth of the smallest voxel spacing considered; a thoracic canal 8 mm in radius
        keeps a band of about 1 mm).
    ap_wall_max_curvature_per_mm : float
        Largest curvature of the anterior wall looked for, 1/mm (``depth = k u^2``; a
        circle of radius ``R`` has ``k = 1 / (2 R)``). Default 0.1 (a canal 5 mm in radius).
    c2_dens_to_body : bool
        Give C2's dens to sector 1 (default True).
    c1_lateral_masses : bool
        C1: sector 1 is only the anterior arch (bone in front of the ring's hole, which holds
        the dens), the lateral masses (2/6) reach back to the middle of the canal behind the
        dens, and the transverse processes beyond their foramina are 3/5 (see
        :func:`atlas_labels`). Default True; False: the reference rule on the canal's walls.
    sacral_body_from_foramina : bool
        The lateral borders of a sacral body are the medial edges of its anterior foramina,
        found on the bone (see :func:`~spinetv.anatomy.sacrum.sacral_body_borders`); bone
        anterior to the canal beyond them is ala. Default True. Off, or where no foramen is
        found (with a warning), ``sacral_body_half_width_ratio`` applies.
    sacral_foramen_min_depth_mm : float
        Least depth (along the local SI axis) of a notch in a segment's top or bottom edge,
        in front of the canal, taken for an anterior foramen, mm; never less than a voxel.
        Default 2.0 (foramina are 6-12 mm across; a shallower notch is voxel jitter).
    sacral_foramen_max_width_mm : float
        Widest such notch (along the local LR axis) taken for an anterior foramen, mm.
        Default 14.0 (the S1 anterior foramina, the largest, are up to about 12 mm wide).
    sacral_foramen_band_fraction : float
        The notches are read on the bone in front of the canal up to this fraction of the
        body's depth, where the lateral masses lie beside the body (the body bulges further
        forward). Default 0.4.
    sacral_body_outline_max_ratio : float
        A segment's top without foramina (S1's endplate) takes the border found at its
        bottom scaled by the ratio of the body's own outline at the two edges, within
        [1 / this, this]. Default 1.25 (S1's body is about 50 mm wide at its top and 44 at
        its bottom).
    sacral_body_half_width_ratio : float
        Fallback: half-width of a sacral body as a multiple of the canal's half-width; bone
        anterior to the canal beyond it is ala. Default 1.6 (S1: body about 50 mm wide, canal
        about 30 mm; the same proportion holds down to S4).
    sacral_open_canal_max_depth_ratio : float or None
        A sacral segment whose canal is estimated from its open arch (spina bifida occulta,
        an open hiatus without a closed segment to carry from) has its posterior wall ``p``
        (and so ``c``, the ala/lamina border) at most this times the canal's width behind
        ``a``: the arch estimate, closed by the convex hull of the lateral masses, is far
        deeper than the flattened sacral canal. Default 0.45 (S1 canal about 30 mm wide and
        12-14 mm deep, flatter below); None: as estimated.
    limit_body_to_its_width : bool
        Sector 1 only within the body's lateral extent (see :func:`body_lr_bounds`): bone
        anterior to the canal but lateral to the body goes by side to 2/6. Default True.
    cervical_transverse_foramina : bool
        C2-C7: where a transverse foramen is found beside the canal (see
        :func:`transverse_foramina`), the transverse process on that side is told from the
        pedicle by it: bone in front of the canal's centre ``c`` lateral to the foramen's
        medial edge, and bone in front of ``a`` beside the body (the anterior root and
        tubercle), go to 3/5 instead of 2/6. Default True (the ISRC sectors name the
        transverse process with the lamina, and the cervical one lies beside the pedicle,
        not behind it).
    foramen_min_area_mm2, foramen_max_area_mm2 : float
        Area of a hole in the vertebra's projection along its SI axis taken for a transverse
        foramen, mm^2. Defaults 3 and 120 (a foramen is 4-7 mm wide; C7's may be smaller).
    cervical_rotation_from_body_core : bool
        C2-C7: turn the local frame's AP axis about its SI axis to point from the centroid of
        the body's core (see :func:`body_core_ap_axis`) to the canal, so that an axially
        rotated vertebra is followed. The frame's own estimate takes all bone in front of the
        canal within three canal half-widths of the midline, which at a cervical level holds
        the transverse processes, cut unevenly by a tilted wall. Default True.
    cervical_rotation_by_symmetry : bool
        C2-C7: after the body's core, turn the frame about its SI axis (by at most
        ``_SYMMETRY_SPAN_DEG``) to the plane across which the vertebra's bone, projected
        along the SI axis, best overlaps its mirror image (see :func:`symmetry_turn_deg`):
        the whole vertebra, transverse and spinous processes included, sets the turn, where
        the core's centroid leaves 0.5-1 deg. Default True.
    cervical_body_min_height_fraction : float or None
        C2-C7 (C2 below its dens): the body's lateral extent (:func:`body_lr_bounds`)
        counts only the columns of bone (along the local SI axis) spanning at least this
        fraction of the SI span of the body's middle, so that an anterior tubercle as deep
        as the body but about half as tall does not widen the body. Default 0.7
        (transverse processes are 5-7 mm tall, cervical bodies 12-15 mm, the uncinate
        processes add to the body's sides); None: off.
    frame_iterations : int
        Refinements of the AP axis of the local frame (default 3).
    sacral_common_left_axis : bool
        The sacral segments are one fused bone: each segment's frame is turned about its SI
        axis onto the whole sacrum's bilateral left axis (see
        :func:`~spinetv.anatomy.sacrum.sacral_left_axis`) rather than kept on the axis of its
        own cross-section, which a short segment defines poorly (on the sample CT, S1's own
        frame lay 20 deg off the sacrum's). The turn is reported per segment. Default True.
    canal : CanalOptions
        Options of the canal derivation used when no canal is given.
    """

    slab_mm: float | None = None
    min_slab_canal_fraction: float = 0.5
    contoured_wall_max_gap_voxels: float | None = 1.5
    ap_wall_band_half_width_ratio: float | None = 0.8
    ap_wall_flat_tolerance_mm: float = 0.05
    ap_wall_max_curvature_per_mm: float = 0.1
    c2_dens_to_body: bool = True
    c1_lateral_masses: bool = True
    sacral_body_from_foramina: bool = True
    sacral_foramen_min_depth_mm: float = 2.0
    sacral_foramen_max_width_mm: float = 14.0
    sacral_foramen_band_fraction: float = 0.4
    sacral_body_outline_max_ratio: float = 1.25
    sacral_body_half_width_ratio: float = 1.6
    sacral_open_canal_max_depth_ratio: float | None = 0.45
    limit_body_to_its_width: bool = True
    cervical_transverse_foramina: bool = True
    foramen_min_area_mm2: float = 3.0
    foramen_max_area_mm2: float = 120.0
    cervical_rotation_from_body_core: bool = True
    cervical_rotation_by_symmetry: bool = True
    cervical_body_min_height_fraction: float | None = 0.7
    frame_iterations: int = 3
    sacral_common_left_axis: bool = True
    canal: CanalOptions = field(default_factory=CanalOptions)

    def __post_init__(self) -> None:
        if self.slab_mm is not None and self.slab_mm <= 0:
            raise AnatomyError(f"SectorOptions.slab_mm must be > 0, got {self.slab_mm}")
        if not 0.0 <= self.min_slab_canal_fraction <= 1.0:
            raise AnatomyError(
                "SectorOptions.min_slab_canal_fraction must lie in [0, 1], got "
                f"{self.min_slab_canal_fraction}"
            )
        fraction = self.cervical_body_min_height_fraction
        if fraction is not None and not 0.0 < fraction <= 1.0:
            raise AnatomyError(
                "SectorOptions.cervical_body_min_height_fraction must lie in (0, 1] or be "
                f"None, got {fraction}"
            )
        ratio = self.ap_wall_band_half_width_ratio
        if ratio is not None and not 0.0 < ratio <= 1.0:
            raise AnatomyError(
                "SectorOptions.ap_wall_band_half_width_ratio must lie in (0, 1] or be None, "
                f"got {ratio}"
            )
        if self.ap_wall_flat_tolerance_mm <= 0 or self.ap_wall_max_curvature_per_mm <= 0:
            raise AnatomyError(
                "SectorOptions.ap_wall_flat_tolerance_mm and ap_wall_max_curvature_per_mm "
                f"must be > 0, got {self.ap_wall_flat_tolerance_mm} and "
                f"{self.ap_wall_max_curvature_per_mm}"
            )
        gap = self.contoured_wall_max_gap_voxels
        if gap is not None and gap <= 0:
            raise AnatomyError(
                "SectorOptions.contoured_wall_max_gap_voxels must be > 0 or None, got "
                f"{self.contoured_wall_max_gap_voxels}"
            )
        if not 0 < self.sacral_foramen_min_depth_mm < self.sacral_foramen_max_width_mm:
            raise AnatomyError(
                "SectorOptions needs 0 < sacral_foramen_min_depth_mm < "
                f"sacral_foramen_max_width_mm, got {self.sacral_foramen_min_depth_mm} and "
                f"{self.sacral_foramen_max_width_mm}"
            )
        if not 0 < self.sacral_foramen_band_fraction <= 1:
            raise AnatomyError(
                "SectorOptions.sacral_foramen_band_fraction must lie in (0, 1], got "
                f"{self.sacral_foramen_band_fraction}"
            )
        depth_ratio = self.sacral_open_canal_max_depth_ratio
        if depth_ratio is not None and depth_ratio <= 0:
            raise AnatomyError(
                "SectorOptions.sacral_open_canal_max_depth_ratio must be > 0 or None, got "
                f"{depth_ratio}"
            )
        if self.sacral_body_outline_max_ratio < 1:
            raise AnatomyError(
                "SectorOptions.sacral_body_outline_max_ratio must be >= 1, got "
                f"{self.sacral_body_outline_max_ratio}"
            )
        if self.sacral_body_half_width_ratio <= 0:
            raise AnatomyError(
                "SectorOptions.sacral_body_half_width_ratio must be > 0, got "
                f"{self.sacral_body_half_width_ratio}"
            )

        if not 0 < self.foramen_min_area_mm2 <= self.foramen_max_area_mm2:
            raise AnatomyError(
                "SectorOptions needs 0 < foramen_min_area_mm2 <= foramen_max_area_mm2, got "
                f"{self.foramen_min_area_mm2} and {self.foramen_max_area_mm2}"
            )

    def as_dict(self) -> dict[str, Any]:
        """The options as plain values, for reports.

        Returns
        -------
        dict of str to Any
            Every field by name, ``canal`` as a nested dict of its :class:`CanalOptions`;
            a quantity's unit is in its name (``_mm``, ``_mm2``, ``_deg``, ``_voxels``).
        """
        return asdict(self)


@dataclass(frozen=True, eq=False)
class CanalWalls:
    """Canal walls in a local frame, per slab along its SI axis (all mm).

    Parameters
    ----------
    slab_edges_mm : ndarray, shape (n + 1,)
        SI edges of the slabs (a single slab spanning everything for constant walls).
    anterior_mm, posterior_mm, lr_centre_mm, half_width_mm : ndarray, shape (n,)
        ``a``, ``p``, ``uc`` and ``w`` per slab.
    """

    slab_edges_mm: NDArray[np.float64]
    anterior_mm: NDArray[np.float64]
    posterior_mm: NDArray[np.float64]
    lr_centre_mm: NDArray[np.float64]
    half_width_mm: NDArray[np.float64]

    @property
    def centre_mm(self) -> NDArray[np.float64]:
        """``c = (a + p) / 2`` per slab."""
        return 0.5 * (self.anterior_mm + self.posterior_mm)

    def slab_of(self, si_mm: NDArray[np.float64]) -> NDArray[np.int64]:
        """Slab index of each SI position (clamped to the first and last slab).

        Parameters
        ----------
        si_mm : ndarray of float
            Local SI positions, mm.

        Returns
        -------
        ndarray of int64
            Index into the per-slab arrays, shaped like ``si_mm``.
        """
        n = self.anterior_mm.size
        index = np.searchsorted(self.slab_edges_mm, si_mm, side="right") - 1
        return np.clip(index, 0, n - 1).astype(np.int64)

    def summary(self) -> dict[str, float]:
        """Median a, c, p, w and canal LR centre, mm.

        Returns
        -------
        dict of str to float
            ``anterior_wall_mm``, ``centre_mm``, ``posterior_wall_mm``, ``half_width_mm`` and
            ``lr_centre_mm``: medians over the slabs, mm in the local frame.
        """
        return {
            "anterior_wall_mm": float(np.median(self.anterior_mm)),
            "centre_mm": float(np.median(self.centre_mm)),
            "posterior_wall_mm": float(np.median(self.posterior_mm)),
            "half_width_mm": float(np.median(self.half_width_mm)),
            "lr_centre_mm": float(np.median(self.lr_centre_mm)),
        }


@dataclass(frozen=True, eq=False)
class VertebraSectors:
    """The sectors of one vertebra.

    Parameters
    ----------
    level : str
        Level name ("" when not given).
    labels : LabelMap
        Sector 1..6 on exactly the vertebra's voxels, 0 elsewhere.
    canal : Mask
        The canal used.
    canal_method : str
        How that canal was obtained ("contoured", "ring closure", ..., "given").
    frame : LocalFrame
        The vertebra's local frame.
    volumes_cc : mapping of int to float
        Volume of each sector 1..6 in cc (0.0 for an absent sector); kept read-only.
    walls : CanalWalls
        The canal walls the sectors were cut at.
    options : SectorOptions
        The options used.
    scheme : str
        "vertebra" or "sacral" (which naming of labels applies).
    foramina_mm : (float or None, float or None)
        Medial edges (local ``u``, mm) of the left and right transverse foramina that moved
        the pedicle/transverse-process border (C2-C7; None where none was found or used).
    frame_turn_deg : float or None
        How far (degrees, about the SI axis, towards posterior positive) the level's own
        frame was turned onto a given left axis (the sacrum's, for a sacral segment); None
        when no axis was given.
    sacral_borders : SacralBodyBorders or None
        A sacral segment's body borders on its anterior foramina, in ``frame`` (None for a
        vertebra, or where none were found and the canal ratio applied).
    """

    level: str
    labels: LabelMap
    canal: Mask
    canal_method: str
    frame: LocalFrame
    volumes_cc: Mapping[int, float]
    walls: CanalWalls
    options: SectorOptions
    scheme: str = "vertebra"
    foramina_mm: tuple[float | None, float | None] = (None, None)
    frame_turn_deg: float | None = None
    sacral_borders: SacralBodyBorders | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "volumes_cc", FrozenMap(self.volumes_cc))

    def sector(self, number: int) -> Mask:
        """The mask of one sector (1..6).

        Parameters
        ----------
        number : int
            The sector, 1..6.

        Returns
        -------
        Mask
            The sector's voxels (empty when the vertebra has none of it).

        Raises
        ------
        AnatomyError
            When ``number`` is not 1..6.
        """
        if number not in SECTOR_NAMES:
            raise AnatomyError(f"sector must be 1..6, got {number}")
        return self.labels.mask_of(number)

    @property
    def names(self) -> Mapping[int, str]:
        """Sector names for this scheme."""
        return SACRAL_SECTOR_NAMES if self.scheme == "sacral" else SECTOR_NAMES


def assign_sectors(
    local_mm: NDArray[np.float64],
    walls: CanalWalls,
    *,
    sacral: bool = False,
    sacral_body_half_width_ratio: float = 1.0,
    sacral_body_bounds_mm: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    body_lr_bounds_mm: tuple[float, float] | None = None,
    transverse_from_mm: tuple[float | None, float | None] | None = None,
) -> NDArray[np.uint8]:
    """Sector 1..6 of bone points given in a local frame.

    Parameters
    ----------
    local_mm : ndarray, shape (n, 3)
        Points in the local frame (lr, ap, si), mm.
    walls : CanalWalls
        Canal walls in that frame.
    sacral : bool
        Use the sacral body/ala split.
    sacral_body_half_width_ratio : float
        See :class:`SectorOptions`; used only without ``sacral_body_bounds_mm``.
    sacral_body_bounds_mm : (ndarray, ndarray), optional
        Per point, the low and high ``u`` (mm) of the sacral body at the point's height (the
        medial edges of the anterior foramina, see
        :func:`~spinetv.anatomy.sacrum.sacral_body_borders`): bone anterior to ``a`` outside
        them is ala.
    body_lr_bounds_mm : (float, float), optional
        Lateral extent (low, high ``u``, mm) of the vertebral body: bone anterior to ``a``
        outside it is not body but goes by side to 2/6 (see :func:`body_lr_bounds`). None: no
        limit. Ignored for sacral segments, which use the ratio instead.
    transverse_from_mm : (float or None, float or None), optional
        Medial edges (``u``, mm) of the left and the right transverse foramen (see
        :func:`transverse_foramina`); None for a side without one. On a side with an edge,
        bone in front of ``c`` at or beyond it, and bone in front of ``a`` beside the body,
        is transverse process: 3 (left) or 5 (right) instead of 2 or 6. Ignored for sacral
        segments.

    Returns
    -------
    ndarray of uint8, shape (n,)
        Labels 1..6 (every point gets one).
    """
    slab = walls.slab_of(local_mm[:, 2])
    a = walls.anterior_mm[slab]
    p = walls.posterior_mm[slab]
    c = walls.centre_mm[slab]
    w = walls.half_width_mm[slab]
    u = local_mm[:, 0] - walls.lr_centre_mm[slab]
    v = local_mm[:, 1]
    left = u > 0
    lateral_left = np.where(left, 2, 6).astype(np.uint8)
    posterior_left = np.where(left, 3, 5).astype(np.uint8)
    within = np.abs(u) <= w
    front = v < a - TIE_MM
    labels = np.where(
        front, 1, np.where(v < c - TIE_MM, lateral_left, posterior_left)
    ).astype(np.uint8)
    labels[(v >= c - TIE_MM) & (v > p) & within] = 4
    if sacral and sacral_body_bounds_mm is not None:
        lr = local_mm[:, 0]
        ala = front & ((lr < sacral_body_bounds_mm[0]) | (lr > sacral_body_bounds_mm[1]))
        labels[ala] = lateral_left[ala]
    elif sacral:
        ala = front & (np.abs(u) > sacral_body_half_width_ratio * w)
        labels[ala] = lateral_left[ala]
    elif body_lr_bounds_mm is not None:
        lr = local_mm[:, 0]
        beside = front & ((lr < body_lr_bounds_mm[0]) | (lr > body_lr_bounds_mm[1]))
        labels[beside] = lateral_left[beside]
    if transverse_from_mm is not None and not sacral:
        labels = _transverse_beside_pedicle(local_mm, labels, v < a - TIE_MM, transverse_from_mm)
    return labels


def _transverse_beside_pedicle(
    local_mm: NDArray[np.float64],
    labels: NDArray[np.uint8],
    front: NDArray[np.bool_],
    edges_mm: tuple[float | None, float | None],
) -> NDArray[np.uint8]:
    """Move pedicle-sector bone (2/6) lateral to a transverse foramen's medial edge, or in
    front of ``a`` (``front``: beside the body), to the transverse-process sector (3/5)."""
    out = labels.copy()
    lr = local_mm[:, 0]
    for edge, pedicle, transverse, sign in ((edges_mm[0], 2, 3, 1.0), (edges_mm[1], 6, 5, -1.0)):
        if edge is None:
            continue
        move = (labels == pedicle) & ((sign * lr >= sign * edge) | front)
        out[move] = transverse
    return out


def transverse_foramina(
    local_mm: NDArray[np.float64],
    walls: CanalWalls,
    pixel_mm: float,
    *,
    free_mm: NDArray[np.float64] | None = None,
    min_area_mm2: float = 3.0,
    max_area_mm2: float = 120.0,
) -> tuple[float | None, float | None]:
    """Medial edges of the transverse foramina of a cervical vertebra, in mm.

    The vertebra's bone is projected along the local SI axis onto a raster of ``pixel_mm``
    pixels (the foramen runs along that axis through the transverse process, so it stays
    open in the projection while the canal's ring closes over the height). A hole of that
    projection is a foramen when its area lies within [``min_area_mm2``,
    ``max_area_mm2``], its centroid lies lateral to the canal (``|u - uc| > w``) and in
    front of the canal's centre ``c`` (medians over the slabs). The largest such hole on each
    side is taken. Its medial edge is placed as the canal walls are (see
    :func:`_foramen_edge`), or, without ``free_mm``, on the edge of its most medial pixel.

    Parameters
    ----------
    local_mm : ndarray, shape (n, 3)
        The vertebra's bone points in its local frame (lr, ap, si), mm.
    walls : CanalWalls
        The canal walls in that frame.
    pixel_mm : float
        Raster pixel, mm (the in-plane voxel spacing).
    free_mm : ndarray, shape (m, 3), optional
        Voxel centres around the vertebra that are not bone, in the same frame, mm.
    min_area_mm2, max_area_mm2 : float
        Area bounds of a foramen, mm^2.

    Returns
    -------
    (float or None, float or None)
        ``u`` (mm) of the medial edge of the left foramen (its lowest ``u``) and of the right
        one (its highest ``u``); None for a side without a foramen.
    """
    origin, ij, labelled, holes = _foramen_holes(
        local_mm, walls, pixel_mm, min_area_mm2, max_area_mm2
    )
    edges: list[float | None] = [None, None]
    for side, (index, centres) in holes.items():
        sign = -1.0 if side == 0 else 1.0
        edge = sign * float((sign * centres[:, 0] + 0.5 * pixel_mm).max())
        if free_mm is not None:
            bone_uv, inside = _foramen_points(
                labelled == index, origin, pixel_mm, local_mm, ij, free_mm
            )
            if bone_uv.shape[0] > 0:
                edge = _foramen_edge(centres, bone_uv, inside, sign, pixel_mm, edge)
        edges[side] = float(edge)
    return edges[0], edges[1]


def _foramen_holes(
    local_mm: NDArray[np.float64],
    walls: CanalWalls,
    pixel_mm: float,
    min_area_mm2: float,
    max_area_mm2: float,
) -> tuple[
    NDArray[np.float64],
    NDArray[np.int64],
    NDArray[np.int32],
    dict[int, tuple[int, NDArray[np.float64]]],
]:
    """The transverse foramina of :func:`transverse_foramina` on its raster: the raster's
    origin (mm), the points' pixels, the labelled holes, and per side (0 left, 1 right) the
    label and pixel centres (mm) of the largest hole taken for a foramen."""
    uv = local_mm[:, :2]
    origin = uv.min(axis=0) - 2.0 * pixel_mm
    ij = np.floor((uv - origin) / pixel_mm).astype(np.int64)
    occupied = np.zeros(tuple(ij.max(axis=0) + 3), dtype=bool)
    occupied[ij[:, 0], ij[:, 1]] = True
    labelled, _ = ndimage.label(ndimage.binary_fill_holes(occupied) & ~occupied)
    summary = walls.summary()
    uc, w, c = summary["lr_centre_mm"], summary["half_width_mm"], summary["centre_mm"]
    best: dict[int, tuple[int, NDArray[np.float64]]] = {}
    for index, found in enumerate(ndimage.find_objects(labelled), start=1):
        if found is None:
            continue
        cells = np.argwhere(labelled[found] == index) + np.array([s.start for s in found])
        centres = origin + (cells + 0.5) * pixel_mm
        area = cells.shape[0] * pixel_mm**2
        u_mean, v_mean = centres.mean(axis=0)
        if not min_area_mm2 <= area <= max_area_mm2:
            continue
        if abs(u_mean - uc) <= w or v_mean >= c:
            continue
        side = 0 if u_mean > uc else 1
        if side not in best or centres.shape[0] > best[side][1].shape[0]:
            best[side] = (index, centres)
    return origin, ij, labelled, best


def body_lr_bounds(
    local_mm: NDArray[np.float64],
    walls: CanalWalls,
    edge_mm: float = 0.0,
    *,
    min_height_fraction: float | None = None,
    pixel_mm: float = 1.0,
) -> tuple[float, float] | None:
    """Lateral extent of the vertebral body, measured on the body itself, in mm.

    The body is taken as the bone at least half the body's depth anterior to the canal's
    anterior wall ``a`` (the most anterior bone sets the depth): the transverse processes,
    even the large anterolateral ones of L5, stay close to the level of the canal, while the
    body is widest around its mid-depth. Returns the (low, high) ``u`` of that bone widened by
    ``edge_mm`` on each side (the body's surface lies about half a voxel beyond its outermost
    voxel centre), or None when no bone lies anterior to ``a``.

    With ``min_height_fraction``, only the columns of that bone (along the local SI axis, on
    ``pixel_mm`` pixels) next to a column whose bone spans at least this fraction of the SI
    span of the body's middle (the columns within half the canal's half-width of its
    midline; median) count: a process as deep as the body but half as tall (a cervical
    anterior tubercle) does not widen it.

    Parameters
    ----------
    local_mm : ndarray of float, shape (n, 3)
        The vertebra's voxel centres in the local frame (``u``, ``v``, SI), mm.
    walls : CanalWalls
        The canal walls in the same frame.
    edge_mm : float, default 0.0
        Widening on each side, mm.
    min_height_fraction : float or None, default None
        Fraction (0..1) of the body's middle SI span a column must reach; None keeps all
        the bone anterior to half the body's depth.
    pixel_mm : float, default 1.0
        Raster pixel for the columns, mm.

    Returns
    -------
    (float, float) or None
        The (low, high) ``u`` of the body, mm, or None when no bone lies anterior to ``a``.
    """
    slab = walls.slab_of(local_mm[:, 2])
    depth = walls.anterior_mm[slab] - local_mm[:, 1]
    if not (depth > 0).any():
        return None
    core = depth >= 0.5 * float(depth.max())
    if min_height_fraction is not None:
        core[core] = _tall_columns(
            local_mm[core], walls, min_height_fraction, pixel_mm
        )
    lr = local_mm[core, 0]
    return float(lr.min()) - edge_mm, float(lr.max()) + edge_mm


def _tall_columns(
    points: NDArray[np.float64], walls: CanalWalls, fraction: float, pixel_mm: float
) -> NDArray[np.bool_]:
    """Which points lie in a tall column: one (``pixel_mm`` pixel along the local SI axis)
    next to which (itself or a neighbouring column) the bone spans at least ``fraction`` of
    the median span of the columns within half the canal's half-width of its midline. The
    neighbours keep the rim of a waisted body, present at one endplate only. All points when
    no column lies in the middle."""
    ij = np.floor((points[:, :2] - points[:, :2].min(axis=0)) / pixel_mm).astype(np.int64)
    shape = tuple(int(x) for x in ij.max(axis=0) + 1)
    low = np.full(shape, np.inf)
    high = np.full(shape, -np.inf)
    np.minimum.at(low, (ij[:, 0], ij[:, 1]), points[:, 2])
    np.maximum.at(high, (ij[:, 0], ij[:, 1]), points[:, 2])
    span = np.where(np.isfinite(low), high - low, 0.0)
    summary = walls.summary()
    middle = np.abs(points[:, 0] - summary["lr_centre_mm"]) <= 0.5 * summary["half_width_mm"]
    if not middle.any():
        return np.ones(points.shape[0], dtype=bool)
    reference = float(np.median(span[ij[middle, 0], ij[middle, 1]]))
    near = ndimage.maximum_filter(span, size=3, mode="constant", cval=0.0)
    tall: NDArray[np.bool_] = near[ij[:, 0], ij[:, 1]] >= fraction * reference
    return tall


def body_core_ap_axis(
    bone_local: NDArray[np.float64],
    canal_local: NDArray[np.float64],
    *,
    iterations: int = 20,
    tolerance_deg: float = 0.01,
    half_width_ratio: float = _CORE_HALF_WIDTH_RATIO,
) -> NDArray[np.float64] | None:
    """The AP direction from the body's core to the frame's origin (on the canal's axis), in
    the plane of a local frame.

    The core is the bone at least half the body's depth in front of the canal's anterior
    wall (the canal's most anterior point within half its half-width of its midline) and
    within ``half_width_ratio`` canal half-widths of the midline: processes beside the body
    (cervical transverse processes, L5's) stay out of it, and so does the band of bone that a
    wrongly turned wall cuts unevenly. Re-measured in the turned frame until it turns by less
    than ``tolerance_deg`` (at most ``iterations`` times): each pass removes most of the
    remaining turn, which the uneven cut only shrinks.

    Parameters
    ----------
    bone_local, canal_local : ndarray, shape (n, 3)
        The vertebra's bone and the canal at its height, in the local frame (lr, ap, si), mm.
    iterations : int
        Most refinements.
    tolerance_deg : float
        Stop when a refinement turns the axis by less than this, degrees.
    half_width_ratio : float
        Lateral reach of the core in canal half-widths.

    Returns
    -------
    ndarray, shape (2,) or None
        Unit vector ``(lr, ap)`` in the frame's plane (``(0, 1)`` for an unturned frame), or
        None when there is no core.
    """
    direction = np.array([0.0, 1.0])
    for _ in range(max(1, iterations)):
        du, dv = direction
        turn = np.array([[dv, -du], [du, dv]])
        bone_uv = bone_local[:, :2] @ turn.T
        canal_uv = canal_local[:, :2] @ turn.T
        low, high = float(canal_uv[:, 0].min()), float(canal_uv[:, 0].max())
        centre, half = 0.5 * (low + high), 0.5 * (high - low)
        central = np.abs(canal_uv[:, 0] - centre) <= 0.5 * half
        if not central.any():
            return None
        depth = float(canal_uv[central, 1].min()) - bone_uv[:, 1]
        if not (depth > 0).any():
            return None
        core = (depth >= 0.5 * float(depth.max())) & (
            np.abs(bone_uv[:, 0] - centre) <= half_width_ratio * half
        )
        if core.sum() < 3:
            return None
        step = -bone_uv[core].mean(axis=0)
        if float(np.linalg.norm(step)) < 1e-6:
            return None
        step /= float(np.linalg.norm(step))
        # Back from the turned frame to the original one.
        direction = step @ turn
        direction /= float(np.linalg.norm(direction))
        if np.degrees(np.arccos(np.clip(float(step[1]), -1.0, 1.0))) < tolerance_deg:
            break
    return direction


def _arch_height(bone_local: NDArray[np.float64]) -> tuple[float, float]:
    """SI range (mm) of the bone behind the frame's origin (on the canal's axis): the
    vertebral arch's height, which leaves out C2's dens; the whole bone's range when no bone
    lies behind the origin."""
    behind = bone_local[:, 1] > 0.0
    heights = bone_local[behind, 2] if behind.any() else bone_local[:, 2]
    return float(heights.min()), float(heights.max())


def _turned_to_body_core(frame: LocalFrame, vertebra: Mask, canal: Mask) -> LocalFrame:
    """``frame`` turned about its SI axis so that its AP axis follows
    :func:`body_core_ap_axis`; unchanged when that fails or turns it by more than
    ``_MAX_TURN_DEG``."""
    box = vertebra.box
    bone_local = _local_points(vertebra, box, frame)
    canal_local = _local_points(canal, box, frame)
    # Only the canal in the middle half of the arch's height: above the arch C2's box holds
    # C1's ring, whose canal (the dens's space included) reaches far in front of C2's, and
    # at the discs a derived canal may reach in front of the body's posterior wall.
    low, high = _arch_height(bone_local)
    quarter = 0.25 * (high - low)
    middle = (canal_local[:, 2] >= low + quarter) & (canal_local[:, 2] <= high - quarter)
    canal_local = canal_local[middle]
    if canal_local.shape[0] < 3:
        return frame
    direction = body_core_ap_axis(bone_local, canal_local)
    if direction is None or np.degrees(np.arccos(np.clip(direction[1], -1, 1))) > _MAX_TURN_DEG:
        return frame
    du, dv = direction
    ap = du * frame.lr_axis + dv * frame.ap_axis
    ap /= float(np.linalg.norm(ap))
    return LocalFrame(frame.origin_lps, np.cross(ap, frame.si_axis), ap, frame.si_axis)


def _turned_to_foramina(
    frame: LocalFrame,
    bone: NDArray[np.float64],
    walls: CanalWalls,
    pixel_mm: float,
    options: SectorOptions,
) -> LocalFrame:
    """``frame`` turned about its SI axis so that its LR axis runs through the centres of
    the two transverse foramina (``bone`` and ``walls`` in ``frame``); unchanged without
    them or for a turn over ``_MAX_FORAMINA_TURN_DEG``.

    Used at C1, which has no body to turn the frame by (:func:`body_core_ap_axis`): its
    lateral masses, as deep as its anterior arch, can turn the frame's own AP estimate far
    off, and its foramina, about 50 mm apart, are the widest pair of symmetric landmarks of
    the spine. The foramina are the two largest holes of the bone's projection along the SI
    axis with a foramen's area (``options``), farther than the canal's half-width from its
    centre in any direction and on opposite sides of it, so that they are found in a frame
    turned far from C1's own."""
    uv = bone[:, :2]
    origin = uv.min(axis=0) - 2.0 * pixel_mm
    ij = np.floor((uv - origin) / pixel_mm).astype(np.int64)
    occupied = np.zeros(tuple(ij.max(axis=0) + 3), dtype=bool)
    occupied[ij[:, 0], ij[:, 1]] = True
    labelled, count = ndimage.label(ndimage.binary_fill_holes(occupied) & ~occupied)
    if count < 2:
        return frame
    summary = walls.summary()
    centre = np.array([summary["lr_centre_mm"], summary["centre_mm"]])
    sizes = np.bincount(labelled.ravel(), minlength=count + 1)[1:]
    found = ndimage.center_of_mass(labelled > 0, labelled, np.arange(1, count + 1))
    candidates = []
    for size, pixel_centre in zip(sizes, found):
        area = float(size) * pixel_mm**2
        place = origin + (np.asarray(pixel_centre) + 0.5) * pixel_mm
        if not options.foramen_min_area_mm2 <= area <= options.foramen_max_area_mm2:
            continue
        if float(np.linalg.norm(place - centre)) <= summary["half_width_mm"]:
            continue
        candidates.append((int(size), place))
    if len(candidates) < 2:
        return frame
    candidates.sort(key=lambda item: -item[0])
    first, second = candidates[0][1], candidates[1][1]
    if float((first - centre) @ (second - centre)) >= 0.0:
        return frame
    du, dv = first - second if first[0] >= second[0] else second - first
    if np.degrees(abs(np.arctan2(dv, du))) > _MAX_FORAMINA_TURN_DEG:
        return frame
    lr = du * frame.lr_axis + dv * frame.ap_axis
    lr /= float(np.linalg.norm(lr))
    return LocalFrame(frame.origin_lps, lr, np.cross(frame.si_axis, lr), frame.si_axis)


def symmetry_turn_deg(
    points_uv: NDArray[np.float64],
    *,
    pivot_uv: tuple[float, float] | None = None,
    span_deg: float = _SYMMETRY_SPAN_DEG,
    blur_mm: float = 1.0,
) -> float:
    """The turn (degrees, towards +``v`` of the LR axis) of the mirror line through
    ``pivot_uv`` (default the points' centroid) across which the points best overlap their
    mirror image.

    The points (``u``, ``v``; mm) are binned on a raster of a quarter of ``blur_mm`` and
    blurred by a Gaussian of ``blur_mm``; each line's score is that density at the mirror
    images of the points (interpolated linearly between the bins' centres). The line
    is searched over +-``span_deg`` in half-degree steps, then over +-0.4 deg of the best in
    steps of 0.05 deg, the best step refined by a parabola. The pivot lies on the mirror
    line of a symmetric set (its centroid does), so one angle is searched.

    Parameters
    ----------
    points_uv : ndarray of float, shape (n, 2)
        Points (``u``, ``v``) in the local axial plane, mm.
    pivot_uv : (float, float) or None, default None
        A point of the mirror line, mm; None uses the points' centroid.
    span_deg : float, default 3.0
        Largest turn searched either way, degrees.
    blur_mm : float, default 1.0
        Gaussian blur of the point density (sigma), mm.

    Returns
    -------
    float
        The turn, degrees, within +-``span_deg``.
    """
    pixel = 0.25 * blur_mm
    low = points_uv.min(axis=0) - 4.0 * blur_mm
    shape = np.ceil((points_uv.max(axis=0) + 4.0 * blur_mm - low) / pixel).astype(np.int64)
    ij = np.floor((points_uv - low) / pixel).astype(np.int64)
    density = np.zeros(tuple(shape + 1), dtype=np.float64)
    np.add.at(density, (ij[:, 0], ij[:, 1]), 1.0)
    density = ndimage.gaussian_filter(density, blur_mm / pixel)
    pivot = points_uv.mean(axis=0) if pivot_uv is None else np.asarray(pivot_uv, dtype=float)
    centred = points_uv - pivot

    def score(angle_deg: float) -> float:
        t = np.radians(angle_deg)
        normal = np.array([np.cos(t), np.sin(t)])
        mirrored = pivot + centred - 2.0 * (centred @ normal)[:, None] * normal
        # Interpolated between the bins' centres: the nearest bin's value made the score a
        # step function of the angle, and the parabola through its steps moved the turn
        # found by up to about 0.4 deg on coarse grids.
        at = ((mirrored - low) / pixel - 0.5).T
        return float(ndimage.map_coordinates(density, at, order=1, mode="constant").sum())

    best = 0.0
    for step, reach in ((0.5, span_deg), (0.05, 0.4)):
        angles = best + np.arange(-reach, reach + 1e-9, step)
        scores = np.array([score(float(a)) for a in angles])
        i = int(scores.argmax())
        best = float(angles[i])
        if 0 < i < angles.size - 1:
            before, here, after = scores[i - 1 : i + 2]
            curvature = before - 2.0 * here + after
            if curvature < 0.0:
                best += 0.5 * step * float(before - after) / float(curvature)
    return float(np.clip(best, -span_deg, span_deg))


def _turned_to_symmetry(frame: LocalFrame, vertebra: Mask) -> LocalFrame:
    """``frame`` turned about its SI axis by :func:`symmetry_turn_deg` of the vertebra's bone
    (blurred by the in-plane voxel spacing, at least 1 mm); unchanged for a turn under
    ``_SYMMETRY_DEADBAND_DEG`` when the grid's rows run along the frame's LR axis."""
    bone = _local_points(vertebra, vertebra.box, frame)
    if bone.shape[0] < 10:
        return frame
    # Every k-th slab (the largest voxel spacing thick, along the SI axis) is enough, and a
    # whole slab keeps the symmetry of the bone in it: at most about 12000 points.
    keep_every = int(np.ceil(bone.shape[0] / _SYMMETRY_POINTS))
    if keep_every > 1:
        slab = np.floor(bone[:, 2] / max(vertebra.grid.spacing_mm)).astype(np.int64)
        bone = bone[slab % keep_every == 0]
    blur = max(_lattice_mm(vertebra.grid), 1.0)
    # The mirror line runs through the canal's axis (the frame's origin), a steadier point
    # on it than the centroid of the bone.
    turn_deg = symmetry_turn_deg(bone[:, :2], pivot_uv=(0.0, 0.0), blur_mm=blur)
    # A voxelised vertebra is symmetric only to within its lattice (the turn found on a
    # straight one is up to about 0.2 deg), and on a grid whose rows run along the frame's
    # axes a turn that small moves the rows lying on a wall to its other side on one half.
    along_rows = np.abs(vertebra.grid.direction.T @ frame.lr_axis).max()
    if along_rows > np.cos(np.radians(_ROWS_ALONG_DEG)) and abs(turn_deg) < (
        _SYMMETRY_DEADBAND_DEG
    ):
        return frame
    turn = np.radians(turn_deg)
    lr = np.cos(turn) * frame.lr_axis + np.sin(turn) * frame.ap_axis
    lr /= float(np.linalg.norm(lr))
    return LocalFrame(frame.origin_lps, lr, np.cross(frame.si_axis, lr), frame.si_axis)


#: A frame this close (degrees) to a shared left axis keeps its own: on a grid whose rows run
#: along the frame's axes, a turn of a hundredth of a degree moves the rows lying on a wall
#: to its other side (S5's alae lost 0.08 of Dice on a phantom so).
_LEFT_AXIS_DEADBAND_DEG = 0.5


def _turned_to_left_axis(
    frame: LocalFrame, left_axis: NDArray[np.float64], name: str
) -> tuple[LocalFrame, float]:
    """``frame`` turned about its SI axis so that its LR axis points along ``left_axis`` (as
    projected on the frame's axial plane), and the turn in degrees; a turn under
    :data:`_LEFT_AXIS_DEADBAND_DEG` is measured but not made."""
    axis = np.asarray(left_axis, dtype=np.float64)
    u, v = float(axis @ frame.lr_axis), float(axis @ frame.ap_axis)
    if np.hypot(u, v) < 0.1 * float(np.linalg.norm(axis)):
        raise AnatomyError(
            f"{name}: the given left axis {axis} runs along the level's SI axis; it cannot "
            "set the level's left-right direction"
        )
    turn = float(np.arctan2(v, u))
    if abs(np.degrees(turn)) < _LEFT_AXIS_DEADBAND_DEG:
        return frame, float(np.degrees(turn))
    lr = np.cos(turn) * frame.lr_axis + np.sin(turn) * frame.ap_axis
    lr /= float(np.linalg.norm(lr))
    turned = LocalFrame(frame.origin_lps, lr, np.cross(frame.si_axis, lr), frame.si_axis)
    return turned, float(np.degrees(turn))


def _foramen_points(
    hole: NDArray[np.bool_],
    origin_mm: NDArray[np.float64],
    pixel_mm: float,
    bone_mm: NDArray[np.float64],
    bone_ij: NDArray[np.int64],
    free_mm: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(lr, ap) of the bone points and of the free points inside one foramen, both at the
    heights where bone surrounds it.

    Those heights are the SI range of the bone in the two pixels around the hole, less a
    pixel at each end: there the only free space next to the foramen's wall is the foramen
    itself (above or below the transverse process the column of a wall pixel is free too).
    A free point counts when it projects onto the hole or the pixels around it. Taking both
    from the same heights samples them on the same projected lattice, so that the wall lies
    midway between them.
    """
    around = ndimage.binary_dilation(hole, iterations=2) & ~hole
    wall = around[bone_ij[:, 0], bone_ij[:, 1]]
    if not wall.any():
        return np.zeros((0, 2)), np.zeros((0, 2))
    low = float(bone_mm[wall, 2].min()) + pixel_mm
    high = float(bone_mm[wall, 2].max()) - pixel_mm
    grown = ndimage.binary_dilation(hole)
    free_ij = np.floor((free_mm[:, :2] - origin_mm) / pixel_mm).astype(np.int64)
    inside = np.all((free_ij >= 0) & (free_ij < np.asarray(hole.shape)), axis=1)
    inside &= (free_mm[:, 2] >= low) & (free_mm[:, 2] <= high)
    inside[inside] = grown[free_ij[inside, 0], free_ij[inside, 1]]
    level = (bone_mm[:, 2] >= low) & (bone_mm[:, 2] <= high)
    return bone_mm[level, :2], free_mm[inside, :2]


def _foramen_edge(
    hole_uv: NDArray[np.float64],
    bone_uv: NDArray[np.float64],
    free_uv: NDArray[np.float64],
    sign: float,
    pixel_mm: float,
    fallback_mm: float,
) -> float:
    """The medial edge (``u``, mm) of one foramen.

    The foramen's wall is sampled by the midpoints between each free point inside it
    (``free_uv``, see :func:`_foramen_points`) and the bone point nearest to it, and between
    each bone point and the free point nearest to it, where the two lie within
    ``_FORAMEN_PAIR_LATTICES`` pixels of each other; a circle is fitted to those midpoints
    (least squares, algebraic). Each midpoint is off the wall by up to half a voxel with the
    lattice's phase, but the phases differ round the wall, so the circle's centre is found to
    a fraction of that. The edge is then that centre plus the radius that the fewest points
    of the foramen's medial half (within ``_FORAMEN_ARC_DEG`` of the medial direction)
    contradict: a free point further from the centre, or a bone point nearer to it (the
    middle of the radii tied for fewest). Each point only bounds the radius, so the many
    points of the medial half, each at its own lattice phase, narrow it down to a small
    fraction of a voxel where the mean of midpoints would keep the bias of the few phases a
    coarse tilted lattice takes there.

    ``hole_uv``: the foramen's pixel centres (for its size); ``sign`` -1 when the medial
    edge is the low ``u`` (left foramen), +1 when it is the high ``u`` (right);
    ``fallback_mm`` (the edge of the foramen's most medial pixel) when there are fewer than
    five midpoints, the fit fails, or the edge found lies more than a pixel from it.
    """
    if free_uv.shape[0] < 3 or bone_uv.shape[0] < 3:
        return fallback_mm
    # scipy.spatial takes about 0.1 s to import; only cervical levels come here.
    from scipy.spatial import cKDTree

    reach = _FORAMEN_PAIR_LATTICES * pixel_mm
    free_gap, nearest_bone = cKDTree(bone_uv).query(free_uv)
    bone_gap, nearest_free = cKDTree(free_uv).query(bone_uv)
    near_free, near_bone = free_gap <= reach, bone_gap <= reach
    midpoints = np.concatenate(
        [
            0.5 * (free_uv[near_free] + bone_uv[nearest_bone[near_free]]),
            0.5 * (bone_uv[near_bone] + free_uv[nearest_free[near_bone]]),
        ]
    )
    circle = _fitted_circle(midpoints) if midpoints.shape[0] >= 5 else None
    for _ in range(2):
        # A free point beside the foramen but outside it (on a coarse tilted grid, beside
        # the pedicle at a height where it has ended) gives a midpoint far off the wall,
        # and a few moved the centre by up to 0.9 mm: refit without them.
        if circle is None:
            break
        off = np.abs(np.hypot(*(midpoints - np.array(circle[:2])).T) - circle[2])
        near_wall = off <= _FORAMEN_WALL_OUTLIER_LATTICES * pixel_mm
        if near_wall.all() or near_wall.sum() < 5:
            break
        midpoints = midpoints[near_wall]
        circle = _fitted_circle(midpoints)
    equivalent = float(np.sqrt(hole_uv.shape[0] / np.pi)) * pixel_mm
    if circle is None or not 0.5 * equivalent <= circle[2] <= 2.0 * equivalent + pixel_mm:
        return fallback_mm
    centre = _least_contradicted_centre(
        np.array(circle[:2]), circle[2], free_uv, bone_uv, pixel_mm
    )

    def polar(points: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        offset = points - centre
        radius = np.hypot(offset[:, 0], offset[:, 1])
        medial = np.degrees(np.arctan2(np.abs(offset[:, 1]), sign * offset[:, 0]))
        return radius, medial <= _FORAMEN_ARC_DEG

    free_r, free_medial = polar(free_uv)
    # Free points beyond the wall by more than the outlier margin lie outside the foramen.
    free_medial &= free_r <= circle[2] + _FORAMEN_WALL_OUTLIER_LATTICES * pixel_mm
    bone_r, bone_medial = polar(bone_uv)
    lower = np.sort(free_r[free_medial])
    upper = np.sort(bone_r[bone_medial & (bone_r <= circle[2] + 2.0 * pixel_mm)])
    if lower.size == 0 or upper.size == 0:
        return fallback_mm
    radius_range = _least_contradicted_range(lower, upper)
    # The whole wall, where it agrees with the medial half, narrows the radius further (on
    # a coarse grid the medial half holds a few points only).
    within = free_r <= circle[2] + _FORAMEN_WALL_OUTLIER_LATTICES * pixel_mm
    whole = _overlap(
        radius_range,
        _least_contradicted_range(
            np.sort(free_r[within]), np.sort(bone_r[bone_r <= circle[2] + 2.0 * pixel_mm])
        ),
    )
    low, high = whole or radius_range
    edge = float(centre[0]) + sign * 0.5 * (low + high)
    if abs(edge - fallback_mm) > pixel_mm:
        return fallback_mm
    return edge


def _least_contradicted_centre(
    centre: NDArray[np.float64],
    radius: float,
    free_uv: NDArray[np.float64],
    bone_uv: NDArray[np.float64],
    pixel_mm: float,
) -> NDArray[np.float64]:
    """The centre (mm) of the circle that the fewest of a foramen's points contradict: the
    middle of the centres, within a pixel of the fitted ``centre`` in steps of a tenth of a
    pixel, for which a radius leaves the fewest free points (within ``radius`` plus
    ``_FORAMEN_WALL_OUTLIER_LATTICES`` pixels of ``centre``) outside and bone points (within
    ``radius`` plus two pixels) inside.

    The fitted circle's midpoints are each off the wall by up to half a pixel, unevenly
    round a foramen only 4-7 pixels across, and the centre was found up to 0.4 mm off at
    1.3-1.5 mm pixels; each point only bounds the wall, and the centres they all allow are
    few."""
    reach = _FORAMEN_WALL_OUTLIER_LATTICES * pixel_mm
    free = free_uv[np.hypot(*(free_uv - centre).T) <= radius + reach]
    bone = bone_uv[np.hypot(*(bone_uv - centre).T) <= radius + 2.0 * pixel_mm]
    if free.shape[0] == 0 or bone.shape[0] == 0:
        return centre
    steps = np.arange(-10, 11) * (0.1 * pixel_mm)
    candidates = centre + np.stack(np.meshgrid(steps, steps), axis=-1).reshape(-1, 2)
    points = np.concatenate([free, bone])
    is_free = np.concatenate([np.ones(free.shape[0]), np.zeros(bone.shape[0])])
    distance = np.hypot(
        points[None, :, 0] - candidates[:, None, 0], points[None, :, 1] - candidates[:, None, 1]
    )
    order = np.argsort(distance, axis=1)
    free_sorted = is_free[order]
    # A radius just beyond the j-th nearest point leaves the free points after it outside
    # and the bone points up to it inside.
    inside_free = np.cumsum(free_sorted, axis=1)
    inside_bone = np.cumsum(1.0 - free_sorted, axis=1)
    wrong = np.concatenate(
        [np.full((candidates.shape[0], 1), float(free.shape[0])),
         free.shape[0] - inside_free + inside_bone],
        axis=1,
    ).min(axis=1)
    tied = candidates[wrong == wrong.min()]
    return np.asarray(tied.mean(axis=0), dtype=np.float64)


def _fitted_circle(points: NDArray[np.float64]) -> tuple[float, float, float] | None:
    """(centre u, centre v, radius) of the circle fitted to points (mm) by linear least
    squares on ``u^2 + v^2 = 2 a u + 2 b v + c``; None when degenerate."""
    u, v = points[:, 0], points[:, 1]
    design = np.column_stack([2.0 * u, 2.0 * v, np.ones_like(u)])
    solution, _, rank, _ = np.linalg.lstsq(design, u * u + v * v, rcond=None)
    if rank < 3:
        return None
    cu, cv, c = (float(x) for x in solution)
    squared = c + cu * cu + cv * cv
    if squared <= 0.0:
        return None
    return cu, cv, float(np.sqrt(squared))


def _least_contradicted_range(
    lower: NDArray[np.float64], upper: NDArray[np.float64]
) -> tuple[float, float]:
    """The range of values that the fewest bounds contradict (see
    :func:`_least_contradicted`): from the bound below the lowest such value to the bound
    above the highest."""
    candidates = np.unique(np.concatenate([lower, upper]))
    if candidates.size == 1:
        return float(candidates[0]), float(candidates[0])
    between = 0.5 * (candidates[1:] + candidates[:-1])
    wrong = (lower.size - np.searchsorted(lower, between, side="right")) + np.searchsorted(
        upper, between, side="left"
    )
    best = np.flatnonzero(wrong == wrong.min())
    return float(candidates[best.min()]), float(candidates[best.max() + 1])


def _least_contradicted(lower: NDArray[np.float64], upper: NDArray[np.float64]) -> float:
    """The value that the fewest bounds contradict, given sorted lower bounds (values should
    be at least these) and upper bounds (at most these): the middle of the values tied for
    fewest contradictions."""
    candidates = np.unique(np.concatenate([lower, upper]))
    if candidates.size == 1:
        return float(candidates[0])
    between = 0.5 * (candidates[1:] + candidates[:-1])
    wrong = (lower.size - np.searchsorted(lower, between, side="right")) + np.searchsorted(
        upper, between, side="left"
    )
    best = between[wrong == wrong.min()]
    return 0.5 * float(best.min() + best.max())


def _wall_between(
    canal_uv: NDArray[np.float64],
    bone_uv: NDArray[np.float64],
    axis: int,
    sign: float,
    band_mm: float,
    fallback_mm: float,
    max_gap_mm: float | None = None,
) -> float:
    """Where the canal meets the bone on one side: midway between the outermost canal point
    and the nearest bone point beyond it, both taken over the canal's extreme band.
    Without bone beyond it (within ``max_gap_mm`` of it when given), the canal's own
    surface: ``fallback_mm`` beyond its outermost point.

    ``axis`` 0 (LR) or 1 (AP); ``sign`` +1 for the wall at the high end, -1 for the low end.
    Taking both sides makes the estimate unbiased whether the voxel centres project onto a
    lattice (axis-aligned vertebra) or densely (tilted or rotated vertebra).
    """
    along = sign * canal_uv[:, axis]
    extreme = float(along.max())
    other = 1 - axis
    band = canal_uv[along >= extreme - band_mm, other]
    # Bone is looked for up to _FACING_LATTICES voxels beside the band: on a rotated lattice
    # the bone points right in front of the outermost canal point can be almost a voxel
    # away, while a few voxels aside the lattice samples the bone's edge more finely.
    reach = _FACING_LATTICES * 2.0 * fallback_mm
    low, high = float(band.min()) - reach, float(band.max()) + reach
    bone_along = sign * bone_uv[:, axis]
    # Bone in the canal's own outermost row (an axis-aligned lattice, seen in a frame tilted
    # by a fraction of a degree) is not beyond it: it must clear the row by a tenth of a voxel.
    beyond = (
        (bone_along > extreme + _BEYOND_FRACTION * 2.0 * fallback_mm)
        & (bone_uv[:, other] >= low)
        & (bone_uv[:, other] <= high)
    )
    if not beyond.any():
        return sign * (extreme + fallback_mm)
    nearest = float(bone_along[beyond].min())
    if max_gap_mm is not None and nearest - extreme > max_gap_mm:
        return sign * (extreme + fallback_mm)
    return sign * 0.5 * (extreme + nearest)


def _walls_of(
    canal_local: NDArray[np.float64],
    bone_local: NDArray[np.float64],
    band_mm: float,
    fallback_mm: float,
    max_gap_mm: float | None = None,
) -> tuple[float, float, float, float]:
    """(a, p, lr_low, lr_high) of one canal cross-section, mm (see :func:`_wall_between`)."""
    canal_uv, bone_uv = canal_local[:, :2], bone_local[:, :2]
    return (
        _wall_between(canal_uv, bone_uv, 1, -1.0, band_mm, fallback_mm, max_gap_mm),
        _wall_between(canal_uv, bone_uv, 1, 1.0, band_mm, fallback_mm, max_gap_mm),
        _wall_between(canal_uv, bone_uv, 0, -1.0, band_mm, fallback_mm, max_gap_mm),
        _wall_between(canal_uv, bone_uv, 0, 1.0, band_mm, fallback_mm, max_gap_mm),
    )


def _lattice_mm(grid: ImageGrid) -> float:
    return sorted(grid.spacing_mm)[1]


def _walls_from_section(
    section: ProjectedCanal,
    frame: LocalFrame,
    vertebra: Mask,
    bone_local: NDArray[np.float64],
    extend_mm: float,
    band: _WallBand | None = None,
) -> CanalWalls:
    """Canal walls from this vertebra's projected ring.

    The lateral walls, and the anterior and posterior walls by default, come from the voxel
    centres inside the prism against the vertebra's bone over its whole height. The prism is
    straight, so on a curved spine it is narrower than the canal by the sagitta of the canal
    over the vertebra's height (about half a millimetre at 30 deg of lordosis over L2-L4).
    The anterior and posterior walls are therefore measured again per slab (the largest voxel
    spacing thick) on the free voxels of a prism widened by ``_SLAB_REACH_MM``, in the canal's
    midline (see :func:`_bounded_gap`): where the bone bounds that free space in the slab (bone
    beyond its outermost point within 1.5 voxels), the slab's wall lies in the gap between
    them, placed with its neighbours' (see :func:`_steady_walls`); elsewhere (between
    laminae, at the discs) the prism's wall.
    """
    grid = vertebra.grid
    lattice = _lattice_mm(grid)
    band_mm, fallback_mm = _BAND_FRACTION * lattice, 0.5 * lattice
    canal_local = _prism_points(section, frame, vertebra, 0)
    if canal_local.shape[0] < 3:
        # A canal thinner than the voxels: fall back on the hole's pixels.
        canal_local = frame.to_local(section.hole_points_lps())
    a, p, lr_low, lr_high = _walls_of(canal_local, bone_local, band_mm, fallback_mm)
    lr_centre, half_width = 0.5 * (lr_low + lr_high), 0.5 * (lr_high - lr_low)
    constant = CanalWalls(
        np.array([-np.inf, np.inf]),
        np.array([a]),
        np.array([p]),
        np.array([lr_centre]),
        np.array([half_width]),
    )
    reach_px = max(1, int(np.ceil(_SLAB_REACH_MM / section.pixel_mm)))
    wide_local = _prism_points(section, frame, vertebra, reach_px)
    reach = 0.5 if band is None else max(0.5, band.half_width_ratio)
    central = np.abs(wide_local[:, 0] - lr_centre) <= reach * half_width
    wide_local = wide_local[central]
    margin = _SLAB_REACH_MM + 2.0 * lattice
    near = (
        (np.abs(bone_local[:, 0] - lr_centre) <= half_width)
        & (bone_local[:, 1] >= a - margin)
        & (bone_local[:, 1] <= p + margin)
    )
    bone_near = bone_local[near]
    slab_mm = max(grid.spacing_mm)
    low, high = float(bone_local[:, 2].min()), float(bone_local[:, 2].max())
    n_slabs = max(1, int(np.ceil((high - low) / slab_mm)))
    if wide_local.shape[0] == 0 or n_slabs < 2:
        return constant
    edges = np.asarray(low + slab_mm * np.arange(n_slabs + 1), dtype=np.float64)
    edges[-1] = max(edges[-1], high)
    gaps = _slab_gaps(wide_local, bone_near, edges, lr_centre, lattice, band, half_width)
    return CanalWalls(
        edges,
        _steady_walls(gaps[-1.0], -1.0, a, _STEADY_DEADBAND * lattice),
        _steady_walls(gaps[1.0], 1.0, p, _STEADY_DEADBAND * lattice),
        np.full(n_slabs, lr_centre),
        np.full(n_slabs, half_width),
    )


def _prism_points(
    section: ProjectedCanal, frame: LocalFrame, vertebra: Mask, widen_px: int
) -> NDArray[np.float64]:
    """Local points (in ``frame``) of the non-bone voxel centres inside the canal prism over
    the vertebra's height, the prism's cross-section dilated by ``widen_px`` pixels."""
    if widen_px > 0:
        px = section.pixel_mm
        hole = ndimage.binary_dilation(
            np.pad(section.hole, widen_px), iterations=widen_px
        )
        section = replace(
            section,
            hole=hole,
            lr0_mm=section.lr0_mm - widen_px * px,
            ap0_mm=section.ap0_mm - widen_px * px,
        )
    grid = vertebra.grid
    box = prism_box(section, grid, 0.0)
    ijk = np.indices(box.shape).reshape(3, -1).T + np.asarray(box.start)
    free = ~vertebra.in_box(box).reshape(-1)
    points = grid.index_to_lps(ijk[free])
    in_section = section.frame.to_local(points)
    low, high = section.si_range_mm
    inside = (in_section[:, 2] >= low) & (in_section[:, 2] <= high)
    inside[inside] = section.contains(in_section[inside])
    return frame.to_local(points[inside])


def _slab_gaps(
    canal_local: NDArray[np.float64],
    bone_local: NDArray[np.float64],
    edges: NDArray[np.float64],
    lr_centre: float,
    lattice_mm: float,
    band: _WallBand | None = None,
    half_width_mm: float = 0.0,
) -> dict[float, list[tuple[float, float] | None]]:
    """Per slab between ``edges`` (local SI, mm), the anterior (-1) and posterior (+1) gap
    between the canal's points and the bone beyond them (see :func:`_bounded_gap`); with
    ``band``, the anterior gaps narrowed across the band of the canal's width
    (``half_width_mm``, mm) in which the wall is flat (see :func:`_band_gaps`)."""
    n_slabs = len(edges) - 1

    def slab_of(points: NDArray[np.float64]) -> NDArray[np.intp]:
        return np.clip(np.searchsorted(edges, points[:, 2], side="right") - 1, 0, n_slabs - 1)

    canal_slab, bone_slab = slab_of(canal_local), slab_of(bone_local)
    gaps: dict[float, list[tuple[float, float] | None]] = {
        -1.0: [None] * n_slabs,
        1.0: [None] * n_slabs,
    }
    for slab in np.unique(canal_slab):
        canal_uv = canal_local[canal_slab == slab, :2]
        bone_uv = bone_local[bone_slab == slab, :2]
        for sign, found in gaps.items():
            found[slab] = _bounded_gap(canal_uv, bone_uv, sign, lr_centre, lattice_mm)
    if band is not None:
        # Only the anterior wall, the body's back: the posterior wall, the apex of the
        # laminae's arch, is too curved across a band to be taken as flat.
        gaps[-1.0] = _band_gaps(
            (canal_local[:, :2], canal_slab),
            (bone_local[:, :2], bone_slab),
            gaps[-1.0],
            -1.0,
            lr_centre,
            lattice_mm,
            band,
            band.half_width_ratio * half_width_mm,
        )
    return gaps


@dataclass(frozen=True)
class _WallBand:
    """How the anterior wall is narrowed across the canal's width (see
    :func:`_band_gaps`; the fields of :class:`SectorOptions` named ``ap_wall_*``)."""

    half_width_ratio: float
    flat_tolerance_mm: float
    max_curvature_per_mm: float

    @staticmethod
    def of(options: SectorOptions) -> _WallBand | None:
        """The rule of ``options``; None when it is off."""
        if options.ap_wall_band_half_width_ratio is None:
            return None
        return _WallBand(
            options.ap_wall_band_half_width_ratio,
            options.ap_wall_flat_tolerance_mm,
            options.ap_wall_max_curvature_per_mm,
        )


@dataclass(frozen=True)
class _WallBounds:
    """One slab's bounds of an AP wall across the band (mm along ``sign * v``): lower
    bounds (free points) and upper bounds (bone beyond them) at their ``u`` (mm from the
    canal's lateral centre), from ``columns`` columns that bound the wall."""

    lower_u: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper_u: NDArray[np.float64]
    upper: NDArray[np.float64]
    columns: int


def _wall_bounds(
    canal_uv: NDArray[np.float64],
    bone_uv: NDArray[np.float64],
    sign: float,
    centre_mm: float,
    lattice_mm: float,
    band_mm: float,
) -> _WallBounds:
    """The bounds of one slab's AP wall (``sign`` -1 anterior, +1 posterior) in the columns,
    a voxel wide, of the band within ``band_mm`` of the canal's lateral centre whose
    outermost free point has bone beyond it (by ``_BEYOND_FRACTION`` of a voxel) within
    ``_SLAB_MAX_GAP_LATTICES`` voxels, as in :func:`_bounded_gap`: the free points of such a
    column, and its bone points beyond the outermost of them."""
    u_canal = canal_uv[:, 0] - centre_mm
    u_bone = bone_uv[:, 0] - centre_mm
    in_canal = np.abs(u_canal) <= band_mm
    in_bone = np.abs(u_bone) <= band_mm
    u_canal, u_bone = u_canal[in_canal], u_bone[in_bone]
    column_canal = np.floor(u_canal / lattice_mm + 0.5).astype(np.int64)
    column_bone = np.floor(u_bone / lattice_mm + 0.5).astype(np.int64)
    depth_canal = sign * canal_uv[in_canal, 1]
    depth_bone = sign * bone_uv[in_bone, 1]
    parts: list[list[NDArray[np.float64]]] = [[], [], [], []]
    for column in np.unique(column_canal):
        free = column_canal == column
        extreme = float(depth_canal[free].max())
        beyond = (column_bone == column) & (
            depth_bone > extreme + _BEYOND_FRACTION * lattice_mm
        )
        if not beyond.any():
            continue
        if float(depth_bone[beyond].min()) - extreme > _SLAB_MAX_GAP_LATTICES * lattice_mm:
            continue
        for part, values in zip(
            parts, (u_canal[free], depth_canal[free], u_bone[beyond], depth_bone[beyond])
        ):
            part.append(values)
    lower_u, lower, upper_u, upper = (
        np.concatenate(part) if part else np.zeros(0) for part in parts
    )
    return _WallBounds(lower_u, lower, upper_u, upper, len(parts[0]))


def _wall_curvature(bounds: list[_WallBounds], max_per_mm: float) -> float:
    """The largest curvature ``|k|`` (1/mm) of an AP wall across the band, ``depth = d +
    k u^2`` with a depth ``d`` of its own per slab, among those that the fewest of the slabs'
    bounds contradict, searched over 0 and +-``max_per_mm`` times 2^-i for i = 0..8 in half
    steps.

    Each bound fixes only one side of the wall. Many bounds across the band, each at its
    own lattice phase, leave only curvatures near the wall's own; few bounds leave many,
    and the largest of them keeps the band narrow, so that a wall is taken as flat only as
    far as the bounds show it flat. (A parabola fitted to the columns' midpoints, each off
    by up to half a voxel, was off by 0.1-0.8 mm at 5 mm aside on the flat wall of the
    cervical model.)"""

    magnitudes = max_per_mm * np.geomspace(1.0, 1.0 / 256.0, 17)
    grid = np.concatenate([-magnitudes, [0.0], magnitudes[::-1]])
    counts = np.zeros(grid.size, dtype=np.int64)
    for found in bounds:
        counts += _fewest_contradictions(
            found.lower, found.lower_u, found.upper, found.upper_u, grid
        )
    return float(np.abs(grid[counts == counts.min()]).max())


def _fewest_contradictions(
    lower: NDArray[np.float64],
    lower_u: NDArray[np.float64],
    upper: NDArray[np.float64],
    upper_u: NDArray[np.float64],
    curvatures: NDArray[np.float64],
) -> NDArray[np.int64]:
    """Per curvature ``k``, the fewest of one slab's lower bounds (the wall's depth
    ``d + k u^2`` should be at least these) and upper bounds (at most these) that one depth
    ``d`` contradicts.

    ``lower``/``upper``: the bounds (mm), ``lower_u``/``upper_u`` their ``u`` (mm). A depth
    is tried at every bound (the count changes only there), for all curvatures at once: the
    bounds sorted together, lower before upper at equal depths, a lower bound's count is
    right at the last of equal lower bounds and an upper bound's at the first of equal upper
    bounds, and every other count is no smaller, so the smallest count is exact."""
    if lower.size + upper.size == 0:
        return np.zeros(curvatures.size, dtype=np.int64)
    k = curvatures[:, None]
    values = np.concatenate(
        [lower[None, :] - k * lower_u**2, upper[None, :] - k * upper_u**2], axis=1
    )
    is_lower = np.zeros(values.shape[1], dtype=bool)
    is_lower[: lower.size] = True
    order = np.argsort(values, axis=1, kind="stable")
    sorted_lower = is_lower[order]
    lower_at_or_below = np.cumsum(sorted_lower, axis=1)
    upper_below = np.cumsum(~sorted_lower, axis=1) - ~sorted_lower
    wrong = lower.size - lower_at_or_below + upper_below
    return np.asarray(wrong.min(axis=1), dtype=np.int64)


def _band_gaps(
    canal: tuple[NDArray[np.float64], NDArray[np.intp]],
    bone: tuple[NDArray[np.float64], NDArray[np.intp]],
    midline_gaps: list[tuple[float, float] | None],
    sign: float,
    centre_mm: float,
    lattice_mm: float,
    band: _WallBand,
    band_mm: float,
) -> list[tuple[float, float] | None]:
    """The slabs' gaps of one AP wall (``sign`` -1 anterior, +1 posterior; mm along
    ``sign * v``) on the canal's midline, narrowed across the band within ``band_mm`` of the
    canal's lateral centre ``centre_mm`` in which the wall is flat.

    ``canal`` and ``bone``: the free and the bone points (lr, ap; mm) with their slab;
    ``midline_gaps``: the slabs' gaps of :func:`_bounded_gap`. The midline strip holds few
    voxel centres, often at one or two phases of the lattice, and leaves the wall anywhere
    in a gap of up to a voxel (on the cervical model, whose body has a flat back, the wall
    was found up to 0.4 mm off at 0.7-1.1 mm pixels and 2-2.4 mm slices, and a row of the
    body's voxels went to the pedicles). Across the band the lattice takes many phases. In
    each slab with a midline gap, the columns (a voxel wide) of the band in which bone
    bounds the free space give bounds of the wall's depth (:func:`_wall_bounds`): every free
    point a lower one, every bone point beyond the column's outermost free point an upper
    one. A rounded canal's wall lies less deep aside: the band is narrowed to where the
    largest curvature the bounds leave (:func:`_wall_curvature`, over the slabs inside a
    run of one depth) moves the wall by at most ``band.flat_tolerance_mm``. A slab's gap is
    then its midline gap intersected with the gap between the deepest lower bound and the
    shallowest upper bound of that band, halved while they contradict each other (down to a
    voxel). A slab with fewer than three bounding columns keeps its midline gap.
    """
    bounds: dict[int, _WallBounds] = {}
    for slab, gap in enumerate(midline_gaps):
        if gap is None:
            continue
        found = _wall_bounds(
            canal[0][canal[1] == slab],
            bone[0][bone[1] == slab],
            sign,
            centre_mm,
            lattice_mm,
            band_mm,
        )
        if found.columns >= 3:
            bounds[slab] = found
    slabs = sorted(bounds)
    # The curvature is measured on the slabs inside a run of one depth (whose midline gaps
    # overlap those of both neighbours): a slab at an endplate holds free points reaching
    # into the disc beside the midline.
    inside = [
        k
        for k in slabs
        if 0 < k < len(midline_gaps) - 1
        and _overlap(midline_gaps[k], midline_gaps[k - 1]) is not None
        and _overlap(midline_gaps[k], midline_gaps[k + 1]) is not None
    ]
    used = [bounds[k] for k in (inside if len(inside) >= 2 else slabs)]
    if not used:
        return midline_gaps
    curvature = _wall_curvature(used, band.max_curvature_per_mm)
    if curvature > 0.0:
        band_mm = min(band_mm, float(np.sqrt(band.flat_tolerance_mm / curvature)))
    out = list(midline_gaps)
    for slab in slabs:
        found, own = bounds[slab], midline_gaps[slab]
        assert own is not None
        reach = band_mm
        while reach >= lattice_mm:
            lower = found.lower[np.abs(found.lower_u) <= reach]
            upper = found.upper[np.abs(found.upper_u) <= reach]
            if lower.size == 0 or upper.size == 0:
                break
            low, high = max(float(lower.max()), own[0]), min(float(upper.min()), own[1])
            if low < high:
                out[slab] = (low, high)
                break
            reach *= 0.5
    return out


def _bounded_gap(
    canal_uv: NDArray[np.float64],
    bone_uv: NDArray[np.float64],
    sign: float,
    centre_mm: float,
    lattice_mm: float,
) -> tuple[float, float] | None:
    """The gap in which the AP wall on one side (``sign`` -1 anterior, +1 posterior) of one
    slab's free space lies on the canal's midline, in mm along ``sign * v``.

    Measured in the strip within ``_MIDLINE_STRIP_LATTICES`` voxels (``lattice_mm``) of the
    canal's lateral centre ``centre_mm``: from the outermost free point there to the nearest
    bone point beyond it there (clearing it by ``_BEYOND_FRACTION`` of a voxel). Bone further
    aside is not used: beside a rounded canal it lies less deep than the wall in the midline
    (on a canal 8 mm in radius, 0.6 mm less deep 3 mm aside), and it made the wall too
    shallow. None when no bone lies beyond within ``_SLAB_MAX_GAP_LATTICES`` voxels (the free
    space is not bounded by bone in this slab).
    """
    in_strip = _MIDLINE_STRIP_LATTICES * lattice_mm
    canal = sign * canal_uv[np.abs(canal_uv[:, 0] - centre_mm) <= in_strip, 1]
    bone = sign * bone_uv[np.abs(bone_uv[:, 0] - centre_mm) <= in_strip, 1]
    if canal.size == 0 or bone.size == 0:
        return None
    extreme = float(canal.max())
    beyond = bone[bone > extreme + _BEYOND_FRACTION * lattice_mm]
    if beyond.size == 0:
        return None
    nearest = float(beyond.min())
    if nearest - extreme > _SLAB_MAX_GAP_LATTICES * lattice_mm:
        return None
    return extreme, nearest


def _steady_walls(
    gaps: list[tuple[float, float] | None],
    sign: float,
    default_mm: float,
    deadband_mm: float,
) -> NDArray[np.float64]:
    """One AP wall per slab (``v``, mm) from the slabs' gaps (see :func:`_bounded_gap`).

    A slab's gap is as wide as the voxel lattice leaves it (up to about a voxel), and where
    the wall lies in it depends on the lattice's phase, which drifts from slab to slab on a
    tilted grid: the middle of one slab's gap is off by up to half a voxel. A wall that does
    not move from slab to slab lies in the gaps of all of them, so a slab's wall is the
    middle of the intersection of its gap with those of the nearest slabs with a gap on
    either side, taken one more at a time while the intersection is not empty (see
    :func:`_grown_gap`). Where the canal's depth changes (across a disc, or a curved canal)
    the gaps stop overlapping and the slabs beyond are left out. The wall is kept within the
    slab's own gap, and at its own gap's middle when the neighbours move it by no more than
    ``deadband_mm``: on a grid whose rows run along the frame's
    axes a row of voxel centres lies on ``c`` (the middle of the gaps of ``a`` and ``p``),
    and gaps shifted by the frame's slight tilt against the rows would move it off that row
    by a hundredth of a millimetre, taking the whole row to the other side. A slab without a
    gap (too few voxel centres in its midline strip) between two slabs with gaps that
    overlap starts from their intersection instead; the other slabs without a gap take
    ``default_mm``.
    """
    n = len(gaps)
    out = np.full(n, default_mm, dtype=np.float64)
    bounded = [slab for slab in range(n) if gaps[slab] is not None]
    if len(bounded) >= 2:
        # An end slab holds the bone's end (an endplate) and the free space beyond it (the
        # disc) at once: its free voxels in front of or behind the canal can lie beyond the
        # endplate, with the bone "beyond" them below it. A depth of its own that no
        # neighbour confirms is not taken; it keeps ``default_mm``. Where the next two
        # slabs agree, it must agree with both: a wide gap of the next slab alone (a voxel
        # and a half on coarse tilted grids) overlapped the endplate's depth and took the
        # wall 1 mm into the cervical model's body.
        ends = ((bounded[0], bounded[1:3]), (bounded[-1], bounded[-2:-4:-1]))
        for end, inner in ends:
            reference = gaps[inner[0]]
            if len(inner) > 1:
                reference = _overlap(gaps[inner[0]], gaps[inner[1]]) or reference
            if _overlap(gaps[end], reference) is None:
                gaps = [None if slab == end else gap for slab, gap in enumerate(gaps)]
        bounded = [slab for slab in range(n) if gaps[slab] is not None]
    for slab in range(n):
        below = [j for j in bounded if j < slab][::-1]
        above = [j for j in bounded if j > slab]
        own = gaps[slab]
        if own is None:
            if not below or not above:
                continue
            own = _overlap(gaps[below[0]], gaps[above[0]])
            if own is None:
                continue
            below, above = below[1:], above[1:]
        low, high = _grown_gap(own, [gaps[j] for j in below])
        low, high = _grown_gap((low, high), [gaps[j] for j in above])
        middle = 0.5 * (own[0] + own[1])
        if abs(0.5 * (low + high) - middle) > deadband_mm:
            middle = min(max(0.5 * (low + high), own[0]), own[1])
        out[slab] = sign * middle
    return out


def _overlap(
    first: tuple[float, float] | None, second: tuple[float, float] | None
) -> tuple[float, float] | None:
    """The intersection of two gaps (mm), or None when it is empty (gaps that only touch,
    as those of two rows of an axis-aligned lattice do, do not overlap)."""
    if first is None or second is None:
        return None
    low, high = max(first[0], second[0]), min(first[1], second[1])
    return (low, high) if low < high else None


def _grown_gap(
    gap: tuple[float, float], others: list[tuple[float, float] | None]
) -> tuple[float, float]:
    """``gap`` intersected with ``others`` in turn, up to the first that does not overlap
    it (see :func:`_overlap`), mm."""
    for other in others:
        grown = _overlap(gap, other)
        if grown is None:
            break
        gap = grown
    return gap


def _walls_per_slab(
    canal_local: NDArray[np.float64],
    bone_local: NDArray[np.float64],
    slab_mm: float,
    min_fraction: float,
    name: str,
    lattice_mm: float,
    max_gap_voxels: float | None = None,
) -> CanalWalls:
    si_range = (float(bone_local[:, 2].min()), float(bone_local[:, 2].max()))
    n_slabs = max(1, int(np.ceil((si_range[1] - si_range[0]) / slab_mm)))
    edges = np.asarray(si_range[0] + slab_mm * np.arange(n_slabs + 1), dtype=np.float64)
    edges[-1] = max(edges[-1], si_range[1])
    keep = (canal_local[:, 2] >= edges[0]) & (canal_local[:, 2] <= edges[-1])
    points = canal_local[keep]
    if points.shape[0] == 0:
        raise AnatomyError(f"{name}: the canal has no voxel at the vertebra's height")
    index = np.clip(np.searchsorted(edges, points[:, 2], side="right") - 1, 0, n_slabs - 1)
    bone_index = np.clip(
        np.searchsorted(edges, bone_local[:, 2], side="right") - 1, 0, n_slabs - 1
    )
    counts = np.bincount(index, minlength=n_slabs)
    nonzero = counts[counts > 0]
    good = counts >= max(3.0, min_fraction * float(np.median(nonzero)))
    if not good.any():
        good = counts == counts.max()
    walls = np.full((n_slabs, 4), np.nan)
    for slab in np.flatnonzero(good):
        walls[slab] = _walls_of(
            points[index == slab],
            bone_local[bone_index == slab],
            _BAND_FRACTION * lattice_mm,
            0.5 * lattice_mm,
            None if max_gap_voxels is None else max_gap_voxels * lattice_mm,
        )
    good_slabs = np.flatnonzero(good)
    nearest = good_slabs[np.abs(np.arange(n_slabs)[:, None] - good_slabs[None, :]).argmin(axis=1)]
    anterior, posterior, lr_low, lr_high = np.asarray(walls[nearest].T, dtype=np.float64)
    return CanalWalls(
        edges,
        anterior,
        posterior,
        np.asarray(0.5 * (lr_low + lr_high), dtype=np.float64),
        np.asarray(0.5 * (lr_high - lr_low), dtype=np.float64),
    )


def _complete_sections_axis(
    vertebra: Mask, canal: Mask
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """A contoured canal's axis at the vertebra's height through the centroids of its
    complete cross-sections (see :data:`_COMPLETE_SECTION_FRACTION`); None (the frame then
    fits its own line) when fewer than two slices are complete."""
    axis = vertebra.grid.axis_of(2)[0]
    slice_range = (vertebra.box.start[axis], vertebra.box.stop[axis])
    return fit_axis_through_slices(
        canal, slice_range=slice_range, min_area_fraction=_COMPLETE_SECTION_FRACTION
    )


def _midline_ap_walls(
    walls: CanalWalls,
    canal_local: NDArray[np.float64],
    bone_local: NDArray[np.float64],
    lattice_mm: float,
    band: _WallBand | None = None,
) -> CanalWalls:
    """A contoured canal's AP walls by the rule of a derived canal's (see
    :func:`_walls_from_section`): per slab of ``walls``, in the canal's midline, between its
    deepest voxel centre there and the bone beyond (:func:`_bounded_gap`), placed with the
    neighbouring slabs (:func:`_steady_walls`). A slab whose canal is not bounded by bone
    there keeps its wall from ``walls``.

    Measured on the phantoms (120 poses): per slab, the older rule's walls moved by up to
    half a voxel with the lattice's phase and with the bone beside a rounded canal, and the
    poses with a contoured canal scored lower than those with a derived one.
    """
    edges = walls.slab_edges_mm
    lr_centre = float(np.median(walls.lr_centre_mm))
    half_width = float(np.median(walls.half_width_mm))
    margin = _SLAB_REACH_MM + 2.0 * lattice_mm
    near = (
        (np.abs(bone_local[:, 0] - lr_centre) <= half_width)
        & (bone_local[:, 1] >= float(np.min(walls.anterior_mm)) - margin)
        & (bone_local[:, 1] <= float(np.max(walls.posterior_mm)) + margin)
    )
    bone_near = bone_local[near]
    within = (canal_local[:, 2] >= edges[0]) & (canal_local[:, 2] <= edges[-1])
    canal = canal_local[within]
    gaps = _slab_gaps(canal, bone_near, edges, lr_centre, lattice_mm, band, half_width)
    deadband = _STEADY_DEADBAND * lattice_mm
    anterior = _steady_walls(gaps[-1.0], -1.0, np.nan, deadband)
    posterior = _steady_walls(gaps[1.0], 1.0, np.nan, deadband)
    return replace(
        walls,
        anterior_mm=np.where(np.isnan(anterior), walls.anterior_mm, anterior),
        posterior_mm=np.where(np.isnan(posterior), walls.posterior_mm, posterior),
    )


def _local_points(mask: Mask, box: BoundingBox, frame: LocalFrame) -> NDArray[np.float64]:
    ijk = np.argwhere(mask.in_box(box)) + np.asarray(box.start)
    return frame.to_local(mask.grid.index_to_lps(ijk))


def _foramina_of(
    vertebra: Mask,
    frame: LocalFrame,
    bone: NDArray[np.float64],
    walls: CanalWalls,
    options: SectorOptions,
) -> tuple[float | None, float | None]:
    """:func:`transverse_foramina` of one vertebra: found on the pixels first, then, where
    there are any, placed on the free voxel centres beside the canal in front of ``c``."""
    pixel = _lattice_mm(vertebra.grid)
    low, high = options.foramen_min_area_mm2, options.foramen_max_area_mm2
    found = transverse_foramina(bone, walls, pixel, min_area_mm2=low, max_area_mm2=high)
    if found == (None, None):
        return found
    summary = walls.summary()
    lateral = (np.abs(bone[:, 0] - summary["lr_centre_mm"]) > summary["half_width_mm"]) & (
        bone[:, 1] < summary["centre_mm"]
    )
    ijk = np.argwhere(vertebra.box_array)[lateral] + np.asarray(vertebra.box.start)
    left = bone[lateral, 0] > summary["lr_centre_mm"]
    free = [_free_points(vertebra, frame, ijk[side]) for side in (left, ~left) if side.any()]
    return transverse_foramina(
        bone, walls, pixel, free_mm=np.concatenate(free), min_area_mm2=low, max_area_mm2=high
    )


def _free_points(mask: Mask, frame: LocalFrame, ijk: NDArray[np.int64]) -> NDArray[np.float64]:
    """Local points of the voxel centres around the voxels ``ijk`` (their bounding box grown
    by two voxels, within the mask's box) that are not in the mask."""
    start = np.maximum(ijk.min(axis=0) - 2, np.asarray(mask.box.start))
    stop = np.minimum(ijk.max(axis=0) + 3, np.asarray(mask.box.stop))
    box = BoundingBox(
        tuple(int(x) for x in start), tuple(int(x) for x in stop)  # type: ignore[arg-type]
    )
    free = np.argwhere(~mask.in_box(box)) + start
    return frame.to_local(mask.grid.index_to_lps(free))


def label_sectors(
    vertebra: Mask,
    *,
    canal: Mask | CanalResult | None = None,
    cord: Mask | None = None,
    level: str | None = None,
    neighbours: Mapping[str, Mask] | None = None,
    options: SectorOptions = SectorOptions(),
    left_axis: NDArray[np.float64] | None = None,
    sacral_top_from_above_lps: NDArray[np.float64] | None = None,
) -> VertebraSectors:
    """Label every voxel of a vertebra with its ISRC sector 1..6.

    Parameters
    ----------
    vertebra : Mask
        The vertebra (or sacral segment).
    canal : Mask or CanalResult, optional
        The spinal canal: a contoured mask (walls measured per slab), or the result of
        :func:`derive_canal` (walls from this level's projected ring). Derived from the
        vertebra, its neighbours and the cord when absent.
    cord : Mask, optional
        Spinal cord, used only to derive the canal.
    level : str, optional
        Level name ("L2", "Vertebra_C2"...): selects the C1/C2/sacral rules and lets the
        neighbours give the SI direction.
    neighbours : mapping of str to Mask, optional
        Neighbouring vertebrae by level name (used only to derive the canal's SI direction).
    options : SectorOptions
        Tunables.
    left_axis : ndarray, shape (3,), optional
        A left axis (LPS, towards patient left) the level shares with its neighbours, as the
        sacral segments share the sacrum's: the local frame is turned about its SI axis onto
        it (its component along the SI axis is ignored). None keeps the level's own.
    sacral_top_from_above_lps : ndarray, shape (2, 3), optional
        A sacral segment only: the left and right body borders the segment above measured
        at its bottom edge (LPS mm, see :meth:`SacralBodyBorders.edge_points_local`), taken
        where this segment's top edge shows no foramen of its own. None: not used.

    Returns
    -------
    VertebraSectors
        Labels 1..6 exactly on the vertebra's voxels; see the module docstring for the rule.

    Raises
    ------
    AnatomyError
        When the vertebra is empty or no canal can be found at its height, or (a sacral
        segment) ``sacral_top_from_above_lps`` is not two finite points.
    GeometryMismatchError
        When the masks are on different grids.
    """
    canonical = parse_level(level) if level else None
    name = canonical or level or "vertebra"
    if vertebra.is_empty:
        raise AnatomyError(f"{name}: the vertebra mask is empty; expected its voxels")
    key = level or "vertebra"
    result: CanalResult | None
    if canal is None:
        vertebrae = {**dict(neighbours or {}), key: vertebra}
        result = derive_canal(vertebrae, cord=cord, levels=[key], options=options.canal)
    elif isinstance(canal, CanalResult):
        result = canal
    else:
        result = None
    canal_mask = result.mask if result is not None else canal
    assert isinstance(canal_mask, Mask)
    vertebra.grid.require_same(canal_mask.grid, what=f"{name} vertebra and canal")
    method: str = METHOD_GIVEN
    if result is not None:
        method = result.per_level.get(key, result.per_level.get(name, result.method))
    section = None if result is None else result.cross_sections.get(key)
    # A sacral segment's canal curves within it: its axis is fitted through the canal.
    sacral_level = canonical is not None and is_sacral(canonical)
    if sacral_level:
        given_axis = None
    elif section is not None:
        given_axis = (section.centre_lps(), section.frame.si_axis)
    else:
        given_axis = _complete_sections_axis(vertebra, canal_mask)
    frame = local_frame(
        vertebra,
        canal_mask,
        iterations=options.frame_iterations,
        level=name,
        axis=given_axis,
    )
    frame_turn_deg = None
    if left_axis is not None:
        frame, frame_turn_deg = _turned_to_left_axis(frame, left_axis, name)
    if canonical in _FORAMEN_LEVELS and options.cervical_rotation_from_body_core:
        frame = _turned_to_body_core(frame, vertebra, canal_mask)
    if canonical in _FORAMEN_LEVELS and options.cervical_rotation_by_symmetry:
        frame = _turned_to_symmetry(frame, vertebra)

    def measured(frame: LocalFrame) -> tuple[NDArray[np.float64], CanalWalls]:
        bone = _local_points(vertebra, vertebra.box, frame)
        if section is not None:
            return bone, _walls_from_section(
                section,
                frame,
                vertebra,
                bone,
                options.canal.extend_mm,
                _WallBand.of(options),
            )
        window = vertebra.box.padded(vertebra.grid.voxels_for_distance(10.0), vertebra.grid.shape)
        canal_local = _local_points(canal_mask, window, frame)
        walls = _walls_per_slab(
            canal_local,
            bone,
            options.slab_mm or max(vertebra.grid.spacing_mm),
            options.min_slab_canal_fraction,
            name,
            _lattice_mm(vertebra.grid),
            options.contoured_wall_max_gap_voxels,
        )
        if not sacral_level:
            walls = _midline_ap_walls(
                walls,
                canal_local,
                bone,
                _lattice_mm(vertebra.grid),
                _WallBand.of(options),
            )
        return bone, walls

    bone, walls = measured(frame)
    if canonical == "C1" and options.c1_lateral_masses:
        # Twice: the first turn's walls, measured in a frame turned far from C1's own, may
        # leave the foramina's centres off.
        for _ in range(2):
            turned = _turned_to_foramina(frame, bone, walls, _lattice_mm(vertebra.grid), options)
            if turned is frame:
                break
            frame = turned
            bone, walls = measured(frame)
    sacral = canonical is not None and is_sacral(canonical)
    estimated_walls = walls
    if sacral and method == METHOD_ARCH:
        walls = _flattened_open_sacral_canal(walls, options.sacral_open_canal_max_depth_ratio)
    bounds = None
    if not sacral and canonical != "C1" and options.limit_body_to_its_width:
        measured_on = bone
        if canonical == "C2":
            # C2's body is measured below its dens, which would make the middle of the
            # body far taller than its sides.
            low, high = _arch_height(bone)
            measured_on = bone[(bone[:, 2] >= low) & (bone[:, 2] <= high)]
        bounds = body_lr_bounds(
            measured_on,
            walls,
            0.5 * _lattice_mm(vertebra.grid),
            min_height_fraction=(
                options.cervical_body_min_height_fraction
                if canonical in _TALL_BODY_LEVELS
                else None
            ),
            pixel_mm=_lattice_mm(vertebra.grid),
        )
    sacral_bounds, sacral_borders = (
        _sacral_body_bounds(
            bone,
            walls,
            vertebra,
            name,
            options,
            top_from_above_mm=_border_pair_in(frame, sacral_top_from_above_lps, name),
        )
        if sacral
        else (None, None)
    )
    foramina: tuple[float | None, float | None] = (None, None)
    atlas = canonical == "C1" and options.c1_lateral_masses
    if (canonical in _FORAMEN_LEVELS or atlas) and options.cervical_transverse_foramina:
        foramina = _foramina_of(vertebra, frame, bone, walls, options)
    if atlas:
        values = atlas_labels(
            bone,
            walls,
            _local_points(canal_mask, vertebra.box, frame),
            _lattice_mm(vertebra.grid),
            max(vertebra.grid.spacing_mm),
            transverse_from_mm=foramina,
        )
    else:
        values = assign_sectors(
            bone,
            walls,
            sacral=sacral,
            sacral_body_half_width_ratio=options.sacral_body_half_width_ratio,
            sacral_body_bounds_mm=sacral_bounds,
            body_lr_bounds_mm=bounds,
            transverse_from_mm=foramina,
        )
    if walls is not estimated_walls:
        # Bone between the flattened and the estimated posterior wall is the open canal's
        # side wall, not a median crest.
        slab = estimated_walls.slab_of(bone[:, 2])
        side = (values == 4) & (bone[:, 1] <= estimated_walls.posterior_mm[slab])
        lamina = np.where(bone[:, 0] > estimated_walls.lr_centre_mm[slab], 3, 5)
        values = np.where(side, lamina, values).astype(np.uint8)
    if canonical == "C2" and options.c2_dens_to_body:
        values = _dens_to_body(bone, values, walls)
    array = np.zeros(vertebra.box.shape, dtype=np.uint8)
    array[vertebra.box_array] = values
    labels = LabelMap(vertebra.grid, vertebra.box, array)
    counts = np.bincount(values, minlength=7)
    volumes = {k: float(counts[k]) * vertebra.grid.voxel_volume_cc for k in range(1, 7)}
    return VertebraSectors(
        canonical or (level or ""),
        labels,
        canal_mask,
        method,
        frame,
        volumes,
        walls,
        options,
        "sacral" if sacral else "vertebra",
        foramina,
        frame_turn_deg,
        sacral_borders,
    )


def atlas_labels(
    local_mm: NDArray[np.float64],
    walls: CanalWalls,
    canal_mm: NDArray[np.float64],
    pixel_mm: float,
    slab_mm: float,
    *,
    transverse_from_mm: tuple[float | None, float | None] | None = None,
) -> NDArray[np.uint8]:
    """Sectors 1..6 of C1's bone points, given in its local frame (mm).

    C1 has no body: its ring holds the dens in front and the canal behind it. Sector 1 is
    the anterior arch, the bone in front of the ring's hole (its anterior wall ``a1`` in the
    canal's midline, followed column by column across the dens's space, see
    :class:`_RingHole`); a contoured canal, which lies behind the dens,
    would give the front halves of the lateral masses to sector 1. The lateral masses (2
    left, 6 right) reach from ``a1`` back to the middle ``c1`` of the canal behind the dens
    (between the canal's anterior wall behind the dens, see :func:`_canal_front_behind_dens`,
    and its posterior wall ``p``); the ring's own middle, dens included, lies several mm too
    far forward. Behind ``c1`` the posterior arch is 3/5, and 4 behind ``p`` within the canal's
    lateral bounds (the posterior tubercle). With ``transverse_from_mm`` (the medial edges of
    the transverse foramina, see :func:`transverse_foramina`), lateral-mass bone at or
    beyond a foramen's medial edge is transverse process (3/5).

    Parameters
    ----------
    local_mm : ndarray, shape (n, 3)
        C1's bone points (lr, ap, si), mm.
    walls : CanalWalls
        The canal walls (``p``, ``uc``, ``w`` are used; ``a`` is the fallback of ``a1``).
    canal_mm : ndarray, shape (m, 3)
        The canal's points at C1, same frame, mm.
    pixel_mm : float
        The in-plane voxel spacing, mm.
    slab_mm : float
        Thickness of the slabs along the local SI axis in which the canal behind the dens is
        followed, mm (the largest voxel spacing).
    transverse_from_mm : (float or None, float or None), optional
        Medial edges (``u``, mm) of the left and right transverse foramina.

    Returns
    -------
    ndarray of uint8, shape (n,)
        Labels 1..6.
    """
    summary = walls.summary()
    uc = summary["lr_centre_mm"]
    ring = _ring_hole(local_mm, summary, pixel_mm)
    midline = float(ring.front_mm(np.array([uc]), local_mm[:, :2])[0]) if ring else np.nan
    front_mid = summary["anterior_wall_mm"] if np.isnan(midline) else midline
    behind_dens = _canal_front_behind_dens(canal_mm, summary, front_mid, pixel_mm, slab_mm)
    front = np.full(local_mm.shape[0], front_mid)
    if ring is not None and behind_dens > front_mid:
        # The arch is bent round the dens: its back is followed column by column where
        # the hole reaches at least halfway from the canal behind the dens to the arch's
        # back in the midline (the dens's space); beside it the lateral masses.
        columns = ring.front_mm(local_mm[:, 0], local_mm[:, :2])
        across = ~np.isnan(columns)
        across[across] = columns[across] <= 0.5 * (front_mid + behind_dens)
        front[across] = columns[across]
    slab = walls.slab_of(local_mm[:, 2])
    p = walls.posterior_mm[slab]
    centre = 0.5 * (behind_dens + p)
    u = local_mm[:, 0] - walls.lr_centre_mm[slab]
    v = local_mm[:, 1]
    lateral = np.where(u > 0, 2, 6).astype(np.uint8)
    posterior = np.where(u > 0, 3, 5).astype(np.uint8)
    labels = np.where(
        v < front - TIE_MM, 1, np.where(v < centre - TIE_MM, lateral, posterior)
    ).astype(np.uint8)
    labels[(v >= centre - TIE_MM) & (v > p) & (np.abs(u) <= walls.half_width_mm[slab])] = 4
    if transverse_from_mm is not None:
        labels = _transverse_beside_pedicle(
            local_mm, labels, np.zeros(labels.shape, dtype=bool), transverse_from_mm
        )
    return labels


@dataclass(frozen=True)
class _RingHole:
    """The hole of a ring's projection along the local SI axis, on a raster of pixels."""

    origin_mm: NDArray[np.float64]
    pixel_mm: float
    hole: NDArray[np.bool_]

    def front_mm(
        self, u_mm: NDArray[np.float64], bone_uv: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """The hole's anterior wall (``v``, mm) in the pixel column of each ``u`` (NaN
        outside the hole's columns): midway between the front edge of the column's most
        anterior hole pixel (behind the bone's surface by up to a pixel, as a pixel is a hole
        only when no bone projects into it) and the most posterior bone point (``bone_uv``,
        the bone's points in the frame's plane) of the column in front of that edge."""
        first = np.where(self.hole.any(axis=1), self.hole.argmax(axis=1), -1)
        edge = np.where(first >= 0, self.origin_mm[1] + first * self.pixel_mm, np.nan)
        bone_column = np.floor((bone_uv[:, 0] - self.origin_mm[0]) / self.pixel_mm).astype(np.int64)
        keep = (bone_column >= 0) & (bone_column < first.size)
        keep[keep] = bone_uv[keep, 1] < edge[bone_column[keep]]
        surface = np.full(first.size, -np.inf)
        np.maximum.at(surface, bone_column[keep], bone_uv[keep, 1])
        front = np.where(np.isfinite(surface), 0.5 * (surface + edge), edge - 0.5 * self.pixel_mm)
        column = np.floor((u_mm - self.origin_mm[0]) / self.pixel_mm).astype(np.int64)
        valid = (column >= 0) & (column < first.size)
        return np.where(valid, front[np.clip(column, 0, first.size - 1)], np.nan)


def _ring_hole(
    local_mm: NDArray[np.float64], summary: dict[str, float], pixel_mm: float
) -> _RingHole | None:
    """The hole of the bone's projection along the local SI axis that holds the canal's
    centre (after closing gaps of up to about two pixels in the ring); None without one."""
    uv = local_mm[:, :2]
    origin = uv.min(axis=0) - 4.0 * pixel_mm
    ij = np.floor((uv - origin) / pixel_mm).astype(np.int64)
    occupied = np.zeros(tuple(ij.max(axis=0) + 5), dtype=bool)
    occupied[ij[:, 0], ij[:, 1]] = True
    closed = ndimage.binary_closing(occupied, iterations=2) | occupied
    labelled, _ = ndimage.label(ndimage.binary_fill_holes(closed) & ~closed)
    centre = np.array([summary["lr_centre_mm"], summary["centre_mm"]])
    at = np.floor((centre - origin) / pixel_mm).astype(np.int64)
    if not np.all((at >= 0) & (at < np.asarray(labelled.shape))):
        return None
    index = int(labelled[at[0], at[1]])
    if index == 0:
        return None
    return _RingHole(origin, pixel_mm, labelled == index)


def _canal_front_behind_dens(
    canal_mm: NDArray[np.float64],
    summary: dict[str, float],
    front_mm: float,
    pixel_mm: float,
    slab_mm: float,
) -> float:
    """The anterior wall (``v``, mm) of the canal behind C1's dens, in the canal's midline.

    Per slab (``slab_mm`` thick along the local SI axis, the largest voxel spacing), the
    canal's points within a pixel of its lateral centre are followed from the middle of the
    canal forward while they leave no gap wider than 1.5 slabs (on a tilted grid the points
    of so thin a strip lie up to about a voxel apart; the dens is 8-10 mm thick): a derived
    canal holds the space round the dens but not the dens (C2's bone), and a contoured one
    ends behind it. Slabs whose run reaches the ring's
    anterior wall ``front_mm`` (above the dens's tip, or no dens) are left out; the wall lies
    half a pixel in front of the median of the runs' last points. ``front_mm`` when every
    slab is left out (the ring's middle is then the canal's)."""
    strip = canal_mm[np.abs(canal_mm[:, 0] - summary["lr_centre_mm"]) <= pixel_mm]
    strip = strip[(strip[:, 1] <= summary["centre_mm"]) & (strip[:, 1] > front_mm - pixel_mm)]
    if strip.shape[0] == 0:
        return front_mm
    slab = np.floor((strip[:, 2] - strip[:, 2].min()) / slab_mm).astype(np.int64)
    ends = []
    for index in np.unique(slab):
        v = np.sort(strip[slab == index, 1])[::-1]
        gap = np.flatnonzero(-np.diff(v) > 1.5 * slab_mm)
        last = float(v[int(gap[0])] if gap.size else v[-1])
        if last - 0.5 * pixel_mm > front_mm + 1.5 * pixel_mm:
            ends.append(last)
    if not ends:
        return front_mm
    return float(np.median(ends)) - 0.5 * pixel_mm


def _border_pair_in(
    frame: LocalFrame, points_lps: NDArray[np.float64] | None, name: str
) -> tuple[float, float] | None:
    """Local ``u`` (mm) of a left and a right border point given in LPS; None for None."""
    if points_lps is None:
        return None
    points = np.asarray(points_lps, dtype=np.float64)
    if points.shape != (2, 3) or not np.all(np.isfinite(points)):
        raise AnatomyError(
            f"{name}: sacral_top_from_above_lps must be two finite LPS points (left, right) "
            f"of shape (2, 3), got shape {points.shape}"
        )
    u = frame.to_local(points)[:, 0]
    return float(u[0]), float(u[1])


def _flattened_open_sacral_canal(walls: CanalWalls, ratio: float | None) -> CanalWalls:
    """The walls of an open sacral canal (estimated from the arch) with its depth at most
    ``ratio`` times its width: the convex hull closing it spans the dorsal tips of the lateral
    masses and makes it far deeper than the sacral canal, a flattened triangle. None: as is."""
    if ratio is None:
        return walls
    posterior = np.minimum(
        walls.posterior_mm, walls.anterior_mm + ratio * 2.0 * walls.half_width_mm
    )
    return replace(walls, posterior_mm=np.asarray(posterior, dtype=np.float64))


def _sacral_body_bounds(
    bone: NDArray[np.float64],
    walls: CanalWalls,
    vertebra: Mask,
    name: str,
    options: SectorOptions,
    top_from_above_mm: tuple[float, float] | None = None,
) -> tuple[tuple[NDArray[np.float64], NDArray[np.float64]] | None, SacralBodyBorders | None]:
    """Per bone point, the low and high ``u`` of a sacral body from its anterior foramina,
    and the borders they come from; None (with a warning: the canal ratio then applies)
    where none is found or the option is off. ``top_from_above_mm``: the left and right
    border the segment above measured at the shared edge (see :func:`sacral_body_borders`)."""
    if not options.sacral_body_from_foramina:
        return None, None
    # sacrum.py builds on label_sectors, so it is imported here, not at the top.
    from spinetv.anatomy.sacrum import sacral_body_borders

    anterior = walls.anterior_mm[walls.slab_of(bone[:, 2])]
    summary = walls.summary()
    borders = sacral_body_borders(
        bone,
        anterior,
        canal_centre_mm=summary["lr_centre_mm"],
        canal_half_width_mm=summary["half_width_mm"],
        pixel_mm=_lattice_mm(vertebra.grid),
        min_depth_mm=options.sacral_foramen_min_depth_mm,
        max_width_mm=options.sacral_foramen_max_width_mm,
        band_fraction=options.sacral_foramen_band_fraction,
        outline_max_ratio=options.sacral_body_outline_max_ratio,
        top_from_above_mm=top_from_above_mm,
    )
    if not borders.found:
        warnings.warn(
            f"{name}: no anterior sacral foramina found beside a body in front of the canal; "
            f"the body's lateral borders are set at {options.sacral_body_half_width_ratio} "
            "canal half-widths from the canal's midline",
            AnatomyWarning,
            stacklevel=3,
        )
        return None, None
    return borders.bounds_at(bone[:, 2]), borders


def _dens_to_body(
    bone: NDArray[np.float64], values: NDArray[np.uint8], walls: CanalWalls
) -> NDArray[np.uint8]:
    posterior = np.isin(values, (3, 4, 5))
    if not posterior.any():
        return values
    top_of_arch = float(bone[posterior, 2].max())
    slab = walls.slab_of(bone[:, 2])
    within = np.abs(bone[:, 0] - walls.lr_centre_mm[slab]) <= walls.half_width_mm[slab]
    dens = (bone[:, 2] > top_of_arch) & within
    out = values.copy()
    out[dens] = 1
    return out


def label_spine(
    vertebrae: Mapping[str, Mask],
    *,
    cord: Mask | None = None,
    canal: Mask | None = None,
    options: SectorOptions = SectorOptions(),
) -> dict[str, VertebraSectors]:
    """Sectors of every vertebra, with one canal derivation for all of them.

    Parameters
    ----------
    vertebrae : mapping of str to Mask
        Level name -> vertebra mask (see :func:`~spinetv.anatomy.levels.find_vertebrae`).
    cord : Mask, optional
        Spinal cord (helps derive the canal).
    canal : Mask, optional
        A contoured spinal canal, used as is.
    options : SectorOptions
        Tunables.

    Returns
    -------
    dict of str to VertebraSectors
        Per level, in the order of ``vertebrae``' levels from the top down.
    """
    result = derive_canal(vertebrae, cord=cord, contoured=canal, options=options.canal)
    ordered = list(result.per_level) + [lv for lv in vertebrae if lv not in result.per_level]
    return {
        level: label_sectors(
            vertebrae[level], canal=result, level=level, options=options
        )
        for level in ordered
    }
