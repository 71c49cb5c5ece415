"""Exact margins: Margin values, expand and shrink against analytic answers and brute force.

The brute-force reference works on voxel centres in patient millimetres only (through
``ImageGrid.index_to_lps``), so it shares no code with the fast paths: it measures, for every
output centre, the ellipsoidal distance to every input centre.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import ndimage

from spinetv import GeometryError, ImageGrid, Mask
from spinetv.errors import GeometryWarning
from spinetv.geometry import Margin, dice, expand, expand_with_report, shrink
from spinetv.geometry.margins import MarginMethod

TOLERANCE = 1e-6  # the documented tolerance on the squared normalised distance
METHODS: tuple[MarginMethod, ...] = ("auto", "edt", "separable", "element")

# Direction matrices (columns = LPS unit vectors of the array axes slice, row, column).
HFS = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
FFS = np.column_stack([[0, 0, -1], [0, 1, 0], [-1, 0, 0]]).astype(float)
HFP = np.column_stack([[0, 0, 1], [0, -1, 0], [-1, 0, 0]]).astype(float)
FFP = np.column_stack([[0, 0, -1], [0, -1, 0], [1, 0, 0]]).astype(float)
SAGITTAL = np.column_stack([[1, 0, 0], [0, 0, -1], [0, 1, 0]]).astype(float)
ORIENTATIONS = {"HFS": HFS, "FFS": FFS, "HFP": HFP, "FFP": FFP, "sagittal": SAGITTAL}


def _oblique() -> NDArray[np.float64]:
    a, b = np.radians(12.0), np.radians(-20.0)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    return np.asarray(rz @ rx @ HFS)


# ---- the reference ------------------------------------------------------------------------
def _normalised_sq(d: NDArray[np.float64], margin: Margin) -> NDArray[np.float64]:
    """sum over LPS axes of (d / r)^2 with r the margin towards d's sign (inf where r = 0)."""
    pairs = (
        (margin.left_mm, margin.right_mm),  # +x, -x
        (margin.posterior_mm, margin.anterior_mm),  # +y, -y
        (margin.superior_mm, margin.inferior_mm),  # +z, -z
    )
    total = np.zeros(d.shape[:-1])
    for axis, (positive, negative) in enumerate(pairs):
        component = d[..., axis]
        radius = np.where(component > 0, positive, negative)
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(
                np.abs(component) < 1e-9,
                0.0,
                np.where(radius > 0, (component / np.where(radius > 0, radius, 1.0)) ** 2, np.inf),
            )
        total = total + term
    return total


def brute_expand(mask: Mask, margin: Margin, pad: int = 0) -> NDArray[np.bool_]:
    """Every centre of the grid (grown by ``pad`` virtual voxels a side) near an input centre."""
    grid = mask.grid
    shape = tuple(n + 2 * pad for n in grid.shape)
    centres = grid.index_to_lps(np.indices(shape).reshape(3, -1).T - pad)
    best = np.full(len(centres), np.inf)
    for x in mask.points_lps():
        best = np.minimum(best, _normalised_sq(centres - x, margin))
    return (best <= 1 + TOLERANCE).reshape(shape)


def brute_shrink(mask: Mask, margin: Margin) -> NDArray[np.bool_]:
    """Keep a centre when no outside centre (image edge included) lies in its margin set."""
    grid = mask.grid
    reach = int(np.ceil(margin.max_mm / min(grid.spacing_mm))) + 1  # a window holding the set
    outside = ~np.pad(mask.to_array(), reach)
    out = np.zeros(grid.shape, dtype=bool)
    for index in np.argwhere(mask.to_array()):
        window = outside[tuple(slice(i, i + 2 * reach + 1) for i in index)]
        near_lps = grid.index_to_lps(np.argwhere(window) + index - reach)
        p = grid.index_to_lps(index)
        out[tuple(index)] = not bool((_normalised_sq(near_lps - p, margin) <= 1 + TOLERANCE).any())
    return out


def sampled_element(spacing: tuple[float, ...], semi_mm: tuple[float, ...]) -> NDArray[np.bool_]:
    """The ellipsoid (semi-axes per array axis, mm) sampled at voxel offsets, odd-sized."""
    half = [int(np.floor(r / s + 1e-6)) for r, s in zip(semi_mm, spacing)]
    k, j, i = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    terms = [(o * s / r) ** 2 for o, s, r in zip((k, j, i), spacing, semi_mm)]
    return np.asarray(terms[0] + terms[1] + terms[2] <= 1 + TOLERANCE)


