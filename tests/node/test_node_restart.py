"""``spinetv serve`` as a process, killed (SIGKILL) between receiving and planning and between
planning and sending: after a restart each case is planned once and delivered once.

The window is made certain with the test-only ``[testing]`` pauses of the configuration: the
first process waits there, the test kills it there, the second process has no pause.
"""

from __future__ import annotations

import json
import re
from io import BytesIO
from pathlib import Path

import pytest
from dicom_peers import NodeProcess, ResultSCP, free_port, storescu, wait_until, write_config
from pydicom import dcmread

from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("case")
    phantom = make_spine_phantom(
        levels=("L2", "L3"),
        spacing_mm=(3.0, 1.5, 1.5),
        gtv=GtvSpec(level="L3", sectors=(1,), body_side="focal"),
        seed=11,
    )
    write_phantom(phantom, folder)
    return folder


@pytest.fixture
def dest():  # type: ignore[no-untyped-def]
    scp = ResultSCP()
    yield scp
    scp.stop()


@pytest.fixture
def processes():  # type: ignore[no-untyped-def]
    """Start node processes; each is killed at the end whatever happened."""
    started: list[NodeProcess] = []

    def start(config: Path, log: Path, port: int) -> NodeProcess:
        process = NodeProcess(config, log, port)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def _count(process: NodeProcess, step: str) -> int:
    return len(re.findall(rf"case \S+ {step}", process.text()))


@pytest.mark.parametrize("window", ["plan", "send"])
def test_killed_node_resumes_and_does_each_step_once(
    window: str, case: Path, dest: ResultSCP, processes, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    port, store = free_port(), tmp_path / "store"
    paused = write_config(
        tmp_path / "paused.toml", port=port, store=store, dest_port=dest.port,
        extra=f"[testing]\npause_before_{window}_seconds = 120\n",
    )
    plain = write_config(tmp_path / "node.toml", port=port, store=store, dest_port=dest.port)
    case_id = str(dcmread(case / "RTSTRUCT.dcm", stop_before_pixels=True).SOPInstanceUID)
    folder = store / "cases" / case_id

    first = processes(paused, tmp_path / "first.log", port)
    assert storescu(port, case).returncode == 0
    if window == "plan":
        wait_until((folder / "case.json").is_file, 30, "the case to be received")
    else:
        wait_until((folder / "result" / "planned.json").is_file, 60, "the case to be planned")
    # The log line follows the marker: killed before it is out, the count below would be off.
    step = "received" if window == "plan" else "planned"
    wait_until(lambda: _count(first, step) == 1, 10, f"the {step} line")
    first.kill()
    assert _count(first, "received") == 1
    assert _count(first, "planned") == (0 if window == "plan" else 1)
    assert _count(first, "sent to") == 0 and dest.count() == 0
    planned_before = (folder / "result").stat().st_mtime_ns if window == "send" else None

    # A slice whose write the kill interrupted, as write_durable leaves it.
    series = next((store / "incoming").glob("*/*/CT.*.dcm")).parent
    leftover = series / ".CT.1.2.3.dcm.abc123.part"
    leftover.write_bytes(b"half a slice")
    if window == "plan":  # and a planning the kill interrupted
        (folder / "result.part").mkdir()
        (folder / "result.part" / "RS_sib-sbrt-2025.dcm").write_bytes(b"half an RTSTRUCT")

    second = processes(plain, tmp_path / "second.log", port)
    wait_until(lambda: dest.count() == 1, 60, "the result after the restart")
    wait_until(lambda: _count(second, "sent to") == 1, 10, "the sent line")
    assert second.stop() == 0
    assert dest.count() == 1
    assert dcmread(BytesIO(dest.received[0])).Modality == "RTSTRUCT"
    assert _count(second, "received") == 0
    to_plan, to_send = (1, 0) if window == "plan" else (0, 1)
    assert (f"resuming from the spool: 0 cases waiting for images, {to_plan} to plan, "
            f"{to_send} to send") in second.text()
    assert _count(first, "planned") + _count(second, "planned") == 1
    assert _count(second, "sent to") == 1
    if planned_before is not None:
        assert (folder / "result").stat().st_mtime_ns == planned_before
    assert not (folder / "result.part").exists()
    assert not leftover.exists()
    assert "removed 1 partly written files of an interrupted run" in second.text()
    sent = json.loads(next(folder.glob("sent-*.json")).read_text())
    assert sent["files"] == ["RS_sib-sbrt-2025.dcm"] and sent["statuses"] == [0]
    assert "stopped" in second.text()
