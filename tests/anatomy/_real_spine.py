"""The masks of the real example CT used by the anatomy tests (a module of its own, not
conftest, so that test modules can import the type when several test folders with a
conftest.py are collected together)."""

from __future__ import annotations

from dataclasses import dataclass

from spinetv.geometry import ImageGrid, Mask


@dataclass(frozen=True)
class RealSpine:
    """Masks of the real example CT (3 mm, RAS NIfTI read as LPS)."""

    grid: ImageGrid
    vertebrae: dict[str, Mask]
    sacrum: Mask
    cord: Mask
