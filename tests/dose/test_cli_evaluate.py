"""``spinetv evaluate`` end to end: plan a phantom, give it a dose file, read the verdicts."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicom_checks import write_rtdose_on
from spinetv.cli import main

phantom = pytest.importorskip("spinetv.phantom")


def test_evaluate_reads_the_plan_and_dose_and_writes_every_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = phantom.make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=phantom.GtvSpec(level="L2", sectors=(1,)),
        seed=4,
    )
    ct, rs = phantom.write_phantom(model, tmp_path / "case")
    planned = tmp_path / "RS_plan.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["plan", str(ct), "--rtstruct", str(rs), "--gtv", "GTV",
                     "--protocol", "sib-sbrt-2025", "--out", str(planned)]) == 0
    values = np.full(model.grid.shape, 30.0)
    values[model.gtv.to_array()] = 40.0
    values[model.cord.to_array()] = 12.0
    dose = write_rtdose_on(model.grid, values, tmp_path / "RD.dcm")
    capsys.readouterr()
    out = tmp_path / "eval"
    code = main(["evaluate", str(ct), "--rtstruct", str(planned), "--dose", str(dose),
                 "--protocol", "sib-sbrt-2025", "--report", str(out / "r.json"),
                 "--html", str(out / "r.html"), "--dvh-csv", str(out / "dvh.csv"),
                 "--figures", str(out / "figures")])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    report = json.loads((out / "r.json").read_text())
    by_key = {(c["structure"], c["metric"], c["priority"]): c for c in report["constraints"]}
    gtv_d50 = by_key[("GTV", "D50%", "mandatory")]
    assert gtv_d50["value"] == pytest.approx(40.0, abs=0.05) and gtv_d50["passed"] is True
    # The cord's own voxels get 12 Gy, but the 2 mm around it 30 Gy: the PRV fails, alone.
    failed = [k for k, c in by_key.items() if c["priority"] == "mandatory" and not c["passed"]]
    assert failed == [("SpinalCord_PRV02", "D0.03cm³", "mandatory")]
    assert report["summary"]["all_mandatory_passed"] is False
    assert "FAIL" in printed.out and "SpinalCord_PRV02" in printed.out
    html = (out / "r.html").read_text()
    assert "data:image/png;base64," in html and "FAIL" in html
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "isodose_axial.png", "isodose_sagittal.png"
    ]
    rows = list(csv.reader((out / "dvh.csv").open()))
    assert rows[0][0] == "dose_gy" and "GTV_pct" in rows[0]
    gtv = rows[0].index("GTV_pct")
    assert float(rows[1][gtv]) == pytest.approx(100.0)  # every voxel gets at least 0 Gy
    # A missing dose file is one line and exit 2; outputs are not overwritten without --force.
    assert main(["evaluate", str(ct), "--rtstruct", str(planned), "--dose",
                 str(tmp_path / "none.dcm"), "--protocol", "sib-sbrt-2025",
                 "--report", str(tmp_path / "x.json")]) == 2
    assert "no such RTDOSE file" in capsys.readouterr().err
    assert main(["evaluate", str(ct), "--rtstruct", str(planned), "--dose", str(dose),
                 "--protocol", "sib-sbrt-2025", "--report", str(out / "r.json")]) == 2
    assert pydicom.dcmread(dose).Modality == "RTDOSE"  # the input is untouched
    # A limit's structure under another ROI name: mapped, or reported not evaluable.
    assert main(["evaluate", str(ct), "--rtstruct", str(planned), "--dose", str(dose),
                 "--protocol", "sib-sbrt-2025", "--name", "GTV=GTV_elsewhere",
                 "--report", str(tmp_path / "renamed.json")]) == 0
    renamed = json.loads((tmp_path / "renamed.json").read_text())
    gtv_rows = [c for c in renamed["constraints"] if c["structure"] == "GTV"]
    assert gtv_rows and all(c["passed"] is None and "absent" in c["reason"] for c in gtv_rows)


def test_the_python_api_takes_a_case(tmp_path: Path) -> None:
    import spinetv

    model = phantom.make_spine_phantom(
        levels=("L1", "L2", "L3"), spacing_mm=(2.0, 1.0, 1.0),
        gtv=phantom.GtvSpec(level="L2", sectors=(1,)), seed=4,
    )
    ct, rs = phantom.write_phantom(model, tmp_path / "case")
    values = np.full(model.grid.shape, 30.0)
    values[model.gtv.to_array()] = 43.0
    dose = spinetv.read_rtdose(write_rtdose_on(model.grid, values, tmp_path / "RD.dcm"))
    case = spinetv.load_case(ct, rs, gtv="GTV")
    evaluation = spinetv.evaluate(case, dose, "sib-sbrt-2025")
    gtv = [r for r in evaluation.results if r.constraint.structure == "GTV"]
    assert gtv and all(r.passed is not None for r in gtv)
    assert 41.0 < spinetv.dvh(case.gtv, dose).mean <= 43.0  # the rim reads the 30 Gy around
    # The phantom's RTSTRUCT holds no PTV_Eval: those limits are not evaluable, not passed.
    ptv_eval = [r for r in evaluation.results if r.constraint.structure == "PTV_Eval"]
    assert ptv_eval and all(r.passed is None for r in ptv_eval)
