"""The case commands end to end on a written phantom: plan, sectors, ctv, audit.

The ``written`` phantom case and its ``labelmap`` are fixtures of conftest.py.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dicom_checks import dciodvfy_errors
from spinetv.cli import main
from spinetv.commands import sectors as sectors_command
from spinetv.geometry.mask import Mask
from spinetv.guidelines.loader import load_guideline
from spinetv.io.rtstruct import read_rtstruct
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom


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


# outputs never replace inputs or each other ---------------------------------------------------


def _plan_args(ct: Path, rs: Path, *extra: str) -> list[str]:
    return ["plan", str(ct), "--rtstruct", str(rs), "--gtv", "GTV", *extra]


def test_plan_refuses_to_write_over_its_input_rtstruct_even_with_force(
    written: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    before = rs.read_bytes()
    assert main(_plan_args(ct, rs, "--out", str(rs), "--force")) != 0
    assert "is the input --rtstruct" in capsys.readouterr().err
    assert rs.read_bytes() == before


def test_plan_refuses_outputs_inside_the_ct_folder_and_duplicates(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    assert main(_plan_args(ct, rs, "--out", str(ct / "RS_new.dcm"))) != 0
    assert "inside the input folder CT_DIR" in capsys.readouterr().err
    assert not (ct / "RS_new.dcm").exists()
    same = str(tmp_path / "x.dcm")
    assert main(_plan_args(ct, rs, "--out", same, "--report", same, "--force")) != 0
    assert "is also the output --out" in capsys.readouterr().err
    assert not Path(same).exists()


def test_plan_refuses_overwriting_the_gtv_mask_file(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    mask = tmp_path / "gtv.nii.gz"
    mask.write_bytes(b"not read: refused first")
    args = [
        "plan",
        str(ct),
        "--rtstruct",
        str(rs),
        "--gtv",
        str(mask),
        "--out",
        str(tmp_path / "o.dcm"),
    ]
    assert main([*args, "--report", str(mask), "--force"]) != 0
    assert "is the input --gtv" in capsys.readouterr().err


def test_plan_refuses_an_output_under_a_file_before_computing(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = tmp_path / "o.dcm"
    assert main(_plan_args(ct, rs, "--out", str(out), "--html", str(blocker / "r.html"))) != 0
    assert "is a file" in capsys.readouterr().err
    assert not out.exists()


def test_sectors_checks_label_files_before_writing_the_rtstruct(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "L3_sectors.nii.gz").write_bytes(b"earlier run")
    out = tmp_path / "s.dcm"
    args = ["sectors", str(ct), "--rtstruct", str(rs), "--out", str(out)]
    assert main([*args, "--labels-out", str(labels)]) != 0
    assert "L3_sectors.nii.gz: exists" in capsys.readouterr().err
    assert not out.exists()
    assert main([*args, "--labels-out", str(ct / "labels")]) != 0
    assert "inside the input folder" in capsys.readouterr().err


# plan fails fast on bad options ---------------------------------------------------------------


def test_plan_rejects_a_bad_margin_or_protocol_before_reading_the_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CT folder does not exist: an error about it would mean the case was read first.
    base = ["plan", str(tmp_path / "no_ct"), "--rtstruct", "RS.dcm", "--gtv", "GTV"]
    assert main([*base, "--out", str(tmp_path / "o.dcm"), "--ptv-margin", "abc"]) != 0
    err = capsys.readouterr().err
    assert "no_ct" not in err and "abc" in err
    assert main([*base, "--out", str(tmp_path / "o.dcm"), "--protocol", "no-such-protocol"]) != 0
    err = capsys.readouterr().err
    assert "no_ct" not in err and "no-such-protocol" in err


# --name-suffix --------------------------------------------------------------------------------


def test_name_suffix_making_a_name_too_long_is_refused_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["plan", str(tmp_path / "no_ct"), "--rtstruct", "RS.dcm", "--gtv", "GTV"]
    assert main([*base, "--out", str(tmp_path / "o.dcm"), "--name-suffix", "_reviewed"]) != 0
    err = capsys.readouterr().err
    # PTV_Eval + _reviewed: 17 characters, named in the message, nothing cut.
    assert "'PTV_Eval_reviewed'" in err and "TG-263" in err
    assert main([*base, "--out", str(tmp_path / "o.dcm"), "--name-suffix", " A"]) != 0
    assert "characters other than" in capsys.readouterr().err


# ctv names from the guideline id --------------------------------------------------------------


def test_ctv_names_come_from_the_guideline_id_not_the_path(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    shipped = Path(str(load_guideline("whole-vertebra").source))
    copy = tmp_path / "myg.toml"
    shutil.copyfile(shipped, copy)
    out = tmp_path / "c.dcm"
    args = ["ctv", str(ct), "--rtstruct", str(rs), "--gtv", "GTV", "--out", str(out)]
    assert main([*args, "--guideline", f"isrc-2012,{copy}"]) == 0
    names = read_rtstruct(out).names
    assert "CTV_isrc-2012" in names and "CTV_whole-verteb" in names
    assert not any("/" in n for n in names)
    assert main([*args, "--guideline", "isrc-2012", "--name", "My CTV", "--force"]) != 0
    assert "'My CTV'" in capsys.readouterr().err


# no empty derived ROIs ------------------------------------------------------------------------


def test_sectors_does_not_write_an_empty_derived_canal(
    written: tuple[Path, Path], labelmap: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ct, _ = written
    real = sectors_command.label_case_sectors

    def empty_canal(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        empty = Mask.from_array(result.canal.grid, np.zeros(result.canal.grid.shape, bool))
        return dataclasses.replace(result, canal=empty)

    base = ["sectors", str(ct), "--labelmap", str(labelmap)]
    assert main([*base, "--out", str(tmp_path / "a.dcm")]) == 0
    assert "SpinalCanal" in read_rtstruct(tmp_path / "a.dcm").names
    monkeypatch.setattr(sectors_command, "label_case_sectors", empty_canal)
    assert main([*base, "--out", str(tmp_path / "b.dcm")]) == 0
    assert "SpinalCanal" not in read_rtstruct(tmp_path / "b.dcm").names
