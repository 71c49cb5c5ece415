"""DICOM series writing and reading: round trips in every orientation, and every refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk  # noqa: N813
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicom_checks import dciodvfy_errors
from spinetv.errors import DicomInputError, OutputExistsError
from spinetv.geometry.grid import ImageGrid
from spinetv.io.dicom_series import (
    DicomInputWarning,
    list_series,
    patient_position_of,
    read_dicom_series,
    write_dicom_series,
)
from spinetv.io.image import Image
from spinetv.io.images import grid_from_sitk

# ---- phantom -------------------------------------------------------------------------------
# Objects in LPS mm; values in HU. Sample points sit well inside each object so that the nearest
# voxel of any of the test grids carries the object's value.
SPHERE_A = (np.array([6.0, -4.0, 10.0]), 7.0, 400)
SPHERE_B = (np.array([-8.0, 6.0, 2.0]), 6.0, -500)
BOX = (np.array([-12.0, -10.0, 8.0]), np.array([-3.0, -2.0, 20.0]), 1000)
BACKGROUND_HU = 20
SAMPLES_LPS = np.array(
    [
        SPHERE_A[0],
        SPHERE_B[0],
        (BOX[0] + BOX[1]) / 2,
        [12.0, 9.0, -3.0],  # background
    ]
)
SAMPLE_HU = [400, -500, 1000, BACKGROUND_HU]

DIRECTIONS = {
    # columns: slice, row, column axes in LPS
    "HFS": np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float).T,
    "FFS": np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float).T,
    "HFP": np.array([[0, 0, 1], [0, -1, 0], [-1, 0, 0]], dtype=float).T,
    "FFP": np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=float).T,
}


def phantom_hu(points_lps: np.ndarray) -> np.ndarray:
    """HU of the phantom at LPS points, shape (..., 3) -> (...)."""
    values = np.full(points_lps.shape[:-1], BACKGROUND_HU, dtype=np.int32)
    for centre, radius, hu in (SPHERE_A, SPHERE_B):
        values[np.linalg.norm(points_lps - centre, axis=-1) <= radius] = hu
    low, high, hu = BOX
    values[np.all((points_lps >= low) & (points_lps <= high), axis=-1)] = hu
    return values


def make_grid(
    direction: np.ndarray,
    shape: tuple[int, int, int] = (14, 36, 40),
    spacing_mm: tuple[float, float, float] = (2.0, 1.0, 1.0),
) -> ImageGrid:
    """A grid of ``shape`` centred on (0, 0, 8) mm LPS."""
    half = (np.asarray(shape) - 1) * np.asarray(spacing_mm) / 2
    origin = np.array([0.0, 0.0, 8.0]) - direction @ half
    return ImageGrid(shape, spacing_mm, tuple(origin), direction)


def phantom_on(grid: ImageGrid) -> np.ndarray:
    ijk = np.stack(np.indices(grid.shape), axis=-1).reshape(-1, 3)
    return phantom_hu(grid.index_to_lps(ijk)).reshape(grid.shape).astype(np.float64)


def sample(image: Image, points_lps: np.ndarray) -> list[int]:
    ijk = np.rint(image.grid.lps_to_index(points_lps)).astype(int)
    return [int(image.voxels[tuple(i)]) for i in ijk]


def shuffle_files(folder: Path, seed: int = 0) -> None:
    """Rename every file randomly and give random InstanceNumbers."""
    rng = np.random.default_rng(seed)
    files = sorted(folder.iterdir())
    numbers = rng.permutation(len(files)) + 1
    names = [f"img_{n:03d}" for n in rng.permutation(len(files))]
    for path, number, name in zip(files, numbers, names):
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = int(number)
        ds.save_as(folder / f"{name}.tmp")
        path.unlink()
    for path in folder.glob("*.tmp"):
        path.rename(path.with_suffix(""))


def edit(path: Path, **values: object) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


@pytest.fixture()
def hfs_series(tmp_path: Path) -> tuple[Path, ImageGrid, np.ndarray]:
    grid = make_grid(DIRECTIONS["HFS"], shape=(8, 20, 22))
    voxels = phantom_on(grid)
    write_dicom_series(voxels, grid, tmp_path / "ct")
    return tmp_path / "ct", grid, voxels


# ---- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("position", "spacing_mm"),
    [
        ("HFS", (2.0, 1.0, 1.0)),
        ("FFS", (2.0, 1.0, 1.0)),
        ("HFP", (2.0, 1.0, 1.0)),
        ("FFP", (2.0, 1.0, 1.0)),
        ("HFS", (2.5, 0.7, 0.9)),
        ("HFP", (2.5, 0.7, 0.9)),
    ],
)
def test_round_trip_same_values_at_same_lps_points(
    tmp_path: Path, position: str, spacing_mm: tuple[float, float, float]
) -> None:
    grid = make_grid(DIRECTIONS[position], spacing_mm=spacing_mm)
    voxels = phantom_on(grid)
    ref = write_dicom_series(voxels, grid, tmp_path / position, series_description="phantom")
    shuffle_files(tmp_path / position)

    image = read_dicom_series(tmp_path / position)

    assert not image.is_loaded
    assert image.grid.matches(grid)
    assert image.grid.frame_of_reference_uid == ref.grid.frame_of_reference_uid
    assert sample(image, SAMPLES_LPS) == SAMPLE_HU
    np.testing.assert_array_equal(image.voxels, voxels)
    assert image.voxels.dtype == np.int16
    assert image.reference is not None
    assert image.reference.sop_instance_uids == ref.sop_instance_uids
    assert image.reference.series_instance_uid == ref.series_instance_uid
    assert pydicom.dcmread(image.reference.paths[0]).PatientPosition == position


def test_round_trip_agrees_with_simpleitk(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFP"], spacing_mm=(2.5, 0.7, 0.9))
    write_dicom_series(phantom_on(grid), grid, tmp_path / "s")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "s")))
    itk_image = reader.Execute()
    image = read_dicom_series(tmp_path / "s")
    assert grid_from_sitk(itk_image).matches(image.grid)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(itk_image), image.voxels)


def test_slices_against_the_normal_are_read_in_normal_order(tmp_path: Path) -> None:
    # Slices written running inferior while ImageOrientationPatient's normal points superior.
    direction = np.array([[0, 0, -1], [0, 1, 0], [1, 0, 0]], dtype=float).T
    grid = make_grid(direction)
    voxels = phantom_on(grid)
    write_dicom_series(voxels, grid, tmp_path / "s")
    image = read_dicom_series(tmp_path / "s")
    np.testing.assert_allclose(image.grid.slice_normal_lps, [0, 0, 1])
    np.testing.assert_array_equal(image.voxels, voxels[::-1])
    assert sample(image, SAMPLES_LPS) == SAMPLE_HU


def test_oblique_grid_round_trips(tmp_path: Path) -> None:
    angle = np.radians(20)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    grid = make_grid(rotation @ DIRECTIONS["HFS"])
    voxels = phantom_on(grid)
    write_dicom_series(voxels, grid, tmp_path / "s")
    image = read_dicom_series(tmp_path / "s")
    assert image.grid.matches(grid)
    np.testing.assert_array_equal(image.voxels, voxels)
    assert pydicom.dcmread(next((tmp_path / "s").iterdir())).PatientPosition == ""


def test_float_and_fractional_values_are_rounded_and_rescaled(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(2, 3, 4))
    voxels = np.linspace(-1024.4, 3000.6, 24).reshape(grid.shape)
    write_dicom_series(voxels, grid, tmp_path / "s", rescale_intercept=-2048)
    image = read_dicom_series(tmp_path / "s")
    np.testing.assert_array_equal(image.voxels, np.rint(voxels))
    assert float(pydicom.dcmread(next((tmp_path / "s").iterdir())).RescaleIntercept) == -2048


def test_values_below_the_intercept_use_signed_pixels(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(2, 3, 4))
    voxels = np.full(grid.shape, -3024.0)
    write_dicom_series(voxels, grid, tmp_path / "s")
    assert pydicom.dcmread(next((tmp_path / "s").iterdir())).PixelRepresentation == 1
    np.testing.assert_array_equal(read_dicom_series(tmp_path / "s").voxels, voxels)


def test_mr_series_round_trips(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(3, 5, 6))
    voxels = np.arange(90, dtype=float).reshape(grid.shape)
    ref = write_dicom_series(voxels, grid, tmp_path / "mr", modality="MR")
    image = read_dicom_series(tmp_path / "mr")
    assert image.modality == "MR" and ref.modality == "MR"
    assert ref.sop_class_uid == pydicom.uid.MRImageStorage
    np.testing.assert_array_equal(image.voxels, voxels)


def test_given_frame_of_reference_patient_and_study_are_written(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(2, 3, 4)).with_frame_of_reference("1.2.3.4")
    ref = write_dicom_series(
        np.zeros(grid.shape),
        grid,
        tmp_path / "s",
        patient={"PatientName": "Doe^Jane", "PatientID": "P1"},
        study={"StudyDescription": "Spine", "StudyInstanceUID": "1.2.3.5"},
        series_description="planning CT",
    )
    ds = pydicom.dcmread(ref.paths[0])
    assert ds.FrameOfReferenceUID == "1.2.3.4" == ref.grid.frame_of_reference_uid
    assert ds.StudyInstanceUID == "1.2.3.5" == ref.study_instance_uid
    assert (ds.PatientName, ds.PatientID, ds.SeriesDescription) == ("Doe^Jane", "P1", "planning CT")
    assert ref.patient["PatientID"] == "P1" and ref.study["StudyDescription"] == "Spine"


def test_new_frame_of_reference_when_grid_has_none(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(2, 3, 4))
    ref = write_dicom_series(np.zeros(grid.shape), grid, tmp_path / "s")
    assert ref.grid.frame_of_reference_uid.startswith("1.2.")
    assert ref.grid.frame_of_reference_uid != ref.series_instance_uid


def test_patient_position_of_standard_grids() -> None:
    for position, direction in DIRECTIONS.items():
        assert patient_position_of(make_grid(direction)) == position
    sagittal = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=float).T
    assert patient_position_of(make_grid(sagittal)) == ""


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not on PATH")
@pytest.mark.parametrize(("position", "modality"), [("HFS", "CT"), ("FFP", "CT"), ("HFP", "MR")])
def test_written_files_pass_dciodvfy(tmp_path: Path, position: str, modality: str) -> None:
    grid = make_grid(DIRECTIONS[position], shape=(2, 8, 9), spacing_mm=(2.5, 0.7, 0.9))
    ref = write_dicom_series(
        phantom_on(grid),
        grid,
        tmp_path / "s",
        modality=modality,
        patient={"PatientName": "Müller^Jörg", "PatientID": "X"},
    )
    for path in ref.paths:
        assert dciodvfy_errors(path) == []


# ---- writing refusals ----------------------------------------------------------------------
def test_existing_non_empty_folder_is_refused_then_replaced(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(2, 3, 4))
    out = tmp_path / "s"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(OutputExistsError, match="not empty"):
        write_dicom_series(np.zeros(grid.shape), grid, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    ref = write_dicom_series(np.zeros(grid.shape), grid, out, overwrite=True)
    assert sorted(out.iterdir()) == sorted(ref.paths)
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary folder left


def test_existing_empty_folder_is_used(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(2, 3, 4))
    (tmp_path / "s").mkdir()
    ref = write_dicom_series(np.zeros(grid.shape), grid, tmp_path / "s")
    assert all(p.is_file() for p in ref.paths)


def test_bad_voxels_are_refused_without_output(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(2, 3, 4))
    with pytest.raises(DicomInputError, match=r"shape \(3, 3, 4\) does not match"):
        write_dicom_series(np.zeros((3, 3, 4)), grid, tmp_path / "a")
    with pytest.raises(DicomInputError, match="do not fit 16 bits"):
        write_dicom_series(np.full(grid.shape, 1e6), grid, tmp_path / "b")
    with pytest.raises(DicomInputError, match="NaN or infinite"):
        write_dicom_series(np.full(grid.shape, np.nan), grid, tmp_path / "c")
    with pytest.raises(DicomInputError, match="modality 'PT'"):
        write_dicom_series(np.zeros(grid.shape), grid, tmp_path / "d", modality="PT")
    with pytest.raises(DicomInputError, match="unknown patient/study keywords"):
        write_dicom_series(np.zeros(grid.shape), grid, tmp_path / "e", patient={"Name": "x"})
    assert list(tmp_path.iterdir()) == []


# ---- reading: what is picked and what is ignored -------------------------------------------
def test_rtstruct_and_non_dicom_files_are_ignored(
    tmp_path: Path, hfs_series: tuple[Path, ImageGrid, np.ndarray]
) -> None:
    folder, grid, voxels = hfs_series
    (folder / "notes.txt").write_text("not DICOM")
    rtstruct = Dataset()
    rtstruct.file_meta = FileMetaDataset()
    rtstruct.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    rtstruct.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    rtstruct.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    rtstruct.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    rtstruct.SOPInstanceUID = rtstruct.file_meta.MediaStorageSOPInstanceUID
    rtstruct.Modality = "RTSTRUCT"
    rtstruct.SeriesInstanceUID = generate_uid()
    pydicom.dcmwrite(folder / "RS.dcm", rtstruct, enforce_file_format=True)

    assert len(list_series(folder)) == 1
    image = read_dicom_series(folder)
    assert image.grid.matches(grid)
    np.testing.assert_array_equal(image.voxels, voxels)


def test_two_series_in_one_folder(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(3, 5, 6))
    first = write_dicom_series(np.zeros(grid.shape), grid, tmp_path / "a", series_description="A")
    second = write_dicom_series(
        np.full(grid.shape, 100.0), grid, tmp_path / "b", series_description="B"
    )
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for path in (*first.paths, *second.paths):
        shutil.copy(path, mixed / f"{path.parent.name}_{path.name}")

    summaries = list_series(mixed)
    assert {s.series_instance_uid for s in summaries} == {
        first.series_instance_uid,
        second.series_instance_uid,
    }
    assert all(s.slice_count == 3 for s in summaries)
    with pytest.raises(DicomInputError, match="2 image series found") as caught:
        read_dicom_series(mixed)
    for expected in (first.series_instance_uid, second.series_instance_uid, "'A'", "'B'", "3 file"):
        assert expected in str(caught.value)
    image = read_dicom_series(mixed, series_uid=second.series_instance_uid)
    assert np.all(image.voxels == 100)
    with pytest.raises(DicomInputError, match="no series with SeriesInstanceUID '9.9'"):
        read_dicom_series(mixed, series_uid="9.9")


def test_file_list_source(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder, grid, _ = hfs_series
    files = sorted(folder.iterdir())[2:5]
    image = read_dicom_series(files)
    assert image.grid.shape == (3, grid.shape[1], grid.shape[2])
    np.testing.assert_allclose(image.grid.origin_lps_mm, grid.index_to_lps([2, 0, 0]))


def test_headers_only_until_voxels_are_read(
    hfs_series: tuple[Path, ImageGrid, np.ndarray],
) -> None:
    folder, _, voxels = hfs_series
    image = read_dicom_series(folder)
    assert not image.is_loaded and "not loaded" in repr(image)
    assert image.voxels is image.voxels
    with pytest.raises(ValueError, match="read-only"):
        image.voxels[0, 0, 0] = 1
    np.testing.assert_array_equal(image.voxels, voxels)


def test_missing_frame_of_reference_warns_and_drops_reference(
    hfs_series: tuple[Path, ImageGrid, np.ndarray],
) -> None:
    folder, grid, _ = hfs_series
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        del ds.FrameOfReferenceUID
        ds.save_as(path)
    with pytest.warns(DicomInputWarning, match="no FrameOfReferenceUID"):
        image = read_dicom_series(folder)
    assert image.reference is None
    assert image.grid.frame_of_reference_uid == ""
    assert image.grid.matches(grid)


# ---- reading: refusals ---------------------------------------------------------------------
def _middle(folder: Path) -> Path:
    """The file holding the middle slice."""
    files = sorted(
        folder.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])
    )
    return files[len(files) // 2]


def test_missing_slice(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder = hfs_series[0]
    _middle(folder).unlink()
    with pytest.raises(
        DicomInputError, match=r"uneven slice spacing \(missing slice\?\)"
    ) as caught:
        read_dicom_series(folder)
    assert str(folder) in str(caught.value)


def test_uneven_spacing(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder = hfs_series[0]
    middle = _middle(folder)
    position = [float(v) for v in pydicom.dcmread(middle).ImagePositionPatient]
    edit(middle, ImagePositionPatient=[position[0], position[1], position[2] + 0.3])
    with pytest.raises(DicomInputError, match="uneven slice spacing"):
        read_dicom_series(folder)


def test_small_position_rounding_is_tolerated(
    hfs_series: tuple[Path, ImageGrid, np.ndarray],
) -> None:
    folder, grid, _ = hfs_series
    middle = _middle(folder)
    position = [float(v) for v in pydicom.dcmread(middle).ImagePositionPatient]
    edit(middle, ImagePositionPatient=[position[0], position[1], position[2] + 0.005])
    assert read_dicom_series(folder).grid.matches(grid)


def test_gantry_tilt(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder = hfs_series[0]
    for path in folder.iterdir():
        position = [float(v) for v in pydicom.dcmread(path).ImagePositionPatient]
        edit(path, ImagePositionPatient=[position[0], position[1] + 0.3 * position[2], position[2]])
    with pytest.raises(DicomInputError, match="gantry tilt"):
        read_dicom_series(folder)


def test_mixed_orientations(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder = hfs_series[0]
    edit(_middle(folder), ImageOrientationPatient=[-1, 0, 0, 0, 1, 0])
    with pytest.raises(DicomInputError, match="mixed orientations"):
        read_dicom_series(folder)


def test_duplicate_positions(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder = hfs_series[0]
    middle = _middle(folder)
    ds = pydicom.dcmread(middle)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(folder / "copy.dcm")
    with pytest.raises(DicomInputError, match="duplicate slice position"):
        read_dicom_series(folder)


def test_mixed_pixel_spacing(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder = hfs_series[0]
    edit(_middle(folder), PixelSpacing=[0.8, 0.8])
    with pytest.raises(DicomInputError, match="mixed pixel spacing or size"):
        read_dicom_series(folder)


def test_mixed_pixel_size(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder = hfs_series[0]
    middle = _middle(folder)
    ds = pydicom.dcmread(middle)
    ds.Columns = ds.Columns - 1
    ds.PixelData = np.zeros((ds.Rows, ds.Columns), dtype=np.uint16).tobytes()
    ds.save_as(middle)
    with pytest.raises(DicomInputError, match="mixed pixel spacing or size"):
        read_dicom_series(folder)


def test_no_image_data(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(DicomInputError, match="no DICOM image data") as caught:
        read_dicom_series(tmp_path)
    assert str(tmp_path) in str(caught.value)
    with pytest.raises(DicomInputError, match="no such folder or file"):
        read_dicom_series(tmp_path / "absent")


def test_enhanced_multiframe_is_refused(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder = hfs_series[0]
    multi = folder.parent / "multi"
    multi.mkdir()
    ds = pydicom.dcmread(next(folder.iterdir()))
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    ds.save_as(multi / "enhanced.dcm")
    with pytest.raises(DicomInputError, match="multi-frame"):
        read_dicom_series(multi)
    # next to a single-frame series, the multi-frame file is ignored with a warning
    shutil.copy(multi / "enhanced.dcm", folder / "enhanced.dcm")
    with pytest.warns(DicomInputWarning, match="ignored multi-frame file"):
        image = read_dicom_series(folder)
    assert image.grid.shape == hfs_series[1].shape


# ---- the real JPEG 2000 series -------------------------------------------------------------
def test_real_jpeg2000_series(shared_data: Path) -> None:
    folder = shared_data / "totalsegmentator_v2.18.0" / "example_ct_dicom"
    with pytest.warns(DicomInputWarning, match="empty StudyInstanceUID, SeriesInstanceUID"):
        image = read_dicom_series(folder)
    grid = image.grid
    assert grid.shape == (20, 512, 512)
    np.testing.assert_allclose(grid.spacing_mm, (2.0, 0.9765625, 0.9765625))
    np.testing.assert_allclose(grid.slice_normal_lps, (0, 0, 1))
    np.testing.assert_allclose(grid.origin_lps_mm, (-249.51171875, -437.51171875, -804.5))
    assert grid.frame_of_reference_uid == "1.3.12.2.1107.5.1.4.60064.30000022120807274275100000041"
    assert image.reference is not None
    assert image.reference.series_instance_uid == ""
    assert image.reference.sop_class_uid == pydicom.uid.CTImageStorage
    # SOPInstanceUIDs come from the file meta, in slice order (the last file is the lowest slice)
    assert image.reference.sop_instance_uids[0].endswith("16592")
    assert len(set(image.reference.sop_instance_uids)) == 20

    voxels = image.voxels
    assert voxels.dtype == np.int16
    assert voxels.min() == -1024 and voxels.max() > 1000  # air and bone in HU
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    itk_image = reader.Execute()
    assert grid_from_sitk(itk_image).matches(grid)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(itk_image), voxels)


def test_values_beyond_int16_decode_as_float32(tmp_path: Path) -> None:
    grid = make_grid(DIRECTIONS["HFS"], shape=(3, 3, 4))
    voxels = np.zeros(grid.shape)
    voxels[2, 1, 1] = 40000.0  # stored 41024 fits uint16, the HU value does not fit int16
    write_dicom_series(voxels, grid, tmp_path / "s")
    image = read_dicom_series(tmp_path / "s")
    assert image.voxels.dtype == np.float32
    np.testing.assert_array_equal(image.voxels, voxels)


def test_rescale_slope_is_applied(hfs_series: tuple[Path, ImageGrid, np.ndarray]) -> None:
    folder, _, voxels = hfs_series
    for path in folder.iterdir():
        edit(path, RescaleSlope="0.5", RescaleIntercept="-512")
    image = read_dicom_series(folder)
    assert image.voxels.dtype == np.float32
    np.testing.assert_allclose(image.voxels, (voxels + 1024) * 0.5 - 512)
