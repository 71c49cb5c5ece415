"""The node's work on a complete case: plan it as ``spinetv plan`` does, send the result back.

Both steps start from what is on disk (:mod:`spinetv.node.spool`) and end by writing a marker,
so a node restarted after a crash does whatever is left, and nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinetv.errors import SpinetvError
from spinetv.node.config import Destination, NodeConfig, RetryPolicy
from spinetv.node.spool import CaseRecord, Spool

__all__ = ["PlannedCase", "SendError", "choose_gtv", "plan_case", "send_files"]


class SendError(SpinetvError):
    """A result could not be delivered (destination down, association refused, bad status)."""


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
    """

    rtstructs: tuple[str, ...]
    levels: tuple[str, ...]
    seconds: float


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
    seconds = time.perf_counter() - start
    spool.finish_result(
        record.case_id,
        part,
        names,
        protocols=list(record.protocols),
        gtv=gtv,
        levels=levels,
        seconds=round(seconds, 3),
    )
    return PlannedCase(tuple(names), tuple(levels), seconds)


def send_files(
    files: Sequence[Path], destination: Destination, *, ae_title: str, retry: RetryPolicy
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

    Returns
    -------
    list of int
        The C-STORE status of each file (success or warning).

    Raises
    ------
    SendError
        The association is refused or breaks, or a status is a failure.
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
        why = "association rejected" if assoc.is_rejected else "no answer or connection refused"
        raise SendError(f"{destination}: cannot associate ({why})")
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
            if status != 0x0000 and not 0xB000 <= status <= 0xBFFF:
                raise SendError(f"{destination}: {path.name} refused with status 0x{status:04X}")
            statuses.append(int(status))
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses
