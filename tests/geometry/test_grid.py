"""ImageGrid: index <-> LPS conversion for every orientation, validation, cropping."""

from __future__ import annotations

import numpy as np
import pytest

from spinetv import GeometryError, GeometryMismatchError, ImageGrid
from spinetv.geometry import BoundingBox

# Columns are the LPS directions of the array axes (slice, row, column).
HFS = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)
FFS = np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float)
HFP = np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=float)


def test_hfs_index_to_lps_follows_spacing_and_axes() -> None:
    grid = ImageGrid((10, 20, 30), (2.5, 0.8, 0.7), (-10.0, -20.0, 100.0), HFS)
    point = grid.index_to_lps([2, 3, 4])
    np.testing.assert_allclose(point, [-10 + 4 * 0.7, -20 + 3 * 0.8, 100 + 2 * 2.5])


@pytest.mark.parametrize("direction", [HFS, FFS, HFP])
def test_round_trip_index_lps(direction: np.ndarray) -> None:
    grid = ImageGrid((7, 9, 11), (3.0, 0.9, 1.1), (5.0, -7.0, 12.0), direction)
    ijk = np.random.default_rng(0).uniform(0, 6, size=(50, 3))
    np.testing.assert_allclose(grid.lps_to_index(grid.index_to_lps(ijk)), ijk, atol=1e-9)


def test_feet_first_slices_run_inferior() -> None:
    grid = ImageGrid((5, 5, 5), (2, 1, 1), (0, 0, 0), FFS)
    z0 = grid.index_to_lps([0, 0, 0])[2]
    z1 = grid.index_to_lps([1, 0, 0])[2]
    assert z1 < z0
    assert grid.axis_of(2) == (0, -1.0)
    assert grid.axis_of(0) == (2, -1.0)


def test_affine_matches_index_to_lps() -> None:
    grid = ImageGrid((4, 5, 6), (2, 1, 0.5), (1, 2, 3), HFP)
    ijk = np.array([1.5, 2.0, 3.25])
    np.testing.assert_allclose((grid.affine @ np.append(ijk, 1))[:3], grid.index_to_lps(ijk))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": (0, 2, 2)}, "shape"),
        ({"spacing_mm": (1, 0, 1)}, "spacing"),
        ({"spacing_mm": (1, float("nan"), 1)}, "spacing"),
        ({"direction": np.ones((3, 3))}, "orthonormal"),
    ],
)
def test_invalid_grids_are_refused(kwargs: dict, message: str) -> None:
    args = {"shape": (2, 2, 2), "spacing_mm": (1, 1, 1), "origin_lps_mm": (0, 0, 0)} | kwargs
    with pytest.raises(GeometryError, match=message):
        ImageGrid(**args)


def test_grid_matching_and_mismatch_error() -> None:
    a = ImageGrid((4, 4, 4), (1, 1, 1), (0, 0, 0), frame_of_reference_uid="1.2.3")
    b = ImageGrid((4, 4, 4), (1, 1, 1), (0, 0, 0.0000001), frame_of_reference_uid="1.2.3")
    c = ImageGrid((4, 4, 4), (1, 1, 1), (0, 0, 1.0), frame_of_reference_uid="1.2.3")
    d = ImageGrid((4, 4, 4), (1, 1, 1), (0, 0, 0), frame_of_reference_uid="9.9")
    assert a == b
    assert a != c
    assert a != d
    with pytest.raises(GeometryMismatchError, match="different grids"):
        a.require_same(c)


def test_crop_moves_origin_along_direction() -> None:
    grid = ImageGrid((10, 10, 10), (2, 1, 1), (0, 0, 0), FFS, "1.2")
    box = BoundingBox((2, 3, 4), (5, 6, 7))
    sub = grid.crop(box)
    assert sub.shape == (3, 3, 3)
    np.testing.assert_allclose(sub.index_to_lps([0, 0, 0]), grid.index_to_lps([2, 3, 4]))
    np.testing.assert_allclose(sub.index_to_lps([1, 1, 1]), grid.index_to_lps([3, 4, 5]))
    assert sub.frame_of_reference_uid == "1.2"


def test_bounding_box_operations() -> None:
    a = BoundingBox((0, 0, 0), (4, 4, 4))
    b = BoundingBox((2, 3, 1), (6, 5, 2))
    assert a.union(b) == BoundingBox((0, 0, 0), (6, 5, 4))
    assert a.intersection(b) == BoundingBox((2, 3, 1), (4, 4, 2))
    assert (
        BoundingBox((0, 0, 0), (1, 1, 1)).intersection(BoundingBox((5, 5, 5), (6, 6, 6))).is_empty
    )
    assert a.padded((1, 1, 1), (5, 5, 5)) == BoundingBox((0, 0, 0), (5, 5, 5))
    with pytest.raises(GeometryError):
        BoundingBox((3, 0, 0), (2, 1, 1))
