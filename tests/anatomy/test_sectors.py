"""Sectors on analytic vertebrae: partition, laterality, open rings, C2 and sacral rules."""

from __future__ import annotations

import numpy as np
import pytest
from _anatomy_synthetic import dice, make_column
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from spinetv.anatomy.canal import CanalOptions, derive_canal
from spinetv.anatomy.sectors import (
    TIE_MM,
    CanalWalls,
    SectorOptions,
    assign_sectors,
    body_lr_bounds,
    label_sectors,
    label_spine,
)
from spinetv.errors import AnatomyError, GeometryMismatchError
from spinetv.geometry import ImageGrid, Mask

ONE_SLAB = np.array([-np.inf, np.inf])


def _walls(a: float, p: float, uc: float, w: float) -> CanalWalls:
    return CanalWalls(ONE_SLAB, np.array([a]), np.array([p]), np.array([uc]), np.array([w]))


@given(
    points=st.lists(
        st.tuples(*(st.floats(-60, 60, allow_nan=False) for _ in range(3))), min_size=1, max_size=60
    ),
    a=st.floats(-12, -2),
    depth=st.floats(4, 20),
    uc=st.floats(-3, 3),
    w=st.floats(3, 15),
    sacral=st.booleans(),
)
def test_assign_sectors_is_a_mirror_symmetric_partition(
    points: list[tuple[float, float, float]], a: float, depth: float, uc: float, w: float,
    sacral: bool,
) -> None:
    local = np.asarray(points)
    walls = _walls(a, a + depth, uc, w)
    labels = assign_sectors(local, walls, sacral=sacral, sacral_body_half_width_ratio=1.6)
    assert labels.shape == (len(points),)
    assert set(np.unique(labels)) <= {1, 2, 3, 4, 5, 6}
    v = local[:, 1]
    u = local[:, 0] - uc
    if not sacral:
        assert np.all((labels == 1) == (v < a - TIE_MM))
    assert np.all(labels[(v >= a) & (v < a + depth / 2 - TIE_MM) & (u > 0)] == 2)
    assert np.all(labels[(v > a + depth) & (np.abs(u) <= w)] == 4)
    mirrored = local.copy()
    mirrored[:, 0] = 2 * uc - local[:, 0]
    swapped = assign_sectors(mirrored, walls, sacral=sacral, sacral_body_half_width_ratio=1.6)
    off_midline = u != 0
    swap = np.array([0, 1, 6, 5, 4, 3, 2], dtype=np.uint8)
    assert np.array_equal(swap[labels[off_midline]], swapped[off_midline])


def test_bone_in_front_of_the_canal_but_beside_the_body_is_not_body() -> None:
    # A body 40 mm wide and 30 mm deep in front of a = -8, and an L5-like transverse process
    # running anterolaterally from the pedicle to 6 mm in front of a, 35 mm from the midline.
    walls = _walls(-8.0, 8.0, 0.0, 11.0)
    grid_u, grid_v = np.meshgrid(np.arange(-20.0, 20.5), np.arange(-38.0, -8.0), indexing="ij")
    body = np.column_stack([grid_u.ravel(), grid_v.ravel(), np.zeros(grid_u.size)])
    wing = np.array([[side * u, -8.0 - 6.0 * (u - 12.0) / 23.0, 0.0]
                     for side in (1.0, -1.0) for u in np.arange(12.0, 35.5)])
    bone = np.concatenate([body, wing])
    bounds = body_lr_bounds(bone, walls, 0.5)
    assert bounds == (-20.5, 20.5)
    labels = assign_sectors(bone, walls, body_lr_bounds_mm=bounds)
    assert np.all(labels[: len(body)] == 1)
    beside = np.abs(bone[:, 0]) > 20.5
    assert beside.sum() == 30
    assert np.all(labels[beside & (bone[:, 0] > 0)] == 2)
    assert np.all(labels[beside & (bone[:, 0] < 0)] == 6)
    # Without the limit (the reference rule) the wings are body.
    assert np.all(assign_sectors(bone, walls)[beside] == 1)
    assert body_lr_bounds(bone[bone[:, 1] > -8.0], walls) is None


