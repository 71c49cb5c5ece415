"""The consensus CTV: a guideline's rows applied per level, with an explanation of every choice.

Per level the GTV's overlap with each sector decides which sectors are involved and how the body
is involved (:mod:`spinetv.guidelines.involvement`); every row whose condition holds fires (so a
combination not in the table is the union of the rows of its parts); the CTV is the union over
levels of the sectors the fired rows add, plus the GTV itself (epidural and paraspinal parts
included). The full ring (sectors 1-6) comes from a row, from the guideline's circumferential
criteria, or from the caller stating circumferential epidural disease.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from spinetv.errors import AnatomyError, GuidelineError, SpinetvWarning
from spinetv.geometry.mask import Mask
from spinetv.guidelines.involvement import (
    BodyInvolvement,
    LevelInvolvement,
    LevelSectors,
    abutted_sectors,
    difference_of,
    measure_involvement,
    normalize_levels,
    outside_bone,
    require_grid,
    union_of,
)
from spinetv.guidelines.loader import (
    SACRAL_SECTOR_NAMES,
    SECTOR_NAMES,
    Guideline,
    Row,
    load_guideline,
    resolve_parameters,
    resolve_symbol,
)
from spinetv.vocabulary import BodyClass, require_level

__all__ = [
    "CtvResult",
    "FiredRow",
    "GuidelineWarning",
    "LevelExplanation",
    "build_ctv",
    "evaluate_rows",
]

ROI_DESCRIPTION_MAX = 64


class GuidelineWarning(SpinetvWarning):
    """A guideline was applied, but something about the result deserves a look."""


@dataclass(frozen=True)
class FiredRow:
    """A rule that contributed sectors at one level.

    Parameters
    ----------
    row_id : str
        Row id, or ``circumferential`` for the ring rule.
    side : str or None
        ``left`` / ``right`` for sided rows.
    sectors : tuple of int
        Sectors the row added at this level.
    citation, locator : str
        Where the rule comes from.
    verified : bool
        Whether the rule was checked against its primary source.
    reason : str
        Why it fired (its condition, the ring criteria, or the level it was extended from).
    """

    row_id: str
    side: str | None
    sectors: tuple[int, ...]
    citation: str
    locator: str
    verified: bool
    reason: str = ""

    @property
    def label(self) -> str:
        """``d(left)`` or ``a``."""
        return f"{self.row_id}({self.side})" if self.side else self.row_id


@dataclass(frozen=True)
class LevelExplanation:
    """Why the CTV holds what it holds at one level."""

    level: str
    region: str
    guideline_id: str
    guideline_version: str
    involvement: LevelInvolvement
    fired: tuple[FiredRow, ...]
    sectors: tuple[int, ...]
    circumferential: str | None
    parameters: Mapping[str, float | bool]
    notes: tuple[str, ...] = ()

    @property
    def involved(self) -> tuple[int, ...]:
        """Involved sectors."""
        return self.involvement.involved

    @property
    def body(self) -> BodyInvolvement | None:
        """Body classification, when the body is involved."""
        return self.involvement.body

    @property
    def row_ids(self) -> tuple[str, ...]:
        """Ids of the rows that fired, in order, without repeats."""
        seen: list[str] = []
        for fired in self.fired:
            if fired.row_id not in seen:
                seen.append(fired.row_id)
        return tuple(seen)

    def sector_name(self, sector: int) -> str:
        """Anatomical name of a sector at this level.

        Parameters
        ----------
        sector : int
            Sector number, 1-6 (another number raises ``KeyError``).

        Returns
        -------
        str
            The vertebral name (``"left pedicle"``) or, at a sacral level, the sacral one
            (``"left ala"``).
        """
        names = SACRAL_SECTOR_NAMES if self.region == "sacral" else SECTOR_NAMES
        return names[sector]

    def _depth_text(self, sector: int) -> str:
        depth = self.involvement.penetration_mm.get(sector, 0.0)
        return "whole GTV" if math.isinf(depth) else f"{depth:.1f} mm"

    def text(self) -> str:
        """A short human-readable explanation.

        Returns
        -------
        str
            One line: GTV overlap per sector (cm³), sectors grazed too shallowly (mm), involved
            sectors, body class, fired rows and the CTV's sectors.
        """
        overlaps = ", ".join(
            f"{k} {self.involvement.overlaps_cc[k]:.2f} cc" for k in range(1, 7)
            if self.involvement.overlaps_cc[k] > 0
        )
        parts = [f"{self.level}: GTV in sectors {overlaps or 'none'}"]
        grazes = [
            f"{k} ({self._depth_text(k)} < {self.involvement.min_penetration_mm:g} mm)"
            for k in range(1, 7)
            if self.involvement.overlaps_cc[k] > 0 and k not in self.involved
            and self.involvement.penetration_mm.get(k, 0.0)
            < self.involvement.min_penetration_mm - 1e-6
        ]
        if grazes:
            parts.append("not involved, penetration too shallow: " + ", ".join(grazes))
        parts.append("involved " + (",".join(map(str, self.involved)) or "none"))
        if self.body is not None:
            side = f" {self.body.side}" if self.body.side else ""
            parts.append(f"body {self.body.body_class}{side} ({self.body.fraction:.0%} of body)")
        if self.fired:
            parts.append("rows " + ", ".join(f.label for f in self.fired))
        parts.append("CTV sectors " + (",".join(map(str, self.sectors)) or "none (GTV only)"))
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary.

        Returns
        -------
        dict of str to Any
            Level, region, guideline, sector volumes and overlaps (cm³, 4 decimals), the
            decision per overlapped or abutted sector, body class (offsets in mm), fired rows
            with their sources, chosen sectors and names, parameters, notes and :meth:`text`.
        """
        inv = self.involvement
        body = None
        if inv.body is not None:
            body = {
                "class": inv.body.body_class,
                "side": inv.body.side,
                "fraction": round(inv.body.fraction, 4),
                "offset_range_mm": [round(v, 2) for v in inv.body.offset_range_mm],
                "reaches_left_third": inv.body.reaches_left_third,
                "reaches_right_third": inv.body.reaches_right_third,
            }
        return {
            "level": self.level,
            "region": self.region,
            "guideline": {"id": self.guideline_id, "version": self.guideline_version},
            "sector_volumes_cc": {str(k): round(v, 4) for k, v in inv.sector_volumes_cc.items()},
            "overlaps_cc": {str(k): round(v, 4) for k, v in inv.overlaps_cc.items()},
            # Every sector the GTV overlaps: measured value next to each threshold.
            "involvement_decisions": {
                str(k): inv.decision(k) for k in range(1, 7)
                if inv.overlaps_cc[k] > 0 or k in inv.abutted
            },
            "involved": list(self.involved),
            "body": body,
            "rows": [
                {
                    "id": f.row_id, "side": f.side, "sectors": list(f.sectors),
                    "citation": f.citation, "locator": f.locator, "verified": f.verified,
                    "reason": f.reason,
                }
                for f in self.fired
            ],
            "circumferential": self.circumferential,
            "sectors": list(self.sectors),
            "sector_names": {str(k): self.sector_name(k) for k in self.sectors},
            "parameters": dict(self.parameters),
            "notes": list(self.notes),
            "text": self.text(),
        }


