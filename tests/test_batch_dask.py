"""``spinetv batch`` on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1.

The outputs of the Dask workers are compared with the local process pool's; a worker is killed
mid-case (SIGKILL) and the case finishes on the other worker; a case that kills every worker it
runs on is retried a bounded number of times and reported; resuming works across executors;
a worker of another spinetv version is refused. (Shards and the missing extra:
test_batch_shards.py.)
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed", reason="the Dask executor needs distributed")

import pydicom  # noqa: E402

from spinetv.batch import (  # noqa: E402
    DONE_MARKER,
    BatchCase,
    BatchStatus,
    executors,
    read_manifest,
    run_batch,
)
from spinetv.cli import main  # noqa: E402
from spinetv.errors import SpinetvError  # noqa: E402
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
PROTOCOLS = ("chictr1900023401-involved", "chictr1900023401-whole", "sib-sbrt-2025")
SPECS = (
    (("L1", "L2"), GtvSpec(level="L2", sectors=(1, 2), body_side="left")),
    (("T12", "L1"), GtvSpec(level="T12", sectors=(1,), body_side="focal")),
    (("L2", "L3"), GtvSpec(level="L3", sectors=(1, 6), body_side="right")),
    (("L3", "L4"), GtvSpec(level="L4", sectors=(4,))),
)
N_GOOD = 6
BROKEN = ("broken_missing_rtstruct", "broken_gtv_name")
START_TIMEOUT_S = 60.0

# Loaded by each worker (--preload): a case named killme* writes half an output and then waits
# to be killed on its first attempt, a case named poison* kills its worker on every attempt.
# Everything else runs the real code.
WORKER_HOOK = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    import spinetv.batch as batch
    from spinetv.io.atomic import atomic_output

    # the worker may load its preload more than once: wrap the real function only
    _real_run_case = getattr(batch._run_case, "real", batch._run_case)
    _HOOKS = Path(os.environ["SPINETV_TEST_HOOKS"])


    def _run_case(task):
        case_id = task.case.case_id
        if case_id.startswith("poison"):
            os._exit(1)
        if case_id.startswith("killme"):
            try:
                fd = os.open(_HOOKS / (case_id + ".attempt1"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return _real_run_case(task)
            os.close(fd)
            target = task.out_dir / case_id / "chictr1900023401-involved" / "RS.dcm"
            with atomic_output(target, overwrite=True) as temp:
                temp.write_bytes(b"half an RTSTRUCT")
                (_HOOKS / (case_id + ".writing.tmp")).write_text(str(os.getpid()))
                os.replace(_HOOKS / (case_id + ".writing.tmp"), _HOOKS / (case_id + ".writing"))
                time.sleep(120)
        return _real_run_case(task)


    _run_case.real = _real_run_case
    batch._run_case = _run_case
    """
)


# ---- the cohort -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 small phantoms x 3 protocols and 2 broken rows; returns the manifest."""
    root = tmp_path_factory.mktemp("dask_cohort")
    rows = ["case_id,image,rtstruct,gtv,vertebrae,protocols"]
    for i in range(N_GOOD):
        levels, gtv = SPECS[i % len(SPECS)]
        phantom = make_spine_phantom(levels=levels, spacing_mm=(3.0, 2.0, 2.0), gtv=gtv, seed=i)
        write_phantom(phantom, root / f"case{i:02d}")
        rows.append(f"case{i:02d},case{i:02d}/CT,case{i:02d}/RTSTRUCT.dcm,GTV,auto,{';'.join(PROTOCOLS)}")
    rows.append(f"{BROKEN[0]},case00/CT,case00/no_such_RS.dcm,GTV,auto,{';'.join(PROTOCOLS)}")
    rows.append(f"{BROKEN[1]},case01/CT,case01/RTSTRUCT.dcm,GTV_typo,auto,{PROTOCOLS[0]}")
    manifest = root / "cohort.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return manifest


