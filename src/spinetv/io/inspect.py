"""What an RTSTRUCT, a DICOM folder, a DICOMDIR or a label map holds, without running a job.

Headers only: no pixel data are decoded. Each function returns a frozen summary; ``spinetv info``
prints it as a table or JSON.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from spinetv.errors import SpinetvError
from spinetv.geometry.grid import ImageGrid
from spinetv.io.dicom_read import SeriesSummary, list_series, read_dicom_series
from spinetv.io.dicom_write import patient_position_of
from spinetv.io.images import IMAGE_SUFFIXES, read_label_map
from spinetv.io.rtstruct_read import read_rtstruct

__all__ = [
    "RoiSummary",
    "RtstructSummary",
    "SeriesInfo",
    "FolderSummary",
    "LabelSummary",
    "LabelMapSummary",
    "inspect_path",
    "inspect_rtstruct",
    "inspect_folder",
    "inspect_label_map",
]


@dataclass(frozen=True)
class RoiSummary:
    """One ROI of a structure set.

    Parameters
    ----------
    number : int
        ROINumber.
    name : str
        ROIName.
    roi_type : str
        RTROIInterpretedType as written ("" when empty).
    color_rgb : tuple of int or None
        ROIDisplayColor.
    contours : int
        Number of contours.
    planes : int
        Number of distinct contour planes (rounded to 0.01 mm along the mean contour normal
        direction, taken as patient z for axial sets).
    geometric_types : tuple of str
        The ContourGeometricTypes used.
    frame_of_reference_uid : str
        The ROI's ReferencedFrameOfReferenceUID.
    damaged_contours : int
        Contours whose ContourData is damaged (non-finite, not numbers, or a length that is
        not a multiple of 3); placing the ROI on an image refuses them.
    """

    number: int
    name: str
    roi_type: str
    color_rgb: tuple[int, int, int] | None
    contours: int
    planes: int
    geometric_types: tuple[str, ...]
    frame_of_reference_uid: str
    damaged_contours: int = 0


@dataclass(frozen=True)
class RtstructSummary:
    """A structure set: what it references and its ROIs."""

    path: str
    frame_of_reference_uid: str
    referenced_study_uid: str
    referenced_series_uid: str
    rois: tuple[RoiSummary, ...]
    warnings: tuple[str, ...] = ()
    kind: str = "rtstruct"


@dataclass(frozen=True)
class SeriesInfo:
    """One image series of a folder or DICOMDIR.

    Parameters
    ----------
    series_instance_uid, description, modality, series_number : str
        As written ("" when absent).
    slices, rows, columns : int
        File count and slice size in pixels.
    multiframe : bool
        Enhanced or multi-frame files (not read by spinetv).
    spacing_mm : tuple of float or None
        (slice, row, column) spacing in mm, when the series reads as one regular volume.
    patient_position : str
        HFS, FFS, HFP... from the orientation; "non-axial" for other orientations; "" unknown.
    frame_of_reference_uid : str
        FrameOfReferenceUID ("" when absent).
    transfer_syntax : str
        The first file's transfer syntax name.
    problem : str
        Why the series cannot be read as a volume ("" when it can).
    """

    series_instance_uid: str
    description: str
    modality: str
    series_number: str
    slices: int
    rows: int
    columns: int
    multiframe: bool
    spacing_mm: tuple[float, float, float] | None
    patient_position: str
    frame_of_reference_uid: str
    transfer_syntax: str
    problem: str = ""


@dataclass(frozen=True)
class FolderSummary:
    """The image series and structure sets in a folder (or listed by a DICOMDIR)."""

    path: str
    series: tuple[SeriesInfo, ...]
    rtstructs: tuple[str, ...]
    kind: str = "folder"


@dataclass(frozen=True)
class LabelSummary:
    """One label value of a label map: its voxel count and volume in cc."""

    value: int
    voxels: int
    volume_cc: float


@dataclass(frozen=True)
class LabelMapSummary:
    """A label image: its grid and the labels present."""

    path: str
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    patient_position: str
    labels: tuple[LabelSummary, ...]
    kind: str = "labelmap"


def _position(grid: ImageGrid) -> str:
    return patient_position_of(grid) or "non-axial"


def inspect_rtstruct(path: str | os.PathLike[str]) -> RtstructSummary:
    """Summarise an RTSTRUCT: references, and each ROI's type, colour and contours.

    Parameters
    ----------
    path : path-like
        The RTSTRUCT file.

    Returns
    -------
    RtstructSummary
        The frame of reference and referenced study and series UIDs, per ROI its number,
        name, type, colour, contour count, plane count (distinct mean LPS z of its undamaged
        contours, to 0.01 mm), geometric types and damaged contour count, and the reading
        warnings (each once).

    Raises
    ------
    RtstructError
        The file is not a readable RTSTRUCT, or its contours are damaged.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_rtstruct(path)
        rois = []
        for roi in data.rois:
            contours = data.contours.get(roi.number, ())
            planes = {
                round(float(np.mean(c.points_lps_mm[:, 2])), 2)
                for c in contours
                if len(c.points_lps_mm) and not c.defect
            }
            rois.append(
                RoiSummary(
                    number=roi.number,
                    name=roi.name,
                    roi_type=roi.interpreted_type,
                    color_rgb=roi.color_rgb,
                    contours=len(contours),
                    planes=len(planes),
                    geometric_types=tuple(sorted({c.geometric_type for c in contours})),
                    frame_of_reference_uid=roi.frame_of_reference_uid,
                    damaged_contours=sum(1 for c in contours if c.defect),
                )
            )
    return RtstructSummary(
        path=str(data.path),
        frame_of_reference_uid=data.frame_of_reference_uid,
        referenced_study_uid=data.referenced_study_uid,
        referenced_series_uid=data.referenced_series_uid,
        rois=tuple(rois),
        warnings=tuple(dict.fromkeys(str(w.message) for w in caught)),
    )