@dataclass(frozen=True)
class CtvResult:
    """A guideline CTV and how it was made.

    Parameters
    ----------
    mask : Mask
        The CTV: the GTV plus the chosen sectors of every involved level.
    gtv : Mask
        The GTV it was made from.
    levels : tuple of LevelExplanation
        One per level given, cranio-caudal order (uninvolved levels have no sectors).
    guideline_id, guideline_version : str
        The main guideline.
    guidelines : tuple of str
        ``id@version`` of every guideline applied (the sacral one included).
    parameters : mapping
        Parameters of the main guideline as used.
    circumferential_epidural : bool or tuple of str
        What the caller stated.
    warnings : tuple of str
        Messages also emitted as :class:`GuidelineWarning`.
    outside : mapping
        The GTV outside the vertebrae given and where it lies
        (:func:`~spinetv.guidelines.involvement.outside_bone`).
    """

    mask: Mask
    gtv: Mask
    levels: tuple[LevelExplanation, ...]
    guideline_id: str
    guideline_version: str
    guidelines: tuple[str, ...]
    parameters: Mapping[str, float | bool]
    circumferential_epidural: bool | tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    outside: Mapping[str, Any] = field(default_factory=dict)

    @property
    def volume_cc(self) -> float:
        """CTV volume in cc."""
        return self.mask.volume_cc

    @property
    def gtv_volume_cc(self) -> float:
        """GTV volume in cc."""
        return self.gtv.volume_cc

    @property
    def involved_levels(self) -> tuple[LevelExplanation, ...]:
        """Levels that contribute sectors."""
        return tuple(lv for lv in self.levels if lv.sectors)

    def level(self, name: str) -> LevelExplanation:
        """The explanation of one level.

        Parameters
        ----------
        name : str
            The level's canonical name, as in ``levels`` (``"L2"``, ``"S1"``).

        Returns
        -------
        LevelExplanation
            That level's explanation.

        Raises
        ------
        GuidelineError
            When no level of this CTV has that name.
        """
        for lv in self.levels:
            if lv.level == name:
                return lv
        raise GuidelineError(f"level {name!r} is not part of this CTV; levels: "
                             f"{', '.join(lv.level for lv in self.levels)}")

    def sectors_by_level(self) -> dict[str, tuple[int, ...]]:
        """Chosen sectors per involved level.

        Returns
        -------
        dict of str to tuple of int
            Level name to its CTV sectors (1-6), for levels that contribute sectors.
        """
        return {lv.level: lv.sectors for lv in self.involved_levels}

    @property
    def roi_description(self) -> str:
        """A compact description (at most 64 characters) for the RTSTRUCT ROI."""
        items = self.involved_levels
        if len(items) == 1:
            lv = items[0]
            text = (f"{self.guideline_id} {lv.level}:{','.join(lv.row_ids)} "
                    f"sectors {','.join(map(str, lv.sectors))}")
        else:
            text = self.guideline_id + " " + " ".join(
                f"{lv.level}:{','.join(lv.row_ids)}>{''.join(map(str, lv.sectors))}"
                for lv in items
            )
        if len(text) > ROI_DESCRIPTION_MAX:
            text = text[: ROI_DESCRIPTION_MAX - 3] + "..."
        return text

    def explanation_text(self) -> str:
        """One line per involved level.

        Returns
        -------
        str
            A heading with the guideline and the CTV and GTV volumes (cm³), then
            :meth:`LevelExplanation.text` of each involved level.
        """
        lines = [f"{self.guideline_id}@{self.guideline_version}: CTV {self.volume_cc:.2f} cc "
                 f"from GTV {self.gtv_volume_cc:.2f} cc"]
        lines.extend(lv.text() for lv in self.involved_levels)
        return "\n".join(lines)

    def explanation_as_dict(self) -> dict[str, Any]:
        """The whole explanation as a JSON-ready dictionary.

        Returns
        -------
        dict of str to Any
            Guidelines, parameters, the circumferential statement, GTV and CTV volumes (cm³,
            4 decimals), ROI description, every level's :meth:`LevelExplanation.as_dict`, the
            GTV outside the vertebrae and the warnings.
        """
        return {
            "guideline": {"id": self.guideline_id, "version": self.guideline_version},
            "guidelines": list(self.guidelines),
            "parameters": dict(self.parameters),
            "circumferential_epidural": (
                self.circumferential_epidural if isinstance(self.circumferential_epidural, bool)
                else list(self.circumferential_epidural)
            ),
            "gtv_volume_cc": round(self.gtv_volume_cc, 4),
            "ctv_volume_cc": round(self.volume_cc, 4),
            "roi_description": self.roi_description,
            "levels": [lv.as_dict() for lv in self.levels],
            "gtv_outside_vertebrae": dict(self.outside),
            "warnings": list(self.warnings),
        }


