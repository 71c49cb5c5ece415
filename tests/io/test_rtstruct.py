"""RTSTRUCT writing, reading, appending: content, tolerances, refusals, orientations, real files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

import spinetv
from dicom_checks import dciodvfy_errors
from spinetv.errors import (
    GeometryMismatchError,
    OutputExistsError,
    RtstructError,
    RtstructWarning,
)
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.mask import Mask
from spinetv.io.dicom_series import read_dicom_series, write_dicom_series
from spinetv.io.reference import SeriesReference
from spinetv.io.rtstruct import (
    append_rtstruct,
    contour_data_lps,
    rasterize_roi,
    rasterize_roi_with_report,
    read_rtstruct,
    read_structures,
    write_rtstruct,
)
from spinetv.structure import Provenance, RoiType, Structure

FRAME_UID = "1.2.826.0.1.3680043.8.498.1111"
PATIENT = {"PatientName": "Phantom^Spine", "PatientID": "SPN-001", "PatientSex": "O"}
STUDY = {"StudyID": "S1", "StudyDescription": "spine phantom", "AccessionNumber": "A7"}

DIRECTIONS = {
    "HFS": np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float).T,
    "FFS": np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float).T,
    "HFP": np.array([[0, 0, 1], [0, -1, 0], [-1, 0, 0]], dtype=float).T,
}


def centred_grid(
    direction: np.ndarray,
    shape: tuple[int, int, int] = (12, 32, 32),
    spacing_mm: tuple[float, float, float] = (2.0, 1.0, 1.0),
) -> ImageGrid:
    half = (np.asarray(shape) - 1) * np.asarray(spacing_mm) / 2
    origin = np.array([0.5, -0.5, 1.0]) - direction @ half
    return ImageGrid(shape, spacing_mm, tuple(origin), direction, FRAME_UID)


def ellipsoid_mask(grid: ImageGrid, centre=(2.0, -3.0, 1.0), axes=(9.0, 6.0, 7.0)) -> Mask:
    points = grid.index_to_lps(np.stack(np.indices(grid.shape), axis=-1)) - np.asarray(centre)
    inside = ((points / np.asarray(axes)) ** 2).sum(axis=-1) <= 1.0
    return Mask.from_array(grid, inside)


def shell_mask(grid: ImageGrid) -> Mask:
    points = grid.index_to_lps(np.stack(np.indices(grid.shape), axis=-1))
    distance = np.linalg.norm(points, axis=-1)
    return Mask.from_array(grid, (distance <= 10.0) & (distance > 5.0))


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> SeriesReference:
    grid = centred_grid(DIRECTIONS["HFS"])
    out = tmp_path_factory.mktemp("ct") / "ct"
    return write_dicom_series(np.zeros(grid.shape), grid, out, patient=PATIENT, study=STUDY)


@pytest.fixture(scope="module")
def written(series: SeriesReference, tmp_path_factory: pytest.TempPathFactory) -> Path:
    structures = [
        Structure(
            "GTV",
            ellipsoid_mask(series.grid),
            roi_type=RoiType.GTV,
            color_rgb=(255, 0, 0),
            provenance=Provenance("MANUAL", "drawn by hand"),
        ),
        Structure(
            "Shell",
            shell_mask(series.grid),
            roi_type="CTV",
            provenance=Provenance("AUTOMATIC", "ISRC 2012 " + "x" * 2000),
        ),
    ]
    return write_rtstruct(structures, series, tmp_path_factory.mktemp("rs") / "RS.dcm")


# ---- writing ------------------------------------------------------------------------------


def test_written_rtstruct_content(written: Path, series: SeriesReference) -> None:
    ds = pydicom.dcmread(written)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.3" and ds.Modality == "RTSTRUCT"
    assert ds.SOPInstanceUID != series.sop_instance_uids[0]
    assert ds.SeriesInstanceUID != series.series_instance_uid
    assert ds.FrameOfReferenceUID == FRAME_UID
    assert ds.StudyInstanceUID == series.study_instance_uid
    assert str(ds.PatientName) == "Phantom^Spine" and ds.PatientID == "SPN-001"
    assert ds.StudyID == "S1" and ds.AccessionNumber == "A7"
    assert ds.Manufacturer == "spinetv" and ds.SoftwareVersions == spinetv.__version__
    assert ds.StructureSetDate and ds.StructureSetTime
    frame = ds.ReferencedFrameOfReferenceSequence[0]
    assert frame.FrameOfReferenceUID == FRAME_UID
    study = frame.RTReferencedStudySequence[0]
    assert study.ReferencedSOPInstanceUID == series.study_instance_uid
    referenced = study.RTReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == series.series_instance_uid
    assert [i.ReferencedSOPInstanceUID for i in referenced.ContourImageSequence] == list(
        series.sop_instance_uids
    )
    names = [roi.ROIName for roi in ds.StructureSetROISequence]
    assert names == ["GTV", "Shell"]
    assert [roi.ROIGenerationAlgorithm for roi in ds.StructureSetROISequence] == [
        "MANUAL",
        "AUTOMATIC",
    ]
    assert len(ds.StructureSetROISequence[1].ROIDescription) <= 1024
    types = [obs.RTROIInterpretedType for obs in ds.RTROIObservationsSequence]
    assert types == ["GTV", "CTV"]
    assert list(ds.ROIContourSequence[0].ROIDisplayColor) == [255, 0, 0]


def test_contours_point_at_their_slice_and_ds_values_fit(
    written: Path, series: SeriesReference
) -> None:
    ds = pydicom.dcmread(written)
    slice_of_uid = {uid: k for k, uid in enumerate(series.sop_instance_uids)}
    shell_contours = ds.ROIContourSequence[1].ContourSequence
    slices_seen = []
    for contour in shell_contours:
        assert contour.ContourGeometricType == "CLOSED_PLANAR"
        raw = contour.get_item(0x30060050).value
        values = raw.strip().split(b"\\")
        assert max(len(v) for v in values) <= 16
        points = np.array(values, dtype=float).reshape(-1, 3)
        assert len(points) == int(contour.NumberOfContourPoints)
        k = slice_of_uid[contour.ContourImageSequence[0].ReferencedSOPInstanceUID]
        slices_seen.append(k)
        ijk = series.grid.lps_to_index(points)
        np.testing.assert_allclose(ijk[:, 0], k, atol=1e-6)
        # vertices are sub-voxel: one in-plane index whole, the other a half
        fractions = np.sort(np.mod(ijk[:, 1:] + 1e-7, 1.0), axis=1)
        np.testing.assert_allclose(fractions, np.tile([0.0, 0.5], (len(points), 1)), atol=1e-5)
    # the central slices of the hollow sphere carry an outer contour and a hole
    counts = np.bincount(slices_seen)
    assert counts.max() == 2


def test_written_file_passes_dciodvfy(written: Path) -> None:
    assert dciodvfy_errors(written) == []


def test_round_trip_is_exact(written: Path, series: SeriesReference) -> None:
    structures = read_structures(written, series)
    assert list(structures) == ["GTV", "Shell"]
    np.testing.assert_array_equal(
        structures["GTV"].mask.to_array(), ellipsoid_mask(series.grid).to_array()
    )
    np.testing.assert_array_equal(
        structures["Shell"].mask.to_array(), shell_mask(series.grid).to_array()
    )
    assert structures["GTV"].roi_type is RoiType.GTV
    assert structures["GTV"].color_rgb == (255, 0, 0)
    assert structures["GTV"].provenance.description == "drawn by hand"
    assert structures["Shell"].provenance.details["read_warnings"] == ()  # read-only: a tuple


def test_empty_structure_is_written_without_contours(
    series: SeriesReference, tmp_path: Path
) -> None:
    structures = [
        Structure("GTV", ellipsoid_mask(series.grid)),
        Structure("Nothing", Mask.empty(series.grid)),
    ]
    with pytest.warns(RtstructWarning, match="'Nothing' is empty"):
        path = write_rtstruct(structures, series, tmp_path / "RS.dcm")
    ds = pydicom.dcmread(path)
    assert "ContourSequence" not in ds.ROIContourSequence[1]
    assert dciodvfy_errors(path) == []
    with pytest.warns(RtstructWarning, match="no contours"):
        mask, report = rasterize_roi_with_report(read_rtstruct(path), "Nothing", series.grid)
    assert mask.is_empty and report.n_contours == 0


def test_refuses_overwrite_and_leaves_no_partial_file(
    written: Path, series: SeriesReference, tmp_path: Path
) -> None:
    structure = Structure("GTV", ellipsoid_mask(series.grid))
    target = tmp_path / "RS.dcm"
    target.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="exists"):
        write_rtstruct([structure], series, target)
    assert target.read_bytes() == b"keep me"
    write_rtstruct([structure], series, target, overwrite=True)
    assert read_rtstruct(target).names == ("GTV",)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RS.dcm"]


def test_write_refusals(series: SeriesReference, tmp_path: Path) -> None:
    good = Structure("GTV", ellipsoid_mask(series.grid))
    with pytest.raises(RtstructError, match="clashes"):
        write_rtstruct([good, Structure("gtv", good.mask)], series, tmp_path / "a.dcm")
    with pytest.raises(RtstructError, match="at most 64"):
        write_rtstruct([Structure("x" * 65, good.mask)], series, tmp_path / "b.dcm")
    with pytest.raises(RtstructError, match="at least one ROI"):
        write_rtstruct([], series, tmp_path / "c.dcm")
    # Other slices cannot be referenced; other pixels on the same slices can (in-plane refined
    # planning volumes are written that way).
    other_grid = centred_grid(DIRECTIONS["HFS"], shape=(10, 32, 30))
    with pytest.raises(GeometryMismatchError, match="'Other'"):
        write_rtstruct(
            [Structure("Other", ellipsoid_mask(other_grid))], series, tmp_path / "d.dcm"
        )
    moved = series.grid.with_frame_of_reference("1.2.3.4")
    with pytest.raises(GeometryMismatchError, match="frame"):
        write_rtstruct([Structure("Moved", ellipsoid_mask(moved))], series, tmp_path / "e.dcm")
    assert list(tmp_path.iterdir()) == []


# ---- reading ------------------------------------------------------------------------------


def test_read_rtstruct_content(written: Path, series: SeriesReference) -> None:
    data = read_rtstruct(written)
    assert data.frame_of_reference_uid == FRAME_UID
    assert data.referenced_series_uid == series.series_instance_uid
    assert data.names == ("GTV", "Shell")
    gtv = data.roi("GTV")
    assert gtv.number == 1 and gtv.roi_type is RoiType.GTV and gtv.color_rgb == (255, 0, 0)
    assert gtv.generation_algorithm == "MANUAL" and gtv.description == "drawn by hand"
    contours = data.contours_of("GTV")
    assert contours and all(c.geometric_type == "CLOSED_PLANAR" for c in contours)
    assert contours[0].points_lps_mm.shape[1] == 3
    assert not contours[0].points_lps_mm.flags.writeable
    assert data.roi("shell").name == "Shell"  # case-insensitive when unambiguous


def test_unknown_roi_lists_the_names(written: Path, series: SeriesReference) -> None:
    with pytest.raises(RtstructError, match=r"no ROI named 'PTV'.*'GTV', 'Shell'"):
        read_structures(written, series, names=["PTV"])


def test_frame_of_reference_mismatch_names_the_file(written: Path) -> None:
    grid = centred_grid(DIRECTIONS["HFS"]).with_frame_of_reference("1.2.3.999")
    with pytest.raises(RtstructError, match=r"RS\.dcm.*frame of reference"):
        rasterize_roi(read_rtstruct(written), "GTV", grid)


def test_not_an_rtstruct(series: SeriesReference, tmp_path: Path) -> None:
    with pytest.raises(RtstructError, match="expected an RTSTRUCT.*'CT'"):
        read_rtstruct(series.paths[0])
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(RtstructError, match="junk.dcm: not a readable DICOM"):
        read_rtstruct(junk)
    with pytest.raises(RtstructError, match="no such"):
        read_rtstruct(tmp_path / "missing.dcm")


def _add_roi(ds: Dataset, number: int, name: str, contours: list[tuple[str, np.ndarray]]) -> None:
    roi = Dataset()
    roi.ROINumber = number
    roi.ReferencedFrameOfReferenceUID = FRAME_UID
    roi.ROIName = name
    roi.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence.append(roi)
    roi_contour = Dataset()
    roi_contour.ReferencedROINumber = number
    items = []
    for kind, points in contours:
        item = Dataset()
        item.ContourGeometricType = kind
        item.NumberOfContourPoints = len(points)
        item.ContourData = [f"{v:.6g}" for v in np.asarray(points, float).ravel()]
        items.append(item)
    if items:
        roi_contour.ContourSequence = Sequence(items)
    ds.ROIContourSequence.append(roi_contour)
    observation = Dataset()
    observation.ObservationNumber = number
    observation.ReferencedROINumber = number
    observation.RTROIInterpretedType = ""
    observation.ROIInterpreter = ""
    ds.RTROIObservationsSequence.append(observation)


def _square_lps(grid: ImageGrid, slice_index: float, half: float = 3.0) -> np.ndarray:
    rc = np.array([[10 - half, 10 - half], [10 - half, 10 + half], [10 + half, 10 + half],
                   [10 + half, 10 - half]])
    ijk = np.column_stack([np.full(4, slice_index), rc])
    return grid.index_to_lps(ijk)


def test_odd_contours_are_skipped_with_warnings(
    written: Path, series: SeriesReference, tmp_path: Path
) -> None:
    grid = series.grid
    ds = pydicom.dcmread(written)
    tilted = _square_lps(grid, 5.0)
    tilted[:, 2] += np.array([0.0, 0.0, 0.6, 0.6])  # 0.6 mm spread along the normal
    _add_roi(
        ds,
        10,
        "Odd",
        [
            ("CLOSED_PLANAR", _square_lps(grid, 4.0)),  # good
            ("CLOSED_PLANAR", _square_lps(grid, 6.5)),  # between slices
            ("CLOSED_PLANAR", _square_lps(grid, 40.0)),  # off the image
            ("CLOSED_PLANAR", _square_lps(grid, 3.0)[:2]),  # degenerate
            ("CLOSED_PLANAR", tilted),  # non-planar, used
            ("OPEN_PLANAR", _square_lps(grid, 2.0)),  # open
            ("CLOSED_PLANAR", _square_lps(grid, 7.0, half=30.0)),  # beyond the image edge
        ],
    )
    _add_roi(ds, 11, "Marker", [("POINT", grid.index_to_lps([[3.0, 5.0, 5.0]]))])
    _add_roi(ds, 12, "Empty", [])
    path = tmp_path / "odd.dcm"
    ds.save_as(path)
    data = read_rtstruct(path)
    with pytest.warns(RtstructWarning) as caught:
        mask, report = rasterize_roi_with_report(data, "Odd", grid)
    text = " ".join(str(w.message) for w in caught)
    for phrase in ("between image slices", "outside the image", "fewer than 3", "not planar",
                   "open (not CLOSED_PLANAR)", "beyond the image edge"):
        assert phrase in text
        assert any(phrase in message for message in report.warnings)
    assert report.n_contours == 7 and report.n_used == 3
    full = mask.to_array()
    # vertices on pixel centres 7 and 13: the half-open rule keeps 7..12 (6 x 6 pixels)
    assert full[4].sum() == 36 and full[5].sum() == 36 and full[7].all()
    assert full[6].sum() == 0 and full[2].sum() == 0 and full[3].sum() == 0
    with pytest.warns(RtstructWarning) as caught:
        structures = read_structures(data, grid)
    assert any("only POINT contours" in str(w.message) for w in caught)
    assert "Marker" not in structures and structures["Empty"].mask.is_empty
    assert structures["Empty"].roi_type is RoiType.ORGAN  # empty RTROIInterpretedType
    assert any("no contours" in w for w in structures["Empty"].provenance.details["read_warnings"])
    with pytest.warns(RtstructWarning, match="POINT"):
        marker = read_structures(data, grid, names=["Marker"])["Marker"]
    assert marker.mask.is_empty


def test_several_contours_on_one_slice_combine_even_odd(
    written: Path, series: SeriesReference, tmp_path: Path
) -> None:
    grid = series.grid
    ds = pydicom.dcmread(written)
    _add_roi(ds, 10, "Ring", [("CLOSED_PLANAR", _square_lps(grid, 4.0, 5.0)),
                              ("CLOSED_PLANAR", _square_lps(grid, 4.0, 2.0))])
    path = tmp_path / "ring.dcm"
    ds.save_as(path)
    full = rasterize_roi(read_rtstruct(path), "Ring", grid).to_array()
    assert full[4].sum() == 10 * 10 - 4 * 4 and not full[4, 10, 10]


# ---- orientation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "spacing_mm"),
    [("HFS", (2.0, 1.0, 1.0)), ("FFS", (2.0, 1.0, 1.0)), ("HFP", (2.0, 1.0, 1.0)),
     ("HFS", (1.5, 0.8, 1.3)), ("OBLIQUE", (2.0, 1.0, 1.0))],
)
def test_orientations_round_trip_in_patient_space(
    label: str, spacing_mm: tuple[float, float, float], tmp_path: Path
) -> None:
    if label == "OBLIQUE":
        angle = np.deg2rad(20.0)
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0],
                             [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
        direction = rotation @ DIRECTIONS["HFS"]
    else:
        direction = DIRECTIONS[label]
    grid = centred_grid(direction, shape=(14, 30, 34), spacing_mm=spacing_mm)
    reference = write_dicom_series(np.zeros(grid.shape), grid, tmp_path / "ct")
    image = read_dicom_series(tmp_path / "ct")
    assert image.reference is not None
    mask = ellipsoid_mask(image.grid)
    path = write_rtstruct([Structure("GTV", mask)], image.reference, tmp_path / "RS.dcm")
    assert dciodvfy_errors(path) == []
    got = read_structures(path, image.reference)["GTV"].mask
    np.testing.assert_array_equal(got.to_array(), mask.to_array())
    # every voxel centre read back lies in the analytic ellipsoid, in patient space
    points = got.points_lps() - np.array([2.0, -3.0, 1.0])
    assert np.all(((points / np.array([9.0, 6.0, 7.0])) ** 2).sum(axis=1) <= 1.0 + 1e-9)
    assert reference.grid.frame_of_reference_uid == FRAME_UID


def test_contours_written_on_hfs_fill_the_same_voxels_on_ffs_and_hfp(tmp_path: Path) -> None:
    hfs = centred_grid(DIRECTIONS["HFS"], shape=(14, 30, 34))
    reference = write_dicom_series(np.zeros(hfs.shape), hfs, tmp_path / "ct")
    mask = ellipsoid_mask(hfs)
    path = write_rtstruct([Structure("GTV", mask)], reference, tmp_path / "RS.dcm")
    expected = {tuple(p) for p in np.round(mask.points_lps(), 4)}
    data = read_rtstruct(path)
    for label in ("FFS", "HFP"):
        # the same voxel centres, indexed the other way round
        other = centred_grid(DIRECTIONS[label], shape=(14, 30, 34))
        got = rasterize_roi(data, "GTV", other)
        assert {tuple(p) for p in np.round(got.points_lps(), 4)} == expected


def test_contour_data_lps_matches_the_mask(series: SeriesReference) -> None:
    structure = Structure("Shell", shell_mask(series.grid))
    contours = contour_data_lps(structure)
    slices = sorted({k for k, _ in contours})
    expected = sorted(set(np.flatnonzero(structure.mask.to_array().any(axis=(1, 2)))))
    assert slices == expected


# ---- appending ----------------------------------------------------------------------------


def _encoded(item: Dataset, implicit: bool) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    write_dataset(buffer, item)
    return buffer.getvalue()


SEQUENCES = ("StructureSetROISequence", "ROIContourSequence", "RTROIObservationsSequence")


def test_append_keeps_existing_items_byte_for_byte(
    written: Path, series: SeriesReference, tmp_path: Path
) -> None:
    before = pydicom.dcmread(written)
    new = Structure("PTV", ellipsoid_mask(series.grid, axes=(11.0, 8.0, 9.0)), roi_type="PTV")
    out = append_rtstruct(written, [new], series, tmp_path / "RS_plus.dcm")
    after = pydicom.dcmread(out)
    for keyword in SEQUENCES:
        old_items, new_items = before[keyword].value, after[keyword].value
        assert len(new_items) == len(old_items) + 1
        for old, kept in zip(old_items, new_items):
            assert _encoded(old, False) == _encoded(kept, False)
    assert after.StructureSetROISequence[-1].ROINumber == 3
    assert after.SOPInstanceUID != before.SOPInstanceUID
    assert dciodvfy_errors(out) == []
    structures = read_structures(out, series)
    assert list(structures) == ["GTV", "Shell", "PTV"]
    np.testing.assert_array_equal(structures["PTV"].mask.to_array(), new.mask.to_array())


def test_append_refuses_a_name_clash_and_another_frame(
    written: Path, series: SeriesReference, tmp_path: Path
) -> None:
    with pytest.raises(RtstructError, match="clashes with ROI 'GTV'"):
        append_rtstruct(written, [Structure("gtv", ellipsoid_mask(series.grid))], series,
                        tmp_path / "x.dcm")
    grid = centred_grid(DIRECTIONS["HFS"]).with_frame_of_reference("1.2.3.4.5")
    other = SeriesReference(grid, tuple(f"1.2.3.{k}" for k in range(grid.shape[0])),
                            "1.2.840.10008.5.1.4.1.1.2", "1.2.3.100", "1.2.3.101")
    with pytest.raises(RtstructError, match="frame of reference"):
        append_rtstruct(written, [Structure("New", ellipsoid_mask(grid))], other,
                        tmp_path / "y.dcm")
    assert list(tmp_path.iterdir()) == []


# ---- real files ---------------------------------------------------------------------------


def test_visible_human_varian_rtstruct(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "rtstruct_pairs" / "visible_human_dicomrttool"
    image = read_dicom_series(folder)
    assert image.reference is not None and image.grid.shape == (4, 512, 512)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RtstructWarning)
        structures = read_structures(folder / "RS_Body_SpinalCord.dcm", image.reference)
    body, cord = structures["BODY"].mask, structures["SpinalCord"].mask
    assert structures["BODY"].roi_type is RoiType.EXTERNAL
    assert body.volume_cc > 100 and 0.2 < cord.volume_cc < 2.0
    assert cord.box.shape[0] == 4 and body.box.shape[0] == 4  # contoured on every slice
    cord_full, body_full = cord.to_array(), body.to_array()
    assert not np.any(cord_full & ~body_full)  # the cord lies inside the body
    # The cord lies posterior (+y) of the neck's anterior skin, and near the midline. (At this
    # cervicothoracic level the shoulders and back put the body's centroid behind the cord.)
    cord_centre = cord.centroid_lps()
    anterior_skin_y = body.points_lps()[:, 1].min()
    assert cord_centre[1] - anterior_skin_y > 40.0
    body_x = body.points_lps()[:, 0]
    assert abs(cord_centre[0] - (body_x.min() + body_x.max()) / 2) < 25.0

    # appending to a Varian file (implicit VR) keeps its ROI items byte for byte
    sphere = ellipsoid_mask(image.grid, centre=tuple(cord_centre), axes=(8.0, 8.0, 8.0))
    out = append_rtstruct(folder / "RS_Body_SpinalCord.dcm",
                          [Structure("PRV_Cord", sphere, roi_type="AVOIDANCE")],
                          image.reference, tmp_path / "RS_plus.dcm")
    before = pydicom.dcmread(folder / "RS_Body_SpinalCord.dcm")
    after = pydicom.dcmread(out)
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    for keyword in SEQUENCES:
        for old, kept in zip(before[keyword].value, after[keyword].value):
            assert _encoded(old, True) == _encoded(kept, True)
    assert after.StructureSetROISequence[-1].ROINumber == 24
    assert dciodvfy_errors(out) == []
    again = read_structures(out, image.reference)
    np.testing.assert_array_equal(again["SpinalCord"].mask.to_array(), cord_full)
    np.testing.assert_array_equal(again["PRV_Cord"].mask.to_array(), sphere.to_array())


def test_rt_utils_phantom_broken_references(shared_data: Path) -> None:
    folder = shared_data / "rtstruct_pairs" / "rt_utils_phantom"
    image = read_dicom_series([folder / "ct_1.dcm", folder / "ct_2.dcm"])
    for name in ("invalid_reference_rt.dcm", "non_existent_reference_rt.dcm"):
        with pytest.warns(RtstructWarning) as caught:
            structures = read_structures(folder / name, image.reference or image.grid)
        assert any("outside the image" in str(w.message) for w in caught)
        assert set(structures) == {"ROI-1", "ROI-2", "ROI-3", "ROI-4"}
        assert all(not s.mask.is_empty for s in structures.values())
    with pytest.warns(RtstructWarning, match="no referenced image series"):
        read_rtstruct(folder / "non_existent_reference_rt.dcm")
    # rt.dcm was made by rt-utils on another frame of reference than these CT slices
    with pytest.raises(RtstructError, match=r"rt\.dcm.*frame of reference"):
        read_structures(folder / "rt.dcm", image.reference or image.grid)


def test_dicompyler_breast_with_97_missing_images(shared_data: Path) -> None:
    folder = shared_data / "rtstruct_pairs" / "dicompyler_breast"
    image = read_dicom_series(folder / "ct.0.dcm")
    with pytest.warns(RtstructWarning) as caught:
        structures = read_structures(folder / "rtss.dcm", image.reference or image.grid)
    assert any("outside the image's slice range" in str(w.message) for w in caught)
    assert "Heart" in structures and "BODY" in structures
    assert not structures["BODY"].mask.is_empty  # the one slice present is filled
    assert structures["BODY"].mask.box.shape[0] == 1
    with pytest.raises(RtstructError, match="RTPLAN"):
        read_rtstruct(folder / "rtplan.dcm")
