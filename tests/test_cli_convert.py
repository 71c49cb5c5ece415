"""``spinetv convert``: RTSTRUCT -> NIfTI masks and back; errors are one line, exit 2, no output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spinetv.cli import main
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.mask import Mask
from spinetv.io.dicom_series import write_dicom_series
from spinetv.io.images import read_label_map, write_mask_image
from spinetv.io.reference import SeriesReference
from spinetv.io.rtstruct import read_rtstruct, read_structures, write_rtstruct
from spinetv.structure import RoiType, Structure


def _ball(grid: ImageGrid, centre: tuple[float, float, float], radius: float) -> Mask:
    points = grid.index_to_lps(np.stack(np.indices(grid.shape), axis=-1))
    return Mask.from_array(grid, np.linalg.norm(points - np.asarray(centre), axis=-1) <= radius)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("cli")
    grid = ImageGrid((10, 28, 30), (2.0, 1.0, 1.0), (-15.0, -14.0, -9.0))
    reference = write_dicom_series(np.zeros(grid.shape), grid, root / "ct")
    structures = [
        Structure("GTV", _ball(reference.grid, (0.0, 0.0, 0.0), 5.0), roi_type="GTV"),
        Structure("Spinal Cord", _ball(reference.grid, (3.0, 6.0, 0.0), 3.0)),
    ]
    rs = write_rtstruct(structures, reference, root / "RS.dcm")
    return {"root": root, "reference": reference, "rs": rs, "structures": structures}


def test_rtstruct_to_masks(case: dict[str, object], tmp_path: Path, capsys) -> None:
    reference: SeriesReference = case["reference"]  # type: ignore[assignment]
    out = tmp_path / "masks"
    code = main(["convert", str(case["rs"]), "--image", str(case["root"] / "ct"),  # type: ignore[operator]
                 "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "GTV.nii.gz",
        "Spinal_Cord.nii.gz",
        "spinetv_structures.json",
    ]
    for structure, name in zip(case["structures"], ["GTV", "Spinal_Cord"]):  # type: ignore[call-overload]
        labels = read_label_map(out / f"{name}.nii.gz", grid=reference.grid)
        np.testing.assert_array_equal(labels.to_array() == 1, structure.mask.to_array())
    assert "GTV.nii.gz" in capsys.readouterr().out


def test_masks_to_rtstruct_with_types(case: dict[str, object], tmp_path: Path) -> None:
    reference: SeriesReference = case["reference"]  # type: ignore[assignment]
    masks = tmp_path / "in"
    for structure in case["structures"]:  # type: ignore[attr-defined]
        write_mask_image(structure.mask, masks / f"{structure.name.replace(' ', '')}.nii.gz")
    out = tmp_path / "RS_new.dcm"
    code = main(["convert", str(masks), "--image", str(case["root"] / "ct"), "--out", str(out),  # type: ignore[operator]
                 "--types", "GTV=GTV,SpinalCord=AVOIDANCE"])
    assert code == 0
    data = read_rtstruct(out)
    assert data.names == ("GTV", "SpinalCord")
    assert [roi.roi_type for roi in data.rois] == [RoiType.GTV, RoiType.AVOIDANCE]
    assert data.frame_of_reference_uid == reference.grid.frame_of_reference_uid
    read = read_structures(out, reference)
    for structure, name in zip(case["structures"], ["GTV", "SpinalCord"]):  # type: ignore[call-overload]
        np.testing.assert_array_equal(read[name].mask.to_array(), structure.mask.to_array())
    if shutil.which("dciodvfy"):
        result = subprocess.run(["dciodvfy", str(out)], capture_output=True, text=True)
        assert "Error" not in result.stdout + result.stderr

    # types in order, one file
    single = tmp_path / "RS_single.dcm"
    assert main(["convert", str(masks / "GTV.nii.gz"), "--image", str(case["root"] / "ct"),  # type: ignore[operator]
                 "--out", str(single), "--types", "ctv"]) == 0
    assert read_rtstruct(single).rois[0].roi_type is RoiType.CTV


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_errors_are_one_line_and_leave_no_output(
    case: dict[str, object], tmp_path: Path, capsys
) -> None:
    ct = str(case["root"] / "ct")  # type: ignore[operator]
    masks = tmp_path / "in"
    write_mask_image(case["structures"][0].mask, masks / "GTV.nii.gz")  # type: ignore[index]
    out = tmp_path / "RS.dcm"

    to_rs = ["convert", str(masks), "--image", ct, "--out", str(out)]
    assert main([*to_rs, "--types", "CTV,PTV"]) == 2
    assert "2 types for 1 masks" in _error_line(capsys)
    assert main([*to_rs, "--types", "BOGUS"]) == 2
    assert "unknown ROI type" in _error_line(capsys)
    assert not out.exists()

    out.write_bytes(b"old")
    assert main(["convert", str(masks), "--image", ct, "--out", str(out)]) == 2
    assert "exists" in _error_line(capsys)
    assert out.read_bytes() == b"old"
    assert main(["convert", str(masks), "--image", ct, "--out", str(out), "--force"]) == 0
    assert read_rtstruct(out).names == ("GTV",)
    capsys.readouterr()

    folder = tmp_path / "masks_out"
    assert main(["convert", str(case["rs"]), "--image", ct, "--out", str(folder),
                 "--roi", "PTV"]) == 2
    assert "no ROI named 'PTV'" in _error_line(capsys)
    assert not folder.exists()
    ct_file = next(Path(ct).iterdir())
    assert main(["convert", str(ct_file), "--image", ct, "--out", str(folder)]) == 2
    assert "expected an RTSTRUCT" in _error_line(capsys)
    assert not folder.exists()


def test_error_exit_in_a_subprocess_has_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spinetv.cli", "convert", str(tmp_path / "missing.dcm"),
         "--image", str(tmp_path / "no_ct"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("spinetv convert: error:")
    assert not (tmp_path / "out").exists()


# ---- issue 12: the round trip keeps names, types and colours; Ctrl-C leaves nothing -------


ODD_NAMES = (
    ("FemoralHead (Left)_MBS", RoiType.ORGAN, (10, 200, 30)),
    ("BODY", RoiType.EXTERNAL, (0, 128, 255)),
    ("GTV", RoiType.GTV, (255, 0, 0)),
    ("A B", RoiType.PTV, (4, 5, 6)),
    ("A_B", RoiType.AVOIDANCE, (7, 8, 9)),
)


@pytest.fixture(scope="module")
def odd_case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("odd")
    grid = ImageGrid((8, 24, 24), (2.0, 1.0, 1.0), (-12.0, -12.0, -8.0))
    reference = write_dicom_series(np.zeros(grid.shape), grid, root / "ct")
    structures = [
        Structure(name, _ball(reference.grid, (k - 2.5, 0.0, 0.0), 3.0 + k), roi_type=kind,
                  color_rgb=color)
        for k, (name, kind, color) in enumerate(ODD_NAMES)
    ]
    return {"root": root, "reference": reference,
            "rs": write_rtstruct(structures, reference, root / "RS.dcm")}


def test_nifti_round_trip_keeps_names_types_and_colours(
    odd_case: dict[str, object], tmp_path: Path
) -> None:
    # Before: FemoralHead__Left__MBS, every type ORGAN, every colour yellow.
    ct = str(odd_case["root"] / "ct")  # type: ignore[operator]
    masks = tmp_path / "masks"
    assert main(["convert", str(odd_case["rs"]), "--image", ct, "--out", str(masks)]) == 0
    files = sorted(p.name for p in masks.iterdir())
    assert files == sorted([
        "FemoralHead_Left_MBS.nii.gz", "BODY.nii.gz", "GTV.nii.gz",
        "A_B.nii.gz", "A_B_2.nii.gz", "spinetv_structures.json",
    ])
    back = tmp_path / "RS_back.dcm"
    assert main(["convert", str(masks), "--image", ct, "--out", str(back)]) == 0
    original = read_rtstruct(odd_case["rs"])  # type: ignore[arg-type]
    again = read_rtstruct(back)
    assert sorted(again.names) == sorted(name for name, _, _ in ODD_NAMES)
    for name, kind, color in ODD_NAMES:
        roi = again.roi(name)
        assert roi.roi_type is kind, name
        assert roi.color_rgb == color, name
    reference = odd_case["reference"]
    before = read_structures(original, reference)  # type: ignore[arg-type]
    after = read_structures(again, reference)  # type: ignore[arg-type]
    for name in before:
        np.testing.assert_array_equal(after[name].mask.to_array(), before[name].mask.to_array())
    # --types still overrides the sidecar
    override = tmp_path / "RS_override.dcm"
    assert main(["convert", str(masks), "--image", ct, "--out", str(override),
                 "--types", "BODY=ORGAN"]) == 0
    assert read_rtstruct(override).roi("BODY").roi_type is RoiType.ORGAN


def test_damaged_sidecar_is_one_clear_error(
    odd_case: dict[str, object], tmp_path: Path, capsys
) -> None:
    ct = str(odd_case["root"] / "ct")  # type: ignore[operator]
    masks = tmp_path / "masks"
    assert main(["convert", str(odd_case["rs"]), "--image", ct, "--out", str(masks)]) == 0
    capsys.readouterr()
    (masks / "spinetv_structures.json").write_text('{"format": "spinetv-structures/1", "str')
    out = tmp_path / "RS.dcm"
    assert main(["convert", str(masks), "--image", ct, "--out", str(out)]) == 2
    assert "spinetv_structures.json: not a readable JSON sidecar" in _error_line(capsys)
    assert not out.exists()


def test_ctrl_c_during_convert_exits_130_and_leaves_no_masks(
    odd_case: dict[str, object], tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spinetv.io.mask_folder as mask_folder

    written: list[Path] = []
    real_write = mask_folder.write_mask_image

    def interrupted_after_two(mask: Mask, path: Path, *, overwrite: bool = False) -> Path:
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(Path(path))
        return real_write(mask, path, overwrite=overwrite)

    monkeypatch.setattr(mask_folder, "write_mask_image", interrupted_after_two)
    out = tmp_path / "masks"
    ct = str(odd_case["root"] / "ct")  # type: ignore[operator]
    assert main(["convert", str(odd_case["rs"]), "--image", ct, "--out", str(out)]) == 130
    assert capsys.readouterr().err.strip() == "spinetv convert: interrupted"
    assert len(written) == 2 and not any(p.exists() for p in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_mask_file_names_are_readable_and_unique_even_by_case() -> None:
    from spinetv.io.sidecar import mask_file_names

    names = mask_file_names(["GTV", "gtv", "Cord / PRV 2mm", "", "spinetv_structures", "A.B"])
    assert names == ["GTV.nii.gz", "gtv_2.nii.gz", "Cord_PRV_2mm.nii.gz", "ROI.nii.gz",
                     "spinetv_structures_2.nii.gz", "A.B.nii.gz"]
