"""Regression tests for the reader failures of issue 12, each on a file that shows it."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.fileset import FileSet

from spinetv.errors import DicomInputError, RtstructError, RtstructWarning
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.mask import Mask
from spinetv.io.dicom_series import list_series, read_dicom_series, write_dicom_series
from spinetv.io.reference import SeriesReference
from spinetv.io.rtstruct import read_rtstruct, read_structures, write_rtstruct
from spinetv.structure import RoiType, Structure

FRAME_UID = "1.2.826.0.1.3680043.8.498.4242"
PATIENT = {"PatientName": "Phantom^Issue12", "PatientID": "ISSUE-12"}
AXIAL = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float).T


def _grid(shape: tuple[int, int, int] = (6, 16, 16), frame: str = FRAME_UID) -> ImageGrid:
    return ImageGrid(shape, (2.0, 1.0, 1.0), (-8.0, -8.0, -5.0), AXIAL, frame)


def _box_mask(grid: ImageGrid, rows: slice, columns: slice) -> Mask:
    array = np.zeros(grid.shape, dtype=bool)
    array[1:5, rows, columns] = True
    return Mask.from_array(grid, array)


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> SeriesReference:
    grid = _grid()
    return write_dicom_series(
        np.zeros(grid.shape),
        grid,
        tmp_path_factory.mktemp("ct") / "ct",
        patient=PATIENT,
        study={"StudyID": "S12"},
    )


@pytest.fixture(scope="module")
def rtstruct(series: SeriesReference, tmp_path_factory: pytest.TempPathFactory) -> Path:
    gtv = Structure("GTV", _box_mask(series.grid, slice(4, 10), slice(5, 11)), roi_type="GTV")
    return write_rtstruct([gtv], series, tmp_path_factory.mktemp("rs") / "RS.dcm")


def _with_contour_data(source: Path, target: Path, values: list[str]) -> Path:
    ds = pydicom.dcmread(source)
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = values
    ds.save_as(target)
    return target


def test_nan_contour_is_an_rtstruct_error_not_a_traceback(
    rtstruct: Path, series: SeriesReference, tmp_path: Path
) -> None:
    # Before: ValueError "cannot convert float NaN to integer" from _rasterize.
    damaged = _with_contour_data(rtstruct, tmp_path / "nan.dcm", ["NaN", "0", "1"] * 4)
    with pytest.raises(RtstructError, match=r"nan\.dcm: ROI 'GTV', contour 1 of \d+: .*non-finite"):
        read_structures(damaged, series)
    infinite = _with_contour_data(rtstruct, tmp_path / "inf.dcm", ["1", "inf", "1"] * 4)
    with pytest.raises(RtstructError, match=r"inf\.dcm: ROI 'GTV'.*non-finite"):
        read_structures(infinite, series)


def test_contour_data_length_not_a_multiple_of_three_is_refused(
    rtstruct: Path, series: SeriesReference, tmp_path: Path
) -> None:
    # Before: the partial triplet was dropped without a word.
    seven = ["1", "2", "3", "4", "5", "6", "7"]
    damaged = _with_contour_data(rtstruct, tmp_path / "odd.dcm", seven)
    with pytest.raises(RtstructError, match=r"odd\.dcm: ROI 'GTV'.*7 values, not a multiple of 3"):
        read_structures(damaged, series)


def test_non_numeric_contour_data_is_refused(
    rtstruct: Path, series: SeriesReference, tmp_path: Path
) -> None:
    marked = _with_contour_data(rtstruct, tmp_path / "marked.dcm", ["1.2345", "0", "1"] * 4)
    target = tmp_path / "text.dcm"
    target.write_bytes(marked.read_bytes().replace(b"1.2345", b"1.23x5"))  # same length
    with pytest.raises(RtstructError, match=r"text\.dcm: ROI 'GTV'.*not numbers"):
        read_structures(target, series)


def _copy_series(series: SeriesReference, target: Path) -> Path:
    target.mkdir()
    for path in series.paths:
        shutil.copy(path, target / path.name)
    return target


def test_truncated_slice_is_found_from_the_header_without_decoding(
    series: SeriesReference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: accepted; the plan was written against a slice with missing pixels.
    folder = _copy_series(series, tmp_path / "ct")
    victim = folder / series.paths[2].name
    victim.write_bytes(victim.read_bytes()[:-100])
    import spinetv.io.dicom_read as module

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("pixel data were decoded")

    monkeypatch.setattr(module, "_decode_pixels", no_decoding)
    with pytest.raises(DicomInputError, match=rf"{victim.name}: pixel data incomplete: 412 bytes"):
        read_dicom_series(folder)


def test_truncated_encapsulated_slice_is_found(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "real_exports" / "dicom2nifti_codecs" / "compressed_jpegls" / "001"
    folder = tmp_path / "mr"
    shutil.copytree(source, folder)
    victim = sorted(folder.iterdir())[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 2000])
    expected = rf"{victim.name}: encapsulated pixel data incomplete"
    with pytest.raises(DicomInputError, match=expected):
        read_dicom_series(folder)


def test_header_truncated_image_file_is_named_not_dropped(
    series: SeriesReference, tmp_path: Path
) -> None:
    folder = _copy_series(series, tmp_path / "ct")
    victim = folder / series.paths[-1].name  # the last slice: dropping it leaves a regular volume
    victim.write_bytes(victim.read_bytes()[:700])
    with pytest.raises(DicomInputError, match=rf"{victim.name}"):
        read_dicom_series(folder)


def test_frame_of_reference_error_has_no_contradictory_warning(
    rtstruct: Path, tmp_path: Path
) -> None:
    # Before: "same frame of reference; contours are placed by position", then the FoR error.
    grid = _grid(frame="1.2.826.0.1.3680043.8.498.999")
    other = write_dicom_series(np.zeros(grid.shape), grid, tmp_path / "other")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RtstructError, match="frame of reference"):
            read_structures(rtstruct, other)
    assert not [w for w in caught if "same frame of reference" in str(w.message)]


def test_series_mismatch_warning_only_claims_a_checked_frame(
    rtstruct: Path, series: SeriesReference, tmp_path: Path
) -> None:
    twin = write_dicom_series(np.zeros(series.grid.shape), series.grid, tmp_path / "twin")
    with pytest.warns(RtstructWarning, match="same frame of reference, so contours are placed"):
        read_structures(rtstruct, twin)


def test_no_edge_warning_on_our_own_output_touching_the_image_edge(tmp_path: Path) -> None:
    # Before: vertices at index n - 0.5 + 1e-6 were reported as beyond the image edge. The
    # grid is one where the written vertices land there after mm rounding (found by search).
    grid = ImageGrid(
        (3, 25, 28),
        (2.5, 1.2504636963259352, 0.4441596127196337),
        (269.18966828234636, -112.90112879370872, -46.0041306164546),
        AXIAL,
        FRAME_UID,
    )
    reference = write_dicom_series(np.zeros(grid.shape), grid, tmp_path / "ct")
    array = np.zeros(grid.shape, dtype=bool)
    array[1:3, 12:, :] = True
    array[1:3, :3, :3] = True
    edge = Structure("Edge", Mask.from_array(reference.grid, array), roi_type=RoiType.ORGAN)
    path = write_rtstruct([edge], reference, tmp_path / "RS_edge.dcm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_back = read_structures(path, reference)
    assert not [w for w in caught if issubclass(w.category, RtstructWarning)]
    assert np.array_equal(read_back["Edge"].mask.to_array(), array)


def test_contour_really_beyond_the_edge_is_still_reported(
    rtstruct: Path, series: SeriesReference, tmp_path: Path
) -> None:
    far = ["-8", "-8", "-5", "30", "-8", "-5", "30", "0", "-5"]
    damaged = _with_contour_data(rtstruct, tmp_path / "far.dcm", far)
    with pytest.warns(RtstructWarning, match="extend beyond the image edge"):
        read_structures(damaged, series)


def test_messages_hold_no_numpy_reprs(series: SeriesReference, tmp_path: Path) -> None:
    # Before: "ImageOrientationPatient [np.float64(0.959171), ...]".
    folder = _copy_series(series, tmp_path / "ct")
    victim = folder / series.paths[1].name
    ds = pydicom.dcmread(victim)
    ds.ImageOrientationPatient = ["0.959171", "0.282843", "0", "-0.282843", "0.959171", "0"]
    ds.save_as(victim)
    with pytest.raises(DicomInputError, match="mixed orientations") as error:
        read_dicom_series(folder)
    assert "np.float64" not in str(error.value) and "0.959171" in str(error.value)


def test_series_in_sub_folders_gives_the_reason(series: SeriesReference, tmp_path: Path) -> None:
    # Before: "no DICOM image data found (no CT/MR image files)" with no reason.
    top = tmp_path / "export"
    _copy_series(series, top.parent / "export_tmp")
    (top / "patient" / "study").mkdir(parents=True)
    shutil.move(str(top.parent / "export_tmp"), str(top / "patient" / "study" / "CT1"))
    with pytest.raises(DicomInputError, match=r"sub-folder\(s\) patient/study/CT1; pass one"):
        read_dicom_series(top)
    assert read_dicom_series(top / "patient" / "study" / "CT1").grid.shape == series.grid.shape


def test_dicomdir_file_set_is_read(series: SeriesReference, tmp_path: Path) -> None:
    file_set = FileSet()
    for path in series.paths:
        file_set.add(pydicom.dcmread(path))
    out = tmp_path / "media"
    file_set.write(out)
    assert (out / "DICOMDIR").is_file()
    for source in (out, out / "DICOMDIR"):
        image = read_dicom_series(source)
        assert image.grid.shape == series.grid.shape
        assert image.reference is not None
        assert image.reference.sop_instance_uids == series.sop_instance_uids
    assert [s.slice_count for s in list_series(out)] == [len(series.paths)]


def test_rtstruct_without_preamble_or_file_meta_is_read(
    rtstruct: Path, series: SeriesReference, tmp_path: Path
) -> None:
    # Before: refused as "not a readable DICOM file".
    ds = pydicom.dcmread(rtstruct)
    bare = tmp_path / "bare.dcm"
    del ds.file_meta
    ds.preamble = None
    pydicom.dcmwrite(bare, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert bare.read_bytes()[128:132] != b"DICM"
    with pytest.warns(RtstructWarning, match="no DICOM preamble"):
        structures = read_structures(bare, series)
    expected = read_structures(rtstruct, series)
    assert np.array_equal(structures["GTV"].mask.to_array(), expected["GTV"].mask.to_array())


def test_real_pydicom_rtstruct_without_file_meta(shared_data: Path) -> None:
    path = shared_data / "real_exports" / "pydicom_files" / "rtstruct.dcm"
    with pytest.warns(RtstructWarning, match="no DICOM preamble"):
        data = read_rtstruct(path)
    assert data.names == ("patient", "Isocenter 1", "Isocenter 2")
    assert data.frame_of_reference_uid


def test_junk_without_preamble_is_still_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x08\x00\x05\x00" + b"garbage" * 20)
    with pytest.raises(RtstructError, match=r"junk\.dcm: "):
        read_rtstruct(junk)


# ---- found by the fuzz harness ---------------------------------------------------------------


@pytest.mark.parametrize("cut", [101, 180])  # in the preamble; in the file meta
def test_dcm_file_cut_before_its_data_set_is_named(
    series: SeriesReference, tmp_path: Path, cut: int
) -> None:
    folder = _copy_series(series, tmp_path / "ct")
    victim = folder / series.paths[0].name
    victim.write_bytes(victim.read_bytes()[:cut])  # it used to vanish from the series silently
    with pytest.raises(DicomInputError, match=rf"{victim.name}: damaged DICOM file"):
        read_dicom_series(folder)
    (folder / "README.txt").write_text("not DICOM, and not named as DICOM")
    victim.unlink()
    assert read_dicom_series(folder).grid.shape[0] == len(series.paths) - 1


def test_truncated_rtstruct_is_refused_not_read_short(rtstruct: Path, tmp_path: Path) -> None:
    data = rtstruct.read_bytes()
    for cut in (len(data) - 10, len(data) * 3 // 4, len(data) // 2):
        target = tmp_path / f"cut{cut}.dcm"
        target.write_bytes(data[:cut])
        with pytest.raises(RtstructError, match=rf"cut{cut}\.dcm: "):
            read_rtstruct(target)


def test_truncated_nifti_label_map_is_refused(tmp_path: Path) -> None:
    import gzip

    from spinetv.errors import ImageInputError
    from spinetv.geometry.labels import LabelMap
    from spinetv.io.images import read_label_map, write_label_image

    grid = _grid()
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[2:4, 3:9, 3:9] = 7
    path = write_label_image(LabelMap.from_array(grid, labels), tmp_path / "seg.nii.gz")
    raw = gzip.decompress(path.read_bytes())
    short = tmp_path / "short.nii.gz"
    short.write_bytes(gzip.compress(raw[: len(raw) - 100]))  # SimpleITK fills the rest with 0
    with pytest.raises(ImageInputError, match=r"short\.nii\.gz: voxel data incomplete"):
        read_label_map(short)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ImageInputError, match=r"cut\.nii\.gz: "):
        read_label_map(cut)


def test_cli_error_with_line_breaks_in_the_message_stays_one_line(
    rtstruct: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spinetv.cli import main

    ds = pydicom.dcmread(rtstruct)
    ds.Modality = "XX\nYY"
    ds.SOPClassUID = "1.2.3"
    odd = tmp_path / "odd.dcm"
    ds.save_as(odd)
    assert main(["info", str(odd)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected an RTSTRUCT" in err[0]


def test_image_slices_without_preamble_or_file_meta_are_read(
    series: SeriesReference, tmp_path: Path
) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    for path in series.paths:
        ds = pydicom.dcmread(path)
        del ds.file_meta
        ds.preamble = None
        pydicom.dcmwrite(folder / path.name, ds, implicit_vr=True, little_endian=True,
                         enforce_file_format=False)
    assert (folder / series.paths[0].name).read_bytes()[128:132] != b"DICM"
    image = read_dicom_series(folder)
    expected = read_dicom_series(series.paths[0].parent)
    assert image.grid == expected.grid
    assert np.array_equal(image.voxels, expected.voxels)
