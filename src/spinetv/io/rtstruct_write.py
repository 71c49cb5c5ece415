"""Writing DICOM RT Structure Sets: new ones, or new ROIs appended to an existing one.

Writing is strict: every structure must lie on the referenced image's slices (its own pixels, or
a finer in-plane grid on the same slices), names must be unique and fit the DICOM LO limit, and
the FrameOfReferenceUID is always the image's. Each
slice of a mask becomes CLOSED_PLANAR contours with sub-voxel vertices (holes are separate inner
contours, combined even-odd as PS3.3 C.8.8.6 describes), each pointing at its slice's
SOPInstanceUID. Files are written to a temporary name and renamed, so a failure leaves nothing.
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from spinetv.errors import GeometryMismatchError, RtstructError, RtstructWarning
from spinetv.geometry.contours import mask_to_polygons
from spinetv.io._raw_sequence import encode_element, encode_item
from spinetv.io.atomic import atomic_output, check_writable
from spinetv.io.reference import PATIENT_KEYWORDS, STUDY_KEYWORDS, SeriesReference
from spinetv.io.rtstruct_read import RTSTRUCT_SOP_CLASS_UID
from spinetv.structure import Structure
from spinetv.version import __version__

__all__ = ["write_rtstruct", "append_rtstruct", "contour_data_lps"]

_PYDICOM_3 = int(pydicom.__version__.split(".")[0]) >= 3
#: PS3.3 C.8.8.5: the RT Referenced Study's ReferencedSOPClassUID (Detached Study Management).
_STUDY_REFERENCE_CLASS_UID = "1.2.840.10008.3.1.2.3.1"
_CONTOUR_DATA_TAG = Tag(0x30060050)
_CONTOUR_SEQUENCE_TAG = Tag(0x30060040)
_CONTOUR_IMAGE_SEQUENCE_TAG = Tag(0x30060016)
_CONTOUR_GEOMETRIC_TYPE_TAG = Tag(0x30060042)
_NUMBER_OF_CONTOUR_POINTS_TAG = Tag(0x30060046)
_CONTOUR_NUMBER_TAG = Tag(0x30060048)
_REFERENCED_SOP_CLASS_TAG = Tag(0x00081150)
_REFERENCED_SOP_INSTANCE_TAG = Tag(0x00081155)
_LO_MAX = 64
_SH_MAX = 16
_ST_MAX = 1024
_GENERATION_ALGORITHMS = frozenset({"AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"})


# ---- contours -----------------------------------------------------------------------------


def contour_data_lps(structure: Structure) -> list[tuple[int, NDArray[np.float64]]]:
    """The closed planar contours of a structure's mask, in LPS mm.

    Parameters
    ----------
    structure : Structure
        The structure to outline.

    Returns
    -------
    list of (int, ndarray of shape (n, 3))
        ``(slice_index, vertices_lps_mm)`` for every contour, slices ascending; outer
        boundaries and holes are separate contours. Filling the contours of a slice even-odd
        at voxel centres gives back the mask exactly.
    """
    mask = structure.mask
    if mask.is_empty:
        return []
    grid = mask.grid
    start = mask.box.start
    result: list[tuple[int, NDArray[np.float64]]] = []
    for local_slice in range(mask.box.shape[0]):
        plane = mask.box_array[local_slice]
        if not plane.any():
            continue
        slice_index = start[0] + local_slice
        for polygon in mask_to_polygons(plane):
            ijk = np.empty((len(polygon), 3), dtype=np.float64)
            ijk[:, 0] = slice_index
            ijk[:, 1] = polygon[:, 0] + start[1]
            ijk[:, 2] = polygon[:, 1] + start[2]
            result.append((slice_index, grid.index_to_lps(ijk)))
    return result


def _ds_bytes(points_lps_mm: NDArray[np.float64]) -> bytes:
    """ContourData as DS bytes: every value at most 16 characters, even total length.

    Rounding to 1e-6 mm removes float noise (``12.499999999998``) before printing ten
    significant digits, which keeps any value below 1e6 mm within the DS limit.
    """
    values = np.round(points_lps_mm.ravel(), 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = "\\".join(f"{v:.10g}" for v in values.tolist()).encode("ascii")
    if len(text) % 2:
        text += b" "
    return text


def _contour_items(structure: Structure, reference: SeriesReference, implicit_vr: bool) -> bytes:
    """The encoded items of a structure's ContourSequence, one per closed planar contour."""
    class_uid = reference.sop_class_uid.encode("ascii")
    items = []
    for number, (slice_index, points) in enumerate(contour_data_lps(structure), start=1):
        image = encode_item([
            encode_element(_REFERENCED_SOP_CLASS_TAG, "UI", class_uid, implicit_vr),
            encode_element(
                _REFERENCED_SOP_INSTANCE_TAG,
                "UI",
                reference.sop_instance_uids[slice_index].encode("ascii"),
                implicit_vr,
            ),
        ])
        items.append(encode_item([
            encode_element(_CONTOUR_IMAGE_SEQUENCE_TAG, "SQ", image, implicit_vr),
            encode_element(_CONTOUR_GEOMETRIC_TYPE_TAG, "CS", b"CLOSED_PLANAR", implicit_vr),
            encode_element(
                _NUMBER_OF_CONTOUR_POINTS_TAG, "IS", str(len(points)).encode(), implicit_vr
            ),
            encode_element(_CONTOUR_NUMBER_TAG, "IS", str(number).encode(), implicit_vr),
            encode_element(_CONTOUR_DATA_TAG, "DS", _ds_bytes(points), implicit_vr),
        ]))
    return b"".join(items)


