"""Benchmark: exact margins (spinetv.expand) against the dilations a user would write.

A 512x512x200 grid of 1 mm voxels holds a ~50 cc lumpy vertebral-body-like CTV (and, for the
analytic check, a 50 cc sphere). Two margins: 2 mm axial / 5 mm SI, and 3 mm isotropic.

Peers, measured in the same run:

* scipy: ``scipy.ndimage.binary_dilation`` on the FULL grid with the ellipsoidal structuring
  element sampled exactly at voxel offsets (what a user typically writes);
* SimpleITK: ``sitk.BinaryDilate`` on the full image with a ball kernel of radius (2, 2, 5) or
  (3, 3, 3) voxels (time of the filter alone; the numpy <-> SimpleITK conversion is reported
  separately).

Accuracy is measured against the exact Minkowski sum on voxel centres (here: scipy's dilation with
the exactly sampled element, which is exact by construction) and, for the sphere, against the
analytic answer: the voxel centres within Euclidean distance r of the ellipsoid (or ball) of the
margin, i.e. the continuous Minkowski sum of the sphere and the margin set, sampled at centres.

Run: ``python benchmarks/bench_margins.py``; writes ``benchmarks/results/margins.json``.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import SimpleITK as sitk
from scipy import ndimage

from spinetv.geometry import ImageGrid, Margin, Mask, expand

SHAPE = (200, 512, 512)  # slice (SI), row (AP), column (LR)
SPACING_MM = (1.0, 1.0, 1.0)
CENTRE_IJK = np.array([100.3, 256.2, 255.6])  # off the voxel centres on purpose
RESULTS = Path(__file__).resolve().parent / "results" / "margins.json"


def _timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _offsets_mm(box: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k, j, i = np.ogrid[box]
    # LPS for the HFS grid: x from the column, y from the row, z from the slice.
    x = (i - CENTRE_IJK[2]) * SPACING_MM[2]
    y = (j - CENTRE_IJK[1]) * SPACING_MM[1]
    z = (k - CENTRE_IJK[0]) * SPACING_MM[0]
    return x, y, z


def _lumpy_ctv() -> np.ndarray:
    """A ~50 cc lumpy ellipsoid (20 x 17 x 35 mm semi-axes, 8 % bumps)."""
    full = np.zeros(SHAPE, dtype=bool)
    box = (slice(50, 150), slice(220, 292), slice(220, 292))
    x, y, z = _offsets_mm(box)
    radius = np.sqrt((x / 20.0) ** 2 + (y / 17.0) ** 2 + (z / 35.0) ** 2)
    theta = np.arctan2(y, x)
    phi = np.arctan2(z / 35.0, np.hypot(x / 20.0, y / 17.0))
    bumps = 1.0 + 0.08 * np.sin(3 * theta) * np.cos(2 * phi) + 0.05 * np.cos(5 * phi)
    full[box] = radius <= bumps
    return full


def _sphere(radius_mm: float) -> np.ndarray:
    full = np.zeros(SHAPE, dtype=bool)
    box = (slice(60, 140), slice(216, 296), slice(216, 296))
    x, y, z = _offsets_mm(box)
    full[box] = x * x + y * y + z * z <= radius_mm * radius_mm
    return full


def _distance_to_ellipsoid(q: np.ndarray, semi_mm: np.ndarray) -> np.ndarray:
    """Euclidean distance (mm) from points q (n, 3) to the solid axis-aligned ellipsoid."""
    q = np.abs(q)
    inside = ((q / semi_mm) ** 2).sum(axis=1) <= 1.0
    # The closest surface point is q_i a_i^2 / (a_i^2 + t) with t >= 0 the root of
    # sum (a_i q_i / (a_i^2 + t))^2 = 1, which decreases in t: bisection.
    a2 = semi_mm**2
    lo = np.zeros(len(q))
    hi = np.full(len(q), float(np.linalg.norm(q, axis=1).max() * semi_mm.max() + 1.0))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        value = (((semi_mm * q) / (a2 + mid[:, None])) ** 2).sum(axis=1)
        outside = value > 1.0
        lo = np.where(outside, mid, lo)
        hi = np.where(outside, hi, mid)
    t = 0.5 * (lo + hi)
    closest = q * a2 / (a2 + t[:, None])
    distance = np.linalg.norm(q - closest, axis=1)
    return np.where(inside, 0.0, distance)


def _analytic_sphere_sum(radius_mm: float, semi_mm: tuple[float, float, float]) -> np.ndarray:
    """Voxel centres within radius_mm of the ellipsoid (semi-axes x, y, z mm) about the centre."""
    full = np.zeros(SHAPE, dtype=bool)
    reach = radius_mm + max(semi_mm) + 2
    box = tuple(
        slice(int(c - reach / s), int(c + reach / s) + 2) for c, s in zip(CENTRE_IJK, SPACING_MM)
    )
    x, y, z = _offsets_mm(box)  # type: ignore[arg-type]
    points = np.stack(np.broadcast_arrays(x, y, z), axis=-1).reshape(-1, 3)
    distance = _distance_to_ellipsoid(points, np.asarray(semi_mm, dtype=float))
    full[box] = (distance <= radius_mm + 1e-9).reshape(full[box].shape)
    return full


def _element(semi_voxels: tuple[float, float, float]) -> np.ndarray:
    """The ellipsoid sampled at voxel offsets, semi-axes in voxels in array order."""
    half = [int(np.floor(s + 1e-9)) for s in semi_voxels]
    k, j, i = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    return (k / semi_voxels[0]) ** 2 + (j / semi_voxels[1]) ** 2 + (i / semi_voxels[2]) ** 2 <= (
        1 + 1e-6
    )


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def _compare(name: str, result: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    voxel_cc = float(np.prod(SPACING_MM)) / 1000.0
    return {
        "dice": round(_dice(result, reference), 6),
        "volume_cc": round(np.count_nonzero(result) * voxel_cc, 4),
        "reference_volume_cc": round(np.count_nonzero(reference) * voxel_cc, 4),
        "voxels_differing": int(np.count_nonzero(result ^ reference)),
    }


def run_case(
    label: str, ctv: np.ndarray, margin: Margin, analytic: np.ndarray | None
) -> dict[str, Any]:
    grid = ImageGrid(SHAPE, SPACING_MM, (0.0, 0.0, 0.0))
    mask = Mask.from_array(grid, ctv)
    semi_voxels = (margin.superior_mm, margin.posterior_mm, margin.left_mm)
    element = _element(semi_voxels)

    t_spinetv, grown = _timed(lambda: expand(mask, margin), repeats=9)
    t_separable, _ = _timed(lambda: expand(mask, margin, method="separable"), repeats=5)
    t_edt, _ = _timed(lambda: expand(mask, margin, method="edt"), repeats=5)
    t_element, _ = _timed(lambda: expand(mask, margin, method="element"), repeats=3)
    spinetv_full = grown.to_array()

    t_scipy, scipy_full = _timed(lambda: ndimage.binary_dilation(ctv, structure=element), repeats=2)

    t_convert_start = time.perf_counter()
    image = sitk.GetImageFromArray(ctv.astype(np.uint8))
    t_convert = time.perf_counter() - t_convert_start
    radius_xyz = [
        int(round(margin.left_mm)),
        int(round(margin.posterior_mm)),
        int(round(margin.superior_mm)),
    ]
    t_sitk, sitk_image = _timed(
        lambda: sitk.BinaryDilate(image, radius_xyz, sitk.sitkBall, 0.0, 1.0), repeats=2
    )
    sitk_full = sitk.GetArrayFromImage(sitk_image).astype(bool)

    exact = scipy_full  # exact by construction: the element is the margin sampled at offsets
    case: dict[str, Any] = {
        "case": label,
        "margin": margin.describe(),
        "input_volume_cc": round(mask.volume_cc, 3),
        "times_s": {
            "spinetv_expand_auto": round(t_spinetv, 5),
            "spinetv_expand_separable": round(t_separable, 5),
            "spinetv_expand_edt": round(t_edt, 5),
            "spinetv_expand_element": round(t_element, 5),
            "scipy_binary_dilation_full_grid": round(t_scipy, 4),
            "sitk_binary_dilate_ball_full_grid": round(t_sitk, 4),
            "sitk_numpy_conversion": round(t_convert, 4),
        },
        "speedup_vs_scipy_full": round(t_scipy / t_spinetv, 1),
        "speedup_vs_sitk_full": round(t_sitk / t_spinetv, 1),
        "vs_exact_minkowski": {
            "spinetv": _compare("spinetv", spinetv_full, exact),
            "scipy_full": _compare("scipy", scipy_full, exact),
            "sitk_ball": _compare("sitk", sitk_full, exact),
        },
    }
    if analytic is not None:
        case["vs_analytic"] = {
            "spinetv": _compare("spinetv", spinetv_full, analytic),
            "scipy_full": _compare("scipy", scipy_full, analytic),
            "sitk_ball": _compare("sitk", sitk_full, analytic),
        }
    return case


def main() -> None:
    ctv = _lumpy_ctv()
    sphere_radius_mm = (3 * 50000.0 / (4 * np.pi)) ** (1 / 3)  # 50 cc
    sphere = _sphere(sphere_radius_mm)
    cases = []
    for margin, semi in (
        (Margin.axial_si(2, 5), (2.0, 2.0, 5.0)),
        (Margin.isotropic(3), (3.0,) * 3),
    ):
        cases.append(run_case("lumpy CTV", ctv, margin, None))
        analytic = _analytic_sphere_sum(sphere_radius_mm, semi)
        cases.append(run_case(f"sphere r={sphere_radius_mm:.2f} mm", sphere, margin, analytic))

    print(
        f"{'case':<22}{'margin':<22}{'spinetv s':>11}{'scipy s':>10}{'sitk s':>9}"
        f"{'x scipy':>9}{'x sitk':>8}{'Dice sitk':>10}{'Dice an.':>10}"
    )
    for case in cases:
        t = case["times_s"]
        an = case.get("vs_analytic", {}).get("spinetv", {}).get("dice", float("nan"))
        print(
            f"{case['case']:<22}{case['margin']:<22}{t['spinetv_expand_auto']:>11.4f}"
            f"{t['scipy_binary_dilation_full_grid']:>10.3f}{t['sitk_binary_dilate_ball_full_grid']:>9.3f}"
            f"{case['speedup_vs_scipy_full']:>9.1f}{case['speedup_vs_sitk_full']:>8.1f}"
            f"{case['vs_exact_minkowski']['sitk_ball']['dice']:>10.4f}{an:>10.4f}"
        )
    payload = {
        "benchmark": "margins",
        "grid": {"shape": SHAPE, "spacing_mm": SPACING_MM},
        "environment": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "simpleitk": sitk.Version_VersionString(),
            "machine": platform.machine(),
            "processor": platform.processor(),
        },
        "cases": cases,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