def test_a_voxel_row_on_the_canal_centre_goes_posterior() -> None:
    walls = _walls(-8.5, 8.5, 0.0, 11.0)
    row = np.array([[15.0, 0.0, 0.0], [-15.0, 0.0, 0.0], [15.0, -1.0, 0.0], [5.0, -8.5, 0.0]])
    assert assign_sectors(row, walls).tolist() == [3, 5, 2, 2]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    orientation=st.sampled_from(["HFS", "FFS", "HFP"]),
    tilt=st.floats(-30, 30),
    rotation=st.floats(-15, 15),
)
def test_sectors_partition_the_vertebra_and_sit_anatomically(
    orientation: str, tilt: float, rotation: float
) -> None:
    column = make_column(
        spacing_mm=(2.0, 1.5, 1.5), orientation=orientation, tilt_deg=tilt, rotation_deg=rotation
    )
    result = label_spine(column.vertebrae)
    for level, sectors in result.items():
        vertebra = column.vertebrae[level]
        labels = sectors.labels.to_array()
        assert np.array_equal(labels > 0, vertebra.to_array())
        assert set(sectors.labels.labels) == {1, 2, 3, 4, 5, 6}
        assert sum(sectors.volumes_cc.values()) == pytest.approx(vertebra.volume_cc)
        centre = {k: sectors.sector(k).centroid_lps() for k in range(1, 7)}
        local = {k: sectors.frame.to_local(c) for k, c in centre.items()}
        assert local[1][1] < local[2][1] < local[3][1] < local[4][1]  # body ... spinous, AP
        assert local[2][0] > 0 > local[6][0] and local[3][0] > 0 > local[5][0]
        assert centre[2][0] > centre[6][0] and centre[3][0] > centre[5][0]  # patient left = +x
        assert centre[1][1] < centre[4][1]  # body anterior (-y) to the spinous process
        for k in range(1, 7):
            assert dice(sectors.sector(k), column.parts[level][k]) > 0.5


def test_open_ring_closes_only_over_the_height() -> None:
    column = make_column(spacing_mm=(1.5, 1.0, 1.0))
    vertebra = column.vertebrae["L3"]
    per_slice = np.stack([ndimage.binary_fill_holes(s) & ~s for s in vertebra.box_array])
    assert not per_slice.any()  # slice-wise hole filling finds no canal at all
    result = derive_canal(column.vertebrae)
    assert result.per_level == {level: "ring closure" for level in ("L2", "L3", "L4")}
    assert result.bridged_gap_mm["L3"] == 0.0
    assert dice(result.mask, column.canal) > 0.85
    assert result.centreline_lps.shape == (3, 3)
    assert np.all(np.diff(result.centreline_lps[:, 2]) < 0)  # top to bottom
    with_cord = derive_canal(column.vertebrae, cord=column.cord)
    assert with_cord.method == "cord-seeded ring closure"


def test_gap_in_the_ring_is_bridged_or_estimated() -> None:
    column = make_column(spacing_mm=(1.5, 1.0, 1.0))
    cut = {}
    for level, mask in column.vertebrae.items():
        local = np.argwhere(mask.box_array) + np.asarray(mask.box.start)
        lps = mask.grid.index_to_lps(local)
        keep = ~((np.abs(lps[:, 0]) < 2.0) & (lps[:, 1] > 5.0))
        array = np.zeros(mask.grid.shape, dtype=bool)
        array[tuple(local[keep].T)] = True
        cut[level] = Mask.from_array(mask.grid, array)
    result = derive_canal(cut)
    assert result.bridged_gap_mm["L3"] > 0
    assert dice(result.mask, column.canal) > 0.7
    strict = derive_canal(cut, options=CanalOptions(max_gap_mm=0.0))
    assert strict.per_level["L3"] == "estimated from arch"


