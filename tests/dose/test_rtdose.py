"""RTDOSE reading: the real dicompyler-core sample, and written variants of the geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicom_checks import write_rtdose_on
from spinetv.errors import DicomInputError, GeometryMismatchError
from spinetv.geometry.grid import ImageGrid
from spinetv.io.rtdose import read_rtdose, sum_doses


def _write_rtdose(
    path: Path,
    values_gy: np.ndarray,
    *,
    position: tuple[float, float, float] = (-10.0, -20.0, 5.0),
    spacing: tuple[float, float] = (2.0, 2.5),
    frame_step: float = 3.0,
    absolute: bool = False,
    summation: str = "PLAN",
    frame_uid: str = "1.2.3.4",
) -> Path:
    grid = ImageGrid(
        values_gy.shape, (frame_step, *spacing), position, frame_of_reference_uid=frame_uid
    )
    return write_rtdose_on(grid, values_gy, path, summation=summation, absolute=absolute)


def test_the_real_sample_is_read_on_its_grid(shared_data: Path) -> None:
    folder = shared_data / "rtstruct_pairs" / "dicompyler_breast"
    dose = read_rtdose(folder / "rtdose.dcm")
    assert dose.grid.shape == (98, 129, 194)
    assert dose.grid.spacing_mm == (3.0, 2.5, 2.5)
    assert dose.units == "GY" and dose.summation == "PLAN"
    structures = pydicom.dcmread(folder / "rtss.dcm", stop_before_pixels=True)
    frame = structures.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
    assert dose.grid.frame_of_reference_uid == frame
    stored = pydicom.dcmread(folder / "rtdose.dcm")
    assert dose.max_gy == pytest.approx(float(stored.pixel_array.max()) * 1.4e-5, rel=1e-6)


@pytest.mark.parametrize("absolute", [False, True], ids=["relative offsets", "absolute z"])
def test_both_offset_forms_give_one_geometry(tmp_path: Path, absolute: bool) -> None:
    values = np.random.default_rng(0).uniform(0, 40, size=(4, 5, 6))
    path = _write_rtdose(tmp_path / "RD.dcm", values, absolute=absolute)
    dose = read_rtdose(path)
    assert dose.grid.shape == (4, 5, 6)
    assert dose.grid.spacing_mm == (3.0, 2.0, 2.5)
    # Voxel (2, 3, 4): x = -10 + 4 * 2.5, y = -20 + 3 * 2.0, z = 5 + 2 * 3.
    assert np.allclose(dose.grid.index_to_lps([2, 3, 4]), [0.0, -14.0, 11.0])
    assert np.allclose(dose.values, values, atol=1e-4)


def test_bad_geometry_and_sums(tmp_path: Path) -> None:
    values = np.ones((3, 4, 4))
    path = _write_rtdose(tmp_path / "RD.dcm", values)
    ds = pydicom.dcmread(path)
    ds.GridFrameOffsetVector = [0, 3, 7]
    ds.save_as(tmp_path / "uneven.dcm")
    with pytest.raises(DicomInputError, match="uneven.dcm: dose frames are not evenly spaced"):
        read_rtdose(tmp_path / "uneven.dcm")
    ds.GridFrameOffsetVector = [2, 5, 8]
    ds.save_as(tmp_path / "neither.dcm")
    with pytest.raises(DicomInputError, match="neither 0"):
        read_rtdose(tmp_path / "neither.dcm")
    with pytest.raises(DicomInputError, match="no such RTDOSE"):
        read_rtdose(tmp_path / "missing.dcm")
    beam1 = read_rtdose(_write_rtdose(tmp_path / "b1.dcm", values * 2, summation="BEAM"))
    beam2 = read_rtdose(_write_rtdose(tmp_path / "b2.dcm", values * 3, summation="BEAM"))
    total = sum_doses([beam1, beam2])
    assert total.summation == "SUM" and np.allclose(total.values, 5.0, atol=1e-3)
    other = read_rtdose(_write_rtdose(tmp_path / "o.dcm", values, spacing=(2.0, 2.0)))
    with pytest.raises(GeometryMismatchError, match="dose grids differ"):
        sum_doses([beam1, other])
