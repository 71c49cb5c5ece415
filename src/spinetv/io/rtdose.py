"""Reading DICOM RT Dose into a dose grid in gray, on its own geometry.

An RTDOSE holds one dose cube (a multi-frame image, or a single frame for one plane) on its own
grid: ``ImagePositionPatient`` and ``ImageOrientationPatient`` place the first frame,
``PixelSpacing`` the rows and columns, and ``GridFrameOffsetVector`` the frames along the normal
(PS3.3 C.8.8.3.2). The offsets are relative to the first frame when the first is 0; otherwise,
for an axial cube, they are the frames' absolute z (both forms are in use). Stored values times
``DoseGridScaling`` give the dose in ``DoseUnits`` (``GY``, or ``RELATIVE`` to a reference the
file does not state). ``DoseSummationType`` says whether the cube is a whole plan's dose, one
beam's or one fraction's; several BEAM doses of one plan on one grid are summed by
:func:`sum_doses`.

The reader refuses what it cannot place exactly: frames not evenly spaced, a cube whose offsets
are neither relative nor absolute z, non-finite values, a missing scaling.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import NDArray

from spinetv.errors import DicomInputError, GeometryMismatchError
from spinetv.geometry.grid import ImageGrid
from spinetv.io._pydicom_errors import PYDICOM_PARSE_ERRORS

__all__ = [
    "RTDOSE_SOP_CLASS_UID",
    "DoseGrid",
    "PlanFractionation",
    "read_plan_fractionation",
    "read_rtdose",
    "sum_doses",
]

RTDOSE_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.481.2"
#: Frames whose spacing differs by more than this (mm) from the mean are not evenly spaced.
_FRAME_SPACING_TOLERANCE_MM = 1e-3
_UNITS = ("GY", "RELATIVE")


@dataclass(frozen=True)
class DoseGrid:
    """A dose cube on its grid.

    Parameters
    ----------
    grid : ImageGrid
        The dose grid (slice = frame, row, column), LPS mm, with its frame of reference.
    values : ndarray of float32, shape ``grid.shape``
        Dose per voxel centre, in ``units`` (read-only).
    units : str
        ``"GY"`` or ``"RELATIVE"``.
    summation : str
        DoseSummationType: ``"PLAN"``, ``"BEAM"``, ``"FRACTION"``, ``"MULTI_PLAN"``... (``"SUM"``
        for a sum made by :func:`sum_doses`).
    dose_type : str
        DoseType (``PHYSICAL``, ``EFFECTIVE``, ``ERROR``).
    source : str
        The file(s) read, for messages and reports.
    referenced_plan_uid : str
        SOP instance UID of the RTPLAN the dose belongs to ("" when not stated).
    """

    grid: ImageGrid
    values: NDArray[np.float32] = field(repr=False)
    units: str = "GY"
    summation: str = "PLAN"
    dose_type: str = "PHYSICAL"
    source: str = ""
    referenced_plan_uid: str = ""

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float32)
        if values.shape != self.grid.shape:
            raise DicomInputError(
                f"{self.source or 'dose'}: {values.shape} dose values for a grid of "
                f"{self.grid.shape}"
            )
        if not np.isfinite(values).all():
            raise DicomInputError(f"{self.source or 'dose'}: dose values that are not finite")
        if values.flags.writeable:
            values = values.copy()
            values.setflags(write=False)
        object.__setattr__(self, "values", values)
        if self.units not in _UNITS:
            raise DicomInputError(
                f"{self.source or 'dose'}: DoseUnits {self.units!r}; expected GY or RELATIVE"
            )

    @property
    def max_gy(self) -> float:
        """The largest dose in the cube, in ``units``."""
        return float(self.values.max())


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _whole(ds: pydicom.Dataset, keyword: str, default: int, source: Path) -> int:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DicomInputError(f"{source}: {keyword} {value!r} is not a whole number") from None


def _numbers(ds: pydicom.Dataset, keyword: str, count: int | None, source: Path) -> list[float]:
    value = ds.get(keyword)
    if value is None:
        raise DicomInputError(f"{source}: RTDOSE without {keyword}")
    try:
        numbers = [float(v) for v in (value if isinstance(value, Sequence) else [value])]
    except (TypeError, ValueError):
        raise DicomInputError(f"{source}: {keyword} is not numeric") from None
    if count is not None and len(numbers) != count:
        raise DicomInputError(f"{source}: {keyword} holds {len(numbers)} values, expected {count}")
    if not all(np.isfinite(numbers)):
        raise DicomInputError(f"{source}: {keyword} holds values that are not finite")
    return numbers


def _frame_offsets(
    ds: pydicom.Dataset, frames: int, position: NDArray[np.float64],
    normal: NDArray[np.float64], source: Path,
) -> NDArray[np.float64]:
    """Frame positions along the normal, relative to the first frame (mm)."""
    if frames == 1 and ds.get("GridFrameOffsetVector") is None:
        return np.zeros(1)
    offsets = np.asarray(_numbers(ds, "GridFrameOffsetVector", frames, source))
    if offsets[0] == 0.0:
        return offsets
    axial = abs(abs(normal[2]) - 1.0) < 1e-6
    if axial and abs(offsets[0] - position[2]) < 1e-3:
        # Absolute z of each frame (PS3.3 C.8.8.3.2, second form): relative to the first frame,
        # along the normal (whose z is +1 or -1).
        return (offsets - position[2]) * normal[2]
    raise DicomInputError(
        f"{source}: GridFrameOffsetVector starts at {offsets[0]:g} mm, which is neither 0 "
        f"(relative offsets) nor the first frame's z {position[2]:g} mm (absolute z of an axial "
        "dose grid)"
    )


def read_rtdose(path: str | os.PathLike[str]) -> DoseGrid:
    """Read an RTDOSE file.

    Parameters
    ----------
    path : path-like
        The RTDOSE file.

    Returns
    -------
    DoseGrid
        The dose in ``DoseUnits`` (Gy or relative) on its own grid, with its frame of
        reference.

    Raises
    ------
    DicomInputError
        The file is not a readable RTDOSE, or its geometry or scaling cannot be trusted (the
        message names the file and the element).
    """
    source = Path(path)
    try:
        ds = pydicom.dcmread(source, force=True)
    except FileNotFoundError:
        raise DicomInputError(f"{source}: no such RTDOSE file") from None
    except IsADirectoryError:
        raise DicomInputError(f"{source}: is a folder, expected an RTDOSE file") from None
    except PYDICOM_PARSE_ERRORS as error:
        raise DicomInputError(f"{source}: not a readable DICOM file ({error})") from None
    modality = _text(ds, "Modality")
    if modality != "RTDOSE" and _text(ds, "SOPClassUID") != RTDOSE_SOP_CLASS_UID:
        raise DicomInputError(f"{source}: Modality {modality or 'missing'}, expected RTDOSE")
    if "PixelData" not in ds:
        raise DicomInputError(f"{source}: RTDOSE without dose values (no PixelData)")
    rows, columns = _whole(ds, "Rows", 0, source), _whole(ds, "Columns", 0, source)
    frames = _whole(ds, "NumberOfFrames", 1, source)
    if rows < 1 or columns < 1 or frames < 1:
        raise DicomInputError(f"{source}: {frames} x {rows} x {columns} dose voxels")
    position = np.asarray(_numbers(ds, "ImagePositionPatient", 3, source))
    orientation = np.asarray(_numbers(ds, "ImageOrientationPatient", 6, source))
    row_spacing, column_spacing = _numbers(ds, "PixelSpacing", 2, source)
    along_row, along_column = orientation[:3], orientation[3:]
    normal = np.cross(along_row, along_column)
    if (
        abs(np.linalg.norm(along_row) - 1) > 1e-4
        or abs(np.linalg.norm(along_column) - 1) > 1e-4
        or abs(float(along_row @ along_column)) > 1e-4
    ):
        raise DicomInputError(f"{source}: ImageOrientationPatient is not two orthonormal axes")
    offsets = _frame_offsets(ds, frames, position, normal, source)
    steps = np.diff(offsets)
    if frames > 1:
        spacing = float(steps.mean())
        if spacing == 0 or np.abs(steps - spacing).max() > _FRAME_SPACING_TOLERANCE_MM:
            raise DicomInputError(
                f"{source}: dose frames are not evenly spaced (GridFrameOffsetVector steps "
                f"{steps.min():g} to {steps.max():g} mm)"
            )
    else:
        spacing = float(ds.get("SliceThickness") or 1.0) or 1.0
    # A decreasing offset vector runs the frames against the normal.
    slice_axis = normal if spacing > 0 else -normal
    direction = np.column_stack([slice_axis, along_column, along_row])
    grid = ImageGrid(
        (frames, rows, columns),
        (abs(spacing), row_spacing, column_spacing),
        tuple(position + offsets[0] * normal),
        direction,
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID"),
    )
    scaling_text = _text(ds, "DoseGridScaling")
    if not scaling_text:
        raise DicomInputError(f"{source}: RTDOSE without DoseGridScaling")
    scaling = _numbers(ds, "DoseGridScaling", 1, source)[0]
    try:
        stored = ds.pixel_array
    except Exception as error:  # pydicom raises several types for undecodable pixel data
        raise DicomInputError(f"{source}: dose values cannot be decoded ({error})") from None
    values = np.asarray(stored, dtype=np.float64).reshape(frames, rows, columns) * scaling
    plan_uid = ""
    plans = ds.get("ReferencedRTPlanSequence")
    if plans:
        plan_uid = _text(plans[0], "ReferencedSOPInstanceUID")
    return DoseGrid(
        grid=grid,
        values=values.astype(np.float32),
        units=_text(ds, "DoseUnits").upper() or "GY",
        summation=_text(ds, "DoseSummationType").upper() or "PLAN",
        dose_type=_text(ds, "DoseType").upper() or "PHYSICAL",
        source=str(source),
        referenced_plan_uid=plan_uid,
    )


def sum_doses(doses: Sequence[DoseGrid]) -> DoseGrid:
    """Sum doses on one grid (for example the BEAM doses of one plan).

    Parameters
    ----------
    doses : sequence of DoseGrid
        At least one; all on the same grid and frame of reference, in the same units.

    Returns
    -------
    DoseGrid
        The voxel-wise sum, summation ``"SUM"`` (the one dose itself when given one).

    Raises
    ------
    GeometryMismatchError
        The grids differ (naming the two files).
    DicomInputError
        No dose, or different units.
    """
    if not doses:
        raise DicomInputError("no dose to sum")
    if len(doses) == 1:
        return doses[0]
    first = doses[0]
    total = first.values.astype(np.float64)
    for other in doses[1:]:
        if not other.grid.matches(first.grid):
            raise GeometryMismatchError(
                f"{other.source} and {first.source}: dose grids differ; spinetv sums doses on "
                "one grid only"
            )
        if other.grid.frame_of_reference_uid != first.grid.frame_of_reference_uid:
            raise GeometryMismatchError(
                f"{other.source} and {first.source}: different frames of reference"
            )
        if other.units != first.units:
            raise DicomInputError(
                f"{other.source} ({other.units}) and {first.source} ({first.units}): "
                "different DoseUnits"
            )
        total += other.values
    return DoseGrid(
        grid=first.grid,
        values=total.astype(np.float32),
        units=first.units,
        summation="SUM",
        dose_type=first.dose_type,
        source=" + ".join(d.source for d in doses),
        referenced_plan_uid=first.referenced_plan_uid,
    )


@dataclass(frozen=True)
class PlanFractionation:
    """What an RTPLAN says of its fractionation.

    Parameters
    ----------
    fractions : int or None
        NumberOfFractionsPlanned of the first fraction group.
    prescription_gy : float or None
        The largest TargetPrescriptionDose of the DoseReferenceSequence, Gy (None when the plan
        states none).
    sop_instance_uid : str
        The plan's SOPInstanceUID (an RTDOSE refers to it).
    source : str
        The file.
    """

    fractions: int | None
    prescription_gy: float | None
    sop_instance_uid: str
    source: str


def read_plan_fractionation(path: str | os.PathLike[str]) -> PlanFractionation:
    """Read the fractions and prescription of an RTPLAN.

    Parameters
    ----------
    path : path-like
        The RTPLAN file.

    Returns
    -------
    PlanFractionation
        Fractions planned and prescription dose, where stated.

    Raises
    ------
    DicomInputError
        The file is not a readable RTPLAN.
    """
    source = Path(path)
    try:
        ds = pydicom.dcmread(source, stop_before_pixels=True, force=True)
    except FileNotFoundError:
        raise DicomInputError(f"{source}: no such RTPLAN file") from None
    except PYDICOM_PARSE_ERRORS as error:
        raise DicomInputError(f"{source}: not a readable DICOM file ({error})") from None
    if _text(ds, "Modality") != "RTPLAN":
        raise DicomInputError(f"{source}: Modality {_text(ds, 'Modality') or 'missing'}, "
                              "expected RTPLAN")
    fractions = None
    groups = ds.get("FractionGroupSequence")
    if groups:
        fractions = _whole(groups[0], "NumberOfFractionsPlanned", 0, source) or None
    doses = []
    for item in ds.get("DoseReferenceSequence") or []:
        if item.get("TargetPrescriptionDose") not in (None, ""):
            doses += _numbers(item, "TargetPrescriptionDose", 1, source)
    return PlanFractionation(
        fractions=fractions,
        prescription_gy=max(doses) if doses else None,
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        source=str(source),
    )
