"""Mask and LabelMap: bounding-box storage, immutability, measures."""

from __future__ import annotations

import numpy as np
import pytest

from spinetv import GeometryError, ImageGrid, Mask
from spinetv.geometry import BoundingBox, LabelMap


@pytest.fixture
def grid() -> ImageGrid:
    return ImageGrid((12, 20, 16), (2.0, 0.5, 1.0), (0.0, 0.0, 0.0))


def test_from_array_trims_to_box_and_restores(grid: ImageGrid) -> None:
    full = np.zeros(grid.shape, dtype=bool)
    full[3:5, 4:9, 2:3] = True
    full[7, 10, 12] = True
    mask = Mask.from_array(grid, full)
    assert mask.box == BoundingBox((3, 4, 2), (8, 11, 13))
    np.testing.assert_array_equal(mask.to_array(), full)
    assert mask.voxel_count == 11
    assert mask.volume_cc == pytest.approx(11 * 2.0 * 0.5 * 1.0 / 1000)


def test_mask_does_not_keep_or_change_the_callers_array(grid: ImageGrid) -> None:
    full = np.zeros(grid.shape, dtype=bool)
    full[1, 1, 1] = True
    mask = Mask.from_array(grid, full)
    full[1, 1, 1] = False
    assert mask.voxel_count == 1
    with pytest.raises(ValueError):
        mask.box_array[0, 0, 0] = False


def test_empty_mask_is_a_value(grid: ImageGrid) -> None:
    empty = Mask.from_array(grid, np.zeros(grid.shape))
    assert empty.is_empty
    assert empty.volume_cc == 0
    assert empty.to_array().shape == grid.shape
    with pytest.raises(GeometryError, match="empty"):
        empty.centroid_lps()


def test_from_box_and_in_box(grid: ImageGrid) -> None:
    box = BoundingBox((2, 2, 2), (6, 6, 6))
    sub = np.zeros(box.shape, dtype=bool)
    sub[1:3, 1:3, 1:3] = True
    mask = Mask.from_box(grid, box, sub)
    assert mask.box == BoundingBox((3, 3, 3), (5, 5, 5))
    window = mask.in_box(BoundingBox((4, 0, 0), (12, 20, 16)))
    assert window.sum() == 4
    assert window[0, 3:5, 3:5].all()


def test_centroid_uses_grid_geometry(grid: ImageGrid) -> None:
    full = np.zeros(grid.shape, dtype=bool)
    full[2, 4, 6] = True
    np.testing.assert_allclose(Mask.from_array(grid, full).centroid_lps(), [6.0, 2.0, 4.0])


def test_wrong_shapes_are_refused(grid: ImageGrid) -> None:
    with pytest.raises(GeometryError, match="does not match"):
        Mask.from_array(grid, np.zeros((2, 2, 2)))
    with pytest.raises(GeometryError, match="outside"):
        Mask(grid, BoundingBox((10, 0, 0), (14, 1, 1)), np.ones((4, 1, 1), bool))


def test_label_map_masks_and_volumes(grid: ImageGrid) -> None:
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[1:3, 1:3, 1:3] = 1
    labels[5, 5, 5] = 4
    label_map = LabelMap.from_array(grid, labels)
    assert label_map.labels == (1, 4)
    assert label_map.mask_of(1).voxel_count == 8
    assert label_map.mask_of(1, 4).voxel_count == 9
    assert label_map.volumes_cc()[4] == pytest.approx(grid.voxel_volume_cc)
    np.testing.assert_array_equal(label_map.to_array(), labels)
