"""The case commands end to end on a written phantom: plan, sectors, ctv, audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicom_checks import dciodvfy_errors
from spinetv.cli import main
from spinetv.io.rtstruct import read_rtstruct
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    phantom = make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
        seed=3,
    )
    return write_phantom(phantom, tmp_path_factory.mktemp("case"))


def test_plan_writes_a_valid_rtstruct_beside_the_input_rois(
    written: tuple[Path, Path], tmp_path: Path
) -> None:
    ct, rs = written
    out, report = tmp_path / "RS_plan.dcm", tmp_path / "plan.json"
    code = main(
        [
            "plan",
            str(ct),
            "--rtstruct",
            str(rs),
            "--gtv",
            "GTV",
            "--out",
            str(out),
            "--report",
            str(report),
            "--figures",
            str(tmp_path / "qa"),
        ]
    )
    assert code == 0
    names = read_rtstruct(out).names
    for expected in ("GTV", "L2", "L2_Sector1", "CTV", "PTV", "PTV_Eval", "SpinalCord_PRV02"):
        assert expected in names
    assert dciodvfy_errors(out) == []
    data = json.loads(report.read_text())
    assert data["levels"][0]["ctv_sectors"] == [1, 2, 3]
    assert data["protocol"]["id"] == "sib-sbrt-2025"
    assert {"CTV", "PTV", "PTV_Eval"} <= set(data["structures"])
    assert sorted(p.name for p in (tmp_path / "qa").iterdir()) == ["axial_L2.png", "sagittal.png"]


def test_plan_writes_both_trial_arms_in_one_command(
    written: tuple[Path, Path], tmp_path: Path
) -> None:
    ct, rs = written
    code = main(
        [
            "plan",
            str(ct),
            "--rtstruct",
            str(rs),
            "--gtv",
            "GTV",
            "--protocol",
            "chictr1900023401-involved,chictr1900023401-whole",
            "--out",
            str(tmp_path / "RS.dcm"),
            "--report",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 0
    involved = json.loads((tmp_path / "r_chictr1900023401-involved.json").read_text())
    whole = json.loads((tmp_path / "r_chictr1900023401-whole.json").read_text())
    assert whole["levels"][0]["ctv_sectors"] == [1, 2, 3, 4, 5, 6]
    assert involved["structures"]["CTV"]["volume_cc"] < whole["structures"]["CTV"]["volume_cc"]
    assert (tmp_path / "RS_chictr1900023401-whole.dcm").exists()


def test_existing_output_is_refused_without_force(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    out = tmp_path / "RS.dcm"
    out.write_bytes(b"keep me")
    code = main(["plan", str(ct), "--rtstruct", str(rs), "--gtv", "GTV", "--out", str(out)])
    assert code == 2
    assert out.read_bytes() == b"keep me"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0]


def test_unknown_gtv_is_one_line_naming_the_rois(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    code = main(
        [
            "plan",
            str(ct),
            "--rtstruct",
            str(rs),
            "--gtv",
            "Tumour",
            "--out",
            str(tmp_path / "x.dcm"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "Tumour" in err and "GTV" in err and "Traceback" not in err
    assert not (tmp_path / "x.dcm").exists()


def test_sectors_ctv_and_audit_commands(written: tuple[Path, Path], tmp_path: Path) -> None:
    ct, rs = written
    assert (
        main(
            [
                "sectors",
                str(ct),
                "--rtstruct",
                str(rs),
                "--out",
                str(tmp_path / "s.dcm"),
                "--labels-out",
                str(tmp_path / "labels"),
                "--report",
                str(tmp_path / "s.json"),
            ]
        )
        == 0
    )
    sectors = json.loads((tmp_path / "s.json").read_text())
    assert [lv["level"] for lv in sectors["levels"]] == ["L1", "L2", "L3"]
    assert (tmp_path / "labels" / "L2_sectors.nii.gz").exists()
    assert "L3_Sector6" in read_rtstruct(tmp_path / "s.dcm").names

    assert (
        main(
            [
                "ctv",
                str(ct),
                "--rtstruct",
                str(rs),
                "--gtv",
                "GTV",
                "--guideline",
                "isrc-2012,whole-vertebra",
                "--out",
                str(tmp_path / "c.dcm"),
                "--report",
                str(tmp_path / "c.json"),
            ]
        )
        == 0
    )
    ctvs = json.loads((tmp_path / "c.json").read_text())["ctvs"]
    assert [c["levels"][0]["ctv_sectors"] for c in ctvs] == [[1, 2, 3], [1, 2, 3, 4, 5, 6]]

    assert (
        main(
            [
                "audit",
                str(ct),
                "--rtstruct",
                str(tmp_path / "c.dcm"),
                "--gtv",
                "GTV",
                "--ctv",
                ctvs[0]["roi"],
                "--report",
                str(tmp_path / "a.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "a.json").read_text())["compliant"] is True
    assert (
        main(
            [
                "audit",
                str(ct),
                "--rtstruct",
                str(tmp_path / "c.dcm"),
                "--gtv",
                "GTV",
                "--ctv",
                ctvs[1]["roi"],
                "--report",
                str(tmp_path / "b.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "b.json").read_text())["compliant"] is False


def test_sacral_plan_with_contoured_thecal_sac(tmp_path: Path) -> None:
    phantom = make_spine_phantom(
        levels=("L5", "S1", "S2", "S3", "S4", "S5"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=GtvSpec(level="S2", sectors=(1, 6), body_side="right"),
        seed=2,
    )
    ct, rs = write_phantom(phantom, tmp_path / "case")
    out, report = tmp_path / "RS.dcm", tmp_path / "r.json"
    assert (
        main(
            [
                "plan",
                str(ct),
                "--rtstruct",
                str(rs),
                "--gtv",
                "GTV",
                "--out",
                str(out),
                "--report",
                str(report),
            ]
        )
        == 0
    )
    data = json.loads(report.read_text())
    assert "S2" in data["involved_levels"]
    assert data["structures"]["PTV_Eval"]["made_by"] == [
        "PTV",
        "minus SacralCanal",
        "minus SacralForamina",
    ]
    assert "ThecalSac (input)" in data["structures"]
    names = read_rtstruct(out).names
    assert names.count("ThecalSac") == 1
    assert {"S2_Body", "S2_Ala_R", "SacralCanal", "SacralForamina"} <= set(names)
    assert dciodvfy_errors(out) == []
