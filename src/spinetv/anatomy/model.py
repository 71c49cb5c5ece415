"""The anatomy of one case: vertebrae and organs as masks on one grid.

The value every anatomy step and the pipeline take; :mod:`spinetv.case` builds it from files and
a planning-system plugin from its own arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.mask import Mask

__all__ = ["Anatomy"]


@dataclass(frozen=True)
class Anatomy:
    """The anatomy of one case on one grid.

    Parameters
    ----------
    grid : ImageGrid
        The image grid every mask lives on.
    vertebrae : mapping of str to Mask
        Canonical level ("L2", "S1", "Sacrum" for the sacrum below S1 or the whole sacrum) ->
        vertebra mask.
    cord, canal, thecal_sac, sacral_canal, sacral_foramina : Mask, optional
        Contoured structures; the canal, the thecal sac below the conus, the sacral canal and
        foramina are derived when absent.
    """

    grid: ImageGrid
    vertebrae: Mapping[str, Mask]
    cord: Mask | None = None
    canal: Mask | None = None
    thecal_sac: Mask | None = None
    sacral_canal: Mask | None = None
    sacral_foramina: Mask | None = None

    def __post_init__(self) -> None:
        for name, mask in self.named_masks().items():
            self.grid.require_same(mask.grid, what=f"{name} and the image")

    def named_masks(self) -> dict[str, Mask]:
        """Every mask present, by role.

        Returns
        -------
        dict of str to Mask
            ``"vertebra <level>"`` per vertebra, then ``"cord"``, ``"canal"``,
            ``"thecal_sac"``, ``"sacral_canal"``, ``"sacral_foramina"`` where present.
        """
        named = {f"vertebra {lv}": m for lv, m in self.vertebrae.items()}
        for role in ("cord", "canal", "thecal_sac", "sacral_canal", "sacral_foramina"):
            mask = getattr(self, role)
            if mask is not None:
                named[role] = mask
        return named
