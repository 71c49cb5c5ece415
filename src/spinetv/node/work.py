"""The node's work on a complete case: plan it as ``spinetv plan`` does, send the result back.

Both steps start from what is on disk (:mod:`spinetv.node.spool`) and end by writing a marker,
so a node restarted after a crash does whatever is left, and nothing twice.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinetv.errors import SpinetvError
from spinetv.node.config import Destination, NodeConfig, RetryPolicy
from spinetv.node.spool import CaseRecord, Spool, write_durable

__all__ = [
    "PlannedCase",
    "SendError",
    "choose_gtv",
    "delivered",
    "permanent_failure",
    "plan_case",
    "send_files",
]

#: Failure statuses that describe a passing condition of the receiver, so the same object may
#: be accepted later: 0xA7xx "Refused: Out of Resources" (PS3.4 B.2.3), 0x0110 "Processing
#: failure" and 0x0213 "Resource limitation" (PS3.7 C). Every other failure (0xA9xx "Data Set
#: does not match SOP Class", 0xCxxx "Cannot understand", 0x0122 "SOP Class not supported",
#: 0x0124 "Not authorized", 0x0117 "Invalid SOP instance"...) is answered again to the same
#: bytes: it is permanent.
_TRANSIENT_FAILURES = frozenset({0x0110, 0x0213, *range(0xA700, 0xA800)})


class SendError(SpinetvError):
    """A result could not be delivered (destination down, association refused, bad status).

    Parameters
    ----------
    message : str
        Why.
    permanent : bool, default False
        Trying again cannot help (a refusal of the object or a rejected-permanent
        association): the case is "send failed" for that destination at once.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def delivered(status: int) -> bool:
    """Whether a C-STORE status means the object was stored: Success or Warning (PS3.7 C).

    Parameters
    ----------
    status : int
        The status.

    Returns
    -------
    bool
        True for 0x0000, 0x0001, 0x0107, 0x0116 and 0xBxxx.
    """
    from pynetdicom.status import STATUS_SUCCESS, STATUS_WARNING, code_to_category

    return code_to_category(int(status)) in (STATUS_SUCCESS, STATUS_WARNING)


def permanent_failure(status: int) -> bool:
    """Whether a C-STORE status that is not a delivery will be answered again to a retry.

    Parameters
    ----------
    status : int
        A status for which :func:`delivered` is False.

    Returns
    -------
    bool
        True for Failure statuses other than out of resources, processing failure and
        resource limitation; False for those, Cancel and unknown codes (retried, capped).
    """
    from pynetdicom.status import STATUS_FAILURE, code_to_category

    return code_to_category(int(status)) == STATUS_FAILURE and status not in _TRANSIENT_FAILURES


@dataclass(frozen=True)
class PlannedCase:
    """What planning a case wrote.

    Parameters
    ----------
    rtstructs : tuple of str
        The result RTSTRUCT file names in ``result/``, one per protocol.
    levels : tuple of str
        The involved levels.
    seconds : float
        Reading and planning time, s.
    slices : int
        Images in the series folder when planning started (what was planned on).
    """

    rtstructs: tuple[str, ...]
    levels: tuple[str, ...]
    seconds: float
    slices: int = 0


def choose_gtv(wanted: Sequence[str], roi_names: Sequence[str]) -> str:
    """The first of ``wanted`` among the ROI names (case-insensitive), as the RTSTRUCT spells it.

    Parameters
    ----------
    wanted : sequence of str
        GTV names, in order of preference.
    roi_names : sequence of str
        The RTSTRUCT's ROI names.

    Returns
    -------
    str
        The ROI name.

    Raises
    ------
    SpinetvError
        When none is present.
    """
    by_lower: dict[str, str] = {}
    for name in roi_names:
        by_lower.setdefault(name.strip().lower(), name)
    for name in wanted:
        found = by_lower.get(name.strip().lower())
        if found is not None:
            return found
    raise SpinetvError(
        f"no GTV: none of the ROIs is named {' or '.join(repr(w) for w in wanted)} "
        f"(ROIs: {', '.join(roi_names) or 'none'})"
    )


