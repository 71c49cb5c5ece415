"""``spinetv serve`` with real peers on 127.0.0.1: a case in, the planned RTSTRUCT back, refusals.

The node runs in this process (its own threads); the planning system is pynetdicom's storescu
(the application, and its API where a status is checked), the import node a storage SCP.
"""

from __future__ import annotations

import json
import logging
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from dicom_peers import (
    CTImageStorage,
    ResultSCP,
    RTDoseStorage,
    free_port,
    send,
    storescu,
    wait_until,
)
from pydicom import dcmread

from dicom_checks import dciodvfy_errors, write_rtdose_on
from spinetv.cli import main
from spinetv.node import (
    Node,
    ProtocolRule,
    RetryPolicy,
    Spool,
    load_node_config,
    parse_destination,
    parse_peer,
)
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom


def _write_case(folder: Path, seed: int) -> Path:
    phantom = make_spine_phantom(
        levels=("L1", "L2"),
        spacing_mm=(3.0, 1.5, 1.5),
        gtv=GtvSpec(level="L1", sectors=(1, 2), body_side="left"),
        seed=seed,
    )
    write_phantom(phantom, folder)
    return folder


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four small phantom cases (CT/ and RTSTRUCT.dcm each), new UIDs each."""
    root = tmp_path_factory.mktemp("cases")
    return [_write_case(root / f"case{i}", seed=i) for i in range(4)]


@pytest.fixture(scope="module")
def dest():  # type: ignore[no-untyped-def]
    scp = ResultSCP()
    yield scp
    scp.stop()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, dest: ResultSCP):  # type: ignore[no-untyped-def]
    config = load_node_config(
        None,
        ae_title="SPINETV",
        port=free_port(),
        bind="127.0.0.1",
        store=tmp_path_factory.mktemp("store"),
        allow=(parse_peer("TPS"), parse_peer("TPS2@10.9.9.9")),
        return_to=(parse_destination(f"TPS_IMPORT@127.0.0.1:{dest.port}"),),
        quiet_s=1.0,
        settle_s=0.3,
        html=True,
    )
    running = Node(config, poll_s=0.1)
    running.start()
    yield running
    running.stop()


def _files(case: Path) -> list[Path]:
    return [*sorted((case / "CT").iterdir()), case / "RTSTRUCT.dcm"]


def _dataset_bytes(written) -> bytes:  # type: ignore[no-untyped-def]
    """The file's bytes after its preamble and file meta information."""
    raw = Path(written.filename).read_bytes()
    meta_length = int(written.file_meta.FileMetaInformationGroupLength)
    return raw[132 + 12 + meta_length:]


def _contours(dataset) -> dict[str, list[list[float]]]:  # type: ignore[no-untyped-def]
    names = {r.ROINumber: r.ROIName for r in dataset.StructureSetROISequence}
    return {
        names[c.ReferencedROINumber]: [list(map(float, s.ContourData)) for s in c.ContourSequence]
        for c in dataset.ROIContourSequence
        if "ContourSequence" in c
    }


