"""The node's store on disk: the spool of received objects, the cases and their state.

Layout under the store folder::

    incoming/<StudyInstanceUID>/<SeriesInstanceUID>/CT.<SOPInstanceUID>.dcm   (or MR., RS.)
    cases/<RTSTRUCT SOPInstanceUID>/case.json      received: the case is complete
                                     result/        planned: RTSTRUCT(s) and reports
                                     sending-<key>.json   files a destination accepted so far
                                     sent-<key>.json      delivered there
                                     send-failed-<key>.json   not deliverable there (reason)
                                     send-attempts-<key>  failed attempts to deliver there
                                     failed.json    planning failed (the reason)
                                     superseded-<n>/  a result replaced when its series grew
                                     stale.json     the series grew again after that
    rejected/<time>-<n>.dcm and .txt              objects set aside, with the reason

Every file is written to a temporary name in its folder, flushed to disk and renamed, so a
crash leaves either the whole file or none; ``result/`` is filled under ``result.part/`` and
renamed when complete. The state of a case is therefore what is on disk, and a restarted node
carries on from there: nothing lives only in memory.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from spinetv.errors import SpinetvError

__all__ = [
    "CT_IMAGE_STORAGE",
    "MR_IMAGE_STORAGE",
    "RT_STRUCTURE_SET_STORAGE",
    "ACCEPTED_SOP_CLASSES",
    "CaseRecord",
    "CaseState",
    "Readiness",
    "Spool",
    "StructureSetInfo",
    "is_uid",
    "read_structure_set_info",
    "readiness",
    "write_durable",
]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: SOP class UID -> file name prefix in the spool.
ACCEPTED_SOP_CLASSES: dict[str, str] = {
    CT_IMAGE_STORAGE: "CT",
    MR_IMAGE_STORAGE: "MR",
    RT_STRUCTURE_SET_STORAGE: "RS",
}

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
#: Prefixes tolerated on reading a spool: UIDs with leading zeros in a component are invalid
#: but met in the field; they are safe as file names all the same.
_UID_LOOSE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def is_uid(text: Any, *, strict: bool = False) -> bool:
    """Whether ``text`` is a DICOM UID safe to use as a file name (digits and dots, <= 64).

    Parameters
    ----------
    text : object
        The value.
    strict : bool, default False
        Also refuse components with a leading zero (PS3.5 9.1).

    Returns
    -------
    bool
        True for a UID.
    """
    if not isinstance(text, str) or not 0 < len(text) <= 64:
        return False
    return bool((_UID if strict else _UID_LOOSE).match(text))


def write_durable(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file, flushed to disk and renamed.

    An existing file of that name is replaced (an object sent again under its SOP Instance
    UID is the same object).

    Parameters
    ----------
    path : Path
        The file.
    data : bytes
        Its content.

    Returns
    -------
    Path
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return path


def _write_json(path: Path, value: Any) -> Path:
    return write_durable(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


class CaseState(Enum):
    """Where a case stands; each state is a marker on disk."""

    RECEIVED = "received"
    PLANNED = "planned"
    SENT = "sent"
    SEND_FAILED = "send failed"
    FAILED = "failed"


@dataclass(frozen=True)
class CaseRecord:
    """What a received case is: written once to ``case.json`` when the case is complete.

    Parameters
    ----------
    case_id : str
        The RTSTRUCT's SOP Instance UID.
    rtstruct : str
        The spooled RTSTRUCT file.
    series : str
        The spooled image series folder.
    protocols : tuple of str
        The protocols to run (chosen when received, so a restart plans the same).
    gtv : tuple of str
        GTV ROI names to look for, in order.
    reason : str
        Why these protocols ("default" or the rule).
    slices : int
        Image files in the series folder when the case was received.
    ready : str
        Why the case was taken as complete.
    received_at : float
        When (seconds since the epoch).
    replans : int, default 0
        How often the case was planned again because its series grew after planning.
    """

    case_id: str
    rtstruct: str
    series: str
    protocols: tuple[str, ...]
    gtv: tuple[str, ...]
    reason: str
    slices: int
    ready: str
    received_at: float
    replans: int = 0

    @classmethod
    def from_json(cls, data: Any, where: Path) -> CaseRecord:
        """Read a record back from ``case.json``'s content."""
        try:
            return cls(
                case_id=str(data["case_id"]),
                rtstruct=str(data["rtstruct"]),
                series=str(data["series"]),
                protocols=tuple(data["protocols"]),
                gtv=tuple(data["gtv"]),
                reason=str(data["reason"]),
                slices=int(data["slices"]),
                ready=str(data["ready"]),
                received_at=float(data["received_at"]),
                replans=int(data.get("replans", 0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SpinetvError(f"{where}: not a case record ({error})") from None


@dataclass(frozen=True)
class StructureSetInfo:
    """What the node needs of a spooled RTSTRUCT to know whether its case is complete.

    Parameters
    ----------
    path : Path
        The spooled file.
    sop_instance_uid, study_instance_uid : str
        Its UIDs.
    referenced_series : tuple of str
        SeriesInstanceUIDs it references (RTReferencedSeriesSequence).
    referenced_images : frozenset of str
        SOP Instance UIDs of the images it references (every ContourImageSequence).
    roi_names : tuple of str
        Its ROI names.
    label : str
        StructureSetLabel ("" when absent).
    """

    path: Path
    sop_instance_uid: str
    study_instance_uid: str
    referenced_series: tuple[str, ...]
    referenced_images: frozenset[str]
    roi_names: tuple[str, ...]
    label: str


def _items(dataset: Any, keyword: str) -> Sequence[Any]:
    value = getattr(dataset, keyword, None)
    return list(value) if value is not None else []


def read_structure_set_info(path: Path) -> StructureSetInfo:
    """Read the references, ROI names and label of a spooled RTSTRUCT.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    StructureSetInfo
        Its UIDs, references, ROI names and label.

    Raises
    ------
    SpinetvError
        When the file cannot be parsed; the message names it.
    """
    from pydicom import dcmread

    try:
        dataset = dcmread(path, force=True)
        series: list[str] = []
        images: set[str] = set()
        for frame in _items(dataset, "ReferencedFrameOfReferenceSequence"):
            for study in _items(frame, "RTReferencedStudySequence"):
                for item in _items(study, "RTReferencedSeriesSequence"):
                    uid = str(getattr(item, "SeriesInstanceUID", ""))
                    if uid and uid not in series:
                        series.append(uid)
                    for image in _items(item, "ContourImageSequence"):
                        images.add(str(getattr(image, "ReferencedSOPInstanceUID", "")))
        for roi in _items(dataset, "ROIContourSequence"):
            for contour in _items(roi, "ContourSequence"):
                for image in _items(contour, "ContourImageSequence"):
                    images.add(str(getattr(image, "ReferencedSOPInstanceUID", "")))
        rois = _items(dataset, "StructureSetROISequence")
        names = tuple(str(getattr(r, "ROIName", "")) for r in rois)
        return StructureSetInfo(
            path=path,
            sop_instance_uid=str(dataset.SOPInstanceUID),
            study_instance_uid=str(getattr(dataset, "StudyInstanceUID", "")),
            referenced_series=tuple(series),
            referenced_images=frozenset(images - {""}),
            roi_names=names,
            label=str(getattr(dataset, "StructureSetLabel", "") or ""),
        )
    except SpinetvError:
        raise
    except Exception as error:  # pydicom raises many kinds on a damaged file
        raise SpinetvError(
            f"{path}: RTSTRUCT cannot be read ({type(error).__name__}: {error})"
        ) from None


@dataclass(frozen=True)
class Readiness:
    """Whether a case is complete.

    Parameters
    ----------
    ready : bool
        Plan it now.
    failed : bool
        It can never be complete (the reason says why).
    series : Path or None
        The image series folder to plan on.
    reason : str
        Why, for the log.
    """

    ready: bool
    failed: bool
    series: Path | None
    reason: str


def readiness(
    info: StructureSetInfo,
    candidates: Sequence[Path],
    present: Iterable[str],
    *,
    quiet: bool,
    settled: bool = True,
) -> Readiness:
    """Decide whether the case of ``info`` is complete.

    It is when the RTSTRUCT's referenced series has arrived with every image the RTSTRUCT
    references, and the series has settled: nothing of it (image or RTSTRUCT) came for the
    settle time. The order of arrival proves nothing: an RTSTRUCT that lists only its
    contoured slices may come in the middle of the series. When the RTSTRUCT
    lists no image, the case is complete once nothing arrived
    for the quiet period; an RTSTRUCT naming images or a series that are still missing after
    the quiet period fails, saying what is missing (a case is never planned on part of its
    images knowingly).

    Parameters
    ----------
    info : StructureSetInfo
        The RTSTRUCT.
    candidates : sequence of Path
        The spooled image series folders that could be the case's: the referenced one when it
        is in the spool, else every image series of the RTSTRUCT's study.
    present : iterable of str
        SOP Instance UIDs spooled in ``candidates[0]`` (when exactly one candidate).
    quiet : bool
        Nothing of the case arrived for the quiet period.
    settled : bool, default True
        Nothing of the case's series (nor the RTSTRUCT) arrived for the settle time.

    Returns
    -------
    Readiness
        Whether to plan, fail or wait, and why.
    """
    wait = Readiness(False, False, None, "waiting")
    referenced = info.referenced_series
    if len(candidates) != 1:
        if not quiet:
            return wait
        found = f"{len(candidates)} image series of its study" if candidates else "no image series"
        wanted = f"series {referenced[0]}" if referenced else "no series"
        reason = f"the RTSTRUCT references {wanted}; the spool holds {found}"
        return Readiness(False, True, None, reason)
    series = candidates[0]
    if info.referenced_images:
        missing = info.referenced_images - set(present)
        if not missing and settled:
            count = len(info.referenced_images)
            return Readiness(True, False, series, f"all {count} referenced images present")
        if missing and quiet:
            return Readiness(
                False,
                True,
                None,
                f"{len(missing)} of {len(info.referenced_images)} images the RTSTRUCT references "
                "never arrived",
            )
        return wait
    if quiet:
        return Readiness(True, False, series, "the RTSTRUCT lists no image; quiet period over")
    return wait


class Spool:
    """The store folder: where objects, cases and set-aside objects go.

    Parameters
    ----------
    root : Path
        The store folder (created when missing).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.incoming = self.root / "incoming"
        self.cases = self.root / "cases"
        self.rejected = self.root / "rejected"
        for folder in (self.incoming, self.cases, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)

    def remove_leftovers(self) -> list[Path]:
        """Remove the temporary files of writes a crash interrupted (call before serving).

        Returns
        -------
        list of Path
            The files removed.
        """
        found = [
            *self.incoming.glob("*/*/.*.part"),
            *self.cases.glob("*/.*.part"),
            *self.rejected.glob(".*.part"),
        ]
        for path in found:
            path.unlink(missing_ok=True)
        return found

    def object_path(self, study: str, series: str, sop_class: str, sop_instance: str) -> Path:
        """Where an object goes.

        Parameters
        ----------
        study, series, sop_instance : str
            Its UIDs, already checked with :func:`is_uid`.
        sop_class : str
            Its SOP class, one of :data:`ACCEPTED_SOP_CLASSES`.

        Returns
        -------
        Path
            ``incoming/<study>/<series>/<CT|MR|RS>.<sop_instance>.dcm``.
        """
        prefix = ACCEPTED_SOP_CLASSES[sop_class]
        return self.incoming / study / series / f"{prefix}.{sop_instance}.dcm"

    def set_aside(self, data: bytes, reason: str) -> Path:
        """Keep a refused object, with the reason in a text file beside it.

        Parameters
        ----------
        data : bytes
            The object as received.
        reason : str
            Why it was refused.

        Returns
        -------
        Path
            The object's file in ``rejected/`` (the reason: same name, ``.txt``).
        """
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        # next() on a count is atomic under the GIL: association threads get distinct names.
        path = self.rejected / f"{stamp}-{os.getpid()}-{next(self._counter)}.dcm"
        write_durable(path, data)
        write_durable(path.with_suffix(".txt"), (reason + "\n").encode())
        return path

    def structure_sets(self) -> list[Path]:
        """Every spooled RTSTRUCT.

        Returns
        -------
        list of Path
            Their files, oldest first.
        """
        found = list(self.incoming.glob("*/*/RS.*.dcm"))
        return sorted(found, key=_mtime)

    def image_series(self, study: str | None = None) -> list[Path]:
        """Spooled image series folders.

        Parameters
        ----------
        study : str, optional
            Only this study's (default: every study's).

        Returns
        -------
        list of Path
            The folders holding CT or MR images.
        """
        pattern = f"{study}/*" if study else "*/*"
        return sorted(
            folder
            for folder in self.incoming.glob(pattern)
            if any(folder.glob("CT.*.dcm")) or any(folder.glob("MR.*.dcm"))
        )

    def candidates(self, info: StructureSetInfo) -> list[Path]:
        """The image series folders the case of an RTSTRUCT could be planned on.

        Parameters
        ----------
        info : StructureSetInfo
            The RTSTRUCT.

        Returns
        -------
        list of Path
            The referenced series' folder when it has arrived; when the RTSTRUCT references
            no series, every image series of its study; else none.
        """
        for uid in info.referenced_series:
            if is_uid(uid):
                found = [f for f in self.incoming.glob(f"*/{uid}") if f.is_dir()]
                if found:
                    return found[:1]
        if info.referenced_series or not is_uid(info.study_instance_uid):
            return []
        return self.image_series(info.study_instance_uid)

    @staticmethod
    def images_in(series: Path) -> list[str]:
        """SOP Instance UIDs of the images in a spooled series folder.

        Parameters
        ----------
        series : Path
            The folder.

        Returns
        -------
        list of str
            One UID per image file.
        """
        return [
            p.name[3:-4]
            for p in series.iterdir()
            if p.name[:3] in ("CT.", "MR.") and p.suffix == ".dcm"
        ]

    @staticmethod
    def last_arrival(paths: Iterable[Path]) -> float:
        """The newest modification time among files and folders.

        A folder's changes when a file is renamed into it, so a series folder's time is its
        last arrival.

        Parameters
        ----------
        paths : iterable of Path
            Files and folders (missing ones count as never).

        Returns
        -------
        float
            Seconds since the epoch (0 for none).
        """
        return max((_mtime(p) for p in paths), default=0.0)

    def case_folder(self, case_id: str) -> Path:
        """The folder of a case.

        Parameters
        ----------
        case_id : str
            The RTSTRUCT's SOP Instance UID.

        Returns
        -------
        Path
            ``cases/<case_id>``.
        """
        return self.cases / case_id

    def record(self, case_id: str) -> CaseRecord | None:
        """The record of a received case.

        Parameters
        ----------
        case_id : str
            The case.

        Returns
        -------
        CaseRecord or None
            None when the case was not received yet.
        """
        path = self.case_folder(case_id) / "case.json"
        if not path.is_file():
            return None
        return CaseRecord.from_json(json.loads(path.read_text(encoding="utf-8")), path)

    def write_record(self, record: CaseRecord) -> Path:
        """Mark a case received: its ``case.json``.

        Parameters
        ----------
        record : CaseRecord
            The case.

        Returns
        -------
        Path
            The file written.
        """
        return _write_json(self.case_folder(record.case_id) / "case.json", asdict(record))

    def result_folder(self, case_id: str) -> Path:
        """The folder of a case's finished results (present once planned).

        Parameters
        ----------
        case_id : str
            The case.

        Returns
        -------
        Path
            ``cases/<case_id>/result``.
        """
        return self.case_folder(case_id) / "result"

    def results(self, case_id: str) -> list[Path]:
        """The result RTSTRUCTs of a planned case.

        Parameters
        ----------
        case_id : str
            The case.

        Returns
        -------
        list of Path
            The files to send, in protocol order.
        """
        folder = self.result_folder(case_id)
        return [folder / name for name in self.planned(case_id)["rtstructs"]]

    def planned(self, case_id: str) -> dict[str, Any]:
        """What ``planned.json`` of a planned case records.

        Parameters
        ----------
        case_id : str
            The case.

        Returns
        -------
        dict
            ``rtstructs`` (file names), ``slices`` (images planned on), ``destinations``
            (``{"to", "key"}`` of each destination the result is due for), protocols, levels.
        """
        path = self.result_folder(case_id) / "planned.json"
        value = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(value, dict):
            raise SpinetvError(f"{path}: not a planned-case marker")
        return value

    def due_keys(self, case_id: str, default: Sequence[str]) -> list[str]:
        """The keys of the destinations a planned case is due for.

        Recorded in ``planned.json`` when the case was planned, so that a destination added to
        the configuration later does not make every old case look undelivered.

        Parameters
        ----------
        case_id : str
            The case (planned).
        default : sequence of str
            The keys for a case planned before destinations were recorded.

        Returns
        -------
        list of str
            The keys.
        """
        recorded = self.planned(case_id).get("destinations")
        if recorded is None:
            return list(default)
        return [str(item["key"]) for item in recorded]

    def start_result(self, case_id: str) -> Path:
        """An empty ``result.part`` folder to plan into.

        A leftover of an interrupted run is removed first.

        Parameters
        ----------
        case_id : str
            The case.

        Returns
        -------
        Path
            The folder.
        """
        part = self.case_folder(case_id) / "result.part"
        if part.exists():
            shutil.rmtree(part)
        part.mkdir(parents=True)
        return part

    def finish_result(
        self, case_id: str, part: Path, rtstructs: Sequence[str], **facts: Any
    ) -> None:
        """Mark a case planned: ``planned.json`` into ``part``, then ``part`` renamed ``result``.

        Parameters
        ----------
        case_id : str
            The case.
        part : Path
            Its filled ``result.part`` folder.
        rtstructs : sequence of str
            The result RTSTRUCTs' file names, in the order they are sent.
        **facts
            More to record in ``planned.json`` (protocols, levels, time).
        """
        _write_json(part / "planned.json", {"rtstructs": list(rtstructs), **facts})
        _fsync_folder(part)
        os.replace(part, self.result_folder(case_id))
        _fsync_folder(self.case_folder(case_id))

    def mark_failed(self, case_id: str, reason: str) -> None:
        """Mark a case failed: ``failed.json`` with the reason.

        Parameters
        ----------
        case_id : str
            The case.
        reason : str
            Why.
        """
        failed = {"reason": reason, "at": time.time()}
        _write_json(self.case_folder(case_id) / "failed.json", failed)

    def count_attempt(self, case_id: str) -> int:
        """Note that planning a case starts; the attempts so far, this one included.

        Parameters
        ----------
        case_id : str
            The case.

        Returns
        -------
        int
            1 the first time.
        """
        path = self.case_folder(case_id) / "attempts"
        try:
            count = int(path.read_text(encoding="ascii")) + 1
        except (OSError, ValueError):
            count = 1
        write_durable(path, str(count).encode("ascii"))
        return count

    def forget_failure(self, case_id: str) -> None:
        """Set a failed case back to not received (its RTSTRUCT came again); the reason is
        kept as ``failed-<time>.json``.

        Parameters
        ----------
        case_id : str
            The case.
        """
        folder = self.case_folder(case_id)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        os.replace(folder / "failed.json", folder / f"failed-{stamp}-{time.time_ns()}.json")
        for name in ("case.json", "attempts"):
            if (folder / name).exists():
                os.replace(folder / name, folder / f"{name}.failed-{time.time_ns()}")

    def mark_accepted(self, case_id: str, destination_key: str, name: str, status: int) -> None:
        """Record that a destination accepted one result file (so a retry does not resend it).

        Parameters
        ----------
        case_id : str
            The case.
        destination_key : str
            The destination's key.
        name : str
            The file's name in ``result/``.
        status : int
            The C-STORE status it was answered with (success or warning).
        """
        accepted = self.accepted(case_id, destination_key)
        accepted[name] = int(status)
        _write_json(self._delivery_file(case_id, "sending", destination_key), accepted)

    def accepted(self, case_id: str, destination_key: str) -> dict[str, int]:
        """The result files a destination accepted so far, with their statuses.

        Parameters
        ----------
        case_id : str
            The case.
        destination_key : str
            The destination's key.

        Returns
        -------
        dict of str to int
            File name to C-STORE status.
        """
        path = self._delivery_file(case_id, "sending", destination_key)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in value.items()} if isinstance(value, dict) else {}

    def count_send_attempt(self, case_id: str, destination_key: str) -> int:
        """Note a failed attempt to deliver a case to a destination; the failures so far.

        Kept on disk, so that the cap on attempts holds across restarts of the node.

        Parameters
        ----------
        case_id : str
            The case.
        destination_key : str
            The destination's key.

        Returns
        -------
        int
            1 after the first failure.
        """
        path = self._delivery_file(case_id, "send-attempts", destination_key, "")
        try:
            count = int(path.read_text(encoding="ascii")) + 1
        except (OSError, ValueError):
            count = 1
        write_durable(path, str(count).encode("ascii"))
        return count

    def mark_send_failed(self, case_id: str, destination_key: str, facts: dict[str, Any]) -> None:
        """Mark a case not deliverable to one destination (a final state, not retried).

        Parameters
        ----------
        case_id : str
            The case.
        destination_key : str
            The destination's key.
        facts : dict
            What to record (the reason, attempts, time).
        """
        _write_json(self._delivery_file(case_id, "send-failed", destination_key), facts)

    def is_send_failed(self, case_id: str, destination_key: str) -> bool:
        """Whether delivering a case to a destination was given up.

        Parameters
        ----------
        case_id : str
            The case.
        destination_key : str
            The destination's key.

        Returns
        -------
        bool
            True once its ``send-failed-<key>.json`` is written.
        """
        return self._delivery_file(case_id, "send-failed", destination_key).is_file()

    def supersede(self, case_id: str) -> Path:
        """Set a planned case back to received: its result and delivery markers are moved to
        ``superseded-<n>/`` (kept, not deleted).

        The markers go first, the result last: a crash in between leaves a planned case
        whose result is sent again, never a new result taken as already delivered.

        Parameters
        ----------
        case_id : str
            The case.

        Returns
        -------
        Path
            The ``superseded-<n>`` folder.
        """
        folder = self.case_folder(case_id)
        old = folder / f"superseded-{time.time_ns()}"
        old.mkdir()
        for pattern in (
            "sending-*.json", "sent-*.json", "send-failed-*.json", "send-attempts-*", "attempts"
        ):
            for marker in folder.glob(pattern):
                os.replace(marker, old / marker.name)
        _fsync_folder(folder)
        if self.result_folder(case_id).is_dir():
            os.replace(self.result_folder(case_id), old / "result")
        _fsync_folder(folder)
        return old

    def _delivery_file(
        self, case_id: str, kind: str, destination_key: str, suffix: str = ".json"
    ) -> Path:
        """A case's delivery marker for one destination: ``<kind>-<key><suffix>``."""
        return self.case_folder(case_id) / f"{kind}-{destination_key}{suffix}"

    def mark_sent(self, case_id: str, destination_key: str, facts: dict[str, Any]) -> None:
        """Mark a case delivered to one destination.

        Parameters
        ----------
        case_id : str
            The case.
        destination_key : str
            :attr:`Destination.key <spinetv.node.config.Destination.key>`.
        facts : dict
            What to record (files, statuses, time).
        """
        _write_json(self._delivery_file(case_id, "sent", destination_key), facts)

    def is_sent(self, case_id: str, destination_key: str) -> bool:
        """Whether a case was delivered to a destination.

        Parameters
        ----------
        case_id : str
            The case.
        destination_key : str
            The destination's key.

        Returns
        -------
        bool
            True once its ``sent-<key>.json`` is written (or the marker of an earlier version,
            named without the key's hash, so that an upgrade sends no old case again).
        """
        legacy = destination_key.rsplit("-", 1)[0]
        return any(
            self._delivery_file(case_id, "sent", key).is_file() for key in (destination_key, legacy)
        )

    def state(self, case_id: str, destination_keys: Sequence[str]) -> CaseState | None:
        """Where a case stands, from its markers.

        Parameters
        ----------
        case_id : str
            The case.
        destination_keys : sequence of str
            The destinations it must reach when its ``planned.json`` does not say (planned by
            an earlier version).

        Returns
        -------
        CaseState or None
            None when it was not received yet; SENT when every due destination has it,
            SEND_FAILED when the others are given up.
        """
        folder = self.case_folder(case_id)
        if (folder / "failed.json").is_file():
            return CaseState.FAILED
        if not (folder / "case.json").is_file():
            return None
        if not self.result_folder(case_id).is_dir():
            return CaseState.RECEIVED
        keys = self.due_keys(case_id, destination_keys)
        if all(self.is_sent(case_id, key) for key in keys):
            return CaseState.SENT
        if all(self.is_sent(case_id, k) or self.is_send_failed(case_id, k) for k in keys):
            return CaseState.SEND_FAILED
        return CaseState.PLANNED

    def case_ids(self) -> list[str]:
        """Every case's id.

        Returns
        -------
        list of str
            Oldest first.
        """
        return [p.name for p in sorted(self.cases.iterdir(), key=_mtime) if p.is_dir()]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _fsync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
