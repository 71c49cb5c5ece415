"""A synthetic block vertebra whose six sectors are known exactly, and GTV blocks inside it.

Axial plane (rows posterior, columns towards the patient's LEFT on the default grid):

    body (1)        rows  2-15, cols 12-35
    canal (empty)   rows 16-27, cols 19-28
    right pedicle 6 rows 16-23, cols 12-18     left pedicle 2  rows 16-23, cols 29-35
    right TP+lam. 5 rows 24-31, cols  4-21     left TP+lam. 3  rows 24-31, cols 26-43
    spinous (4)     rows 24-41, cols 22-25 (minus the canal)

The plane is mirror-symmetric about column 23.5. Each level spans 8 slices with a one-slice gap
(the "disc"). With ``flip_lr`` the grid's column axis points to the patient's RIGHT and the
arrays are mirrored, so the anatomy in patient space is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from spinetv.geometry import ImageGrid, Mask

ROWS, COLS, LEVEL_SLICES = 44, 52, 10

#: GTV blocks (rows, cols) in the canonical orientation; slices 2-5 of the level unless "full".
BLOCKS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "body_focal": ((4, 8), (21, 27)),
    "body_lat_left": ((4, 8), (28, 34)),
    "body_lat_right": ((4, 8), (14, 20)),
    "body_diffuse": ((4, 8), (13, 35)),
    "body_near_mid": ((4, 8), (22, 30)),  # voxels -2 to +6 mm from the mid-sagittal plane
    "body_fill_right": ((2, 16), (12, 28)),  # 2/3 of the body, only the right third reached
    "body_fill_left": ((2, 16), (20, 36)),
    "pedicle_left": ((18, 22), (31, 35)),
    "pedicle_right": ((18, 22), (13, 17)),
    "lamina_left": ((26, 30), (34, 40)),
    "lamina_right": ((26, 30), (8, 14)),
    "spinous": ((32, 38), (23, 25)),
    "epidural_left": ((17, 20), (25, 28)),
    "epidural_right": ((17, 20), (20, 23)),
    "paraspinal_left": ((20, 26), (44, 47)),
    "paraspinal_right": ((20, 26), (1, 4)),
    "body_tiny": ((5, 6), (21, 23)),  # 2 voxels per slice: below min_overlap_cc
}
FULL_HEIGHT = {"body_fill_right", "body_fill_left"}

MIRROR_SECTOR = {1: 1, 2: 6, 3: 5, 4: 4, 5: 3, 6: 2}


def mirror_block(name: str) -> str:
    """The block on the other side of the patient."""
    if "left" in name:
        return name.replace("left", "right")
    return name.replace("right", "left")


def sector_plane() -> np.ndarray:
    """The canonical axial label plane (rows, cols)."""
    plane = np.zeros((ROWS, COLS), dtype=np.uint8)
    plane[24:32, 4:22] = 5
    plane[24:32, 26:44] = 3
    plane[24:42, 22:26] = 4
    plane[16:24, 12:19] = 6
    plane[16:24, 29:36] = 2
    plane[2:16, 12:36] = 1
    plane[16:28, 19:29] = 0  # the canal
    return plane


def canal_plane() -> np.ndarray:
    plane = np.zeros((ROWS, COLS), dtype=bool)
    plane[16:28, 19:29] = True
    return plane


@dataclass(frozen=True)
class SyntheticSpine:
    """A stack of block vertebrae on one grid."""

    grid: ImageGrid
    names: tuple[str, ...]
    flip_lr: bool

    def slices_of(self, name: str) -> tuple[int, int]:
        """First and one-past-last slice of a level (cranial levels on higher slices)."""
        index = len(self.names) - 1 - self.names.index(name)
        return index * LEVEL_SLICES + 1, index * LEVEL_SLICES + 1 + 8

    def _to_grid(self, canonical: np.ndarray) -> np.ndarray:
        return np.flip(canonical, axis=2) if self.flip_lr else canonical

    def label_array(self) -> np.ndarray:
        out = np.zeros(self.grid.shape, dtype=np.uint8)
        plane = sector_plane()
        for name in self.names:
            z0, z1 = self.slices_of(name)
            out[z0:z1] = plane
        return self._to_grid(out)

    def sectors(self) -> dict[str, dict[int, Mask]]:
        """``{level: {sector: Mask}}``."""
        labels = self.label_array()
        out = {}
        for name in self.names:
            z0, z1 = self.slices_of(name)
            level = np.zeros_like(labels)
            level[z0:z1] = labels[z0:z1]
            out[name] = {k: Mask.from_array(self.grid, level == k) for k in range(1, 7)}
        return out

    def canal(self) -> Mask:
        out = np.zeros(self.grid.shape, dtype=bool)
        for name in self.names:
            z0, z1 = self.slices_of(name)
            out[z0:z1] = canal_plane()
        return Mask.from_array(self.grid, self._to_grid(out))

    def gtv(self, parts: Iterable[tuple[str, str]]) -> Mask:
        """A GTV made of named blocks: ``[("L2", "body_focal"), ...]``."""
        out = np.zeros(self.grid.shape, dtype=bool)
        for level, block in parts:
            (r0, r1), (c0, c1) = BLOCKS[block]
            z0, z1 = self.slices_of(level)
            if block not in FULL_HEIGHT:
                z0, z1 = z0 + 2, z0 + 6
            out[z0:z1, r0:r1, c0:c1] = True
        return Mask.from_array(self.grid, self._to_grid(out))

    def union(self, chosen: dict[str, Iterable[int]], extra: Mask | None = None) -> np.ndarray:
        """Full-grid array of the chosen sectors of each level (plus ``extra``)."""
        sectors = self.sectors()
        out = np.zeros(self.grid.shape, dtype=bool)
        for level, numbers in chosen.items():
            for k in numbers:
                out |= sectors[level][k].to_array()
        if extra is not None:
            out |= extra.to_array()
        return out


def make_spine(names: Iterable[str] = ("L2",), *, flip_lr: bool = False) -> SyntheticSpine:
    names = tuple(names)
    direction = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    if flip_lr:
        direction[0, 2] = -1.0  # columns run to the patient's right
    grid = ImageGrid((LEVEL_SLICES * len(names) + 1, ROWS, COLS), (1.0, 1.0, 1.0),
                     (-24.0, -20.0, 0.0), direction)
    return SyntheticSpine(grid, names, flip_lr)