def _generation(structure: Structure) -> tuple[str, str]:
    algorithm = structure.provenance.algorithm.strip().upper()
    if algorithm in _GENERATION_ALGORITHMS:
        return algorithm, f"spinetv {__version__}" if algorithm != "MANUAL" else ""
    return "AUTOMATIC", structure.provenance.algorithm.strip()[:_LO_MAX]


def _roi_items(
    structure: Structure,
    number: int,
    reference: SeriesReference,
    implicit_vr: bool,
) -> tuple[Dataset, Dataset, Dataset]:
    """The StructureSetROI, ROIContour and RTROIObservations items of one structure."""
    frame_uid = reference.grid.frame_of_reference_uid
    algorithm, generation_description = _generation(structure)
    roi = Dataset()
    roi.ROINumber = number
    roi.ReferencedFrameOfReferenceUID = frame_uid
    roi.ROIName = structure.name
    description = " ".join(structure.provenance.description.split())
    if description:
        roi.ROIDescription = description[:_ST_MAX]
    roi.ROIGenerationAlgorithm = algorithm
    if generation_description:
        roi.ROIGenerationDescription = generation_description

    contour = Dataset()
    contour.ROIDisplayColor = [int(c) for c in structure.color_rgb]
    items = _contour_items(structure, reference, implicit_vr)
    if items:
        # Written as encoded: a Dataset per contour costs more than finding the contours.
        contour[_CONTOUR_SEQUENCE_TAG] = RawDataElement(
            _CONTOUR_SEQUENCE_TAG, "SQ", len(items), items, 0, implicit_vr, True
        )
    else:
        warnings.warn(
            f"structure {structure.name!r} is empty; written as an ROI without contours",
            RtstructWarning,
            stacklevel=4,
        )
    contour.ReferencedROINumber = number

    observation = Dataset()
    observation.ObservationNumber = number
    observation.ReferencedROINumber = number
    observation.RTROIInterpretedType = structure.roi_type.value
    observation.ROIInterpreter = ""
    return roi, contour, observation


# ---- checks -------------------------------------------------------------------------------


def _as_list(structures: Iterable[Structure] | Mapping[str, Structure]) -> list[Structure]:
    if isinstance(structures, Mapping):
        return list(structures.values())
    return list(structures)


def _check_reference(reference: SeriesReference) -> None:
    missing = [
        keyword
        for keyword, value in (
            ("StudyInstanceUID", reference.study_instance_uid),
            ("SeriesInstanceUID", reference.series_instance_uid),
            ("SOPClassUID", reference.sop_class_uid),
        )
        if not value
    ]
    if any(not uid for uid in reference.sop_instance_uids):
        missing.append("SOPInstanceUID of some slices")
    if missing:
        raise RtstructError(
            "the image series cannot be referenced by an RTSTRUCT: empty "
            + ", ".join(missing)
        )


