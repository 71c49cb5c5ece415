"""A seeded fuzz harness for spinetv's readers: mutate real and written files, read them, judge.

Every mutation must end in a correct result or a :class:`~spinetv.errors.SpinetvError` whose
message names the file (or its folder); inputs must be unchanged and no output may be left
behind. The test suite runs a few hundred mutations (``tests/fuzz/test_fuzz.py``); the benchmark
``benchmarks/bench_fuzz.py`` runs thousands and writes the counts.

A *target* is a set of input files (copied into a fresh folder for each mutation), a reader, a
judge of the result, and the mutators that apply to it. A *mutator* takes the bytes of one file
and a random generator and returns the mutated bytes and a label, or None when it does not
apply to that file.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import math
import re
import shutil
import struct
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from spinetv.errors import SpinetvError

Mutation = tuple[bytes, str]
Mutator = Callable[[bytes, np.random.Generator], "Mutation | None"]
#: (reader result, baseline result, mutation label) -> "" when correct, else what is wrong.
Judge = Callable[[Any, Any, str], str]

OUTCOMES = (
    "correct", "spinetv_error", "other_exception", "wrong_result", "unnamed_error", "numpy_repr",
)
#: What a numpy value looks like when a message formats it with repr().
_NUMPY_REPR = re.compile(r"np\.(float|int|uint|bool)\w*\(|array\(")


# ================================================================================================
# generic byte mutators
# ================================================================================================
def truncate(data: bytes, rng: np.random.Generator) -> Mutation | None:
    """Cut the file at a random offset (half of the cuts in the last quarter, where pixels are)."""
    if len(data) < 2:
        return None
    low = 1 if rng.random() < 0.5 else max(1, int(len(data) * 0.75))
    offset = int(rng.integers(low, len(data)))
    return data[:offset], f"truncate@{offset}/{len(data)}"


def flip_bytes(data: bytes, rng: np.random.Generator) -> Mutation | None:
    """Overwrite 1 to 8 random bytes with random values."""
    if not data:
        return None
    buffer = bytearray(data)
    count = int(rng.integers(1, 9))
    offsets = rng.integers(0, len(buffer), count)
    for offset in offsets:
        buffer[int(offset)] = int(rng.integers(0, 256))
    return bytes(buffer), f"flip{count}@{int(offsets[0])}"


def empty_file(data: bytes, rng: np.random.Generator) -> Mutation | None:
    """The file left empty."""
    return b"", "empty"


# ================================================================================================
# DICOM mutators (on pydicom data sets)
# ================================================================================================
_GARBAGE_TEXT = ("", "abc", "NaN", "inf", "-0", "1e999", "0", "-1", "1\\2", "\x00\x01", "9" * 70)


def _elements(ds: Dataset) -> list[tuple[Dataset, DataElement]]:
    """Every (parent, element) of a data set, nested items included, pixel data excluded."""
    found: list[tuple[Dataset, DataElement]] = []
    for element in ds:
        if element.tag == 0x7FE00010:
            continue
        found.append((ds, element))
        if element.VR == "SQ":
            for item in element.value:
                found.extend(_elements(item))
    return found


def _dicom_mutator(name: str, change: Callable[[Dataset, np.random.Generator], str | None]) -> Any:
    def mutate(data: bytes, rng: np.random.Generator) -> Mutation | None:
        out = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(io.BytesIO(data), force=True)
                ds.decode()  # parse every sequence now, so changes below survive writing
                label = change(ds, rng)
                if label is None:
                    return None
                ds.save_as(out, enforce_file_format=False)
        except Exception:  # noqa: BLE001 - a mutation pydicom cannot make is not applied
            return None
        return out.getvalue(), f"{name}:{label}"

    mutate.__name__ = name
    return mutate


def _delete_tag(ds: Dataset, rng: np.random.Generator) -> str | None:
    elements = _elements(ds)
    if not elements:
        return None
    parent, element = elements[int(rng.integers(len(elements)))]
    del parent[element.tag]
    return element.keyword or str(element.tag)


def _corrupt_value(ds: Dataset, rng: np.random.Generator) -> str | None:
    elements = [(p, e) for p, e in _elements(ds) if e.VR != "SQ"]
    if not elements:
        return None
    parent, element = elements[int(rng.integers(len(elements)))]
    text = _GARBAGE_TEXT[int(rng.integers(len(_GARBAGE_TEXT)))]
    # Raw bytes bypass pydicom's validation, as a damaged export would.
    parent[element.tag] = DataElement(element.tag, element.VR, text.encode("latin-1"))
    return f"{element.keyword or element.tag}={text[:10]!r}"


def _wrong_vr(ds: Dataset, rng: np.random.Generator) -> str | None:
    elements = [(p, e) for p, e in _elements(ds) if e.VR != "SQ"]
    if not elements:
        return None
    parent, element = elements[int(rng.integers(len(elements)))]
    vr = ("US", "DS", "CS", "UN", "OB", "FL", "SS", "LO")[int(rng.integers(8))]
    raw = element.value
    if not isinstance(raw, bytes):
        raw = str(raw).encode("latin-1", "replace")
    parent[element.tag] = DataElement(element.tag, vr, raw)
    return f"{element.keyword or element.tag}->{vr}"


def _empty_sequence(ds: Dataset, rng: np.random.Generator) -> str | None:
    sequences = [(p, e) for p, e in _elements(ds) if e.VR == "SQ"]
    if not sequences:
        return None
    parent, element = sequences[int(rng.integers(len(sequences)))]
    parent[element.tag].value = DicomSequence([])
    return element.keyword


def _swap_sequences(ds: Dataset, rng: np.random.Generator) -> str | None:
    sequences = [e for e in ds if e.VR == "SQ"]
    if len(sequences) < 2:
        return None
    first, second = (sequences[int(i)] for i in rng.choice(len(sequences), 2, replace=False))
    first_value, second_value = first.value, second.value
    ds[first.tag].value, ds[second.tag].value = second_value, first_value
    return f"{first.keyword}<->{second.keyword}"


def _wrong_modality(ds: Dataset, rng: np.random.Generator) -> str | None:
    modality = ("MR", "CT", "RTSTRUCT", "RTDOSE", "SEG", "")[int(rng.integers(6))]
    ds.Modality = modality
    return modality


def _contours(ds: Dataset) -> list[Dataset]:
    return [
        contour
        for roi_contour in ds.get("ROIContourSequence", []) or []
        for contour in roi_contour.get("ContourSequence", []) or []
        if "ContourData" in contour
    ]


def _bad_coordinates(ds: Dataset, rng: np.random.Generator) -> str | None:
    contours = _contours(ds)
    if not contours:
        return None
    contour = contours[int(rng.integers(len(contours)))]
    values = [str(v) for v in contour.ContourData]
    kind = ("NaN", "inf", "-inf", "odd", "empty", "text")[int(rng.integers(6))]
    if kind == "odd":
        values = values[: max(1, len(values) - int(rng.integers(1, 3)))]
        if len(values) % 3 == 0:
            values = values[:-1]
    elif kind == "empty":
        values = []
    else:
        values[int(rng.integers(len(values)))] = "1x" if kind == "text" else kind
    contour["ContourData"] = DataElement(0x30060050, "DS", "\\".join(values).encode("ascii"))
    return kind


def _duplicate_roi(ds: Dataset, rng: np.random.Generator) -> str | None:
    rois = list(ds.get("StructureSetROISequence", []) or [])
    if len(rois) < 2:
        return None
    first, second = (rois[int(i)] for i in rng.choice(len(rois), 2, replace=False))
    if rng.random() < 0.5:
        second.ROIName = first.get("ROIName", "")
        return "name"
    second.ROINumber = first.get("ROINumber", 1)
    return "number"


def _geometric_type(ds: Dataset, rng: np.random.Generator) -> str | None:
    contours = _contours(ds)
    if not contours:
        return None
    kind = ("POINT", "OPEN_PLANAR", "OPEN_NONPLANAR", "", "closed_planar")[int(rng.integers(5))]
    contours[int(rng.integers(len(contours)))].ContourGeometricType = kind
    return kind


def _slice_geometry(ds: Dataset, rng: np.random.Generator) -> str | None:
    if "ImagePositionPatient" not in ds:
        return None
    keyword = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows",
               "Columns", "BitsAllocated", "NumberOfFrames", "RescaleSlope")[int(rng.integers(8))]
    values: dict[str, Any] = {
        "ImagePositionPatient": ["0", "0", str(float(rng.uniform(-50, 50)))],
        "ImageOrientationPatient": ["1", "0", "0", "0", "0.7", "0.7"],
        "PixelSpacing": [["0", "1"], ["-1", "1"], ["1e-9", "1"], ["3", "3"]][int(rng.integers(4))],
        "Rows": int(rng.choice([0, 1, 513, 65535])),
        "Columns": int(rng.choice([0, 1, 513, 65535])),
        "BitsAllocated": int(rng.choice([1, 8, 12, 32, 0])),
        "NumberOfFrames": str(int(rng.choice([0, 2, 100]))),
        "RescaleSlope": str(rng.choice(["0", "NaN", "1e308"])),
    }
    setattr(ds, keyword, values[keyword])
    return keyword


def _transfer_syntax(ds: Dataset, rng: np.random.Generator) -> str | None:
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        return None
    syntax = str(rng.choice(["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.80",
                             "1.2.840.10008.1.2.5", "1.2.3.4.5"]))
    meta.TransferSyntaxUID = syntax
    return syntax


DICOM_MUTATORS: tuple[Mutator, ...] = (
    truncate,
    flip_bytes,
    empty_file,
    _dicom_mutator("delete_tag", _delete_tag),
    _dicom_mutator("corrupt_value", _corrupt_value),
    _dicom_mutator("wrong_vr", _wrong_vr),
    _dicom_mutator("empty_sequence", _empty_sequence),
    _dicom_mutator("swap_sequences", _swap_sequences),
    _dicom_mutator("wrong_modality", _wrong_modality),
)
RTSTRUCT_MUTATORS: tuple[Mutator, ...] = (
    *DICOM_MUTATORS,
    _dicom_mutator("bad_coordinates", _bad_coordinates),
    _dicom_mutator("duplicate_roi", _duplicate_roi),
    _dicom_mutator("geometric_type", _geometric_type),
)
SERIES_MUTATORS: tuple[Mutator, ...] = (
    *DICOM_MUTATORS,
    _dicom_mutator("slice_geometry", _slice_geometry),
    _dicom_mutator("transfer_syntax", _transfer_syntax),
)


# ================================================================================================
# NIfTI mutators (NIfTI-1, plain or gzipped)
# ================================================================================================
#: (name, offset, struct format) of the NIfTI-1 header fields worth breaking.
_NIFTI_FIELDS = (
    ("sizeof_hdr", 0, "<i"), ("dim0", 40, "<h"), ("dim1", 42, "<h"), ("dim2", 44, "<h"),
    ("dim3", 46, "<h"), ("dim4", 48, "<h"), ("datatype", 70, "<h"), ("bitpix", 72, "<h"),
    ("pixdim0", 76, "<f"), ("pixdim1", 80, "<f"), ("pixdim3", 88, "<f"),
    ("vox_offset", 108, "<f"), ("scl_slope", 112, "<f"), ("scl_inter", 116, "<f"),
    ("qform_code", 252, "<h"), ("sform_code", 254, "<h"), ("quatern_b", 256, "<f"),
    ("srow_x0", 280, "<f"), ("srow_z2", 320, "<f"),
)
_NIFTI_VALUES = (0, -1, 1, 2, 7, 32767, -32768, 1e30, -1e30, math.nan, math.inf, 0.5)


def _nifti_payload(data: bytes) -> tuple[bytes, bool] | None:
    try:
        return (gzip.decompress(data), True) if data[:2] == b"\x1f\x8b" else (data, False)
    except (OSError, EOFError):
        return None


def _repack(raw: bytes, zipped: bool) -> bytes:
    return gzip.compress(raw, compresslevel=1, mtime=0) if zipped else raw


def nifti_header_field(data: bytes, rng: np.random.Generator) -> Mutation | None:
    """One NIfTI-1 header field set to an extreme or meaningless value."""
    payload = _nifti_payload(data)
    if payload is None or len(payload[0]) < 348:
        return None
    raw, zipped = bytearray(payload[0]), payload[1]
    name, offset, fmt = _NIFTI_FIELDS[int(rng.integers(len(_NIFTI_FIELDS)))]
    value = _NIFTI_VALUES[int(rng.integers(len(_NIFTI_VALUES)))]
    if fmt[-1] in "hi":
        if not math.isfinite(value):
            return None
        limit = 32767 if fmt[-1] == "h" else 2**31 - 1
        value = int(max(-limit - 1, min(limit, value)))
    struct.pack_into(fmt, raw, offset, value)
    return _repack(bytes(raw), zipped), f"nifti_{name}={value}"


def nifti_truncate_voxels(data: bytes, rng: np.random.Generator) -> Mutation | None:
    """The uncompressed voxel data cut short (then gzipped again)."""
    payload = _nifti_payload(data)
    if payload is None or len(payload[0]) <= 352:
        return None
    raw, zipped = payload
    offset = int(rng.integers(352, len(raw)))
    return _repack(raw[:offset], zipped), f"nifti_truncate@{offset}/{len(raw)}"


def nifti_voxels(data: bytes, rng: np.random.Generator) -> Mutation | None:
    """Random voxel bytes overwritten (labels may become negative or huge)."""
    payload = _nifti_payload(data)
    if payload is None or len(payload[0]) <= 400:
        return None
    raw, zipped = bytearray(payload[0]), payload[1]
    for offset in rng.integers(352, len(raw), 16):
        raw[int(offset)] = int(rng.integers(0, 256))
    return _repack(bytes(raw), zipped), "nifti_voxels"


NIFTI_MUTATORS: tuple[Mutator, ...] = (
    truncate, flip_bytes, empty_file, nifti_header_field, nifti_truncate_voxels, nifti_voxels,
)


# ================================================================================================
# text mutators (TOML, CSV)
# ================================================================================================
_TOML_VALUES = ("nan", "-1", "1e400", '"x"', "[]", "{}", "true", '""', "[1, \"a\"]", "-0.0",
                "inf", '"L99"', "2.5", '"\\u0000"')


def _lines(data: bytes) -> list[str] | None:
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None


def text_delete_line(data: bytes, rng: np.random.Generator) -> Mutation | None:
    lines = _lines(data)
    if not lines or len(lines) < 2:
        return None
    index = int(rng.integers(len(lines)))
    del lines[index]
    return "\n".join(lines).encode("utf-8"), f"delete_line{index}"


def text_duplicate_line(data: bytes, rng: np.random.Generator) -> Mutation | None:
    lines = _lines(data)
    if not lines:
        return None
    index = int(rng.integers(len(lines)))
    lines.insert(index, lines[index])
    return "\n".join(lines).encode("utf-8"), f"duplicate_line{index}"


def text_swap_lines(data: bytes, rng: np.random.Generator) -> Mutation | None:
    lines = _lines(data)
    if not lines or len(lines) < 2:
        return None
    i, j = (int(k) for k in rng.choice(len(lines), 2, replace=False))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines).encode("utf-8"), f"swap_lines{i},{j}"


def toml_value(data: bytes, rng: np.random.Generator) -> Mutation | None:
    """The value of one ``key = value`` line replaced by a value of another type."""
    lines = _lines(data)
    if not lines:
        return None
    candidates = [
        i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")
    ]
    if not candidates:
        return None
    index = candidates[int(rng.integers(len(candidates)))]
    key = lines[index].split("=", 1)[0]
    value = _TOML_VALUES[int(rng.integers(len(_TOML_VALUES)))]
    lines[index] = f"{key}= {value}"
    return "\n".join(lines).encode("utf-8"), f"toml_value:{key.strip()}={value}"


def invalid_utf8(data: bytes, rng: np.random.Generator) -> Mutation | None:
    offset = int(rng.integers(0, len(data) + 1))
    return data[:offset] + b"\xff\xfe\xc3" + data[offset:], f"invalid_utf8@{offset}"


def csv_cell(data: bytes, rng: np.random.Generator) -> Mutation | None:
    """One CSV cell emptied, quoted open, or given an odd value."""
    lines = _lines(data)
    if not lines:
        return None
    index = int(rng.integers(len(lines)))
    cells = lines[index].split(",")
    column = int(rng.integers(len(cells)))
    values = ("", '"', "#", "L99", "auto;auto", "a,b", " ", "../../etc", "\x00")
    value = values[int(rng.integers(len(values)))]
    cells[column] = value
    lines[index] = ",".join(cells)
    return "\n".join(lines).encode("utf-8"), f"csv_cell{index},{column}={value!r}"


TEXT_MUTATORS: tuple[Mutator, ...] = (
    truncate, flip_bytes, empty_file, text_delete_line, text_duplicate_line, text_swap_lines,
    invalid_utf8,
)
TOML_MUTATORS: tuple[Mutator, ...] = (*TEXT_MUTATORS, toml_value, toml_value)
CSV_MUTATORS: tuple[Mutator, ...] = (*TEXT_MUTATORS, csv_cell, csv_cell)


# ================================================================================================
# targets and the run loop
# ================================================================================================
@dataclass(frozen=True)
class Target:
    """Files to mutate and how to read and judge them.

    Parameters
    ----------
    name : str
        Label in the counts.
    files : tuple of Path
        The original files; all are copied into a fresh folder ``work/input`` per mutation and
        one of them (``mutable`` picks which) is replaced by its mutated bytes.
    read : callable
        ``read(copied_root, copied_files, out_dir)`` -> result; may write outputs under
        ``out_dir`` only.
    judge : callable
        ``judge(result, baseline, label)`` -> "" when the result is correct, else the problem.
    mutators : tuple of callables
    mutable : tuple of int
        Indices into ``files`` that may be mutated (default: all).
    """

    name: str
    files: tuple[Path, ...]
    read: Callable[[Path, list[Path], Path], Any]
    judge: Judge
    mutators: tuple[Mutator, ...]
    mutable: tuple[int, ...] = ()


@dataclass
class Counts:
    """What happened to the mutations run."""

    tried: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    inputs_changed: int = 0
    partial_outputs: int = 0
    by_target: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, target: str, outcome: str, detail: str = "") -> None:
        self.outcomes[outcome] += 1
        self.by_target.setdefault(target, Counter())[outcome] += 1
        if detail:
            self.failures.append(detail)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mutations_tried": self.tried,
            "correct_results": self.outcomes["correct"],
            "spinetv_errors": self.outcomes["spinetv_error"],
            "other_exceptions": self.outcomes["other_exception"],
            "wrong_results": self.outcomes["wrong_result"],
            "errors_not_naming_the_file": self.outcomes["unnamed_error"],
            "errors_with_numpy_reprs": self.outcomes["numpy_repr"],
            "inputs_changed": self.inputs_changed,
            "partial_outputs": self.partial_outputs,
            "by_target": {k: dict(v) for k, v in sorted(self.by_target.items())},
        }


def _digest(paths: Sequence[Path]) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def _copy_inputs(target: Target, root: Path) -> tuple[Path, list[Path]]:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    copies = []
    for source in target.files:
        copy = root / source.name
        shutil.copyfile(source, copy)
        copies.append(copy)
    return root, copies


def baseline_of(target: Target, work: Path) -> Any:
    """The reader's result on the unmutated files (judges compare with it)."""
    root, copies = _copy_inputs(target, work / "input")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return target.read(root, copies, work / "out")