# ---- rule evaluation ------------------------------------------------------------------------
def _resolve_all(symbols: Sequence[str | int], side: str | None,
                 involved: frozenset[int]) -> frozenset[int]:
    out: set[int] = set()
    for symbol in symbols:
        if symbol == "involved":
            out |= involved
        else:
            out |= resolve_symbol(symbol, side)
    return frozenset(out)


def _row_holds(row: Row, side: str | None, involved: frozenset[int],
               body: BodyInvolvement | None) -> bool:
    cond = row.condition
    for symbol in cond.involved_all:
        if not resolve_symbol(symbol, side) <= involved:
            return False
    if cond.involved_any and not any(resolve_symbol(s, side) & involved for s in cond.involved_any):
        return False
    if any(resolve_symbol(s, side) & involved for s in cond.involved_none):
        return False
    if cond.body:
        if body is None:
            return False
        if "any" not in cond.body and body.body_class not in cond.body:
            return False
        if (body.body_class == "lateralized" and "any" not in cond.body and row.sided
                and body.side != side):
            return False
    return True


def evaluate_rows(
    guideline: Guideline,
    involvement: LevelInvolvement,
    parameters: Mapping[str, float | bool],
) -> tuple[FiredRow, ...]:
    """The rows of ``guideline`` that fire for one level's involvement, with their sectors.

    A sided row is tried for the left and for the right side and may fire for both.

    Parameters
    ----------
    guideline : Guideline
        The guideline whose rows are evaluated.
    involvement : LevelInvolvement
        The level's involved sectors and body class.
    parameters : mapping of str to float or bool
        Guideline parameters; a true value switches on a row's ``add_if`` sectors.

    Returns
    -------
    tuple of FiredRow
        The fired rows in table order, each with the sectors it adds; empty when no sector is
        involved.
    """
    involved = frozenset(involvement.involved)
    fired: list[FiredRow] = []
    if not involved:
        return ()
    for row in guideline.rows:
        for side in (("left", "right") if row.sided else (None,)):
            if not _row_holds(row, side, involved, involvement.body):
                continue
            sectors = set(_resolve_all(row.add, side, involved))
            for name, extra in row.add_if:
                if parameters.get(name):
                    sectors |= _resolve_all(extra, side, involved)
            fired.append(FiredRow(
                row_id=row.id, side=side, sectors=tuple(sorted(sectors)),
                citation=row.citation, locator=row.locator, verified=row.verified,
                reason=row.title,
            ))
    return tuple(fired)