def test_a_case_sent_by_storescu_comes_back_as_plan_writes_it(
    node: Node, dest: ResultSCP, cases: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    before = dest.count()
    done = storescu(node.config.port, cases[0])
    assert done.returncode == 0, done.stderr
    wait_until(lambda: dest.count() > before, 60, "the planned RTSTRUCT at the import node")
    received = dest.received[before]
    path = tmp_path / "received.dcm"
    path.write_bytes(received)
    assert dciodvfy_errors(path) == []
    # The same files through `spinetv plan`.
    expected_path = tmp_path / "RS_plan.dcm"
    code = main(["plan", str(cases[0] / "CT"), "--rtstruct", str(cases[0] / "RTSTRUCT.dcm"),
                 "--gtv", "GTV", "--out", str(expected_path)])
    assert code == 0
    got, expected = dcmread(BytesIO(received)), dcmread(expected_path)
    assert [r.ROIName for r in got.StructureSetROISequence] == [
        r.ROIName for r in expected.StructureSetROISequence
    ]
    assert _contours(got) == _contours(expected)
    assert {"GTV", "L1", "CTV", "PTV", "PTV_Eval"} <= set(_contours(got))
    # The input ROIs are kept byte for byte, as plan keeps them.
    source = dcmread(cases[0] / "RTSTRUCT.dcm")
    for item in source.ROIContourSequence:
        kept = next(c for c in got.ROIContourSequence
                    if c.ReferencedROINumber == item.ReferencedROINumber)
        assert kept.ContourSequence[0].ContourData == item.ContourSequence[0].ContourData
    # What arrived is the node's result file, byte for byte.
    case_id = str(source.SOPInstanceUID)
    result = node.spool.result_folder(case_id)
    written = dcmread(result / "RS_sib-sbrt-2025.dcm")
    sent_bytes = _dataset_bytes(written)
    assert len(sent_bytes) > 10_000 and received.endswith(sent_bytes)
    # Reports beside the case; one log line per association and per case step.
    report = json.loads((result / "report_sib-sbrt-2025.json").read_text())
    assert report["involved_levels"] == ["L1"]
    assert (result / "report_sib-sbrt-2025.html").is_file()
    # The node logs "sent" once the import node has answered: it may come a moment later.
    wait_until(lambda: any(f"{case_id[-12:]} sent to" in r.getMessage() for r in caplog.records),
               10, "the sent line")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("association from TPS@127.0.0.1 released: stored 36 CT, 1 RS" in m
               for m in messages) == 1
    for step in ("received", "planned", "sent to"):
        assert sum(f"{case_id[-12:]} {step}" in m for m in messages) == 1, step


def _truncated(case: Path, tmp_path: Path) -> Path:
    data = sorted((case / "CT").iterdir())[0].read_bytes()
    path = tmp_path / "truncated.dcm"
    path.write_bytes(data[: len(data) - 4000])
    return path


def _rtdose(case: Path, tmp_path: Path, *, as_ct: bool) -> Path:
    from spinetv.io.dicom_series import read_dicom_series

    grid = read_dicom_series(case / "CT").grid
    path = write_rtdose_on(grid, np.ones(grid.shape) * 2.0, tmp_path / "RD.dcm")
    dataset = dcmread(path)
    ct = dcmread(sorted((case / "CT").iterdir())[0], stop_before_pixels=True)
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = ct.StudyInstanceUID, "1.2.3.4.5"
    if as_ct:  # an RT Dose labelled CT
        dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = CTImageStorage
    dataset.save_as(path, enforce_file_format=True)
    return path


def test_refused_peers_and_objects_leave_the_node_serving(
    node: Node, dest: ResultSCP, cases: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    port = node.config.port
    # An unknown calling AE, and an allowed one from another host: rejected at association.
    for calling in ("INTRUDER", "TPS2"):
        assoc, statuses = send(port, _files(cases[1])[:1], calling=calling)
        assert assoc.is_rejected and statuses == []
        # A-ASSOCIATE-RJ: rejected-permanent (1), by the service user (1), calling AE title
        # not recognised (3), as docs/node.md says.
        answer = assoc.acceptor.primitive
        assert (answer.result, answer.result_source, answer.diagnostic) == (1, 1, 3)
    assert sum("rejected: calling AE title not allowed" in r.getMessage()
               for r in caplog.records) == 2
    # An allowed caller that names another node.
    assoc, _ = send(port, [], called="ANOTHER_NODE")
    assert assoc.is_rejected
    answer = assoc.acceptor.primitive
    assert (answer.result, answer.result_source, answer.diagnostic) == (1, 1, 7)
    assert any("TPS@127.0.0.1 rejected: called AE title 'ANOTHER_NODE' is not 'SPINETV'"
               in r.getMessage() for r in caplog.records)
    # RT Dose: its presentation context is refused; an RT Dose labelled CT is refused 0xA900.
    assoc, statuses = send(port, [_rtdose(cases[1], tmp_path, as_ct=False)],
                           contexts=(CTImageStorage, RTDoseStorage))
    assert statuses == [-1]
    assert [str(c.abstract_syntax) for c in assoc.rejected_contexts] == [RTDoseStorage]
    _, statuses = send(port, [_rtdose(cases[1], tmp_path, as_ct=True)])
    assert statuses == [0xA900]
    # A truncated CT slice: cannot be understood, set aside with its reason.
    _, statuses = send(port, [_truncated(cases[1], tmp_path)])
    assert statuses == [0xC000]
    reasons = sorted(p.read_text() for p in node.spool.rejected.glob("*.txt"))
    assert any("Modality RTDOSE in a CT object" in r for r in reasons)
    assert any("truncated" in r for r in reasons)
    assert len(list(node.spool.rejected.glob("*.dcm"))) == 2
    # The node serves the next case.
    before = dest.count()
    _, statuses = send(port, _files(cases[1]))
    assert statuses == [0] * 37
    wait_until(lambda: dest.count() > before, 60, "the next case's RTSTRUCT")
    assert dcmread(BytesIO(dest.received[before])).StructureSetLabel


def test_a_case_missing_slices_fails_and_is_redone_when_sent_again(
    node: Node, dest: ResultSCP, cases: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    files = _files(cases[2])
    _, statuses = send(node.config.port, files[:10] + files[-1:])
    assert statuses == [0] * 11
    case_id = str(dcmread(files[-1], stop_before_pixels=True).SOPInstanceUID)
    failed = node.spool.case_folder(case_id) / "failed.json"
    wait_until(failed.is_file, 20, "the incomplete case to fail")
    reason = json.loads(failed.read_text())["reason"]
    assert reason == "26 of 36 images the RTSTRUCT references never arrived"
    assert any(f"{case_id[-12:]} failed: 26 of 36" in r.getMessage() for r in caplog.records)
    # The planning system sends the whole case again: it is looked at again and planned.
    before = dest.count()
    _, statuses = send(node.config.port, files)
    assert statuses == [0] * 37
    wait_until(lambda: dest.count() > before, 60, "the case sent again, planned")
    assert not failed.exists()
    assert len(list(failed.parent.glob("failed-*.json"))) == 1
    assert any(f"{case_id[-12:]} sent again after it failed" in r.getMessage()
               for r in caplog.records)


def test_sending_is_retried_until_the_destination_is_up(
    cases: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    dest_port = free_port()
    config = load_node_config(
        None,
        ae_title="SPINETV",
        port=free_port(),
        bind="127.0.0.1",
        store=tmp_path / "store",
        allow=(parse_peer("TPS"),),
        return_to=(parse_destination(f"TPS_IMPORT@127.0.0.1:{dest_port}"),),
        html=False,
        settle_s=0.3,
        retry=RetryPolicy(0.2, 0.5, 2.0),
    )
    node = Node(config, poll_s=0.1)
    node.start()
    dest = None
    try:
        _, statuses = send(config.port, _files(cases[0]))
        assert set(statuses) == {0}
        wait_until(lambda: any("not sent to" in r.getMessage() for r in caplog.records), 30,
                   "a failed attempt")
        dest = ResultSCP(port=dest_port)
        wait_until(lambda: dest.count() == 1, 30, "the result after the destination came up")
    finally:
        node.stop()
        if dest is not None:
            dest.stop()
    attempts = [r.getMessage() for r in caplog.records if "not sent to" in r.getMessage()]
    assert "attempt 1" in attempts[0] and "cannot associate" in attempts[0]
    assert "retry in 0.2 s" in attempts[0]
    # (The module's node may still log its last case meanwhile: only this case's lines count.)
    case_id = str(dcmread(_files(cases[0])[-1], stop_before_pixels=True).SOPInstanceUID)
    mine = [r.getMessage() for r in caplog.records if case_id[-12:] in r.getMessage()]
    assert sum(" planned: " in m for m in mine) == 1
    assert sum(f"{case_id[-12:]} sent to TPS_IMPORT@127.0.0.1:{dest_port}: " in m
               for m in mine) == 1


def test_a_case_that_keeps_stopping_the_node_is_failed_not_retried_forever(
    cases: list[Path], tmp_path: Path
) -> None:
    from spinetv.node.server import MAX_PLAN_ATTEMPTS
    from spinetv.node.spool import CaseRecord

    spool = Spool(tmp_path / "store")
    record = CaseRecord("1.2.3.9", str(cases[0] / "RTSTRUCT.dcm"), str(cases[0] / "CT"),
                        ("sib-sbrt-2025",), ("GTV",), "default", 36, "test", 0.0)
    spool.write_record(record)
    for _ in range(MAX_PLAN_ATTEMPTS):  # three starts that never finished
        spool.count_attempt(record.case_id)
    config = load_node_config(None, ae_title="SPINETV", port=free_port(), bind="127.0.0.1",
                              store=spool.root, allow=(parse_peer("TPS"),))
    node = Node(config, poll_s=0.1)
    node.start()
    try:
        failed = spool.case_folder(record.case_id) / "failed.json"
        wait_until(failed.is_file, 20, "the case to be failed")
    finally:
        node.stop()
    assert "stopped while planning this case 3 times" in json.loads(failed.read_text())["reason"]
    assert not spool.result_folder(record.case_id).exists()


def test_a_port_in_use_is_one_line_and_exit_2(
    node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--ae-title", "OTHER", "--port", str(node.config.port), "--bind",
                 "127.0.0.1", "--store", str(tmp_path / "s"), "--allow-ae", "TPS"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"spinetv serve: error: cannot listen on 127.0.0.1:{node.config.port}")


def test_a_rule_picks_two_protocols_and_a_down_destination_holds_back_no_other(
    cases: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    down = parse_destination(f"NOBODY@127.0.0.1:{free_port()}")
    up = ResultSCP()
    config = load_node_config(
        None,
        ae_title="SPINETV",
        port=free_port(),
        bind="127.0.0.1",
        store=tmp_path / "store",
        allow=(parse_peer("TPS"),),
        return_to=(down, parse_destination(f"TPS_IMPORT@127.0.0.1:{up.port}")),
        rules=(ProtocolRule(("sib-sbrt-2025", "rtog-0631"), structure_set_label="*PHANTOM*"),),
        html=False,
        settle_s=0.3,
        retry=RetryPolicy(0.2, 0.5, 2.0),
    )
    node = Node(config, poll_s=0.1)
    node.start()
    try:
        _, statuses = send(config.port, _files(cases[1]))
        assert set(statuses) == {0}
        wait_until(lambda: up.count() == 2, 60, "both protocols' RTSTRUCTs")
        case_id = str(dcmread(_files(cases[1])[-1], stop_before_pixels=True).SOPInstanceUID)
        wait_until(lambda: node.spool.is_sent(case_id, config.return_to[1].key), 10, "marker")
        state = node.spool.state(case_id, [d.key for d in config.return_to])
    finally:
        node.stop()
        up.stop()
    result = node.spool.result_folder(case_id)
    for received, name in zip(up.received, ("RS_sib-sbrt-2025.dcm", "RS_rtog-0631.dcm")):
        assert received.endswith(_dataset_bytes(dcmread(result / name)))
    assert state is not None and state.value == "planned"  # the other destination is owed
    messages = [r.getMessage() for r in caplog.records if case_id[-12:] in r.getMessage()]
    assert any("protocols sib-sbrt-2025, rtog-0631 (rule structure_set_label='*PHANTOM*')" in m
               for m in messages)
    assert any(f"not sent to {down} (attempt 1 of 20)" in m for m in messages)


def test_an_rtstruct_sent_before_its_images_waits_for_them(
    node: Node, dest: ResultSCP, cases: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    files = _files(cases[3])
    case_id = str(dcmread(files[-1], stop_before_pixels=True).SOPInstanceUID)
    before = dest.count()
    assert send(node.config.port, files[-1:])[1] == [0]
    assert send(node.config.port, files[:20])[1] == [0] * 20
    assert node.spool.record(case_id) is None  # 16 images still missing
    assert send(node.config.port, files[20:-1])[1] == [0] * 16
    last_image = time.time()
    wait_until(lambda: dest.count() > before, 60, "the case sent RTSTRUCT first")
    record = node.spool.record(case_id)
    assert record is not None and record.slices == 36
    # It waited for the series to settle after its last image.
    assert record.received_at - last_image >= node.config.settle_s - 0.1


def _own_node(tmp_path: Path, dest_port: int, **changes: object) -> Node:
    fields: dict[str, object] = dict(
        ae_title="SPINETV",
        port=free_port(),
        bind="127.0.0.1",
        store=tmp_path / "store",
        allow=(parse_peer("TPS"),),
        return_to=(parse_destination(f"TPS_IMPORT@127.0.0.1:{dest_port}"),),
        html=True,
        settle_s=0.5,
        retry=RetryPolicy(0.1, 0.2, 2.0),
    )
    fields.update(changes)
    node = Node(load_node_config(None, **fields), poll_s=0.1)
    node.start()
    return node


def _listing_slices(case: Path, tmp_path: Path, listed: slice) -> Path:
    """The case's RTSTRUCT rewritten to list only some of its slices, as systems that list
    only the contoured slices write it."""
    source = dcmread(case / "RTSTRUCT.dcm")
    first = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID)
             for p in sorted((case / "CT").iterdir())[listed]}
    for frame in source.ReferencedFrameOfReferenceSequence:
        for study in frame.RTReferencedStudySequence:
            for series in study.RTReferencedSeriesSequence:
                series.ContourImageSequence = [
                    item for item in series.ContourImageSequence
                    if item.ReferencedSOPInstanceUID in first
                ]
    for roi in source.ROIContourSequence:
        for contour in roi.get("ContourSequence", []):
            if "ContourImageSequence" in contour:
                del contour.ContourImageSequence
    path = tmp_path / "RS_subset.dcm"
    source.save_as(path, enforce_file_format=True)
    return path


def test_an_rtstruct_arriving_mid_series_is_planned_on_the_whole_series(
    cases: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    slices = sorted((cases[2] / "CT").iterdir())
    rtstruct = _listing_slices(cases[2], tmp_path, slice(0, 10))
    case_id = str(dcmread(rtstruct, stop_before_pixels=True).SOPInstanceUID)
    dest = ResultSCP()
    node = _own_node(tmp_path, dest.port)
    try:
        # storescu's order: 20 slices, the RTSTRUCT (naming 10 of them), the other 16.
        _, statuses = send(node.config.port, [*slices[:20], rtstruct, *slices[20:]])
        assert statuses == [0] * 37
        wait_until(lambda: dest.count() == 1, 60, "the result")
        wait_until(lambda: node.spool.is_sent(case_id, node.config.return_to[0].key), 10,
                   "the sent marker")
    finally:
        node.stop()
        dest.stop()
    planned = node.spool.planned(case_id)
    assert planned["slices"] == 36
    report = json.loads((node.spool.result_folder(case_id) / "report_sib-sbrt-2025.json")
                        .read_text())
    # The reports name the result where it is, not the folder it was planned in.
    final = str(node.spool.result_folder(case_id) / "RS_sib-sbrt-2025.dcm")
    assert report["output"] == final
    html = (node.spool.result_folder(case_id) / "report_sib-sbrt-2025.html").read_text()
    assert "result.part" not in html and "result.part" not in json.dumps(report)
    messages = [r.getMessage() for r in caplog.records if case_id[-12:] in r.getMessage()]
    planned_lines = [m for m in messages if " planned: " in m]
    assert len(planned_lines) == 1 and " on 36 slices;" in planned_lines[0]


def test_slices_arriving_after_planning_make_the_case_planned_again_once(
    cases: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    slices = sorted((cases[3] / "CT").iterdir())
    rtstruct = _listing_slices(cases[3], tmp_path, slice(20, 30))
    case_id = str(dcmread(rtstruct, stop_before_pixels=True).SOPInstanceUID)
    dest = ResultSCP()
    node = _own_node(tmp_path, dest.port, settle_s=0.2)
    try:
        assert send(node.config.port, [*slices[16:], rtstruct])[1] == [0] * 21
        # Planned on part of the series (the sender paused longer than the settle time)...
        wait_until(lambda: node.spool.result_folder(case_id).is_dir()
                   or (node.spool.case_folder(case_id) / "failed.json").is_file(), 60,
                   "the case planned on 20 slices")
        assert node.spool.planned(case_id)["slices"] == 20
        wait_until(lambda: dest.count() == 1, 30, "the first result")
        # ... then the rest of the series arrives: planned again on all of it, and sent.
        assert send(node.config.port, slices[:16])[1] == [0] * 16
        wait_until(lambda: dest.count() == 2, 60, "the result planned again")
        wait_until(lambda: node.spool.is_sent(case_id, node.config.return_to[0].key), 10,
                   "the sent marker")
    finally:
        node.stop()
        dest.stop()
    assert node.spool.planned(case_id)["slices"] == 36
    assert node.spool.record(case_id).replans == 1  # type: ignore[union-attr]
    superseded = list(node.spool.case_folder(case_id).glob("superseded-*"))
    assert len(superseded) == 1 and (superseded[0] / "result" / "planned.json").is_file()
    assert len(list(superseded[0].glob("sent-*.json"))) == 1
    messages = [r.getMessage() for r in caplog.records if case_id[-12:] in r.getMessage()]
    assert any("16 more slices of its series arrived after it was planned on 20; planning it "
               "again on all 36 (the earlier result, already sent to 1 destination(s)" in m
               for m in messages)
    assert [" on 36 slices;" in m for m in messages if " planned: " in m] == [False, True]


def test_a_case_that_failed_on_part_of_its_series_is_planned_when_the_rest_arrives(
    cases: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spinetv.node")
    slices = sorted((cases[1] / "CT").iterdir())
    rtstruct = _listing_slices(cases[1], tmp_path, slice(0, 10))
    case_id = str(dcmread(rtstruct, stop_before_pixels=True).SOPInstanceUID)
    dest = ResultSCP()
    node = _own_node(tmp_path, dest.port, settle_s=0.2)
    failed = node.spool.case_folder(case_id) / "failed.json"
    try:
        # The first 20 slices hold none of the GTV: planning fails...
        assert send(node.config.port, [*slices[:20], rtstruct])[1] == [0] * 21
        wait_until(failed.is_file, 60, "the case to fail on 20 slices")
        # ... and the rest of the series makes it plannable: planned on all of it.
        assert send(node.config.port, slices[20:])[1] == [0] * 16
        wait_until(lambda: dest.count() == 1, 60, "the result")
    finally:
        node.stop()
        dest.stop()
    assert not failed.exists() and node.spool.planned(case_id)["slices"] == 36
    messages = [r.getMessage() for r in caplog.records if case_id[-12:] in r.getMessage()]
    assert any("failed when its series held 20 slices; 16 more arrived since: planning it "
               "again on all 36" in m for m in messages)


def test_an_rtstruct_newer_than_the_last_slice_is_not_enough(tmp_path: Path) -> None:
    """The review's experiment: 20 of 40 slices spooled, then an RTSTRUCT naming 10 of them;
    the case is not complete while the series has not been idle for the settle time."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    from spinetv.node.spool import CT_IMAGE_STORAGE, RT_STRUCTURE_SET_STORAGE

    config = load_node_config(None, ae_title="SPINETV", port=free_port(), bind="127.0.0.1",
                              store=tmp_path / "store", allow=(parse_peer("TPS"),), settle_s=0.3)
    node = Node(config)  # not started: _consider is called by hand
    study, series = "1.2.3", "1.2.3.1"
    slices = [f"1.2.3.1.{i}" for i in range(1, 41)]
    for uid in slices[:20]:
        path = node.spool.object_path(study, series, CT_IMAGE_STORAGE, uid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    rs = Dataset()
    rs.SOPClassUID, rs.SOPInstanceUID = RT_STRUCTURE_SET_STORAGE, "1.2.3.9"
    rs.StudyInstanceUID = study
    images = Sequence([Dataset() for _ in slices[:10]])
    for item, uid in zip(images, slices[:10]):
        item.ReferencedSOPInstanceUID = uid
    referenced = Dataset()
    referenced.SeriesInstanceUID, referenced.ContourImageSequence = series, images
    in_study = Dataset()
    in_study.RTReferencedSeriesSequence = Sequence([referenced])
    frame = Dataset()
    frame.RTReferencedStudySequence = Sequence([in_study])
    rs.ReferencedFrameOfReferenceSequence = Sequence([frame])
    rs.StructureSetROISequence, rs.ROIContourSequence = Sequence([]), Sequence([])
    rs.file_meta = FileMetaDataset()
    rs.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = node.spool.object_path(study, "1.2.3.2", RT_STRUCTURE_SET_STORAGE, "1.2.3.9")
    path.parent.mkdir(parents=True)
    time.sleep(0.01)
    rs.save_as(path, enforce_file_format=True)
    assert node._consider("1.2.3.9", path) is False
    assert node.spool.record("1.2.3.9") is None
    time.sleep(0.35)  # idle for the settle time: complete (a later slice would re-plan it)
    assert node._consider("1.2.3.9", path) is True
    record = node.spool.record("1.2.3.9")
    assert record is not None and record.slices == 20
