"""How far a level's sectors can be trusted: the frame, the canal and plausibility checks.

Sector labelling can go wrong without failing: a canal taken from the wrong hole, a frame
turned the wrong way, and the body swallows the arch. Each labelled level is therefore checked
against what anatomy allows, independently of how the labels were made (in patient
coordinates and volumes, not in the frame the labels were cut in). A failed check of severity
``"error"`` means the labels cannot be trusted; one of severity ``"warning"`` means they were
obtained by a fallback or lie outside the usual range and want a look.

The bounds are the library's choices [lib], set around the proportions of the vertebrae in
`spinetv.phantom` (Panjabi-type dimensions: body 33-73% of the vertebra, each pedicle 2-8%)
with room for real anatomy and partial-volume; they are reported with every check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spinetv.anatomy.canal import (
    AXIS_SEARCHED_ON_BONE,
    METHOD_ARCH,
    METHOD_CARRIED,
    METHOD_CORD,
    ProjectedCanal,
)
from spinetv.anatomy.frame import LocalFrame
from spinetv.anatomy.levels import is_sacral, parse_level
from spinetv.anatomy.sectors import VertebraSectors
from spinetv.geometry.grid import ImageGrid

__all__ = [
    "sacral_axis_checks","QualityCheck", "LevelQuality", "QualityBounds", "assess_level",
    "spacing_across_mm"]

ERROR = "error"
# Levels whose sectors use their transverse foramina: C2-C6 to tell the transverse process from
# the pedicle, C1 also to turn its frame. C7's foramen is small or absent.
_FORAMEN_LEVELS = ("C1", "C2", "C3", "C4", "C5", "C6")
WARNING = "warning"


@dataclass(frozen=True)
class QualityBounds:
    """Plausibility bounds of a labelled level [lib].

    Parameters
    ----------
    body_fraction_error : (float, float)
        Sector 1 as a fraction of the vertebra outside this range: the labels cannot be
        trusted. Default (0.15, 0.85).
    body_fraction_usual : (float, float)
        Outside this range: a warning. Default (0.25, 0.80).
    max_lr_tilt_deg : float
        Largest angle between the local left axis and patient left (+x): axial rotation and
        scoliosis together rarely exceed 40 degrees. Default 55.
    max_ap_tilt_deg : float
        Largest angle between the local posterior axis and patient posterior (+y) for C1-L5
        (lordosis of 45 degrees plus 20 degrees of rotation stays within it). Default 65.
    max_bridged_gap_mm : float
        A canal whose bony ring had to be closed across a wider gap is flagged. Default 4.
    canal_area_mm2 : (float, float)
        Usual canal cross-section of C1-L5, mm^2 (about 120-350 in adults); outside it a
        warning. Default (80, 700).
    pedicle_ratio : float
        The smaller pedicle below this fraction of the larger: a warning. Default 0.3.
    max_body_axis_deg : float
        The body's own axis (its shortest principal axis, the endplates' normal) farther than
        this from the frame's SI axis: a warning. Default 15 (measured at most 9 on the
        phantoms, C3-L5, tilted up to 35 degrees, and 12 on the 3 mm sample CT).
    body_axis_definite_ratio : float
        The body's axis is compared only when its shortest principal extent is below this
        fraction of the middle one (a body as tall as it is deep has no definite axis).
        Default 0.9.
    max_sacral_lr_turn_deg : float
        The sacral segments are one fused bone with one left-right axis: a segment whose
        local left axis lies farther than this from the mean of the segments' is flagged
        (a warning: its alae and laminae may be turned). Default 10 (0 on the phantoms; on
        the sample CT S1 lay 20 and S4 12 degrees off).
    max_bone_search_pixel_mm : float
        An axis searched on the vertebra's own bone (no cord, no neighbour) on voxels coarser
        than this across the vertebra (see :func:`spacing_across_mm`) is flagged (a
        warning): the search is validated on 0.6-1.2 mm pixels; a lone C5 at 2.66 mm was 10
        degrees off, unseen by the other checks. Default 1.2.
    max_sector_pixel_mm : float
        A vertebra (C1-L5) labelled on voxels coarser than this across it (see
        :func:`spacing_across_mm`; the pixel of an axial series) is flagged (a warning): its
        sector borders are placed to a fraction of a voxel, and a small sector (a pedicle)
        then differs by more than the pixel's share. Measured on the phantom's own sector rule
        (``benchmarks/bench_sector_sensitivity.py``, 60 poses): one wall a quarter of a voxel
        off keeps every sector's Dice >= 0.95 at 0.6-1.2 mm pixels, and takes 12 of 20 poses
        at 1.2-2 mm and all 25 at 2-3 mm below it (lowest 0.89 and 0.70). Default 1.2. Sacral
        segments, whose compartments are several times a pedicle, are not checked.
    """

    body_fraction_error: tuple[float, float] = (0.15, 0.85)
    body_fraction_usual: tuple[float, float] = (0.25, 0.80)
    max_lr_tilt_deg: float = 55.0
    max_ap_tilt_deg: float = 65.0
    max_bridged_gap_mm: float = 4.0
    canal_area_mm2: tuple[float, float] = (80.0, 700.0)
    pedicle_ratio: float = 0.3
    max_body_axis_deg: float = 15.0
    body_axis_definite_ratio: float = 0.9
    max_sacral_lr_turn_deg: float = 10.0
    max_bone_search_pixel_mm: float = 1.2
    max_sector_pixel_mm: float = 1.2


@dataclass(frozen=True)
class QualityCheck:
    """One plausibility check of a level.

    Parameters
    ----------
    name : str
        Short identifier ("sectors present", "body fraction", ...).
    passed : bool
        Whether the result lies within the bound.
    severity : str
        "error" (a failed check means the labels cannot be trusted) or "warning".
    measured : str
        The measured value, with its unit.
    expected : str
        The bound.
    """

    name: str
    passed: bool
    severity: str
    measured: str
    expected: str

    def describe(self) -> str:
        """One line: name, measured and expected.

        Returns
        -------
        str
            ``"<name>: <measured> (expected <expected>)"``.
        """
        return f"{self.name}: {self.measured} (expected {self.expected})"

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the report.

        Returns
        -------
        dict of str to Any
            ``name``, ``passed``, ``severity``, ``measured`` and ``expected`` (the last two
            strings carry their own units).
        """
        return {
            "name": self.name,
            "passed": self.passed,
            "severity": self.severity,
            "measured": self.measured,
            "expected": self.expected,
        }