def _ring_by_criteria(guideline: Guideline, involved: frozenset[int]) -> bool:
    rule = guideline.circumferential
    if rule is None:
        return False
    return all(
        any(resolve_symbol(s, None) & involved for s in group) for group in rule.criteria
    )


def _soft_tissue_margin(
    gtv: Mask, levels: Sequence[LevelSectors], canal: Mask | None, margin_mm: float
) -> Mask:
    """The GTV grown by ``margin_mm`` into soft tissue only.

    The grown part is kept out of the canal (so off the cord) and out of the bone of the levels
    given: bone is governed by the sectors the rows choose, the margin is for extraosseous
    disease only.
    """
    from spinetv.geometry.margins import Margin, expand

    canals = [lv.canal for lv in levels if lv.canal is not None]
    if canal is not None:
        require_grid(levels[0].grid, canal, "the canal")
        canals.append(canal)
    if not canals:
        raise GuidelineError(
            f"soft_tissue_margin_mm={margin_mm:g} needs the spinal canal to keep the margin off "
            "the cord: pass canal= or levels that carry their canal"
        )
    grown = expand(gtv, Margin.isotropic(margin_mm), name="GTV")
    bone = [m for lv in levels for m in lv.sectors.values()]
    return difference_of(grown, union_of(gtv.grid, [*canals, *bone]))


# ---- the engine -----------------------------------------------------------------------------
@dataclass
class _Draft:
    level: LevelSectors
    guideline: Guideline
    parameters: dict[str, float | bool]
    involvement: LevelInvolvement
    fired: list[FiredRow]
    circumferential: str | None = None


def _abut(gtv: Mask, drafts: list[_Draft], main: Guideline,
          sacral: Guideline | None) -> list[str]:
    """A GTV that involves no sector: take the sectors it abuts as involved [lib].

    A purely epidural or paraspinal GTV is handled by the guideline's rows for the level(s) it
    abuts: the sectors whose bone lies within ``abutting_mm`` of the GTV's part outside the
    bone count as involved (an abutted body as a focal body lesion). This is the library's
    choice: the consensus papers give no rule for a GTV without bone.
    """
    grid = gtv.grid
    bone = union_of(grid, [m for d in drafts for m in d.level.sectors.values()])
    extraosseous = difference_of(gtv, bone)
    messages: list[str] = []
    if extraosseous.is_empty:
        return messages
    for d in drafts:
        gap_mm = float(d.parameters["abutting_mm"])
        sectors = abutted_sectors(extraosseous, d.level, gap_mm)
        if not sectors:
            continue
        chosen = _guideline_for(d.level, main, sacral)
        body = (
            BodyInvolvement(BodyClass.FOCAL, None, 0.0, (0.0, 0.0), False, False)
            if 1 in sectors
            else None
        )
        d.involvement = replace(d.involvement, involved=sectors, abutted=sectors, body=body)
        d.guideline = chosen
        d.fired = list(evaluate_rows(chosen, d.involvement, d.parameters))
        messages.append(
            f"{d.level.level}: the GTV involves no sector (it lies outside the bone, "
            f"{extraosseous.volume_cc:.2f} cc epidural or paraspinal); sector(s) "
            f"{', '.join(map(str, sectors))} within abutting_mm={gap_mm:g} mm of it are taken "
            f"as involved and the rows of {chosen.id} applied (library's choice [lib])"
        )
    return messages


def _close_calls(draft: _Draft) -> tuple[str, ...]:
    """Notes on sectors whose penetration lies within half a voxel of ``min_penetration_mm``.

    On such a grid the contour's edge, not the anatomy, may decide the sector; a reviewer
    should look at it.
    """
    inv = draft.involvement
    threshold = inv.min_penetration_mm
    if threshold <= 0:
        return ()
    half_voxel = max(draft.level.grid.spacing_mm) / 2.0
    out = []
    for k in range(1, 7):
        depth = inv.penetration_mm.get(k, 0.0)
        if inv.overlaps_cc[k] > 0 and abs(depth - threshold) < half_voxel - 1e-6:
            verdict = "involved" if k in inv.involved else "not involved"
            out.append(
                f"{draft.level.level} sector {k}: the GTV penetrates it {depth:.1f} mm "
                f"({inv.overlaps_cc[k]:.2f} cc), within half a voxel ({half_voxel:.1f} mm) of "
                f"min_penetration_mm={threshold:g}; counted {verdict}: review the GTV's edge there"
            )
    return tuple(out)


def _guideline_for(level: LevelSectors, main: Guideline, sacral: Guideline | None) -> Guideline:
    if level.region in main.applies_to:
        return main
    if level.region == "sacral" and sacral is not None and "sacral" in sacral.applies_to:
        return sacral
    raise GuidelineError(
        f"guideline {main.id!r} applies to {', '.join(main.applies_to)}, but the GTV involves "
        f"{level.level} ({level.region})"
        + ("; pass sacral_guideline (e.g. 'ccr-sacrum-2020')" if level.region == "sacral" else "")
    )


def _epidural_levels(
    circumferential_epidural: bool | Collection[str], levels: Sequence[LevelSectors]
) -> tuple[bool | tuple[str, ...], frozenset[str]]:
    if isinstance(circumferential_epidural, bool):
        names = frozenset(lv.level for lv in levels) if circumferential_epidural else frozenset()
        return circumferential_epidural, names
    names = frozenset(require_level(str(n)) for n in circumferential_epidural)
    known = {lv.level for lv in levels}
    unknown = sorted(names - known)
    if unknown:
        raise GuidelineError(f"circumferential_epidural names level(s) {unknown} that are not "
                             f"among the levels given ({', '.join(sorted(known))})")
    return tuple(sorted(names)), names


def _extend_craniocaudally(drafts: list[_Draft]) -> None:
    """Apply each guideline's craniocaudal rule across the levels it governs."""
    by_guideline: dict[str, list[_Draft]] = {}
    for draft in drafts:
        by_guideline.setdefault(draft.guideline.id, []).append(draft)
    for group in by_guideline.values():
        rule = group[0].guideline.craniocaudal
        if rule is None:
            continue
        body_orders = [d.level.order for d in group if 1 in d.involvement.involved]
        if not body_orders:
            continue
        top, bottom = min(body_orders), max(body_orders)
        sources = [(d, f) for d in group for f in list(d.fired)
                   if f.row_id in rule.rows and not f.reason.startswith("extended")]
        for draft in group:
            if not top <= draft.level.order <= bottom:
                continue
            for origin, fired in sources:
                if origin is draft:
                    continue
                draft.fired.append(FiredRow(
                    row_id=fired.row_id, side=fired.side, sectors=fired.sectors,
                    citation=rule.citation, locator=rule.locator, verified=rule.verified,
                    reason=f"extended from {origin.level.level}: the CTV spans the involved "
                           f"body levels (craniocaudal rule of {group[0].guideline.id})",
                ))


