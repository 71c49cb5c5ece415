"""Delivering results: what a destination's C-STORE status means (PS3.4 B.2.3, PS3.7 C), files
accepted once, permanent refusals and capped retries ending in "send failed", and the
destinations a case is due for fixed when it is planned.

The cases are planned cases written into the store (a result RTSTRUCT and ``planned.json``),
so only sending is exercised; the destination is a pynetdicom storage SCP answering the
statuses each test chooses.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from dicom_peers import free_port, wait_until
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import RTStructureSetStorage  # type: ignore[attr-defined]

from spinetv.node import Node, RetryPolicy, Spool, load_node_config, parse_destination, parse_peer
from spinetv.node.config import Destination
from spinetv.node.spool import CaseRecord, CaseState


class StatusSCP:
    """A storage SCP answering each C-STORE with ``answer(n)`` (n: 0 for the first)."""

    def __init__(self, answer: Callable[[int], int], ae_title: str = "TPS_IMPORT",
                 require_calling: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.names: list[str] = []
        self._answer = answer
        self._lock = threading.Lock()
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(RTStructureSetStorage, [ExplicitVRLittleEndian])
        ae.require_calling_aet = list(require_calling)
        server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._store)]
        )
        assert server is not None  # not blocking: the server is returned
        self._server = server

    def _store(self, event: Any) -> int:
        with self._lock:
            count = len(self.names)
            self.names.append(str(event.dataset.StructureSetLabel))
        return self._answer(count)

    def count(self) -> int:
        with self._lock:
            return len(self.names)

    def stop(self) -> None:
        self._server.shutdown()


def _planned_case(spool: Spool, names: Sequence[str],
                  destinations: Sequence[Destination] | None) -> str:
    """A case planned into the spool: one small RTSTRUCT per name (its label is the name)."""
    case_id = generate_uid()
    spool.write_record(CaseRecord(case_id, "RS.dcm", str(spool.incoming / "1.2" / "1.2.3"),
                                  ("p",), ("GTV",), "default", 1, "test", 0.0))
    result = spool.result_folder(case_id)
    result.mkdir(parents=True)
    for name in names:
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = RTStructureSetStorage, generate_uid()
        ds.Modality, ds.StructureSetLabel = "RTSTRUCT", name
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(result / f"{name}.dcm", enforce_file_format=True)
    planned: dict[str, Any] = {"rtstructs": [f"{n}.dcm" for n in names], "slices": 1}
    if destinations is not None:
        planned["destinations"] = [{"to": str(d), "key": d.key} for d in destinations]
    (result / "planned.json").write_text(json.dumps(planned))
    return case_id


@pytest.fixture
def run_node() -> Iterator[Callable[..., Node]]:
    """Start nodes on a store with some destinations; each is stopped at the end."""
    started: list[Node] = []

    def start(store: Path, destinations: Sequence[Destination], attempts: int = 20) -> Node:
        config = load_node_config(
            None, ae_title="SPINETV", port=free_port(), bind="127.0.0.1", store=store,
            allow=(parse_peer("TPS"),), return_to=tuple(destinations),
            retry=RetryPolicy(0.05, 0.1, 5.0, attempts),
        )
        node = Node(config, poll_s=0.05)
        node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


def _dest(scp: StatusSCP) -> Destination:
    return parse_destination(f"TPS_IMPORT@127.0.0.1:{scp.port}")


def test_a_warning_status_is_a_delivery(
    run_node: Callable[..., Node], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    scp = StatusSCP(lambda n: 0x0107)  # "Warning: attribute list error": stored all the same
    try:
        dest = _dest(scp)
        spool = Spool(tmp_path / "store")
        case_id = _planned_case(spool, ["RS_a"], [dest])
        node = run_node(spool.root, [dest])
        wait_until(lambda: spool.is_sent(case_id, dest.key), 20, "the sent marker")
        wait_until(lambda: not node._to_send, 5, "the sender to be done")
        assert scp.count() == 1
    finally:
        scp.stop()
    sent = json.loads((spool.case_folder(case_id) / f"sent-{dest.key}.json").read_text())
    assert sent["statuses"] == [0x0107]
    assert spool.state(case_id, []) is CaseState.SENT
    assert any("stored RS_a.dcm with warning status 0x0107" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize(
    ("answer", "stores", "reason"),
    [
        (lambda n: 0xA900, 1, "refused with status 0xA900 (permanent)"),  # does not match
        (lambda n: 0xC000, 1, "refused with status 0xC000 (permanent)"),  # cannot understand
        (lambda n: 0xA700, 3, "refused with status 0xA700; gave up after 3 attempts"),
    ],
    ids=["A900-permanent", "C000-permanent", "A700-transient-capped"],
)
def test_refusals_end_in_send_failed_not_endless_resending(
    run_node: Callable[..., Node], tmp_path: Path, caplog: pytest.LogCaptureFixture,
    answer: Callable[[int], int], stores: int, reason: str,
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    scp = StatusSCP(answer)
    try:
        dest = _dest(scp)
        spool = Spool(tmp_path / "store")
        case_id = _planned_case(spool, ["RS_a"], [dest])
        node = run_node(spool.root, [dest], attempts=3)
        failed = spool.case_folder(case_id) / f"send-failed-{dest.key}.json"
        wait_until(failed.is_file, 20, "the send-failed marker")
        wait_until(lambda: not node._to_send, 5, "the sender to be done")
        # The back-off is 0.05..0.1 s: any retry would have come by now.
        threading.Event().wait(0.4)
        assert scp.count() == stores
    finally:
        scp.stop()
    assert reason in json.loads(failed.read_text())["reason"]
    attempts = spool.case_folder(case_id) / f"send-attempts-{dest.key}"
    assert attempts.read_text() == str(stores)  # on disk: the cap holds across restarts
    assert spool.state(case_id, []) is CaseState.SEND_FAILED
    assert sum(f"send failed to {dest}" in r.getMessage() for r in caplog.records) == 1


def test_a_rejected_permanent_association_is_not_retried(
    run_node: Callable[..., Node], tmp_path: Path
) -> None:
    scp = StatusSCP(lambda n: 0, require_calling=["SOMEONE_ELSE"])
    try:
        dest = _dest(scp)
        spool = Spool(tmp_path / "store")
        case_id = _planned_case(spool, ["RS_a"], [dest])
        run_node(spool.root, [dest])
        failed = spool.case_folder(case_id) / f"send-failed-{dest.key}.json"
        wait_until(failed.is_file, 20, "the send-failed marker")
    finally:
        scp.stop()
    assert "association rejected-permanent (source 1, reason 3)" in failed.read_text()


def test_accepted_files_are_not_sent_again_on_a_retry(
    run_node: Callable[..., Node], tmp_path: Path
) -> None:
    # RS_a is stored; RS_b is refused "out of resources" twice, then stored.
    scp = StatusSCP(lambda n: 0xA700 if n in (1, 2) else 0x0000)
    try:
        dest = _dest(scp)
        spool = Spool(tmp_path / "store")
        case_id = _planned_case(spool, ["RS_a", "RS_b"], [dest])
        run_node(spool.root, [dest])
        wait_until(lambda: spool.is_sent(case_id, dest.key), 20, "the sent marker")
    finally:
        scp.stop()
    assert scp.names == ["RS_a", "RS_b", "RS_b", "RS_b"]
    sent = json.loads((spool.case_folder(case_id) / f"sent-{dest.key}.json").read_text())
    assert sent["statuses"] == [0, 0]


def test_a_changed_destination_list_does_not_resend_old_cases(
    run_node: Callable[..., Node], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    old, new = StatusSCP(lambda n: 0), StatusSCP(lambda n: 0, ae_title="NEW_IMPORT")
    try:
        old_dest = _dest(old)
        new_dest = parse_destination(f"NEW_IMPORT@127.0.0.1:{new.port}")
        spool = Spool(tmp_path / "store")
        delivered = _planned_case(spool, ["RS_a"], [old_dest])
        spool.mark_sent(delivered, old_dest.key, {"to": str(old_dest)})
        owed = _planned_case(spool, ["RS_b"], [old_dest])
        # Restarted with the old destination replaced by a new one.
        node = run_node(spool.root, [new_dest])
        failed = spool.case_folder(owed) / f"send-failed-{old_dest.key}.json"
        wait_until(failed.is_file, 20, "the owed case's outcome")
        wait_until(lambda: not node._to_send, 5, "the sender to be done")
        # A case planned now is due for the new destination only.
        fresh = _planned_case(spool, ["RS_c"], [new_dest])
        node._to_send[fresh] = None
        node._send_wake.set()
        wait_until(lambda: spool.is_sent(fresh, new_dest.key), 20, "the new case's delivery")
    finally:
        old.stop()
        new.stop()
    assert old.names == [] and new.names == ["RS_c"]
    assert spool.state(delivered, [new_dest.key]) is CaseState.SENT
    assert "no longer in the configuration" in failed.read_text()


def test_destination_keys_tell_apart_titles_that_clean_alike(tmp_path: Path) -> None:
    first, second = Destination("A B", "h", 104), Destination("A_B", "h", 104)
    assert first.key != second.key
    assert first.key.startswith("A_B_h_104-") and len(first.key) == len("A_B_h_104-") + 8
    # A case delivered by an earlier version (marker named without the hash) stays delivered.
    spool = Spool(tmp_path / "store")
    case_id = _planned_case(spool, ["RS_a"], None)
    assert not spool.is_sent(case_id, first.key)
    (spool.case_folder(case_id) / "sent-A_B_h_104.json").write_text("{}")
    assert spool.is_sent(case_id, first.key)
    assert spool.state(case_id, [first.key]) is CaseState.SENT
