"""Ctrl-C during ``plan``, ``convert`` and ``batch``: one line, exit status 130, no partial output.

``plan`` and ``convert`` remove every output they made (the RTSTRUCT written before the report
was interrupted goes too); ``batch`` keeps the cases it finished so that a re-run resumes, and
never leaves a half-written file. The batch test sends a real SIGINT to a running process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spinetv.cli import main
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom

PROTOCOLS = "chictr1900023401-involved,chictr1900023401-whole"


@pytest.fixture(scope="module")
def phantom_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interrupt")
    for i in range(3):
        phantom = make_spine_phantom(
            levels=("L1", "L2"), spacing_mm=(3.0, 1.5, 1.5), gtv=GtvSpec(level="L1", sectors=(1,)),
            seed=i,
        )
        write_phantom(phantom, root / f"case{i}")
    return root


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_ctrl_c_during_plan_removes_the_outputs_it_wrote(
    phantom_case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import spinetv.report.json_report as json_report

    calls: list[Path] = []

    def interrupted_report(report: object, path: Path, *, overwrite: bool = False) -> Path:
        calls.append(Path(path))
        raise KeyboardInterrupt  # the RTSTRUCT of this protocol is already written

    monkeypatch.setattr(json_report, "write_json_report", interrupted_report)
    out = tmp_path / "out"
    code = main(["plan", str(phantom_case / "case0" / "CT"), "--rtstruct",
                 str(phantom_case / "case0" / "RTSTRUCT.dcm"), "--gtv", "GTV",
                 "--protocol", PROTOCOLS, "--out", str(out / "RS.dcm"),
                 "--report", str(out / "r.json")])
    assert code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "spinetv plan: interrupted"
    assert not any("Traceback" in line for line in err)
    assert calls, "the interrupt was not reached"
    assert _files(out) == []  # the RTSTRUCT written before the interrupt was removed


def test_completed_plan_keeps_its_outputs(
    phantom_case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["plan", str(phantom_case / "case0" / "CT"), "--rtstruct",
                 str(phantom_case / "case0" / "RTSTRUCT.dcm"), "--gtv", "GTV",
                 "--protocol", "chictr1900023401-involved", "--out", str(out / "RS.dcm"),
                 "--report", str(out / "r.json")]) == 0
    assert [p.name for p in _files(out)] == ["RS.dcm", "r.json"]


def test_sigint_during_batch_is_one_line_status_130_and_no_partial_file(
    phantom_case: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "cohort.csv"
    rows = ["case_id,image,rtstruct,gtv,vertebrae,protocols"]
    # Twenty plans (ten cases of the three phantoms, two protocols each), so that many are
    # still to run when the interrupt arrives.
    rows += [f"case{i},{phantom_case}/case{i % 3}/CT,{phantom_case}/case{i % 3}/RTSTRUCT.dcm,"
             f"GTV,auto,{PROTOCOLS.replace(',', ';')}" for i in range(10)]
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "spinetv", "batch", str(manifest), "--out", str(out),
         "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    # Interrupt once the first plan's report is on disk: waiting for its progress line on the
    # pipe instead, the line (and so the interrupt) came late in a full test run, after all
    # the plans had finished. The 20 progress lines fit in the pipe's buffer meanwhile.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if next(out.rglob("report.json"), None) is not None:
            break
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    err = [line for line in rest.splitlines() if line]
    # Progress lines and warnings (margins rounded up...) may precede the interruption.
    other = [line for line in err if "/20 " not in line and not line.startswith("spinetv: warning")]
    assert process.returncode == 130, err
    assert other == ["spinetv batch: interrupted"], err
    assert not any("Traceback" in line for line in err), err
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    for report in out.rglob("report.json"):
        assert report.read_text().rstrip().endswith("}")  # every file left is whole


def test_ctrl_c_while_a_command_is_imported_is_one_line_and_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import spinetv.cli as cli

    def interrupted_import(name: str) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.importlib, "import_module", interrupted_import)
    assert main(["plan", "CT", "--rtstruct", "RS.dcm", "--gtv", "GTV", "--out", "o.dcm"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["spinetv plan: interrupted"]


def test_a_library_resource_warning_is_not_shown_as_a_spinetv_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    import spinetv.commands.info as info

    real = info.run

    def with_a_stray_resource_warning(args):  # type: ignore[no-untyped-def]
        warnings.warn(
            "Implicitly cleaning up <TemporaryDirectory '/tmp/x'>", ResourceWarning, stacklevel=1
        )
        return real(args)

    monkeypatch.setattr(info, "run", with_a_stray_resource_warning)
    missing = tmp_path / "none.dcm"
    assert main(["info", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Implicitly" not in err[0]