def quiet(function: Callable[[], Mask]) -> Mask:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeometryWarning)
        return function()


def blob(
    grid: ImageGrid, seed: int, fill: float = 0.5, border: int = 0, sigma: float = 1.0
) -> Mask:
    """A random lumpy mask: random voxels, smoothed, kept ``border`` voxels off the edges."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.random(grid.shape), sigma)
    array = noise > np.quantile(noise, 1 - fill)
    if border:
        keep = np.zeros(grid.shape, dtype=bool)
        keep[border:-border, border:-border, border:-border] = True
        array &= keep
    return Mask.from_array(grid, array)


def lps_set(mask: Mask) -> set[tuple[float, float, float]]:
    return {tuple(np.round(p, 4)) for p in mask.points_lps()}


# ---- Margin -------------------------------------------------------------------------------
def test_margin_constructors_and_properties() -> None:
    iso = Margin.isotropic(3)
    assert iso.as_tuple() == (3.0,) * 6
    assert iso.is_isotropic and iso.is_symmetric and iso.describe() == "3 mm isotropic"
    axial = Margin.axial_si(2, 5)
    assert axial.as_tuple() == (2, 2, 2, 2, 5, 5)
    assert axial.is_symmetric and not axial.is_isotropic
    assert axial.describe() == "2 mm axial, 5 mm SI"
    odd = Margin(left_mm=2, right_mm=5, anterior_mm=1, posterior_mm=3, superior_mm=7)
    assert not odd.is_symmetric and odd.max_mm == 7
    assert odd.describe() == "L 2 R 5 A 1 P 3 S 7 I 0 mm"
    assert odd.mirrored().as_tuple() == (5, 2, 3, 1, 0, 7)
    assert odd.towards("posterior") == 3
    assert Margin().is_zero and Margin().describe() == "no margin"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", (3, 3, 3, 3, 3, 3)),
        (" 3 mm", (3, 3, 3, 3, 3, 3)),
        ("2,2,5", (2, 2, 2, 2, 5, 5)),
        ("2,5", (2, 2, 2, 2, 5, 5)),
        ("1 2 3", (1, 1, 2, 2, 3, 3)),
        ("2,5,1,3,7,0", (2, 5, 1, 3, 7, 0)),
        ("0.5, 1.5, 2, 2.5, 3, 0", (0.5, 1.5, 2, 2.5, 3, 0)),
    ],
)
def test_margin_parse(text: str, expected: tuple[float, ...]) -> None:
    assert Margin.parse(text).as_tuple() == expected


@pytest.mark.parametrize(
    "text", ["", "1,2,3,4", "a", "2,-1,3", "nan", "inf", "1e3", "2,60"]
)
def test_margin_parse_rejects_bad_text(text: str) -> None:
    with pytest.raises(GeometryError, match="margin"):
        Margin.parse(text)


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf"), "x"])
def test_margin_rejects_bad_values(value: object) -> None:
    with pytest.raises(GeometryError, match="superior_mm"):
        Margin(superior_mm=value)  # type: ignore[arg-type]


# ---- expand: trivial cases ----------------------------------------------------------------
def test_zero_margin_and_empty_mask_return_the_input() -> None:
    grid = ImageGrid((6, 6, 6), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    mask = blob(grid, 1, border=1)
    assert expand(mask, Margin()) is mask
    assert shrink(mask, Margin()) is mask
    empty = Mask.empty(grid)
    assert expand(empty, Margin.isotropic(3)).is_empty
    assert shrink(empty, Margin.isotropic(3)).is_empty


def test_a_single_voxel_grows_into_the_sampled_ellipsoid() -> None:
    spacing = (2.5, 0.8, 0.8)
    grid = ImageGrid((15, 31, 31), spacing, (0.0, 0.0, 0.0))
    array = np.zeros(grid.shape, dtype=bool)
    array[7, 15, 15] = True
    grown = expand(Mask.from_array(grid, array), Margin.axial_si(2, 5))
    element = sampled_element(spacing, (5.0, 2.0, 2.0))
    assert element.shape == (5, 5, 5)  # 5 mm / 2.5 = 2 slices; 2 mm / 0.8 = 2 columns
    np.testing.assert_array_equal(grown.to_array()[5:10, 13:18, 13:18], element)
    assert grown.voxel_count == element.sum()


# ---- expand: against brute force ----------------------------------------------------------
MARGINS = {
    "axial2-si5": Margin.axial_si(2, 5),
    "asymmetric": Margin(2, 5, 1, 3, 7, 0),
    "iso3": Margin.isotropic(3),
    "flat": Margin.per_axis(1.5, 0, 2),
}


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.8, 0.8), (3.0, 1.0, 0.6)])
@pytest.mark.parametrize("margin_name", list(MARGINS))
@pytest.mark.parametrize("orientation", ["HFS", "FFP", "sagittal", "oblique"])
def test_expand_equals_brute_force(
    spacing: tuple[float, float, float], margin_name: str, orientation: str
) -> None:
    direction = _oblique() if orientation == "oblique" else ORIENTATIONS[orientation]
    grid = ImageGrid((14, 20, 22), spacing, (10.0, -5.0, 3.0), direction)
    mask = blob(grid, 7, fill=0.08, border=5)
    margin = MARGINS[margin_name]
    reference = brute_expand(mask, margin)
    ran = 0
    for method in METHODS:
        try:
            result = quiet(lambda m=method: expand(mask, margin, method=m))  # type: ignore[misc]
        except GeometryError:
            continue  # the method does not apply to this grid and margin
        ran += 1
        np.testing.assert_array_equal(result.to_array(), reference, err_msg=method)
    assert ran >= 2


def test_methods_that_do_not_apply_are_refused() -> None:
    grid = ImageGrid((5, 5, 5), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), _oblique())
    mask = blob(grid, 2, border=1)
    with pytest.raises(GeometryError, match="edt"):
        expand(mask, Margin(1, 2, 1, 1, 1, 1), method="edt")
    with pytest.raises(GeometryError, match="separable"):
        expand(mask, Margin.isotropic(1), method="separable")
    with pytest.raises(GeometryError, match="method"):
        expand(mask, Margin.isotropic(1), method="magic")  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    spacing=st.sampled_from([(1.0, 1.0, 1.0), (2.0, 0.7, 0.9), (3.0, 1.1, 0.6), (1.25, 1.25, 2.5)]),
    orientation=st.sampled_from(list(ORIENTATIONS)),
    sides=st.tuples(*(st.sampled_from([0.0, 0.5, 1.0, 1.7, 2.5, 3.0, 4.2]) for _ in range(6))),
)
def test_expand_equals_brute_force_property(
    seed: int,
    spacing: tuple[float, float, float],
    orientation: str,
    sides: tuple[float, ...],
) -> None:
    grid = ImageGrid((9, 11, 10), spacing, (0.0, 0.0, 0.0), ORIENTATIONS[orientation])
    mask = blob(grid, seed, fill=0.15)
    margin = Margin(*sides)
    report = expand_with_report(mask, margin, warn=False)
    pad = 7  # enough virtual voxels to hold a 4.2 mm margin beyond the edge (0.6 mm voxels)
    reference = brute_expand(mask, margin, pad=pad)
    inside = reference[pad:-pad, pad:-pad, pad:-pad]
    np.testing.assert_array_equal(report.mask.to_array(), inside)
    assert report.clipped_voxels == int(reference.sum() - inside.sum())
    assert report.clipped == (report.clipped_voxels > 0)


# ---- expand: analytic spheres -------------------------------------------------------------
def _sphere_case(
    spacing: tuple[float, float, float], r_mm: float, m_mm: float
) -> tuple[Mask, Mask, NDArray[np.float64]]:
    reach = r_mm + m_mm + 3
    shape = tuple(int(2 * reach / s) + 3 for s in spacing)
    grid = ImageGrid(shape, spacing, (0.0, 0.0, 0.0))  # type: ignore[arg-type]
    centre = grid.index_to_lps(np.array(shape) / 2 - 0.5) + np.array([0.31, -0.17, 0.23])
    centres = grid.index_to_lps(np.indices(shape).reshape(3, -1).T)
    distance = np.linalg.norm(centres - centre, axis=1).reshape(shape)
    return (
        Mask.from_array(grid, distance <= r_mm),
        Mask.from_array(grid, distance <= r_mm + m_mm),
        distance,
    )


@pytest.mark.parametrize(
    ("spacing", "min_dice"),
    [((1.0, 1.0, 1.0), 0.99), ((2.5, 0.8, 0.8), 0.98), ((3.0, 1.0, 0.6), 0.975)],
)
def test_sphere_grows_to_the_analytic_sphere(
    spacing: tuple[float, float, float], min_dice: float
) -> None:
    r_mm, m_mm = 25.0, 5.0
    sphere, analytic, distance = _sphere_case(spacing, r_mm, m_mm)
    grown = expand(sphere, Margin.isotropic(m_mm))
    result = grown.to_array()
    # Exact: every grown centre lies within r + m of the centre (the triangle inequality) ...
    assert not (result & ~analytic.to_array()).any()
    # ... and a centre of the analytic sphere is missed only near its surface: the lens between
    # the input sphere and the margin ball around it holds a ball of radius (r + m - |p|) / 2,
    # which holds a voxel centre once that radius reaches half the voxel diagonal.
    missed = analytic.to_array() & ~result
    diagonal_mm = float(np.linalg.norm(spacing))
    depth_mm = r_mm + m_mm - distance[missed]
    assert depth_mm.max() <= diagonal_mm
    assert dice(grown, analytic) >= min_dice


def test_sphere_grows_to_the_analytic_sphere_on_one_mm_voxels_within_half_a_voxel() -> None:
    sphere, analytic, distance = _sphere_case((1.0, 1.0, 1.0), 20.0, 3.0)
    grown = expand(sphere, Margin.isotropic(3.0))
    differing = grown.to_array() ^ analytic.to_array()
    # Measured: every misclassified centre lies within 0.3 mm of the analytic surface.
    assert np.abs(distance[differing] - 23.0).max() <= 0.5
    assert dice(grown, analytic) >= 0.99


# ---- expand: orientation ------------------------------------------------------------------
def _grid_for(direction: NDArray[np.float64]) -> ImageGrid:
    """A grid over one patient box (x 0..15.2, y 0..11.4, z 0..30 mm) in any orientation."""
    spacing_lps = np.array([0.8, 0.6, 2.5])
    count_lps = np.array([20, 20, 13])
    lps_axis = [int(np.argmax(np.abs(direction[:, a]))) for a in range(3)]
    spacing = tuple(float(spacing_lps[ax]) for ax in lps_axis)
    shape = tuple(int(count_lps[ax]) for ax in lps_axis)
    # Index 0 sits at the low end of a patient axis the array axis increases along, else high.
    origin = [0.0, 0.0, 0.0]
    for axis, ax in enumerate(lps_axis):
        if direction[ax, axis] < 0:
            origin[ax] = float((count_lps[ax] - 1) * spacing_lps[ax])
    return ImageGrid(shape, spacing, tuple(origin), direction)  # type: ignore[arg-type]


def _physical_mask(grid: ImageGrid) -> Mask:
    """The same patient-space shape on any grid: an off-centre ball joined to a slab."""
    centres = grid.index_to_lps(np.indices(grid.shape).reshape(3, -1).T)
    ball = np.linalg.norm(centres - np.array([7.0, 5.0, 14.0]), axis=1) <= 3.0
    slab = (
        (np.abs(centres[:, 0] - 9.6) <= 1.0)
        & (np.abs(centres[:, 1] - 6.0) <= 0.4)
        & (np.abs(centres[:, 2] - 17.5) <= 0.1)
    )
    return Mask.from_array(grid, (ball | slab).reshape(grid.shape))


@pytest.mark.parametrize("margin_name", ["axial2-si5", "asymmetric"])
def test_same_patient_answer_on_every_orientation(margin_name: str) -> None:
    margin = MARGINS[margin_name]
    answers = {}
    for name, direction in ORIENTATIONS.items():
        grid = _grid_for(direction)
        mask = _physical_mask(grid)
        assert mask.voxel_count == _physical_mask(_grid_for(HFS)).voxel_count
        answers[name] = lps_set(quiet(lambda g=grid, m=mask: expand(m, margin)))  # type: ignore[misc]
    for name, points in answers.items():
        assert points == answers["HFS"], name


def test_a_left_margin_grows_towards_patient_left_on_every_orientation() -> None:
    for name, direction in ORIENTATIONS.items():
        grid = _grid_for(direction)
        mask = _physical_mask(grid)
        grown = expand(mask, Margin(left_mm=4.0))
        x_before = mask.points_lps()[:, 0]
        x_after = grown.points_lps()[:, 0]
        assert x_after.max() == pytest.approx(x_before.max() + 4.0), name  # 5 voxels of 0.8
        assert x_after.min() == pytest.approx(x_before.min()), name
        np.testing.assert_allclose(
            [grown.points_lps()[:, 1:].min(axis=0), grown.points_lps()[:, 1:].max(axis=0)],
            [mask.points_lps()[:, 1:].min(axis=0), mask.points_lps()[:, 1:].max(axis=0)],
        )


# ---- expand: the image edge ---------------------------------------------------------------
def test_clipping_at_the_image_edge_is_reported_on_the_patient_side() -> None:
    # Feet-first: slice index 0 is the most superior slice, columns run to the patient's right.
    grid = ImageGrid((10, 12, 12), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), FFS)
    array = np.zeros(grid.shape, dtype=bool)
    array[0:2, 5:7, 5:7] = True
    mask = Mask.from_array(grid, array)
    with pytest.warns(GeometryWarning, match=r"superior side by up to 4 mm \(2 voxels\)"):
        report = expand_with_report(mask, Margin.axial_si(1, 4))
    assert report.clipped and report.clipped_sides == ("superior",)
    assert report.clipped_depth_mm == (4.0,)
    # 2 mm slices, 4 mm SI: off-slice offsets of the element are single voxels (0.25 + 1 > 1 in
    # plane), so each of the two virtual slices above the image holds one 2x2 square.
    assert report.clipped_voxels == 2 * 4
    assert report.mask.voxel_count == brute_expand(mask, Margin.axial_si(1, 4)).sum()
    # No warning and no clipping when the margin grows away from the edge.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = expand_with_report(mask, Margin(inferior_mm=4.0))
    assert not report.clipped and report.clipped_sides == () and report.clipped_voxels == 0


def test_clipping_names_every_side_and_expand_warns() -> None:
    grid = ImageGrid((6, 6, 6), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    full = Mask.from_array(grid, np.ones(grid.shape, dtype=bool))
    with pytest.warns(GeometryWarning, match="reaches beyond the image") as record:
        grown = expand(full, Margin.isotropic(1.0), name="CTV")
    assert "CTV" in str(record[0].message)
    assert grown.voxel_count == full.voxel_count
    report = expand_with_report(full, Margin.isotropic(1.0), warn=False)
    assert report.clipped_sides == (
        "left",
        "right",
        "anterior",
        "posterior",
        "superior",
        "inferior",
    )
    assert report.clipped_voxels == 6 * 36


# ---- shrink -------------------------------------------------------------------------------
@pytest.mark.parametrize("orientation", ["HFS", "HFP", "oblique"])
@pytest.mark.parametrize("margin_name", ["axial2-si5", "asymmetric", "iso3"])
def test_shrink_equals_brute_force(orientation: str, margin_name: str) -> None:
    direction = _oblique() if orientation == "oblique" else ORIENTATIONS[orientation]
    grid = ImageGrid((12, 18, 18), (1.5, 0.9, 0.9), (0.0, 0.0, 0.0), direction)
    mask = blob(grid, 3, fill=0.6, sigma=2.5)  # touches the image edges: outside is outside
    margin = MARGINS[margin_name]
    reference = brute_shrink(mask, margin)
    assert 0 < reference.sum() < mask.voxel_count
    for method in METHODS:
        try:
            result = shrink(mask, margin, method=method)
        except GeometryError:
            continue
        np.testing.assert_array_equal(result.to_array(), reference, err_msg=method)


def test_shrink_treats_outside_the_image_as_outside() -> None:
    grid = ImageGrid((8, 9, 10), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    full = Mask.from_array(grid, np.ones(grid.shape, dtype=bool))
    shrunk = shrink(full, Margin.isotropic(2.0))
    assert shrunk.box.start == (2, 2, 2) and shrunk.box.stop == (6, 7, 8)
    assert shrunk.voxel_count == 4 * 5 * 6


def test_shrink_moves_the_named_side() -> None:
    for name, direction in ORIENTATIONS.items():
        grid = _grid_for(direction)
        centres = grid.index_to_lps(np.indices(grid.shape).reshape(3, -1).T)
        box = (np.abs(centres - np.array([7.6, 5.4, 15.0])) <= np.array([4.1, 3.1, 5.1])).all(
            axis=1
        )
        mask = Mask.from_array(grid, box.reshape(grid.shape))
        shrunk = shrink(mask, Margin(left_mm=1.6, inferior_mm=2.5))
        before, after = mask.points_lps(), shrunk.points_lps()
        assert after[:, 0].max() == pytest.approx(before[:, 0].max() - 1.6), name
        assert after[:, 0].min() == pytest.approx(before[:, 0].min()), name
        assert after[:, 2].min() == pytest.approx(before[:, 2].min() + 2.5), name
        assert after[:, 2].max() == pytest.approx(before[:, 2].max()), name


# ---- properties ---------------------------------------------------------------------------
def _closing(mask: Mask, margin: Margin) -> NDArray[np.bool_]:
    """Binary closing by the sampled ellipsoid on a padded copy (the image edge counts outside
    only for the erosion, as in shrink)."""
    spacing = mask.grid.spacing_mm
    element = sampled_element(spacing, (margin.superior_mm, margin.posterior_mm, margin.left_mm))
    pad = max(element.shape)
    padded = np.pad(mask.to_array(), pad)
    dilated = ndimage.binary_dilation(padded, structure=element)
    dilated[:pad], dilated[-pad:] = False, False  # what expand keeps is inside the image only
    dilated[:, :pad], dilated[:, -pad:] = False, False
    dilated[:, :, :pad], dilated[:, :, -pad:] = False, False
    closed = ndimage.binary_erosion(dilated, structure=element, border_value=0)
    return np.asarray(closed[pad:-pad, pad:-pad, pad:-pad])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    spacing=st.sampled_from([(1.0, 1.0, 1.0), (2.5, 0.8, 0.8), (3.0, 1.0, 0.6)]),
    axial=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    si=st.sampled_from([0.0, 2.5, 5.0]),
    fill=st.floats(0.05, 0.6),
)
def test_morphological_properties(
    seed: int, spacing: tuple[float, float, float], axial: float, si: float, fill: float
) -> None:
    grid = ImageGrid((10, 14, 16), spacing, (0.0, 0.0, 0.0))
    x = blob(grid, seed, fill=fill)
    y = Mask.from_array(grid, x.to_array() | blob(grid, seed + 1, fill=0.1).to_array())
    margin = Margin.axial_si(axial, si)
    grown = quiet(lambda: expand(x, margin))
    a, g = x.to_array(), grown.to_array()
    assert not (a & ~g).any()  # expand contains its input
    assert not (shrink(x, margin).to_array() & ~a).any()  # shrink is inside its input
    reopened = shrink(grown, margin).to_array()
    closing = _closing(x, margin)
    assert not (reopened & ~closing).any()  # shrink(expand(x)) is inside the closing of x
    # Monotone in the mask and in the margin.
    assert not (g & ~quiet(lambda: expand(y, margin)).to_array()).any()
    bigger = Margin.axial_si(axial + 0.7, si + 1.0)
    assert not (g & ~quiet(lambda: expand(x, bigger)).to_array()).any()


def test_shrink_of_expand_is_the_closing_away_from_the_edges() -> None:
    grid = ImageGrid((16, 30, 30), (2.5, 0.8, 0.8), (0.0, 0.0, 0.0))
    x = blob(grid, 11, fill=0.2, border=6)
    margin = Margin.axial_si(2.0, 5.0)
    reopened = shrink(expand(x, margin), margin).to_array()
    np.testing.assert_array_equal(reopened, _closing(x, margin))
    assert reopened.sum() > x.voxel_count  # the closing filled something


def test_inputs_are_not_modified() -> None:
    grid = ImageGrid((8, 8, 8), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    mask = blob(grid, 5, border=2)
    before = mask.box_array.copy()
    expand(mask, Margin(1, 2, 0, 1, 2, 0))
    shrink(mask, Margin.isotropic(1))
    np.testing.assert_array_equal(mask.box_array, before)
