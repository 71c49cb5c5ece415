"""Outputs are atomic and never overwrite; structures validate their values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinetv import ImageGrid, Mask, OutputExistsError, RoiType, SpinetvError, Structure
from spinetv.io.atomic import atomic_output, check_writable, write_text_atomic
from spinetv.structure import check_tg263_name


def test_existing_file_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("precious")
    with pytest.raises(OutputExistsError, match="exists"):
        write_text_atomic(target, "new")
    assert target.read_text() == "precious"
    write_text_atomic(target, "new", overwrite=True)
    assert target.read_text() == "new"


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.dcm"
    with pytest.raises(RuntimeError), atomic_output(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_check_writable_names_a_parent_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "report.json"
    blocker.write_text("{}")
    with pytest.raises(OutputExistsError, match="report.json is a file"):
        check_writable(blocker / "sub" / "out.dcm", overwrite=True)


def test_structure_validates_type_and_colour() -> None:
    grid = ImageGrid((2, 2, 2), (1, 1, 1), (0, 0, 0))
    mask = Mask.from_array(grid, np.ones(grid.shape))
    assert Structure("PTV", mask, "ptv").roi_type is RoiType.PTV
    with pytest.raises(SpinetvError, match="unknown ROI type"):
        Structure("X", mask, "TUMOUR")
    with pytest.raises(SpinetvError, match="colour"):
        Structure("X", mask, color_rgb=(0, 0, 300))


def test_tg263_name_check() -> None:
    assert check_tg263_name("SpinalCord_PRV02") == []
    assert check_tg263_name("Spinal Cord PRV 2 mm long") != []
