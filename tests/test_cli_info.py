"""``spinetv info``: RTSTRUCT, series folder, DICOMDIR and label map, as a table and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.fileset import FileSet

from spinetv.cli import main
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.labels import LabelMap
from spinetv.geometry.mask import Mask
from spinetv.io.dicom_series import write_dicom_series
from spinetv.io.images import write_label_image
from spinetv.io.rtstruct import write_rtstruct
from spinetv.structure import RoiType, Structure

FRAME_UID = "1.2.826.0.1.3680043.8.498.7777"


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("info")
    axial = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float).T
    grid = ImageGrid((6, 20, 22), (3.0, 1.0, 1.0), (-10.0, -10.0, 0.0), axial, FRAME_UID)
    reference = write_dicom_series(
        np.zeros(grid.shape), grid, root / "ct", patient={"PatientID": "INFO"},
        study={"StudyID": "I1"}, series_description="planning CT",
    )
    l2 = np.zeros(grid.shape, dtype=bool)
    l2[1:5, 5:15, 5:15] = True
    cord = np.zeros(grid.shape, dtype=bool)
    cord[:, 16:18, 9:11] = True
    structures = [
        Structure("Vertebra_L2", Mask.from_array(grid, l2), roi_type=RoiType.ORGAN,
                  color_rgb=(1, 2, 3)),
        Structure("SpinalCord", Mask.from_array(grid, cord), roi_type=RoiType.AVOIDANCE),
        Structure("GTV", Mask.from_array(grid, l2 & (np.indices(grid.shape)[2] < 8)),
                  roi_type=RoiType.GTV),
    ]
    rtstruct = write_rtstruct(structures, reference, root / "RS.dcm")
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[l2] = 30
    labels[cord] = 79
    label_map = write_label_image(LabelMap.from_array(grid, labels), root / "seg.nii.gz")
    file_set = FileSet()
    for path in reference.paths:
        file_set.add(pydicom.dcmread(path))
    file_set.write(root / "media")
    return {"ct": root / "ct", "rs": rtstruct, "labels": label_map, "media": root / "media"}


def test_info_rtstruct_table_and_json(case: dict[str, Path], capsys) -> None:
    assert main(["info", str(case["rs"])]) == 0
    out = capsys.readouterr().out
    assert f"frame of reference {FRAME_UID}" in out and "3 ROIs" in out
    lines = {line.split()[1]: line.split() for line in out.splitlines()
             if line[:1].isdigit()}
    assert lines["Vertebra_L2"][2:7] == ["ORGAN", "1\\2\\3", "4", "4", "CLOSED_PLANAR"]
    assert lines["Vertebra_L2"][-2:] == ["level", "L2"]
    assert lines["SpinalCord"][2] == "AVOIDANCE" and lines["SpinalCord"][-1] == "cord"
    assert main(["info", str(case["rs"]), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "rtstruct"
    by_name = {roi["name"]: roi for roi in document["rois"]}
    assert by_name["GTV"]["roi_type"] == "GTV" and by_name["GTV"]["contours"] == 4
    assert by_name["SpinalCord"]["planes"] == 6
    assert by_name["Vertebra_L2"]["recognised_as"] == "level L2"


def test_info_series_folder_and_dicomdir(case: dict[str, Path], capsys) -> None:
    for source, kind in ((case["ct"], "folder"), (case["media"], "dicomdir"),
                         (case["media"] / "DICOMDIR", "dicomdir")):
        assert main(["info", str(source), "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["kind"] == kind
        [series] = document["series"]
        assert series["modality"] == "CT" and series["slices"] == 6
        assert (series["rows"], series["columns"]) == (20, 22)
        assert series["spacing_mm"] == [3.0, 1.0, 1.0]
        assert series["patient_position"] == "HFS"
        assert series["frame_of_reference_uid"] == FRAME_UID
        assert series["problem"] == ""
    assert main(["info", str(case["ct"])]) == 0
    out = capsys.readouterr().out
    assert "planning CT" in out and "3 x 1 x 1" in out and "HFS" in out


def test_info_label_map(case: dict[str, Path], capsys) -> None:
    assert main(["info", str(case["labels"]), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    labels = {label["value"]: label for label in document["labels"]}
    assert sorted(labels) == [30, 79]
    assert labels[30]["voxels"] == 4 * 10 * 10
    assert labels[30]["volume_cc"] == pytest.approx(400 * 3.0 / 1000)
    assert labels[30]["totalsegmentator_total"] == "L2"
    assert labels[79]["totalsegmentator_total"] == "SpinalCord"
    assert main(["info", str(case["labels"])]) == 0
    assert "6x20x22 voxels" in capsys.readouterr().out


def test_info_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["info", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"spinetv info: error: {tmp_path / 'missing'}: no such file or folder"]
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none of its 1 file(s) is a DICOM CT/MR image" in err[0]


def test_info_real_files(shared_data: Path, capsys) -> None:
    cerr = shared_data / "real_exports" / "cerr_ibsi1_ct"
    assert main(["info", str(cerr), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["series"][0]["slices"] == 60
    assert (document["series"][0]["rows"], document["series"][0]["columns"]) == (201, 204)
    assert document["rtstructs"] == [str(cerr / "DCM_RS_00060.dcm")]
    no_meta = shared_data / "real_exports" / "pydicom_files" / "rtstruct.dcm"
    assert main(["info", str(no_meta), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [roi["name"] for roi in document["rois"]] == ["patient", "Isocenter 1", "Isocenter 2"]
    assert any("no DICOM preamble" in w for w in document["warnings"])


def test_info_reports_damaged_contours(case: dict[str, Path], tmp_path: Path, capsys) -> None:
    ds = pydicom.dcmread(case["rs"])
    ds.ROIContourSequence[1].ContourSequence[0].ContourData = ["NaN", "0", "1"] * 3
    damaged = tmp_path / "damaged.dcm"
    ds.save_as(damaged)
    assert main(["info", str(damaged), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [roi["damaged_contours"] for roi in document["rois"]] == [0, 1, 0]
    assert main(["info", str(damaged)]) == 0
    assert "damaged: ROI 'SpinalCord' has 1 contour(s)" in capsys.readouterr().out


def test_a_command_run_in_process_leaves_the_garbage_collector_as_it_found_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import gc

    assert gc.isenabled()
    assert main([]) == 2  # no command: the help, after the collector was turned off
    assert gc.isenabled()
    gc.disable()
    try:
        main([])
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
    capsys.readouterr()