@pytest.fixture(scope="module")
def cases(cohort: Path) -> tuple[BatchCase, ...]:
    return read_manifest(cohort)


def _renamed(case: BatchCase, case_id: str) -> BatchCase:
    return BatchCase(**{**case.__dict__, "case_id": case_id})


# ---- a real cluster -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process we started and its children (a nanny's worker), by its own group id."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    else:
        with contextlib.suppress(ProcessLookupError):  # children left by a dead parent
            os.killpg(process.pid, signal.SIGKILL)


class Cluster:
    """A ``dask scheduler`` and two ``dask worker`` processes (one thread each) on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hooks = root / "hooks"
        self.hooks.mkdir()
        hook = root / "spinetv_test_worker_hook.py"
        hook.write_text(WORKER_HOOK, encoding="utf-8")
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            "SPINETV_TEST_HOOKS": str(self.hooks),
            # a case may lose its worker once; the second death reports it failed
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        dask_cli = [sys.executable, "-m", "dask"]
        self._start(
            [*dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"],
            env,
            "scheduler",
        )
        for i in range(2):
            self._start(
                [*dask_cli, "worker", self.address, "--nthreads", "1", "--host", "127.0.0.1",
                 "--no-dashboard", "--preload", str(hook), "--name", f"w{i}",
                 "--local-directory", str(root / f"worker{i}")],
                env,
                f"worker{i}",
            )

    def _start(self, command: list[str], env: dict[str, str], name: str) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        log.close()

    def client(self) -> Any:
        client = distributed.Client(self.address, timeout="30s")
        client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        return client

    def stop(self) -> None:
        for process in reversed(self.processes):
            _stop(process)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = Cluster(tmp_path_factory.mktemp("dask_cluster"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Any]:
    connected = cluster.client()
    try:
        yield connected
    finally:
        connected.close()


# ---- comparing outputs ----------------------------------------------------------------------
def _summary(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _contours(path: Path) -> dict[str, list[list[float]]]:
    """ROI name to its contours' vertices (mm), as written."""
    dataset = pydicom.dcmread(path)
    names = {roi.ROINumber: roi.ROIName for roi in dataset.StructureSetROISequence}
    return {
        names[item.ReferencedROINumber]: [
            [float(v) for v in contour.ContourData] for contour in item.get("ContourSequence", [])
        ]
        for item in dataset.ROIContourSequence
    }


def _dicom_values(path: Path) -> list[tuple[str, Any]]:
    """Every element of a written RTSTRUCT but its UIDs, dates and times (new in each run)."""
    found: list[tuple[str, Any]] = []

    def walk(dataset: Any, prefix: str) -> None:
        for element in dataset:
            where = f"{prefix}{element.tag}"
            if element.VR == "SQ":
                for i, item in enumerate(element.value):
                    walk(item, f"{where}[{i}]")
            elif element.VR not in ("UI", "DA", "TM", "DT"):
                found.append((where, element.value))

    walk(pydicom.dcmread(path), "")
    return found


def _report(path: Path, out: Path) -> Any:
    """The report without its timing and with the output folder replaced by a placeholder."""
    document = json.loads(path.read_text(encoding="utf-8").replace(str(out), "<OUT>"))
    document.pop("seconds", None)
    return document


def _partial_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.name.endswith((".part", ".tmp")))


def _assert_same_outputs(first: Path, second: Path) -> None:
    assert _summary(first / "summary.csv") == _summary(second / "summary.csv")
    written = sorted(p.relative_to(first) for p in first.glob("*/*/RS.dcm"))
    assert written == sorted(p.relative_to(second) for p in second.glob("*/*/RS.dcm"))
    assert written
    for relative in written:
        assert _contours(first / relative) == _contours(second / relative), relative
        assert _dicom_values(first / relative) == _dicom_values(second / relative), relative
        report = relative.parent / "report.json"
        assert _report(first / report, first) == _report(second / report, second), report


