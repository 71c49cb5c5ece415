"""NIfTI, NRRD and MetaImage volumes and label maps, read and written through SimpleITK.

Coordinates
-----------
SimpleITK works in DICOM patient coordinates (LPS) for every format: its NIfTI reader turns
the file's RAS affine into LPS (x and y negated) as it reads, and its writer turns LPS back
into RAS. spinetv therefore never converts RAS itself; this module is the one edge where the
conversion happens, inside SimpleITK.

Index order
-----------
SimpleITK indexes voxels (x, y, z) = spinetv's (column, row, slice): the spacing and the
columns of the direction matrix are reversed between the two, while
``sitk.GetArrayFromImage`` already returns the (slice, row, column) array spinetv uses.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spinetv.errors import GeometryError, GeometryMismatchError, ImageInputError
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.labels import LabelMap
from spinetv.geometry.mask import Mask
from spinetv.io.atomic import check_writable
from spinetv.io.image import Image

if TYPE_CHECKING:
    import SimpleITK as sitk  # noqa: N813 - the conventional alias


def _simpleitk() -> Any:
    """SimpleITK, imported on first use: it takes about 60 ms to import, and only reading and
    writing NIfTI/NRRD/MHA files needs it (a DICOM plan never does)."""
    import SimpleITK

    return SimpleITK


__all__ = [
    "IMAGE_SUFFIXES",
    "grid_from_sitk",
    "grid_to_sitk",
    "read_image",
    "read_label_map",
    "write_label_image",
    "write_mask_image",
    "GRID_TOLERANCE_MM",
]

#: File name endings read and written here.
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
#: Largest voxel-position difference (mm) for two grids to count as the same: NIfTI stores its
#: affine in float32, which moves the far corner of a 500 mm image by a few micrometres.
GRID_TOLERANCE_MM = 0.01
_DIRECTION_TOLERANCE = 1e-3


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return ""


def _orthonormalised(direction: NDArray[np.float64], what: str) -> NDArray[np.float64]:
    """The nearest orthonormal matrix, when ``direction`` is within rounding of one."""
    if not np.allclose(direction.T @ direction, np.eye(3), atol=_DIRECTION_TOLERANCE):
        rows = "; ".join(" ".join(f"{v:.6g}" for v in row) for row in direction)
        raise ImageInputError(f"{what}: direction matrix [{rows}] is not orthonormal")
    u, _, vt = np.linalg.svd(direction)
    return np.asarray(u @ vt, dtype=np.float64)


def grid_from_sitk(
    image: sitk.Image | sitk.ImageFileReader,
    *,
    frame_of_reference_uid: str = "",
    what: str = "image",
) -> ImageGrid:
    """The :class:`ImageGrid` of a 3-D SimpleITK image (or of a reader's image information).

    Parameters
    ----------
    image : SimpleITK.Image or SimpleITK.ImageFileReader
        A 3-D image, or a reader after ``ReadImageInformation()``. Its origin, spacing (mm) and
        direction are LPS already.
    frame_of_reference_uid : str
        FrameOfReferenceUID to attach ("" when unknown, as for NIfTI).
    what : str
        Name used in error messages (usually the file).

    Returns
    -------
    ImageGrid
        Shape and spacing reversed to (slice, row, column), direction columns reversed likewise.

    Raises
    ------
    ImageInputError
        When the image is not 3-D, its direction is not orthonormal, or its geometry is
        otherwise invalid (for example a spacing that is not positive).
    """
    if image.GetDimension() != 3:
        raise ImageInputError(f"{what}: expected a 3-D image, found {image.GetDimension()}-D")
    size_xyz = tuple(int(v) for v in image.GetSize())
    spacing_xyz = tuple(float(v) for v in image.GetSpacing())
    direction_xyz = np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    direction = _orthonormalised(direction_xyz[:, ::-1], what)
    origin = tuple(float(v) for v in image.GetOrigin())
    try:
        return ImageGrid(
            shape=(size_xyz[2], size_xyz[1], size_xyz[0]),
            spacing_mm=(spacing_xyz[2], spacing_xyz[1], spacing_xyz[0]),
            origin_lps_mm=(origin[0], origin[1], origin[2]),
            direction=direction,
            frame_of_reference_uid=frame_of_reference_uid,
        )
    except GeometryError as error:
        raise ImageInputError(f"{what}: invalid geometry: {error}") from None


def grid_to_sitk(grid: ImageGrid, array: ArrayLike | None = None) -> sitk.Image:
    """A SimpleITK image on ``grid``, holding ``array`` (zeros of uint8 when None).

    Parameters
    ----------
    grid : ImageGrid
        The geometry (LPS mm).
    array : array_like, shape = grid.shape, optional
        Voxels in spinetv array order (slice, row, column); copied.

    Returns
    -------
    SimpleITK.Image
        Size, spacing and direction columns in SimpleITK's (x, y, z) = (column, row, slice)
        order; origin = ``grid.origin_lps_mm``.

    Raises
    ------
    GeometryError
        When ``array``'s shape is not ``grid.shape``.
    """
    values = np.zeros(grid.shape, dtype=np.uint8) if array is None else np.asarray(array)
    if values.shape != grid.shape:
        raise GeometryError(f"array of shape {values.shape} does not match {grid.describe()}")
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    image = _simpleitk().GetImageFromArray(np.ascontiguousarray(values), isVector=False)
    image.SetSpacing(tuple(float(s) for s in grid.spacing_mm[::-1]))
    image.SetOrigin(tuple(float(v) for v in grid.origin_lps_mm))
    image.SetDirection(tuple(float(v) for v in grid.direction[:, ::-1].ravel()))
    return image


def _reader(path: str | os.PathLike[str]) -> tuple[Path, sitk.ImageFileReader]:
    source = Path(path)
    if source.is_dir():
        raise ImageInputError(
            f"{source}: is a folder; for a DICOM series use read_dicom_series, expected an image "
            f"file ending in one of {', '.join(IMAGE_SUFFIXES)}"
        )
    if not source.is_file():
        raise ImageInputError(f"{source}: no such file")
    if not _suffix(source):
        raise ImageInputError(
            f"{source}: unknown image format; expected a name ending in {', '.join(IMAGE_SUFFIXES)}"
        )
    reader = _simpleitk().ImageFileReader()
    reader.SetFileName(str(source))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise ImageInputError(f"{source}: cannot read image header: {_first_line(error)}") from None
    incomplete = _nifti_size_problem(source)
    if incomplete:
        raise ImageInputError(f"{source}: {incomplete}")
    if reader.GetNumberOfComponents() != 1:
        raise ImageInputError(
            f"{source}: {reader.GetNumberOfComponents()} components per voxel; expected a "
            "scalar image"
        )
    return source, reader


_CHUNK_BYTES = 1 << 22


def _nifti_size_problem(source: Path) -> str:
    """What is missing from a NIfTI file's voxel data ("" when complete or not NIfTI-1/2).

    SimpleITK fills voxels missing from a truncated file with zeros and reports nothing, so
    the bytes present (after decompression, counted in chunks) are compared with the extent
    the header announces: vox_offset + the product of the dimensions x bitpix / 8.
    """
    name = source.name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        return ""
    try:
        with gzip.open(source, "rb") if name.endswith(".gz") else source.open("rb") as handle:
            header = handle.read(540)
            extent = _nifti_extent(header)
            if extent is None:
                return ""
            total = len(header)
            while total < extent:
                chunk = handle.read(_CHUNK_BYTES)
                if not chunk:
                    break
                total += len(chunk)
    except (OSError, EOFError, zlib.error) as error:
        return f"compressed data damaged or cut short ({_first_line(error)})"
    if total < extent:
        return (
            f"voxel data incomplete: the file holds {total} bytes, the header announces "
            f"{extent} (dimensions x datatype from vox_offset); truncated file?"
        )
    return ""


def _nifti_extent(header: bytes) -> int | None:
    """Bytes a single-file NIfTI-1 or NIfTI-2 needs, from its header; None if not decidable."""
    if len(header) < 348:
        return None
    for endian in "<>":
        (size,) = struct.unpack(endian + "i", header[:4])
        if size == 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            (bitpix,) = struct.unpack(endian + "h", header[72:74])
            (offset,) = struct.unpack(endian + "f", header[108:112])
            break
        if size == 540 and len(header) >= 540:
            dims = struct.unpack(endian + "8q", header[16:80])
            (bitpix,) = struct.unpack(endian + "h", header[14:16])
            (offset,) = struct.unpack(endian + "q", header[168:176])
            break
    else:
        return None
    ndim = dims[0]
    if not 1 <= ndim <= 7 or bitpix <= 0 or not math.isfinite(offset):
        return None
    sizes = dims[1 : ndim + 1]
    if any(d <= 0 for d in sizes):
        return None
    return max(int(offset), size) + math.prod(sizes) * bitpix // 8


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _read_array(reader: sitk.ImageFileReader, source: Path) -> NDArray[np.generic]:
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise ImageInputError(f"{source}: cannot read voxels: {_first_line(error)}") from None
    return _simpleitk().GetArrayFromImage(image)


def read_image(path: str | os.PathLike[str], *, modality: str = "") -> Image:
    """Read a NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr) or MetaImage (.mha, .mhd) volume.

    Parameters
    ----------
    path : path-like
        The image file.
    modality : str
        Recorded on the image ("CT", "MR"...); files do not say.

    Returns
    -------
    Image
        Grid in LPS mm (a NIfTI file's RAS affine converted by SimpleITK, see the module notes),
        no series reference, and voxels read on first access in the file's own data type
        (NIfTI scl_slope/scl_inter applied by SimpleITK).

    Raises
    ------
    ImageInputError
        Missing or unreadable file, unknown format, not 3-D, not scalar.
    """
    source, reader = _reader(path)
    grid = grid_from_sitk(reader, what=str(source))
    return Image.lazy(grid, lambda: _read_array(reader, source), modality=modality)


def _reoriented(
    array: NDArray[np.generic], source: ImageGrid, target: ImageGrid
) -> NDArray[np.generic] | None:
    """``array`` on ``source`` re-indexed onto ``target`` by axis swaps and flips, if possible."""
    dots = target.direction.T @ source.direction  # [target axis, source axis]
    axes = np.argmax(np.abs(dots), axis=1)
    if sorted(axes.tolist()) != [0, 1, 2] or not np.allclose(
        np.abs(dots[np.arange(3), axes]), 1.0, atol=1e-5
    ):
        return None
    flips = tuple(a for a in range(3) if dots[a, axes[a]] < 0)
    moved = np.transpose(array, axes)
    if flips:
        moved = np.flip(moved, axis=flips)
    # Where target voxel (0, 0, 0) sits in the source: the far end of each flipped axis.
    start_ijk = np.zeros(3)
    for a in flips:
        start_ijk[axes[a]] = source.shape[axes[a]] - 1
    signs = np.where(np.isin(np.arange(3), flips), -1.0, 1.0)
    origin = source.index_to_lps(start_ijk)
    candidate = ImageGrid(
        shape=moved.shape,
        spacing_mm=tuple(source.spacing_mm[int(b)] for b in axes),  # type: ignore[arg-type]
        origin_lps_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=source.direction[:, axes] * signs,
        frame_of_reference_uid=target.frame_of_reference_uid,
    )
    if not candidate.matches(target, tolerance_mm=GRID_TOLERANCE_MM):
        return None
    return np.ascontiguousarray(moved)


def _labels_on(
    array: NDArray[np.generic], file_grid: ImageGrid, grid: ImageGrid | None, source: Path
) -> tuple[NDArray[np.generic], ImageGrid]:
    if grid is None:
        return array, file_grid
    if file_grid.matches(grid, tolerance_mm=GRID_TOLERANCE_MM):
        return array, grid
    moved = _reoriented(array, file_grid, grid)
    if moved is not None:
        return moved, grid
    raise GeometryMismatchError(
        f"{source}: label map {file_grid.describe()} is not on the image {grid.describe()}; "
        "expected the same voxels (resample the labels onto the image first)"
    )


def _integer_labels(array: NDArray[np.generic], source: Path) -> NDArray[np.integer]:
    if np.issubdtype(array.dtype, np.integer):
        if array.size and int(array.min()) < 0:
            raise ImageInputError(f"{source}: negative label {int(array.min())}; expected >= 0")
        return array  # type: ignore[return-value]
    if np.issubdtype(array.dtype, np.floating):
        rounded = np.rint(array)
        if not np.array_equal(rounded, array) or (array.size and float(array.min()) < 0):
            raise ImageInputError(
                f"{source}: label map holds non-integer or negative values ({array.dtype}); "
                "expected non-negative whole labels"
            )
        top = float(array.max()) if array.size else 0.0
        return rounded.astype(np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32)
    raise ImageInputError(f"{source}: label map of data type {array.dtype}; expected integers")


def read_label_map(path: str | os.PathLike[str], *, grid: ImageGrid | None = None) -> LabelMap:
    """Read an integer label image (TotalSegmentator output, sectors...) as a :class:`LabelMap`.

    Parameters
    ----------
    path : path-like
        NIfTI, NRRD or MetaImage file of non-negative whole numbers.
    grid : ImageGrid, optional
        The image the labels belong to. The labels must lie on the same voxels; a label file
        that differs only by the order or sign of its axes (a flipped or transposed copy of the
        same voxels) is re-indexed onto ``grid``. The returned map then carries ``grid`` (and so
        its FrameOfReferenceUID).

    Raises
    ------
    ImageInputError
        Unreadable file, not 3-D, negative or fractional labels.
    GeometryMismatchError
        ``grid`` is given and the labels are on other voxels (no resampling is done).

    Returns
    -------
    LabelMap
        The labels on ``grid`` when given, otherwise on the file's own grid.
    """
    source, reader = _reader(path)
    file_grid = grid_from_sitk(reader, what=str(source))
    labels = _integer_labels(_read_array(reader, source), source)
    array, target = _labels_on(labels, file_grid, grid, source)
    return LabelMap.from_array(target, array)


def _write_sitk(image: sitk.Image, path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Write through a temporary file with the same suffix (SimpleITK picks the format by it)."""
    target = check_writable(path, overwrite=overwrite)
    suffix = _suffix(target)
    if suffix not in (".nii.gz", ".nii", ".nrrd", ".mha"):
        raise ImageInputError(
            f"{target}: cannot write this format; expected a name ending in .nii.gz, .nii, "
            ".nrrd or .mha"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix, dir=target.parent
    )
    os.close(handle)
    temp = Path(temp_name)
    try:
        _simpleitk().WriteImage(image, str(temp), useCompression=suffix != ".nii")
        check_writable(target, overwrite=overwrite)
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()
    return target


def write_mask_image(mask: Mask, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write a mask as a binary (0/1) uint8 image on the mask's full grid.

    Parameters
    ----------
    mask : Mask
        The mask; the file gets its grid's shape, spacing, origin and direction (LPS, turned
        into the NIfTI RAS affine by SimpleITK).
    path : path-like
        Output file, .nii.gz (usual), .nii, .nrrd or .mha.
    overwrite : bool
        Replace an existing file; otherwise :class:`OutputExistsError`.

    Returns
    -------
    Path
        The written file (written to a temporary file first, then renamed).
    """
    return _write_sitk(grid_to_sitk(mask.grid, mask.to_array().view(np.uint8)), path, overwrite)


def write_label_image(
    labelmap: LabelMap, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write a label map as a uint8 (or uint16/uint32 when needed) image on its grid.

    Parameters
    ----------
    labelmap : LabelMap
        The labels and their grid.
    path : path-like
        Output file, .nii.gz, .nii, .nrrd or .mha.
    overwrite : bool
        Replace an existing file; otherwise :class:`OutputExistsError`.

    Returns
    -------
    Path
        The written file.
    """
    top = max(labelmap.labels, default=0)
    dtype = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32
    return _write_sitk(grid_to_sitk(labelmap.grid, labelmap.to_array(dtype)), path, overwrite)
