"""Reading DICOM image series: one consistent single-frame CT or MR volume per series.

Reading parses headers only (``stop_before_pixels``); pixel data are decoded when the returned
:class:`~spinetv.io.image.Image`'s ``voxels`` are first read. Slices are ordered by their
position along the slice normal (the cross product of the ImageOrientationPatient row and
column directions), never by file name or InstanceNumber, and the series is checked to be one
regular volume: one orientation, one pixel size, no gantry tilt, no duplicate or missing slice.
Writing is in :mod:`spinetv.io.dicom_write`.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from spinetv.errors import DicomInputError, SpinetvWarning
from spinetv.geometry.grid import ImageGrid
from spinetv.io._pydicom_errors import PYDICOM_PARSE_ERRORS
from spinetv.io.image import Image
from spinetv.io.reference import PATIENT_KEYWORDS, STUDY_KEYWORDS, SeriesReference
from spinetv.vocabulary import Modality

__all__ = [
    "DicomInputWarning",
    "SeriesSummary",
    "list_series",
    "read_dicom_series",
    "dicomdir_image_files",
]

#: Relative tolerance on slice steps (fraction of the mean step): scanners round positions to
#: a few micrometres, a missing slice changes a step by 100 %.
SLICE_STEP_TOLERANCE = 0.01
#: Largest sideways drift of a slice step (fraction of the step) before calling it gantry tilt.
TILT_TOLERANCE = 0.01
#: Largest departure of ImageOrientationPatient from orthonormal that is repaired silently.
_ORIENTATION_TOLERANCE = 1e-3

_NON_IMAGE_MODALITIES = frozenset(
    {"RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "RTIMAGE", "REG", "SEG", "PR", "KO", "SR", "DOC"}
)
_MULTIFRAME_CLASS_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET
)


class DicomInputWarning(SpinetvWarning):
    """A tolerated oddity in a DICOM series (empty UIDs, ignored files, missing FoR...)."""


@dataclass(frozen=True)
class SeriesSummary:
    """One image series found among DICOM files.

    Parameters
    ----------
    series_instance_uid : str
        The series UID ("" when the files leave it empty).
    series_description : str
        SeriesDescription ("" when absent).
    modality : str
        Modality of the slices.
    series_number : str
        SeriesNumber as written ("" when absent).
    slice_count : int
        Number of image files of the series.
    rows, columns : int
        Slice size in pixels (of the first file).
    multiframe : bool
        True when the files are multi-frame (enhanced) images, which spinetv does not read.
    paths : tuple of Path
        The files, in the order found.
    """

    series_instance_uid: str
    series_description: str
    modality: str
    series_number: str
    slice_count: int
    rows: int
    columns: int
    multiframe: bool
    paths: tuple[Path, ...] = field(default=(), repr=False)

    def describe(self) -> str:
        """One line: UID, description, modality and slice count.

        Returns
        -------
        str
            Series UID, description, modality (and "multi-frame"), file count and
            rows x columns, pixels.
        """
        kind = " multi-frame" if self.multiframe else ""
        return (
            f"{self.series_instance_uid or '<empty UID>'} '{self.series_description}' "
            f"{self.modality}{kind}, {self.slice_count} file(s), {self.rows}x{self.columns}"
        )


@dataclass(frozen=True)
class _Header:
    path: Path
    ds: Dataset
    sop_class_uid: str
    sop_instance_uid: str
    series_uid: str
    multiframe: bool
    numbers: dict[str, NDArray[np.float64]] = field(default_factory=dict, compare=False)
    #: What is wrong with the pixel data as stored ("" when complete or not checkable).
    pixel_problem: str = ""
    rows: int = 0
    columns: int = 0


def _source_files(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> tuple[str, list[Path]]:
    """A name for messages and the candidate files (a folder's files, not its sub-folders)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            return str(path), files
        if path.is_file():
            return str(path), [path]
        raise DicomInputError(f"{path}: no such folder or file; expected a DICOM series folder")
    files = [Path(p) for p in source]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise DicomInputError(f"DICOM files not found: {', '.join(missing[:5])}")
    name = str(files[0].parent) if files else "<empty file list>"
    return name, files


def _raw_text(ds: Dataset, keyword: str) -> str:
    """A text element (UI, CS, IS...) as a stripped string, from its raw bytes when unparsed.

    Skipping pydicom's conversion and validation halves header-only reading of a large series.
    """
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return ""
    value = ds.get_item(tag).value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip(" \x00")
    return str(value).strip()


_PIXEL_DATA_TAG = 0x7FE00010
_ITEM_TAG = 0xFFFEE000
_SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD
_UNDEFINED_LENGTH = 0xFFFFFFFF
#: File name endings that claim DICOM: such a file that cannot be parsed is an error, not
#: ignored like a stray README (a truncated slice must not vanish from its series).
_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
_IMAGE_CLASS_PREFIXES = ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4")


def _dcmread_tolerant(handle: Any, *, stop_before_pixels: bool = False) -> Dataset:
    """Read a data set; one without preamble and file meta (old exports) is read with
    ``force`` and given the transfer syntax pydicom found, so its pixels decode later.

    A forced read of a file that is not DICOM at all yields no image elements, and the caller
    ignores it as before.
    """
    try:
        return pydicom.dcmread(handle, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        handle.seek(0)
        ds = pydicom.dcmread(handle, stop_before_pixels=stop_before_pixels, force=True)
    implicit, little = getattr(ds, "original_encoding", None) or (None, None)
    if implicit is not None and "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else
            ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
    return ds


def _has_dicm_magic(path: Path) -> bool:
    """True when the file carries the DICOM preamble and "DICM" prefix."""
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else "no detail")[:200]


def _read_header(path: Path) -> _Header | None:
    """The header of an image file; None for non-DICOM and non-image files.

    Raises
    ------
    DicomInputError
        A file that starts as DICOM ("DICM" after the preamble) but cannot be parsed, or a CT or
        MR image file without Rows, Columns or pixel data: a damaged file is named, never
        dropped silently from its series.
    """
    try:
        # specific_tags makes pydicom slower here, so the whole header is parsed.
        with path.open("rb") as handle:
            ds = _dcmread_tolerant(handle, stop_before_pixels=True)
            pixel_offset = handle.tell()
            file_size = os.fstat(handle.fileno()).st_size
            meta = getattr(ds, "file_meta", None) or Dataset()
            modality = _raw_text(ds, "Modality").upper()
            meta_class = _raw_text(meta, "MediaStorageSOPClassUID")
            sop_class = _raw_text(ds, "SOPClassUID") or meta_class
            named_dicom = path.name.lower().endswith(_DICOM_SUFFIXES)
            if (not modality and not sop_class and named_dicom) or (
                len(ds) == 0 and (named_dicom or _has_dicm_magic(path))
            ):
                raise DicomInputError(
                    f"{path}: damaged DICOM file, no DICOM data set found in its {file_size} "
                    "bytes (empty or truncated?)"
                )
            is_image = (
                sop_class.startswith(_IMAGE_CLASS_PREFIXES)
                or meta_class.startswith(_IMAGE_CLASS_PREFIXES)
                or modality in ("CT", "MR")
            )
            if modality in _NON_IMAGE_MODALITIES or not is_image and (
                "Rows" not in ds or "Columns" not in ds
            ):
                return None
            problem = _pixel_problem(ds, handle, pixel_offset, file_size)
    except PYDICOM_PARSE_ERRORS as error:
        if not _has_dicm_magic(path) and not path.name.lower().endswith(_DICOM_SUFFIXES):
            return None
        raise DicomInputError(
            f"{path}: damaged DICOM file, its header cannot be parsed "
            f"({type(error).__name__}: {_first_line(error)})"
        ) from None
    if "Rows" not in ds or "Columns" not in ds:
        raise DicomInputError(
            f"{path}: {modality or 'image'} file without Rows or Columns (truncated or damaged "
            f"header, {file_size} bytes); expected a complete image header"
        )
    rows, columns = _dimension(ds, "Rows", path), _dimension(ds, "Columns", path)
    sop_uid = _raw_text(ds, "SOPInstanceUID") or _raw_text(meta, "MediaStorageSOPInstanceUID")
    frames = _raw_text(ds, "NumberOfFrames")
    multiframe = sop_class.startswith(_MULTIFRAME_CLASS_PREFIXES) or frames not in ("", "1")
    return _Header(
        path,
        ds,
        sop_class,
        sop_uid,
        _raw_text(ds, "SeriesInstanceUID"),
        multiframe,
        pixel_problem=problem,
        rows=rows,
        columns=columns,
    )


def _dimension(ds: Dataset, keyword: str, path: Path) -> int:
    """Rows or Columns as a positive whole number, or DicomInputError naming the file."""
    try:
        value = int(ds[keyword].value)
    except PYDICOM_PARSE_ERRORS:
        value = 0
    if value <= 0:
        raise DicomInputError(
            f"{path}: {keyword} is {_element_text(ds, keyword)}; expected a positive whole number"
        )
    return value


def _expected_pixel_bytes(ds: Dataset) -> int:
    """Bytes of native (uncompressed) pixel data the header announces."""
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    bits = int(ds.get("BitsAllocated") or 16)
    samples = int(ds.get("SamplesPerPixel") or 1)
    frames = _raw_numbers(ds, "NumberOfFrames")
    count = rows * columns * samples * (int(frames[0]) if frames else 1)
    return (count + 7) // 8 if bits == 1 else count * ((bits + 7) // 8)


def _pixel_problem(ds: Dataset, handle: Any, offset: int, file_size: int) -> str:
    """What is wrong with the stored pixel data of an image file ("" when complete).

    Reads only element and item headers after ``offset`` (where header-only reading stopped):
    a native PixelData must hold the bytes Rows x Columns x samples x BitsAllocated announce,
    an encapsulated one must reach its sequence delimiter with every fragment inside the file.
    Deflated files are not checked here (their pixel data are inside the deflated stream).
    """
    syntax = _raw_text(getattr(ds, "file_meta", None) or Dataset(), "TransferSyntaxUID")
    if syntax == "1.2.840.10008.1.2.1.99":
        return ""
    implicit, little = getattr(ds, "original_encoding", None) or (
        ds.is_implicit_VR,
        ds.is_little_endian,
    )
    if implicit is None or little is None:
        return ""
    if offset >= file_size:
        return f"no pixel data (the file ends at byte {file_size}, after the header)"
    endian = "<" if little else ">"
    handle.seek(offset)
    head = handle.read(12)
    if len(head) < 8:
        return f"pixel data element cut off at byte {file_size}"
    group, element = struct.unpack(endian + "HH", head[:4])
    tag = (group << 16) | element
    if tag != _PIXEL_DATA_TAG:
        return ""  # float or double pixel data, or trailing elements: not checked here
    if implicit:
        (length,) = struct.unpack(endian + "I", head[4:8])
        start = offset + 8
    else:
        if len(head) < 12:
            return f"pixel data element cut off at byte {file_size}"
        (length,) = struct.unpack(endian + "I", head[8:12])
        start = offset + 12
    if length != _UNDEFINED_LENGTH:
        expected = _expected_pixel_bytes(ds)
        stored = min(length, file_size - start)
        if stored < expected:
            return (
                f"pixel data incomplete: {max(stored, 0)} bytes stored, {expected} expected from "
                "Rows, Columns, SamplesPerPixel, BitsAllocated and NumberOfFrames (truncated file?)"
            )
        return ""
    return _fragments_problem(handle, start, file_size, endian)


def _fragments_problem(handle: Any, start: int, file_size: int, endian: str) -> str:
    """What is wrong with encapsulated pixel data starting at ``start`` ("" when complete)."""
    position, items = start, 0
    while position + 8 <= file_size:
        handle.seek(position)
        group, element, length = struct.unpack(endian + "HHI", handle.read(8))
        tag = (group << 16) | element
        if tag == _SEQUENCE_DELIMITER_TAG:
            if items < 2:
                return "encapsulated pixel data hold no compressed fragment"
            return ""
        if tag != _ITEM_TAG or length == _UNDEFINED_LENGTH:
            return f"encapsulated pixel data damaged at byte {position} (expected an item)"
        position += 8 + length
        items += 1
        if position > file_size:
            return (
                f"encapsulated pixel data incomplete: fragment {items} ends at byte {position}, "
                f"after the end of the file ({file_size} bytes; truncated file?)"
            )
    return (
        f"encapsulated pixel data incomplete: no sequence delimiter before the end of the file "
        f"({file_size} bytes; truncated file?)"
    )


def _group(headers: Sequence[_Header]) -> dict[str, list[_Header]]:
    groups: dict[str, list[_Header]] = {}
    for header in headers:
        groups.setdefault(header.series_uid, []).append(header)
    return groups


def _summary(uid: str, members: Sequence[_Header]) -> SeriesSummary:
    first = members[0].ds
    return SeriesSummary(
        series_instance_uid=uid,
        series_description=str(first.get("SeriesDescription", "")),
        modality=str(first.get("Modality", "")),
        series_number=str(first.get("SeriesNumber", "") or ""),
        slice_count=len(members),
        rows=members[0].rows,
        columns=members[0].columns,
        multiframe=any(m.multiframe for m in members),
        paths=tuple(m.path for m in members),
    )


def _scan(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> tuple[str, dict[str, list[_Header]]]:
    name, files = _source_files(source)
    headers = [h for h in (_read_header(p) for p in files) if h is not None]
    if not headers:
        dicomdir = _dicomdir_in(source)
        if dicomdir is not None:
            files = dicomdir_image_files(dicomdir)
            headers = [h for h in (_read_header(p) for p in files) if h is not None]
            name = str(dicomdir)
    if not headers:
        reason = _no_images_reason(name, files)
        raise DicomInputError(f"{name}: no DICOM image data found: {reason}")
    return name, _group(headers)


#: Folders below a series folder searched when it holds no image files itself.
_SUBFOLDER_DEPTH = 4
_SUBFOLDER_LIMIT = 200


def _dicomdir_in(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> Path | None:
    """The DICOMDIR file ``source`` is, or holds at its top level; None otherwise."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    path = Path(source)
    if path.is_file():
        return path if path.name.upper() == "DICOMDIR" else None
    if path.is_dir():
        found = [p for p in path.iterdir() if p.is_file() and p.name.upper() == "DICOMDIR"]
        return found[0] if found else None
    return None


def dicomdir_image_files(dicomdir: str | os.PathLike[str]) -> list[Path]:
    """The files a DICOMDIR file-set lists as IMAGE records, in record order.

    Parameters
    ----------
    dicomdir : path-like
        A DICOMDIR (Media Storage Directory) file; ReferencedFileID paths are relative to its
        folder.

    Returns
    -------
    list of Path
        The image files that exist (missing ones are warned about).

    Raises
    ------
    DicomInputError
        The DICOMDIR cannot be parsed or has no directory records.
    """
    path = Path(dicomdir)
    try:
        ds = pydicom.dcmread(path, force=True)
        records = list(ds.get("DirectoryRecordSequence", []) or [])
        references = [
            record.get("ReferencedFileID")
            for record in records
            if str(record.get("DirectoryRecordType", "")).upper() == "IMAGE"
        ]
    except PYDICOM_PARSE_ERRORS as error:
        raise DicomInputError(
            f"{path}: damaged DICOMDIR ({type(error).__name__}: {_first_line(error)})"
        ) from None
    if not records:
        raise DicomInputError(f"{path}: DICOMDIR without directory records; expected a file-set")
    files: list[Path] = []
    missing: list[str] = []
    for reference in references:
        if not reference:
            continue
        parts = [reference] if isinstance(reference, str) else [str(p) for p in reference]
        candidate = path.parent.joinpath(*parts)
        if candidate.is_file():
            files.append(candidate)
        else:
            missing.append("/".join(parts))
    if missing:
        warnings.warn(
            f"{path}: {len(missing)} image file(s) listed in the DICOMDIR are missing "
            f"(first: {missing[0]})",
            DicomInputWarning,
            stacklevel=3,
        )
    return files


def _no_images_reason(name: str, files: Sequence[Path]) -> str:
    """Why a folder or file list gave no image: what it holds, and where series are instead."""
    folder = Path(name)
    if folder.is_file() and folder.name.upper() == "DICOMDIR":
        return "the DICOMDIR lists no existing CT/MR image file"
    if not folder.is_dir():
        return f"none of the {len(files)} file(s) is a DICOM CT/MR image"
    below = _series_folders(folder)
    if below:
        shown = ", ".join(str(p.relative_to(folder)) for p in below[:8])
        more = f" and {len(below) - 8} more" if len(below) > 8 else ""
        return (
            f"no image files directly in the folder (sub-folders are not searched); image files "
            f"found in sub-folder(s) {shown}{more}; pass one of those folders"
        )
    if not files:
        return "the folder holds no files"
    return (
        f"none of its {len(files)} file(s) is a DICOM CT/MR image (non-DICOM files, or "
        "RTSTRUCT/RTPLAN/RTDOSE objects only)"
    )


def _series_folders(folder: Path) -> list[Path]:
    """Sub-folders (to a few levels) whose first readable file is a DICOM image."""
    found: list[Path] = []
    visited = 0
    pending = [(folder, 0)]
    while pending and visited < _SUBFOLDER_LIMIT:
        current, depth = pending.pop(0)
        try:
            entries = sorted(current.iterdir())
        except OSError:
            continue
        visited += 1
        if current != folder:
            for entry in entries[:20]:
                if not entry.is_file() or entry.name.startswith("."):
                    continue
                try:
                    header = _read_header(entry)
                except DicomInputError:
                    header = None
                if header is not None:
                    found.append(current)
                    break
        if depth < _SUBFOLDER_DEPTH:
            pending.extend(
                (e, depth + 1) for e in entries if e.is_dir() and not e.name.startswith(".")
            )
    return found


def list_series(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[SeriesSummary]:
    """The image series among DICOM files, reading headers only.

    Parameters
    ----------
    source : path-like or iterable of path-like
        A folder (its files, not sub-folders; names starting with "." are skipped), one file,
        or a list of files. Non-DICOM files and non-image objects (RTSTRUCT, RTPLAN, RTDOSE,
        SEG, SR...) are ignored.

    Returns
    -------
    list of SeriesSummary
        One per SeriesInstanceUID, ordered by SeriesNumber then UID.

    Raises
    ------
    DicomInputError
        No image file is found (the message says why), or a file is damaged.
    """
    _, groups = _scan(source)
    summaries = [_summary(uid, members) for uid, members in groups.items()]
    return sorted(summaries, key=lambda s: (_number_key(s.series_number), s.series_instance_uid))


def _number_key(text: str) -> tuple[int, float]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, 0.0)


def _raw_numbers(ds: Dataset, keyword: str) -> list[float]:
    """Numbers of a DS/IS/US element, parsed from the raw bytes (much faster than pydicom's
    validated conversion, which dominates header-only reading of a large series)."""
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return []
    value = ds.get_item(tag).value
    if value is None:
        return []
    if isinstance(value, bytes):
        text = value.decode("ascii", "replace").strip(" \x00")
        return [float(part) for part in text.split("\\")] if text else []
    if isinstance(value, (list, tuple, MultiValue)):
        return [float(part) for part in value]
    return [float(value)]


def _element_text(ds: Dataset, keyword: str) -> str:
    """An element's value as text for a message ("absent" when missing), at most 80 chars."""
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return "absent"
    value = ds.get_item(tag).value
    if isinstance(value, bytes):
        text = value.decode("ascii", "replace").strip(" \x00")
    elif isinstance(value, (list, tuple, MultiValue)):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return repr(text[:80]) if text else "empty"


def _floats(header: _Header, keyword: str, count: int) -> NDArray[np.float64]:
    """``count`` finite numbers of ``keyword`` (cached on the header) or DicomInputError."""
    cached = header.numbers.get(keyword)
    if cached is not None:
        return cached
    try:
        numbers = np.array(_raw_numbers(header.ds, keyword), dtype=np.float64)
    except (TypeError, ValueError):
        numbers = np.zeros(0)
    if numbers.shape != (count,) or not np.all(np.isfinite(numbers)):
        raise DicomInputError(
            f"{header.path}: {keyword} is missing or invalid "
            f"({_element_text(header.ds, keyword)}); expected {count} finite numbers"
        )
    header.numbers[keyword] = numbers
    return numbers


def _numbers_text(values: Iterable[float]) -> str:
    """Numbers as DICOM writes them ("1\\0\\0"), never as numpy reprs."""
    return "\\".join(f"{float(v):.6g}" for v in values)


def _orthonormal_axes(iop: NDArray[np.float64], where: Path) -> tuple[NDArray[np.float64], ...]:
    row, column = iop[:3], iop[3:]
    if (
        abs(np.linalg.norm(row) - 1) > _ORIENTATION_TOLERANCE
        or abs(np.linalg.norm(column) - 1) > _ORIENTATION_TOLERANCE
        or abs(float(row @ column)) > _ORIENTATION_TOLERANCE
    ):
        raise DicomInputError(
            f"{where}: ImageOrientationPatient {_numbers_text(iop)} is not two orthogonal "
            "unit vectors"
        )
    # Headers carry ~6 decimals; re-orthonormalise so the grid's strict check passes.
    row = row / np.linalg.norm(row)
    column = column - (column @ row) * row
    column = column / np.linalg.norm(column)
    return row, column, np.cross(row, column)


def _check_same(members: Sequence[_Header], name: str) -> None:
    first = members[0]
    iop0 = _floats(first, "ImageOrientationPatient", 6)
    spacing0 = _floats(first, "PixelSpacing", 2)
    size0 = (first.rows, first.columns)
    for member in members[1:]:
        iop = _floats(member, "ImageOrientationPatient", 6)
        if not np.allclose(iop, iop0, atol=1e-4):
            raise DicomInputError(
                f"{name}: mixed orientations in one series: {member.path.name} has "
                f"ImageOrientationPatient {_numbers_text(iop)}, {first.path.name} has "
                f"{_numbers_text(iop0)}"
            )
        spacing = _floats(member, "PixelSpacing", 2)
        size = (member.rows, member.columns)
        if not np.allclose(spacing, spacing0, rtol=1e-4, atol=1e-6) or size != size0:
            raise DicomInputError(
                f"{name}: mixed pixel spacing or size in one series: {member.path.name} has "
                f"{_numbers_text(spacing)} mm, {size[0]}x{size[1]}; {first.path.name} has "
                f"{_numbers_text(spacing0)} mm, {size0[0]}x{size0[1]}"
            )


def _slice_geometry(members: Sequence[_Header], name: str) -> tuple[list[_Header], ImageGrid]:
    """Sort slices along the normal, check the volume is regular, and build its grid."""
    _check_same(members, name)
    first = members[0]
    iop = _floats(first, "ImageOrientationPatient", 6)
    row_lps, column_lps, normal_lps = _orthonormal_axes(iop, first.path)
    pixel_spacing = _floats(first, "PixelSpacing", 2)
    positions = np.array([_floats(m, "ImagePositionPatient", 3) for m in members])
    along_mm = positions @ normal_lps
    order = np.argsort(along_mm, kind="stable")
    ordered = [members[i] for i in order]
    positions, along_mm = positions[order], along_mm[order]
    if len(ordered) > 1:
        steps_mm = np.diff(along_mm)
        step_scale = max(float(np.median(steps_mm)), 1e-6)
        duplicate = np.flatnonzero(steps_mm < 1e-3 * max(step_scale, float(pixel_spacing.min())))
        if duplicate.size:
            i = int(duplicate[0])
            raise DicomInputError(
                f"{name}: duplicate slice position {along_mm[i]:.3f} mm along the slice normal in "
                f"{ordered[i].path.name} and {ordered[i + 1].path.name}; expected one slice per "
                "position (two acquisitions in one series?)"
            )
        sideways = (positions[1:] - positions[:-1]) - steps_mm[:, None] * normal_lps
        drift = np.linalg.norm(sideways, axis=1)
        if np.any(drift > TILT_TOLERANCE * steps_mm):
            i = int(np.argmax(drift / steps_mm))
            angle = float(np.degrees(np.arctan2(drift[i], steps_mm[i])))
            raise DicomInputError(
                f"{name}: gantry tilt or sheared series: slice positions step {drift[i]:.3f} mm "
                f"sideways per {steps_mm[i]:.3f} mm along the normal ({angle:.2f} deg) between "
                f"{ordered[i].path.name} and {ordered[i + 1].path.name}; expected steps along "
                "the ImageOrientationPatient normal"
            )
        spacing_mm = float(along_mm[-1] - along_mm[0]) / (len(ordered) - 1)
        uneven = np.flatnonzero(np.abs(steps_mm - spacing_mm) > SLICE_STEP_TOLERANCE * spacing_mm)
        if uneven.size:
            i = int(uneven[0])
            raise DicomInputError(
                f"{name}: uneven slice spacing (missing slice?): step {steps_mm[i]:.3f} mm between "
                f"{ordered[i].path.name} and {ordered[i + 1].path.name} at {along_mm[i]:.3f} mm, "
                f"steps range {steps_mm.min():.3f}..{steps_mm.max():.3f} mm; expected an even "
                f"step within {SLICE_STEP_TOLERANCE:.0%}"
            )
    else:
        spacing_mm = _single_slice_spacing(first.ds)
    direction = np.column_stack([normal_lps, column_lps, row_lps])
    grid = ImageGrid(
        shape=(len(ordered), first.rows, first.columns),
        spacing_mm=(spacing_mm, float(pixel_spacing[0]), float(pixel_spacing[1])),
        origin_lps_mm=(float(positions[0, 0]), float(positions[0, 1]), float(positions[0, 2])),
        direction=direction,
        frame_of_reference_uid=str(first.ds.get("FrameOfReferenceUID", "") or ""),
    )
    return ordered, grid


def _single_slice_spacing(ds: Dataset) -> float:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = float(ds.get(keyword) or 0.0)
        except (TypeError, ValueError):
            value = 0.0
        if value > 0:
            return value
    return 1.0


def _choose(
    name: str, groups: Mapping[str, list[_Header]], series_uid: str | None
) -> tuple[str, list[_Header]]:
    listing = "; ".join(_summary(uid, m).describe() for uid, m in groups.items())
    if series_uid is not None:
        if series_uid not in groups:
            raise DicomInputError(
                f"{name}: no series with SeriesInstanceUID {series_uid!r}; found: {listing}"
            )
        return series_uid, _single_frame_part(name, series_uid, groups[series_uid])
    single = {uid: m for uid, m in groups.items() if not any(h.multiframe for h in m)}
    if len(groups) == 1 or len(single) == 1:
        uid = next(iter(single or groups))
        if len(groups) > 1:
            warnings.warn(
                f"{name}: ignored multi-frame series next to the single-frame series {uid!r}",
                DicomInputWarning,
                stacklevel=3,
            )
        return uid, _single_frame_part(name, uid, groups[uid])
    raise DicomInputError(
        f"{name}: {len(groups)} image series found; pass series_uid to choose one of: {listing}"
    )


def _single_frame_part(name: str, uid: str, members: list[_Header]) -> list[_Header]:
    """The single-frame files of a series; multi-frame ones beside them are dropped, warned."""
    single = [m for m in members if not m.multiframe]
    if single and len(single) < len(members):
        dropped = ", ".join(m.path.name for m in members if m.multiframe)
        warnings.warn(
            f"{name}: ignored multi-frame file(s) {dropped} in series {uid!r}",
            DicomInputWarning,
            stacklevel=4,
        )
        return single
    return members


def _identity(members: Sequence[_Header], name: str) -> tuple[str, str, str, tuple[str, ...]]:
    """Study, series and SOP class UIDs plus SOP instance UIDs, with the file-meta fallbacks."""
    first = members[0].ds
    study_uid = str(first.get("StudyInstanceUID", "") or "")
    series_uid = str(first.get("SeriesInstanceUID", "") or "")
    sop_class = members[0].sop_class_uid
    sop_uids = tuple(m.sop_instance_uid for m in members)
    empties = [
        k for k, v in (("StudyInstanceUID", study_uid), ("SeriesInstanceUID", series_uid)) if not v
    ]
    if any(not str(m.ds.get("SOPInstanceUID", "")) for m in members):
        empties.append("SOPInstanceUID (file meta MediaStorageSOPInstanceUID used)")
    if not str(first.get("SOPClassUID", "")):
        empties.append("SOPClassUID (file meta MediaStorageSOPClassUID used)")
    if empties:
        warnings.warn(
            f"{name}: empty {', '.join(empties)} in the image files; an RTSTRUCT referencing "
            "this series will carry the same (possibly empty) UIDs",
            DicomInputWarning,
            stacklevel=3,
        )
    if len(set(sop_uids)) != len(sop_uids) or not all(sop_uids):
        raise DicomInputError(
            f"{name}: SOPInstanceUIDs are missing or repeated; expected one unique UID per slice"
        )
    return study_uid, series_uid, sop_class, sop_uids


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value)


def read_dicom_series(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    series_uid: str | None = None,
) -> Image:
    """Read one single-frame CT or MR series as an :class:`Image` (headers now, pixels later).

    Parameters
    ----------
    source : path-like or iterable of path-like
        A folder (its files, not sub-folders), one file, a list of files, or a DICOMDIR (the
        file, or a folder holding one and no image files: the IMAGE records it lists are
        read). Non-DICOM files and non-image objects (RTSTRUCT, RTPLAN...) are ignored; files
        without preamble or file meta are read as raw data sets.
    series_uid : str, optional
        The SeriesInstanceUID to read when several series are present.

    Returns
    -------
    Image
        Grid in LPS mm (array order slice, row, column; slices sorted along the
        ImageOrientationPatient normal, so ``grid.direction[:, 0]`` is that normal), the
        :class:`SeriesReference` (``None`` if the series has no FrameOfReferenceUID, with a
        :class:`DicomInputWarning`), and lazily decoded voxels (HU for CT).

    Raises
    ------
    DicomInputError
        No image data (the message says why: series in sub-folders, only non-image files);
        several series and no ``series_uid``; an enhanced multi-frame image; mixed
        orientations, pixel spacing or size; duplicate slice positions; gantry tilt; uneven
        slice spacing (a missing slice); a damaged or truncated file: a header that does not
        parse, a ``.dcm`` file or a file with the DICM prefix holding no data set, pixel data
        shorter than Rows x Columns x samples x BitsAllocated announce, or encapsulated pixel
        data without their end (checked from element lengths, without decoding). The message
        names the folder and files.

    Notes
    -----
    Empty SOPInstanceUIDs fall back to the file meta MediaStorageSOPInstanceUID (and an empty
    SOPClassUID to MediaStorageSOPClassUID), with a warning. Empty Study/SeriesInstanceUIDs are
    kept empty (never invented) and warned about.
    """
    try:
        return _read_series(source, series_uid)
    except PYDICOM_PARSE_ERRORS as error:
        # A damaged element pydicom converts only when it is first used.
        where = source if isinstance(source, (str, os.PathLike)) else "DICOM files"
        raise DicomInputError(
            f"{where}: damaged DICOM header ({type(error).__name__}: {_first_line(error)})"
        ) from None


def _read_series(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], series_uid: str | None
) -> Image:
    name, groups = _scan(source)
    uid, members = _choose(name, groups, series_uid)
    if any(m.multiframe for m in members):
        raise DicomInputError(
            f"{name}: series {uid!r} is an enhanced or multi-frame image "
            f"({members[0].path.name}); spinetv reads single-frame series only; convert it "
            "to single-frame slices first"
        )
    damaged = next((m for m in members if m.pixel_problem), None)
    if damaged is not None:
        raise DicomInputError(f"{damaged.path}: {damaged.pixel_problem}")
    ordered, grid = _slice_geometry(members, name)
    first = ordered[0].ds
    modality = Modality.parse(_text(first, "Modality"))
    study_uid, series_instance_uid, sop_class, sop_uids = _identity(ordered, name)
    reference: SeriesReference | None = None
    if grid.frame_of_reference_uid:
        reference = SeriesReference(
            grid=grid,
            sop_instance_uids=sop_uids,
            sop_class_uid=sop_class,
            study_instance_uid=study_uid,
            series_instance_uid=series_instance_uid,
            modality=modality,
            patient={k: _text(first, k) for k in PATIENT_KEYWORDS},
            study={k: _text(first, k) for k in STUDY_KEYWORDS},
            paths=tuple(m.path for m in ordered),
        )
    else:
        warnings.warn(
            f"{name}: the series has no FrameOfReferenceUID; the image is read without a "
            "series reference (grid.frame_of_reference_uid is ''), so no RTSTRUCT can be "
            "written against it",
            DicomInputWarning,
            stacklevel=2,
        )
    paths = tuple(m.path for m in ordered)
    rescale = tuple(_rescale(m) for m in ordered)
    return Image.lazy(
        grid,
        lambda: _decode_pixels(paths, rescale, grid.shape),
        modality=modality,
        reference=reference,
    )


def _rescale(header: _Header) -> tuple[float, float]:
    """RescaleSlope and RescaleIntercept of a slice (1 and 0 when absent, as for MR)."""
    try:
        slope = _raw_numbers(header.ds, "RescaleSlope")
        intercept = _raw_numbers(header.ds, "RescaleIntercept")
    except (TypeError, ValueError):
        slope = intercept = [float("nan")]
    values = (slope[0] if slope else 1.0, intercept[0] if intercept else 0.0)
    if not all(np.isfinite(values)) or values[0] == 0:
        raise DicomInputError(
            f"{header.path}: invalid RescaleSlope/RescaleIntercept "
            f"{_element_text(header.ds, 'RescaleSlope')}/"
            f"{_element_text(header.ds, 'RescaleIntercept')}; expected finite numbers, a "
            "non-zero slope"
        )
    return values


#: Transfer syntaxes a planning CT or MR arrives in that need a decoder beyond pydicom and
#: numpy, all served by the ``codecs`` extra (python-gdcm, pylibjpeg with its OpenJPEG and RLE
#: plugins). pylibjpeg-libjpeg (GPL-3.0) is not needed: GDCM decodes JPEG Lossless and JPEG-LS.
CODEC_EXTRA = "codecs"
CODEC_EXTRA_PACKAGES = ("python-gdcm", "pylibjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle")


def _syntax_name(syntax: str) -> str:
    name = pydicom.uid.UID(syntax).name if syntax else ""
    return f"{name} ({syntax})" if name and name != syntax else (syntax or "unknown")


def _decoder_available(syntax: str) -> bool:
    """Whether an installed pydicom decoder plugin handles ``syntax`` (native ones always)."""
    if not syntax:
        return True  # no file meta: pydicom reads the data set as native little endian
    try:
        from pydicom.pixels import get_decoder
    except ImportError:  # pragma: no cover - pydicom 2.4 decides inside pixel_array
        return True
    try:
        return bool(get_decoder(pydicom.uid.UID(syntax)).is_available)
    except (NotImplementedError, ValueError):
        return False


def _missing_decoder_message(syntax: str) -> str:
    """What to install to decode ``syntax``, naming the extra exactly."""
    packages = ", ".join(CODEC_EXTRA_PACKAGES)
    if syntax in _EXTRA_SYNTAXES:
        return (
            f"no installed decoder for its {_syntax_name(syntax)} pixel data; install "
            f'spinetv\'s codec extra: pip install "spinetv[{CODEC_EXTRA}]" ({packages})'
        )
    return (
        f"no decoder for its {_syntax_name(syntax)} pixel data, which neither pydicom nor "
        f"spinetv's codec extra ({packages}) decodes; convert the series to an uncompressed "
        "or JPEG/JPEG 2000/RLE transfer syntax"
    )


_EXTRA_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",  # JPEG Baseline (process 1)
        "1.2.840.10008.1.2.4.51",  # JPEG Extended (process 2 and 4)
        "1.2.840.10008.1.2.4.57",  # JPEG Lossless (process 14)
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless (process 14, selection value 1)
        "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
        "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
        "1.2.840.10008.1.2.4.91",  # JPEG 2000
        "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
        "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
        "1.2.840.10008.1.2.4.203",  # HTJ2K
        "1.2.840.10008.1.2.5",  # RLE Lossless
    }
)