# ---- the tests ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pool_run(cases: tuple[BatchCase, ...], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pool_out")
    run_batch(cases, out, jobs=2)
    return out


def test_dask_workers_write_what_the_process_pool_writes(
    cases: tuple[BatchCase, ...], pool_run: Path, client: Any, tmp_path: Path
) -> None:
    seen: list[tuple[int, int, str]] = []
    summary = run_batch(
        cases, tmp_path, client=client, progress=lambda d, t, r: seen.append((d, t, r.case_id))
    )
    total = N_GOOD * len(PROTOCOLS) + len(PROTOCOLS) + 1
    assert [(d, t) for d, t, _ in seen] == [(i, total) for i in range(1, total + 1)]
    assert summary.count(BatchStatus.OK) == N_GOOD * len(PROTOCOLS)
    failed = {row.case_id: row.error for row in summary.failed}
    assert set(failed) == set(BROKEN)
    assert "no_such_RS.dcm" in failed[BROKEN[0]] and "GTV_typo" in failed[BROKEN[1]]
    _assert_same_outputs(pool_run, tmp_path)
    assert not _partial_files(tmp_path)


def test_cli_on_a_scheduler_resumes_a_local_run(
    cohort: Path, cases: tuple[BatchCase, ...], cluster: Cluster, pool_run: Path,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # a local run of the first two cases, then the whole manifest on Dask
    run_batch(cases[:2], tmp_path, jobs=1)
    local = sorted(tmp_path.glob("case0[01]/*/*")) + sorted(tmp_path.glob(f"*/{DONE_MARKER}"))
    stamps = {p: p.stat().st_mtime_ns for p in local}
    code = main(["batch", str(cohort), "--out", str(tmp_path), "--scheduler", cluster.address])
    captured = capsys.readouterr()
    assert code == 1  # the broken rows
    assert f"Dask scheduler {cluster.address}: 2 worker(s)" in captured.err
    assert "failed" in captured.err and "elapsed" in captured.err
    rows = _summary(tmp_path / "summary.csv")
    resumed = [r for r in rows if r["status"] == "skipped-resumed"]
    assert {r["case_id"] for r in resumed} == {"case00", "case01"}
    assert len(resumed) == 2 * len(PROTOCOLS)
    assert {p: p.stat().st_mtime_ns for p in local} == stamps  # not redone
    assert [r["status"] for r in rows].count("ok") == (N_GOOD - 2) * len(PROTOCOLS)
    # and the local pool resumes what Dask made: nothing is redone
    again = run_batch(cases, tmp_path, jobs=2)
    assert again.count(BatchStatus.RESUMED) == N_GOOD * len(PROTOCOLS)
    assert again.count(BatchStatus.OK) == 0
    # the outputs are the pool's (resumed rows differ from ok rows only in their status)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.glob("*/*/RS.dcm")) == sorted(
        p.relative_to(pool_run) for p in pool_run.glob("*/*/RS.dcm")
    )
    for path in tmp_path.glob("*/*/RS.dcm"):
        assert _contours(path) == _contours(pool_run / path.relative_to(tmp_path))


