"""The main job on the bundled sample case: every protocol preset, both trial arms, the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicom_checks import dciodvfy_errors
from spinetv.cli import main
from spinetv.io.rtstruct import read_rtstruct
from spinetv.planning.protocols import list_protocols
from spinetv.sample import SAMPLE_GTV_NAME, sample_case_dir

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_rtstruct"
pytestmark = pytest.mark.skipif(
    not (SAMPLE / "RS_sample.dcm").is_file(), reason=f"sample case not built in {SAMPLE}"
)


@pytest.mark.parametrize("protocol", list_protocols())
def test_every_preset_plans_the_sample_and_passes_dciodvfy(protocol: str, tmp_path: Path) -> None:
    out, report = tmp_path / "RS.dcm", tmp_path / "r.json"
    code = main(
        [
            "plan",
            str(SAMPLE / "CT"),
            "--rtstruct",
            str(SAMPLE / "RS_sample.dcm"),
            "--gtv",
            SAMPLE_GTV_NAME,
            "--protocol",
            protocol,
            "--out",
            str(out),
            "--report",
            str(report),
        ]
    )
    assert code == 0
    assert dciodvfy_errors(out) == []
    data = json.loads(report.read_text())
    assert data["involved_levels"] == ["L2"]
    assert data["structures"]["CTV"]["volume_cc"] > 7.9  # at least the GTV
    names = set(read_rtstruct(out).names)
    assert {"CTV", "PTV", "GTV", "L2"} <= names


def test_both_trial_arms_in_one_command(tmp_path: Path) -> None:
    code = main(
        [
            "ctv",
            str(SAMPLE / "CT"),
            "--rtstruct",
            str(SAMPLE / "RS_sample.dcm"),
            "--gtv",
            SAMPLE_GTV_NAME,
            "--guideline",
            "isrc-2012,whole-vertebra",
            "--out",
            str(tmp_path / "arms.dcm"),
            "--report",
            str(tmp_path / "arms.json"),
        ]
    )
    assert code == 0
    ctvs = json.loads((tmp_path / "arms.json").read_text())["ctvs"]
    involved, whole = ctvs
    # The demonstration lesion fills the left body and pedicle (row d); whatever else it
    # grazes, the involved-field arm stays a partial vertebra and the other arm is whole.
    assert {1, 2, 3} <= set(involved["levels"][0]["ctv_sectors"]) < {1, 2, 3, 4, 5, 6}
    assert whole["levels"][0]["ctv_sectors"] == [1, 2, 3, 4, 5, 6]
    assert involved["ctv_volume_cc"] < whole["ctv_volume_cc"]
    assert {involved["roi"], whole["roi"]} <= set(read_rtstruct(tmp_path / "arms.dcm").names)


def test_demo_writes_rtstruct_report_and_figures(tmp_path: Path) -> None:
    assert sample_case_dir() == SAMPLE.resolve() or sample_case_dir() == SAMPLE
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    assert dciodvfy_errors(out / "RS_spinetv.dcm") == []
    report = json.loads((out / "report.json").read_text())
    assert report["protocol"]["id"] == "sib-sbrt-2025"
    # Left body and pedicle: row d (body + one pedicle -> + left TP/lamina). The 0.08 cc graze
    # of the GTV's edge into left sector 3 (2.1 mm deep on 3 mm voxels) no longer involves it,
    # so row g and the spinous process stay out (issue 11).
    rows = set(report["levels"][0]["rows"])
    assert "d" in rows and "g" not in rows
    assert report["levels"][0]["involved_sectors"] == [1, 2]
    assert report["levels"][0]["ctv_sectors"] == [1, 2, 3]
    assert (out / "report.html").read_text().count("data:image/png;base64") == 2
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == [
        "axial_L2.png",
        "sagittal.png",
    ]
    assert main(["demo", "--out", str(out)]) == 2  # refuses to overwrite without --force


def test_demo_refuses_to_write_into_the_sample_case(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        sample = sample_case_dir()
    except Exception:  # the sample is optional data
        pytest.skip("no bundled sample case")
    assert main(["demo", "--out", str(sample / "CT" / "out"), "--force"]) != 0
    assert "inside the input folder" in capsys.readouterr().err
