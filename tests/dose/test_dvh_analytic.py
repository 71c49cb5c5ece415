"""DVHs against closed forms (the Nelms style of benchmark): spheres, cylinders and cones in a
linear dose gradient, on several image and dose grids.

The dose rises linearly along the patient's superior axis (LPS z): D(z) = a + b (z - z0). The
volume of each shape above a plane z = t is known in closed form, so every D and V metric is:
for a sphere of radius R a cap, pi h^2 (3R - h) / 3 with h = R - (t - z0); for a cylinder along
z its length above t; for a cone (apex up) pi Rb^2 H / 3 (1 - s/H)^3 with s the height above the
base. Trilinear interpolation of a linear dose is exact, so what differs from the closed form
is the shape's voxels (and the half-voxel end caps), which the tolerances of issue 15 bound:
D metrics within 1 % or 0.1 Gy, D0.03cm3 of a 2 cm3 structure within 2 %, volumes within 1 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy.optimize import brentq

from spinetv.dose import dvh, evaluate_metric, parse_metric
from spinetv.errors import GeometryMismatchError
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.mask import Mask
from spinetv.io.rtdose import DoseGrid

A_GY, B_GY_PER_MM = 30.0, 0.8  # dose at the shape's centre, gradient along z

FEET_FIRST = np.array([[-1.0, 0, 0], [0, 1, 0], [0, 0, 1]]).T  # slices run inferior


def _grid(spacing: tuple[float, float, float], half_mm: float, direction=None) -> ImageGrid:
    # An odd number of voxels per axis: a voxel centre on the shapes' centre.
    shape = tuple(2 * int(math.ceil(half_mm / s)) + 1 for s in spacing)
    direction = np.eye(3)[:, ::-1] if direction is None else direction  # axial HFS: z, y, x
    centre_index = (np.asarray(shape) - 1) / 2
    origin = -(direction @ (centre_index * np.asarray(spacing)))
    return ImageGrid(shape, spacing, tuple(origin), direction, frame_of_reference_uid="1.2.3")


def _mask(grid: ImageGrid, inside: Callable[[np.ndarray], np.ndarray]) -> Mask:
    index = np.indices(grid.shape).reshape(3, -1).T
    points = grid.index_to_lps(index)
    return Mask.from_array(grid, inside(points).reshape(grid.shape))


def _linear_dose(grid: ImageGrid) -> DoseGrid:
    index = np.indices(grid.shape).reshape(3, -1).T
    z = grid.index_to_lps(index)[:, 2].reshape(grid.shape)
    return DoseGrid(grid, A_GY + B_GY_PER_MM * z, source="linear")


def _dose_at_height(t_mm: float) -> float:
    return A_GY + B_GY_PER_MM * t_mm


Shape = tuple[Callable[[np.ndarray], np.ndarray], Callable[[float], float], float]


def _on_slab_border(length_mm: float, slice_mm: float) -> float:
    """The nearest length ending on a border between slices (voxel centres at whole slices)."""
    return (round(length_mm / slice_mm - 0.5) + 0.5) * slice_mm


# Each shape: inside test, volume (mm3) above the plane z = t, total volume (mm3).
def _sphere(radius: float) -> Shape:
    def above(t: float) -> float:
        h = radius - min(max(t, -radius), radius)
        return math.pi * h * h * (3 * radius - h) / 3

    return (lambda p: (p**2).sum(axis=1) <= radius**2), above, 4 / 3 * math.pi * radius**3


def _cylinder(radius: float, half_length: float) -> Shape:
    def above(t: float) -> float:
        return math.pi * radius**2 * (half_length - min(max(t, -half_length), half_length))

    inside = lambda p: (p[:, 0] ** 2 + p[:, 1] ** 2 <= radius**2) & (np.abs(p[:, 2]) <= half_length)  # noqa: E731
    return inside, above, math.pi * radius**2 * 2 * half_length


def _cone(base_radius: float, height: float, base: float) -> Shape:

    def above(t: float) -> float:
        s = min(max(t - base, 0.0), height)
        return math.pi * base_radius**2 * height / 3 * (1 - s / height) ** 3

    def inside(p: np.ndarray) -> np.ndarray:
        s = p[:, 2] - base
        radius = base_radius * (1 - s / height)
        return (s >= 0) & (s <= height) & (p[:, 0] ** 2 + p[:, 1] ** 2 <= radius**2)

    return inside, above, math.pi * base_radius**2 * height / 3


def _d_at(above: Callable[[float], float], volume_mm3: float, lo: float, hi: float) -> float:
    """The dose the hottest ``volume_mm3`` receives, from the closed form."""
    t = brentq(lambda z: above(z) - volume_mm3, lo, hi)
    return _dose_at_height(t)


def _shape(name: str, slice_mm: float) -> tuple[Shape, float, float]:
    """The shape (its flat faces on borders between slices), its half extent and centroid z."""
    if name == "sphere 2 cc":
        return _sphere(7.816), 7.816, 0.0
    if name == "sphere 30 cc":
        return _sphere(19.27), 19.27, 0.0
    if name == "cylinder":
        half = _on_slab_border(20.0, slice_mm)
        return _cylinder(10.0, half), half, 0.0
    base = -_on_slab_border(15.0, slice_mm)
    # A cone's centroid lies a quarter of its height above its base.
    return _cone(15.0, 30.0, base), 30.0 + base, base + 7.5


SHAPES = ("sphere 2 cc", "sphere 30 cc", "cylinder", "cone")
GRIDS = {
    "image 1 mm, dose 2.5 mm": ((1.0, 1.0, 1.0), (2.5, 2.5, 2.5), None),
    "image 0.6 x 0.6 x 2 mm, dose 3 mm feet-first": ((2.0, 0.6, 0.6), (3.0, 3.0, 3.0), FEET_FIRST),
    "image 0.8 mm, dose 2 x 4 x 4 mm": ((0.8, 0.8, 0.8), (2.0, 4.0, 4.0), None),
}


@pytest.mark.parametrize("grids", list(GRIDS), ids=list(GRIDS))
@pytest.mark.parametrize("shape", SHAPES)
def test_dvh_metrics_match_the_closed_form(shape: str, grids: str) -> None:
    image_spacing, dose_spacing, dose_direction = GRIDS[grids]
    (inside, above, total_mm3), half, centroid_z = _shape(shape, image_spacing[0])
    image = _grid(image_spacing, half + 3)
    dose = _linear_dose(_grid(dose_spacing, half + 12, dose_direction))
    mask = _mask(image, inside)
    result = dvh(mask, dose, name=shape)
    assert result.outside_cc == 0
    # Volume: the voxels against the closed form.
    assert result.volume_cc == pytest.approx(total_mm3 / 1000, rel=0.01)
    extent = (centroid_z - 40, centroid_z + 40)
    for notation, fraction in (("D2%", 0.02), ("D50%", 0.5), ("D98%", 0.98)):
        expected = _d_at(above, fraction * total_mm3, *extent)
        value = evaluate_metric(result, notation).value
        assert abs(value - expected) <= max(0.01 * expected, 0.1), (notation, value, expected)
    # Mean dose: the dose at the centroid's height (the dose is linear).
    expected_mean = _dose_at_height(centroid_z)
    assert evaluate_metric(result, "Dmean").value == pytest.approx(expected_mean, abs=0.1)
    # V at a dose: the share above the plane where that dose is reached. Within 1 % of the
    # structure's volume; 1.5 % for the 2 cm3 sphere, whose voxels alone (1 mm, 0.6 x 0.6 x 2
    # mm) put a cap of it 1.2-1.3 % of its volume off the sphere's cap.
    threshold = _dose_at_height(centroid_z + half / 3)
    expected_share = 100 * above(centroid_z + half / 3) / total_mm3
    share = evaluate_metric(result, f"V{threshold:.4f}Gy").value
    assert share == pytest.approx(expected_share, abs=1.5 if shape == "sphere 2 cc" else 1.0)


@pytest.mark.parametrize("grids", list(GRIDS), ids=list(GRIDS))
def test_d003cc_of_a_2cc_structure_within_2_percent(grids: str) -> None:
    image_spacing, dose_spacing, dose_direction = GRIDS[grids]
    (inside, above, total_mm3), half, _ = _shape("sphere 2 cc", image_spacing[0])
    mask = _mask(_grid(image_spacing, half + 3), inside)
    result = dvh(mask, _linear_dose(_grid(dose_spacing, half + 12, dose_direction)))
    expected = _d_at(above, 30.0, -half - 1, half + 1)
    value = evaluate_metric(result, "D0.03cm³").value
    assert value == pytest.approx(expected, rel=0.02)
    assert np.prod(result.supersampling) > 1  # small: sampled finer than its voxels


def test_metric_notation_and_its_errors() -> None:
    from spinetv.dose import MetricError

    assert parse_metric("D0.03cc").at == pytest.approx(0.03)
    assert parse_metric("D 2 %").kind == "D_fraction"
    assert parse_metric("V20Gy[cc]").unit == "cc" and parse_metric("V20Gy").unit == "%"
    assert parse_metric("V95%").at == pytest.approx(0.95)
    for bad in ("D120%", "X5", "V5", "Dmedian"):
        with pytest.raises(MetricError):
            parse_metric(bad)
    grid = _grid((2.0, 2.0, 2.0), 10)
    mask = _mask(grid, lambda p: (p**2).sum(axis=1) <= 25)
    result = dvh(mask, _linear_dose(grid))
    with pytest.raises(MetricError, match="prescription"):
        evaluate_metric(result, "V95%")
    assert evaluate_metric(result, "V95%", prescription_gy=A_GY).value == pytest.approx(
        100 * result.volume_at_dose_cc(0.95 * A_GY) / result.sampled_cc
    )
    with pytest.raises(MetricError, match="holds only"):
        evaluate_metric(result, "D5cc")


def test_a_dose_elsewhere_is_refused_or_reported() -> None:
    grid = _grid((2.0, 2.0, 2.0), 10)
    mask = _mask(grid, lambda p: (p**2).sum(axis=1) <= 64)
    other_frame = DoseGrid(grid.with_frame_of_reference("9.9"), np.ones(grid.shape))
    with pytest.raises(GeometryMismatchError, match="frame of reference"):
        dvh(mask, other_frame)
    # A dose grid covering only the upper half: the rest is reported outside, not dosed.
    small = _grid((2.0, 2.0, 2.0), 10)
    shifted = ImageGrid(small.shape, small.spacing_mm,
                        tuple(np.asarray(small.origin_lps_mm) + [0, 0, 10.0]),
                        small.direction, frame_of_reference_uid="1.2.3")
    result = dvh(mask, _linear_dose(shifted))
    assert 0.3 * mask.volume_cc < result.outside_cc < 0.7 * mask.volume_cc
    assert result.sampled_cc + result.outside_cc == pytest.approx(mask.volume_cc)


def test_a_structure_too_large_to_sample_whole_is_sampled_evenly() -> None:
    from spinetv.dose.dvh import MAX_SAMPLES, sampling_stride

    # A 0.77 litre cylinder on 0.8 mm voxels: 1.5 million voxels.
    image = _grid((0.8, 0.8, 0.8), 62)
    inside, above, total_mm3 = _cylinder(55.0, _on_slab_border(80.0, 0.8) / 2)
    mask = _mask(image, inside)
    assert mask.voxel_count > MAX_SAMPLES
    stride = sampling_stride(mask)
    assert np.prod(stride) > 1
    result = dvh(mask, _linear_dose(_grid((2.5, 2.5, 2.5), 70)))
    assert result.doses.size <= MAX_SAMPLES
    assert result.sampled_cc == pytest.approx(result.volume_cc, rel=0.01)
    assert evaluate_metric(result, "Dmean").value == pytest.approx(A_GY, abs=0.1)
    half = _on_slab_border(80.0, 0.8) / 2
    expected = _d_at(above, 0.5 * total_mm3, -half - 1, half + 1)
    assert evaluate_metric(result, "D50%").value == pytest.approx(expected, abs=0.1)