def _wait_for(path: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.is_file():
            return path.read_text(encoding="utf-8")
        time.sleep(0.05)
    raise AssertionError(f"{path.name} did not appear within {timeout_s} s")


def test_a_worker_killed_mid_case_loses_only_that_attempt(
    cases: tuple[BatchCase, ...], cluster: Cluster, client: Any, pool_run: Path, tmp_path: Path
) -> None:
    good = cases[:N_GOOD]
    victim = _renamed(good[0], "killme00")
    rows: list[tuple[str, str, BatchStatus]] = []
    killed: list[int] = []

    def kill_when_writing(done: int, total: int, row: Any) -> None:
        rows.append((row.case_id, row.protocol, row.status))
        if not killed:
            # the victim is half-way through writing RS.dcm on some worker: kill that process
            pid = int(_wait_for(cluster.hooks / "killme00.writing", START_TIMEOUT_S))
            assert _partial_files(tmp_path / "killme00")  # the half-written RS.dcm
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    summary = run_batch((victim, *good), tmp_path, client=client, progress=kill_when_writing)
    assert killed
    # every case and protocol ends ok, exactly once
    pairs = [(c, p) for c, p, _ in rows]
    assert len(pairs) == len(set(pairs)) == (N_GOOD + 1) * len(PROTOCOLS)
    assert all(status is BatchStatus.OK for *_, status in rows)
    assert summary.count(BatchStatus.OK) == len(summary.rows)
    # nothing partial is left, and the victim's outputs are whole (the same as case00's)
    assert not _partial_files(tmp_path)
    for protocol in PROTOCOLS:
        assert _contours(tmp_path / "killme00" / protocol / "RS.dcm") == _contours(
            pool_run / "case00" / protocol / "RS.dcm"
        )
    marker = json.loads((tmp_path / "killme00" / DONE_MARKER).read_text(encoding="utf-8"))
    assert sorted(marker["protocols"]) == sorted(PROTOCOLS)


def test_a_case_that_kills_every_worker_is_retried_then_reported(
    cases: tuple[BatchCase, ...], client: Any, tmp_path: Path
) -> None:
    good = cases[:2]
    poison = _renamed(cases[0], "poison00")
    summary = run_batch((*good, poison), tmp_path, client=client)
    rows = {(row.case_id, row.protocol): row for row in summary.rows}
    assert all(rows[(c.case_id, p)].status is BatchStatus.OK for c in good for p in c.protocols)
    lost = [rows[("poison00", p)] for p in PROTOCOLS]
    assert all(row.status is BatchStatus.FAILED for row in lost)
    # allowed-failures = 1: two workers died running it, then the scheduler gave up
    assert "died on each of 2 attempts" in lost[0].error, lost[0].error
    assert not (tmp_path / "poison00").exists() or not _partial_files(tmp_path)


def test_workers_of_another_version_are_refused(
    cases: tuple[BatchCase, ...], client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executors, "build_id", lambda: "0.0.1-client")
    with pytest.raises(executors.WorkerVersionError, match=r"0\.0\.1-client.*has "):
        run_batch(cases[:1], tmp_path, client=client)
    assert not list(tmp_path.glob("*/*/RS.dcm"))


def test_relative_input_paths_are_refused_on_dask(
    cases: tuple[BatchCase, ...], client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(cases[0].image.parents[1])
    relative = BatchCase(**{**cases[0].__dict__, "image": Path("case00/CT")})
    assert run_batch([relative], tmp_path / "local", jobs=1).count(BatchStatus.OK) == 3
    with pytest.raises(SpinetvError, match="case00/CT relative"):
        run_batch([relative], tmp_path / "dask", client=client)


def test_a_local_dask_cluster_from_the_scheduler_option(
    cohort: Path, pool_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    # two good cases and a broken one
    lines = cohort.read_text(encoding="utf-8").splitlines()
    manifest = cohort.parent / "three.csv"
    manifest.write_text("\n".join([*lines[:3], lines[-2]]) + "\n", encoding="utf-8")
    code = main(["batch", str(manifest), "--out", str(out), "--scheduler", "local:1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "1 worker(s), dashboard http://" in err  # the local cluster serves one
    assert "INFO" not in err  # distributed's chatter stays quiet without -vv
    rows = _summary(out / "summary.csv")
    assert [r["status"] for r in rows].count("ok") == 2 * len(PROTOCOLS)
    for path in out.glob("*/*/RS.dcm"):
        assert _contours(path) == _contours(pool_run / path.relative_to(out))
    assert len(list(out.glob("*/*/RS.dcm"))) == 2 * len(PROTOCOLS)