def _decode_pixels(
    paths: Sequence[Path],
    rescale: Sequence[tuple[float, float]],
    shape: tuple[int, int, int],
) -> NDArray[np.generic]:
    """Decode every slice and apply the rescale; int16 while the values are whole and fit."""
    integral = all(s == 1.0 and float(i).is_integer() for s, i in rescale)
    out: NDArray[Any] = np.empty(shape, dtype=np.int16 if integral else np.float32)
    int16 = np.iinfo(np.int16)
    for k, (path, (slope, intercept)) in enumerate(zip(paths, rescale)):
        try:
            with path.open("rb") as handle:
                ds = _dcmread_tolerant(handle)
            syntax = _raw_text(getattr(ds, "file_meta", None) or Dataset(), "TransferSyntaxUID")
        except PYDICOM_PARSE_ERRORS as error:
            raise DicomInputError(
                f"{path}: cannot be read again to decode its pixels ({type(error).__name__}: "
                f"{_first_line(error)})"
            ) from None
        if not _decoder_available(syntax):
            raise DicomInputError(f"{path}: {_missing_decoder_message(syntax)}")
        try:
            pixels = ds.pixel_array
        except Exception as error:  # noqa: BLE001 - decoder errors vary by plugin
            raise DicomInputError(
                f"{path}: cannot decode its {_syntax_name(syntax)} pixel data, damaged data? "
                f"({type(error).__name__}: {_first_line(error)})"
            ) from None
        if pixels.shape != shape[1:]:
            raise DicomInputError(
                f"{path}: pixel data of shape {pixels.shape}; expected {shape[1:]} (one frame)"
            )
        if out.dtype == np.int16:
            shift = int(intercept)
            low, high = int(pixels.min()) + shift, int(pixels.max()) + shift
            if int16.min <= low and high <= int16.max:
                # Wrapping 16-bit arithmetic lands on the right value whenever the result fits.
                out[k] = pixels.astype(np.int16, copy=False)
                out[k] += np.int16((shift + 32768) % 65536 - 32768)
                continue
            out = out.astype(np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            out[k] = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        if not np.all(np.isfinite(out[k])):
            raise DicomInputError(
                f"{path}: RescaleSlope {slope:g} and RescaleIntercept {intercept:g} take voxel "
                "values beyond the float32 range; expected a realistic rescale"
            )
    return out