def _series_info(source: Path, summary: SeriesSummary) -> SeriesInfo:
    spacing: tuple[float, float, float] | None = None
    position = frame = problem = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = read_dicom_series(list(summary.paths), series_uid=summary.series_instance_uid)
        grid = image.grid
        spacing = (grid.spacing_mm[0], grid.spacing_mm[1], grid.spacing_mm[2])
        position, frame = _position(grid), grid.frame_of_reference_uid
    except SpinetvError as error:
        problem = str(error).replace(f"{source}: ", "")
    try:
        meta = pydicom.dcmread(summary.paths[0], stop_before_pixels=True).file_meta
        syntax = str(meta.TransferSyntaxUID.name)
    except Exception:  # noqa: BLE001 - informative only; the series was read above
        syntax = ""
    return SeriesInfo(
        series_instance_uid=summary.series_instance_uid,
        description=summary.series_description,
        modality=summary.modality,
        series_number=summary.series_number,
        slices=summary.slice_count,
        rows=summary.rows,
        columns=summary.columns,
        multiframe=summary.multiframe,
        spacing_mm=spacing,
        patient_position=position,
        frame_of_reference_uid=frame,
        transfer_syntax=syntax,
        problem=problem,
    )


def _rtstruct_files(folder: Path) -> tuple[str, ...]:
    found = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
        except Exception:  # noqa: BLE001 - any unreadable file is simply not an RTSTRUCT
            continue
        if str(ds.get("Modality", "")) == "RTSTRUCT":
            found.append(str(path))
    return tuple(found)


def inspect_folder(path: str | os.PathLike[str]) -> FolderSummary:
    """Summarise the image series (and RTSTRUCT files) of a folder or DICOMDIR.

    Parameters
    ----------
    path : path-like
        A folder or a DICOMDIR file; reading warnings are silenced here.

    Returns
    -------
    FolderSummary
        Every image series found, the RTSTRUCT files of the folder, and whether it is a
        ``"dicomdir"`` or a plain ``"folder"``.

    Raises
    ------
    DicomInputError
        No image series is found (the message says why: sub-folders, non-image files...).
    """
    source = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summaries = list_series(source)
    folder = source if source.is_dir() else source.parent
    is_dicomdir = source.name.upper() == "DICOMDIR" or (folder / "DICOMDIR").is_file()
    return FolderSummary(
        path=str(source),
        series=tuple(_series_info(source, s) for s in summaries),
        rtstructs=_rtstruct_files(folder),
        kind="dicomdir" if is_dicomdir else "folder",
    )


def inspect_label_map(path: str | os.PathLike[str]) -> LabelMapSummary:
    """Summarise a label image: grid and each label's voxel count and volume.

    Parameters
    ----------
    path : path-like
        A NIfTI, NRRD or MetaImage label file.

    Returns
    -------
    LabelMapSummary
        Shape (slice, row, column), spacing in mm, patient position and, per non-zero label,
        its voxel count and volume in cm³ (3 decimals).

    Raises
    ------
    ImageInputError
        The file cannot be read as an integer label image.
    """
    labels = read_label_map(path)
    grid = labels.grid
    values, counts = np.unique(np.asarray(labels.box_array), return_counts=True)
    voxel_cc = float(np.prod(grid.spacing_mm)) / 1000.0
    found = tuple(
        LabelSummary(int(v), int(n), round(int(n) * voxel_cc, 3))
        for v, n in zip(values, counts)
        if v != 0
    )
    return LabelMapSummary(
        path=str(path),
        shape=(grid.shape[0], grid.shape[1], grid.shape[2]),
        spacing_mm=(grid.spacing_mm[0], grid.spacing_mm[1], grid.spacing_mm[2]),
        patient_position=_position(grid),
        labels=found,
    )


def inspect_path(
    path: str | os.PathLike[str],
) -> RtstructSummary | FolderSummary | LabelMapSummary:
    """Summarise whatever ``path`` is: a label image (by its suffix), a folder or DICOMDIR, or
    an RTSTRUCT file (anything else is read as one and refused if it is not).

    Parameters
    ----------
    path : path-like
        A label image (``IMAGE_SUFFIXES``), a folder, a DICOMDIR or an RTSTRUCT file.

    Returns
    -------
    RtstructSummary or FolderSummary or LabelMapSummary
        The summary of :func:`inspect_rtstruct`, :func:`inspect_folder` or
        :func:`inspect_label_map`.

    Raises
    ------
    SpinetvError
        The path does not exist or cannot be read as any of these (a
        :class:`RtstructError`, :class:`DicomInputError` or :class:`ImageInputError`).
    """
    source = Path(path)
    if not source.exists():
        raise SpinetvError(f"{source}: no such file or folder")
    if source.is_file() and source.name.lower().endswith(IMAGE_SUFFIXES):
        return inspect_label_map(source)
    if source.is_dir() or source.name.upper() == "DICOMDIR":
        return inspect_folder(source)
    return inspect_rtstruct(source)