@dataclass(frozen=True)
class LevelQuality:
    """How a level was labelled and how far it can be trusted.

    Parameters
    ----------
    level : str
        The level.
    frame_source : str
        Where the local SI axis came from ("cord", "neighbours", "neighbouring canal
        centres", "patient, searched on the bone", "contoured canal", ...).
    tilt_deg : float
        Angle between the local SI axis and patient superior (+z), degrees.
    rotation_deg : float
        Axial rotation: angle of the local left axis from patient left towards patient
        posterior, in the axial plane, degrees.
    canal_method : str
        How the canal was found.
    bridged_gap_mm : float or None
        Widest gap of the bony ring closed to find the canal (0 for a closed ring; None when
        not applicable).
    canal_area_mm2 : float or None
        Canal cross-section in the projection, mm^2 (None for a contoured canal).
    body_fraction : float
        Sector 1 volume over the vertebra's volume.
    checks : tuple of QualityCheck
        Every check made.
    frame_turn_deg : float or None
        How far the level's own frame was turned about its SI axis onto a shared left axis
        (the sacrum's, for a sacral segment), degrees; None when it kept its own.
    sacral_body_borders : str or None
        A sacral segment's body borders: the method of
        :class:`~spinetv.anatomy.sacrum.SacralBodyBorders` ("foramina", "foramina,
        carried", "foramina, top from the segment above") or "canal ratio" where no
        foramen was found; None for a vertebra.
    """

    level: str
    frame_source: str
    tilt_deg: float
    rotation_deg: float
    canal_method: str
    bridged_gap_mm: float | None
    canal_area_mm2: float | None
    body_fraction: float
    checks: tuple[QualityCheck, ...]
    frame_turn_deg: float | None = None
    sacral_body_borders: str | None = None

    @property
    def trusted(self) -> bool:
        """No check of severity "error" failed."""
        return all(c.passed for c in self.checks if c.severity == ERROR)

    @property
    def failed(self) -> tuple[QualityCheck, ...]:
        """The checks that failed, errors first."""
        bad = [c for c in self.checks if not c.passed]
        return tuple(sorted(bad, key=lambda c: c.severity != ERROR))

    def flags(self) -> list[str]:
        """The failed checks as lines, for the console and the report.

        Returns
        -------
        list of str
            ``"<level> <severity>: <check>"`` per failed check, errors first.
        """
        return [f"{self.level} {c.severity}: {c.describe()}" for c in self.failed]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the report.

        Returns
        -------
        dict of str to Any
            The fields with ``tilt_deg`` and ``rotation_deg`` in degrees (1 decimal),
            ``bridged_gap_mm`` in mm (2 decimals), ``canal_area_mm2`` in mm² (1 decimal; these
            two None when absent or not finite), ``body_fraction`` (3 decimals),
            ``frame_turn_deg`` (1 decimal, or None), ``sacral_body_borders``, plus
            ``trusted``, ``flags`` and each check's plain values.
        """
        return {
            "frame_source": self.frame_source,
            "tilt_deg": round(self.tilt_deg, 1),
            "rotation_deg": round(self.rotation_deg, 1),
            "frame_turn_deg": _rounded(self.frame_turn_deg, 1),
            "canal_method": self.canal_method,
            "bridged_gap_mm": _rounded(self.bridged_gap_mm, 2),
            "canal_area_mm2": _rounded(self.canal_area_mm2, 1),
            "body_fraction": round(self.body_fraction, 3),
            "sacral_body_borders": self.sacral_body_borders,
            "trusted": self.trusted,
            "flags": self.flags(),
            "checks": [c.as_dict() for c in self.checks],
        }


def spacing_across_mm(grid: ImageGrid, frame: LocalFrame) -> float:
    """The voxel spacing across a vertebra, mm: the coarser of the spacings of the grid's
    axes most aligned with its local left and posterior axes.

    On an axial series this is the pixel (the coarser side of a non-square one) while the
    vertebra leans less than 45 degrees; on a sagittal series the left axis runs along the
    slices, and their thickness counts.

    Parameters
    ----------
    grid : ImageGrid
        The grid the vertebra is labelled on.
    frame : LocalFrame
        The vertebra's local frame.

    Returns
    -------
    float
        Spacing in mm.
    """
    spacing = np.asarray(grid.spacing_mm, dtype=np.float64)
    return max(
        float(spacing[int(np.argmax(np.abs(grid.direction.T @ axis)))])
        for axis in (frame.lr_axis, frame.ap_axis)
    )


def _rounded(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(float(a @ b), -1.0, 1.0))))


def _body_axis(sectors: VertebraSectors, definite_ratio: float) -> np.ndarray | None:
    """The body's shortest principal axis (LPS unit vector), or None when not definite."""
    body = sectors.labels.mask_of(1)
    if body.voxel_count < 10:
        return None
    points = body.points_lps()
    _, singular, vt = np.linalg.svd(points - points.mean(axis=0), full_matrices=False)
    if singular[1] <= 0 or singular[2] / singular[1] > definite_ratio:
        return None
    return np.asarray(vt[2])


