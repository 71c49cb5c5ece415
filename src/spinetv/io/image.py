"""The :class:`Image` value: a grid, where it came from, and voxels decoded only when asked for."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spinetv.errors import GeometryError
from spinetv.geometry.grid import ImageGrid
from spinetv.io.reference import SeriesReference
from spinetv.vocabulary import Modality

__all__ = ["Image", "VoxelLoader"]

#: A function returning the voxel array of an image (shape = grid shape, array order).
VoxelLoader = Callable[[], NDArray[np.generic]]


@dataclass(frozen=True, eq=False)
class Image:
    """A 3-D image on an :class:`ImageGrid` whose voxels are loaded on first use.

    Parameters
    ----------
    grid : ImageGrid
        Geometry of the image (array order slice, row, column; LPS mm).
    reference : SeriesReference or None
        The DICOM series identity (UIDs, patient, study, files) when the image was read from a
        DICOM series that names a FrameOfReferenceUID; None otherwise.
    modality : Modality or str
        CT, MR, OTHER, or UNKNOWN when the file does not say (NIfTI); a string is parsed
        (:meth:`Modality.parse`).
    loader : callable
        Returns the voxel array; called at most once, on the first access of :attr:`voxels`.
        Build images with :meth:`from_array` or :meth:`lazy` rather than passing it directly.

    Notes
    -----
    Reading a DICOM series reads only the headers; pixel data are decoded the first time
    :attr:`voxels` is read, so commands that need only the geometry never pay for decoding.
    CT voxels are Hounsfield units (RescaleSlope and RescaleIntercept applied), int16 where
    the values are whole numbers that fit, float32 otherwise.
    """

    grid: ImageGrid
    reference: SeriesReference | None = None
    modality: Modality = Modality.UNKNOWN
    loader: VoxelLoader | None = field(default=None, repr=False)
    _cache: dict[str, NDArray[np.generic]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", Modality.parse(self.modality))
        if self.reference is not None and not self.reference.grid.matches(self.grid):
            raise GeometryError(
                f"image grid {self.grid.describe()} differs from its series reference grid "
                f"{self.reference.grid.describe()}"
            )
        if self.loader is None:
            raise GeometryError("an Image needs voxels: use Image.from_array or Image.lazy")

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def from_array(
        cls,
        voxels: ArrayLike,
        grid: ImageGrid,
        *,
        modality: Modality | str = Modality.UNKNOWN,
        reference: SeriesReference | None = None,
    ) -> Image:
        """An image holding a copy of an in-memory array (the caller's array is not kept).

        Parameters
        ----------
        voxels : array_like, shape = grid.shape
            Voxel values in array order (slice, row, column); CT values in HU.
        grid : ImageGrid
            Where the voxels are.
        modality : Modality or str
            CT, MR... (a DICOM Modality value is parsed); UNKNOWN by default.
        reference : SeriesReference, optional
            The DICOM series the voxels belong to, if any.

        Returns
        -------
        Image
            The image, its voxels read-only.
        """
        array = np.array(voxels, copy=True)
        if array.shape != grid.shape:
            raise GeometryError(
                f"voxel array of shape {array.shape} does not match {grid.describe()}"
            )
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise GeometryError(f"voxels must be numbers, got dtype {array.dtype}")
        array.setflags(write=False)
        image = cls(grid, reference, Modality.parse(modality), loader=lambda: array)
        image._cache["voxels"] = array
        return image

    @classmethod
    def lazy(
        cls,
        grid: ImageGrid,
        loader: VoxelLoader,
        *,
        modality: Modality | str = Modality.UNKNOWN,
        reference: SeriesReference | None = None,
    ) -> Image:
        """An image whose voxels ``loader()`` returns on first access (checked against ``grid``).

        Parameters
        ----------
        grid : ImageGrid
            Where the voxels are.
        loader : callable
            Returns the voxel array, of shape ``grid.shape``; called at most once.
        modality : Modality or str
            CT, MR... (a DICOM Modality value is parsed); UNKNOWN by default.
        reference : SeriesReference, optional
            The DICOM series the voxels belong to, if any.

        Returns
        -------
        Image
            The image; nothing is read until :attr:`voxels` is.
        """
        return cls(grid, reference, Modality.parse(modality), loader=loader)

    # ---- voxels ---------------------------------------------------------------------------
    @property
    def is_loaded(self) -> bool:
        """True once the voxels have been decoded."""
        return "voxels" in self._cache

    @property
    def voxels(self) -> NDArray[np.generic]:
        """The read-only voxel array (slice, row, column), decoded on first access."""
        cached = self._cache.get("voxels")
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cache.get("voxels")
            if cached is None:
                assert self.loader is not None  # checked on construction
                cached = np.asarray(self.loader())
                if cached.shape != self.grid.shape:
                    raise GeometryError(
                        f"decoded voxels of shape {cached.shape} do not match "
                        f"{self.grid.describe()}"
                    )
                if cached.flags.writeable:
                    cached.setflags(write=False)
                self._cache["voxels"] = cached
        return cached

    @property
    def shape(self) -> tuple[int, int, int]:
        """The grid shape (slice, row, column), without decoding."""
        return self.grid.shape

    def __repr__(self) -> str:
        state = "loaded" if self.is_loaded else "not loaded"
        series = f", series {self.reference.series_instance_uid}" if self.reference else ""
        return f"Image({self.modality or 'image'}, {self.grid.describe()}{series}, voxels {state})"
