"""Mask booleans and overlap measures: set identities, empty masks, grids, box-only work."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from spinetv import GeometryError, GeometryMismatchError, ImageGrid, Mask
from spinetv.geometry import (
    BoundingBox,
    contains,
    dice,
    intersection,
    overlap_cc,
    subtract,
    union,
    xor,
)

GRID = ImageGrid((7, 9, 8), (2.0, 0.5, 1.0), (0.0, 0.0, 0.0))


def _random(seed: int, fill: float) -> Mask:
    rng = np.random.default_rng(seed)
    array = np.zeros(GRID.shape, dtype=bool)
    # A random sub-box, so boxes overlap partly, fully or not at all.
    start = rng.integers(0, GRID.shape)
    stop = [int(rng.integers(a + 1, n + 1)) for a, n in zip(start, GRID.shape)]
    box = tuple(slice(int(a), b) for a, b in zip(start, stop))
    array[box] = rng.random(array[box].shape) < fill
    return Mask.from_array(GRID, array)


masks = st.builds(_random, st.integers(0, 100_000), st.sampled_from([0.0, 0.2, 0.6, 1.0]))


def _full(mask: Mask) -> NDArray[np.bool_]:
    return mask.to_array()


@settings(max_examples=80, deadline=None)
@given(a=masks, b=masks, c=masks)
def test_set_operations_match_numpy(a: Mask, b: Mask, c: Mask) -> None:
    A, B, C = _full(a), _full(b), _full(c)
    np.testing.assert_array_equal(_full(union(a, b, c)), A | B | C)
    np.testing.assert_array_equal(_full(intersection(a, b, c)), A & B & C)
    np.testing.assert_array_equal(_full(subtract(a, b, c)), A & ~B & ~C)
    np.testing.assert_array_equal(_full(xor(a, b)), A ^ B)
    # Identities.
    np.testing.assert_array_equal(_full(union(a, b)), _full(union(b, a)))
    np.testing.assert_array_equal(
        _full(intersection(a, union(b, c))), _full(union(intersection(a, b), intersection(a, c)))
    )
    np.testing.assert_array_equal(
        _full(union(subtract(a, b), intersection(a, b))), A
    )  # a = (a - b) | (a & b)
    np.testing.assert_array_equal(
        _full(xor(a, b)), _full(subtract(union(a, b), intersection(a, b)))
    )
    assert contains(union(a, b), a) and contains(a, intersection(a, b))
    assert contains(a, b) == (not (B & ~A).any())
    # Measures.
    inter = int((A & B).sum())
    assert overlap_cc(a, b) == pytest.approx(inter * GRID.voxel_volume_cc)
    expected_dice = 1.0 if A.sum() + B.sum() == 0 else 2 * inter / (A.sum() + B.sum())
    assert dice(a, b) == pytest.approx(expected_dice)
    assert dice(a, a) == 1.0
    # Results are stored on their tightest box.
    for result in (union(a, b), intersection(a, b), subtract(a, b), xor(a, b)):
        if not result.is_empty:
            assert result.box_array[0].any() and result.box_array[-1].any()


def test_empty_masks_are_values() -> None:
    empty = Mask.empty(GRID)
    some = Mask.from_box(GRID, BoundingBox((1, 2, 3), (3, 5, 6)), np.ones((2, 3, 3), dtype=bool))
    assert union(empty, empty).is_empty
    assert union(empty, some).voxel_count == some.voxel_count
    assert intersection(some, empty).is_empty
    assert subtract(some, empty).voxel_count == some.voxel_count
    assert subtract(empty, some).is_empty
    assert xor(empty, some).voxel_count == some.voxel_count
    assert dice(empty, empty) == 1.0
    assert dice(empty, some) == 0.0
    assert overlap_cc(empty, some) == 0.0
    assert contains(some, empty) and contains(empty, empty)
    assert not contains(empty, some)


def test_subtract_of_nothing_returns_a() -> None:
    some = _random(4, 0.5)
    assert not some.is_empty
    np.testing.assert_array_equal(subtract(some).to_array(), some.to_array())


def test_different_grids_are_refused_naming_both() -> None:
    other = ImageGrid((7, 9, 8), (2.0, 0.5, 1.0), (5.0, 0.0, 0.0))
    a = _random(1, 0.5)
    assert not a.is_empty
    b = Mask.from_array(other, a.to_array())
    for operation in (union, intersection, subtract, xor, dice, overlap_cc, contains):
        with pytest.raises(GeometryMismatchError, match=r"origin \(0\.00.*origin \(5\.00"):
            operation(a, b)


def test_no_masks_or_non_masks_are_refused() -> None:
    with pytest.raises(GeometryError, match="at least one"):
        union()
    with pytest.raises(GeometryError, match="must be a Mask"):
        intersection(_random(1, 0.5), np.ones(GRID.shape))  # type: ignore[arg-type]


def test_booleans_work_on_boxes_not_the_full_grid() -> None:
    big = ImageGrid((200, 512, 512), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))  # 52 MB as a full array
    cube = np.ones((20, 20, 20), dtype=bool)
    a = Mask.from_box(big, BoundingBox((10, 10, 10), (30, 30, 30)), cube)
    b = Mask.from_box(big, BoundingBox((20, 20, 20), (40, 40, 40)), cube)
    far = Mask.from_box(big, BoundingBox((150, 400, 400), (170, 420, 420)), cube)
    tracemalloc.start()
    try:
        results = (union(a, b), intersection(a, b), subtract(a, b), xor(a, b))
        measures = (dice(a, b), overlap_cc(a, b), contains(a, b))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2e6  # a full-grid array alone would be 52 MB
    assert results[1].voxel_count == 1000 and measures[0] == pytest.approx(2 * 1000 / 16000)
    assert union(a, far).voxel_count == 16000 and intersection(a, far).is_empty
