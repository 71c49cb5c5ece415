"""Many cases and protocols in one run: a manifest in, one folder per case and a summary out.

The engine behind ``spinetv batch`` (free of argparse, usable from a script or a notebook):

- :func:`read_manifest` reads and checks a CSV manifest (one row per case);
- :func:`run_batch` reads each case once, plans every protocol of its row on it, in parallel
  worker processes (a local pool by default, or the workers of a Dask cluster, see
  :mod:`spinetv.batch.executors`), isolating failures (a bad case becomes a ``failed`` row with
  a one-line message, the other cases finish) and resuming a run that was interrupted, whatever
  executor ran it before;
- :func:`write_summary` writes ``summary.csv``, one row per case and protocol;
- :class:`Shard` and :func:`merge_shard_summaries` cut a manifest into deterministic parts (job
  arrays) and join their summaries (:mod:`spinetv.batch.shards`).

Output layout: ``OUT/<case_id>/<protocol>/RS.dcm`` and ``report.json`` (``figures/`` and
``report.html`` on request), a per-case done marker ``OUT/<case_id>/spinetv_done.json`` and
``OUT/summary.csv``.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from spinetv.anatomy.levels import parse_level
from spinetv.batch.executors import (
    WorkerLost,
    open_client,
    run_in_pool,
    run_in_process,
    run_on_dask,
)
from spinetv.batch.shards import Shard, merge_summaries
from spinetv.errors import AnatomyError, OutputExistsError, SpinetvError, SpinetvWarning
from spinetv.io.atomic import write_text_atomic
from spinetv.planning.protocols import load_protocol
from spinetv.vocabulary import names_a_file

if TYPE_CHECKING:
    from spinetv.evaluation import DoseEvaluation
    from spinetv.report.model import PlanReport
from spinetv.version import __version__

__all__ = [
    "BatchCase",
    "BatchRow",
    "BatchStatus",
    "BatchSummary",
    "DONE_MARKER",
    "MANIFEST_COLUMNS",
    "ManifestError",
    "ManifestWarning",
    "SUMMARY_COLUMNS",
    "Shard",
    "default_jobs",
    "merge_shard_summaries",
    "parse_vertebrae",
    "protocol_folder",
    "read_manifest",
    "run_batch",
    "write_summary",
]

log = logging.getLogger("spinetv")

#: Columns a manifest may have; ``rtstruct``, ``vertebrae`` and ``labelmap`` are optional.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "case_id",
    "image",
    "rtstruct",
    "gtv",
    "vertebrae",
    "protocols",
    "labelmap",
    "dose",
)
_REQUIRED_COLUMNS = ("case_id", "image", "gtv", "protocols")

#: Columns of ``summary.csv``, in order.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "case_id",
    "protocol",
    "status",
    "levels",
    "involved_sectors",
    "ctv_sectors",
    "ctv_cc",
    "ptv_cc",
    "ptv_eval_cc",
    "seconds",
    "dose_mandatory_passed",
    "dose_mandatory_failed",
    "dose_not_evaluable",
    "dose_optimal_passed",
    "dose_failed_limits",
    "error",
    "warnings",
)

#: Name of the per-case marker recording the finished protocols (for resuming).
DONE_MARKER = "spinetv_done.json"
SUMMARY_NAME = "summary.csv"
RTSTRUCT_NAME = "RS.dcm"
REPORT_NAME = "report.json"
DOSE_REPORT_NAME = "dose.json"
DOSE_HTML_NAME = "dose.html"
HTML_NAME = "report.html"
FIGURES_NAME = "figures"

# Case ids become folder names: keep them portable (no separators, no leading dot).
_CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
_LIST_SPLIT_RE = re.compile(r"[;|]")
_VERTEBRA_SPLIT_RE = re.compile(r"[;|,]")


class ManifestError(SpinetvError):
    """The batch manifest is malformed (the message names the file, the row and the column)."""


class ManifestWarning(SpinetvWarning):
    """Something in the manifest was tolerated (an unknown column, ignored)."""


class BatchStatus(str, enum.Enum):
    """Outcome of one case and protocol (values are the strings written to summary.csv)."""

    OK = "ok"
    FAILED = "failed"
    RESUMED = "skipped-resumed"


@dataclass(frozen=True)
class BatchCase:
    """One row of a manifest: a case and the protocols to plan on it.

    Parameters
    ----------
    case_id : str
        Folder name of the case's outputs (letters, digits, ``.``, ``_``, ``-``).
    image : Path
        DICOM series folder (or NIfTI/NRRD/MHA file) of the planning image.
    gtv : str
        ROI name of the GTV in ``rtstruct``, or a mask image file.
    protocols : tuple of str
        Protocol preset names or preset files, planned in this order.
    rtstruct : Path or None
        RTSTRUCT with the GTV, vertebrae and organs.
    vertebrae : str
        ``"auto"``, levels (``"L1;L2"``) or ``ROI=LEVEL`` pairs, as for ``spinetv plan``.
    labelmap : Path or None
        TotalSegmentator label map on the image grid, for the vertebrae.
    doses : mapping of str to Path
        Per protocol (as named in ``protocols``), an RTDOSE evaluated against that protocol's
        limits after planning (empty: no dose evaluation).
    row : int or None
        Line of the manifest the case came from (for messages).
    """

    case_id: str
    image: Path
    gtv: str
    protocols: tuple[str, ...]
    rtstruct: Path | None = None
    vertebrae: str = "auto"
    labelmap: Path | None = None
    doses: Mapping[str, Path] = field(default_factory=dict)
    row: int | None = None

    def __post_init__(self) -> None:
        if not _CASE_ID_RE.match(self.case_id):
            raise SpinetvError(
                f"case_id {self.case_id!r}: expected letters, digits, '.', '_' or '-' "
                "(it names the case's output folder)"
            )
        if not self.protocols:
            raise SpinetvError(f"case {self.case_id}: no protocol given")
        folders = [protocol_folder(p) for p in self.protocols]
        if len(set(folders)) != len(folders):
            raise SpinetvError(
                f"case {self.case_id}: protocols {', '.join(self.protocols)} would share an "
                "output folder (same name twice?)"
            )
        parse_vertebrae(self.vertebrae)

    def inputs(self) -> dict[str, str]:
        """The inputs as strings; a finished protocol is resumed only when they are unchanged.

        Returns
        -------
        dict of str to str
            ``image``, ``rtstruct``, ``gtv``, ``vertebrae`` and ``labelmap`` ("" for an absent
            optional input), and ``dose`` when doses are given, as recorded in the done marker.
        """
        inputs = {
            "image": str(self.image),
            "rtstruct": "" if self.rtstruct is None else str(self.rtstruct),
            "gtv": self.gtv,
            "vertebrae": self.vertebrae,
            "labelmap": "" if self.labelmap is None else str(self.labelmap),
        }
        if self.doses:
            inputs["dose"] = ";".join(f"{p}={d}" for p, d in sorted(self.doses.items()))
        return inputs


@dataclass(frozen=True)
class BatchRow:
    """The outcome of one case and protocol (one row of ``summary.csv``).

    Parameters
    ----------
    case_id, protocol : str
        Which case and protocol.
    status : BatchStatus
        ``ok``, ``failed`` or ``skipped-resumed`` (finished by an earlier run, not redone).
    levels : tuple of str
        The levels whose CTV is not empty, cranial first.
    involved_sectors, ctv_sectors : mapping of str to tuple of int
        Per level, the sectors the GTV involves and the sectors the CTV takes.
    ctv_cc, ptv_cc, ptv_eval_cc : float or None
        Volumes in cc (None when not made).
    seconds : float
        Wall time of planning and writing this protocol (excluding reading the case), s.
    dose : mapping, optional
        The dose evaluation's summary when a dose was given: counts ``mandatory_passed``,
        ``mandatory_failed``, ``not_evaluable``, ``optimal_passed`` and ``failed_limits`` (the
        mandatory limits not met, as ``STRUCTURE METRIC``).
    error : str
        One-line message of a failure ("" when ok).
    warnings : tuple of str
        Warnings raised while reading and planning.
    """

    case_id: str
    protocol: str
    status: BatchStatus
    levels: tuple[str, ...] = ()
    involved_sectors: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    ctv_sectors: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    ctv_cc: float | None = None
    ptv_cc: float | None = None
    ptv_eval_cc: float | None = None
    seconds: float = 0.0
    dose: Mapping[str, Any] | None = None
    error: str = ""
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (see :meth:`from_json`).

        Returns
        -------
        dict of str to Any
            Every field; ``status`` as its string, tuples as lists, volumes in cm³ (None when
            not made), ``seconds`` in s.
        """
        return {
            "case_id": self.case_id,
            "protocol": self.protocol,
            "status": self.status.value,
            "levels": list(self.levels),
            "involved_sectors": {k: list(v) for k, v in self.involved_sectors.items()},
            "ctv_sectors": {k: list(v) for k, v in self.ctv_sectors.items()},
            "ctv_cc": self.ctv_cc,
            "ptv_cc": self.ptv_cc,
            "ptv_eval_cc": self.ptv_eval_cc,
            "seconds": self.seconds,
            "dose": None if self.dose is None else dict(self.dose),
            "error": self.error,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchRow:
        """The row :meth:`to_json` wrote.

        Parameters
        ----------
        data : mapping of str to Any
            A dictionary as :meth:`to_json` makes it; ``case_id``, ``protocol`` and ``status``
            are required, the other fields default as in the constructor.

        Returns
        -------
        BatchRow
            The row.

        Notes
        -----
        Malformed data raises ``KeyError``, ``TypeError`` or ``ValueError``, not a
        :class:`~spinetv.errors.SpinetvError`: the only caller, resuming, treats such a row as
        unfinished.
        """
        return cls(
            case_id=str(data["case_id"]),
            protocol=str(data["protocol"]),
            status=BatchStatus(data["status"]),
            levels=tuple(data.get("levels", ())),
            involved_sectors={
                k: tuple(int(s) for s in v) for k, v in data.get("involved_sectors", {}).items()
            },
            ctv_sectors={
                k: tuple(int(s) for s in v) for k, v in data.get("ctv_sectors", {}).items()
            },
            ctv_cc=data.get("ctv_cc"),
            ptv_cc=data.get("ptv_cc"),
            ptv_eval_cc=data.get("ptv_eval_cc"),
            seconds=float(data.get("seconds", 0.0)),
            dose=data.get("dose"),
            error=str(data.get("error", "")),
            warnings=tuple(data.get("warnings", ())),
        )

    def csv_fields(self) -> dict[str, str]:
        """The row as ``summary.csv`` strings.

        Returns
        -------
        dict of str to str
            One entry per :data:`SUMMARY_COLUMNS` name: levels joined by ``;``, sectors as
            ``L1:1,2;L2:1``, volumes in cm³ to 3 decimals ("" when not made), ``seconds`` in s
            to 2 decimals, warnings joined by ``" | "``.
        """

        def sectors(by_level: Mapping[str, tuple[int, ...]]) -> str:
            return ";".join(f"{lv}:{','.join(map(str, s))}" for lv, s in by_level.items())

        def cc(value: float | None) -> str:
            return "" if value is None else f"{value:.3f}"

        dose = self.dose or {}

        def count(key: str) -> str:
            return "" if key not in dose else str(dose[key])

        return {
            "case_id": self.case_id,
            "protocol": self.protocol,
            "status": self.status.value,
            "levels": ";".join(self.levels),
            "involved_sectors": sectors(self.involved_sectors),
            "ctv_sectors": sectors(self.ctv_sectors),
            "ctv_cc": cc(self.ctv_cc),
            "ptv_cc": cc(self.ptv_cc),
            "ptv_eval_cc": cc(self.ptv_eval_cc),
            "seconds": f"{self.seconds:.2f}",
            "dose_mandatory_passed": count("mandatory_passed"),
            "dose_mandatory_failed": count("mandatory_failed"),
            "dose_not_evaluable": count("not_evaluable"),
            "dose_optimal_passed": count("optimal_passed"),
            "dose_failed_limits": ";".join(dose.get("failed_limits", [])),
            "error": self.error,
            "warnings": " | ".join(self.warnings),
        }


@dataclass(frozen=True)
class BatchSummary:
    """Every row of a batch run and where the summary went."""

    rows: tuple[BatchRow, ...]
    summary_path: Path
    seconds: float

    def count(self, status: BatchStatus) -> int:
        """How many rows have ``status``.

        Parameters
        ----------
        status : BatchStatus
            The outcome to count (a member, not its string).

        Returns
        -------
        int
            The number of rows with that status.
        """
        return sum(1 for row in self.rows if row.status is status)

    @property
    def failed(self) -> tuple[BatchRow, ...]:
        """The failed rows."""
        return tuple(row for row in self.rows if row.status is BatchStatus.FAILED)


# ---- manifest -------------------------------------------------------------------------------
def protocol_folder(protocol: str) -> str:
    """Output folder name of a protocol: the preset name, or a preset file's stem.

    Parameters
    ----------
    protocol : str
        A shipped preset name or a preset file path.

    Returns
    -------
    str
        The last path component without its final suffix (``"a/b/mine.toml"`` gives
        ``"mine"``).
    """
    return Path(protocol).stem


def parse_vertebrae(text: str) -> str | list[str] | dict[str, str]:
    """A manifest's ``vertebrae`` cell: ``auto``, levels or ``ROI=LEVEL`` pairs.

    Items are separated by ``;``, ``|`` or ``,``: ``"L1;L2"``, ``"Vert_A=L2;Vert_B=L3"``.

    Parameters
    ----------
    text : str
        The cell; surrounding spaces are ignored, "" means ``auto``.

    Returns
    -------
    str, list of str or dict of str to str
        ``"auto"``; the level names as written; or ROI name to level name (either side of a
        pair may be the level, as for ``--vertebrae``).

    Raises
    ------
    SpinetvError
        A level that is not one, a pair neither side of which is a level, one name given
        twice, or a mix of levels and pairs.
    """
    text = text.strip()
    if text in ("", "auto"):
        return "auto"
    parts = [p.strip() for p in _VERTEBRA_SPLIT_RE.split(text) if p.strip()]
    if all("=" in p for p in parts):
        pairs = [tuple(side.strip() for side in p.split("=", 1)) for p in parts]
        keys = [key for key, _ in pairs]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise SpinetvError(f"{text!r}: {', '.join(map(repr, repeated))} given twice")
        neither = [
            f"{k}={v}" for k, v in pairs if parse_level(k) is None and parse_level(v) is None
        ]
        if neither:
            raise SpinetvError(
                f"{', '.join(map(repr, neither))}: neither side is a vertebral level "
                "(expected ROI=LEVEL, e.g. Vert_A=L2)"
            )
        return {key: value for key, value in pairs}
    if any("=" in p for p in parts):
        raise SpinetvError(f"{text!r}: a mix of levels and ROI=LEVEL pairs")
    bad = [p for p in parts if parse_level(p) is None]
    if bad:
        raise SpinetvError(
            f"{', '.join(map(repr, bad))} is not a vertebral level (expected e.g. L2, T12, S1, "
            "or 'auto')"
        )
    return parts


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _is_protocol_file(value: str) -> bool:
    return names_a_file(value)


def _dose_cell(text: str, protocols: Sequence[str], base: Path) -> dict[str, Path]:
    """A manifest's ``dose`` cell: one RTDOSE for every protocol of the row, or
    ``PROTOCOL=RD.dcm`` pairs (one per trial arm) separated by ``;`` or ``|``."""
    text = text.strip()
    if not text:
        return {}
    parts = [p.strip() for p in _LIST_SPLIT_RE.split(text) if p.strip()]
    if len(parts) == 1 and "=" not in parts[0]:
        path = _resolve(base, parts[0])
        return {protocol: path for protocol in protocols}
    doses: dict[str, Path] = {}
    by_stem = {Path(p).stem: p for p in protocols} | {p: p for p in protocols}
    for part in parts:
        if "=" not in part:
            raise SpinetvError(
                f"{part!r}: give one RTDOSE for every protocol, or PROTOCOL=RD.dcm pairs"
            )
        name, file = (side.strip() for side in part.split("=", 1))
        if name not in by_stem:
            raise SpinetvError(
                f"{name!r} is not a protocol of this row ({', '.join(by_stem)})"
            )
        doses[by_stem[name]] = _resolve(base, file)
    return doses


def read_manifest(path: str | os.PathLike[str]) -> tuple[BatchCase, ...]:
    """Read a batch manifest (CSV with a header row).

    Columns: ``case_id``, ``image``, ``rtstruct`` (optional), ``gtv``, ``vertebrae``
    (optional, ``auto`` by default), ``protocols`` (one or several, separated by ``;`` or
    ``|``), ``labelmap`` (optional). Relative paths (image, rtstruct, labelmap, protocol files)
    are resolved against the manifest's folder. Blank rows and rows whose ``case_id`` starts
    with ``#`` are skipped. Input files are not opened here: a missing file fails its case,
    not the batch.

    Parameters
    ----------
    path : path-like
        The manifest.

    Returns
    -------
    tuple of BatchCase
        In the order of the file.

    Raises
    ------
    ManifestError
        Unreadable file, a missing required column, an empty or duplicate ``case_id``, an empty
        required cell, an unknown protocol, a bad ``vertebrae`` cell; the message names the
        file, the row (line number) and the column.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"{source}: no such manifest file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{source}: cannot read the manifest ({error})") from None
    reader = csv.reader(io.StringIO(text))
    header_row = next(reader, None)
    if header_row is None or not any(h.strip() for h in header_row):
        raise ManifestError(
            f"{source}: row 1: expected a header row with columns {', '.join(MANIFEST_COLUMNS)}"
        )
    header = [h.strip().lower() for h in header_row]
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(
            f"{source}: row 1: missing column(s) {', '.join(missing)}; found "
            f"{', '.join(header)}; expected {', '.join(MANIFEST_COLUMNS)}"
        )
    duplicated = sorted({h for h in header if h and header.count(h) > 1})
    if duplicated:
        raise ManifestError(f"{source}: row 1: column(s) {', '.join(duplicated)} given twice")
    unknown = [h for h in header if h and h not in MANIFEST_COLUMNS]
    if unknown:
        warnings.warn(
            f"{source}: column(s) {', '.join(unknown)} ignored (known: "
            f"{', '.join(MANIFEST_COLUMNS)})",
            ManifestWarning,
            stacklevel=2,
        )
    base = source.resolve().parent
    protocols_checked: dict[str, str] = {}
    cases: list[BatchCase] = []
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            raise ManifestError(
                f"{source}: row {line}: {len(cells)} cells but {len(header)} columns "
                "(a comma inside an unquoted cell?)"
            )
        values = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}
        case_id = values["case_id"]
        if case_id.startswith("#"):
            continue

        def fail(column: str, message: str, line: int = line, case_id: str = case_id) -> NoReturn:
            where = f"row {line}" + (f" (case {case_id})" if case_id else "")
            raise ManifestError(f"{source}: {where}, column {column!r}: {message}")

        for column in _REQUIRED_COLUMNS:
            if not values[column]:
                fail(column, "empty; a value is required")
        if not _CASE_ID_RE.match(case_id):
            fail("case_id", "expected letters, digits, '.', '_' or '-' (it names a folder)")
        folded = case_id.lower()
        if folded in seen:
            fail("case_id", f"duplicate of row {seen[folded]}")
        seen[folded] = line
        protocols: list[str] = []
        for item in _LIST_SPLIT_RE.split(values["protocols"]):
            name = item.strip()
            if not name:
                continue
            if _is_protocol_file(name):
                name = str(_resolve(base, name))
            if name not in protocols_checked:
                try:
                    protocols_checked[name] = load_protocol(name).id
                except SpinetvError as error:
                    fail("protocols", str(error))
            protocols.append(name)
        if not protocols:
            fail("protocols", "no protocol named (separate several with ';' or '|')")
        vertebrae = values.get("vertebrae", "") or "auto"
        try:
            parse_vertebrae(vertebrae)
        except SpinetvError as error:
            fail("vertebrae", str(error))
        gtv = values["gtv"]
        if gtv.lower().endswith((".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")):
            gtv = str(_resolve(base, gtv))
        rtstruct = values.get("rtstruct", "")
        labelmap = values.get("labelmap", "")
        try:
            doses = _dose_cell(values.get("dose", ""), protocols, base)
        except SpinetvError as error:
            fail("dose", str(error))
        try:
            cases.append(
                BatchCase(
                    case_id=case_id,
                    image=_resolve(base, values["image"]),
                    gtv=gtv,
                    protocols=tuple(protocols),
                    rtstruct=_resolve(base, rtstruct) if rtstruct else None,
                    vertebrae=vertebrae,
                    labelmap=_resolve(base, labelmap) if labelmap else None,
                    doses=doses,
                    row=line,
                )
            )
        except SpinetvError as error:
            fail("protocols", str(error))
    if not cases:
        raise ManifestError(f"{source}: no case rows below the header")
    return tuple(cases)


# ---- outputs and resuming -------------------------------------------------------------------
def _protocol_dir(out_dir: Path, case_id: str, protocol: str) -> Path:
    return out_dir / case_id / protocol_folder(protocol)


def _expected_outputs(folder: Path, figures: bool, html: bool) -> list[Path]:
    paths = [folder / RTSTRUCT_NAME, folder / REPORT_NAME]
    if figures:
        paths.append(folder / FIGURES_NAME)
    if html:
        paths.append(folder / HTML_NAME)
    return paths


def _read_marker(case_dir: Path) -> dict[str, Any] | None:
    marker = case_dir / DONE_MARKER
    if not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        # A damaged marker only costs a redo of the case.
        return None
    return data if isinstance(data, dict) else None


def _input_stamps(case: BatchCase) -> dict[str, str]:
    """Size and modification time of each input file of a case, for resuming.

    A series folder is stamped by its files (count, total size, latest modification), a
    protocol given as a file by the file; a path that cannot be read is stamped so.

    Parameters
    ----------
    case : BatchCase
        The case.

    Returns
    -------
    dict of str to str
        ``image``, ``rtstruct``, ``labelmap`` (when given), ``dose:<protocol>`` and
        ``protocol:<file>`` to their stamps.
    """
    paths: dict[str, Path | None] = {
        "image": case.image, "rtstruct": case.rtstruct, "labelmap": case.labelmap,
    }
    paths.update({f"dose:{p}": d for p, d in case.doses.items()})
    paths.update({f"protocol:{p}": Path(p) for p in case.protocols if _is_protocol_file(p)})
    return {key: _stamp(path) for key, path in sorted(paths.items()) if path is not None}


def _stamp(path: Path) -> str:
    try:
        if path.is_dir():
            count = size = latest = 0
            for root, _, names in os.walk(path):
                for name in names:
                    status = os.stat(os.path.join(root, name))
                    count += 1
                    size += status.st_size
                    latest = max(latest, status.st_mtime_ns)
            return f"{count} files, {size} bytes, modified {latest} ns"
        status = path.stat()
        return f"{status.st_size} bytes, modified {status.st_mtime_ns} ns"
    except OSError:
        return "unreadable"


def _finished(case: BatchCase, out_dir: Path, *, figures: bool, html: bool) -> dict[str, BatchRow]:
    """Protocols of ``case`` an earlier run of this version finished with the same inputs (the
    same paths, and files of the same size and modification time), as resumed rows."""
    marker = _read_marker(out_dir / case.case_id)
    if (
        marker is None
        or marker.get("inputs") != case.inputs()
        or marker.get("stamps") != _input_stamps(case)
        or marker.get("spinetv_version") != __version__
    ):
        return {}
    done: dict[str, BatchRow] = {}
    for protocol, entry in dict(marker.get("protocols", {})).items():
        if protocol not in case.protocols:
            continue
        folder = _protocol_dir(out_dir, case.case_id, protocol)
        if not all(p.exists() for p in _expected_outputs(folder, figures, html)):
            continue
        if protocol in case.doses and not (folder / DOSE_REPORT_NAME).exists():
            continue
        try:
            row = BatchRow.from_json(entry)
        except (KeyError, TypeError, ValueError):
            continue
        if row.status is BatchStatus.OK:
            done[protocol] = replace(row, status=BatchStatus.RESUMED)
    return done


def _remove_partial_files(case_dir: Path) -> None:
    """Remove the temporary files of an attempt that died mid-write (killed, out of memory).

    Outputs are written to ``.<name>.*.part`` beside their final name and renamed when whole
    (:func:`spinetv.io.atomic.atomic_output`); only a killed process leaves one behind.
    """
    if not case_dir.is_dir():
        return
    for leftover in case_dir.rglob(".*.part"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)


def _write_marker(
    case: BatchCase, out_dir: Path, rows: Mapping[str, BatchRow], stamps: Mapping[str, str]
) -> None:
    marker = {
        "spinetv_version": __version__,
        "case_id": case.case_id,
        "inputs": case.inputs(),
        # Taken before the case was read: an input changed during the run is redone next time.
        "stamps": dict(stamps),
        "protocols": {p: r.to_json() for p, r in rows.items()},
    }
    write_text_atomic(
        out_dir / case.case_id / DONE_MARKER, json.dumps(marker, indent=2) + "\n", overwrite=True
    )


# ---- the work of one case (runs in a worker process) ----------------------------------------
@dataclass(frozen=True)
class _Task:
    case: BatchCase
    todo: tuple[str, ...]
    out_dir: Path
    figures: bool
    html: bool
    finished: Mapping[str, BatchRow]


def _one_line(error: BaseException) -> str:
    text = str(error) if isinstance(error, SpinetvError) else f"{type(error).__name__}: {error}"
    return " ".join(text.split())


def _warning_texts(caught: Sequence[warnings.WarningMessage]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))


def _ok_row(case_id: str, protocol: str, report: PlanReport, seconds: float) -> BatchRow:
    def cc(name: str) -> float | None:
        entry = report.structures.get(name)
        return None if entry is None else entry.volume_cc

    return BatchRow(
        case_id=case_id,
        protocol=protocol,
        status=BatchStatus.OK,
        levels=report.involved_levels,
        involved_sectors={e.level: e.involved_sectors for e in report.levels if e.involved_sectors},
        ctv_sectors={e.level: e.ctv_sectors for e in report.levels if e.ctv_sectors},
        ctv_cc=cc("CTV"),
        ptv_cc=cc("PTV"),
        ptv_eval_cc=cc("PTV_Eval"),
        seconds=round(seconds, 3),
    )


def _dose_summary(evaluation: DoseEvaluation) -> dict[str, Any]:
    summary = evaluation.summary
    return {
        "mandatory_passed": summary["mandatory"]["passed"],
        "mandatory_failed": summary["mandatory"]["failed"],
        "not_evaluable": summary["mandatory"]["not_evaluable"]
        + summary["optimal"]["not_evaluable"],
        "optimal_passed": summary["optimal"]["passed"],
        "failed_limits": [
            f"{r.constraint.structure} {r.constraint.metric}"
            for r in evaluation.results
            if r.constraint.priority == "mandatory" and r.passed is False
        ],
    }


def _run_case(task: _Task) -> list[BatchRow]:
    """Read the case once and plan each protocol still to do; never raises for one case."""
    # Imported here: the pipeline pulls in scipy/scikit-image, which only workers need.
    from spinetv.case import load_case
    from spinetv.dose_outputs import evaluate_planned
    from spinetv.outputs import PlanOutputs, plan_and_write
    from spinetv.pipeline import PlanOptions

    case = task.case
    rows: list[BatchRow] = []
    stamps = _input_stamps(case)
    # A case runs in one place at a time: leftovers are from an earlier attempt that died.
    _remove_partial_files(task.out_dir / case.case_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = load_case(
                case.image,
                case.rtstruct,
                gtv=case.gtv,
                vertebrae=parse_vertebrae(case.vertebrae),
                labelmap=case.labelmap,
            )
            if not loaded.anatomy.vertebrae:
                raise AnatomyError(
                    "no vertebra found: name ROIs like L2 / Vertebra_L2, map them in the "
                    "'vertebrae' column (ROI=L2), or give a 'labelmap'"
                )
        except Exception as error:  # isolate the case: report it, let the others finish
            log.debug("case %s could not be read", case.case_id, exc_info=True)
            message = f"reading the case: {_one_line(error)}"
            texts = _warning_texts(caught)
            return [
                BatchRow(case.case_id, p, BatchStatus.FAILED, error=message, warnings=texts)
                for p in task.todo
            ]
        read_warnings = len(caught)
        done = dict(task.finished)
        for protocol in task.todo:
            folder = _protocol_dir(task.out_dir, case.case_id, protocol)
            start = time.perf_counter()
            del caught[read_warnings:]
            try:
                written = plan_and_write(
                    loaded,
                    PlanOptions(protocol=protocol),
                    PlanOutputs(
                        structures=folder / RTSTRUCT_NAME,
                        report=folder / REPORT_NAME,
                        figures=folder / FIGURES_NAME if task.figures else None,
                        html=folder / HTML_NAME if task.html else None,
                    ),
                    overwrite=True,
                )
            except Exception as error:  # isolate the protocol: report it, plan the next one
                log.debug("case %s, %s failed", case.case_id, protocol, exc_info=True)
                rows.append(
                    BatchRow(
                        case.case_id,
                        protocol,
                        BatchStatus.FAILED,
                        seconds=round(time.perf_counter() - start, 3),
                        error=_one_line(error),
                        warnings=_warning_texts(caught),
                    )
                )
                continue
            dose_summary = None
            if protocol in case.doses:
                try:
                    evaluation = evaluate_planned(
                        loaded,
                        written.result,
                        [case.doses[protocol]],
                        report=folder / DOSE_REPORT_NAME,
                        html=folder / DOSE_HTML_NAME if task.html else None,
                        overwrite=True,
                    )
                except Exception as error:  # the plan stands; its dose evaluation failed
                    log.debug("case %s, %s: dose", case.case_id, protocol, exc_info=True)
                    rows.append(
                        BatchRow(
                            case.case_id,
                            protocol,
                            BatchStatus.FAILED,
                            seconds=round(time.perf_counter() - start, 3),
                            error=f"dose evaluation: {_one_line(error)}",
                            warnings=_warning_texts(caught),
                        )
                    )
                    continue
                dose_summary = _dose_summary(evaluation)
            row = _ok_row(case.case_id, protocol, written.report, time.perf_counter() - start)
            row = replace(row, dose=dose_summary)
            row = replace(row, warnings=_warning_texts(caught))
            rows.append(row)
            done[protocol] = row
            _write_marker(case, task.out_dir, done, stamps)
    return rows


# ---- the run --------------------------------------------------------------------------------
def default_jobs() -> int:
    """Worker processes by default: ``min(2, CPUs)`` (planning one case takes ~1 GB at most).

    Returns
    -------
    int
        1 or 2 worker processes.
    """
    return max(1, min(2, os.cpu_count() or 1))


def _check_fresh(cases: Sequence[BatchCase], out_dir: Path) -> None:
    for case in cases:
        folder = out_dir / case.case_id
        if folder.is_dir() and any(folder.iterdir()):
            raise OutputExistsError(
                f"{folder}: holds outputs of an earlier run; resume it (the default), or pass "
                "force=True (--force) to redo every case"
            )


def _check_absolute(tasks: Sequence[_Task]) -> None:
    """On Dask, a relative input path would be read from the worker's own folder: refuse it."""
    for task in tasks:
        case = task.case
        paths = [case.image, case.rtstruct, case.labelmap, *case.doses.values()]
        relative = [str(p) for p in paths if p is not None and not Path(p).is_absolute()]
        if relative:
            raise SpinetvError(
                f"case {case.case_id}: {', '.join(relative)} relative; Dask workers run in "
                "their own folders, so give absolute paths (read_manifest makes a manifest's "
                "paths absolute)"
            )


def run_batch(
    cases: Sequence[BatchCase],
    out_dir: str | os.PathLike[str],
    *,
    jobs: int | None = None,
    resume: bool = True,
    force: bool = False,
    figures: bool = False,
    html: bool = False,
    progress: Callable[[int, int, BatchRow], None] | None = None,
    client: Any = None,
    scheduler: str | None = None,
    shard: Shard | str | None = None,
) -> BatchSummary:
    """Plan every protocol of every case; write the outputs and ``summary.csv``.

    Parameters
    ----------
    cases : sequence of BatchCase
        From :func:`read_manifest` or built in code.
    out_dir : path-like
        Output folder (created); ``<case_id>/<protocol>/`` per case and protocol.
    jobs : int, optional
        Local worker processes (default :func:`default_jobs`); 1 runs in this process. Not used
        on Dask.
    resume : bool, default True
        Skip a case and protocol an earlier run finished with the same inputs (its outputs and
        the case's done marker exist), whichever executor ran it; failed ones are retried.
    force : bool, default False
        Redo everything and replace the outputs (resuming is then off).
    figures : bool, default False
        Also write QA figures (``figures/`` per case and protocol).
    html : bool, default False
        Also write the self-contained HTML report (``report.html``).
    progress : callable, optional
        Called in this process as ``progress(done, total, row)`` after each row is known.
    client : distributed.Client, optional
        Run each case on this Dask cluster's workers (they need the same spinetv version and
        the case and output paths on shared storage; the cases' paths must be absolute). A
        case whose worker dies is retried on another one, as often as the scheduler's
        ``allowed-failures`` permits, then reported failed with the cause.
    scheduler : str, optional
        Instead of ``client``: a scheduler address (``tcp://host:8786``) to connect to, or
        ``local:N`` to start a local Dask cluster of N workers for this run.
    shard : Shard or str, optional
        Run only this part of ``cases`` (``"K/N"``, see :class:`Shard`); the summary is then
        ``summary.shard-K-of-N.csv``, joined by :func:`merge_shard_summaries`.

    Returns
    -------
    BatchSummary
        One row per case and protocol, in manifest order; ``summary_path`` is the CSV.

    Raises
    ------
    OutputExistsError
        ``resume`` and ``force`` are both false and a case folder already holds outputs.
    SpinetvError
        ``jobs`` below 1, two cases with the same id, both ``client`` and ``scheduler``, a bad
        ``shard``; Dask asked for without the ``cluster`` extra, no scheduler at the address,
        workers on another spinetv version, or a relative input path on Dask.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    workers = default_jobs() if jobs is None else int(jobs)
    if workers < 1:
        raise SpinetvError(f"jobs: expected at least 1 worker process, got {jobs}")
    if client is not None and scheduler is not None:
        raise SpinetvError("give a Dask client or a scheduler address, not both")
    ids = [c.case_id.lower() for c in cases]
    if len(set(ids)) != len(ids):
        raise SpinetvError("cases: two cases share a case_id (their outputs would collide)")
    part = Shard.parse(shard) if isinstance(shard, str) else shard
    if part is not None:
        cases = part.select(cases)
    resume = resume and not force
    if not resume and not force:
        _check_fresh(cases, out)
    out.mkdir(parents=True, exist_ok=True)

    results: dict[tuple[str, str], BatchRow] = {}
    total = sum(len(c.protocols) for c in cases)

    def record(row: BatchRow) -> None:
        results[(row.case_id, row.protocol)] = row
        if progress is not None:
            progress(len(results), total, row)

    tasks: list[_Task] = []
    for case in cases:
        finished = _finished(case, out, figures=figures, html=html) if resume else {}
        for protocol in case.protocols:
            if protocol in finished:
                record(finished[protocol])
        todo = tuple(p for p in case.protocols if p not in finished)
        if todo:
            # Absolute: a worker may run in another folder (or on another machine).
            tasks.append(_Task(case, todo, out.absolute(), figures, html, finished))

    with ExitStack() as stack:
        outcomes: Generator[tuple[_Task, list[BatchRow] | WorkerLost], None, None]
        if scheduler is not None:
            client = stack.enter_context(open_client(scheduler))
        if client is not None:
            _check_absolute(tasks)
            outcomes = run_on_dask(_run_case, tasks, client, key=lambda t: t.case.case_id)
        elif workers == 1 or len(tasks) <= 1:
            outcomes = run_in_process(_run_case, tasks)
        else:
            outcomes = run_in_pool(_run_case, tasks, workers)
        # closing(): an interrupted loop stops the executor (cancels what has not started).
        for task, outcome in stack.enter_context(closing(outcomes)):
            if isinstance(outcome, WorkerLost):
                _remove_partial_files(out / task.case.case_id)
                outcome = [
                    BatchRow(task.case.case_id, p, BatchStatus.FAILED, error=outcome.cause)
                    for p in task.todo
                ]
            for row in outcome:
                record(row)

    ordered = tuple(results[(c.case_id, p)] for c in cases for p in c.protocols)
    name = SUMMARY_NAME if part is None else part.summary_name
    path = write_summary(ordered, out / name)
    return BatchSummary(ordered, path, time.perf_counter() - start)


def merge_shard_summaries(out_dir: str | os.PathLike[str]) -> Path:
    """Join the part summaries of a run split with ``shard`` into ``summary.csv``.

    Parameters
    ----------
    out_dir : path-like
        The output folder all parts wrote into, holding ``summary.shard-K-of-N.csv`` for every
        K from 1 to N.

    Returns
    -------
    Path
        ``out_dir/summary.csv`` (replaced), its rows in manifest order.

    Raises
    ------
    SpinetvError
        No part summary, a missing part, parts of different N, a case in two parts.
    """
    path, _ = merge_summaries(out_dir, columns=SUMMARY_COLUMNS, name=SUMMARY_NAME)
    return path


def write_summary(rows: Sequence[BatchRow], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` as CSV (columns :data:`SUMMARY_COLUMNS`), atomically, replacing ``path``.

    Parameters
    ----------
    rows : sequence of BatchRow
        The rows, written in this order after a header row.
    path : path-like
        The CSV file; missing parent folders are created.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OutputExistsError
        When ``path`` is a folder, or a folder on its way is a file.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.csv_fields())
    return write_text_atomic(path, buffer.getvalue(), overwrite=True)
