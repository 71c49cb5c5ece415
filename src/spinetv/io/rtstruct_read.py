"""Reading DICOM RT Structure Sets into contours and masks.

Contours are matched to image slices by their position along the slice normal, not through
ContourImageSequence (which is optional, and often wrong after a re-export), so an RTSTRUCT can
be read onto any grid sharing its frame of reference: prone, feet-first or oblique alike.
Tolerated oddities (contours off the image or between slices, non-planar or degenerate contours,
POINT and empty ROIs) are skipped with an :class:`~spinetv.errors.RtstructWarning` and recorded
in a per-ROI :class:`RoiReadReport`.
"""

from __future__ import annotations

import os
import re
import struct
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from spinetv.errors import RtstructError, RtstructWarning, SpinetvError
from spinetv.geometry.contours import rasterize_plane_edges
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask
from spinetv.io._pydicom_errors import PYDICOM_PARSE_ERRORS
from spinetv.io._raw_sequence import (
    UNDEFINED_LENGTH,
    RawElement,
    RawWalkError,
    UndecodedSequence,
    sequence_items,
    truncation_problem,
)
from spinetv.io.reference import SeriesReference
from spinetv.structure import Provenance, RoiType, Structure

__all__ = [
    "RTSTRUCT_SOP_CLASS_UID",
    "RoiInfo",
    "RoiContour",
    "RtstructData",
    "RoiReadReport",
    "read_rtstruct",
    "rasterize_roi",
    "rasterize_roi_with_report",
    "read_structures",
]

RTSTRUCT_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.481.3"

_CONTOUR_DATA_TAG = 0x30060050
_CONTOUR_SEQUENCE_TAG = 0x30060040
_CONTOUR_IMAGE_SEQUENCE_TAG = 0x30060016
_CONTOUR_GEOMETRIC_TYPE_TAG = 0x30060042
#: A contour whose mean position is further than this fraction of the slice spacing from the
#: nearest slice centre lies "between slices" and is skipped.
_BETWEEN_SLICES_FRACTION = 0.25
#: Spread along the slice normal (mm) above which a contour is reported as not planar.
_PLANAR_TOLERANCE_MM = 0.05
#: Fractional indices are rounded to this many decimals, so vertices written exactly on pixel
#: centres by other systems fall on the same side every time despite float noise in mm -> index.
_INDEX_DECIMALS = 6

_AREA_TYPES = frozenset({"CLOSED_PLANAR", "CLOSED_PLANAR_XOR"})
#: How far (in voxels) a vertex may pass the outer pixel edge before the contour counts as
#: reaching beyond the image: contours spinetv writes for a mask touching the edge sit on the
#: edge to within rounding (index n - 0.5 + 1e-6).
_EDGE_TOLERANCE_VOXELS = 1e-3


def _short(text: str, limit: int = 64) -> str:
    """``text`` cut to ``limit`` characters, for quoting file content in a message."""
    return text if len(text) <= limit else text[:limit] + "..."


def _first_line(error: BaseException) -> str:
    """The first line of an error message, at most 200 characters."""
    text = str(error).strip().splitlines()
    return (text[0] if text else "no detail")[:200]


@dataclass(frozen=True)
class RoiInfo:
    """What an RTSTRUCT says about one ROI, besides its contours.

    Parameters
    ----------
    number : int
        ROINumber.
    name : str
        ROIName (stripped of padding).
    color_rgb : tuple of int or None
        ROIDisplayColor, None when absent or malformed.
    roi_type : RoiType or None
        RTROIInterpretedType, None when empty or not a DICOM defined term.
    interpreted_type : str
        RTROIInterpretedType exactly as found ("" when absent).
    generation_algorithm : str
        ROIGenerationAlgorithm ("" when absent).
    description : str
        ROIDescription ("" when absent).
    frame_of_reference_uid : str
        ReferencedFrameOfReferenceUID of the ROI.
    """

    number: int
    name: str
    color_rgb: tuple[int, int, int] | None = None
    roi_type: RoiType | None = None
    interpreted_type: str = ""
    generation_algorithm: str = ""
    description: str = ""
    frame_of_reference_uid: str = ""