def _check_structures(
    structures: list[Structure], reference: SeriesReference, taken_names: Iterable[str] = ()
) -> None:
    if not structures:
        raise RtstructError("no structure to write; an RTSTRUCT needs at least one ROI")
    seen = {name.casefold(): name for name in taken_names}
    for structure in structures:
        name = structure.name
        if len(name) > _LO_MAX or "\\" in name or any(ord(ch) < 32 for ch in name):
            raise RtstructError(
                f"structure name {name!r}: expected at most {_LO_MAX} characters without "
                "backslashes or control characters (DICOM LO)"
            )
        if name.casefold() in seen:
            raise RtstructError(
                f"structure name {name!r} clashes with ROI {seen[name.casefold()]!r}; "
                "ROI names must be unique (case-insensitively) in a structure set"
            )
        seen[name.casefold()] = name
        grid = structure.mask.grid
        # Contours live on the image's slices, not on its pixels: a mask on an in-plane
        # refined grid (finer margins) is written against the same slices.
        if not grid.shares_slices_with(reference.grid):
            raise GeometryMismatchError(
                f"structure {name!r} is on {grid.describe()}"
                + (f" (frame {grid.frame_of_reference_uid})" if grid.frame_of_reference_uid else "")
                + f", but the referenced image series is on {reference.grid.describe()} "
                f"(frame {reference.grid.frame_of_reference_uid})"
            )


# ---- the dataset --------------------------------------------------------------------------


def _referenced_frame_item(reference: SeriesReference) -> Dataset:
    images = []
    for uid in reference.sop_instance_uids:
        image = Dataset()
        image.ReferencedSOPClassUID = reference.sop_class_uid
        image.ReferencedSOPInstanceUID = uid
        images.append(image)
    series = Dataset()
    series.SeriesInstanceUID = reference.series_instance_uid
    series.ContourImageSequence = Sequence(images)
    study = Dataset()
    study.ReferencedSOPClassUID = _STUDY_REFERENCE_CLASS_UID
    study.ReferencedSOPInstanceUID = reference.study_instance_uid
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = reference.grid.frame_of_reference_uid
    frame.RTReferencedStudySequence = Sequence([study])
    return frame