def _expected_sectors(level: str) -> tuple[int, ...]:
    if is_sacral(level):
        # Laminae and crest are missing at an open sacral hiatus.
        return (1, 2, 6)
    if level == "C1":
        return (1, 2, 3, 5, 6)
    return (1, 2, 3, 4, 5, 6)


def sacral_axis_checks(
    lr_axes: Mapping[str, NDArray[np.float64]], bounds: QualityBounds = QualityBounds()
) -> dict[str, QualityCheck]:
    """Whether each sacral segment's left axis agrees with the sacrum's.

    Parameters
    ----------
    lr_axes : mapping of str to ndarray
        Segment ("S1".."S5") -> unit local left axis (LPS).
    bounds : QualityBounds
        ``max_sacral_lr_turn_deg``.

    Returns
    -------
    dict of str to QualityCheck
        A "sacral left axis" check per segment (none with fewer than three segments, where
        a mean says nothing of which one is off).
    """
    if len(lr_axes) < 3:
        return {}
    mean = np.mean([np.asarray(a, dtype=np.float64) for a in lr_axes.values()], axis=0)
    mean /= np.linalg.norm(mean)
    checks = {}
    for level, axis in lr_axes.items():
        off = _angle_deg(np.asarray(axis, dtype=np.float64), mean)
        checks[level] = QualityCheck(
            "sacral left axis",
            off <= bounds.max_sacral_lr_turn_deg,
            WARNING,
            f"{off:.0f} deg from the sacrum's mean left axis",
            f"<= {bounds.max_sacral_lr_turn_deg:g} deg",
        )
    return checks


