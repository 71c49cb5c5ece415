"""In-plane refinement and nearest-centre resampling between grids."""

from __future__ import annotations

import numpy as np
import pytest

from spinetv import GeometryMismatchError, ImageGrid, Mask
from spinetv.geometry.resample import refine_in_plane, resample_nearest

DIRECTIONS = {
    "HFS": np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float),
    "FFS": np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float),
    "HFP": np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=float),
}


def _grid(orientation: str) -> ImageGrid:
    return ImageGrid(
        (8, 14, 16), (2.5, 3.0, 2.0), (10.0, -5.0, 3.0), DIRECTIONS[orientation], "1.2.3"
    )


def _blob(grid: ImageGrid) -> Mask:
    rng = np.random.default_rng(4)
    array = np.zeros(grid.shape, dtype=bool)
    array[2:6, 3:11, 4:12] = rng.random((4, 8, 8)) > 0.3
    return Mask.from_array(grid, array)


@pytest.mark.parametrize("orientation", list(DIRECTIONS))
@pytest.mark.parametrize("factor", [1, 2, 3])
def test_refinement_tiles_each_pixel(orientation: str, factor: int) -> None:
    grid = _grid(orientation)
    mask = _blob(grid)
    fine = refine_in_plane(mask, factor)
    assert fine.grid.shape == (8, 14 * factor, 16 * factor)
    assert fine.grid.shares_slices_with(grid)
    assert fine.volume_cc == pytest.approx(mask.volume_cc)
    np.testing.assert_allclose(fine.centroid_lps(), mask.centroid_lps(), atol=1e-9)
    # Each sub-pixel centre lies inside its parent pixel's square.
    parent = np.rint(grid.lps_to_index(fine.points_lps())).astype(int)
    assert mask.to_array()[tuple(parent.T)].all()
    np.testing.assert_array_equal(resample_nearest(fine, grid).to_array(), mask.to_array())


def test_a_shifted_slice_grid_does_not_share_slices() -> None:
    grid = _grid("HFS")
    moved = ImageGrid(grid.shape, grid.spacing_mm, (10.0, -5.0, 4.0), grid.direction, "1.2.3")
    assert not moved.shares_slices_with(grid)
    assert grid.refined_in_plane(2).shares_slices_with(grid)


def test_resampling_across_orientations_keeps_patient_space() -> None:
    hfs = _grid("HFS")
    mask = _blob(hfs)
    ffs = ImageGrid(
        hfs.shape,
        hfs.spacing_mm,
        tuple(hfs.index_to_lps([7, 0, 15])),
        np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float),
        "1.2.3",
    )
    other = resample_nearest(mask, ffs)
    assert other.voxel_count == mask.voxel_count
    np.testing.assert_allclose(other.centroid_lps(), mask.centroid_lps(), atol=1e-9)


def test_resampling_refuses_another_frame_of_reference() -> None:
    grid = _grid("HFS")
    other = ImageGrid(grid.shape, grid.spacing_mm, grid.origin_lps_mm, grid.direction, "9.9")
    with pytest.raises(GeometryMismatchError, match="frames of reference"):
        resample_nearest(_blob(grid), other)