def plan_case(spool: Spool, record: CaseRecord, config: NodeConfig) -> PlannedCase:
    """Plan a received case into its ``result`` folder, with the same calls as ``spinetv plan``.

    Parameters
    ----------
    spool : Spool
        The store.
    record : CaseRecord
        The received case.
    config : NodeConfig
        The node's settings (HTML report or not).

    Returns
    -------
    PlannedCase
        The RTSTRUCTs written, the levels, the time.

    Raises
    ------
    SpinetvError
        When the case cannot be planned (no GTV, no vertebra, an unreadable image...): the
        reason, naming the file.
    """
    from spinetv.case import load_case
    from spinetv.io.rtstruct import read_rtstruct
    from spinetv.outputs import PlanOutputs, plan_and_write
    from spinetv.pipeline import PlanOptions
    from spinetv.planning.protocols import load_protocol

    start = time.perf_counter()
    # Counted again now, not taken from the record: slices that came since are planned on.
    slices = len(spool.images_in(Path(record.series)))
    presets = {protocol: load_protocol(protocol) for protocol in record.protocols}
    gtv = choose_gtv(record.gtv, read_rtstruct(record.rtstruct).names)
    case = load_case(record.series, record.rtstruct, gtv=gtv)
    if not case.anatomy.vertebrae:
        raise SpinetvError(
            f"{record.rtstruct}: no vertebra found (name ROIs like L2 / Vertebra_L2 / vertebrae_L2)"
        )
    part = spool.start_result(record.case_id)
    names: list[str] = []
    levels: list[str] = []
    for protocol, preset in presets.items():
        stem = Path(protocol).stem
        outputs = PlanOutputs(
            structures=part / f"RS_{stem}.dcm",
            report=part / f"report_{stem}.json",
            html=part / f"report_{stem}.html" if config.html else None,
        )
        written = plan_and_write(case, PlanOptions(protocol=preset), outputs)
        names.append(outputs.structures.name)
        levels.extend(lv for lv in written.report["involved_levels"] if lv not in levels)
        for report in (outputs.report, outputs.html):
            if report is not None:
                _name_final_folder(report, part, spool.result_folder(record.case_id))
    seconds = time.perf_counter() - start
    spool.finish_result(
        record.case_id,
        part,
        names,
        protocols=list(record.protocols),
        gtv=gtv,
        levels=levels,
        seconds=round(seconds, 3),
        slices=slices,
        destinations=[{"to": str(d), "key": d.key} for d in config.return_to],
    )
    return PlannedCase(tuple(names), tuple(levels), seconds, slices)


def _name_final_folder(report: Path, part: Path, final: Path) -> None:
    """Make a report written in ``part`` name its files as they will be once ``part`` is
    renamed ``final``."""
    import html

    text = report.read_text(encoding="utf-8")
    old, new = f"{part}{os.sep}", f"{final}{os.sep}"
    if report.suffix == ".json":  # the paths as JSON strings spell them
        old, new = json.dumps(old)[1:-1], json.dumps(new)[1:-1]
    elif report.suffix == ".html":
        old, new = html.escape(old), html.escape(new)
    if old in text:
        write_durable(report, text.replace(old, new).encode("utf-8"))


def send_files(
    files: Sequence[Path],
    destination: Destination,
    *,
    ae_title: str,
    retry: RetryPolicy,
    on_accepted: Callable[[Path, int], None] | None = None,
) -> list[int]:
    """C-STORE ``files`` to ``destination`` on one association.

    Parameters
    ----------
    files : sequence of Path
        The RTSTRUCT files.
    destination : Destination
        Where to.
    ae_title : str
        The node's (calling) AE title.
    retry : RetryPolicy
        Its ``timeout_s`` bounds connecting and each exchange.
    on_accepted : callable, optional
        Called with each file and its status as soon as the destination has stored it
        (Success or Warning), before the next file is sent.

    Returns
    -------
    list of int
        The C-STORE status of each file (success or warning).

    Raises
    ------
    SendError
        The association is refused or breaks, or a status is not Success or Warning;
        ``permanent`` says whether trying again can help.
    """
    from pydicom import dcmread
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
    from pynetdicom import AE
    from pynetdicom.sop_class import RTStructureSetStorage  # type: ignore[attr-defined]

    ae = AE(ae_title=ae_title)
    # One context per transfer syntax, so that the file's own can be accepted and its bytes
    # sent as written (the input ROIs byte for byte); the other is the fallback.
    for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        ae.add_requested_context(RTStructureSetStorage, syntax)
    for name in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
        setattr(ae, name, retry.timeout_s)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        if assoc.is_rejected:
            answer = assoc.acceptor.primitive
            permanent = getattr(answer, "result", None) == 0x01
            how = "rejected-permanent" if permanent else "rejected-transient"
            raise SendError(
                f"{destination}: association {how} (source {getattr(answer, 'result_source', '?')}"
                f", reason {getattr(answer, 'diagnostic', '?')})",
                permanent=permanent,
            )
        raise SendError(f"{destination}: cannot associate (no answer or connection refused)")
    statuses: list[int] = []
    try:
        for path in files:
            if not assoc.is_established:
                raise SendError(f"{destination}: association lost before {path.name}")
            response: Any
            try:
                response = assoc.send_c_store(path)  # the file's bytes, as written
            except ValueError:  # its transfer syntax was not accepted: pynetdicom converts
                response = assoc.send_c_store(dcmread(path))
            status = getattr(response, "Status", None)
            if status is None:
                raise SendError(f"{destination}: no answer to the C-STORE of {path.name}")
            if not delivered(status):
                raise SendError(
                    f"{destination}: {path.name} refused with status 0x{status:04X}",
                    permanent=permanent_failure(status),
                )
            statuses.append(int(status))
            if on_accepted is not None:
                on_accepted(path, int(status))
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses
