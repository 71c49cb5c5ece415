"""Audit a clinician's CTV against a guideline (Chen et al., Radiother Oncol 2022;173:215).

Per level, three deviation categories:

1. an **involved** sector left partly uncovered;
2. an **adjacent** sector the guideline adds (chosen but not involved) left partly uncovered;
3. a **circumferential** CTV (all six sectors substantially covered) where the guideline CTV of
   that level is not the full ring.

A sector counts as uncovered when more than ``uncovered_tolerance_cc`` AND more than
``uncovered_tolerance_fraction`` of it lie outside the CTV (both tolerances absorb the voxel-edge
disagreement between a drawn contour and computed sectors); "substantially covered" means at
least ``ring_coverage_fraction`` of the sector is inside the CTV. A GTV not fully inside the CTV
(beyond ``uncovered_tolerance_cc``) is reported as well, outside the three categories.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spinetv.geometry.mask import Mask
from spinetv.guidelines.engine import CtvResult, build_ctv
from spinetv.guidelines.involvement import (
    difference_of,
    normalize_levels,
    overlap_voxels,
    require_grid,
)
from spinetv.guidelines.loader import Guideline

__all__ = ["AuditResult", "Deviation", "DeviationCategory", "LevelAudit", "audit_ctv"]


class DeviationCategory(str, enum.Enum):
    """Kinds of deviation from a guideline CTV (values are the JSON strings)."""

    UNCOVERED_INVOLVED = "uncovered_involved_sector"
    OMITTED_ADJACENT = "omitted_adjacent_sector"
    UNWARRANTED_CIRCUMFERENTIAL = "unwarranted_circumferential"
    GTV_UNCOVERED = "gtv_uncovered"

    @property
    def number(self) -> int | None:
        """Category number in Chen 2022 (1-3), None for the GTV check."""
        return {"uncovered_involved_sector": 1, "omitted_adjacent_sector": 2,
                "unwarranted_circumferential": 3}.get(self.value)


@dataclass(frozen=True)
class Deviation:
    """One deviation.

    Parameters
    ----------
    category : DeviationCategory
        The kind of deviation.
    level : str or None
        The level (None for the GTV check).
    sector : int or None
        The sector concerned (None for a ring or the GTV).
    volume_cc : float
        Uncovered volume (categories 1, 2, GTV) or the CTV volume in sectors the guideline does
        not choose (category 3), in cc.
    fraction : float
        Uncovered fraction of the sector or GTV; for category 3 the least coverage of a sector.
    message : str
        One line for a reader, naming the level, sector and amounts.
    """

    category: DeviationCategory
    level: str | None
    sector: int | None
    volume_cc: float
    fraction: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary.

        Returns
        -------
        dict of str to Any
            ``category`` (its JSON string), ``category_number`` (1-3 or None), ``level``,
            ``sector``, ``volume_cc`` (cm³) and ``fraction`` (0-1), both to 4 decimals, and
            ``message``.
        """
        return {
            "category": self.category.value, "category_number": self.category.number,
            "level": self.level, "sector": self.sector,
            "volume_cc": round(self.volume_cc, 4), "fraction": round(self.fraction, 4),
            "message": self.message,
        }