def _file_meta(sop_instance_uid: str, transfer_syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(RTSTRUCT_SOP_CLASS_UID)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"SPINETV_{__version__}"[:_SH_MAX]
    return meta


def _mark_encoding(dataset: Dataset, implicit_vr: bool) -> None:
    """Declare datasets built here as already in the output encoding.

    pydicom otherwise re-checks ambiguous VRs over each nested item's whole subtree while
    writing, which costs more than building the file. Only datasets that were not read from a
    file (no original encoding) are marked, so a read file's own items are left alone.
    """
    if getattr(dataset, "_read_implicit", None) is None:
        dataset.set_original_encoding(
            implicit_vr, True, getattr(dataset, "_character_set", "iso8859")
        )
    for element in dataset.values():
        if getattr(element, "VR", None) == "SQ" and isinstance(element.value, Sequence):
            for item in element.value:
                _mark_encoding(item, implicit_vr)


def _save(dataset: Dataset, path: Path, *, implicit_vr: bool) -> None:
    _mark_encoding(dataset, implicit_vr)
    if _PYDICOM_3:
        pydicom.dcmwrite(path, dataset, enforce_file_format=True)
    else:  # pragma: no cover - pydicom 2.4
        dataset.is_little_endian = True
        dataset.is_implicit_VR = implicit_vr
        pydicom.dcmwrite(path, dataset, write_like_original=False)


def write_rtstruct(
    structures: Iterable[Structure] | Mapping[str, Structure],
    reference: SeriesReference,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    label: str = "spinetv",
    description: str = "",
    series_description: str = "spinetv structures",
    series_number: int = 901,
    operators_name: str = "",
    institution_name: str = "",
) -> Path:
    """Write structures as a new RTSTRUCT referencing an image series.

    Parameters
    ----------
    structures : iterable of Structure, or mapping of name to Structure
        What to write, in order (ROI numbers 1, 2, ...). Every mask must lie on
        ``reference.grid``. Empty structures are written without contours (with a warning).
    reference : SeriesReference
        The image series: its FrameOfReferenceUID, study, series and slice SOPInstanceUIDs
        are referenced, its patient and study identity copied.
    path : path-like
        The output file.
    overwrite : bool
        Replace an existing file (refused otherwise with :class:`OutputExistsError`).
    label : str
        StructureSetLabel (cut to 16 characters).
    description : str
        StructureSetDescription.
    series_description : str
        SeriesDescription of the new RTSTRUCT series.
    series_number : int
        SeriesNumber of the new RTSTRUCT series.
    operators_name, institution_name : str
        OperatorsName and InstitutionName.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    RtstructError
        No structure, a name that is too long or repeated (case-insensitively), or a series
        that lacks the UIDs to be referenced.
    GeometryMismatchError
        A mask that is not on the referenced image's grid.
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    target = check_writable(path, overwrite=overwrite)
    items = _as_list(structures)
    _check_reference(reference)
    _check_structures(items, reference)

    now = _dt.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    sop_uid = generate_uid()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.InstanceCreationDate = date
    ds.InstanceCreationTime = time
    ds.SOPClassUID = RTSTRUCT_SOP_CLASS_UID
    ds.SOPInstanceUID = sop_uid
    for keyword in PATIENT_KEYWORDS:
        setattr(ds, keyword, reference.patient.get(keyword, ""))
    ds.StudyInstanceUID = reference.study_instance_uid
    for keyword in STUDY_KEYWORDS:
        value = reference.study.get(keyword, "")
        if value or keyword != "StudyDescription":
            setattr(ds, keyword, value)
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = int(series_number)
    ds.SeriesDate = date
    ds.SeriesTime = time
    if series_description:
        ds.SeriesDescription = series_description[:_LO_MAX]
    ds.OperatorsName = operators_name
    # Frame of Reference module (in the RT Structure Set IOD since 2019): the image's, never new.
    ds.FrameOfReferenceUID = reference.grid.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "spinetv"
    if institution_name:
        ds.InstitutionName = institution_name[:_LO_MAX]
    ds.ManufacturerModelName = "spinetv"
    ds.SoftwareVersions = __version__
    ds.StructureSetLabel = (label or "spinetv")[:_SH_MAX]
    if description:
        ds.StructureSetDescription = description[:_ST_MAX]
    ds.StructureSetDate = date
    ds.StructureSetTime = time
    ds.ReferencedFrameOfReferenceSequence = Sequence([_referenced_frame_item(reference)])

    rois, contours, observations = [], [], []
    for number, structure in enumerate(items, start=1):
        roi, contour, observation = _roi_items(structure, number, reference, False)
        rois.append(roi)
        contours.append(contour)
        observations.append(observation)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    ds.file_meta = _file_meta(sop_uid, ExplicitVRLittleEndian)

    with atomic_output(target, overwrite=overwrite) as temp:
        _save(ds, temp, implicit_vr=False)
    return target


def _existing_numbers(dataset: Dataset) -> list[int]:
    numbers = []
    for keyword, number_keyword in (
        ("StructureSetROISequence", "ROINumber"),
        ("ROIContourSequence", "ReferencedROINumber"),
        ("RTROIObservationsSequence", "ObservationNumber"),
    ):
        for item in dataset.get(keyword, []) or []:
            try:
                numbers.append(int(item.get(number_keyword, 0)))
            except (TypeError, ValueError):
                continue
    return numbers


def _add_missing_image_references(
    inspected: Dataset, target: Dataset, reference: SeriesReference, source: Path
) -> None:
    """Make sure the referenced frame tree lists the reference series and all its slices.

    ``inspected`` is a separately read copy (reading values converts elements); only
    ``target``'s ReferencedFrameOfReferenceSequence is changed, never an ROI item.
    """
    frame_uid = reference.grid.frame_of_reference_uid
    frames = list(inspected.get("ReferencedFrameOfReferenceSequence", []) or [])
    for frame_index, frame in enumerate(frames):
        if str(frame.get("FrameOfReferenceUID", "")) != frame_uid:
            continue
        for study_index, study in enumerate(frame.get("RTReferencedStudySequence", []) or []):
            all_series = study.get("RTReferencedSeriesSequence", []) or []
            for series_index, series in enumerate(all_series):
                if str(series.get("SeriesInstanceUID", "")) != reference.series_instance_uid:
                    continue
                listed = {
                    str(image.get("ReferencedSOPInstanceUID", ""))
                    for image in series.get("ContourImageSequence", []) or []
                }
                missing = [uid for uid in reference.sop_instance_uids if uid not in listed]
                if missing:
                    target_series = (
                        target.ReferencedFrameOfReferenceSequence[frame_index]
                        .RTReferencedStudySequence[study_index]
                        .RTReferencedSeriesSequence[series_index]
                    )
                    if "ContourImageSequence" not in target_series:
                        target_series.ContourImageSequence = Sequence()
                    for uid in missing:
                        image = Dataset()
                        image.ReferencedSOPClassUID = reference.sop_class_uid
                        image.ReferencedSOPInstanceUID = uid
                        target_series.ContourImageSequence.append(image)
                return
    warnings.warn(
        f"{source}: does not reference image series {reference.series_instance_uid}; "
        "a reference to it was added",
        RtstructWarning,
        stacklevel=3,
    )
    if "ReferencedFrameOfReferenceSequence" not in target:
        target.ReferencedFrameOfReferenceSequence = Sequence()
    target.ReferencedFrameOfReferenceSequence.append(_referenced_frame_item(reference))


def append_rtstruct(
    existing_path: str | os.PathLike[str],
    structures: Iterable[Structure] | Mapping[str, Structure],
    reference: SeriesReference,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Path:
    """Write a copy of an RTSTRUCT with new ROIs added, leaving every existing ROI untouched.

    Parameters
    ----------
    existing_path : path-like
        The RTSTRUCT to extend (never modified, even when ``path`` names the same file and
        ``overwrite`` is true: the new file replaces it atomically).
    structures : iterable of Structure, or mapping of name to Structure
        The ROIs to add; numbered after the largest ROI or observation number present.
    reference : SeriesReference
        The image series the structures lie on; it must share the RTSTRUCT's frame of
        reference.
    path : path-like
        The output file.
    overwrite : bool
        Replace an existing ``path``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    RtstructError
        The existing file is not an RTSTRUCT, its frame of reference differs from the image's,
        or a new name clashes (case-insensitively) with an existing ROI. Replacing an
        existing ROI is deliberately not offered: write a new structure set for that.
    GeometryMismatchError
        A mask that is not on the referenced image's grid.

    Notes
    -----
    The existing StructureSetROISequence, ROIContourSequence and RTROIObservationsSequence
    items are written back from their undecoded bytes, in the file's own transfer syntax, so
    they are byte-for-byte unchanged. The copy gets a new SOPInstanceUID (its content
    differs) in the original series; the referenced image tree gains the reference series and
    slices if they were missing.
    """
    source = Path(existing_path)
    target = check_writable(path, overwrite=overwrite)
    items = _as_list(structures)
    _check_reference(reference)
    try:
        inspected = pydicom.dcmread(source)
        dataset = pydicom.dcmread(source)
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise RtstructError(f"{source}: not a readable DICOM file ({error})") from None
    if str(inspected.get("SOPClassUID", "")) != RTSTRUCT_SOP_CLASS_UID:
        raise RtstructError(
            f"{source}: expected an RTSTRUCT to append to, found SOPClassUID "
            f"{inspected.get('SOPClassUID', 'none')!s} modality {inspected.get('Modality', '')!s}"
        )
    frame_uids = {
        str(frame.get("FrameOfReferenceUID", ""))
        for frame in inspected.get("ReferencedFrameOfReferenceSequence", []) or []
    } | {
        str(roi.get("ReferencedFrameOfReferenceUID", ""))
        for roi in inspected.get("StructureSetROISequence", []) or []
    }
    frame_uids.discard("")
    image_frame = reference.grid.frame_of_reference_uid
    if frame_uids and image_frame not in frame_uids:
        raise RtstructError(
            f"{source}: is in frame of reference {', '.join(sorted(frame_uids))}, but the "
            f"image series is in {image_frame}; cannot add its structures"
        )
    names = [
        str(roi.get("ROIName", "")).strip()
        for roi in inspected.get("StructureSetROISequence", []) or []
    ]
    _check_structures(items, reference, taken_names=[n for n in names if n])

    transfer_syntax = str(dataset.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian))
    if transfer_syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        transfer_syntax = ExplicitVRLittleEndian
    implicit_vr = transfer_syntax == ImplicitVRLittleEndian
    _add_missing_image_references(inspected, dataset, reference, source)

    first_number = max(_existing_numbers(inspected), default=0) + 1
    for keyword in ("StructureSetROISequence", "ROIContourSequence", "RTROIObservationsSequence"):
        if keyword not in dataset:
            setattr(dataset, keyword, Sequence())
    for offset, structure in enumerate(items):
        roi, contour, observation = _roi_items(
            structure, first_number + offset, reference, implicit_vr
        )
        dataset.StructureSetROISequence.append(roi)
        dataset.ROIContourSequence.append(contour)
        dataset.RTROIObservationsSequence.append(observation)

    sop_uid = generate_uid()
    dataset.SOPInstanceUID = sop_uid
    dataset.file_meta = _file_meta(sop_uid, transfer_syntax)
    with atomic_output(target, overwrite=overwrite) as temp:
        _save(dataset, temp, implicit_vr=implicit_vr)
    return target