@dataclass(frozen=True, eq=False)
class RoiContour:
    """One contour of an ROI.

    Parameters
    ----------
    geometric_type : str
        ContourGeometricType (CLOSED_PLANAR, POINT, OPEN_PLANAR, OPEN_NONPLANAR...).
    points_lps_mm : ndarray, shape (n, 3)
        The ContourData vertices in LPS mm (read-only).
    image_items : pydicom Sequence, optional
        The contour's ContourImageSequence, kept undecoded; see
        :attr:`referenced_sop_instance_uids` (informative only; matching uses positions).
    defect : str
        What is wrong with the ContourData ("" when sound): a length that is not a multiple of
        three, non-finite or non-numeric coordinates. Placing such a contour on a grid raises
        :class:`~spinetv.errors.RtstructError`.
    """

    geometric_type: str
    points_lps_mm: NDArray[np.float64]
    image_items: Any = field(default=None, repr=False, compare=False)
    defect: str = ""

    def __post_init__(self) -> None:
        points = np.array(self.points_lps_mm, dtype=np.float64).reshape(-1, 3)
        points.setflags(write=False)
        object.__setattr__(self, "points_lps_mm", points)

    @property
    def referenced_sop_instance_uids(self) -> tuple[str, ...]:
        """ContourImageSequence SOPInstanceUIDs, decoded only when asked (matching by
        position never needs them, and decoding every item costs a third of reading)."""
        return tuple(
            _text(image, "ReferencedSOPInstanceUID") for image in self.image_items or []
        )