def assess_level(
    sectors: VertebraSectors,
    *,
    section: ProjectedCanal | None = None,
    frame_source: str | None = None,
    bounds: QualityBounds = QualityBounds(),
) -> LevelQuality:
    """Check a labelled level against what anatomy allows.

    Parameters
    ----------
    sectors : VertebraSectors
        The labelled level.
    section : ProjectedCanal, optional
        Its derived canal cross-section (None for a contoured canal).
    frame_source : str, optional
        Where the SI axis came from (default: from ``section``, else "contoured canal").
    bounds : QualityBounds
        The plausibility bounds.

    Returns
    -------
    LevelQuality
    """
    level = parse_level(sectors.level) or sectors.level or "vertebra"
    frame = sectors.frame
    source = frame_source or (section.axis_source if section is not None else "contoured canal")
    tilt = _angle_deg(frame.si_axis, np.array([0.0, 0.0, 1.0]))
    rotation = float(np.degrees(math.atan2(frame.lr_axis[1], frame.lr_axis[0])))
    volumes = sectors.volumes_cc
    total = sum(volumes.values())
    body_fraction = volumes.get(1, 0.0) / total if total > 0 else 0.0
    checks: list[QualityCheck] = []

    expected = _expected_sectors(level)
    missing = [k for k in expected if volumes.get(k, 0.0) <= 0.0]
    checks.append(
        QualityCheck(
            "sectors present",
            not missing,
            ERROR,
            "missing " + ", ".join(str(k) for k in missing) if missing else "all present",
            "sectors " + ", ".join(str(k) for k in expected),
        )
    )
    lr_tilt = _angle_deg(frame.lr_axis, np.array([1.0, 0.0, 0.0]))
    checks.append(
        QualityCheck(
            "left axis",
            lr_tilt <= bounds.max_lr_tilt_deg,
            ERROR,
            f"{lr_tilt:.0f} deg from patient left",
            f"<= {bounds.max_lr_tilt_deg:g} deg",
        )
    )
    sacral = is_sacral(level)
    if not sacral:
        ap_tilt = _angle_deg(frame.ap_axis, np.array([0.0, 1.0, 0.0]))
        checks.append(
            QualityCheck(
                "posterior axis",
                ap_tilt <= bounds.max_ap_tilt_deg,
                ERROR,
                f"{ap_tilt:.0f} deg from patient posterior",
                f"<= {bounds.max_ap_tilt_deg:g} deg",
            )
        )
    if not sacral and level != "C1":
        for name, (low, high), severity in (
            ("body fraction", bounds.body_fraction_error, ERROR),
            ("body fraction usual", bounds.body_fraction_usual, WARNING),
        ):
            checks.append(
                QualityCheck(
                    name,
                    low <= body_fraction <= high,
                    severity,
                    f"{body_fraction:.2f} of the vertebra",
                    f"{low:g}-{high:g}",
                )
            )
        body_axis = _body_axis(sectors, bounds.body_axis_definite_ratio)
        if body_axis is not None:
            off = _angle_deg(body_axis, frame.si_axis)
            off = min(off, 180.0 - off)
            checks.append(
                QualityCheck(
                    "body axis",
                    off <= bounds.max_body_axis_deg,
                    WARNING,
                    f"the body's own axis {off:.0f} deg from the frame's SI axis",
                    f"<= {bounds.max_body_axis_deg:g} deg",
                )
            )
        left, right = volumes.get(2, 0.0), volumes.get(6, 0.0)
        ratio = min(left, right) / max(left, right) if max(left, right) > 0 else 0.0
        checks.append(
            QualityCheck(
                "pedicle symmetry",
                ratio >= bounds.pedicle_ratio,
                WARNING,
                f"smaller pedicle {ratio:.2f} of the larger",
                f">= {bounds.pedicle_ratio:g}",
            )
        )
    if (
        level in _FORAMEN_LEVELS
        and sectors.options.cervical_transverse_foramina
        and sectors.scheme == "vertebra"
    ):
        missing_sides = [
            side for side, edge in zip(("left", "right"), sectors.foramina_mm) if edge is None
        ]
        checks.append(
            QualityCheck(
                "transverse foramina",
                not missing_sides,
                WARNING,
                "not found on the " + " and ".join(missing_sides)
                if missing_sides
                else "found on both sides",
                "both; where none is found the transverse process stays with the pedicle",
            )
        )
    method = sectors.canal_method
    checks.append(
        QualityCheck(
            "canal method",
            method not in (METHOD_ARCH, METHOD_CORD, METHOD_CARRIED),
            WARNING,
            method,
            "contoured or closed bony ring",
        )
    )
    bridged: float | None = None
    area: float | None = None
    pixel = spacing_across_mm(sectors.labels.grid, frame)
    if not sacral:
        checks.append(
            QualityCheck(
                "sector borders on coarse pixels",
                pixel <= bounds.max_sector_pixel_mm,
                WARNING,
                f"{pixel:.2f} mm voxels across the vertebra; a border lies within about "
                f"{0.5 * pixel:.1f} mm, half a voxel",
                f"<= {bounds.max_sector_pixel_mm:g} mm",
            )
        )
    if AXIS_SEARCHED_ON_BONE in source:
        checks.append(
            QualityCheck(
                "bone-searched axis on coarse pixels",
                pixel <= bounds.max_bone_search_pixel_mm,
                WARNING,
                f"{pixel:.2f} mm voxels across the vertebra",
                f"<= {bounds.max_bone_search_pixel_mm:g} mm",
            )
        )
    if section is not None:
        bridged = section.bridged_gap_mm
        area = float(section.hole.sum()) * section.pixel_mm**2
        if math.isfinite(bridged):
            checks.append(
                QualityCheck(
                    "ring gap bridged",
                    bridged <= bounds.max_bridged_gap_mm,
                    WARNING,
                    f"{bridged:.1f} mm",
                    f"<= {bounds.max_bridged_gap_mm:g} mm",
                )
            )
        if not sacral:
            low_a, high_a = bounds.canal_area_mm2
            checks.append(
                QualityCheck(
                    "canal area",
                    low_a <= area <= high_a,
                    WARNING,
                    f"{area:.0f} mm2",
                    f"{low_a:g}-{high_a:g} mm2",
                )
            )
    return LevelQuality(
        level,
        source,
        tilt,
        rotation,
        method,
        bridged,
        area,
        body_fraction,
        tuple(checks),
        sectors.frame_turn_deg,
        _sacral_body_borders(sectors),
    )


def _sacral_body_borders(sectors: VertebraSectors) -> str | None:
    if sectors.scheme != "sacral":
        return None
    return "canal ratio" if sectors.sacral_borders is None else sectors.sacral_borders.method
