"""Planning volumes: PTV, PTV_Eval, PRV and the cord evaluation volume against direct answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinetv import ImageGrid, Mask
from spinetv.geometry.booleans import overlap_cc
from spinetv.geometry.margins import Margin
from spinetv.planning.volumes import (
    cord_evaluation_volume,
    make_prv,
    make_ptv,
    make_ptv_eval,
    si_extent_mm,
)

GRID = ImageGrid((40, 40, 40), (2.0, 1.0, 1.0), (-20.0, -20.0, -40.0), frame_of_reference_uid="1.2")
FFS_GRID = ImageGrid(
    (40, 40, 40),
    (2.0, 1.0, 1.0),
    (20.0, -20.0, 38.0),
    np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float),
    "1.2",
)


def _box(
    grid: ImageGrid, low_lps: tuple[float, float, float], high_lps: tuple[float, float, float]
) -> Mask:
    ijk = np.indices(grid.shape).reshape(3, -1).T
    points = grid.index_to_lps(ijk)
    inside = np.all((points >= low_lps) & (points <= high_lps), axis=1)
    return Mask.from_array(grid, inside.reshape(grid.shape))


@pytest.mark.parametrize("grid", [GRID, FFS_GRID], ids=["HFS", "FFS"])
def test_ptv_grows_by_the_margin_in_each_patient_direction(grid: ImageGrid) -> None:
    ctv = _box(grid, (-5, -5, -6), (5, 5, 6))
    ptv = make_ptv(ctv, Margin.axial_si(2.0, 5.0)).mask
    points = ptv.points_lps()
    np.testing.assert_allclose(points.min(axis=0), [-7, -7, -10], atol=1e-6)
    np.testing.assert_allclose(points.max(axis=0), [7, 7, 10], atol=1e-6)


def test_ptv_trimmed_at_the_cord_leaves_no_cord_voxel() -> None:
    ctv = _box(GRID, (-5, -5, -6), (5, 5, 6))
    cord = _box(GRID, (-2, 5, -30), (2, 9, 30))
    result = make_ptv(ctv, Margin.isotropic(3.0), subtract_masks=[("SpinalCord", cord)])
    assert overlap_cc(result.mask, cord) == 0
    assert result.steps[-1] == "minus SpinalCord"


canal_boxes = st.tuples(
    st.floats(-15, 0),
    st.floats(-15, 0),
    st.floats(-30, 0),
    st.floats(1, 15),
    st.floats(1, 15),
    st.floats(1, 30),
)


@settings(max_examples=25, deadline=None)
@given(canal_boxes)
def test_ptv_eval_never_touches_the_canal(box: tuple[float, ...]) -> None:
    canal = _box(GRID, box[:3], box[3:])
    ptv = _box(GRID, (-10, -10, -20), (10, 10, 20))
    evaluation = make_ptv_eval(ptv, [("SpinalCanal", canal)]).mask
    assert overlap_cc(evaluation, canal) == 0
    assert evaluation.voxel_count + overlap_cc(ptv, canal) / GRID.voxel_volume_cc == pytest.approx(
        ptv.voxel_count
    )


def test_prv_is_the_organ_plus_an_isotropic_margin() -> None:
    cord = _box(GRID, (-2, -2, -30), (2, 2, 30))
    prv = make_prv(cord, 2.0, organ_name="SpinalCord").mask
    points = prv.points_lps()
    np.testing.assert_allclose(points[:, :2].min(axis=0), [-4, -4], atol=1e-6)
    assert prv.voxel_count > cord.voxel_count


def test_cord_evaluation_volume_spans_six_mm_beyond_the_target() -> None:
    cord = _box(GRID, (-2, -2, -40), (2, 2, 40))
    target = _box(GRID, (-8, -8, -10), (8, 8, 10))
    result = cord_evaluation_volume(cord, target, above_mm=6.0, below_mm=6.0)
    low, high = si_extent_mm(result.mask)
    assert (low, high) == pytest.approx((-16.0, 16.0))
    assert si_extent_mm(target) == pytest.approx((-10.0, 10.0))


def test_cord_evaluation_volume_of_a_cord_elsewhere_is_empty() -> None:
    cord = _box(GRID, (-2, -2, 30), (2, 2, 38))
    target = _box(GRID, (-8, -8, -20), (8, 8, -10))
    assert cord_evaluation_volume(cord, target, above_mm=6, below_mm=6).mask.is_empty
