"""Contours <-> slice masks: exact round trips, even-odd fill, shared edges, sub-voxel vertices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from matplotlib.path import Path as MplPath
from scipy import ndimage

from spinetv.errors import GeometryError
from spinetv.geometry.contours import (
    mask_to_polygons,
    rasterize_polygons,
    rasterize_polygons_in_box,
)


def _disk(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    rows, cols = np.indices(shape)
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def _catalogue() -> dict[str, np.ndarray]:
    """Edge-case slices reused across tests."""
    shapes: dict[str, np.ndarray] = {}
    single = np.zeros((5, 5), bool)
    single[2, 2] = True
    shapes["single_pixel"] = single
    shapes["full_slice"] = np.ones((4, 6), bool)
    annulus = _disk((40, 40), (20, 20), 15) & ~_disk((40, 40), (20, 20), 7)
    shapes["annulus"] = annulus
    island = annulus | _disk((40, 40), (20, 20), 3)
    shapes["island_in_hole"] = island
    checker = (np.indices((8, 8)).sum(axis=0) % 2).astype(bool)
    shapes["checkerboard"] = checker
    diagonal = np.eye(7, dtype=bool)
    shapes["diagonal_line"] = diagonal
    saddle = np.zeros((4, 4), bool)
    saddle[1, 1] = saddle[2, 2] = True
    shapes["saddle"] = saddle
    hollow_square = np.zeros((9, 9), bool)
    hollow_square[1:8, 1:8] = True
    hollow_square[2:7, 2:7] = False
    hollow_square[4, 4] = True
    shapes["ring_with_dot"] = hollow_square
    shapes["edge_touching"] = _disk((30, 30), (0, 29), 12)
    shapes["empty"] = np.zeros((6, 6), bool)
    return shapes


@pytest.mark.parametrize("name", sorted(_catalogue()))
def test_round_trip_is_exact_on_the_catalogue(name: str) -> None:
    mask = _catalogue()[name]
    polygons = mask_to_polygons(mask)
    np.testing.assert_array_equal(rasterize_polygons(polygons, mask.shape), mask)


def test_holes_are_separate_polygons() -> None:
    shapes = _catalogue()
    assert len(mask_to_polygons(shapes["annulus"])) == 2
    assert len(mask_to_polygons(shapes["island_in_hole"])) == 3
    assert mask_to_polygons(shapes["empty"]) == []


def test_vertices_are_sub_voxel_not_staircase_corners() -> None:
    mask = _disk((60, 60), (30.3, 29.7), 20.4)
    (polygon,) = mask_to_polygons(mask)
    # Marching squares at 0.5 puts every vertex half-way between an inside and an outside
    # pixel centre: one coordinate whole, the other a half. Staircase corners would be (x.5, x.5).
    fractions = np.sort(np.mod(polygon, 1.0), axis=1)
    np.testing.assert_allclose(fractions, np.tile([0.0, 0.5], (len(polygon), 1)))
    # Collinear vertices are dropped: a straight run keeps only its ends.
    following = np.roll(polygon, -1, axis=0)
    previous = np.roll(polygon, 1, axis=0)
    incoming, outgoing = polygon - previous, following - polygon
    cross = incoming[:, 0] * outgoing[:, 1] - incoming[:, 1] * outgoing[:, 0]
    assert np.all(np.abs(cross) > 1e-9)


def test_straight_edges_collapse_to_few_vertices() -> None:
    mask = np.zeros((20, 30), bool)
    mask[3:15, 4:25] = True
    (polygon,) = mask_to_polygons(mask)
    assert len(polygon) == 8  # a rectangle with its corners cut (level-0.5 contour)


def test_mask_to_polygons_does_not_modify_input_and_is_deterministic() -> None:
    mask = _catalogue()["island_in_hole"]
    before = mask.copy()
    first = mask_to_polygons(mask)
    second = mask_to_polygons(mask)
    np.testing.assert_array_equal(mask, before)
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_two_polygons_sharing_an_edge_do_not_double_count() -> None:
    # The shared edge col = 5 runs through pixel centres: exactly one square claims them.
    left = np.array([[0.0, 0.0], [0.0, 5.0], [8.0, 5.0], [8.0, 0.0]])
    right = np.array([[0.0, 5.0], [0.0, 9.0], [8.0, 9.0], [8.0, 5.0]])
    shape = (10, 12)
    a = rasterize_polygons([left], shape)
    b = rasterize_polygons([right], shape)
    both = rasterize_polygons([np.array([[0.0, 0.0], [0.0, 9.0], [8.0, 9.0], [8.0, 0.0]])], shape)
    assert not np.any(a & b)
    np.testing.assert_array_equal(a | b, both)
    assert a[:, 5].sum() == 0 and b[:, 5].sum() == 8


def test_even_odd_combination_of_nested_polygons() -> None:
    square = lambda lo, hi: np.array([[lo, lo], [lo, hi], [hi, hi], [hi, lo]], float)  # noqa: E731
    filled = rasterize_polygons([square(0.5, 19.5), square(4.5, 15.5), square(8.5, 11.5)], (20, 20))
    assert filled[2, 2] and not filled[6, 6] and filled[10, 10]
    # pixel centres 1..19, 5..15 and 9..11 on each axis
    assert filled.sum() == 19 * 19 - 11 * 11 + 3 * 3


def test_polygons_outside_the_slice_are_clipped() -> None:
    polygon = np.array([[-10.0, -10.0], [-10.0, 4.5], [4.5, 4.5], [4.5, -10.0]])
    filled = rasterize_polygons([polygon], (8, 8))
    assert filled.sum() == 25 and filled[:5, :5].all()
    start, box = rasterize_polygons_in_box([polygon + 100.0], (8, 8))
    assert box.size == 0


def test_bad_polygon_is_refused() -> None:
    with pytest.raises(GeometryError, match="row, column"):
        rasterize_polygons([np.zeros((4, 3))], (5, 5))


def _reference_fill(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    points = np.indices(shape).reshape(2, -1).T.astype(float)
    inside = np.zeros(len(points), bool)
    for polygon in polygons:
        path = MplPath(np.vstack([polygon, polygon[:1]]), closed=True)
        inside ^= path.contains_points(points)
    return inside.reshape(shape)


def test_rasterize_matches_matplotlib_on_random_polygons() -> None:
    rng = np.random.default_rng(20240601)
    shape = (48, 56)
    for _ in range(200):
        count = int(rng.integers(1, 4))
        polygons = [rng.uniform(-6, 60, size=(int(rng.integers(3, 15)), 2)) for _ in range(count)]
        np.testing.assert_array_equal(
            rasterize_polygons(polygons, shape), _reference_fill(polygons, shape)
        )


@settings(max_examples=60, deadline=None)
@given(
    arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24))),
    st.integers(0, 2),
)
def test_round_trip_is_exact_on_random_masks(noise: np.ndarray, smoothing: int) -> None:
    mask = ndimage.binary_opening(noise, iterations=smoothing) if smoothing else noise
    polygons = mask_to_polygons(mask)
    np.testing.assert_array_equal(rasterize_polygons(polygons, mask.shape), mask)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_round_trip_is_exact_on_random_blobs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=(40, 40)), sigma=float(rng.uniform(1, 4)))
    mask = field > rng.uniform(-0.1, 0.1)
    polygons = mask_to_polygons(mask)
    np.testing.assert_array_equal(rasterize_polygons(polygons, mask.shape), mask)