@dataclass(frozen=True)
class LevelAudit:
    """The audit of one level.

    Parameters
    ----------
    level : str
        The level's canonical name.
    involved : tuple of int
        Sectors the GTV involves.
    guideline_sectors : tuple of int
        What the guideline CTV holds at this level.
    coverage : mapping of int to float
        Fraction of each sector inside the clinician's CTV.
    deviations : tuple of Deviation
        The deviations found at this level.
    """

    level: str
    involved: tuple[int, ...]
    guideline_sectors: tuple[int, ...]
    coverage: Mapping[int, float]
    deviations: tuple[Deviation, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary.

        Returns
        -------
        dict of str to Any
            ``level``, ``involved`` and ``guideline_sectors`` (sector numbers), ``coverage``
            (sector number as a string to the covered fraction, 0-1, 4 decimals) and
            ``deviations``.
        """
        return {
            "level": self.level, "involved": list(self.involved),
            "guideline_sectors": list(self.guideline_sectors),
            "coverage": {str(k): round(v, 4) for k, v in self.coverage.items()},
            "deviations": [d.as_dict() for d in self.deviations],
        }


@dataclass(frozen=True)
class AuditResult:
    """The audit of a CTV.

    Parameters
    ----------
    guideline_ctv : CtvResult
        The CTV the guideline gives for the same GTV and levels.
    levels : tuple of LevelAudit
        One per level, cranio-caudal order.
    deviations : tuple of Deviation
        All deviations (levels in cranio-caudal order, then the GTV check).
    dice : float
        Dice coefficient between the clinician's CTV and the guideline CTV.
    ctv_volume_cc : float
        Volume of the clinician's CTV, in cm³.
    outside_guideline_cc : float
        Clinician CTV volume outside the guideline CTV, in cm³.
    parameters : mapping
        Parameters used (tolerances included).
    """

    guideline_ctv: CtvResult
    levels: tuple[LevelAudit, ...]
    deviations: tuple[Deviation, ...]
    dice: float
    ctv_volume_cc: float
    outside_guideline_cc: float
    parameters: Mapping[str, float | bool]

    @property
    def compliant(self) -> bool:
        """True when no deviation was found."""
        return not self.deviations

    def by_category(self, category: DeviationCategory | str) -> tuple[Deviation, ...]:
        """Deviations of one category.

        Parameters
        ----------
        category : DeviationCategory or str
            The category or its JSON string (``"omitted_adjacent_sector"``); another string
            raises ``ValueError``.

        Returns
        -------
        tuple of Deviation
            The deviations of that category, in report order.
        """
        wanted = DeviationCategory(category)
        return tuple(d for d in self.deviations if d.category is wanted)

    def text(self) -> str:
        """A short human-readable report.

        Returns
        -------
        str
            A heading (guideline, compliant or the number of deviations, Dice) and one
            indented line per deviation.
        """
        head = (f"audit against {self.guideline_ctv.guideline_id}@"
                f"{self.guideline_ctv.guideline_version}: "
                f"{'compliant' if self.compliant else f'{len(self.deviations)} deviation(s)'}, "
                f"Dice {self.dice:.3f}")
        return "\n".join([head, *(f"  {d.message}" for d in self.deviations)])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary.

        Returns
        -------
        dict of str to Any
            Guideline, ``compliant``, ``dice``, CTV volumes (cm³, 4 decimals), parameters,
            per-level audits, deviations and the guideline CTV's explanation.
        """
        return {
            "guideline": {"id": self.guideline_ctv.guideline_id,
                          "version": self.guideline_ctv.guideline_version},
            "compliant": self.compliant,
            "dice": round(self.dice, 4),
            "ctv_volume_cc": round(self.ctv_volume_cc, 4),
            "guideline_ctv_volume_cc": round(self.guideline_ctv.volume_cc, 4),
            "outside_guideline_cc": round(self.outside_guideline_cc, 4),
            "parameters": dict(self.parameters),
            "levels": [lv.as_dict() for lv in self.levels],
            "deviations": [d.as_dict() for d in self.deviations],
            "guideline_ctv": self.guideline_ctv.explanation_as_dict(),
        }


def _dice(a: Mask, b: Mask) -> float:
    total = a.voxel_count + b.voxel_count
    return 1.0 if total == 0 else 2.0 * overlap_voxels(a, b) / total


def audit_ctv(
    ctv: Mask,
    gtv: Mask,
    levels: Sequence[Any] | Mapping[str, Mapping[int, Mask]],
    *,
    guideline: str | Guideline = "isrc-2012",
    sacral_guideline: str | Guideline | None = "ccr-sacrum-2020",
    parameters: Mapping[str, Any] | None = None,
    circumferential_epidural: bool | Collection[str] = False,
) -> AuditResult:
    """Compare a clinician's CTV with the guideline CTV of the same GTV.

    Parameters
    ----------
    ctv : Mask
        The CTV to audit, on the GTV's grid.
    gtv, levels, guideline, sacral_guideline, parameters, circumferential_epidural
        As for :func:`~spinetv.guidelines.engine.build_ctv`, with the same defaults
        (``"isrc-2012"``, ``"ccr-sacrum-2020"``, None, False). ``parameters`` may also set the
        audit tolerances ``uncovered_tolerance_cc`` (cm³), ``uncovered_tolerance_fraction``
        and ``ring_coverage_fraction`` (fractions 0-1).

    Returns
    -------
    AuditResult
        The guideline CTV, per-level coverage and deviations, the Dice coefficient and the
        volumes (cm³).

    Raises
    ------
    AnatomyError, GuidelineError
        As for :func:`~spinetv.guidelines.engine.build_ctv`.
    GeometryMismatchError
        When the GTV, the CTV and the sectors are not on one grid.
    """
    reference = build_ctv(
        gtv, levels, guideline=guideline, sacral_guideline=sacral_guideline,
        parameters=parameters, circumferential_epidural=circumferential_epidural,
    )
    level_list = {lv.level: lv for lv in normalize_levels(levels)}
    require_grid(gtv.grid, ctv, "the CTV")
    params = dict(reference.parameters)
    tol_cc = float(params["uncovered_tolerance_cc"])
    tol_fraction = float(params["uncovered_tolerance_fraction"])
    ring_fraction = float(params["ring_coverage_fraction"])
    voxel_cc = gtv.grid.voxel_volume_cc

    audits: list[LevelAudit] = []
    everything: list[Deviation] = []
    for explanation in reference.levels:
        sectors = level_list[explanation.level].sectors
        coverage: dict[int, float] = {}
        uncovered_cc: dict[int, float] = {}
        for k, sector in sectors.items():
            inside = overlap_voxels(sector, ctv)
            count = sector.voxel_count
            coverage[k] = inside / count if count else 1.0
            uncovered_cc[k] = (count - inside) * voxel_cc
        found: list[Deviation] = []
        involved = set(explanation.involved)
        for k in explanation.sectors:
            missing_fraction = 1.0 - coverage[k]
            if uncovered_cc[k] <= tol_cc or missing_fraction <= tol_fraction:
                continue
            name = explanation.sector_name(k)
            if k in involved:
                category = DeviationCategory.UNCOVERED_INVOLVED
                what = f"involved sector {k} ({name})"
            else:
                category = DeviationCategory.OMITTED_ADJACENT
                what = f"adjacent sector {k} ({name}) added by the guideline"
            found.append(Deviation(
                category, explanation.level, k, uncovered_cc[k], missing_fraction,
                f"{explanation.level}: {what} is {missing_fraction:.0%} uncovered "
                f"({uncovered_cc[k]:.2f} cc)",
            ))
        ring = all(coverage[k] >= ring_fraction for k in range(1, 7))
        if involved and ring and len(explanation.sectors) < 6:
            extra = [k for k in range(1, 7) if k not in explanation.sectors]
            extra_cc = sum(overlap_voxels(sectors[k], ctv) for k in extra) * voxel_cc
            found.append(Deviation(
                DeviationCategory.UNWARRANTED_CIRCUMFERENTIAL, explanation.level, None,
                extra_cc, min(coverage.values()),
                f"{explanation.level}: circumferential CTV (all six sectors covered) without the "
                f"guideline's criteria; sectors {extra} ({extra_cc:.2f} cc) are not indicated",
            ))
        audits.append(LevelAudit(explanation.level, explanation.involved, explanation.sectors,
                                 coverage, tuple(found)))
        everything.extend(found)

    gtv_missing = difference_of(gtv, ctv)
    gtv_missing_cc = gtv_missing.volume_cc
    if gtv_missing_cc > tol_cc:
        fraction = gtv_missing_cc / gtv.volume_cc
        everything.append(Deviation(
            DeviationCategory.GTV_UNCOVERED, None, None, gtv_missing_cc, fraction,
            f"the GTV is {fraction:.0%} outside the CTV ({gtv_missing_cc:.2f} cc)",
        ))
    outside = (ctv.voxel_count - overlap_voxels(ctv, reference.mask)) * voxel_cc
    return AuditResult(
        guideline_ctv=reference, levels=tuple(audits), deviations=tuple(everything),
        dice=_dice(ctv, reference.mask), ctv_volume_cc=ctv.volume_cc,
        outside_guideline_cc=outside, parameters=params,
    )
