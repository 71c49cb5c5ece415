"""The whole job on masks: sectors -> guideline CTV -> planning volumes, with a report.

Pure functions over :class:`~spinetv.geometry.mask.Mask` values, so that a planning-system
plugin can call them on arrays without any file; :mod:`spinetv.case` reads the files and
:mod:`spinetv.outputs` writes the outputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spinetv.anatomy.canal import CanalResult, derive_canal, extend_canal_to
from spinetv.anatomy.levels import adjacent_levels, is_sacral, level_order, parse_level
from spinetv.anatomy.model import Anatomy
from spinetv.anatomy.quality import LevelQuality, assess_level, sacral_axis_checks
from spinetv.anatomy.sacrum import (
    SacralSplit,
    derive_sacral_canal,
    derive_sacral_foramina,
    sacral_left_axis,
    split_sacrum_detailed,
)
from spinetv.anatomy.sectors import SectorOptions, VertebraSectors, label_sectors
from spinetv.errors import AnatomyError, AnatomyWarning, OptionsError
from spinetv.frozen import FrozenMap
from spinetv.geometry.booleans import overlap_cc, subtract, union
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.margins import SIDE_LPS_AXIS, Margin, expand, round_to_grid
from spinetv.geometry.mask import Mask
from spinetv.geometry.resample import refine_in_plane, resample_nearest
from spinetv.guidelines import CtvResult, Guideline, build_ctv, load_guideline
from spinetv.planning.protocols import Protocol, load_protocol
from spinetv.planning.volumes import (
    PlanningWarning,
    VolumeResult,
    cord_evaluation_volume,
    effective_margin_mm,
    make_prv,
    make_ptv,
    make_ptv_eval,
    restrict_to_si_range,
    si_extent_mm,
)
from spinetv.report.model import LevelEntry, PlanReport, StructureEntry
from spinetv.structure import Provenance, RoiType, Structure
from spinetv.version import __version__
from spinetv.vocabulary import OrganRole, Sector

__all__ = [
    "Anatomy",
    "PlanOptions",
    "PlanResult",
    "SectorResult",
    "label_case_sectors",
    "make_ctv",
    "plan",
    "candidate_levels",
    "derived_structures",
    "anatomy_report",
    "anatomy_notes",
    "level_masks",
    "sector_structures",
    "reach_notes",
    "canal_safety_margin",
    "SECTOR_COLOURS",
]

#: How far (mm) around the GTV a vertebra is looked at: epidural or paraspinal disease next
#: to a vertebra still makes that vertebra a candidate; the guideline decides involvement.
CANDIDATE_REACH_MM = 3.0

#: Display colour (RGB 0-255) of each sector number, colour-blind safe (Okabe-Ito).
SECTOR_COLOURS: dict[int, tuple[int, int, int]] = {
    1: (230, 159, 0),
    2: (86, 180, 233),
    3: (0, 158, 115),
    4: (240, 228, 66),
    5: (0, 114, 178),
    6: (213, 94, 0),
}


@dataclass(frozen=True)
class PlanOptions:
    """Choices of one run, all reported.

    Parameters
    ----------
    protocol : str or Protocol
        Protocol preset (name, file or loaded value); default ``sib-sbrt-2025``. Loaded once,
        when the options are made: the field then holds the :class:`Protocol` value.
    guideline : str or Guideline, optional
        Override the protocol's guideline (a name, a guideline file or a loaded value; loaded
        once, when the options are made).
    guideline_parameters : mapping, optional
        Overrides of the guideline's named parameters (``min_overlap_cc``...).
    ptv_margin : Margin, optional
        Override the protocol's PTV margin.
    circumferential_epidural : bool or collection of str
        The user states circumferential epidural disease (all levels, or the named ones).
    levels : collection of str, optional
        Restrict the candidate levels to these.
    sector_options : SectorOptions
        Tunables of sector labelling.
    margin_tolerance_mm : float
        How much shorter than asked an in-plane margin may reach on voxel centres (mm). When
        the image's pixels are too coarse for it, the PTV, PTV_Eval and PRVs are made on an
        in-plane refined grid (same slices, pixels split k x k) and written from there; the
        superior-inferior reach stays a whole number of slices and is reported. Default 0.25.
    max_refinement : int
        Largest in-plane refinement factor k allowed (default 8).
    derived_thecal_sac_extent_mm : float
        When no thecal sac is contoured for a target below the conus level, the organ at risk
        is approximated by the spinal canal from this far below the target to this far above
        it (stopping at the protocol's level), in mm. Default 6, the cord-volume extent of
        Ryu / RTOG 0631 [lib].
    derived_canal_safety_mm : float
        PTV_Eval excludes a derived (not contoured) spinal or sacral canal grown into soft
        tissue by this much, or by the voxel's size along each patient axis where that is
        larger, mm [lib]: the derived wall is uncertain by about a voxel, and PTV_Eval must
        never hold canal. Default 1.5 (measured on the phantoms with pixels up to 1.2 mm: no
        true-canal voxel lies farther than 1.0 mm from the derived canal; with 1.5-3 mm pixels
        a 1.5 mm growth left up to 11 true-canal voxels in PTV_Eval at 6 of 60 poses, the
        voxel-sized growth none). 0 uses the derived canal as is.
    """

    protocol: str | Protocol = "sib-sbrt-2025"
    guideline: str | Guideline | None = None
    guideline_parameters: Mapping[str, Any] | None = None
    ptv_margin: Margin | None = None
    circumferential_epidural: bool | Collection[str] = False
    levels: Collection[str] | None = None
    sector_options: SectorOptions = field(default_factory=SectorOptions)
    margin_tolerance_mm: float = 0.25
    max_refinement: int = 8
    derived_thecal_sac_extent_mm: float = 6.0
    derived_canal_safety_mm: float = 1.5

    def __post_init__(self) -> None:
        # Files are read here, once: every later step is handed the values.
        set_field = object.__setattr__
        set_field(self, "protocol", load_protocol(self.protocol))
        if self.guideline is not None:
            set_field(self, "guideline", load_guideline(self.guideline))
        if self.guideline_parameters is not None:
            set_field(self, "guideline_parameters", FrozenMap(self.guideline_parameters))
        if self.ptv_margin is not None and not isinstance(self.ptv_margin, Margin):
            raise OptionsError(f"ptv_margin: expected a Margin, got {self.ptv_margin!r}")
        if self.levels is not None:
            set_field(self, "levels", _canonical_levels(self.levels, what="levels"))
        if not isinstance(self.circumferential_epidural, bool):
            set_field(
                self,
                "circumferential_epidural",
                _canonical_levels(self.circumferential_epidural, what="circumferential_epidural"),
            )
        _check_range("margin_tolerance_mm", self.margin_tolerance_mm, 0.0, 2.0)
        _check_range("derived_thecal_sac_extent_mm", self.derived_thecal_sac_extent_mm, 0, 100)
        _check_range("derived_canal_safety_mm", self.derived_canal_safety_mm, 0.0, 5.0)
        if (
            isinstance(self.max_refinement, bool)
            or not isinstance(self.max_refinement, int)
            or not 1 <= self.max_refinement <= 16
        ):
            raise OptionsError(
                f"max_refinement: {self.max_refinement!r}; expected a whole number from 1 to 16"
            )

    def resolved_protocol(self) -> Protocol:
        """The protocol value (loaded when the options were made).

        Returns
        -------
        Protocol
            ``protocol``, already a :class:`Protocol` after construction.
        """
        assert isinstance(self.protocol, Protocol)
        return self.protocol

    def resolved_guideline(self) -> Guideline:
        """The guideline value: the override, else the protocol's (shipped ones are cached).

        Returns
        -------
        Guideline
            ``guideline`` when given, else the guideline the protocol names.
        """
        if isinstance(self.guideline, Guideline):
            return self.guideline
        return load_guideline(self.resolved_protocol().guideline)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise OptionsError(f"{name}: {value!r}; expected a number from {low:g} to {high:g} (mm)")


def _canonical_levels(names: Collection[str], *, what: str) -> frozenset[str]:
    if isinstance(names, str):
        names = [part for part in names.split(",") if part.strip()]
    levels = {}
    for name in names:
        level = parse_level(str(name)) if isinstance(name, str) else None
        if level is None:
            raise OptionsError(f"{what}: {name!r} is not a vertebral level (e.g. L2, S1)")
        levels[name] = level
    return frozenset(levels.values())


@dataclass(frozen=True)
class SectorResult:
    """Sectors of the candidate levels and the canal structures derived on the way.

    Parameters
    ----------
    by_level : mapping of str to VertebraSectors
        The labelled levels, top to bottom.
    canal : Mask or None
        The spinal canal (contoured, or derived over the levels and their neighbours).
    canal_methods : mapping of str to str
        How the canal was found at each labelled level.
    sacral_canal, sacral_foramina : Mask or None
        Contoured or derived (only for a sacral target).
    sacral_segments : mapping of str to Mask
        S1..S5 as split (or given).
    quality : mapping of str to LevelQuality
        Frame, canal and plausibility checks of each labelled level.
    unlabelled : mapping of str to str
        Levels asked for that could not be labelled (not needed by the target), with the
        reason; neighbours whose canal could not be found are named here too.
    canal_result, sacral_canal_result : CanalResult or None
        The derivations (cross-sections per level), for prolonging the canal under a PTV.
    sacral_split : SacralSplit or None
        How the sacrum was cut into segments (for a sacral target).
    """

    by_level: Mapping[str, VertebraSectors]
    canal: Mask | None
    canal_methods: Mapping[str, str]
    sacral_canal: Mask | None
    sacral_foramina: Mask | None
    sacral_segments: Mapping[str, Mask]
    quality: Mapping[str, LevelQuality] = field(default_factory=dict)
    unlabelled: Mapping[str, str] = field(default_factory=dict)
    canal_result: CanalResult | None = None
    sacral_canal_result: CanalResult | None = None
    sacral_split: SacralSplit | None = None


@dataclass(frozen=True)
class PlanResult:
    """Everything one run made, ready to be written.

    Notes
    -----
    Sectors and the CTV are on the image grid. PTV, PTV_Eval and the PRVs are on the planning
    grid: the image grid itself, or, when its pixels are too coarse for the margins, the same
    slices with each pixel split k x k (``report["options"]["planning_grid"]``). Use
    :meth:`mask_on_image_grid` to get any structure on the image's pixels, or pass
    ``PlanOptions(max_refinement=1)`` to keep everything on the image grid.
    """

    structures: tuple[Structure, ...]
    sectors: SectorResult
    ctv: CtvResult
    protocol: Protocol
    report: PlanReport

    def structure(self, name: str) -> Structure:
        """The structure called ``name`` (raises :class:`AnatomyError` listing the names).

        Parameters
        ----------
        name : str
            The ROI name, exactly as written (``"PTV_Eval"``, ``"L2_Sector1"``...).

        Returns
        -------
        Structure
            The first structure of that name.

        Raises
        ------
        AnatomyError
            When this plan made no structure of that name.
        """
        for candidate in self.structures:
            if candidate.name == name:
                return candidate
        names = ", ".join(s.name for s in self.structures)
        raise AnatomyError(f"no structure {name!r} in this plan; made: {names}")

    def mask_on_image_grid(self, name: str, grid: ImageGrid) -> Mask:
        """The structure ``name`` on the image's own pixels (nearest voxel centre).

        Parameters
        ----------
        name : str
            The ROI name, as :meth:`structure` takes it.
        grid : ImageGrid
            The image's grid (a structure already on it is returned as is).

        Returns
        -------
        Mask
            The structure on ``grid``: each voxel takes the value of the planning-grid voxel
            nearest its centre.

        Raises
        ------
        AnatomyError
            When this plan made no structure of that name.
        GeometryMismatchError
            When ``grid`` names another frame of reference than the structure's.
        """
        return resample_nearest(self.structure(name).mask, grid)


# ---- levels -------------------------------------------------------------------------------
def _ordered(levels: Collection[str]) -> list[str]:
    return sorted(levels, key=level_order)


def _sacral_segments(anatomy: Anatomy) -> dict[str, Mask]:
    """S1..S5 from the vertebrae given (a whole sacrum, or S1 plus the rest, or segments)."""
    if not any(is_sacral(lv) for lv in anatomy.vertebrae):
        return {}
    return dict(_sacral_split(anatomy).segments)


def _sacral_split(anatomy: Anatomy) -> SacralSplit:
    """The sacrum as split (or as given in segments)."""
    given = {lv: m for lv, m in anatomy.vertebrae.items() if is_sacral(lv)}
    if "Sacrum" not in given:
        segments = {lv: given[lv] for lv in _ordered(given)}
        return SacralSplit(segments, (), ("given",) * max(0, len(segments) - 1), 0.0, None)
    return split_sacrum_detailed(given["Sacrum"], s1=given.get("S1"), canal=anatomy.sacral_canal)


def candidate_levels(
    gtv: Mask, vertebrae: Mapping[str, Mask], *, only: Collection[str] | None = None
) -> list[str]:
    """Levels whose vertebra the GTV touches or comes within :data:`CANDIDATE_REACH_MM` of.

    Parameters
    ----------
    gtv : Mask
        The GTV.
    vertebrae : mapping of str to Mask
        Canonical level -> vertebra (sacral segments split).
    only : collection of str, optional
        Consider only these levels (canonical names).

    Returns
    -------
    list of str
        The candidate levels, from the top of the spine down.

    Raises
    ------
    AnatomyError
        When the GTV is empty, or touches no vertebra (the message names the nearest levels).
    """
    if gtv.is_empty:
        raise AnatomyError("the GTV is empty")
    reach = expand(gtv, Margin.isotropic(CANDIDATE_REACH_MM))
    pool = {lv: m for lv, m in vertebrae.items() if only is None or lv in only}
    if only is not None:
        missing = sorted(set(only) - set(vertebrae))
        if missing:
            raise AnatomyError(
                f"level(s) {', '.join(missing)} requested but no such vertebra was given; "
                f"available: {', '.join(_ordered(vertebrae)) or 'none'}"
            )
    found = [lv for lv, m in pool.items() if overlap_cc(reach, m) > 0]
    if not found:
        available = ", ".join(_ordered(pool)) or "none"
        raise AnatomyError(
            f"the GTV ({gtv.volume_cc:.2f} cc) touches none of the vertebrae {available} "
            f"(within {CANDIDATE_REACH_MM:g} mm): check the GTV and the vertebra contours"
        )
    return _ordered(found)


# ---- sectors ------------------------------------------------------------------------------
def label_case_sectors(
    anatomy: Anatomy,
    levels: Collection[str],
    *,
    options: SectorOptions | None = None,
    required: Collection[str] | None = None,
) -> SectorResult:
    """Sectors of ``levels`` (canonical names; sacral segments "S1".."S5" included).

    The spinal canal is derived once over the levels and their neighbours (or taken as
    contoured); the sacral canal and foramina likewise over the sacral segments.

    Parameters
    ----------
    anatomy : Anatomy
        The case.
    levels : collection of str
        The levels to label.
    options : SectorOptions, optional
        Tunables.
    required : collection of str, optional
        The levels the target needs (default: all of ``levels``). A level outside it that
        cannot be labelled, or whose labels fail a plausibility check, is a warning and a note
        (``unlabelled``, ``quality``); a required one is an :class:`AnatomyError`, as is a
        required level whose labels fail a check of severity "error". Neighbours only inform
        the canal and never block.

    Returns
    -------
    SectorResult
        The sectors per labelled level, the canals derived, the quality of each level, the
        levels left out with the reason, and the sacral split.

    Raises
    ------
    AnatomyError
        When a required level cannot be labelled or its labels cannot be trusted.
    """
    opts = options or SectorOptions()
    must = set(levels if required is None else required)
    spinal = {lv: m for lv, m in anatomy.vertebrae.items() if not is_sacral(lv)}
    split = _sacral_split(anatomy) if any(is_sacral(lv) for lv in anatomy.vertebrae) else None
    segments = dict(split.segments) if split is not None else {}
    wanted_spinal = [lv for lv in levels if lv in spinal]
    wanted_sacral = [lv for lv in levels if lv in segments]
    unknown = sorted(set(levels) - set(wanted_spinal) - set(wanted_sacral))
    if unknown:
        raise AnatomyError(f"no vertebra for level(s) {', '.join(unknown)}")

    by_level: dict[str, VertebraSectors] = {}
    quality: dict[str, LevelQuality] = {}
    unlabelled: dict[str, str] = {}
    canal_mask: Mask | None = anatomy.canal
    canal_result: CanalResult | None = None
    if wanted_spinal:
        canal_result = derive_canal(
            spinal,
            cord=anatomy.cord,
            contoured=anatomy.canal,
            levels=_with_neighbours(wanted_spinal, spinal),
            required=[lv for lv in wanted_spinal if lv in must],
            options=opts.canal,
        )
        canal_mask = canal_result.mask
        _label_levels(
            wanted_spinal,
            spinal,
            canal_result,
            must,
            opts,
            by_level,
            quality,
            unlabelled,
            neighbours=spinal,
        )

    sacral_canal = anatomy.sacral_canal
    foramina = anatomy.sacral_foramina
    sacral_result: CanalResult | None = None
    # The sacral canal is derived only for a sacral target: a lumbar plan must not fail on a
    # sacrum far from the lesion.
    if segments and wanted_sacral:
        assert split is not None
        for line in _split_notes(split):
            warnings.warn(line, AnatomyWarning, stacklevel=2)
        sacral_result = derive_sacral_canal(
            segments,
            cord=anatomy.thecal_sac or anatomy.cord,
            contoured=anatomy.sacral_canal,
            neighbours=spinal,
            required=[lv for lv in wanted_sacral if lv in must],
            options=opts.canal,
            axes=split.axes,
        )
        sacral_canal = sacral_result.mask
        if foramina is None:
            foramina = derive_sacral_foramina(segments, sacral_result.mask)
        _label_levels(
            wanted_sacral,
            segments,
            sacral_result,
            must,
            opts,
            by_level,
            quality,
            unlabelled,
            neighbours=spinal,
            left_axis=sacral_left_axis(segments) if opts.sacral_common_left_axis else None,
        )
    labelled_sacral = {lv: by_level[lv].frame.lr_axis for lv in wanted_sacral if lv in by_level}
    # On the sacrum's common axis the segments agree by construction; each one's own turn
    # onto it is in its quality record instead.
    common = opts.sacral_common_left_axis
    for lv, check in ({} if common else sacral_axis_checks(labelled_sacral)).items():
        quality[lv] = replace(quality[lv], checks=(*quality[lv].checks, check))
        if not check.passed:
            warnings.warn(f"{lv}: {check.describe()}", AnatomyWarning, stacklevel=2)
    for result in (canal_result, sacral_result):
        if result is None:
            continue
        for lv, reason in result.unresolved.items():
            if lv not in unlabelled:
                unlabelled[lv] = f"canal not found (neighbour only, not needed): {reason}"
                warnings.warn(f"{lv}: {unlabelled[lv]}", AnatomyWarning, stacklevel=2)
    ordered = {lv: by_level[lv] for lv in _ordered(by_level)}
    canal_methods = {lv: r.canal_method for lv, r in ordered.items()}
    return SectorResult(
        ordered,
        canal_mask,
        canal_methods,
        sacral_canal,
        foramina,
        segments,
        {lv: quality[lv] for lv in ordered},
        {lv: unlabelled[lv] for lv in _ordered(unlabelled)},
        canal_result,
        sacral_result,
        split if wanted_sacral else None,
    )


def _label_levels(
    wanted: list[str],
    masks: Mapping[str, Mask],
    canal: CanalResult,
    must: set[str],
    options: SectorOptions,
    by_level: dict[str, VertebraSectors],
    quality: dict[str, LevelQuality],
    unlabelled: dict[str, str],
    *,
    neighbours: Mapping[str, Mask],
    left_axis: NDArray[np.float64] | None = None,
) -> None:
    """Label each wanted level on the derived canal and check it (fills the three dicts).

    A level that fails is an error when needed (``must``), else a warning and a note.
    ``left_axis``, when given, is the levels' common left axis (the sacrum's).
    """
    for position, lv in enumerate(wanted):
        if lv in canal.unresolved:
            unlabelled[lv] = f"canal not found: {canal.unresolved[lv]}"
            warnings.warn(
                f"{lv} not labelled (not needed by the target): {unlabelled[lv]}",
                AnatomyWarning,
                stacklevel=3,
            )
            continue
        try:
            result = label_sectors(
                masks[lv],
                canal=canal,
                level=lv,
                neighbours=neighbours,
                options=options,
                left_axis=left_axis,
                sacral_top_from_above_lps=_bottom_borders_above(wanted, position, by_level),
            )
        except AnatomyError as error:
            if lv in must:
                raise
            unlabelled[lv] = str(error)
            warnings.warn(
                f"{lv} not labelled (not needed by the target): {error}",
                AnatomyWarning,
                stacklevel=3,
            )
            continue
        checked = assess_level(
            result,
            section=canal.cross_sections.get(lv),
            frame_source=canal.axis_source.get(lv),
        )
        if not checked.trusted and lv in must:
            raise AnatomyError(
                f"{lv}: the sectors cannot be trusted ("
                + "; ".join(c.describe() for c in checked.failed)
                + "); contour the spinal canal or the cord, or check the vertebra's contour"
            )
        for line in checked.flags():
            warnings.warn(line, AnatomyWarning, stacklevel=3)
        by_level[lv] = result
        quality[lv] = checked


def _bottom_borders_above(
    wanted: list[str], position: int, by_level: Mapping[str, VertebraSectors]
) -> NDArray[np.float64] | None:
    """The body borders (LPS mm, left and right) that the sacral segment just above
    ``wanted[position]`` measured at its bottom edge, on the foramina the two share; None
    when that segment is not labelled or did not measure them."""
    if position == 0 or not is_sacral(wanted[position]):
        return None
    above = by_level.get(wanted[position - 1])
    if above is None or above.sacral_borders is None or not is_sacral(above.level):
        return None
    if not adjacent_levels(above.level, wanted[position]):
        return None
    points = above.sacral_borders.edge_points_local(1)
    return None if points is None else above.frame.to_lps(points)


def _with_neighbours(levels: list[str], available: Mapping[str, Mask]) -> list[str]:
    ordered = _ordered(available)
    keep: set[str] = set()
    for lv in levels:
        i = ordered.index(lv)
        keep.update(ordered[max(0, i - 1) : i + 2])
    return _ordered(keep)


# ---- CTV ----------------------------------------------------------------------------------
def make_ctv(
    gtv: Mask,
    sectors: SectorResult,
    *,
    guideline: str | Guideline,
    parameters: Mapping[str, Any] | None = None,
    circumferential_epidural: bool | Collection[str] = False,
) -> CtvResult:
    """The guideline CTV over the labelled levels (see :func:`spinetv.guidelines.build_ctv`).

    Parameters
    ----------
    gtv : Mask
        The GTV on the sectors' grid.
    sectors : SectorResult
        The labelled levels (and the canal, which keeps a soft-tissue margin off the cord).
    guideline : str or Guideline
        Shipped id, guideline file or loaded guideline.
    parameters : mapping, optional
        Overrides of the guideline's named parameters (``min_overlap_cc`` in cm³,
        ``min_penetration_mm`` in mm...).
    circumferential_epidural : bool or collection of str
        Circumferential epidural disease at every involved level (True) or at the named ones.

    Returns
    -------
    CtvResult
        The CTV mask, the sectors taken per level and the explanation of every decision.
    """
    return build_ctv(
        gtv,
        list(sectors.by_level.values()),
        guideline=guideline,
        parameters=parameters,
        circumferential_epidural=circumferential_epidural,
        canal=sectors.canal,
    )


# ---- planning volumes ---------------------------------------------------------------------
def choose_refinement(
    grid: ImageGrid, margins: Collection[Margin], *, tolerance_mm: float, max_factor: int
) -> int:
    """Smallest in-plane refinement k (1..max_factor) at which every margin reaches, in-plane,
    within ``tolerance_mm`` of what is asked (see :func:`effective_margin_mm`)."""
    in_plane_sides = [
        side for side, (lps_axis, _) in SIDE_LPS_AXIS.items() if grid.axis_of(lps_axis)[0] != 0
    ]
    for factor in range(1, max(1, max_factor) + 1):
        reach_grid = grid.refined_in_plane(factor)
        if all(
            effective_margin_mm(reach_grid, m)[side] >= m.towards(side) - tolerance_mm
            for m in margins
            for side in in_plane_sides
        ):
            return factor
    return max(1, max_factor)


def sector_structures(sectors: SectorResult) -> list[Structure]:
    """Each labelled level's sectors as structures.

    Parameters
    ----------
    sectors : SectorResult
        The labelling.

    Returns
    -------
    list of Structure
        ``L2_Sector1`` ... ``L2_Sector6`` (sacral: ``S1_Body``, ``S1_Ala_L`` ...) per level, in
        the sector colours, each described with its canal method.
    """
    out = []
    for lv, result in sectors.by_level.items():
        for number, name in result.names.items():
            mask = result.labels.mask_of(number)
            if mask.is_empty:
                continue
            roi = _sector_roi_name(lv, number, result.scheme)
            out.append(
                Structure(
                    roi,
                    mask,
                    RoiType.CONTROL,
                    SECTOR_COLOURS[number],
                    Provenance(
                        "AUTOMATIC",
                        f"{lv} {name} (sector {number}); canal: {result.canal_method}"[:64],
                        {"level": lv, "sector": number, "canal": result.canal_method},
                    ),
                )
            )
    return out




def _sector_roi_name(level: str, number: int, scheme: str) -> str:
    return f"{level}_{Sector(number).roi_suffix(sacral=scheme == 'sacral')}"


def _below(level: str, limit: str) -> bool:
    return level_order(level) > level_order(limit)


def plan(gtv: Mask, anatomy: Anatomy, options: PlanOptions | None = None) -> PlanResult:
    """Sectors, CTV, PTV, PTV_Eval, PRVs and the cord evaluation volume for one GTV.

    Parameters
    ----------
    gtv : Mask
        The gross tumour volume (bone, epidural and paraspinal parts).
    anatomy : Anatomy
        Vertebrae and organs on the same grid.
    options : PlanOptions
        Protocol and overrides.

    Returns
    -------
    PlanResult
        The structures to write (sectors, CTV, PTV, PTV_Eval, PRVs, cord evaluation volume,
        derived canal structures) and the report of every decision.
    """
    opts = options or PlanOptions()
    protocol = opts.resolved_protocol()
    anatomy.grid.require_same(gtv.grid, what="GTV and the image")

    levels = candidate_levels(gtv, level_masks(anatomy), only=opts.levels)
    sectors = label_case_sectors(anatomy, levels, options=opts.sector_options)
    ctv = make_ctv(
        gtv,
        sectors,
        guideline=opts.resolved_guideline(),
        parameters=opts.guideline_parameters,
        circumferential_epidural=opts.circumferential_epidural,
    )
    context = _planning_context(anatomy, sectors, protocol, opts)
    made = _Made(list(sector_structures(sectors)))
    made.add(
        "CTV",
        ctv.mask,
        RoiType.CTV,
        (255, 128, 0),
        (ctv.roi_description,),
        {
            "guideline": ctv.guideline_id,
            "guideline_version": ctv.guideline_version,
            "guidelines_used": list(ctv.guidelines),
        },
    )
    ptv = _add_ptv(made, context, ctv.mask)
    _add_ptv_eval(made, context, ptv)
    _add_prvs(made, context)
    _add_thecal_sac(made, context, ptv.mask)
    _add_cord_evaluation(made, context, ptv.mask)
    reached = list(context.reached)
    for name, mask, roi_type, made_by in derived_structures(anatomy, sectors, reached):
        made.add(name, mask, roi_type, (200, 200, 200), (made_by,), {"derived": True})

    # Every note about the planning volumes is also a warning, so the command line shows it.
    for note in made.notes:
        warnings.warn(note, PlanningWarning, stacklevel=2)
    report = _plan_report(gtv, levels, ctv, context, made)
    return PlanResult(tuple(made.structures), sectors, ctv, protocol, report)


@dataclass(frozen=True)
class _Context:
    """What every planning-volume step of one plan shares (values, no state)."""

    anatomy: Anatomy
    sectors: SectorResult
    protocol: Protocol
    options: PlanOptions
    margin: Margin
    factor: int
    planning_grid: ImageGrid
    available: Mapping[str, Mask]
    reached: tuple[str, ...]

    @property
    def rounding(self) -> str:
        return self.protocol.margin_rounding

    @property
    def sacral_target(self) -> bool:
        return any(is_sacral(lv) for lv in self.reached)

    @property
    def spinal_target(self) -> bool:
        return any(not is_sacral(lv) for lv in self.reached)


@dataclass
class _Made:
    """The structures, report entries and notes of one plan, in the order they are made."""

    structures: list[Structure]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        mask: Mask,
        roi_type: RoiType,
        colour: tuple[int, int, int],
        steps: tuple[str, ...],
        details: Mapping[str, Any],
        clipped: tuple[str, ...] = (),
    ) -> None:
        description = "; ".join(steps)[:64]
        provenance = Provenance("AUTOMATIC", description, dict(details))
        self.structures.append(Structure(name, mask, roi_type, colour, provenance))
        self.entries[name] = {
            "volume_cc": round(mask.volume_cc, 4),
            "made_by": list(steps),
            "clipped_at_image_edge": list(clipped),
            **details,
        }


def _planning_context(
    anatomy: Anatomy, sectors: SectorResult, protocol: Protocol, opts: PlanOptions
) -> _Context:
    """The planning grid (refined in-plane where the pixels are too coarse for the margins)
    and the organs on it."""
    margin = opts.ptv_margin or Margin(*protocol.ptv.margin.as_tuple())
    wanted_margins = [margin, *(Margin.isotropic(p.margin_mm) for p in protocol.prvs)]
    factor = choose_refinement(
        anatomy.grid,
        wanted_margins,
        tolerance_mm=opts.margin_tolerance_mm,
        max_factor=opts.max_refinement,
    )
    available = {
        name: refine_in_plane(mask, factor)
        for name, mask in _available_masks(anatomy, sectors).items()
    }
    # The canal exclusions and the thecal-sac rule follow every level the GTV reaches, also
    # where no sector is added (an epidural GTV with a sliver of bone still abuts the canal).
    return _Context(
        anatomy=anatomy,
        sectors=sectors,
        protocol=protocol,
        options=opts,
        margin=margin,
        factor=factor,
        planning_grid=anatomy.grid.refined_in_plane(factor),
        available=available,
        reached=tuple(sectors.by_level),
    )


def reach_notes(
    name: str, asked: Margin, achieved: Mapping[str, float], grid: ImageGrid, rounding: str
) -> list[str]:
    """Notes for a margin that reaches short of, or beyond, what was asked.

    Parameters
    ----------
    name : str
        The structure.
    asked : Margin
        The margin asked, mm.
    achieved : mapping of str to float
        The margin reached per patient side, mm (:func:`effective_margin_mm`).
    grid : ImageGrid
        The grid the margin was applied on (named in the note).
    rounding : str
        The margin rounding used.

    Returns
    -------
    list of str
        One note for the sides short of the margin, one for the sides beyond it (none when
        every side reaches the asked margin within 0.001 mm).
    """
    voxel_text = (
        f"{grid.spacing_mm[1]:g} x {grid.spacing_mm[2]:g} mm pixels, "
        f"{grid.spacing_mm[0]:g} mm slices"
    )
    notes = []
    short = [s for s, mm in achieved.items() if mm < asked.towards(s) - 1e-3]
    beyond = [s for s, mm in achieved.items() if mm > asked.towards(s) + 1e-3]
    for sides, what in ((short, "SHORT of"), (beyond, "beyond")):
        if sides:
            notes.append(
                f"{name} margin reaches {what} the asked margin: "
                + ", ".join(f"{s} {achieved[s]:g} mm (asked {asked.towards(s):g})" for s in sides)
                + f"; margins reach whole voxels ({voxel_text}), margin_rounding={rounding}"
            )
    return notes


def _add_ptv(made: _Made, context: _Context, ctv: Mask) -> VolumeResult:
    protocol, available = context.protocol, context.available
    trims = [(n, available[n]) for n in protocol.ptv.subtract if n in available]
    skipped = [n for n in protocol.ptv.subtract if n not in available]
    # Margins reach whole voxels (superior-inferior: whole slices); the protocol's
    # margin_rounding says which whole number (default at_least: never short of the asked).
    applied = round_to_grid(context.margin, context.planning_grid, rounding=context.rounding)
    ptv = make_ptv(refine_in_plane(ctv, context.factor), applied, subtract_masks=trims)
    reach = effective_margin_mm(context.planning_grid, applied)
    made.notes += reach_notes(
        "PTV", context.margin, reach, context.planning_grid, context.rounding
    )
    made.add(
        "PTV",
        ptv.mask,
        RoiType.PTV,
        (0, 90, 255),
        ptv.steps,
        {
            "margin_mm": context.margin.describe(),
            "source": protocol.ptv.source,
            "not_trimmed_at_absent": skipped,
            "margin_rounding": context.rounding,
            "applied_margin_mm": applied.describe(),
            "effective_margin_mm": reach,
        },
        ptv.clipped_sides,
    )
    return ptv


def _add_ptv_eval(made: _Made, context: _Context, ptv: VolumeResult) -> None:
    rule = context.protocol.ptv_eval
    if rule is None:
        return
    names = list(rule.spine_subtract if context.spinal_target else ())
    sacral = rule.sacrum_subtract if context.sacral_target else ()
    names += [n for n in sacral if n not in names]
    missing = [n for n in names if n not in context.available]
    if missing:
        raise AnatomyError(
            f"PTV_Eval needs {', '.join(missing)}, which is neither contoured nor derivable"
        )
    exclusions = dict(context.available)
    prolonged = _canal_exclusions(
        ptv.mask,
        context.sectors,
        context.anatomy,
        context.factor,
        exclusions,
        follow_mm=context.options.sector_options.canal.follow_mm,
        safety_mm=context.options.derived_canal_safety_mm,
    )
    evaluation = make_ptv_eval(ptv.mask, [(n, exclusions[n]) for n in names])
    made.add(
        rule.name,
        evaluation.mask,
        RoiType.PTV,
        (255, 0, 255),
        evaluation.steps,
        {"source": rule.source, "canal_exclusion": prolonged},
        ptv.clipped_sides,
    )


def _add_prvs(made: _Made, context: _Context) -> None:
    for rule in context.protocol.prvs:
        organ = context.available.get(rule.structure)
        if organ is None or organ.is_empty:
            made.notes.append(f"{rule.name} not made: no {rule.structure} contoured")
            continue
        asked = Margin.isotropic(rule.margin_mm)
        applied = round_to_grid(asked, context.planning_grid, rounding=context.rounding)
        prv = make_prv(organ, applied, organ_name=rule.structure)
        reach = effective_margin_mm(context.planning_grid, applied)
        made.notes += reach_notes(
            rule.name, asked, reach, context.planning_grid, context.rounding
        )
        made.add(
            rule.name,
            prv.mask,
            RoiType.AVOIDANCE,
            (0, 255, 255),
            prv.steps,
            {
                "source": rule.source,
                "margin_mm": asked.describe(),
                "margin_rounding": context.rounding,
                "applied_margin_mm": applied.describe(),
                "effective_margin_mm": reach,
            },
            prv.clipped_sides,
        )


def _add_thecal_sac(made: _Made, context: _Context, ptv: Mask) -> None:
    rule = context.protocol.thecal_sac
    if rule is None or not any(_below(lv, rule.below_level) for lv in context.reached):
        return
    anatomy = context.anatomy
    if anatomy.thecal_sac is not None:
        # A contoured thecal sac is an input: it is the organ at risk as it stands.
        margin_text = (
            f" (margin {rule.margin_mm:g} mm to be added by the planner)"
            if rule.margin_mm > 0
            else ", no margin"
        )
        made.entries[f"{rule.name} (input)"] = {
            "volume_cc": round(anatomy.thecal_sac.volume_cc, 4),
            "made_by": [
                f"contoured; organ at risk for targets caudal to {rule.below_level}"
                + margin_text
            ],
            "source": rule.source,
        }
        return
    thecal = _thecal_sac(
        anatomy,
        context.sectors,
        ptv,
        rule.below_level,
        context.options.derived_thecal_sac_extent_mm,
    )
    if thecal is None:
        made.notes.append("thecal sac not made: no canal or thecal sac available")
        return
    if rule.margin_mm > 0:
        asked = Margin.isotropic(rule.margin_mm)
        applied = round_to_grid(asked, thecal.mask.grid, rounding=context.rounding)
        reach = effective_margin_mm(thecal.mask.grid, applied)
        made.notes += reach_notes(rule.name, asked, reach, context.planning_grid, context.rounding)
        thecal = VolumeResult(
            expand(thecal.mask, applied), (*thecal.steps, f"+ {applied.describe()}")
        )
    made.add(
        rule.name, thecal.mask, RoiType.ORGAN, (0, 200, 100), thecal.steps, {"source": rule.source}
    )


def _add_cord_evaluation(made: _Made, context: _Context, ptv: Mask) -> None:
    rule = context.protocol.cord_evaluation
    if rule is None:
        return
    cord = context.anatomy.cord
    if cord is None:
        made.notes.append(f"{rule.name} not made: no SpinalCord contoured")
        return
    cev = cord_evaluation_volume(
        cord, ptv, above_mm=rule.above_mm, below_mm=rule.below_mm, target_name="PTV"
    )
    if cev.mask.is_empty:
        made.notes.append(f"{rule.name} is empty: the cord does not reach the target's levels")
        return
    details = {"source": rule.source}
    made.add(rule.name, cev.mask, RoiType.ORGAN, (100, 100, 255), cev.steps, details)


def _plan_report(
    gtv: Mask, levels: list[str], ctv: CtvResult, context: _Context, made: _Made
) -> PlanReport:
    opts, grid = context.options, context.planning_grid
    circumferential = opts.circumferential_epidural
    return PlanReport(
        spinetv_version=__version__,
        protocol=context.protocol.as_dict(),
        guideline={
            "id": ctv.guideline_id,
            "version": ctv.guideline_version,
            "all_used": list(ctv.guidelines),
        },
        options={
            "guideline_parameters": dict(ctv.parameters),
            "circumferential_epidural": circumferential
            if isinstance(circumferential, bool)
            else sorted(circumferential),
            "ptv_margin_mm": context.margin.describe(),
            "margin_rounding": context.rounding,
            "candidate_reach_mm": CANDIDATE_REACH_MM,
            "margin_tolerance_mm": opts.margin_tolerance_mm,
            "derived_thecal_sac_extent_mm": opts.derived_thecal_sac_extent_mm,
            "derived_canal_safety_mm": opts.derived_canal_safety_mm,
            "planning_grid": {
                "in_plane_refinement": context.factor,
                "pixel_mm": [grid.spacing_mm[1], grid.spacing_mm[2]],
                "slice_mm": grid.spacing_mm[0],
            },
            "sector_options": opts.sector_options,
        },
        gtv_volume_cc=round(gtv.volume_cc, 4),
        candidate_levels=tuple(levels),
        involved_levels=tuple(e.level for e in ctv.levels if e.sectors),
        levels=tuple(_level_entries(ctv, context.sectors)),
        anatomy=anatomy_report(context.sectors),
        ctv=ctv.explanation_as_dict(),
        structures={
            name: StructureEntry.from_json_dict(name, entry)
            for name, entry in made.entries.items()
        },
        notes=tuple(made.notes + list(ctv.warnings) + anatomy_notes(context.sectors)),
    )


def anatomy_report(sectors: SectorResult) -> dict[str, Any]:
    """How each level was labelled and how far it can be trusted, for the report.

    ``levels``: per labelled level, the frame's source and tilt, the canal method, the ring
    gap bridged, the canal area, the body fraction and every plausibility check (see
    :mod:`spinetv.anatomy.quality`); ``flags``: the failed checks as lines; ``unlabelled``:
    levels left out because the target does not need them, with the reason; ``sacrum``: where
    the sacrum was cut into segments (mm along its axis) and how.

    Parameters
    ----------
    sectors : SectorResult
        The labelling.

    Returns
    -------
    dict
        The ``anatomy`` section of the report (JSON-ready).
    """
    flags = [line for q in sectors.quality.values() for line in q.flags()]
    report: dict[str, Any] = {
        "levels": {lv: q.as_dict() for lv, q in sectors.quality.items()},
        "flags": flags,
        "unlabelled": dict(sectors.unlabelled),
    }
    split = sectors.sacral_split
    if split is not None:
        report["sacrum"] = {
            "segments": list(split.segments),
            "cuts_mm": [round(b, 1) for b in split.borders_mm],
            "cut_methods": list(split.border_methods),
            "length_below_s1_mm": round(split.arc_length_mm, 1),
            "truncated": split.truncated,
            "s1_border": split.s1_border,
            "description": split.describe(),
        }
    return report


def anatomy_notes(sectors: SectorResult) -> list[str]:
    """The anatomy flags and the levels left out, as report notes.

    Parameters
    ----------
    sectors : SectorResult
        The labelling.

    Returns
    -------
    list of str
        One line per failed plausibility check, per level left out, and per approximate or
        truncated sacral split.
    """
    notes = [line for q in sectors.quality.values() for line in q.flags()]
    notes += [
        f"{lv} not labelled (not needed by the target): {reason}"
        for lv, reason in sectors.unlabelled.items()
    ]
    if sectors.sacral_split is not None:
        notes += _split_notes(sectors.sacral_split)
    return notes


def _split_notes(split: SacralSplit) -> list[str]:
    """What a reader of the sacral split must know: where it ends, which cuts are guessed."""
    notes = []
    if split.truncated:
        notes.append(f"sacrum: {split.truncated}")
    if split.s1_border_is_fallback:
        notes.append(
            f"sacrum: the border below S1 is {split.s1_border}: S1 touches the sacrum on "
            "too few faces facing down its axis, so the border may lie a few mm off"
        )
    if "proportional" in split.border_methods:
        notes.append(
            "sacrum: " + split.describe() + " (a proportional cut is approximate to a few mm)"
        )
    return notes


def level_masks(anatomy: Anatomy) -> dict[str, Mask]:
    """Vertebrae by canonical level, with a sacrum given whole split into its segments.

    Parameters
    ----------
    anatomy : Anatomy
        The case's vertebrae.

    Returns
    -------
    dict of str to Mask
        Level name ("L2", "S1"...) -> its bone.
    """
    pool = {lv: m for lv, m in anatomy.vertebrae.items() if not is_sacral(lv)}
    pool.update(_sacral_segments(anatomy))
    return pool


def _canal_exclusions(
    ptv: Mask,
    sectors: SectorResult,
    anatomy: Anatomy,
    factor: int,
    exclusions: dict[str, Mask],
    *,
    follow_mm: float,
    safety_mm: float,
) -> dict[str, str]:
    """The derived canals as PTV_Eval excludes them (updates ``exclusions`` in place).

    Where no neighbouring level was derived, the PTV reaches past the end vertebra by its
    margin: the canal there is the end level's prism prolonged along its own axis. A derived
    canal is then grown by ``safety_mm`` into soft tissue (not bone), since its wall is
    uncertain by about a voxel. A contoured canal is used as is. Returns what was done, per
    canal and level, for the report.
    """
    done: dict[str, str] = {}
    pool = {**dict(anatomy.vertebrae), **dict(sectors.sacral_segments)}
    for name, result, contoured in (
        ("SpinalCanal", sectors.canal_result, anatomy.canal),
        ("SacralCanal", sectors.sacral_canal_result, anatomy.sacral_canal),
    ):
        if result is None or name not in exclusions or contoured is not None:
            continue
        canal = result.mask
        if result.cross_sections:
            canal, changed = extend_canal_to(result, ptv, pool, follow_mm=follow_mm)
            for level, (below, above) in changed.items():
                done[f"{name} {level}"] = (
                    f"prolonged along {level}'s own axis under the PTV: {below:.1f} mm below, "
                    f"{above:.1f} mm above its bone (no neighbouring level derived there)"
                )
        refined = refine_in_plane(canal, factor)
        if safety_mm > 0:
            growth = canal_safety_margin(anatomy.grid, safety_mm)
            grown = expand(refined, growth, name=name)
            bone = [refine_in_plane(m, factor) for m in pool.values()]
            refined = subtract(grown, *bone) if bone else grown
            done[name] = (
                f"derived {name} grown by {growth.describe()} into soft tissue for the "
                f"exclusion (derived_canal_safety_mm {safety_mm:g}, at least a voxel)"
            )
        exclusions[name] = refined
    return done


def canal_safety_margin(grid: ImageGrid, safety_mm: float) -> Margin:
    """How far a derived canal is grown for PTV_Eval: ``safety_mm``, or a voxel where larger.

    Parameters
    ----------
    grid : ImageGrid
        The image grid the canal was derived on.
    safety_mm : float
        The least growth, mm (``PlanOptions.derived_canal_safety_mm``).

    Returns
    -------
    Margin
        Per patient side, the larger of ``safety_mm`` and the voxel's extent along that
        side's axis (on a tilted grid, the extent of the tilted voxel), mm.
    """
    # Extent of a voxel along patient axis i: sum over the array axes of |direction| x spacing.
    extent = np.abs(np.asarray(grid.direction)) @ np.asarray(grid.spacing_mm)
    lr, ap, si = (max(safety_mm, float(e)) for e in extent)
    return Margin(lr, lr, ap, ap, si, si)


def _available_masks(anatomy: Anatomy, sectors: SectorResult) -> dict[str, Mask]:
    present = {
        OrganRole.CORD: anatomy.cord,
        OrganRole.CANAL: sectors.canal,
        OrganRole.SACRAL_CANAL: sectors.sacral_canal,
        OrganRole.SACRAL_FORAMINA: sectors.sacral_foramina,
        OrganRole.THECAL_SAC: anatomy.thecal_sac,
    }
    return {role.tg263: mask for role, mask in present.items() if mask is not None}


def _thecal_sac(
    anatomy: Anatomy, sectors: SectorResult, target: Mask, below_level: str, extent_mm: float
) -> VolumeResult | None:
    if anatomy.thecal_sac is not None:
        return VolumeResult(anatomy.thecal_sac, ("contoured ThecalSac, no margin",))
    canals = [m for m in (sectors.canal, sectors.sacral_canal) if m is not None]
    if not canals:
        return None
    canal = union(*canals)
    limit = anatomy.vertebrae.get(below_level)
    low, high = si_extent_mm(target)
    high = high + extent_mm
    if limit is not None and not limit.is_empty:
        high = min(high, si_extent_mm(limit)[0])
    mask = restrict_to_si_range(canal, low - extent_mm, high)
    return VolumeResult(
        mask,
        (
            f"approximated by the spinal canal below {below_level}, PTV +-{extent_mm:g} mm"
            " (not contoured)",
        ),
    )


def derived_structures(
    anatomy: Anatomy, sectors: SectorResult, involved: list[str]
) -> list[tuple[str, Mask, RoiType, str]]:
    """Canal structures derived while labelling, for writing.

    The spinal canal when it was not contoured; the sacral canal and foramina when not
    contoured and ``involved`` holds a sacral level. Empty ones are left out.

    Parameters
    ----------
    anatomy : Anatomy
        The case (tells what was contoured).
    sectors : SectorResult
        The labelling, which holds the derived canals.
    involved : list of str
        The levels the target reaches.

    Returns
    -------
    list of (str, Mask, RoiType, str)
        ROI name, mask, ROI type and how it was made.
    """
    out = []
    if anatomy.canal is None and sectors.canal is not None and not sectors.canal.is_empty:
        methods = sorted({m for lv, m in sectors.canal_methods.items() if not is_sacral(lv)})
        out.append(
            (
                "SpinalCanal",
                sectors.canal,
                RoiType.ORGAN,
                f"derived: {', '.join(methods) or 'ring closure'}",
            )
        )
    if (
        anatomy.sacral_canal is None
        and sectors.sacral_canal is not None
        and not sectors.sacral_canal.is_empty
        and any(is_sacral(lv) for lv in involved)
    ):
        out.append(("SacralCanal", sectors.sacral_canal, RoiType.ORGAN, "derived from sacrum"))
    if (
        anatomy.sacral_foramina is None
        and sectors.sacral_foramina is not None
        and not sectors.sacral_foramina.is_empty
        and any(is_sacral(lv) for lv in involved)
    ):
        out.append(
            (
                "SacralForamina",
                sectors.sacral_foramina,
                RoiType.AVOIDANCE,
                "derived: gaps lateral to the sacral canal",
            )
        )
    return out


def _level_entries(ctv: CtvResult, sectors: SectorResult) -> list[LevelEntry]:
    explained = {e.level: e for e in ctv.levels}
    entries = []
    for lv, result in sectors.by_level.items():
        explanation = explained.get(lv)
        entries.append(
            LevelEntry(
                level=lv,
                canal=result.canal_method,
                sector_volumes_cc={k: round(v, 4) for k, v in result.volumes_cc.items()},
                involved_sectors=tuple(explanation.involvement.involved) if explanation else (),
                # Measured overlap and penetration next to the thresholds, per sector the GTV
                # overlaps (or abuts from outside the bone).
                involvement_decisions=explanation.as_dict()["involvement_decisions"]
                if explanation
                else {},
                abutted_sectors=tuple(explanation.involvement.abutted) if explanation else (),
                ctv_sectors=tuple(explanation.sectors) if explanation else (),
                rows=tuple(row.row_id for row in explanation.fired) if explanation else (),
            )
        )
    return entries
