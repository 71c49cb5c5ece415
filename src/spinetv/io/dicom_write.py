"""Writing a volume as a DICOM image series: one single-frame file per slice.

Writing makes one CT Image Storage (or MR Image Storage) file per slice, for any
:class:`ImageGrid` (head- or feet-first, supine, prone, decubitus, oblique, anisotropic).
Reading is in :mod:`spinetv.io.dicom_read`.
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import ArrayLike, NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from spinetv.errors import DicomInputError, OutputExistsError
from spinetv.geometry.grid import ImageGrid
from spinetv.io.reference import PATIENT_KEYWORDS, STUDY_KEYWORDS, SeriesReference
from spinetv.version import __version__
from spinetv.vocabulary import Modality

__all__ = ["write_dicom_series", "patient_position_of"]

_PYDICOM_3 = int(pydicom.__version__.split(".")[0]) >= 3

# Axial ImageOrientationPatient of each standard patient position (row cosines, column cosines).
_POSITION_ORIENTATIONS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "HFS": ((1, 0, 0), (0, 1, 0)),
    "FFS": ((-1, 0, 0), (0, 1, 0)),
    "HFP": ((-1, 0, 0), (0, -1, 0)),
    "FFP": ((1, 0, 0), (0, -1, 0)),
    "HFDR": ((0, -1, 0), (1, 0, 0)),
    "HFDL": ((0, 1, 0), (-1, 0, 0)),
    "FFDR": ((0, 1, 0), (1, 0, 0)),
    "FFDL": ((0, -1, 0), (-1, 0, 0)),
}


def patient_position_of(grid: ImageGrid) -> str:
    """The DICOM PatientPosition (HFS, FFS, HFP...) whose axial orientation ``grid`` has.

    Parameters
    ----------
    grid : ImageGrid
        An image grid; its row axis (array axis 2) and column axis (array axis 1) are compared
        with the standard axial orientations of each patient position.

    Returns
    -------
    str
        "HFS", "FFS", "HFP", "FFP", "HFDR", "HFDL", "FFDR" or "FFDL"; "" when the grid is not an
        axial grid in one of those orientations (sagittal, coronal, oblique).
    """
    row_lps = grid.direction[:, 2]
    column_lps = grid.direction[:, 1]
    for position, (row, column) in _POSITION_ORIENTATIONS.items():
        if np.allclose(row_lps, row, atol=0.05) and np.allclose(column_lps, column, atol=0.05):
            return position
    return ""


def _stored_values(
    voxels: NDArray[np.generic], intercept: float, what: str
) -> tuple[NDArray[np.generic], int]:
    """Voxel values minus ``intercept``, rounded, as uint16 or int16, and PixelRepresentation."""
    stored = np.rint(np.asarray(voxels, dtype=np.float64) - intercept)
    if not np.all(np.isfinite(stored)):
        raise DicomInputError(f"{what}: voxels hold NaN or infinite values; expected finite HU")
    low, high = float(stored.min()), float(stored.max())
    if low >= 0 and high <= np.iinfo(np.uint16).max:
        return stored.astype(np.uint16), 0
    if low >= np.iinfo(np.int16).min and high <= np.iinfo(np.int16).max:
        return stored.astype(np.int16), 1
    raise DicomInputError(
        f"{what}: voxel values {low + intercept:g}..{high + intercept:g} minus the rescale "
        f"intercept {intercept:g} do not fit 16 bits; expected a range of at most 65535"
    )


def _ds_string(value: float) -> str:
    """A DICOM DS string (at most 16 characters) for a float."""
    text = f"{value:.10g}"
    if len(text) > 16:
        text = f"{value:.8g}"
    if len(text) > 16:
        text = f"{value:.6e}"
    return text


def _base_dataset(
    grid: ImageGrid,
    *,
    modality: str,
    patient: Mapping[str, str],
    study: Mapping[str, str],
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    series_description: str,
    patient_position: str,
    pixel_representation: int,
    intercept: float | None,
) -> Dataset:
    now = _dt.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage if modality == "CT" else MRImageStorage
    ds.InstanceCreationDate = date
    ds.InstanceCreationTime = time
    # Patient module (type 2 unless given).
    ds.PatientName = patient.get("PatientName", "")
    ds.PatientID = patient.get("PatientID", "")
    ds.PatientBirthDate = patient.get("PatientBirthDate", "")
    ds.PatientSex = patient.get("PatientSex", "")
    # General Study module.
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = study.get("StudyDate", date)
    ds.StudyTime = study.get("StudyTime", time)
    ds.StudyID = study.get("StudyID", "")
    ds.AccessionNumber = study.get("AccessionNumber", "")
    ds.ReferringPhysicianName = study.get("ReferringPhysicianName", "")
    if study.get("StudyDescription"):
        ds.StudyDescription = study["StudyDescription"]
    # General Series module.
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = "1"
    ds.SeriesDate = date
    ds.SeriesTime = time
    if series_description:
        ds.SeriesDescription = series_description
    ds.PatientPosition = patient_position
    # Type 2C in General Series; dciodvfy requires it when ImageLaterality is absent.
    ds.Laterality = ""
    # Frame of Reference and General Equipment modules.
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "spinetv"
    ds.SoftwareVersions = f"spinetv {__version__}"
    # General Image / Acquisition.
    ds.ContentDate = date
    ds.ContentTime = time
    ds.AcquisitionNumber = "1"
    ds.ImageType = (
        ["DERIVED", "SECONDARY", "AXIAL"] if modality == "CT" else ["DERIVED", "SECONDARY", "OTHER"]
    )
    # Image Plane module.
    row_lps, column_lps = grid.direction[:, 2], grid.direction[:, 1]
    ds.ImageOrientationPatient = [_ds_string(float(v)) for v in (*row_lps, *column_lps)]
    ds.PixelSpacing = [_ds_string(grid.spacing_mm[1]), _ds_string(grid.spacing_mm[2])]
    ds.SliceThickness = _ds_string(grid.spacing_mm[0])
    ds.SpacingBetweenSlices = _ds_string(grid.spacing_mm[0])
    # Image Pixel module.
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = grid.shape[1]
    ds.Columns = grid.shape[2]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = pixel_representation
    if modality == "CT":
        ds.KVP = ""
        ds.RescaleIntercept = _ds_string(float(intercept or 0.0))
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
    else:
        # MR Image module: type 1 sequence attributes get the "research mode" values.
        ds.ScanningSequence = "RM"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D"
        ds.RepetitionTime = ""
        ds.EchoTime = ""
        ds.EchoTrainLength = ""
    return ds


def _save(ds: Dataset, path: Path) -> None:
    if _PYDICOM_3:
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
    else:  # pragma: no cover - pydicom 2.4
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        pydicom.dcmwrite(path, ds, write_like_original=False)


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: is a file, expected a folder for the DICOM series")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{out}: folder exists and is not empty; pass overwrite=True (--force) to replace it"
        )


def _move_into_place(temp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished ``temp`` folder onto ``out`` (replacing it only when allowed)."""
    _check_out_dir(out, overwrite)
    if not out.exists():
        os.replace(temp, out)
        return
    old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
    os.replace(out, old)
    try:
        os.replace(temp, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_dicom_series(
    voxels: ArrayLike,
    grid: ImageGrid,
    out_dir: str | os.PathLike[str],
    *,
    modality: Modality | str = Modality.CT,
    patient: Mapping[str, str] | None = None,
    study: Mapping[str, str] | None = None,
    series_description: str = "",
    overwrite: bool = False,
    rescale_intercept: float = -1024.0,
    patient_position: str | None = None,
) -> SeriesReference:
    """Write a volume as a DICOM series, one single-frame file per slice.

    Parameters
    ----------
    voxels : array_like, shape = grid.shape
        Values in array order (slice, row, column): HU for CT. Rounded to whole numbers and
        stored as 16-bit integers (unsigned when they fit, else signed).
    grid : ImageGrid
        Geometry. Array axis 2 (columns) gives the first ImageOrientationPatient triplet, axis 1
        (rows) the second; slice ``k`` is written at ImagePositionPatient
        ``grid.index_to_lps((k, 0, 0))``, so any grid (HFS, FFS, HFP, decubitus, oblique,
        anisotropic) round-trips. ``grid.frame_of_reference_uid`` is used when set, else a new
        UID is made.
    out_dir : path-like
        Folder to create. An existing non-empty folder is refused unless ``overwrite``.
    modality : Modality or str
        CT or MR (any case): CT Image Storage or MR Image Storage.
    patient : mapping, optional
        PatientName, PatientID, PatientBirthDate, PatientSex (empty when absent).
    study : mapping, optional
        StudyDate, StudyTime, StudyID, AccessionNumber, ReferringPhysicianName,
        StudyDescription, and optionally StudyInstanceUID to add the series to an existing study.
    series_description : str
        SeriesDescription.
    overwrite : bool
        Replace a non-empty ``out_dir`` (the whole folder is replaced).
    rescale_intercept : float
        CT RescaleIntercept in HU (RescaleSlope is 1); stored value = HU - intercept. Ignored
        for MR, whose values are stored as they are.
    patient_position : str, optional
        PatientPosition; by default derived from the grid direction (see
        :func:`patient_position_of`), left empty for a non-axial grid.

    Returns
    -------
    SeriesReference
        The written series: its grid (with the FrameOfReferenceUID used), the UIDs in slice
        order, patient and study values, and the file paths.

    Raises
    ------
    DicomInputError
        The voxels do not match the grid, are not finite or do not fit 16 bits.
    OutputExistsError
        ``out_dir`` is a file, or a non-empty folder and ``overwrite`` is false.

    Notes
    -----
    Files are written into a temporary folder beside ``out_dir`` that is renamed onto it once
    complete, so a failure leaves no partial series.
    """
    kind = Modality.parse(modality)
    if kind not in (Modality.CT, Modality.MR):
        raise DicomInputError(f"cannot write modality {modality!r}; expected 'CT' or 'MR'")
    modality = kind.value
    array = np.asarray(voxels)
    out = Path(out_dir)
    if array.shape != grid.shape:
        raise DicomInputError(
            f"{out}: voxel array of shape {array.shape} does not match {grid.describe()}"
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DicomInputError(f"{out}: voxels must be numbers, got dtype {array.dtype}")
    _check_out_dir(out, overwrite)
    patient = dict(patient or {})
    study = dict(study or {})
    unknown = (set(patient) - set(PATIENT_KEYWORDS)) | (
        set(study) - set(STUDY_KEYWORDS) - {"StudyInstanceUID"}
    )
    if unknown:
        raise DicomInputError(
            f"{out}: unknown patient/study keywords {sorted(unknown)}; expected some of "
            f"{list(PATIENT_KEYWORDS)} and {[*STUDY_KEYWORDS, 'StudyInstanceUID']}"
        )
    intercept = float(rescale_intercept) if modality == "CT" else 0.0
    stored, pixel_representation = _stored_values(array, intercept, str(out))
    frame_uid = grid.frame_of_reference_uid or generate_uid()
    study_uid = study.pop("StudyInstanceUID", "") or generate_uid()
    series_uid = generate_uid()
    position = patient_position if patient_position is not None else patient_position_of(grid)
    base = _base_dataset(
        grid,
        modality=modality,
        patient=patient,
        study=study,
        study_uid=study_uid,
        series_uid=series_uid,
        frame_uid=frame_uid,
        series_description=series_description,
        patient_position=position,
        pixel_representation=pixel_representation,
        intercept=intercept,
    )
    sop_uids = tuple(generate_uid() for _ in range(grid.shape[0]))
    names = tuple(f"{modality}{k + 1:04d}.dcm" for k in range(grid.shape[0]))
    positions_lps = grid.index_to_lps(
        np.stack([np.arange(grid.shape[0]), np.zeros(grid.shape[0]), np.zeros(grid.shape[0])], 1)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        for k, (sop_uid, name) in enumerate(zip(sop_uids, names)):
            ds = copy.deepcopy(base)  # never share elements between slices
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = base.SOPClassUID
            meta.MediaStorageSOPInstanceUID = sop_uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta = meta
            ds.SOPInstanceUID = sop_uid
            ds.InstanceNumber = str(k + 1)
            ds.ImagePositionPatient = [_ds_string(float(v)) for v in positions_lps[k]]
            ds.SliceLocation = _ds_string(float(positions_lps[k] @ grid.slice_normal_lps))
            ds.PixelData = (
                np.ascontiguousarray(stored[k]).astype(stored.dtype.newbyteorder("<")).tobytes()
            )
            ds["PixelData"].VR = "OW"
            _save(ds, temp / name)
        _move_into_place(temp, out, overwrite)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
    ref_grid = grid.with_frame_of_reference(frame_uid)
    return SeriesReference(
        grid=ref_grid,
        sop_instance_uids=sop_uids,
        sop_class_uid=str(base.SOPClassUID),
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        modality=kind,
        patient={k: str(base.get(k, "")) for k in PATIENT_KEYWORDS},
        study={k: str(base.get(k, "")) for k in STUDY_KEYWORDS},
        paths=tuple(out / name for name in names),
    )