def run_one(
    target: Target, baseline: Any, rng: np.random.Generator, work: Path, counts: Counts
) -> None:
    """Apply one mutation to a fresh copy of ``target``'s files, read it and count the outcome."""
    root, copies = _copy_inputs(target, work / "input")
    out = work / "out"
    if out.exists():
        shutil.rmtree(out)
    mutable = target.mutable or tuple(range(len(copies)))
    for _ in range(20):  # draw until a mutator applies
        victim = copies[mutable[int(rng.integers(len(mutable)))]]
        mutator = target.mutators[int(rng.integers(len(target.mutators)))]
        mutation = mutator(victim.read_bytes(), rng)
        if mutation is not None:
            break
    else:
        return
    data, label = mutation
    victim.write_bytes(data)
    before = _digest(copies)
    counts.tried += 1
    where = f"{target.name} {victim.name} {label}"
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            result = target.read(root, copies, out)
        problem = target.judge(result, baseline, label)
        if problem:
            counts.add(target.name, "wrong_result", f"{where}: {problem}")
        else:
            counts.add(target.name, "correct")
    except SpinetvError as error:
        message = str(error)
        if _NUMPY_REPR.search(message):
            counts.add(target.name, "numpy_repr", f"{where}: numpy repr in message: {message}")
        elif victim.name in message or str(root) in message:
            counts.add(target.name, "spinetv_error")
        else:
            counts.add(target.name, "unnamed_error", f"{where}: message names no file: {message}")
        if out.exists() and any(p.is_file() for p in out.rglob("*")):
            counts.partial_outputs += 1
            counts.failures.append(f"{where}: partial output left in {out}")
    except Exception as error:  # noqa: BLE001 - counting what escapes is the point
        trace = traceback.format_exception(type(error), error, error.__traceback__)
        counts.add(
            target.name,
            "other_exception",
            f"{where}: {type(error).__name__}: {error}\n{''.join(trace[-4:])}",
        )
    if _digest(copies) != before:
        counts.inputs_changed += 1
        counts.failures.append(f"{where}: an input file was changed")
    extra = [p for p in root.iterdir() if p not in copies]
    if extra:
        counts.partial_outputs += 1
        counts.failures.append(f"{where}: files left beside the inputs: {extra}")


def run_fuzz(
    targets: Sequence[Target], per_target: int, seed: int, work: Path
) -> Counts:
    """Run ``per_target`` mutations on each target (seeded) and return the counts."""
    counts = Counts()
    for index, target in enumerate(targets):
        rng = np.random.default_rng([seed, index])
        target_work = work / f"t{index}"
        target_work.mkdir(parents=True, exist_ok=True)
        baseline = baseline_of(target, target_work)
        for _ in range(per_target):
            run_one(target, baseline, rng, target_work, counts)
    return counts
