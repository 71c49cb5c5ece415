"""Analytic phantoms (spheres, ellipsoids, hollow spheres, tori) on a CT grid, for RTSTRUCT tests.

Shapes are defined in LPS mm; a voxel is inside when its centre is. Analytic volumes are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinetv.geometry.grid import ImageGrid


@dataclass(frozen=True)
class Shape:
    name: str
    analytic_cc: float
    kind: str
    params: tuple[float, ...]
    centre_lps: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def inside(self, points_lps: np.ndarray) -> np.ndarray:
        p = points_lps - np.asarray(self.centre_lps)
        if self.kind == "sphere":
            return np.linalg.norm(p, axis=-1) <= self.params[0]
        if self.kind == "ellipsoid":
            a, b, c = self.params
            return (p[..., 0] / a) ** 2 + (p[..., 1] / b) ** 2 + (p[..., 2] / c) ** 2 <= 1.0
        if self.kind == "hollow":
            distance = np.linalg.norm(p, axis=-1)
            return (distance <= self.params[0]) & (distance > self.params[1])
        if self.kind == "torus":
            big, small = self.params
            ring = np.hypot(p[..., 0], p[..., 1]) - big
            return ring**2 + p[..., 2] ** 2 <= small**2
        raise ValueError(self.kind)


def sphere(name: str, cc: float, centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Shape:
    radius = (cc * 1000.0 * 3.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    return Shape(name, cc, "sphere", (radius,), centre)


def ellipsoid(name: str, a: float, b: float, c: float, centre=(0.0, 0.0, 0.0)) -> Shape:
    return Shape(name, 4.0 / 3.0 * np.pi * a * b * c / 1000.0, "ellipsoid", (a, b, c), centre)


def hollow(name: str, outer: float, inner: float, centre=(0.0, 0.0, 0.0)) -> Shape:
    cc = 4.0 / 3.0 * np.pi * (outer**3 - inner**3) / 1000.0
    return Shape(name, cc, "hollow", (outer, inner), centre)


def torus(name: str, big: float, small: float, centre=(0.0, 0.0, 0.0)) -> Shape:
    return Shape(name, 2.0 * np.pi**2 * big * small**2 / 1000.0, "torus", (big, small), centre)


def standard_shapes() -> list[Shape]:
    """1 to 500 cc: spheres, an ellipsoid, a hollow sphere and a torus."""
    return [
        sphere("Sphere_1cc", 1.0, (10.0, -8.0, 12.0)),
        sphere("Sphere_5cc", 5.0, (-12.0, 10.0, -6.0)),
        sphere("Sphere_50cc", 50.0),
        sphere("Sphere_500cc", 500.0),
        ellipsoid("Ellipsoid", 30.0, 20.0, 15.0),
        hollow("HollowSphere", 28.0, 18.0),
        torus("Torus", 25.0, 10.0),
    ]


def voxel_centres_lps(grid: ImageGrid) -> np.ndarray:
    return grid.index_to_lps(np.stack(np.indices(grid.shape), axis=-1))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total

