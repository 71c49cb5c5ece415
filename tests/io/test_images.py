"""NIfTI/NRRD/MHA images and label maps: LPS geometry, index order, and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

from spinetv.errors import (
    GeometryError,
    GeometryMismatchError,
    ImageInputError,
    OutputExistsError,
)
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.labels import LabelMap
from spinetv.geometry.mask import Mask
from spinetv.io.image import Image
from spinetv.io.images import (
    grid_from_sitk,
    grid_to_sitk,
    read_image,
    read_label_map,
    write_label_image,
    write_mask_image,
)

HFP = np.array([[0, 0, 1], [0, -1, 0], [-1, 0, 0]], dtype=float).T
FFS = np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float).T


def oblique_grid() -> ImageGrid:
    angle = np.radians(15)
    rotation = np.array(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    )
    return ImageGrid((5, 6, 7), (2.5, 0.7, 0.9), (10.0, -20.0, 30.0), rotation @ HFP)


def test_grid_to_sitk_and_back_keeps_every_voxel_position() -> None:
    grid = oblique_grid()
    itk_image = grid_to_sitk(grid)
    assert itk_image.GetSize() == (7, 6, 5)
    assert itk_image.GetSpacing() == pytest.approx((0.9, 0.7, 2.5))
    # The same voxel, addressed (x, y, z) by SimpleITK and (slice, row, column) by spinetv.
    for ijk in [(0, 0, 0), (4, 5, 6), (1, 3, 2)]:
        itk_point = itk_image.TransformIndexToPhysicalPoint(tuple(int(v) for v in ijk[::-1]))
        np.testing.assert_allclose(itk_point, grid.index_to_lps(ijk), atol=1e-9)
    assert grid_from_sitk(itk_image).matches(grid, tolerance_mm=1e-9)


def test_grid_to_sitk_array_order() -> None:
    grid = oblique_grid()
    values = np.arange(np.prod(grid.shape)).reshape(grid.shape).astype(np.int16)
    itk_image = grid_to_sitk(grid, values)
    assert itk_image[6, 5, 4] == values[4, 5, 6]
    with pytest.raises(GeometryError, match="does not match"):
        grid_to_sitk(grid, values[:2])


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_label_map_round_trip_on_an_oblique_grid(tmp_path: Path, suffix: str) -> None:
    grid = oblique_grid()
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[1:3, 2:4, 1:5] = 7
    labels[4, 0, 0] = 2
    path = write_label_image(LabelMap.from_array(grid, labels), tmp_path / f"labels{suffix}")
    read = read_label_map(path)
    assert read.grid.matches(grid, tolerance_mm=1e-4)
    np.testing.assert_array_equal(read.to_array(), labels)
    assert read.labels == (2, 7)


def test_mask_image_is_binary_uint8_on_the_mask_grid(tmp_path: Path) -> None:
    grid = ImageGrid((4, 5, 6), (3.0, 1.5, 1.0), (-5.0, 7.0, 100.0), FFS)
    array = np.zeros(grid.shape, dtype=bool)
    array[1:3, 1:4, 2:5] = True
    path = write_mask_image(Mask.from_array(grid, array), tmp_path / "mask.nii.gz")
    itk_image = sitk.ReadImage(str(path))
    assert itk_image.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayFromImage(itk_image), array.astype(np.uint8))
    assert grid_from_sitk(itk_image).matches(grid, tolerance_mm=1e-4)
    with pytest.raises(OutputExistsError, match="exists"):
        write_mask_image(Mask.from_array(grid, array), path)
    write_mask_image(Mask.empty(grid), path, overwrite=True)
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(path))).max() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.nii.gz"]


def test_mask_written_as_nifti_has_the_ras_affine(tmp_path: Path) -> None:
    nibabel = pytest.importorskip("nibabel")
    grid = ImageGrid((4, 5, 6), (3.0, 1.5, 1.0), (-5.0, 7.0, 100.0), FFS)
    path = write_mask_image(Mask.empty(grid), tmp_path / "m.nii.gz")
    affine = nibabel.load(path).affine
    ijk = np.array([3, 4, 5])
    ras = affine @ np.r_[ijk[::-1], 1.0]  # nibabel indexes (x, y, z)
    np.testing.assert_allclose(ras[:3] * [-1, -1, 1], grid.index_to_lps(ijk), atol=1e-4)


def test_read_image_is_lazy_and_keeps_values(tmp_path: Path) -> None:
    grid = oblique_grid()
    values = np.random.default_rng(1).integers(-1000, 2000, grid.shape).astype(np.int16)
    sitk.WriteImage(grid_to_sitk(grid, values), str(tmp_path / "ct.mha"))
    image = read_image(tmp_path / "ct.mha", modality="CT")
    assert isinstance(image, Image) and not image.is_loaded
    assert image.modality == "CT" and image.reference is None
    np.testing.assert_array_equal(image.voxels, values)
    assert not image.voxels.flags.writeable


def test_label_map_on_a_given_grid(tmp_path: Path) -> None:
    grid = oblique_grid().with_frame_of_reference("1.2.3")
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[2, 3, 4] = 5
    path = write_label_image(LabelMap.from_array(grid, labels), tmp_path / "l.nii.gz")
    read = read_label_map(path, grid=grid)
    assert read.grid is grid
    assert read.grid.frame_of_reference_uid == "1.2.3"
    other = ImageGrid(grid.shape, grid.spacing_mm, (10.0, -20.0, 33.0), grid.direction)
    with pytest.raises(GeometryMismatchError, match="is not on the image"):
        read_label_map(path, grid=other)


def test_flipped_label_file_is_reindexed_onto_the_grid(tmp_path: Path) -> None:
    grid = ImageGrid((4, 5, 6), (2.0, 1.0, 1.5), (0.0, 0.0, 0.0))
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[1, 0, 5] = 3
    # The same voxels stored with the row axis reversed (as TotalSegmentator writes DICOM input).
    flipped_origin = grid.index_to_lps((0, grid.shape[1] - 1, 0))
    flipped_direction = grid.direction * np.array([1, -1, 1])
    flipped = ImageGrid(grid.shape, grid.spacing_mm, tuple(flipped_origin), flipped_direction)
    sitk.WriteImage(grid_to_sitk(flipped, labels[:, ::-1, :]), str(tmp_path / "f.nii.gz"))
    read = read_label_map(tmp_path / "f.nii.gz", grid=grid)
    np.testing.assert_array_equal(read.to_array(), labels)


def test_label_and_image_refusals(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="no such file"):
        read_image(tmp_path / "absent.nii.gz")
    (tmp_path / "x.png").write_bytes(b"png")
    with pytest.raises(ImageInputError, match="unknown image format"):
        read_image(tmp_path / "x.png")
    with pytest.raises(ImageInputError, match="is a folder"):
        read_image(tmp_path)
    (tmp_path / "broken.nii.gz").write_bytes(b"not an image")
    with pytest.raises(ImageInputError, match="cannot read image header"):
        read_image(tmp_path / "broken.nii.gz")
    grid = ImageGrid((2, 3, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    sitk.WriteImage(grid_to_sitk(grid, np.full(grid.shape, 1.5)), str(tmp_path / "f.nrrd"))
    with pytest.raises(ImageInputError, match="non-integer or negative"):
        read_label_map(tmp_path / "f.nrrd")
    sitk.WriteImage(grid_to_sitk(grid, np.full(grid.shape, -1, np.int16)), str(tmp_path / "n.mha"))
    with pytest.raises(ImageInputError, match="negative label"):
        read_label_map(tmp_path / "n.mha")
    sitk.WriteImage(sitk.Image([4, 5], sitk.sitkUInt8), str(tmp_path / "flat.nrrd"))
    with pytest.raises(ImageInputError, match="expected a 3-D image"):
        read_image(tmp_path / "flat.nrrd")
    with pytest.raises(ImageInputError, match="cannot write this format"):
        write_mask_image(Mask.empty(grid), tmp_path / "m.png")


def test_whole_float_labels_are_accepted(tmp_path: Path) -> None:
    grid = ImageGrid((2, 3, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    values = np.zeros(grid.shape, dtype=np.float32)
    values[1, 2, 3] = 31.0
    sitk.WriteImage(grid_to_sitk(grid, values), str(tmp_path / "f.nii.gz"))
    read = read_label_map(tmp_path / "f.nii.gz")
    assert read.labels == (31,)


# ---- real data -----------------------------------------------------------------------------
def test_real_nifti_lps_matches_nibabel_ras(shared_data: Path) -> None:
    nibabel = pytest.importorskip("nibabel")
    path = shared_data / "totalsegmentator_v2.18.0" / "example_ct.nii.gz"
    image = read_image(path, modality="CT")
    assert image.grid.shape == (112, 101, 122)
    nifti = nibabel.load(path)
    data = np.asarray(nifti.dataobj)
    for ijk_xyz in [(0, 0, 0), (10, 20, 30), (121, 100, 111), (60, 50, 56)]:
        ras = nifti.affine @ np.r_[ijk_xyz, 1.0]
        lps = ras[:3] * np.array([-1.0, -1.0, 1.0])
        ijk = ijk_xyz[::-1]
        np.testing.assert_allclose(image.grid.index_to_lps(ijk), lps, atol=1e-4)
        assert image.voxels[ijk] == data[ijk_xyz]


def test_image_from_array_copies_and_is_read_only() -> None:
    grid = ImageGrid((2, 3, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    values = np.zeros(grid.shape, dtype=np.int16)
    image = Image.from_array(values, grid, modality="CT")
    values[0, 0, 0] = 5
    assert image.voxels[0, 0, 0] == 0 and image.is_loaded
    with pytest.raises(ValueError, match="read-only"):
        image.voxels[0, 0, 0] = 1
    with pytest.raises(GeometryError, match="does not match"):
        Image.from_array(np.zeros((1, 2, 3)), grid)
    lazy = Image.lazy(grid, lambda: np.zeros((1, 1, 1)))
    with pytest.raises(GeometryError, match="do not match"):
        _ = lazy.voxels
