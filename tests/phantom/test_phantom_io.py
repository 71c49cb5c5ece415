"""Writing the phantom: DICOM CT + RTSTRUCT round trip and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinetv.cli import main
from spinetv.errors import OutputExistsError
from spinetv.io.dicom_series import read_dicom_series
from spinetv.io.rtstruct_read import read_structures
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom
from spinetv.structure import RoiType


@pytest.mark.parametrize("orientation", ["HFS", "FFS"])
def test_written_phantom_round_trips(tmp_path: Path, orientation: str) -> None:
    phantom = make_spine_phantom(
        levels=("L5", "S1", "S2"),
        spacing_mm=(2.5, 2.0, 2.0),
        orientation=orientation,
        gtv=GtvSpec("L5", (1, 2)),
    )
    ct_dir, rtstruct = write_phantom(phantom, tmp_path / "case")
    image = read_dicom_series(ct_dir)
    assert image.grid.matches(phantom.grid)
    np.testing.assert_array_equal(np.asarray(image.voxels), phantom.hu)
    read = read_structures(rtstruct, image.grid)
    written = phantom.structures()
    assert list(read) == [s.name for s in written]
    for structure in written:
        back = read[structure.name]
        assert back.roi_type is structure.roi_type
        a, b = structure.mask.to_array(), back.mask.to_array()
        dice = 2 * (a & b).sum() / (a.sum() + b.sum())
        assert dice >= 0.95, f"{structure.name}: Dice {dice:.3f}"
    assert read["GTV"].roi_type is RoiType.GTV
    with pytest.raises(OutputExistsError):
        write_phantom(phantom, tmp_path / "case")
    write_phantom(phantom, tmp_path / "case", overwrite=True)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = [
        "phantom",
        "--out",
        str(out),
        "--levels",
        "L2,L3",
        "--spacing",
        "3,3,3",
        "--orientation",
        "HFP",
        "--lordosis",
        "10",
        "--rotation",
        "5",
        "--gtv",
        "L3:1,2:side=left,epidural=2",
        "--seed",
        "3",
    ]
    assert main(args) == 0
    assert (out / "RTSTRUCT.dcm").is_file() and any((out / "CT").iterdir())
    assert "GTV" in capsys.readouterr().out
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert main(["phantom", "--out", str(out), "--gtv", "L9:1"]) == 2
