"""Fixtures for the anatomy tests: the real TotalSegmentator spine labels on the 3 mm CT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _real_spine import RealSpine

from spinetv.geometry import ImageGrid, Mask

TOTALSEG_IDS = {"S1": 26, "L5": 27, "L4": 28, "L3": 29, "L2": 30, "L1": 31, "T12": 32}
SACRUM_ID = 25
CORD_ID = 79


def _read_labels(path: Path) -> tuple[ImageGrid, np.ndarray]:
    # A private loader (spinetv.io owns the public one): SimpleITK reports LPS geometry with
    # index order (column, row, slice), reversed here to the grid's (slice, row, column).
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)[:, ::-1]
    grid = ImageGrid(
        tuple(reversed(image.GetSize())),
        tuple(reversed(image.GetSpacing())),
        tuple(image.GetOrigin()),
        direction,
    )
    return grid, sitk.GetArrayFromImage(image)


@pytest.fixture(scope="session")
def real_spine(shared_data: Path) -> RealSpine:
    """T12-L5 and S1 from ``totalseg_vertebrae``; sacrum and cord from the full segmentation."""
    folder = shared_data / "totalsegmentator_v2.18.0"
    grid, vertebra_labels = _read_labels(folder / "spine_report" / "totalseg_vertebrae.nii.gz")
    full_grid, full_labels = _read_labels(folder / "example_seg_fast_force_split.nii.gz")
    assert full_grid == grid
    vertebrae = {
        level: Mask.from_array(grid, vertebra_labels == label)
        for level, label in TOTALSEG_IDS.items()
    }
    return RealSpine(
        grid,
        vertebrae,
        Mask.from_array(grid, full_labels == SACRUM_ID),
        Mask.from_array(grid, full_labels == CORD_ID),
    )