def build_ctv(
    gtv: Mask,
    levels: Sequence[Any] | Mapping[str, Mapping[int, Mask]],
    *,
    guideline: str | Guideline = "isrc-2012",
    sacral_guideline: str | Guideline | None = "ccr-sacrum-2020",
    parameters: Mapping[str, Any] | None = None,
    circumferential_epidural: bool | Collection[str] = False,
    canal: Mask | None = None,
) -> CtvResult:
    """Build the guideline CTV of a GTV.

    Parameters
    ----------
    gtv : Mask
        The GTV (bony, epidural and paraspinal parts; the preoperative extent for
        ``postop-2017``), on the sectors' grid.
    levels : sequence or mapping
        The levels to consider: :class:`~spinetv.guidelines.involvement.LevelSectors`,
        ``VertebraSectors``-like objects (``level``, ``labels``, ``frame.lr_axis``), or a
        mapping ``{"L2": {1: Mask, ..., 6: Mask}}``. Every level must carry all six sectors.
    guideline : str or Guideline, default "isrc-2012"
        Shipped id, path to a guideline file, or a loaded guideline.
    sacral_guideline : str, Guideline or None, default "ccr-sacrum-2020"
        Used for sacral segments when ``guideline`` does not apply to the sacrum.
    parameters : mapping, optional
        Overrides of guideline parameters, each in its own unit (``min_overlap_cc`` in cm³,
        ``midline_tolerance_mm`` and ``soft_tissue_margin_mm`` in mm, ``diffuse_fraction``
        0-1, ``pedicle_includes_body`` bool...); None keeps the guideline's values.
    circumferential_epidural : bool or collection of str, default False
        The caller states circumferential epidural disease: True for every involved level, or
        the names of the levels concerned. Gives the full ring where the guideline allows it.
    canal : Mask, optional
        The spinal canal, needed only for a non-zero ``soft_tissue_margin_mm`` when the levels
        do not carry their canal.

    Returns
    -------
    CtvResult
        The CTV mask (on the sectors' grid), the GTV, one explanation per level and the
        guidelines and parameters used.

    Raises
    ------
    AnatomyError
        No level, a level missing a sector, or a GTV touching no vertebra and abutting none.
    GuidelineError
        Bad guideline or parameters, a level outside the guideline's regions, an empty GTV.
    GeometryMismatchError
        GTV and sectors on different grids.

    Notes
    -----
    Involvement: a sector is involved when the GTV overlaps it by ``min_overlap_cc`` and
    penetrates it by ``min_penetration_mm`` (see :mod:`spinetv.guidelines.involvement`). A GTV
    that involves no sector at any level but lies outside the bone (purely epidural or
    paraspinal) within ``abutting_mm`` of a level's bone is handled by the guideline's rows for
    that level, the abutted sectors taken as involved (the library's choice [lib], warned and
    reported). The GTV's volume outside the vertebrae, and where it lies, is in
    ``CtvResult.outside``.
    """
    main = load_guideline(guideline)
    sacral = load_guideline(sacral_guideline) if sacral_guideline is not None else None
    level_list = normalize_levels(levels)
    grid = level_list[0].grid
    require_grid(grid, gtv, "the GTV")
    if gtv.is_empty:
        raise GuidelineError("cannot build a CTV: the GTV mask is empty")
    stated, epidural = _epidural_levels(circumferential_epidural, level_list)

    params_cache: dict[str, dict[str, float | bool]] = {}

    def params_of(g: Guideline) -> dict[str, float | bool]:
        if g.id not in params_cache:
            params_cache[g.id] = resolve_parameters(g, parameters)
        return params_cache[g.id]

    main_params = params_of(main)
    drafts: list[_Draft] = []
    for level in level_list:
        chosen = main if level.region in main.applies_to else (
            sacral if level.region == "sacral" and sacral is not None
            and "sacral" in sacral.applies_to else main)
        p = params_of(chosen)
        involvement = measure_involvement(
            gtv, level,
            min_overlap_cc=float(p["min_overlap_cc"]),
            min_penetration_mm=float(p["min_penetration_mm"]),
            midline_tolerance_mm=float(p["midline_tolerance_mm"]),
            diffuse_fraction=float(p["diffuse_fraction"]),
        )
        if involvement.involved:
            chosen = _guideline_for(level, main, sacral)
        drafts.append(_Draft(level, chosen, p, involvement,
                             list(evaluate_rows(chosen, involvement, p))))

    messages: list[str] = []
    outside = outside_bone(gtv, level_list, canal)
    if not any(d.involvement.involved for d in drafts):
        messages.extend(_abut(gtv, drafts, main, sacral))
    if not any(d.involvement.touched or d.involvement.abutted for d in drafts):
        raise AnatomyError(
            f"the GTV ({gtv.volume_cc:.3f} cc) touches none of the vertebrae given "
            f"({', '.join(d.level.level for d in drafts)}) and lies farther than abutting_mm="
            f"{main_params['abutting_mm']:g} mm from their bone; check the levels or the GTV"
        )
    for part in outside["by_level"].values():
        if part["farthest_from_bone_mm"] is None:
            messages.append(
                f"{part['outside_cc']:.2f} cc of the GTV lies more than 30 mm from the bone of "
                "every level given: another level, or a separate lesion? It is in the CTV as GTV"
            )
    if not any(d.involvement.involved for d in drafts):
        messages.append(
            f"the GTV overlaps the vertebrae by less than min_overlap_cc="
            f"{main_params['min_overlap_cc']} cc or penetrates them by less than "
            f"min_penetration_mm={main_params['min_penetration_mm']} mm at every level, and "
            "abuts no sector from outside the bone; no sector is involved and the CTV is the "
            "GTV alone"
        )

    _extend_craniocaudally(drafts)

    explanations: list[LevelExplanation] = []
    parts: list[Mask] = [gtv]
    for d in drafts:
        involved = frozenset(d.involvement.involved)
        if involved and _ring_by_criteria(d.guideline, involved):
            d.circumferential = "criteria"
        if involved and d.level.level in epidural:
            rule = d.guideline.circumferential
            if rule is None or not rule.user_epidural:
                raise GuidelineError(
                    f"guideline {d.guideline.id!r} has no circumferential rule for epidural "
                    f"disease; circumferential_epidural cannot be applied at {d.level.level}"
                )
            d.circumferential = d.circumferential or "circumferential epidural disease (stated)"
        if d.circumferential is not None:
            rule = d.guideline.circumferential
            assert rule is not None  # both branches above require it
            d.fired.append(FiredRow(
                row_id="circumferential", side=None, sectors=tuple(range(1, 7)),
                citation=rule.citation, locator=rule.locator, verified=rule.verified,
                reason=d.circumferential,
            ))
        sectors = sorted({k for f in d.fired for k in f.sectors})
        notes = list(_close_calls(d))
        messages.extend(notes)
        left_out = sorted(involved - set(sectors))
        if left_out:
            # By design for some guidelines (whole-body); reported, not warned.
            notes.append(f"no row of {d.guideline.id} adds involved sector(s) {left_out}; "
                         "the CTV holds only the GTV there")
        parts.extend(d.level.sectors[k] for k in sectors)
        explanations.append(LevelExplanation(
            level=d.level.level, region=d.level.region, guideline_id=d.guideline.id,
            guideline_version=d.guideline.version, involvement=d.involvement,
            fired=tuple(d.fired), sectors=tuple(sectors), circumferential=d.circumferential,
            parameters=dict(d.parameters), notes=tuple(notes),
        ))
    margin_mm = float(main_params["soft_tissue_margin_mm"])
    if margin_mm > 0:
        parts.append(_soft_tissue_margin(gtv, level_list, canal, margin_mm))
    for message in messages:
        warnings.warn(message, GuidelineWarning, stacklevel=2)

    used = []
    for d in drafts:
        if d.fired and d.guideline.label not in used:
            used.append(d.guideline.label)
    return CtvResult(
        mask=union_of(grid, parts),
        gtv=gtv,
        levels=tuple(explanations),
        guideline_id=main.id,
        guideline_version=main.version,
        guidelines=tuple(used) or (main.label,),
        parameters=dict(main_params),
        circumferential_epidural=stated,
        warnings=tuple(messages),
        outside=outside,
    )