@dataclass(frozen=True, eq=False)
class RtstructData:
    """The content of an RTSTRUCT file: ROIs and their contours in LPS mm.

    Parameters
    ----------
    path : Path
        The file read.
    sop_instance_uid : str
        The structure set's own SOPInstanceUID.
    frame_of_reference_uid : str
        The first ReferencedFrameOfReferenceSequence FrameOfReferenceUID (or, when absent, the
        first ROI's ReferencedFrameOfReferenceUID; "" when neither exists).
    referenced_study_uid, referenced_series_uid : str
        The image study and series the structure set references ("" when not stated).
    rois : tuple of RoiInfo
        The ROIs in file order.
    contours : mapping of int to tuple of RoiContour
        The contours of each ROI, by ROINumber (ROIs without contours map to ``()``).
    warnings : tuple of str
        File-level oddities found while reading.
    """

    path: Path
    sop_instance_uid: str
    frame_of_reference_uid: str
    referenced_study_uid: str
    referenced_series_uid: str
    rois: tuple[RoiInfo, ...]
    contours: Mapping[int, tuple[RoiContour, ...]] = field(repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """ROI names in file order."""
        return tuple(roi.name for roi in self.rois)

    def roi(self, name: str) -> RoiInfo:
        """The ROI called ``name``: an exact match first, else a unique case-insensitive one.

        Parameters
        ----------
        name : str
            The ROI name (the case-insensitive match also ignores surrounding spaces).

        Returns
        -------
        RoiInfo
            The matching ROI.

        Raises
        ------
        RtstructError
            When no ROI (or several) match; the message lists the names present.
        """
        exact = [roi for roi in self.rois if roi.name == name]
        if len(exact) == 1:
            return exact[0]
        if not exact:
            folded = [roi for roi in self.rois if roi.name.casefold() == name.strip().casefold()]
            if len(folded) == 1:
                return folded[0]
            exact = folded
        present = ", ".join(repr(n) for n in self.names) or "none"
        if exact:
            numbers = ", ".join(str(roi.number) for roi in exact)
            raise RtstructError(
                f"{self.path}: several ROIs match {name!r} (ROI numbers {numbers}); "
                f"ROIs present: {present}"
            )
        raise RtstructError(f"{self.path}: no ROI named {name!r}; ROIs present: {present}")

    def contours_of(self, name: str) -> tuple[RoiContour, ...]:
        """The contours of the ROI called ``name`` (see :meth:`roi`).

        Parameters
        ----------
        name : str
            The ROI name, matched as :meth:`roi` does.

        Returns
        -------
        tuple of RoiContour
            Its contours, points in LPS mm (empty when it has none).

        Raises
        ------
        RtstructError
            When no ROI (or several) match.
        """
        return self.contours.get(self.roi(name).number, ())


@dataclass(frozen=True)
class RoiReadReport:
    """What happened to an ROI's contours when it was placed on a grid.

    Parameters
    ----------
    name : str
        ROI name.
    n_contours : int
        Contours in the file for this ROI.
    n_used : int
        Contours rasterised onto the grid.
    warnings : tuple of str
        One message per kind of problem (also emitted as :class:`RtstructWarning`).
    """

    name: str
    n_contours: int
    n_used: int
    warnings: tuple[str, ...] = ()


# ---- reading the file ---------------------------------------------------------------------


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    if value is None:
        return ""
    return str(value).strip()


def _int_or_none(dataset: Dataset, keyword: str) -> int | None:
    value = dataset.get(keyword, None)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _contour_points(item: Dataset) -> tuple[NDArray[np.float64], str]:
    """ContourData as an (n, 3) array and a defect ("" when sound), parsed from the raw bytes
    when pydicom kept them raw.

    pydicom converts each DS value to a Python object on access, which dominates reading time
    for large structure sets; the raw element is a backslash-separated ASCII list numpy parses.
    """
    element = item.get_item(_CONTOUR_DATA_TAG)
    if element is None:
        return np.zeros((0, 3), dtype=np.float64), ""
    value: Any = element.value
    if isinstance(value, bytes | bytearray):
        return _points_from_bytes(bytes(value))
    if value is None or value == "":
        return np.zeros((0, 3), dtype=np.float64), ""
    try:
        numbers = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        return np.zeros((0, 3), dtype=np.float64), "ContourData holds values that are not numbers"
    return _checked_points(numbers)


def _points_from_bytes(value: bytes) -> tuple[NDArray[np.float64], str]:
    """Raw DS ContourData bytes as an (n, 3) array and a defect ("" when sound)."""
    text = value.strip(b" \x00")
    if not text:
        return np.zeros((0, 3), dtype=np.float64), ""
    parts = text.split(b"\\")
    try:
        numbers = np.array(parts, dtype=np.float64)
    except ValueError:
        try:
            numbers = np.array([float(v) for v in parts if v.strip()], dtype=np.float64)
        except ValueError:
            return (
                np.zeros((0, 3), dtype=np.float64),
                "ContourData holds values that are not numbers",
            )
    return _checked_points(numbers)


def _checked_points(numbers: NDArray[np.float64]) -> tuple[NDArray[np.float64], str]:
    """Flat ContourData numbers as (n, 3) vertices, and what is wrong with them ("" if sound).

    A length that is not a multiple of three or a non-finite coordinate means the file is
    damaged; the vertices that parse are kept so the defect can be reported with its ROI.
    """
    usable = (len(numbers) // 3) * 3
    points = numbers[:usable].reshape(-1, 3)
    if usable != len(numbers):
        return points, (
            f"ContourData holds {len(numbers)} values, not a multiple of 3 (x, y, z per vertex)"
        )
    if not np.all(np.isfinite(points)):
        return points, "ContourData holds non-finite coordinates (NaN or infinity)"
    return points, ""


def _referenced_uids(dataset: Dataset) -> tuple[str, str]:
    """Referenced (study, series) UIDs from ReferencedFrameOfReferenceSequence, "" when absent."""
    for frame in dataset.get("ReferencedFrameOfReferenceSequence", []) or []:
        for study in frame.get("RTReferencedStudySequence", []) or []:
            study_uid = _text(study, "ReferencedSOPInstanceUID")
            for series in study.get("RTReferencedSeriesSequence", []) or []:
                return study_uid, _text(series, "SeriesInstanceUID")
            return study_uid, ""
    return "", ""


def _parse_color(value: Any) -> tuple[int, int, int] | None:
    try:
        color = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(color) != 3 or any(c < 0 or c > 255 for c in color):
        return None
    return color


def _parse_roi_type(raw: str) -> RoiType | None:
    if not raw:
        return None
    try:
        return RoiType(raw.upper())
    except ValueError:
        return None


# ---- reading ContourSequence bytes without pydicom Datasets ---------------------------------
#
# Building a pydicom Dataset per contour item costs ~0.3 ms, i.e. most of the time it takes to
# read a structure set. For the common encodings (little endian, implicit or explicit VR) the
# items are walked by spinetv.io._raw_sequence instead, keeping only ContourGeometricType,
# ContourData and the raw ContourImageSequence. Anything unusual raises RawWalkError and the
# pydicom path is used, so the result never depends on which path ran.

#: ContourGeometricType values taken as they are; others (nulls, backslashes, non-ASCII) go
#: through pydicom so its conversion rules apply.
_PLAIN_CS = re.compile(rb"[A-Za-z0-9_ ]*")


def _raw_contours(roi_contour: Dataset) -> tuple[RoiContour, ...] | None:
    """The ROI's contours read from the raw ContourSequence bytes; None when pydicom must."""
    raw: Any = roi_contour.get_item(_CONTOUR_SEQUENCE_TAG)
    if raw is None:
        return ()
    value = getattr(raw, "value", None)
    if (
        not getattr(raw, "is_raw", False)
        or not isinstance(value, bytes)
        or not getattr(raw, "is_little_endian", False)
        or getattr(raw, "VR", None) not in (None, "SQ")
        or getattr(raw, "length", UNDEFINED_LENGTH) == UNDEFINED_LENGTH
    ):
        return None
    implicit = bool(raw.is_implicit_VR)
    try:
        items, _ = sequence_items(value, 0, len(value), implicit, False)
        contours = []
        for elements in items:
            contours.append(_raw_contour(value, elements, implicit))
    except (RawWalkError, struct.error):
        return None
    return tuple(contours)


def _raw_contour(value: bytes, elements: Mapping[int, RawElement], implicit: bool) -> RoiContour:
    geometric_type = ""
    found = elements.get(_CONTOUR_GEOMETRIC_TYPE_TAG)
    if found is not None:
        vr, start, stop, _ = found
        text = value[start:stop]
        if vr not in (None, b"CS") or _PLAIN_CS.fullmatch(text) is None:
            raise RawWalkError("ContourGeometricType needs pydicom's conversion")
        geometric_type = text.decode("ascii").strip().upper()
    found = elements.get(_CONTOUR_DATA_TAG)
    defect = ""
    if found is None:
        points = np.zeros((0, 3), dtype=np.float64)
    else:
        vr, start, stop, undefined = found
        if undefined:
            raise RawWalkError("ContourData of undefined length")
        points, defect = _points_from_bytes(value[start:stop])
    image_items = None
    found = elements.get(_CONTOUR_IMAGE_SEQUENCE_TAG)
    if found is not None:
        vr, start, stop, undefined = found
        if vr not in (None, b"SQ"):
            raise RawWalkError("ContourImageSequence not a sequence")
        image_items = UndecodedSequence(value[start:stop], implicit, undefined)
    return RoiContour(geometric_type, points, image_items, defect)


def _dataset_contour(contour: Dataset) -> RoiContour:
    points, defect = _contour_points(contour)
    return RoiContour(
        geometric_type=_text(contour, "ContourGeometricType").upper(),
        points_lps_mm=points,
        image_items=contour.get("ContourImageSequence", None),
        defect=defect,
    )


def _dataset_contours(roi_contour: Dataset) -> tuple[RoiContour, ...]:
    """The ROI's contours through pydicom Datasets (any encoding pydicom reads)."""
    return tuple(
        _dataset_contour(contour) for contour in roi_contour.get("ContourSequence", []) or []
    )


class _LazyContours(Mapping[int, tuple[RoiContour, ...]]):
    """ROI number -> contours, parsed from the dataset the first time an ROI is asked for.

    A structure set often holds a BODY of thousands of points that a job never needs; parsing
    only the ROIs used keeps reading proportional to what is used.
    """

    def __init__(self, roi_contours: Mapping[int, Dataset], source: Path) -> None:
        self._items = dict(roi_contours)
        self._source = source
        self._parsed: dict[int, tuple[RoiContour, ...]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, number: int) -> tuple[RoiContour, ...]:
        with self._lock:
            if number not in self._parsed:
                item = self._items[number]
                fast = _raw_contours(item)
                try:
                    parsed = fast if fast is not None else _dataset_contours(item)
                except PYDICOM_PARSE_ERRORS as error:
                    raise RtstructError(
                        f"{self._source}: the ContourSequence of ROI number {number} is damaged "
                        f"and cannot be parsed ({type(error).__name__}: {_first_line(error)})"
                    ) from None
                self._parsed[number] = parsed
            return self._parsed[number]

    def __iter__(self) -> Iterator[int]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def read_rtstruct(path: str | os.PathLike[str]) -> RtstructData:
    """Read an RTSTRUCT file: its ROIs, their contours in LPS mm and what they reference.

    Parameters
    ----------
    path : path-like
        A DICOM RT Structure Set Storage file.

    Returns
    -------
    RtstructData

    Raises
    ------
    RtstructError
        When the file is missing, not DICOM, not an RTSTRUCT, or has no StructureSetROISequence.
    """
    source = Path(path)
    if not source.is_file():
        raise RtstructError(f"{source}: no such RTSTRUCT file")
    dataset, file_warnings = _read_dataset(source)
    try:
        truncated = truncation_problem(source.read_bytes(), dataset)
    except OSError as error:
        raise RtstructError(f"{source}: cannot be read ({error.strerror or error})") from None
    if truncated:
        raise RtstructError(f"{source}: damaged RTSTRUCT: {truncated}")
    try:
        return _parse_structure_set(dataset, source, file_warnings)
    except PYDICOM_PARSE_ERRORS as error:
        raise RtstructError(
            f"{source}: damaged RTSTRUCT, cannot be parsed "
            f"({type(error).__name__}: {_first_line(error)})"
        ) from None


def _read_dataset(source: Path) -> tuple[Dataset, list[str]]:
    """The file's dataset, read strictly first and with ``force`` when it lacks a preamble.

    Files without the 128-byte preamble and "DICM" (old exports, pydicom's own test file) are
    read with ``force=True``, and accepted only when they turn out to be an RTSTRUCT.
    """
    file_warnings: list[str] = []
    try:
        dataset = pydicom.dcmread(source)
    except InvalidDicomError:
        try:
            dataset = pydicom.dcmread(source, force=True)
        except PYDICOM_PARSE_ERRORS as error:
            raise RtstructError(
                f"{source}: not a DICOM file ({type(error).__name__}: {_first_line(error)})"
            ) from None
        file_warnings.append(
            f"{source}: no DICOM preamble or file meta information; read as a raw data set"
        )
    except PYDICOM_PARSE_ERRORS as error:
        raise RtstructError(
            f"{source}: not a readable DICOM file ({type(error).__name__}: {_first_line(error)})"
        ) from None
    try:
        sop_class = _text(dataset, "SOPClassUID")
        modality = _text(dataset, "Modality")
    except PYDICOM_PARSE_ERRORS:
        sop_class = modality = ""
    if file_warnings and not sop_class and not modality:
        raise RtstructError(
            f"{source}: not a readable DICOM file (no DICM preamble, and read as a raw data set "
            "it holds no SOPClassUID or Modality)"
        )
    if sop_class != RTSTRUCT_SOP_CLASS_UID and modality != "RTSTRUCT":
        raise RtstructError(
            f"{source}: expected an RTSTRUCT (SOPClassUID {RTSTRUCT_SOP_CLASS_UID}), found "
            f"modality {_short(modality) or 'unknown'!r} SOPClassUID "
            f"{_short(sop_class) or 'empty'!r}"
        )
    return dataset, file_warnings


def _parse_structure_set(dataset: Dataset, source: Path, file_warnings: list[str]) -> RtstructData:
    """The ROIs, frame of reference and references of a read RTSTRUCT data set."""
    if "StructureSetROISequence" not in dataset:
        raise RtstructError(f"{source}: RTSTRUCT without a StructureSetROISequence")

    study_uid, series_uid = _referenced_uids(dataset)
    if not series_uid:
        file_warnings.append(
            f"{source}: no referenced image series (RTReferencedSeriesSequence missing); "
            "contours are placed by their position only"
        )

    observations: dict[int, Dataset] = {}
    for observation in dataset.get("RTROIObservationsSequence", []) or []:
        number = _int_or_none(observation, "ReferencedROINumber")
        if number is not None:
            observations.setdefault(number, observation)
    roi_contours: dict[int, Dataset] = {}
    for roi_contour in dataset.get("ROIContourSequence", []) or []:
        number = _int_or_none(roi_contour, "ReferencedROINumber")
        if number is not None:
            roi_contours.setdefault(number, roi_contour)

    rois: list[RoiInfo] = []
    contours: dict[int, Dataset] = {}
    for item in dataset.StructureSetROISequence:
        number = _int_or_none(item, "ROINumber")
        if number is None:
            file_warnings.append(f"{source}: an ROI without a valid ROINumber was skipped")
            continue
        if number in contours:
            file_warnings.append(f"{source}: ROI number {number} appears twice; kept the first")
            continue
        observation = observations.get(number, Dataset())
        roi_contour = roi_contours.get(number, Dataset())
        raw_type = _text(observation, "RTROIInterpretedType")
        rois.append(
            RoiInfo(
                number=number,
                name=_text(item, "ROIName") or f"ROI_{number}",
                color_rgb=_parse_color(roi_contour.get("ROIDisplayColor", None)),
                roi_type=_parse_roi_type(raw_type),
                interpreted_type=raw_type,
                generation_algorithm=_text(item, "ROIGenerationAlgorithm"),
                description=_text(item, "ROIDescription"),
                frame_of_reference_uid=_text(item, "ReferencedFrameOfReferenceUID"),
            )
        )
        contours[number] = roi_contour

    frame_uid = ""
    for frame in dataset.get("ReferencedFrameOfReferenceSequence", []) or []:
        frame_uid = _text(frame, "FrameOfReferenceUID")
        if frame_uid:
            break
    if not frame_uid:
        frame_uid = next((r.frame_of_reference_uid for r in rois if r.frame_of_reference_uid), "")

    data = RtstructData(
        path=source,
        sop_instance_uid=_text(dataset, "SOPInstanceUID"),
        frame_of_reference_uid=frame_uid,
        referenced_study_uid=study_uid,
        referenced_series_uid=series_uid,
        rois=tuple(rois),
        contours=_LazyContours(contours, source),
        warnings=tuple(file_warnings),
    )
    for message in file_warnings:
        warnings.warn(message, RtstructWarning, stacklevel=3)
    return data


# ---- placing contours on a grid -----------------------------------------------------------


def _check_frame(data: RtstructData, roi: RoiInfo, grid: ImageGrid) -> None:
    roi_frame = roi.frame_of_reference_uid or data.frame_of_reference_uid
    if grid.frame_of_reference_uid and roi_frame and roi_frame != grid.frame_of_reference_uid:
        raise RtstructError(
            f"{data.path}: ROI {roi.name!r} is in frame of reference {roi_frame}, but the image "
            f"is in {grid.frame_of_reference_uid}; the contours do not belong to this image"
        )


def rasterize_roi_with_report(
    data: RtstructData, name: str, grid: ImageGrid
) -> tuple[Mask, RoiReadReport]:
    """Fill an ROI's closed planar contours on the slices of ``grid``, and say what was skipped.

    Parameters
    ----------
    data : RtstructData
        A read RTSTRUCT.
    name : str
        The ROI (exact name, or a unique case-insensitive match).
    grid : ImageGrid
        The target grid; when it names a FrameOfReferenceUID it must be the ROI's.

    Returns
    -------
    (Mask, RoiReadReport)
        The voxels whose centres lie inside the ROI (contours on one slice combine even-odd,
        so inner contours are holes) and the report of skipped contours.

    Raises
    ------
    RtstructError
        On an unknown ROI name or a frame of reference mismatch.

    Notes
    -----
    Each contour is projected on the slice normal; it is used on the nearest slice when its
    mean lies within a quarter of the slice spacing of that slice's centre, and skipped (with
    a warning) when it lies between slices or outside the image. Contours that are not planar
    (spread along the normal above 0.05 mm) are reported; they are used when their spread stays
    within half a slice spacing and skipped otherwise.
    """
    return _rasterize(data, data.roi(name), grid, stacklevel=4)


def _rasterize(
    data: RtstructData, roi: RoiInfo, grid: ImageGrid, *, stacklevel: int = 3
) -> tuple[Mask, RoiReadReport]:
    _check_frame(data, roi, grid)
    contours = data.contours.get(roi.number, ())
    n_slices, n_rows, n_cols = grid.shape
    slice_spacing_mm = grid.spacing_mm[0]

    problems: dict[str, int] = {}
    worst_between_mm = 0.0
    worst_spread_mm = 0.0
    kept_rows_cols: list[NDArray[np.float64]] = []
    kept_planes: list[int] = []

    def note(kind: str) -> None:
        problems[kind] = problems.get(kind, 0) + 1

    for number, contour in enumerate(contours, start=1):
        if contour.defect:
            raise RtstructError(
                f"{data.path}: ROI {roi.name!r}, contour {number} of {len(contours)}: "
                f"{contour.defect}; the file is damaged"
            )
        kind = contour.geometric_type
        points = contour.points_lps_mm
        if kind == "POINT":
            note("point")
            continue
        if kind not in _AREA_TYPES:
            note("open")
            continue
        if len(points) < 3:
            note("degenerate")
            continue
        ijk = np.round(grid.lps_to_index(points), _INDEX_DECIMALS)
        along = ijk[:, 0]
        spread_mm = float(along.max() - along.min()) * slice_spacing_mm
        if spread_mm > _PLANAR_TOLERANCE_MM:
            worst_spread_mm = max(worst_spread_mm, spread_mm)
            if spread_mm > 0.5 * slice_spacing_mm:
                note("non_planar_skipped")
                continue
            note("non_planar")
        position = float(along.mean())
        plane = int(np.floor(position + 0.5))
        if plane < 0 or plane >= n_slices:
            note("off_image")
            continue
        offset_mm = abs(position - plane) * slice_spacing_mm
        if offset_mm > _BETWEEN_SLICES_FRACTION * slice_spacing_mm:
            worst_between_mm = max(worst_between_mm, offset_mm)
            note("between")
            continue
        kept_rows_cols.append(ijk[:, 1:])
        kept_planes.append(plane)

    edges, planes, clipped_in_plane = _plane_edges(kept_rows_cols, kept_planes, n_rows, n_cols)
    messages = _messages(
        data, roi, problems, worst_between_mm, worst_spread_mm, clipped_in_plane, slice_spacing_mm
    )
    n_used = len(kept_rows_cols)
    mask = _fill(grid, [edges], [planes])
    if not contours:
        messages.append(f"{data.path}: ROI {roi.name!r} has no contours; its mask is empty")
    elif mask.is_empty and not messages:
        messages.append(f"{data.path}: ROI {roi.name!r} covers no voxel centre of the image")
    for message in messages:
        warnings.warn(message, RtstructWarning, stacklevel=stacklevel)
    report = RoiReadReport(roi.name, len(contours), n_used, tuple(messages))
    return mask, report


def _plane_edges(
    rows_cols: Sequence[NDArray[np.float64]], planes: Sequence[int], n_rows: int, n_cols: int
) -> tuple[NDArray[np.float64], NDArray[np.intp], int]:
    """The non-horizontal edges ``r0, c0, r1, c1`` of closed contours, their planes, and how
    many contours reach beyond the image rows or columns.

    Done for all contours at once: per-contour numpy calls cost more than the work itself.
    Each contour needs at least one vertex.
    """
    if not rows_cols:
        return np.zeros((0, 4), dtype=np.float64), np.zeros(0, dtype=np.intp), 0
    lengths = np.array([len(part) for part in rows_cols], dtype=np.intp)
    starts = np.cumsum(lengths) - lengths
    vertices = np.concatenate(rows_cols, axis=0)
    following = np.arange(1, len(vertices) + 1)
    following[starts + lengths - 1] = starts
    edges = np.concatenate([vertices, vertices[following]], axis=1)
    edge_planes = np.repeat(np.asarray(planes, dtype=np.intp), lengths)
    low = np.minimum.reduceat(vertices, starts, axis=0)
    high = np.maximum.reduceat(vertices, starts, axis=0)
    edge = 0.5 + _EDGE_TOLERANCE_VOXELS
    clipped = (
        (low[:, 0] < -edge)
        | (high[:, 0] > n_rows - 1 + edge)
        | (low[:, 1] < -edge)
        | (high[:, 1] > n_cols - 1 + edge)
    )
    sloped = edges[:, 0] != edges[:, 2]
    return edges[sloped], edge_planes[sloped], int(np.count_nonzero(clipped))


def _messages(
    data: RtstructData,
    roi: RoiInfo,
    problems: Mapping[str, int],
    worst_between_mm: float,
    worst_spread_mm: float,
    clipped_in_plane: int,
    slice_spacing_mm: float,
) -> list[str]:
    where = f"{data.path}: ROI {roi.name!r}"
    texts = {
        "point": " of type POINT (a marker, not a volume); skipped",
        "open": " open (not CLOSED_PLANAR); skipped",
        "degenerate": " with fewer than 3 points (degenerate); skipped",
        "off_image": " on planes outside the image's slice range; skipped",
        "between": (
            f" between image slices (up to {worst_between_mm:.2f} mm from the nearest "
            f"slice centre, slice spacing {slice_spacing_mm:g} mm); skipped"
        ),
        "non_planar": (
            f" not planar or not parallel to the image slices (spread up to "
            f"{worst_spread_mm:.2f} mm along the slice normal); used on the nearest slice"
        ),
        "non_planar_skipped": (
            f" not planar or not parallel to the image slices (spread up to "
            f"{worst_spread_mm:.2f} mm along the slice normal); skipped"
        ),
    }
    messages = [
        f"{where}: {count} {'contour' if count == 1 else 'contours'}{texts[kind]}"
        for kind, count in problems.items()
    ]
    if clipped_in_plane:
        messages.append(
            f"{where}: {clipped_in_plane} contour(s) extend beyond the image edge; clipped to it"
        )
    return messages


def _fill(
    grid: ImageGrid,
    edge_parts: Sequence[NDArray[np.float64]],
    plane_parts: Sequence[NDArray[np.intp]],
) -> Mask:
    if not edge_parts:
        return Mask.empty(grid)
    edges = np.concatenate(edge_parts, axis=0)
    planes = np.concatenate(plane_parts, axis=0)
    if len(edges) == 0:
        return Mask.empty(grid)
    _, n_rows, n_cols = grid.shape
    row_lo = max(int(np.ceil(min(edges[:, 0].min(), edges[:, 2].min()))), 0)
    row_hi = min(int(np.ceil(max(edges[:, 0].max(), edges[:, 2].max()))), n_rows)
    col_lo = max(int(np.ceil(min(edges[:, 1].min(), edges[:, 3].min()))), 0)
    col_hi = min(int(np.ceil(max(edges[:, 1].max(), edges[:, 3].max()))), n_cols)
    plane_lo, plane_hi = int(planes.min()), int(planes.max()) + 1
    if row_hi <= row_lo or col_hi <= col_lo:
        return Mask.empty(grid)
    shifted = edges - np.array([row_lo, col_lo, row_lo, col_lo], dtype=np.float64)
    filled = rasterize_plane_edges(
        shifted, planes - plane_lo, (plane_hi - plane_lo, row_hi - row_lo, col_hi - col_lo)
    )
    box = BoundingBox((plane_lo, row_lo, col_lo), (plane_hi, row_hi, col_hi))
    return Mask.from_box(grid, box, filled)


def rasterize_roi(data: RtstructData, name: str, grid: ImageGrid) -> Mask:
    """The mask of an ROI on ``grid`` (see :func:`rasterize_roi_with_report`).

    Parameters
    ----------
    data : RtstructData
        A read RTSTRUCT.
    name : str
        The ROI (exact name, or a unique case-insensitive match).
    grid : ImageGrid
        The target grid; when it names a FrameOfReferenceUID it must be the ROI's.

    Returns
    -------
    Mask
        The voxels whose centres lie inside the ROI; skipped contours are warned about.

    Raises
    ------
    RtstructError
        On an unknown ROI name or a frame of reference mismatch.
    """
    mask, _ = _rasterize(data, data.roi(name), grid, stacklevel=4)
    return mask


def _grid_of(grid_or_reference: ImageGrid | SeriesReference) -> ImageGrid:
    if isinstance(grid_or_reference, SeriesReference):
        return grid_or_reference.grid
    if isinstance(grid_or_reference, ImageGrid):
        return grid_or_reference
    raise SpinetvError(
        f"expected an ImageGrid or a SeriesReference, got {type(grid_or_reference).__name__}"
    )


def read_structures(
    path: str | os.PathLike[str] | RtstructData,
    grid_or_reference: ImageGrid | SeriesReference,
    *,
    names: Iterable[str] | None = None,
) -> dict[str, Structure]:
    """Read ROIs of an RTSTRUCT as :class:`~spinetv.structure.Structure` values on a grid.

    Parameters
    ----------
    path : path-like or RtstructData
        The RTSTRUCT file (or its already read content).
    grid_or_reference : ImageGrid or SeriesReference
        The image the masks are made on.
    names : iterable of str, optional
        The ROIs to read (exact or unique case-insensitive names). By default every ROI except
        those made only of POINT contours (markers).

    Returns
    -------
    dict of str to Structure
        Keyed by the ROI name as written in the file, in file order. Each structure's
        provenance records the source file, ROI number, the type found in the file and the
        read warnings (``details["read_warnings"]``).

    Raises
    ------
    RtstructError
        On an unreadable file, a frame of reference mismatch or an unknown ROI name.
    """
    data = path if isinstance(path, RtstructData) else read_rtstruct(path)
    grid = _grid_of(grid_or_reference)
    selected = _selected_rois(data, names)
    # The frame of reference is checked first, so the series warning below never claims a
    # match that is about to be refused.
    for roi in selected:
        _check_frame(data, roi, grid)
    if (
        isinstance(grid_or_reference, SeriesReference)
        and data.referenced_series_uid
        and data.referenced_series_uid != grid_or_reference.series_instance_uid
    ):
        same_frame = bool(grid.frame_of_reference_uid) and any(
            (roi.frame_of_reference_uid or data.frame_of_reference_uid)
            == grid.frame_of_reference_uid
            for roi in selected
        )
        how = (
            "same frame of reference, so contours are placed by position"
            if same_frame
            else "the frame of reference cannot be compared, so contours are placed by position"
        )
        warnings.warn(
            f"{data.path}: references image series {data.referenced_series_uid}, not the given "
            f"series {grid_or_reference.series_instance_uid} ({how})",
            RtstructWarning,
            stacklevel=2,
        )

    structures: dict[str, Structure] = {}
    for roi in selected:
        if roi.name in structures:
            warnings.warn(
                f"{data.path}: ROI name {roi.name!r} appears more than once; kept the first",
                RtstructWarning,
                stacklevel=2,
            )
            continue
        mask, report = _rasterize(data, roi, grid)
        structures[roi.name] = Structure(
            name=roi.name,
            mask=mask,
            roi_type=roi.roi_type or RoiType.ORGAN,
            color_rgb=roi.color_rgb or (255, 255, 0),
            provenance=Provenance(
                algorithm=roi.generation_algorithm or "MANUAL",
                description=roi.description,
                details={
                    "source": str(data.path),
                    "roi_number": roi.number,
                    "interpreted_type_in_file": roi.interpreted_type,
                    "read_warnings": list(report.warnings),
                },
            ),
        )
    return structures


def _selected_rois(data: RtstructData, names: Iterable[str] | None) -> list[RoiInfo]:
    """The ROIs named, or every ROI but those made only of POINT contours (warned)."""
    if names is None:
        selected = []
        for roi in data.rois:
            kinds = {c.geometric_type for c in data.contours.get(roi.number, ())}
            if kinds and kinds <= {"POINT"}:
                warnings.warn(
                    f"{data.path}: ROI {roi.name!r} holds only POINT contours (a marker); "
                    "not read as a structure",
                    RtstructWarning,
                    stacklevel=3,
                )
                continue
            selected.append(roi)
    else:
        selected = [data.roi(name) for name in names]
    return selected
