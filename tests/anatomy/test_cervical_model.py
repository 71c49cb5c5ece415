"""Sectors of cervical vertebrae against a second, independent cervical model.

The model (``_cervical_model``) is written from the anatomy, not from spinetv.phantom: a small
wide body with uncinate processes, short posterolateral pedicles, transverse processes with
foramina beside them, articular pillars, thin laminae and a bifid spinous process; C2 with its
dens; C1 with its anterior arch, lateral masses, transverse foramina and posterior arch. Its
true sectors come from the part each voxel belongs to. Measured minimum Dice over the sectors
(derived canal with the cord / contoured canal):

============================  ==============  ==============  ==============  ==============
pose                          C4-C6 before    C4-C6 after     C1 before       C1 after
============================  ==============  ==============  ==============  ==============
HFS, 0.6 mm pixels, 1 mm      0.961 / 0.961   0.961 / 0.961   0.602 / 0.325   0.971 / 0.965
HFS, 1 mm iso                 0.985 / 0.985   0.985 / 0.985   0.579 / 0.264   0.974 / 0.975
FFS, tilt 25, rot 10, 0.6 mm  0.955 / 0.964   0.986 / 0.961   0.604 / 0.333   0.971 / 0.967
HFP, tilt 25, rot 10, 1 mm    0.951 / 0.904   0.983 / 0.964   0.605 / 0.324   0.969 / 0.961
============================  ==============  ==============  ==============  ==============

C2 (after): 0.957 / 0.957 at HFS 0.6 mm, otherwise >= 0.967 (before: 0.38-0.47 with the
derived canal on the tilted poses, whose body-core turn took C1's dens space for C2's canal).
"Before" is the code of commit 051fa5c; at C1, the reference rule on the canal's walls. The
floor is 0.95 for every sector at every pose. Over 40 poses (``benchmarks/bench_cervical.py``:
tilt -45..45, rotation -20..20, four orientations, 0.6-1.5 mm pixels, 1-3 mm slices) coarse
pixels with thick slices stay below it (pedicles of about 30-60 voxels); see
``benchmarks/results/cervical.json``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _anatomy_synthetic import dice
from _cervical_model import (
    A_MM,
    FORAMEN_RADIUS_MM,
    FORAMEN_U_MM,
    FORAMEN_V_MM,
    CervicalColumn,
    _rotation,
    make_cervical_column,
)

from spinetv.anatomy.sectors import (
    CanalWalls,
    SectorOptions,
    VertebraSectors,
    _fitted_circle,
    _least_contradicted,
    assign_sectors,
    body_core_ap_axis,
    label_spine,
    transverse_foramina,
)

POSES = {
    "HFS-0.6mm": dict(spacing_mm=(1.0, 0.6, 0.6)),
    "HFS-1mm": dict(spacing_mm=(1.0, 1.0, 1.0)),
    "FFS-tilt25-rot10-0.6mm": dict(
        spacing_mm=(1.0, 0.6, 0.6), orientation="FFS", tilt_deg=25.0, rotation_deg=10.0
    ),
    "HFP-tilt25-rot10-1mm": dict(
        spacing_mm=(1.0, 1.0, 1.0), orientation="HFP", tilt_deg=25.0, rotation_deg=10.0
    ),
}
FLOOR = 0.95
# C4-C6 at the four poses, measured minimum 0.961 at HFS 0.6 mm (a row of voxel centres lies
# on c there: the pedicle's row goes to the lamina on one side), 0.985 at HFS 1 mm, 0.987
# and 0.988 on the tilted poses (0.961 / 0.964 with the contoured canal before the anterior
# wall was narrowed across the band and the symmetry score interpolated).
POSE_FLOORS = {
    "HFS-0.6mm": 0.955,
    "HFS-1mm": 0.975,
    "FFS-tilt25-rot10-0.6mm": 0.975,
    "HFP-tilt25-rot10-1mm": 0.975,
}
LEVELS = ("C4", "C5", "C6")
ONE_SLAB = np.array([-np.inf, np.inf])


@pytest.fixture(scope="module", params=list(POSES))
def pose(request: pytest.FixtureRequest) -> tuple[str, CervicalColumn]:
    return request.param, make_cervical_column(**POSES[request.param])


def _label(column: CervicalColumn, canal: str, **options: object) -> dict[str, VertebraSectors]:
    opts = replace(SectorOptions(), **options)  # type: ignore[arg-type]
    if canal == "derived":
        return label_spine(column.vertebrae, cord=column.cord, options=opts)
    return label_spine(column.vertebrae, canal=column.canal, options=opts)


def _model_to_frame(
    column: CervicalColumn,
    name: str,
    sectors: VertebraSectors,
    points_model: np.ndarray,
    level: str,
) -> np.ndarray:
    kw = POSES[name]
    rot = _rotation(float(kw.get("tilt_deg", 0.0)), float(kw.get("rotation_deg", 0.0)))
    centre = (1 - LEVELS.index(level)) * 18.0
    shifted = np.asarray(points_model, dtype=float) + np.array([0.0, 0.0, centre])
    return sectors.frame.to_local(shifted @ rot)


@pytest.mark.parametrize("canal", ["derived", "contoured"])
def test_sectors_match_the_cervical_model(pose: tuple[str, CervicalColumn], canal: str) -> None:
    name, column = pose
    result = _label(column, canal)
    for level in LEVELS:
        for k in range(1, 7):
            value = dice(result[level].sector(k), column.truth[level][k])
            floor = POSE_FLOORS[name]
            assert value >= floor, f"{name} {canal} {level} sector {k}: Dice {value:.3f}"


def test_the_reference_rule_gives_the_transverse_processes_to_the_pedicles(
    pose: tuple[str, CervicalColumn],
) -> None:
    # Without the foramen rule the pedicle sectors hold the transverse processes, which are
    # larger than the pedicles: Dice 0.2-0.3 against the anatomy (0.81 on the C5).
    name, column = pose
    result = _label(column, "contoured", cervical_transverse_foramina=False)
    for level in LEVELS:
        for k in (2, 6):
            value = dice(result[level].sector(k), column.truth[level][k])
            assert value < 0.5, f"{name} {level} sector {k}: Dice {value:.3f}"
        assert result[level].foramina_mm == (None, None)


@pytest.mark.parametrize("canal", ["derived", "contoured"])
def test_foramina_are_found_where_the_model_has_them(
    pose: tuple[str, CervicalColumn], canal: str
) -> None:
    name, column = pose
    result = _label(column, canal)
    edge = FORAMEN_U_MM - FORAMEN_RADIUS_MM
    # Measured at most 0.074 mm (0.6 mm pixels) and 0.145 mm (1 mm; up to 0.30 at the tilted
    # 1 mm pose with the mean of per-bin midpoints used before the circle fit).
    tolerance = 0.15 if "0.6mm" in name else 0.2
    for level in LEVELS:
        left, right = result[level].foramina_mm
        assert left is not None and right is not None, f"{name} {level}"
        truth = _model_to_frame(
            column,
            name,
            result[level],
            np.array([[edge, FORAMEN_V_MM, 0.0], [-edge, FORAMEN_V_MM, 0.0]]),
            level,
        )
        assert abs(left - truth[0, 0]) <= tolerance, f"{name} {level} left {left:.2f}"
        assert abs(right - truth[1, 0]) <= tolerance, f"{name} {level} right {right:.2f}"


def test_axial_rotation_is_followed() -> None:
    # The frame's own estimate takes the transverse processes for body and misses most of a
    # 10 deg rotation; the body's core gives it to a fraction of a degree, and the mirror
    # symmetry of the whole vertebra to about a tenth of one (in-plane errors measured at
    # this pose 0.04-0.17 deg with the core alone, 0.00-0.15 with the symmetry; over 8
    # poses rms 0.41 / 0.09 deg, max 0.98 / 0.29).
    name = "FFS-tilt25-rot10-0.6mm"
    column = make_cervical_column(**POSES[name])
    rot = _rotation(25.0, 10.0)

    def error(axis: np.ndarray) -> float:
        return float(np.degrees(np.arccos(np.clip(axis @ rot[1], -1.0, 1.0))))

    for canal in ("derived", "contoured"):
        for level in LEVELS:
            turned = error(_label(column, canal)[level].frame.ap_axis)
            core = error(
                _label(column, canal, cervical_rotation_by_symmetry=False)[level].frame.ap_axis
            )
            kept = error(
                _label(
                    column,
                    canal,
                    cervical_rotation_from_body_core=False,
                    cervical_rotation_by_symmetry=False,
                )[level].frame.ap_axis
            )
            assert turned < 0.2, f"{canal} {level}: AP axis {turned:.2f} deg off"
            assert core < 0.5, f"{canal} {level}: core alone {core:.2f} deg off"
            assert kept > 3.0, f"{canal} {level}: {kept:.2f} deg"


def test_uncinate_processes_are_body_and_the_anterior_root_is_transverse_process() -> None:
    name = "HFS-0.6mm"
    column = make_cervical_column(**POSES[name])
    result = _label(column, "derived")["C5"]
    vertebra = column.vertebrae["C5"]
    ijk = np.argwhere(vertebra.box_array) + np.asarray(vertebra.box.start)
    model = column.grid.index_to_lps(ijk) @ _rotation(0.0, 0.0).T
    labels = np.zeros(len(ijk), dtype=np.uint8)
    for k in range(1, 7):
        labels[result.sector(k).in_box(vertebra.box)[vertebra.box_array]] = k
    u, v, s = model.T
    uncinate = (s > 6.6) & (v < A_MM)
    assert uncinate.sum() > 50
    assert np.all(labels[uncinate] == 1)
    # Bone in front of the body's posterior wall beside the body: the transverse process's
    # anterior root and tubercle (the costal element), 3 on the left and 5 on the right.
    beside = (np.abs(u) > 10.5) & (v < A_MM - 0.5)
    assert beside.sum() > 200
    assert np.all(labels[beside & (u > 0)] == 3)
    assert np.all(labels[beside & (u < 0)] == 5)


def test_a_deep_anterior_tubercle_does_not_widen_the_body() -> None:
    # A C6-like (carotid) anterior tubercle reaches deeper than half the body's depth in
    # front of the canal; half as tall as the body, it is not counted in the body's width.
    column = make_cervical_column(spacing_mm=(1.0, 0.6, 0.6), carotid_tubercle=True)
    for canal in ("derived", "contoured"):
        result = _label(column, canal)
        for k in range(1, 7):
            value = dice(result["C5"].sector(k), column.truth["C5"][k])
            assert value >= FLOOR, f"{canal} sector {k}: Dice {value:.3f}"
    wide = _label(column, "derived", cervical_body_min_height_fraction=None)["C5"]
    assert dice(wide.sector(1), column.truth["C5"][1]) < 0.9


def _walls(a: float, p: float, uc: float, w: float) -> CanalWalls:
    return CanalWalls(ONE_SLAB, np.array([a]), np.array([p]), np.array([uc]), np.array([w]))


def test_assign_sectors_moves_bone_beside_the_foramen_to_the_transverse_process() -> None:
    walls = _walls(-7.0, 7.0, 0.0, 12.0)
    points = np.array(
        [
            [13.0, -3.0, 0.0],  # pedicle, medial to the left foramen
            [16.0, -3.0, 0.0],  # lateral to its medial edge (15): transverse process
            [12.0, -9.0, 0.0],  # in front of a, beside the body: anterior root
            [5.0, -9.0, 0.0],  # body
            [16.0, 2.0, 0.0],  # behind c: 3 anyway
            [-13.0, -3.0, 0.0],  # right pedicle: no right foramen given
            [-16.0, -3.0, 0.0],
            [-12.0, -9.0, 0.0],
        ]
    )
    labels = assign_sectors(
        points, walls, body_lr_bounds_mm=(-10.0, 10.0), transverse_from_mm=(15.0, None)
    )
    assert labels.tolist() == [2, 3, 3, 1, 3, 6, 6, 6]
    both = assign_sectors(
        points, walls, body_lr_bounds_mm=(-10.0, 10.0), transverse_from_mm=(15.0, -15.0)
    )
    assert both.tolist() == [2, 3, 3, 1, 3, 6, 5, 5]
    assert np.array_equal(
        assign_sectors(points, walls, body_lr_bounds_mm=(-10.0, 10.0)),
        assign_sectors(points, walls, body_lr_bounds_mm=(-10.0, 10.0), transverse_from_mm=None),
    )


def _ring_points(centre_u: float, spacing: float, with_hole: bool) -> np.ndarray:
    grid_u, grid_v, grid_s = np.meshgrid(
        np.arange(-30.0, 30.0, spacing),
        np.arange(-20.0, 12.0, spacing),
        np.arange(-3.0, 3.0, spacing),
        indexing="ij",
    )
    u, v, s = grid_u.ravel(), grid_v.ravel(), grid_s.ravel()
    canal = (np.abs(u) < 12.0) & (v > -7.0) & (v < 7.0)
    bone = ~canal & (np.abs(u) < 25.0) & (v > -15.0) & (v < 9.0)
    if with_hole:
        bone &= np.hypot(np.abs(u) - centre_u, v + 6.0) >= 3.0
    return np.column_stack([u, v, s])[bone], np.column_stack([u, v, s])[~bone]


def test_transverse_foramina_finds_the_holes_beside_the_canal_only() -> None:
    walls = _walls(-7.0, 7.0, 0.0, 12.0)
    bone, free = _ring_points(18.0, 0.5, with_hole=True)
    left, right = transverse_foramina(bone, walls, 0.5, free_mm=free)
    assert left is not None and right is not None
    assert abs(left - 15.0) < 0.3 and abs(right + 15.0) < 0.3
    # The canal is no foramen; nor is a hole too small, nor one behind the canal's centre.
    solid, solid_free = _ring_points(18.0, 0.5, with_hole=False)
    assert transverse_foramina(solid, walls, 0.5, free_mm=solid_free) == (None, None)
    assert transverse_foramina(bone, walls, 0.5, min_area_mm2=40.0) == (None, None)
    behind = _walls(-20.0, -8.0, 0.0, 12.0)
    assert transverse_foramina(bone, behind, 0.5) == (None, None)


def test_body_core_gives_the_turn_of_a_rotated_body() -> None:
    # A body 20 x 15 mm in front of a canal, with wide wings in front of the canal's wall:
    # turned by 10 deg, the core's direction is found back; the wings do not pull it.
    grid_u, grid_v = np.meshgrid(
        np.arange(-30.0, 30.0, 0.25), np.arange(-25.0, 10.0, 0.25), indexing="ij"
    )
    u, v = grid_u.ravel(), grid_v.ravel()
    body = (np.abs(u) <= 10.0) & (v >= -22.0) & (v <= -7.0)
    wings = (np.abs(u) > 10.0) & (np.abs(u) <= 24.0) & (v >= -12.0) & (v <= -7.0)
    canal = (np.abs(u) < 12.0) & (v > -7.0) & (v < 7.0)
    angle = np.radians(10.0)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def place(mask: np.ndarray) -> np.ndarray:
        uv = np.column_stack([u[mask], v[mask]]) @ turn.T
        return np.column_stack([uv, np.zeros(len(uv))])

    direction = body_core_ap_axis(place(body | wings), place(canal))
    assert direction is not None
    expected = np.array([0.0, 1.0]) @ turn.T
    assert np.degrees(np.arccos(np.clip(direction @ expected, -1.0, 1.0))) < 0.3


def test_phantom_without_foramina_keeps_the_reference_rule() -> None:
    phantom = pytest.importorskip("spinetv.phantom")
    truth = phantom.make_spine_phantom(levels="C3-C5", spacing_mm=(1.0, 1.0, 1.0))
    result = label_spine(truth.vertebrae, cord=truth.cord)
    for level, sectors in result.items():
        assert sectors.foramina_mm == (None, None), level
        for k in range(1, 7):
            value = dice(sectors.sector(k), truth.parts[level][k])
            assert value >= FLOOR, f"phantom {level} sector {k}: Dice {value:.3f}"


UPPER = ("C1", "C2", "C3")


@pytest.fixture(scope="module", params=list(POSES))
def upper_pose(request: pytest.FixtureRequest) -> tuple[str, CervicalColumn]:
    return request.param, make_cervical_column(levels=UPPER, **POSES[request.param])


def test_the_upper_column_is_a_partition_of_its_levels() -> None:
    column = make_cervical_column(levels=UPPER, spacing_mm=(1.0, 1.0, 1.0))
    arrays = {level: column.vertebrae[level].to_array() for level in UPPER}
    assert not (arrays["C1"] & arrays["C2"]).any()
    assert not (arrays["C2"] & arrays["C3"]).any()
    for level in UPPER:
        counts = [int(column.truth[level][k].to_array().sum()) for k in range(1, 7)]
        assert min(counts) > 100, (level, counts)
        assert sum(counts) == int(arrays[level].sum())


@pytest.mark.parametrize("canal", ["derived", "contoured"])
def test_atlas_and_axis_match_the_model(upper_pose: tuple[str, CervicalColumn], canal: str) -> None:
    # C1: anterior arch 1, lateral masses 2/6, transverse processes and posterior arch 3/5,
    # posterior tubercle 4; C2: the dens is body. Measured minimum 0.961 (C1, contoured
    # canal, FFS tilted 25 deg and HFP tilted at 1 mm) and 0.957 (C2's right pedicle, HFS
    # 0.6 mm).
    name, column = upper_pose
    result = _label(column, canal)
    for level in ("C1", "C2"):
        for k in range(1, 7):
            value = dice(result[level].sector(k), column.truth[level][k])
            assert value >= FLOOR, f"{name} {canal} {level} sector {k}: Dice {value:.3f}"
    left, right = result["C1"].foramina_mm
    assert left is not None and right is not None


@pytest.mark.parametrize("canal", ["derived", "contoured"])
def test_the_reference_rule_misplaces_the_lateral_masses_of_c1(
    upper_pose: tuple[str, CervicalColumn], canal: str
) -> None:
    # Without the C1 rule: a derived canal (the ring, dens included) puts c several mm too
    # far forward, giving the back of the lateral masses to 3/5 and the transverse processes
    # to 2/6; a contoured canal (behind the dens) gives the front of the masses to 1.
    name, column = upper_pose
    result = _label(column, canal, c1_lateral_masses=False)
    worst = min(dice(result["C1"].sector(k), column.truth["C1"][k]) for k in (2, 3, 5, 6))
    assert worst < 0.8, f"{name} {canal}: {worst:.3f}"


def test_the_dens_is_body() -> None:
    column = make_cervical_column(levels=UPPER, spacing_mm=(1.0, 1.0, 1.0))
    for canal in ("derived", "contoured"):
        result = _label(column, canal)["C2"]
        vertebra = column.vertebrae["C2"]
        ijk = np.argwhere(vertebra.box_array) + np.asarray(vertebra.box.start)
        u, v, s = (column.grid.index_to_lps(ijk) @ _rotation(0.0, 0.0).T).T
        labels = np.zeros(len(ijk), dtype=np.uint8)
        for k in range(1, 7):
            labels[result.sector(k).in_box(vertebra.box)[vertebra.box_array]] = k
        # C2's centre is 18 mm below C1's; the dens rises above the body's upper endplate.
        dens = s > 7.0
        assert dens.sum() > 300
        assert np.all(labels[dens & (v < A_MM)] == 1), canal


def test_least_contradicted_takes_the_middle_of_the_consistent_values() -> None:
    lower = np.array([1.0, 1.2, 1.4])
    upper = np.array([1.6, 1.8, 2.0])
    assert _least_contradicted(lower, upper) == pytest.approx(1.5)
    # One free point beyond the wall (a stray) is outvoted by the others.
    lower = np.sort(np.array([1.0, 1.2, 1.4, 3.0]))
    assert _least_contradicted(lower, upper) == pytest.approx(1.5)


def test_fitted_circle_finds_a_circle_and_refuses_a_line() -> None:
    angles = np.linspace(0.0, 2.0 * np.pi, 40, endpoint=False)
    points = np.column_stack([18.0 + 3.0 * np.cos(angles), -6.5 + 3.0 * np.sin(angles)])
    circle = _fitted_circle(points)
    assert circle is not None
    assert np.allclose(circle, (18.0, -6.5, 3.0))
    line = np.column_stack([np.arange(10.0), np.zeros(10)])
    assert _fitted_circle(line) is None