def test_contoured_canal_is_used_as_is() -> None:
    column = make_column(spacing_mm=(1.5, 1.0, 1.0))
    result = label_sectors(column.vertebrae["L3"], canal=column.canal, level="L3")
    assert result.canal_method == "given"
    assert result.canal is column.canal
    assert min(dice(result.sector(k), column.parts["L3"][k]) for k in range(1, 7)) > 0.97
    contoured = derive_canal(column.vertebrae, contoured=column.canal)
    assert contoured.method == "contoured" and contoured.mask is column.canal


def test_inputs_are_not_modified_and_errors_are_specific() -> None:
    column = make_column(spacing_mm=(2.0, 1.5, 1.5))
    vertebra = column.vertebrae["L3"]
    before = vertebra.box_array.copy()
    label_sectors(vertebra, level="L3", neighbours=column.vertebrae)
    assert np.array_equal(before, vertebra.box_array)
    with pytest.raises(AnatomyError, match="empty"):
        label_sectors(Mask.empty(vertebra.grid), level="L3")
    other = ImageGrid((5, 5, 5), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(GeometryMismatchError):
        label_sectors(vertebra, canal=Mask.empty(other), level="L3")
    far = np.zeros(vertebra.grid.shape, dtype=bool)
    far[:2, :2, :2] = True
    with pytest.raises(AnatomyError, match="canal"):
        label_sectors(vertebra, canal=Mask.from_array(vertebra.grid, far), level="L3")
    with pytest.raises(AnatomyError, match="slab_mm"):
        SectorOptions(slab_mm=-1.0)


def test_sacral_levels_split_body_and_ala() -> None:
    column = make_column(spacing_mm=(2.0, 1.5, 1.5))
    lumbar = label_sectors(column.vertebrae["L3"], canal=column.canal, level="L3")
    sacral = label_sectors(column.vertebrae["L3"], canal=column.canal, level="S2")
    assert lumbar.scheme == "vertebra" and sacral.scheme == "sacral"
    assert sacral.names[2] == "left ala"
    # Body bone beyond 1.6 canal half-widths becomes ala, nothing else changes.
    moved = (lumbar.labels.to_array() == 1) & (sacral.labels.to_array() != 1)
    assert moved.any()
    assert set(np.unique(sacral.labels.to_array()[moved])) <= {2, 6}
    assert sacral.volumes_cc[1] < lumbar.volumes_cc[1]
    assert sacral.options.as_dict()["sacral_body_half_width_ratio"] == 1.6


def test_c2_dens_goes_to_the_body() -> None:
    column = make_column(spacing_mm=(1.5, 1.0, 1.0))
    vertebra = column.vertebrae["L3"]
    grid = vertebra.grid
    lps = grid.index_to_lps(np.indices(grid.shape).reshape(3, -1).T)
    # A dens rising from the body, its back reaching 2 mm behind the canal's anterior wall.
    dens = (lps[:, 0] ** 2 + (lps[:, 1] + 9.0) ** 2 <= 16.0) & (lps[:, 2] > 12.0)
    dens &= lps[:, 2] < 24.0
    dens_mask = dens.reshape(grid.shape) & ~column.canal.to_array()
    c2 = Mask.from_array(grid, vertebra.to_array() | dens_mask)
    with_rule = label_sectors(c2, canal=column.canal, level="Vertebra_C2")
    without = label_sectors(
        c2, canal=column.canal, level="C2", options=SectorOptions(c2_dens_to_body=False)
    )
    assert with_rule.level == "C2"
    assert np.all(with_rule.labels.to_array()[dens_mask] == 1)
    assert np.any(without.labels.to_array()[dens_mask] != 1)
    # Below the top of the arch nothing changes.
    assert with_rule.volumes_cc[4] == pytest.approx(without.volumes_cc[4])


def test_slab_gap_is_measured_in_the_canals_midline() -> None:
    # A rounded canal (deepest, 7.5 mm, at u = 0) lined by bone: the bone 3-4 mm aside lies
    # less deep than the body's wall in the midline and must not bound the gap.
    from spinetv.anatomy.sectors import _bounded_gap

    canal = np.array([[0.0, -6.6], [1.0, -6.5], [-1.0, -6.5], [3.5, -6.0]])
    bone = np.array([[0.0, -7.8], [1.0, -7.7], [-3.5, -6.8], [3.6, -6.7]])
    assert _bounded_gap(canal, bone, -1.0, 0.0, 1.0) == pytest.approx((6.6, 7.7))
    # No bone in the midline within 1.5 voxels: not bounded.
    assert _bounded_gap(canal, bone[2:], -1.0, 0.0, 1.0) is None


def test_steady_walls_keep_one_wall_where_the_slabs_agree() -> None:
    from spinetv.anatomy.sectors import _steady_walls

    # The lattice's phase drifts: each slab bounds a wall at 7.5 mm to within a voxel.
    gaps: list[tuple[float, float] | None] = [
        (7.0, 8.0), (6.9, 7.9), None, (6.7, 7.7), (6.6, 7.6), (7.45, 8.45), None,
    ]
    walls = _steady_walls(gaps, -1.0, -6.0, 0.01)
    assert walls[:6] == pytest.approx(np.full(6, -7.525))
    assert walls[6] == -6.0  # beyond the last bounded slab: the default
    # A step in depth (a disc, a curved canal; gaps that only touch, as the rows of an
    # axis-aligned lattice do): the two parts keep their own walls.
    step = _steady_walls([(7.0, 8.0), (7.1, 8.1), (8.1, 9.1), (8.2, 9.2)], -1.0, -6.0, 0.01)
    assert step == pytest.approx([-7.55, -7.55, -8.65, -8.65])
    # Neighbours that move the wall by no more than the deadband leave it at its own gap's
    # middle (a row of voxel centres lying on c stays on it); signs follow the side.
    near = _steady_walls([(8.0, 9.0), (8.01, 9.01), (8.02, 9.02)], 1.0, 6.0, 0.03)
    assert near == pytest.approx([8.5, 8.51, 8.52])


def _wall_lattice(
    depth_of_u: object, pitch_mm: float, phase_step_mm: float, slabs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Free (canal) and bone points round an anterior wall at ``v = -depth_of_u(u)``, on
    columns 0.5 mm apart whose rows of ``pitch_mm`` shift by ``phase_step_mm`` per column (a
    lattice turned against the wall), in ``slabs`` slabs; with each point's slab."""
    free, bone, free_slab, bone_slab = [], [], [], []
    for slab in range(slabs):
        for column, u in enumerate(np.arange(-8.0, 8.01, 0.5)):
            wall = float(depth_of_u(u))  # type: ignore[operator]
            phase = (column * phase_step_mm + slab * 0.37) % pitch_mm
            for depth in np.arange(wall - 3.0 + phase, wall + 3.0, pitch_mm):
                (bone if depth > wall else free).append((u, -depth))
                (bone_slab if depth > wall else free_slab).append(slab)
    return np.array(free), np.array(free_slab), np.array(bone), np.array(bone_slab)


def test_band_narrows_a_flat_anterior_wall_and_keeps_a_rounded_one_to_its_midline() -> None:
    from spinetv.anatomy.sectors import _band_gaps, _bounded_gap, _WallBand

    band = _WallBand(0.8, 0.05, 0.1)
    # A flat wall 7 mm deep: the midline strip sees one phase per slab, the band many.
    free, free_slab, bone, bone_slab = _wall_lattice(lambda u: 7.0, 1.0, 0.13, 4)
    midline = [
        _bounded_gap(free[free_slab == k], bone[bone_slab == k], -1.0, 0.0, 1.0) for k in range(4)
    ]
    narrowed = _band_gaps(
        (free, free_slab), (bone, bone_slab), midline, -1.0, 0.0, 1.0, band, 8.0
    )
    for own, gap in zip(midline, narrowed):
        assert own is not None and gap is not None
        assert own[0] <= gap[0] < 7.0 < gap[1] <= own[1]
        assert gap[1] - gap[0] < 0.5 * (own[1] - own[0])
    # A rounded canal (radius 8 mm: the wall 0.56 mm less deep 3 mm aside): the band shrinks
    # to about the midline, and the gap still holds the midline's depth.
    free, free_slab, bone, bone_slab = _wall_lattice(
        lambda u: 7.0 - u * u / 16.0, 1.0, 0.13, 4
    )
    midline = [
        _bounded_gap(free[free_slab == k], bone[bone_slab == k], -1.0, 0.0, 1.0) for k in range(4)
    ]
    rounded = _band_gaps(
        (free, free_slab), (bone, bone_slab), midline, -1.0, 0.0, 1.0, band, 8.0
    )
    for gap in rounded:
        assert gap is not None and gap[0] < 7.0 < gap[1]


def test_foramen_centre_is_the_one_its_points_contradict_least() -> None:
    from spinetv.anatomy.sectors import _least_contradicted_centre

    # A foramen 3 mm in radius round (18, -6.5) on a 1.3 mm lattice turned by 20 deg; the
    # centre is started 0.5 mm off (as a circle fitted to a few uneven midpoints was).
    turn = np.radians(20.0)
    axes = 1.3 * np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
    grid = np.stack(np.meshgrid(np.arange(-8, 9), np.arange(-8, 9)), axis=-1).reshape(-1, 2)
    points = np.array([18.0, -6.5]) + 0.31 + grid @ axes
    radius = np.hypot(points[:, 0] - 18.0, points[:, 1] + 6.5)
    free, bone = points[radius < 3.0], points[(radius >= 3.0) & (radius < 6.0)]
    found = _least_contradicted_centre(np.array([17.5, -6.5]), 3.0, free, bone, 1.3)
    assert np.hypot(found[0] - 18.0, found[1] + 6.5) < 0.25


def test_symmetry_turn_is_found_between_the_raster_bins() -> None:
    from spinetv.anatomy.sectors import symmetry_turn_deg

    # A symmetric outline (a ring with wings) turned by 0.1-0.7 deg: the turn is found to a
    # hundredth of a degree or two at every blur (with the nearest bin's density the score
    # was a step function of the angle: errors up to 0.14 deg here).
    rng = np.random.default_rng(3)
    u = rng.uniform(-25.0, 25.0, 6000)
    v = rng.uniform(-20.0, 20.0, 6000)
    keep = (np.hypot(u, v) > 7.0) & ((np.abs(u) < 12.0) | (np.abs(v + 6.0) < 3.0))
    half = np.column_stack([np.abs(u[keep]), v[keep]])
    points = np.concatenate([half, half * np.array([-1.0, 1.0])])
    for blur in (1.0, 1.5, 2.0):
        for turn_deg in (0.1, 0.2, 0.3, 0.45, 0.7):
            t = np.radians(turn_deg)
            turned = points @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
            found = symmetry_turn_deg(turned, pivot_uv=(0.0, 0.0), blur_mm=blur)
            assert found == pytest.approx(turn_deg, abs=0.02), (blur, turn_deg)


def test_the_wall_curvature_s_contradiction_counts_follow_their_definition() -> None:
    # The counts are taken for all curvatures at once over sorted bounds; checked here
    # against the definition: the fewest bounds any one depth contradicts.
    from spinetv.anatomy.sectors import _fewest_contradictions

    rng = np.random.default_rng(5)
    curvatures = np.array([-0.1, -0.02, 0.0, 0.03, 0.1])
    for _ in range(400):
        nl, nu = int(rng.integers(0, 12)), int(rng.integers(0, 12))
        # Quarter-millimetre steps make ties between the bounds common.
        lower = np.round(rng.normal(7.0, 0.6, nl) * 4) / 4
        lower_u = np.round(rng.uniform(-4, 4, nl))
        upper = np.round(rng.normal(7.4, 0.6, nu) * 4) / 4
        upper_u = np.round(rng.uniform(-4, 4, nu))
        expected = []
        for k in curvatures:
            low, high = lower - k * lower_u**2, upper - k * upper_u**2
            depths = np.concatenate([low, high])
            expected.append(
                min((int((low > d).sum() + (high < d).sum()) for d in depths), default=0)
            )
        got = _fewest_contradictions(lower, lower_u, upper, upper_u, curvatures)
        assert got.tolist() == expected
