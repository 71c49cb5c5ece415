"""QA figures follow the radiological convention whatever the grid's orientation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spinetv import ImageGrid, Mask
from spinetv.report.figures import Overlay, reformat, save_axial_figure, save_sagittal_figure
from spinetv.report.json_report import to_jsonable, write_json_report

DIRECTIONS = {
    "HFS": np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float),
    "FFS": np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float),
    "HFP": np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=float),
}


def _grid(orientation: str) -> ImageGrid:
    direction = DIRECTIONS[orientation]
    shape = (20, 40, 40)
    spacing = (2.0, 1.0, 1.0)
    centre_index = (np.array(shape) - 1) / 2 * np.array(spacing)
    origin = -(direction @ centre_index)
    return ImageGrid(shape, spacing, tuple(origin), direction, "1.2.3")


def _blob_at(grid: ImageGrid, point_lps: np.ndarray, radius_mm: float = 4.0) -> Mask:
    ijk = np.indices(grid.shape).reshape(3, -1).T
    distance = np.linalg.norm(grid.index_to_lps(ijk) - point_lps, axis=1)
    return Mask.from_array(grid, (distance <= radius_mm).reshape(grid.shape))


@pytest.mark.parametrize("orientation", ["HFS", "FFS", "HFP"])
def test_axial_plane_shows_patient_left_right_and_anterior_up(orientation: str) -> None:
    grid = _grid(orientation)
    left_anterior = _blob_at(grid, np.array([10.0, -10.0, 0.0]))
    plane = reformat(left_anterior.to_array(), grid, "axial", [0, 0, 0]).pixels
    rows, cols = np.nonzero(plane)
    assert cols.mean() > plane.shape[1] / 2, "patient left must be on the screen's right"
    assert rows.mean() < plane.shape[0] / 2, "anterior must be up"


@pytest.mark.parametrize("orientation", ["HFS", "FFS", "HFP"])
def test_sagittal_plane_shows_superior_up_and_anterior_left(orientation: str) -> None:
    grid = _grid(orientation)
    superior_anterior = _blob_at(grid, np.array([0.0, -10.0, 12.0]))
    plane = reformat(superior_anterior.to_array(), grid, "sagittal", [0, 0, 0]).pixels
    rows, cols = np.nonzero(plane)
    assert rows.mean() < plane.shape[0] / 2, "superior must be up"
    assert cols.mean() < plane.shape[1] / 2, "anterior must be on the left"


def test_figures_are_written_and_never_overwrite(tmp_path: Path) -> None:
    grid = _grid("HFS")
    blob = _blob_at(grid, np.array([0.0, 0.0, 0.0]), 8.0)
    ct = np.where(blob.to_array(), 400.0, 0.0)
    overlays = [Overlay("GTV", blob, (255, 0, 0))]
    axial = save_axial_figure(tmp_path / "a.png", grid=grid, ct=ct, overlays=overlays,
                              focus=blob, title="L1")
    sagittal = save_sagittal_figure(tmp_path / "s.png", grid=grid, ct=ct, overlays=overlays,
                                    focus=blob, title="spine", level_labels={"L1": blob})
    for path in (axial, sagittal):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(Exception, match="exists"):
        save_axial_figure(axial, grid=grid, ct=ct, overlays=overlays, focus=blob, title="L1")


def test_json_report_converts_numpy_and_refuses_nan_values(tmp_path: Path) -> None:
    report = {"volume_cc": np.float32(1.5), "levels": ("L1",), "bad": float("nan"),
              "array": np.arange(3)}
    assert to_jsonable(report) == {"volume_cc": 1.5, "levels": ["L1"], "bad": None,
                                   "array": [0, 1, 2]}
    path = write_json_report(report, tmp_path / "r.json")
    assert json.loads(path.read_text())["array"] == [0, 1, 2]
