"""A tiny analytic vertebra column for the anatomy tests (independent of spinetv.phantom).

Each vertebra is built in its local frame (u left, v posterior, s superior; mm) from boxes and
an elliptic body around an elliptic canal, then placed along a straight column that may be
tilted (sagittal, like lordosis) and rotated (axial), and voxelised on a grid of any patient
orientation. The pedicles sit in the lower half and the laminae in the upper half of each
vertebra, so the bony ring is open on every axial slice and closes only over the height.
The true sectors follow the section-2 rule with the analytic canal walls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinetv.geometry import ImageGrid, Mask

CANAL_HALF_WIDTH_MM = 9.0
CANAL_HALF_DEPTH_MM = 7.0
LEVEL_PITCH_MM = 34.0

ORIENTATIONS = {
    # columns: LPS directions of (slice, row, column)
    "HFS": np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float),
    "FFS": np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float),
    "HFP": np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=float),
}


@dataclass(frozen=True)
class Column:
    grid: ImageGrid
    vertebrae: dict[str, Mask]
    parts: dict[str, dict[int, Mask]]
    canal: Mask
    cord: Mask


def _vertebra_parts(u: NDArray, v: NDArray, s: NDArray) -> tuple[NDArray, NDArray]:
    """Bone and true sector (0 outside) of one vertebra at local points."""
    w, h = CANAL_HALF_WIDTH_MM, CANAL_HALF_DEPTH_MM
    canal = (u / w) ** 2 + (v / h) ** 2 <= 1.0
    body = ((u / 20.0) ** 2 + ((v + h + 14.0) / 15.0) ** 2 <= 1.0) & (np.abs(s) <= 12.0)
    body |= (np.abs(u) <= 14.0) & (v >= -h - 6.0) & (v <= -h + 1.0) & (np.abs(s) <= 12.0)
    pedicle = (np.abs(u) >= w - 2.0) & (np.abs(u) <= w + 5.0) & (v >= -h) & (v <= 2.0)
    pedicle &= (s >= -11.0) & (s <= -1.0)
    lamina = (np.abs(u) <= w + 5.0) & (v >= 0.0) & (v <= h + 5.0) & (s >= 1.0) & (s <= 11.0)
    transverse = (np.abs(u) >= w + 4.0) & (np.abs(u) <= w + 22.0) & (v >= 1.0) & (v <= 6.0)
    transverse &= np.abs(s) <= 4.0
    spinous = (np.abs(u) <= 3.0) & (v >= h) & (v <= h + 28.0) & (s >= -3.0) & (s <= 9.0)
    bone = (body | pedicle | lamina | transverse | spinous) & ~canal
    left = u > 0
    truth = np.where(v < -h, 1, np.where(v < 0.0, np.where(left, 2, 6), np.where(left, 3, 5)))
    truth = np.where((v > h) & (np.abs(u) <= w) & (v >= 0.0), 4, truth)
    return bone, np.where(bone, truth, 0)


def _rotation(tilt_deg: float, rotation_deg: float) -> NDArray:
    """Rows: the local u, v, s axes in LPS (tilt about LR, then axial rotation about s)."""
    t, r = np.radians(tilt_deg), np.radians(rotation_deg)
    s_axis = np.array([0.0, -np.sin(t), np.cos(t)])
    v0 = np.array([0.0, np.cos(t), np.sin(t)])
    u0 = np.cross(v0, s_axis)
    u_axis = np.cos(r) * u0 + np.sin(r) * v0
    v_axis = np.cross(s_axis, u_axis)
    return np.stack([u_axis, v_axis, s_axis])


def make_column(
    *,
    levels: tuple[str, ...] = ("L2", "L3", "L4"),
    spacing_mm: tuple[float, float, float] = (1.5, 1.0, 1.0),
    orientation: str = "HFS",
    tilt_deg: float = 0.0,
    rotation_deg: float = 0.0,
) -> Column:
    """Voxelise the column; ``spacing_mm`` is (slice, row, column)."""
    rot = _rotation(tilt_deg, rotation_deg)
    n = len(levels)
    centres_local_s = (np.arange(n)[::-1] - (n - 1) / 2.0) * LEVEL_PITCH_MM
    extent_mm = np.array([LEVEL_PITCH_MM * n / 2 + 30.0, 75.0, 60.0])  # half sizes along s, v, u
    corners = np.array(
        [[su * extent_mm[2], sv * extent_mm[1], ss * extent_mm[0]]
         for su in (-1, 1) for sv in (-1, 1) for ss in (-1, 1)]
    ) @ rot
    low, high = corners.min(axis=0), corners.max(axis=0)
    direction = ORIENTATIONS[orientation]
    spacing = np.asarray(spacing_mm, dtype=float)
    sizes_lps = high - low
    # grid axis a runs along LPS axis argmax|direction[:, a]|
    shape = []
    for axis in range(3):
        lps_axis = int(np.argmax(np.abs(direction[:, axis])))
        shape.append(int(np.ceil(sizes_lps[lps_axis] / spacing[axis])) + 1)
    # An odd offset keeps voxel centres off the analytic sector boundaries (no ties).
    origin = np.where(direction.sum(axis=1) > 0, low, high) + np.array([0.37, 0.29, 0.23])
    grid = ImageGrid(tuple(shape), tuple(spacing), tuple(origin), direction)
    ijk = np.indices(grid.shape).reshape(3, -1).T
    local_all = grid.index_to_lps(ijk) @ rot.T
    vertebrae: dict[str, Mask] = {}
    parts: dict[str, dict[int, Mask]] = {}
    canal = np.zeros(grid.shape, dtype=bool)
    u, v, s_all = local_all.T
    canal_flat = (u / CANAL_HALF_WIDTH_MM) ** 2 + (v / CANAL_HALF_DEPTH_MM) ** 2 <= 1.0
    canal_flat &= np.abs(s_all) <= LEVEL_PITCH_MM * n / 2
    canal = canal_flat.reshape(grid.shape)
    cord_flat = (u / 4.0) ** 2 + (v / 3.5) ** 2 <= 1.0
    cord_flat &= np.abs(s_all) <= LEVEL_PITCH_MM * n / 2
    for level, centre in zip(levels, centres_local_s):
        bone, truth = _vertebra_parts(u, v, s_all - centre)
        vertebrae[level] = Mask.from_array(grid, bone.reshape(grid.shape))
        truth_grid = truth.reshape(grid.shape)
        parts[level] = {k: Mask.from_array(grid, truth_grid == k) for k in range(1, 7)}
    return Column(
        grid,
        vertebrae,
        parts,
        Mask.from_array(grid, canal),
        Mask.from_array(grid, cord_flat.reshape(grid.shape)),
    )


def dice(a: Mask, b: Mask) -> float:
    box = a.box.union(b.box)
    x, y = a.in_box(box), b.in_box(box)
    total = int(x.sum() + y.sum())
    return 1.0 if total == 0 else 2.0 * int((x & y).sum()) / total
