"""The phantom's spinal-canal centreline and the local frames that follow it.

The centreline lies in the patient's mid-sagittal plane (x = 0) and is made of at most two
circular arcs: the mobile spine (its curvature gives the lordosis or kyphosis) and the sacrum
(kyphotic, hinged at the middle of the L5-S1 disc). Local coordinates of a point are

* ``s``: arc length along the centreline (mm, increasing superiorly),
* ``u``: lateral offset (mm, towards the patient's left, +x for a non-rotated spine),
* ``v``: offset in the sagittal plane perpendicular to the centreline (mm, posterior),

with the axial rotation of the spine applied last: (u, v) is turned by ``rotation`` about the
centreline, positive turning the vertebral body towards the patient's left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Arc", "Centreline"]

_STRAIGHT = 1e-9

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Arc:
    """A circular arc (or a straight line) in the sagittal plane.

    Parameters
    ----------
    s_anchor : float
        Arc length at the anchor point, mm.
    anchor_lps : ndarray, shape (3,)
        Position of the anchor, LPS mm.
    angle_rad : float
        Tilt of the tangent at the anchor from +z towards +y (posterior), radians.
    curvature_per_mm : float
        d(angle)/ds; positive bends the ends posteriorly (lordosis).
    """

    s_anchor: float
    anchor_lps: FloatArray
    angle_rad: float
    curvature_per_mm: float

    def tangent(self, s: FloatArray | float) -> FloatArray:
        """Unit tangent (superior direction) at arc length ``s``, shape (..., 3)."""
        angle = self.angle_rad + self.curvature_per_mm * (
            np.asarray(s, dtype=float) - self.s_anchor
        )
        return np.stack([np.zeros_like(angle), np.sin(angle), np.cos(angle)], axis=-1)

    def ap_axis(self, s: FloatArray | float) -> FloatArray:
        """Unit posterior axis perpendicular to the tangent at ``s``, shape (..., 3)."""
        angle = self.angle_rad + self.curvature_per_mm * (
            np.asarray(s, dtype=float) - self.s_anchor
        )
        return np.stack([np.zeros_like(angle), np.cos(angle), -np.sin(angle)], axis=-1)

    def point(self, s: FloatArray | float) -> FloatArray:
        """Centreline position at arc length ``s``, LPS mm, shape (..., 3)."""
        sigma = np.asarray(s, dtype=float) - self.s_anchor
        kappa = self.curvature_per_mm
        a0 = self.angle_rad
        if abs(kappa) < _STRAIGHT:
            dy = sigma * np.sin(a0)
            dz = sigma * np.cos(a0)
        else:
            dy = (np.cos(a0) - np.cos(a0 + kappa * sigma)) / kappa
            dz = (np.sin(a0 + kappa * sigma) - np.sin(a0)) / kappa
        offset = np.stack([np.zeros_like(dy), dy, dz], axis=-1)
        return np.asarray(self.anchor_lps) + offset

    def to_local(
        self, x: FloatArray, y: FloatArray, z: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Arc coordinates (u, v, s) of LPS points, before any axial rotation."""
        dx = x - self.anchor_lps[0]
        dy = y - self.anchor_lps[1]
        dz = z - self.anchor_lps[2]
        sin0, cos0 = np.sin(self.angle_rad), np.cos(self.angle_rad)
        along = dy * sin0 + dz * cos0
        across = dy * cos0 - dz * sin0
        kappa = self.curvature_per_mm
        if abs(kappa) < _STRAIGHT:
            return dx, across, self.s_anchor + along
        radial = 1.0 - kappa * across
        sigma = np.arctan2(kappa * along, radial) / kappa
        v = (1.0 - np.hypot(radial, kappa * along)) / kappa
        return dx, v, self.s_anchor + sigma


@dataclass(frozen=True)
class Centreline:
    """The canal centreline: the mobile-spine arc, optionally the sacral arc, and the rotation.

    Parameters
    ----------
    upper : Arc
        The arc of C1-L5 (used above the junction).
    lower : Arc or None
        The sacral arc (used below the junction), when the phantom holds sacral segments.
    junction_s : float
        Arc length of the hinge between the arcs (middle of the L5-S1 disc).
    rotation_rad : float
        Axial rotation of the spine about the centreline, radians.
    """

    upper: Arc
    lower: Arc | None
    junction_s: float
    rotation_rad: float

    def arc_for(self, sacral: bool) -> Arc:
        """The arc a level is built on."""
        if sacral and self.lower is not None:
            return self.lower
        return self.upper

    def _rotate(self, u: FloatArray, v: FloatArray) -> tuple[FloatArray, FloatArray]:
        cos_r, sin_r = np.cos(self.rotation_rad), np.sin(self.rotation_rad)
        return cos_r * u + sin_r * v, -sin_r * u + cos_r * v

    def local_on_arc(
        self, arc: Arc, x: FloatArray, y: FloatArray, z: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Rotated local (u, v, s) of LPS points on one arc (extended beyond its range)."""
        u, v, s = arc.to_local(x, y, z)
        u_rot, v_rot = self._rotate(u, v)
        return u_rot, v_rot, s

    def local(
        self, x: FloatArray, y: FloatArray, z: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Rotated local (u, v, s) of LPS points, each taken on the arc of its side of the hinge.

        The two arcs meet with a kink; the plane bisecting it splits space, so the cross-section
        coordinates (u, v) stay continuous across the hinge (a continuous canal).
        """
        if self.lower is None:
            return self.local_on_arc(self.upper, x, y, z)
        joint = self.upper.point(self.junction_s)
        normal = self.upper.tangent(self.junction_s) + self.lower.tangent(self.junction_s)
        normal = normal / np.linalg.norm(normal)
        side = (x - joint[0]) * normal[0] + (y - joint[1]) * normal[1] + (z - joint[2]) * normal[2]
        above = side >= 0
        u_up, v_up, s_up = self.local_on_arc(self.upper, x, y, z)
        u_lo, v_lo, s_lo = self.local_on_arc(self.lower, x, y, z)
        return (
            np.where(above, u_up, u_lo),
            np.where(above, v_up, v_lo),
            np.where(above, s_up, s_lo),
        )

    def to_lps(self, arc: Arc, u: FloatArray, v: FloatArray, s: FloatArray) -> FloatArray:
        """LPS positions of rotated local coordinates on ``arc``, shape (..., 3)."""
        cos_r, sin_r = np.cos(self.rotation_rad), np.sin(self.rotation_rad)
        u0 = cos_r * u - sin_r * v
        v0 = sin_r * u + cos_r * v
        lr = np.array([1.0, 0.0, 0.0])
        return arc.point(s) + u0[..., None] * lr + v0[..., None] * arc.ap_axis(s)

    def axes_lps(self, arc: Arc, s: float) -> FloatArray:
        """3x3 matrix whose columns are the local LR, AP and SI unit axes at ``s`` (LPS)."""
        cos_r, sin_r = np.cos(self.rotation_rad), np.sin(self.rotation_rad)
        lr0 = np.array([1.0, 0.0, 0.0])
        ap0 = arc.ap_axis(s)
        lr = cos_r * lr0 + sin_r * ap0
        ap = -sin_r * lr0 + cos_r * ap0
        return np.column_stack([lr, ap, arc.tangent(s)])
